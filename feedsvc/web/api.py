"""The JSON API under /api: articles in and out, with ETags, If-Match and problem details."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, request
from flask import json as flask_json
from sqlalchemy.orm import Session

from feedsvc.errors import BadRequest, Conflict, Invalid, NotFound, PreconditionFailed, TooLarge, UnsupportedMediaType
from feedsvc.feeds import urls
from feedsvc.store import articles, changes, db, params, payload, site, visibility
from feedsvc.store.models import Article, article_image
from feedsvc.store.scopes import KINDS, named_of
from feedsvc.store.timestamps import format_utc
from feedsvc.web import auth
from feedsvc.web.conditional import entity_tags, none_match
from feedsvc.web.openapi import spec

bp = Blueprint("api", __name__, url_prefix="/api")
DERIVED_KEY_ATTEMPTS = 8  # a POST of a title others are posting at the same moment


def article_json(article: Article, base: str, now: Any) -> dict[str, Any]:
    """The article as the API gives it: the contract's fields plus id, slugs and URLs."""
    section = article.section
    # The feeds that show the article: none once deleted; the site's and each of its scopes'.
    scopes = [] if article.deleted is not None else [
        ("site", current_app.config["SITE_TITLE"], None, None),
        *((kind.noun, named.name, kind.segment, named.slug) for kind, named in named_of(article))]
    feeds = [{"scope": scope, "name": name}
             | {fmt: urls.feed(base, segment, slug, fmt) for fmt in urls.FORMATS}
             for scope, name, segment, slug in scopes]
    return {
        "key": article.key,
        "id": article.uid,
        "status": visibility.status(article, now),
        "title": article.title,
        "section": section.name,
        "section_slug": section.slug,
        "topics": [link.topic.name for link in article.topic_links],
        "topic_slugs": [link.topic.slug for link in article.topic_links],
        "authors": [{"name": link.author.name, "email": link.email, "url": link.url,
                     "slug": link.author.slug} for link in article.author_links],
        "summary": article.summary,
        "content": article.content,
        "published": format_utc(article.published),
        "updated": format_utc(article.updated),
        "url": article.url,
        "image": payload.image_json(article_image(article)),
        "language": article.language,
        "deleted": format_utc(article.deleted) if article.deleted else None,
        "page_url": urls.article_page(base, article.key),
        "feeds": feeds,
    }


def etag(article: Article) -> str:
    return f'"v{article.version}"'


def _respond(article: Article, status: int = 200, location: bool = False) -> Response:
    response = current_app.response_class(
        flask_json.dumps(article_json(article, site.base_url(), site.now())) + "\n",
        status=status, mimetype="application/json")
    response.headers["ETag"] = etag(article)
    response.headers["Cache-Control"] = "private, no-cache"
    if location:
        response.headers["Location"] = f"{site.base_url()}/api/articles/{article.key}"
    return response


def _body() -> Any:
    """The request's JSON, or the problem that explains why there is none."""
    limit = current_app.config["MAX_BODY"]
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"The body is larger than {limit} bytes.")
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType("Send the article as Content-Type: application/json.")
    raw = request.get_data(cache=False)  # at most MAX_BODY + 1 bytes, see init_app
    if len(raw) > limit:
        raise TooLarge(f"The body is larger than {limit} bytes.")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise BadRequest("The body is not UTF-8.") from None
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _if_match(session: Session, key: str, must_exist: bool = False) -> int | None:
    """The version named by If-Match; PreconditionFailed when it cannot match (RFC 9110 13.1.1).

    ``must_exist`` (PATCH, DELETE): with no live article the 404 or 410 that the request would
    get without the header is the answer, not a 412 (RFC 9110 13.2.1).
    """
    header = request.headers.get("If-Match")
    if header is None:
        return None
    current = articles.get_article(session, key)
    live = current is not None and current.deleted is None
    if must_exist and not live:
        return None
    if header.strip() == "*":
        if not live:
            raise PreconditionFailed("If-Match: * but the article does not exist.")
        return None
    # Strong comparison (RFC 9110 13.1.1): a weak tag never matches. Tags are compared as
    # text, so "v" and 4,400 digits is just a tag that names no version.
    wanted = etag(current) if live and current is not None else None
    try:  # read to the end, so a malformed header is a 400 wherever a match stands in it
        matched = sum(not weak and tag == wanted for weak, tag in entity_tags(header)) > 0
    except ValueError:
        raise params.problem("If-Match", 'must be "*" or a list of entity-tags such as "v3"',
                             "header") from None
    if matched and current is not None:
        return current.version
    raise PreconditionFailed("The article has changed since you read it (If-Match).")


