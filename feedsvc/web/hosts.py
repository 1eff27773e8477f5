"""The Host a request names, checked before anything else reads it (RFC 9112 section 3.2).

Without BASE_URL every absolute link and ``rel=self`` is built from the request's Host, so a
Host that is not an authority (``bad host/..``) gave pages and feeds of broken links. A
request with no Host in HTTP/1.1, more than one, or an invalid one gets 400 problem+json and
the connection is closed; an absolute-form target names the host itself (section 3.2.2).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from feedsvc.web import problems

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

# Asks the server to close the connection after this response: Connection is hop-by-hop, which
# a WSGI app may not send itself (PEP 3333); feedsvc.serve honours the key.
CLOSE_CONNECTION = "feedsvc.close_connection"

# RFC 3986 section 3.2.2: host = IP-literal / IPv4address / reg-name; an http host is never
# empty (RFC 9110 section 4.2.1). Of the reg-names, only DNS names (RFC 1123 section 2.1:
# letters, digits and hyphens in non-empty dot-separated labels, IPv4 addresses included)
# can name this site, and they are all Werkzeug builds links from: for any other (a "_", "~",
# a sub-delim or a %XX escape) it builds "http:///..." or answers a bare 400. Likewise the
# port is 1 to 65535 without leading zeros (RFC 3986 section 3.2.3 allows "", "0" and "080",
# which name no port a client connected to), and the IP-literal is an IPv6 address without
# a zone (RFC 6874's zones name an interface of the client; IPvFuture names no address yet).
_AUTHORITY = re.compile(
    r"(?:(?P<name>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?)|\[(?P<literal>[0-9A-Fa-f:.]+)\])"
    r"(?::(?P<port>[1-9][0-9]{0,4}))?")
# RFC 9112 section 3.2.2: absolute-form, as a client sends to a proxy (or an origin may get).
_ABSOLUTE_FORM = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<authority>[^/?#]*)")


def valid_authority(value: str) -> bool:
    """Whether ``value`` is ``host[:port]`` that can name this site (see above), no userinfo."""
    # A server sees a handful of hosts again and again; a DNS name is at most 253 characters.
    return _known_authority(value) if len(value) <= 261 else _valid_authority(value)


def _valid_authority(value: str) -> bool:
    match = _AUTHORITY.fullmatch(value)
    if match is None or (match["port"] is not None and int(match["port"]) > 65535):
        return False
    if match["literal"] is None:
        return True
    try:
        ipaddress.IPv6Address(match["literal"])
    except ValueError:
        return False
    return True


_known_authority = functools.lru_cache(maxsize=64)(_valid_authority)


def refusal(environ: Environ) -> str | None:
    """Why this request's host is refused, or None; an absolute-form target sets HTTP_HOST."""
    host = environ.get("HTTP_HOST")
    if host is None:
        if environ.get("SERVER_PROTOCOL") == "HTTP/1.1":
            return "An HTTP/1.1 request needs a Host field (RFC 9112 section 3.2)."
    elif not valid_authority(host):
        # More than one Host line arrives joined by ", ", never a valid authority.
        return "The Host field is not host[:port] (RFC 9112 section 3.2, RFC 3986 section 3.2)."
    uri = environ.get("REQUEST_URI", "")
    target = None if uri.startswith("/") else _ABSOLUTE_FORM.match(uri)  # origin-form: the usual
    if target is not None:
        if target["scheme"].lower() not in ("http", "https"):
            return "The request target is not an http or https URI (RFC 9112 section 3.2.2)."
        if not valid_authority(target["authority"]):
            return "The request target's authority is not host[:port] (RFC 9112 section 3.2.2)."
        # An origin server uses the target's authority and ignores Host (RFC 9112 3.2.2).
        environ["HTTP_HOST"] = target["authority"]
    return None


class HostCheck:
    """WSGI middleware: 400 problem+json and a closed connection for a request without a good host."""

    def __init__(self, wsgi_app: WsgiApp) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        reason = refusal(environ)
        if reason is None:
            return self.wsgi_app(environ, start_response)
        # Whatever the client meant next on this connection cannot be trusted either.
        environ[CLOSE_CONNECTION] = True
        response = problems.problem(400, "Bad Request", reason)
        response.headers["Cache-Control"] = "no-store"
        return response(environ, start_response)  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    """Wrap the whole WSGI app, so that no path (the fast poll path included) sees a bad host."""
    app.wsgi_app = HostCheck(app.wsgi_app)  # type: ignore[method-assign]
