"""The built-in WebSub hub at /websub (W3C WebSub Recommendation, 5.1) and ``feedsvc subscriptions``.

A (un)subscription request is checked at once — every refusal is a 4xx problem naming the
parameter, and creates nothing — and answered 202 Accepted; the worker then verifies the
subscriber's intent (worker.py), and only a subscriber that echoes the challenge gets an
active subscription.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Blueprint, Flask, Response, current_app, request
from flask.cli import with_appcontext
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from feedsvc.errors import BadRequest, ConfigError, NotFound, TooManyRequests, UnsupportedMediaType
from feedsvc.feeds import selection
from feedsvc.store import db, site
from feedsvc.store.models import WebSubJob, WebSubSubscription
from feedsvc.websub import outbox, sender
from feedsvc.websub.outbox import FeedTopic

bp = Blueprint("hub", __name__)
MODES = ("subscribe", "unsubscribe")
MAX_CALLBACK = 2000
MAX_SECRET = 200  # bytes; W3C WebSub 5.1: hub.secret "MUST be less than 200 bytes in length"
FORM = "application/x-www-form-urlencoded"


def lease(text: str | None, config: Mapping[str, Any]) -> int:
    """The lease granted for a requested one: the default when absent, else kept in bounds."""
    if text is None or text == "":
        return config["WEBSUB_LEASE_DEFAULT"]
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or int(text) < 1:
        raise ValueError("must be a whole number of seconds, at least 1")
    return max(config["WEBSUB_LEASE_MIN"], min(int(text), config["WEBSUB_LEASE_MAX"]))


def check_callback(url: str, allow_private: bool) -> str | None:
    """Why a callback URL is refused, or None."""
    if len(url) > MAX_CALLBACK:
        return f"is longer than {MAX_CALLBACK} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it checks it (ValueError for a port out of range)
    except ValueError as exc:
        return f"is not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http or https URL"
    if parts.fragment or "#" in url:
        return "must not have a fragment"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        return "must not contain spaces or control characters"
    if not allow_private:
        # An address is checked here; a name is resolved by the worker when it verifies (and
        # again on every delivery), never in a request thread, where a slow DNS server would
        # hold it. "localhost" is loopback whatever DNS says (RFC 6761 6.3).
        host = parts.hostname.rstrip(".")
        try:
            address = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            address = None
        if host == "localhost" or host.endswith(".localhost"):
            return "is refused: localhost is not a public address (set WEBSUB_ALLOW_PRIVATE to allow it)"
        if address is not None and not sender.public_address(address):
            return f"is refused: {host} is not a public address (set WEBSUB_ALLOW_PRIVATE to allow it)"
    return None


def check_topic(session: Session, url: str, base: str, now: dt.datetime) -> FeedTopic | str:
    """The feed a topic URL names, or why this hub does not serve it."""
    topic = outbox.parse_topic(url)
    if topic is None or topic.base != base:
        return (f"is not a feed of this service; use a feed's own URL (its rel=\"self\"), "
                f"such as {base}/feed.atom")
    try:
        selection.resolve(session, topic.scope, now)
    except NotFound as exc:
        return f"names no feed here: {exc.detail}"
    return topic


@bp.route("/websub", methods=["POST"])
def hub() -> Response:
    config = current_app.config
    if config["WEBSUB_HUB"]:
        raise NotFound(f"This service's feeds use the hub {config['WEBSUB_HUB']}.")
    if request.mimetype != FORM:
        raise UnsupportedMediaType(f"Send the hub parameters as {FORM} (W3C WebSub 5.1).")
    form, errors, refused = request.form, [], set()

    def one(name: str) -> str | None:
        values = form.getlist(name)
        if len(values) > 1:
            errors.append({"parameter": name, "detail": "is given more than once"})
        if values and "\x00" in values[0]:
            # PostgreSQL can neither store nor compare text holding U+0000: a hub.secret or a
            # topic slug with one was a 500 there (issue 12); no URL, mode or secret needs it.
            errors.append({"parameter": name, "detail": "must not hold a NUL character"})
            refused.add(name)
            return None
        return values[0] if values else None

    mode, callback, topic_url = one("hub.mode"), one("hub.callback"), one("hub.topic")
    lease_text, secret = one("hub.lease_seconds"), one("hub.secret") or None
    if mode is None:
        if "hub.mode" not in refused:
            errors.append({"parameter": "hub.mode", "detail": "is required: subscribe or unsubscribe"})
    elif mode not in MODES:
        errors.append({"parameter": "hub.mode", "detail": f"{mode[:50]!r} is not subscribe or "
                       "unsubscribe (this hub publishes feedsvc's own feeds by itself)"})
    if callback is None:
        if "hub.callback" not in refused:
            errors.append({"parameter": "hub.callback", "detail": "is required"})
    else:
        problem = check_callback(callback, config["WEBSUB_ALLOW_PRIVATE"])
        if problem:
            errors.append({"parameter": "hub.callback", "detail": problem})
    now, topic = site.now(), None
    if topic_url is None:
        if "hub.topic" not in refused:
            errors.append({"parameter": "hub.topic", "detail": "is required"})
    else:
        checked = check_topic(db.get_session(), topic_url, site.base_url(), now)
        if isinstance(checked, str):
            errors.append({"parameter": "hub.topic", "detail": checked})
        else:
            topic = checked
    granted = None
    if mode == "subscribe":
        try:
            granted = lease(lease_text, config)
        except ValueError as exc:
            errors.append({"parameter": "hub.lease_seconds", "detail": str(exc)})
        if secret is not None and len(secret.encode()) >= MAX_SECRET:
            errors.append({"parameter": "hub.secret",
                           "detail": f"must be less than {MAX_SECRET} bytes (W3C WebSub 5.1)"})
    if errors or topic is None or callback is None or mode is None:
        detail = "; ".join(f"{e['parameter']} {e['detail']}" for e in errors)
        raise BadRequest(f"The hub refused the request: {detail}.", errors=errors)
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def queue(session: Session) -> None:
        _within_limits(session, topic, callback, config)
        outbox.request_verification(session, topic, callback, mode, granted,
                                    secret if mode == "subscribe" else None, now)

    db.run_write(db.get_engine(), queue)
    outbox.signal(app).notify()
    return Response(f"Accepted: the hub will verify this {mode} request with a GET to the "
                    "callback.\n", status=202, content_type="text/plain; charset=utf-8")


def _within_limits(session: Session, topic: FeedTopic, callback: str, config: Mapping[str, Any]) -> None:
    """TooManyRequests (429, Retry-After) when this request would pass the verifications that
    may wait, in all or for its callback's host; one replacing a waiting request of the same
    subscription always goes in. A flood then costs the hub a bounded queue, and one host cannot
    take all of it."""
    host = outbox.callback_host(callback)
    if session.get_bind().dialect.name == "postgresql":
        # Count and insert as one step across requests (READ COMMITTED would let two count
        # the same room): the host's lock, then the hub's, each held to the commit.
        for name in (f"websub-pending:{host}", "websub-pending"):
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
    replaced = session.scalar(select(func.count()).select_from(WebSubJob).where(
        WebSubJob.kind == "verify", WebSubJob.topic_key == topic.key, WebSubJob.callback == callback)) or 0
    retry = {"Retry-After": str(math.ceil(config["WEBSUB_RETRY_BASE"]))}
    if outbox.pending_verifications(session, host) - replaced >= config["WEBSUB_MAX_PENDING_PER_HOST"]:
        raise TooManyRequests(f"{config['WEBSUB_MAX_PENDING_PER_HOST']} requests for callbacks at {host} "
                              "are waiting to be verified; try again later.", headers=retry)
    if outbox.pending_verifications(session) - replaced >= config["WEBSUB_MAX_PENDING"]:
        raise TooManyRequests(f"{config['WEBSUB_MAX_PENDING']} requests are waiting to be verified; "
                              "try again later.", headers=retry)


def state(subscription: WebSubSubscription, now: dt.datetime) -> str:
    if subscription.state == "active" and subscription.expires <= now:
        return "expired"
    return subscription.state


@click.command("subscriptions", short_help="List WebSub subscriptions and their last delivery.",
               help="List WebSub subscriptions: id, state, lease end, last delivery outcome, topic and "
                    "callback; requests still being verified show as `verifying`.")
@click.option("--state", "wanted", type=click.Choice(["active", "expired", "unsubscribed", "gone",
                                                       "verifying"]), help="List only subscriptions in this state.")
@with_appcontext
def subscriptions_command(wanted: str | None) -> None:
    db.require_schema(db.get_engine())
    session, now = db.get_session(), site.now()
    rows: list[tuple[str, ...]] = []
    for sub in session.scalars(select(WebSubSubscription).order_by(WebSubSubscription.id)):
        rows.append((str(sub.id), state(sub, now), sub.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     sub.last_outcome or "-", sub.topic, sub.callback))
    for job in session.scalars(select(WebSubJob).where(WebSubJob.kind == "verify")
                               .order_by(WebSubJob.id)):
        rows.append(("-", "verifying", "-", f"{job.mode} requested", job.topic,
                     job.callback or ""))
    rows = [row for row in rows if wanted is None or row[1] == wanted]
    if not rows:
        click.echo("no subscriptions", err=True)
        return
    header = ("ID", "STATE", "EXPIRES", "LAST DELIVERY", "TOPIC", "CALLBACK")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
                   + "  " + row[5])


def init_app(app: Flask) -> None:
    low, default, high = (app.config[f"WEBSUB_LEASE_{k}"] for k in ("MIN", "DEFAULT", "MAX"))
    if not low <= default <= high:
        raise ConfigError("WEBSUB_LEASE_DEFAULT", f"{default} must lie between WEBSUB_LEASE_MIN "
                                                  f"({low}) and WEBSUB_LEASE_MAX ({high})")
    app.register_blueprint(bp)
