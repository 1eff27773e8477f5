"""The real sender against real sockets on loopback: addresses, redirects, slow and huge replies."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from feedsvc.websub.sender import HttpSender, Request, _Connection, public_address

Route = Callable[[BaseHTTPRequestHandler, bytes], tuple[int, dict[str, str], bytes]]


class Server:
    """A loopback HTTP server whose answers the test writes; it records what reached it."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.seen.append((self.command, self.path, dict(self.headers), body))
                status, headers, data = routes[self.path](self, body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = handle_one

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def make_server() -> Iterator[Callable[[dict[str, Route]], Server]]:
    servers: list[Server] = []

    def make(routes: dict[str, Route]) -> Server:
        servers.append(Server(routes))
        return servers[-1]

    yield make
    for server in servers:
        server.http.shutdown()
        server.http.server_close()


def ok(body: bytes = b"fine") -> Route:
    return lambda handler, data: (200, {}, body)


def redirect(status: int, location: str) -> Route:
    return lambda handler, data: (status, {"Location": location}, b"")


def only(*allowed: str) -> Callable[[Any], bool]:
    """An address rule for tests: exactly these addresses count as public."""
    return lambda ip: str(ip) in allowed


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("8.8.8.8", True), ("2606:4700::1111", True),
    ("127.0.0.1", False), ("127.8.8.8", False), ("10.0.0.1", False), ("172.16.5.4", False),
    ("192.168.0.1", False), ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False),
    ("224.0.0.251", False), ("239.255.255.250", False), ("255.255.255.255", False),
    ("240.0.0.1", False), ("::1", False), ("::", False), ("fe80::1", False), ("fc00::1", False),
    ("ff02::1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
    ("::ffff:93.184.216.34", True), ("2002:7f00:1::", False), ("64:ff9b::a00:1", False),
    ("64:ff9b::808:808", True), ("2001:db8::1", False),
    ("fec0::1", False), ("feff::1", False),  # site-local, deprecated (RFC 3879) but still routed
])
def test_the_address_rule(address: str, public: bool) -> None:
    assert public_address(ipaddress.ip_address(address)) is public


def test_loopback_is_refused_unless_allowed(make_server: Callable[..., Server]) -> None:
    server = make_server({"/cb": ok()})
    refused = HttpSender(2).send(Request("GET", server.url("/cb")))
    assert refused.status is None and refused.error is not None
    assert "refused" in refused.error and "127.0.0.1" in refused.error
    assert server.seen == []
    allowed = HttpSender(2).send(Request("GET", server.url("/cb"), allow_private=True))
    assert (allowed.status, allowed.body) == (200, b"fine")


def test_a_name_is_checked_after_resolution_and_connected_by_address(
        make_server: Callable[..., Server]) -> None:
    server = make_server({"/cb": ok()})
    names = {"sub.test": ["127.0.0.1"], "mixed.test": ["93.184.216.34", "10.0.0.1"]}
    sender = HttpSender(2, resolver=lambda host, port: names[host], allowed=only("127.0.0.1"))
    reply = sender.send(Request("POST", server.url("/cb", "sub.test"), {"X-Test": "1"}, b"data"))
    assert reply.status == 200
    [(method, path, headers, body)] = server.seen
    # The name never went to DNS: the connection went to the address checked.
    assert (method, path, headers["Host"], body) == ("POST", "/cb", f"sub.test:{server.port}", b"data")
    mixed = HttpSender(2, resolver=lambda host, port: names[host]).send(
        Request("GET", f"http://mixed.test:{server.port}/cb"))
    assert mixed.error is not None and "10.0.0.1" in mixed.error


def test_every_redirect_hop_is_checked(make_server: Callable[..., Server]) -> None:
    names = {"internal.test": ["10.0.0.1"]}
    server = make_server({
        "/to-loopback-2": redirect(302, "http://127.0.0.2/secret"),
        "/to-internal": redirect(307, "http://internal.test/secret"),
        "/to-file": redirect(302, "file:///etc/passwd"),
    })
    sender = HttpSender(2, resolver=lambda host, port: names.get(host) or [host],
                        allowed=only("127.0.0.1"))
    for path, culprit in [("/to-loopback-2", "127.0.0.2"), ("/to-internal", "10.0.0.1"),
                          ("/to-file", "file")]:
        reply = sender.send(Request("GET", server.url(path)))
        assert reply.error is not None and "refused" in reply.error and culprit in reply.error


