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

from feedsvc.errors import NotFound, TooManyRequests, Unauthorized
from feedsvc.store import db, site
from feedsvc.store.models import ApiToken
from feedsvc.web.limits import Throttle

F = TypeVar("F", bound=Callable[..., Any])
PREFIX = "fsv"
_LOOKUP = re.compile(r"[0-9a-f]{12}")


def _digest(secret: str) -> str:
    # The secret carries 256 random bits, so a plain SHA-256 is as strong as a slow KDF here.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, name: str, now: Any) -> tuple[str, str]:
    """Store a new token named ``name``; return its id and its secret, which is never stored.

    A name may hold several active tokens, so a client's token can be rotated: create the new
    one, deploy it, then revoke the old one by its id. The id is the 12 hex digits after
    ``fsv_`` in the secret: it names the token in ``token list`` and tells nothing of the rest.
    """
    lookup = secrets.token_hex(6)
    secret = f"{PREFIX}_{lookup}_{secrets.token_urlsafe(32)}"
    session.add(ApiToken(name=name, prefix=lookup, secret_hash=_digest(secret), created=now))
    return lookup, secret


def revoke_token(session: Session, name_or_id: str, now: Any) -> list[ApiToken]:
    """Revoke the active token with that id, or else every active token of that name.

    Raises NotFound when neither names an active token. Returns the tokens revoked.
    """
    lookup = name_or_id.removeprefix(f"{PREFIX}_").split("_", 1)[0]  # an id, or a whole secret
    active = ApiToken.revoked.is_(None)
    tokens: list[ApiToken] = []
    if _LOOKUP.fullmatch(lookup):
        tokens = list(session.scalars(select(ApiToken).where(ApiToken.prefix == lookup, active)))
    if not tokens:
        tokens = list(session.scalars(select(ApiToken).where(ApiToken.name == name_or_id, active)
                                      .order_by(ApiToken.id)))
    if not tokens:
        shown = lookup if name_or_id.startswith(f"{PREFIX}_") else name_or_id  # never a secret
        raise NotFound(f"no active token has the id or name {shown!r} (see `feedsvc token list`)")
    for token in tokens:
        token.revoked = now
    return tokens


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


@click.group("token", cls=AppGroup, short_help="Create, list and revoke API tokens.",
             help="API tokens: the bearer secrets the JSON API takes, stored only as hashes.")
def token_cli() -> None:
    pass


MAX_TOKEN_NAME = 100  # the width of api_tokens.name


def _token_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A token's name: 1-100 printable characters (a NUL or a longer name was a traceback)."""
    if not 1 <= len(value) <= MAX_TOKEN_NAME or not value.isprintable():
        raise click.BadParameter(f"must be 1-{MAX_TOKEN_NAME} printable characters")
    return value


@token_cli.command("create", help="Create a token named NAME (a client, such as newsroom) and print its "
                                   "secret, shown only this once. A name may hold several tokens, "
                                   "for rotation.")
@click.argument("name", callback=_token_name)
def create_command(name: str) -> None:
    app = current_app
    engine = db.get_engine()
    db.require_schema(engine)
    token_id, secret = db.run_write(engine, lambda s: create_token(s, name, site.now(app)))
    click.echo(secret)
    click.echo(f"created token {token_id} named {name}; revoke it with `feedsvc token revoke {token_id}`",
               err=True)


@token_cli.command("list", help="List every token: its id, name, state and creation time (never its "
                                 "secret).")
def list_command() -> None:
    engine = db.get_engine()
    db.require_schema(engine)
    with Session(engine) as session:
        rows = [(token.prefix, token.name, f"revoked {token.revoked:%Y-%m-%dT%H:%M:%SZ}" if token.revoked
                 else "active", f"{token.created:%Y-%m-%dT%H:%M:%SZ}")
                for token in session.scalars(select(ApiToken).order_by(ApiToken.name, ApiToken.id))]
    if not rows:
        click.echo("no tokens: create one with `feedsvc token create NAME`", err=True)
        return
    header = ("ID", "NAME", "STATE", "CREATED")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])


@token_cli.command("revoke", help="Revoke the token with the id ID_OR_NAME, or else every active token "
                                   "named ID_OR_NAME.")
@click.argument("id_or_name", callback=_token_name)
def revoke_command(id_or_name: str) -> None:
    app = current_app
    engine = db.get_engine()
    db.require_schema(engine)
    try:
        revoked = db.run_write(engine, lambda s: [(t.prefix, t.name) for t in
                                                  revoke_token(s, id_or_name, site.now(app))])
    except NotFound as exc:
        raise click.ClickException(exc.detail) from None
    for token_id, name in revoked:
        click.echo(f"revoked token {token_id} named {name}")


def init_app(app: Flask) -> None:
    app.extensions["feedsvc.auth_throttle"] = Throttle(app.config["AUTH_FAILURE_LIMIT"],
                                                       app.config["AUTH_FAILURE_WINDOW"])