def _save(key: str | None, data: Any, *, replace: bool, partial: bool, must_exist: bool = False,
          must_not_exist: bool = False) -> articles.Saved:
    """Check ``data`` and write it under ``key`` in one transaction, retried when it lost a race.
    ``key`` None (a POST without one): a key derived from the title, chosen inside the
    transaction; create() chooses again when another writer took it first."""
    fields = payload.parse(data, site.zone(), partial=partial)
    if key is not None and "key" in fields and fields["key"] != key:
        raise Invalid("The key in the body differs from the URL.", [
            {"pointer": "#/key", "detail": "must equal the key in the URL, or be left out"}])
    app, now, authority = current_app._get_current_object(), site.now(), site.authority()  # type: ignore[attr-defined]

    def work(session: Session) -> articles.Saved:
        chosen = key if key is not None else articles.free_key(session, fields["title"])
        saved = articles.save_article(session, chosen, fields, now=now, authority=authority,
                                      replace=replace, if_match=_if_match(session, chosen, must_exist),
                                      must_exist=must_exist, must_not_exist=must_not_exist)
        changes.record(app, session, saved.touched, now, saved.due, saved.pages, saved.withdrawn)
        return saved

    return db.run_write(db.get_engine(), work)


@bp.post("/articles")
@auth.required
def create() -> Response:
    data = _body()
    if not isinstance(data, dict):
        payload.parse(data, site.zone(), partial=False)  # raises the 422
    key = data.get("key")
    if key is not None:
        saved = _save(payload.check_key(key), data, replace=True, partial=False, must_not_exist=True)
        return _respond(saved.article, 201, location=True)
    for _ in range(DERIVED_KEY_ATTEMPTS):
        try:
            saved = _save(None, data, replace=True, partial=False, must_not_exist=True)
            break
        except Conflict:  # another POST of the same title took the key meanwhile: choose again
            continue
    else:
        raise Conflict("Articles with this title are being created too fast; try again.")
    return _respond(saved.article, 201, location=True)


@bp.put("/articles/<key>")
@auth.required
def put(key: str) -> Response:
    payload.check_key(key, "/key (in the URL)")
    saved = _save(key, _body(), replace=True, partial=False)
    return _respond(saved.article, 201 if saved.created else 200, location=saved.created)


@bp.patch("/articles/<key>")
@auth.required
def patch(key: str) -> Response:
    payload.check_key(key, "/key (in the URL)")
    saved = _save(key, _body(), replace=False, partial=True, must_exist=True)
    return _respond(saved.article)


@bp.delete("/articles/<key>")
@auth.required
def delete(key: str) -> Response:
    app, now = current_app._get_current_object(), site.now()  # type: ignore[attr-defined]

    def work(session: Session) -> Article:
        article = articles.delete_article(session, key, now=now, if_match=_if_match(session, key, True))
        touched = changes.public_scopes_of(article, now)
        changes.record(app, session, touched, now, pages=changes.pages_of(article, touched, {}, now),
                       withdrawn=changes.withdrawn_by_deletion(article, now))
        return article

    db.run_write(db.get_engine(), work)
    return _empty(204)


@bp.get("/articles/<key>")
@auth.required
def get(key: str) -> Response:
    article = articles.get_article(db.get_session(), key)
    if article is None:
        raise NotFound(f"There is no article with the key {key!r}.")
    response = _respond(article)
    header = request.headers.get("If-None-Match")
    # The rule feeds and pages follow (conditional.none_match): weak comparison, "*" for any.
    if article.deleted is None and header is not None and none_match(header, [etag(article)]):
        # RFC 9110 15.4.5: a 304 repeats the 200's ETag and Cache-Control.
        response = _empty(304, {"ETag": etag(article), "Cache-Control": response.headers["Cache-Control"]})
    return response


def _empty(status: int, headers: dict[str, str] | None = None) -> Response:
    """A 204 or 304: no content, so no Content-Type (werkzeug's default would say text/html)."""
    response = Response(status=status, headers=headers)
    del response.headers["Content-Type"]
    return response


@bp.get("/articles")
@auth.required
def index() -> Response:
    args = request.args
    limit = params.limit(args, default=current_app.config["API_PAGE_SIZE"], maximum=params.MAX_LISTING)
    within = {kind.segment: params.slug(args, kind.noun) for kind in KINDS.values()}
    page = articles.list_articles(
        db.get_session(), now=site.now(), limit=limit, public=False, status=params.status(args),
        cursor=params.cursor(args), within=within)
    base, now = site.base_url(), site.now()
    next_url = None
    if page.next_cursor:
        query = {k: v for k, v in args.items() if k != "cursor"} | {"cursor": page.next_cursor}
        next_url = f"{base}/api/articles?{urlencode(query)}"
    body = {"articles": [article_json(a, base, now) for a in page.articles], "next": next_url}
    response = current_app.response_class(flask_json.dumps(body) + "\n",
                                          mimetype="application/json")
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/openapi.json")
def openapi() -> Response:
    return current_app.response_class(flask_json.dumps(spec(site.base_url())) + "\n",
                                      mimetype="application/json")


def init_app(app: Flask) -> None:
    # Werkzeug refuses a declared Content-Length past this with 413, and stops reading a
    # streamed body one byte past MAX_BODY, which is how _body tells that it was too large.
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY"] + 1
    app.register_blueprint(bp)
