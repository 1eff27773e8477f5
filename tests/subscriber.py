"""A real WebSub subscriber on loopback for the tests: it subscribes, answers the challenge,
checks signatures and records every delivery with the instant it arrived."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Delivery:
    path: str
    at: float  # time.monotonic()
    headers: dict[str, str]
    body: bytes


@dataclass
class Callback:
    """What one callback path does: deny verification, fail some deliveries, hang, or 410."""

    secret: str | None = None
    deny: bool = False
    failures: int = 0  # answer 500 to this many deliveries first
    gone: bool = False
    hang: threading.Event | None = None  # when set, deliveries wait for it and are not recorded
    attempts: list[float] = field(default_factory=list)


class Subscriber:
    """``ThreadingHTTPServer`` on 127.0.0.1; ``url(path)`` is a callback, ``subscribe`` asks a hub."""

    def __init__(self) -> None:
        self.callbacks: dict[str, Callback] = {}
        self.deliveries: list[Delivery] = []
        self.verifications: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # verification of intent
                path, _, query = self.path.partition("?")
                params = dict(urllib.parse.parse_qsl(query))
                with subscriber.lock:
                    subscriber.verifications.append((path, params))
                    callback = subscriber.callbacks.setdefault(path, Callback())
                if callback.deny:
                    self.answer(404, b"not me")
                else:
                    self.answer(200, params.get("hub.challenge", "").encode())

            def do_POST(self) -> None:  # content distribution
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrived = time.monotonic()
                with subscriber.lock:
                    callback = subscriber.callbacks.setdefault(self.path, Callback())
                    callback.attempts.append(arrived)
                    failing = callback.failures > 0
                    if failing:
                        callback.failures -= 1
                if callback.hang is not None and not callback.hang.is_set():
                    callback.hang.wait(30)
                    self.answer(503, b"")
                    return
                if failing:
                    self.answer(500, b"try later")
                    return
                with subscriber.lock:
                    subscriber.deliveries.append(Delivery(self.path, arrived, dict(self.headers), body))
                self.answer(410 if callback.gone else 204, b"")

            def answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, **behaviour: Any) -> str:
        with self.lock:
            self.callbacks[path] = Callback(**behaviour)
        return self.url(path)

    def subscribe(self, hub: str, topic: str, path: str, mode: str = "subscribe",
                  **params: str) -> tuple[int, bytes]:
        form = {"hub.mode": mode, "hub.topic": topic, "hub.callback": self.url(path)}
        form |= {f"hub.{k}": v for k, v in params.items()}
        request = urllib.request.Request(hub, data=urllib.parse.urlencode(form).encode(),
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def received(self, path: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.path == path]

    def verified(self, path: str, mode: str = "subscribe") -> bool:
        with self.lock:
            return any(p == path and q.get("hub.mode") == mode for p, q in self.verifications)

    def signature_ok(self, delivery: Delivery) -> bool:
        secret = self.callbacks[delivery.path].secret
        assert secret is not None
        expected = "sha256=" + hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(delivery.headers.get("X-Hub-Signature", ""), expected)

    def close(self) -> None:
        for callback in self.callbacks.values():
            if callback.hang is not None:
                callback.hang.set()
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, step: float = 0.01) -> Any:
    """Poll until ``condition()`` is truthy; its value, or AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)