def test_redirects_are_followed_by_the_rules(make_server: Callable[..., Server]) -> None:
    server = make_server({"/moved": redirect(301, "/here"), "/here": ok(b"arrived"),
                          "/post-307": redirect(307, "/here"), "/post-302": redirect(302, "/here"),
                          "/loop": redirect(302, "/loop")})
    sender = HttpSender(2)
    get = sender.send(Request("GET", server.url("/moved"), allow_private=True))
    assert (get.status, get.body) == (200, b"arrived")
    server.seen.clear()
    post = sender.send(Request("POST", server.url("/post-307"), {}, b"doc", allow_private=True))
    assert post.status == 200 and [(m, p, b) for m, p, _, b in server.seen] == [
        ("POST", "/post-307", b"doc"), ("POST", "/here", b"doc")]
    not_followed = sender.send(Request("POST", server.url("/post-302"), {}, b"doc", allow_private=True))
    assert not_followed.status == 302 and "only 307 and 308" in (not_followed.error or "")
    loop = sender.send(Request("GET", server.url("/loop"), allow_private=True))
    assert loop.error == "more than 5 redirects"


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    """A TCP server that treats each connection with the given function (slow, huge ...)."""
    listeners: list[socket.socket] = []
    stop = threading.Event()

    def start(behaviour: Callable[[socket.socket], None]) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.2)
        listeners.append(listener)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                threading.Thread(target=_guard, args=(behaviour, conn), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


def _guard(behaviour: Callable[[socket.socket], None], conn: socket.socket) -> None:
    try:
        behaviour(conn)
    except OSError:
        pass
    finally:
        conn.close()


def silent(conn: socket.socket) -> None:
    conn.recv(65536)
    time.sleep(5)


def drip(conn: socket.socket) -> None:
    conn.recv(65536)
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
        conn.sendall(bytes([byte]))
        time.sleep(0.05)


def huge(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
    chunk = b"x" * 65536
    for _ in range(16000):
        conn.sendall(chunk)


@pytest.mark.parametrize("behaviour", [silent, drip, huge])
def test_a_slow_or_huge_answer_cannot_hold_the_sender(
        raw_server: Callable[[Callable[[socket.socket], None]], int],
        behaviour: Callable[[socket.socket], None]) -> None:
    port = raw_server(behaviour)
    started = time.monotonic()
    reply = HttpSender(0.3, body_limit=4096).send(
        Request("POST", f"http://127.0.0.1:{port}/cb", {}, b"doc", allow_private=True))
    elapsed = time.monotonic() - started
    assert elapsed < 2.0  # three timeouts at most, whatever the peer does
    if behaviour is huge:
        assert reply.status == 200 and len(reply.body) == 4096
    else:
        assert reply.status is None and "timed out" in (reply.error or "")


def test_refused_connection_is_an_outcome_not_an_exception() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reply = HttpSender(1).send(Request("GET", f"http://127.0.0.1:{port}/", allow_private=True))
    assert reply.status is None and reply.error is not None


@pytest.mark.parametrize(("tls", "port", "host"), [
    (False, 80, "example.org"), (False, 8080, "example.org:8080"),
    (True, 443, "example.org"), (True, 8443, "example.org:8443"), (True, 80, "example.org:80"),
])
def test_the_host_field_names_a_port_only_when_it_is_not_the_schemes(tls: bool, port: int, host: str) -> None:
    """RFC 9110 7.2: https to 443 is "Host: example.org", as a browser sends it; some servers
    route "example.org:443" to no site at all."""
    connection = _Connection("example.org", port, "127.0.0.1", 1.0,
                             ssl.create_default_context() if tls else None)
    connection.putrequest("POST", "/cb")  # nothing is sent before endheaders()
    assert f"Host: {host}".encode() in connection._buffer  # type: ignore[attr-defined]
