"""Health checks for load balancers and orchestrators: ``/healthz`` and ``/readyz``.

``/healthz`` (liveness) touches nothing: a 200 says the process answers HTTP. ``/readyz``
(readiness) reads the schema's revision: 200 when the database answers and its migrations are
the code's, or newer (a rolling upgrade: migrations only add); 503 problem+json with
``Retry-After`` while it is unreachable or behind, so a balancer sends no traffic to a process
that would fail it. Neither is cached.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from feedsvc.store import db
from feedsvc.web import problems

bp = Blueprint("health", __name__)
_NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", content_type="text/plain; charset=utf-8", headers=_NO_STORE)


@bp.get("/readyz")
def readyz() -> Response:
    head = db.code_revision()
    try:
        with db.get_engine().connect() as connection:
            stored = db.stored_revision(connection)
    except (DBAPIError, PoolTimeout):
        return _not_ready(problems.UNAVAILABLE)
    if db.is_behind(stored):
        return _not_ready(f"The database schema is at {stored or 'none'}, the code's at {head}: "
                          "run `feedsvc db upgrade`.")
    # A schema a later release migrated serves this code too (migrations only add): a
    # rolling upgrade keeps the processes not yet restarted in the balancer.
    newer = "" if stored == head else f" (newer than this code's {head})"
    return Response(f"ready: schema {stored}{newer}\n", content_type="text/plain; charset=utf-8",
                    headers=_NO_STORE)


def _not_ready(detail: str) -> Response:
    response = problems.problem(503, "Service Unavailable", detail)
    response.headers.update(_NO_STORE | {"Retry-After": problems.RETRY_AFTER})
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
