"""A real ``feedsvc serve`` process for tests where HTTP between processes matters."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """``feedsvc serve`` in its own process; ``request`` speaks HTTP to it (headers any case).

    What it prints (its access log among it) is read as it comes, so that a full pipe never
    blocks it: ``output`` holds the lines so far. ``args`` go to ``feedsvc serve``; ``env``
    is added to its environment (besides ``config``, each as ``FEEDSVC_<key>``).
    """

    def __init__(self, instance: Path, database_url: str, threads: int = 8,
                 args: tuple[str, ...] = (), env: dict[str, str] | None = None, **config: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
        environ |= {"FEEDSVC_INSTANCE_PATH": str(instance), "FEEDSVC_DATABASE_URL": database_url,
                    "FEEDSVC_BASE_URL": "http://feeds.test"}
        environ |= {f"FEEDSVC_{k}": v for k, v in config.items()} | (env or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(self.port),
             "--threads", str(threads), *args], env=environ, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reader.join(10)
                raise RuntimeError(f"server exited: {''.join(self.output)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not start")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} | (headers or {}))
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def stop(self, sig: int | None = None) -> str:
        """Stop the server (SIGTERM unless ``sig``), return what it printed."""
        if self.process.poll() is None:
            if sig is None:
                self.process.terminate()
            else:
                self.process.send_signal(sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return "".join(self.output)
