"""The one mapping of errors to RFC 9457 problem details (and, for people, HTML error pages)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, json, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from feedsvc.errors import BadRequest, FeedsvcError

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    """A problem+json response (RFC 9457 section 3)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v})
    response = Response(json.dumps(body, ensure_ascii=False) + "\n", status=status,
                        content_type=PROBLEM)
    response.headers["X-Content-Type-Options"] = "nosniff"  # also when answered before Flask
    return response


UNAVAILABLE = "The database is unavailable; try again shortly."
RETRY_AFTER = "5"  # seconds, when the database is unavailable


def unavailable() -> Response:
    """503 with Retry-After: the database is down or unreachable (RFC 9110 15.6.4, 10.2.3)."""
    response = problem(503, "Service Unavailable", UNAVAILABLE)
    response.headers["Retry-After"] = RETRY_AFTER
    return response


def init_app(app: Flask) -> None:
    def page_or_problem(status: int, title: str, detail: str, **extra: Any) -> Response:
        # A person on an HTML page gets an HTML error page (pages.error_page decides when).
        page = app.extensions.get("feedsvc.error_page")
        response = page(status, title, detail) if page is not None else None
        return response if response is not None else problem(status, title, detail, **extra)

    @app.before_request
    def refuse_nul() -> None:
        # No key, slug or filter holds U+0000 (stored text is cleaned of what XML 1.0 forbids),
        # and PostgreSQL cannot even compare text with it: a 400 on either database, not a 500.
        if "\x00" in request.path or any("\x00" in name + value
                                         for name, value in request.args.items(multi=True)):
            raise BadRequest("The URL holds a NUL character (%00).")

    @app.errorhandler(FeedsvcError)
    def feedsvc_error(exc: FeedsvcError) -> Response:
        response = page_or_problem(exc.status, exc.title, exc.detail, errors=exc.errors)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        response = page_or_problem(exc.code or 500, exc.name, exc.description or exc.name)
        if exc.code == 405 and exc.response is None:
            allowed = getattr(exc, "valid_methods", None)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(exc: DBAPIError | PoolTimeout) -> Response:
        # The database is down or unreachable, or every pooled connection is in use: say so at
        # once, and when to try again, instead of a 500 or a hung thread (connections and the
        # pool time out quickly, see db.make_engine).
        app.logger.error("database unavailable: %s", getattr(exc, "orig", exc))
        response = page_or_problem(503, "Service Unavailable", UNAVAILABLE)  # a person: HTML
        response.headers["Retry-After"] = RETRY_AFTER
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        return problem(500, "Internal Server Error", "feedsvc failed to answer this request.")
