"""The one outside seam of WebSub: an HTTP request to a subscriber's callback or a hub.

``HttpSender`` is careful with addresses it did not choose (OWASP SSRF prevention):
- the host is resolved once per hop, and every address it resolves to must be public
  (not loopback, private, link-local, multicast, reserved or unspecified, IPv4 inside IPv6
  looked through) unless private ones are allowed;
- the connection goes to that resolved address (the Host header and TLS name stay the
  host's), so a DNS answer that changes between check and connect cannot redirect it;
- redirects are followed by hand, each hop checked again; only 307/308 repeat a POST;
- connect and read time out, the whole exchange has a deadline, and at most ``body_limit``
  bytes of a response are read, so a slow or huge answer never holds a worker thread long.
Tests replace the sender with a fake, or give this one a resolver and an address rule.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from werkzeug.http import parse_date

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
REDIRECTS = {301, 302, 303, 307, 308}
USER_AGENT = "feedsvc-websub (+https://github.com/feedsvc/feedsvc)"


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    allow_private: bool = False
    # A purge carries a CDN's API token: a redirect would hand it to another host.
    follow_redirects: bool = True


@dataclass(frozen=True)
class Reply:
    """A response (status, the start of its body), or why there was none."""

    status: int | None
    body: bytes = b""
    error: str | None = None
    retry_after: float | None = None


class Sender(Protocol):
    def send(self, request: Request) -> Reply: ...


class Refused(Exception):
    """An address or URL the hub will not connect to."""


# Special-purpose ranges Python 3.11's is_global/is_private do not know (IANA registries).
NOT_PUBLIC = (ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments (RFC 6890)
              ipaddress.ip_network("3fff::/20"))  # documentation (RFC 9637)


def public_address(ip: IPAddress) -> bool:
    """Whether an address is on the public internet, looking through IPv4-in-IPv6 forms."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return public_address(embedded)
    site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local  # fec0::/10, RFC 3879
    special = any(ip in network for network in NOT_PUBLIC if network.version == ip.version)
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or special
                                 or ip.is_loopback or ip.is_link_local or ip.is_private or site_local)


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_host(host: str, port: int, *, allow_private: bool, resolver: Resolver = resolve,
               allowed: Callable[[IPAddress], bool] = public_address) -> str:
    """The address to connect to for ``host``; Refused when any of its addresses is not allowed."""
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise Refused(f"{host} does not resolve ({exc})") from None
    if not addresses:
        raise Refused(f"{host} does not resolve")
    if not allow_private:
        for text in addresses:
            if not allowed(ipaddress.ip_address(text.split("%")[0])):
                raise Refused(f"{host} resolves to {text}, which is not a public address")
    return addresses[0]


class _Connection(http.client.HTTPConnection):
    """HTTP to an address already checked; Host stays the name from the URL."""

    def __init__(self, host: str, port: int, ip: str, timeout: float,
                 context: ssl.SSLContext | None) -> None:
        super().__init__(host, port, timeout=timeout)
        self.ip, self.context = ip, context
        # The Host field names the port only when it is not the scheme's (RFC 9110 7.2):
        # http.client compares with HTTP's 80, so https to 443 sent "Host: name:443".
        self.default_port = 443 if context is not None else 80

    def connect(self) -> None:
        sock = socket.create_connection((self.ip, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.context is not None:
            sock = self.context.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


class HttpSender:
    """The real sender (see the module docstring)."""

    def __init__(self, timeout: float = 10.0, *, body_limit: int = 4096, max_redirects: int = 5,
                 resolver: Resolver = resolve,
                 allowed: Callable[[IPAddress], bool] = public_address) -> None:
        self.timeout, self.body_limit, self.max_redirects = timeout, body_limit, max_redirects
        self.resolver, self.allowed = resolver, allowed
        self.context = ssl.create_default_context()

    def send(self, request: Request) -> Reply:
        deadline = time.monotonic() + 3 * self.timeout
        method, url, body = request.method, request.url, request.body
        for _ in range(self.max_redirects + 1):
            try:
                reply, location = self._exchange(method, url, request.headers, body,
                                                 request.allow_private, deadline)
            except Refused as exc:
                return Reply(None, error=f"refused: {exc}")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                reason = "timed out" if time.monotonic() >= deadline else _text(exc)
                return Reply(None, error=f"{urlsplit(url).netloc}: {reason}")
            if location is None:
                return reply
            if not request.follow_redirects:
                return Reply(reply.status, error=f"redirected ({reply.status}) to {location[:200]}; "
                                                 "not followed (the request carries credentials)")
            if method != "GET" and reply.status not in (307, 308):
                return Reply(reply.status, error=f"redirected ({reply.status}); only 307 and "
                                                 "308 may repeat a POST")
            url = urljoin(url, location)
        return Reply(None, error=f"more than {self.max_redirects} redirects")

    def _exchange(self, method: str, url: str, headers: Mapping[str, str], body: bytes,
                  allow_private: bool, deadline: float) -> tuple[Reply, str | None]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Refused(f"{url[:100]!r} is not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        ip = check_host(parts.hostname, port, allow_private=allow_private,
                        resolver=self.resolver, allowed=self.allowed)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        connection = _Connection(parts.hostname, port, ip, min(self.timeout, remaining),
                                 self.context if parts.scheme == "https" else None)
        # The socket timeout bounds each read; this bounds them all (a one-byte-a-second
        # drip would otherwise hold the thread for as long as the peer likes).
        aborted = threading.Event()
        timer = threading.Timer(remaining, _abort, (connection, aborted))
        timer.daemon = True
        timer.start()
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request(method, target, body=body if body or method != "GET" else None,
                               headers={"User-Agent": USER_AGENT, "Connection": "close",
                                        **headers})
            response = connection.getresponse()
            location = response.getheader("Location")
            data = b"" if response.status in REDIRECTS and location else response.read(self.body_limit)
        finally:
            timer.cancel()
            connection.close()
        if aborted.is_set():  # what was read may be cut short: it is no answer
            raise TimeoutError("timed out")
        if response.status in REDIRECTS and location:
            return Reply(response.status), location
        return Reply(response.status, data, retry_after=_retry_after(
            response.getheader("Retry-After"))), None


def _abort(connection: http.client.HTTPConnection, aborted: threading.Event) -> None:
    aborted.set()
    sock: Any = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delay-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = parse_date(value)  # werkzeug's: None when it is no HTTP-date
    return None if when is None else max(0.0, when.timestamp() - time.time())


def _text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
