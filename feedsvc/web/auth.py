"""API tokens: created once with a printed secret, stored as a hash, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from flask import Flask, current_app, request
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc.errors import Conflict, NotFound, TooManyRequests, Unauthorized
from feedsvc.store import db, site
from feedsvc.store.models import ApiToken
from feedsvc.web.limits import Throttle

F = TypeVar("F", bound=Callable[..., Any])
PREFIX = "fsv"
_LOOKUP = re.compile(r"[0-9a-f]{12}")


def _digest(secret: str) -> str:
    # The secret carries 256 random bits, so a plain SHA-256 is as strong as a slow KDF here.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, name: str, now: Any) -> str:
    """Store a new token named ``name``; return its secret, which is never stored."""
    active = session.scalar(select(ApiToken).where(ApiToken.name == name,
                                                   ApiToken.revoked.is_(None)))
    if active is not None:
        raise Conflict(f"a token named {name!r} exists; revoke it first")
    lookup = secrets.token_hex(6)
    secret = f"{PREFIX}_{lookup}_{secrets.token_urlsafe(32)}"
    session.add(ApiToken(name=name, prefix=lookup, secret_hash=_digest(secret), created=now))
    return secret


def revoke_token(session: Session, name: str, now: Any) -> int:
    tokens = list(session.scalars(select(ApiToken).where(ApiToken.name == name,
                                                         ApiToken.revoked.is_(None))))
    if not tokens:
        raise NotFound(f"no active token named {name!r}")
    for token in tokens:
        token.revoked = now
    return len(tokens)


def check_token(session: Session, secret: str) -> ApiToken | None:
    """The active token whose secret this is, or None."""
    parts = secret.split("_", 2)
    # The lookup part is 12 hex digits (create_token); anything else, a NUL above all, which
    # PostgreSQL cannot even compare, names no token.
    if len(parts) != 3 or parts[0] != PREFIX or not _LOOKUP.fullmatch(parts[1]):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.prefix == parts[1]))
    if token is None or token.revoked is not None:
        return None
    return token if hmac.compare_digest(token.secret_hash, _digest(secret)) else None


def required(view: F) -> F:
    """Refuse the request with 401 unless it carries ``Authorization: Bearer <active token>``.

    A client that keeps sending bad tokens gets 429 with Retry-After until its window clears.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        throttle: Throttle = current_app.extensions["feedsvc.auth_throttle"]
        client, clock = request.remote_addr or "unknown", time.monotonic()
        wait = throttle.wait(client, clock)
        if wait > 0:
            raise TooManyRequests("Too many requests with bad tokens; try again later.",
                                  headers={"Retry-After": str(math.ceil(wait))})
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="feedsvc"'}
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.",
                               headers=challenge)
        if check_token(db.get_session(), secret.strip()) is None:
            throttle.add(client, clock)
            challenge["WWW-Authenticate"] += ', error="invalid_token"'
            raise Unauthorized("The API token is not valid or was revoked.", headers=challenge)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@click.group("token", cls=AppGroup, help="API tokens.")
def token_cli() -> None:
    pass


MAX_TOKEN_NAME = 100  # the width of api_tokens.name


def _token_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A token's name: 1-100 printable characters (a NUL or a longer name was a traceback)."""
    if not 1 <= len(value) <= MAX_TOKEN_NAME or not value.isprintable():
        raise click.BadParameter(f"must be 1-{MAX_TOKEN_NAME} printable characters")
    return value


@token_cli.command("create", help="Create a token and print its secret (shown only once).")
@click.argument("name", callback=_token_name)
def create_command(name: str) -> None:
    app = current_app
    try:
        secret = db.run_write(db.get_engine(), lambda s: create_token(s, name, site.now(app)))
    except Conflict as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(secret)


@token_cli.command("list", help="List tokens (never their secrets).")
def list_command() -> None:
    with Session(db.get_engine()) as session:
        for token in session.scalars(select(ApiToken).order_by(ApiToken.name, ApiToken.id)):
            state = f"revoked {token.revoked:%Y-%m-%dT%H:%M:%SZ}" if token.revoked else "active"
            click.echo(f"{token.name}\t{state}\tcreated {token.created:%Y-%m-%dT%H:%M:%SZ}")


@token_cli.command("revoke", help="Revoke every active token of that name.")
@click.argument("name", callback=_token_name)
def revoke_command(name: str) -> None:
    app = current_app
    try:
        count = db.run_write(db.get_engine(), lambda s: revoke_token(s, name, site.now(app)))
    except NotFound as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"revoked {count} token(s) named {name}")


def init_app(app: Flask) -> None:
    app.extensions["feedsvc.auth_throttle"] = Throttle(app.config["AUTH_FAILURE_LIMIT"],
                                                       app.config["AUTH_FAILURE_WINDOW"])
    app.cli.add_command(token_cli)
