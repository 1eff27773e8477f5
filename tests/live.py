"""A real ``feedsvc serve`` process for tests where HTTP between processes matters."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
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
    """``feedsvc serve`` in its own process; ``request`` speaks HTTP to it (headers any case)."""

    def __init__(self, instance: Path, database_url: str, threads: int = 8,
                 **config: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
        env |= {"FEEDSVC_INSTANCE_PATH": str(instance), "FEEDSVC_DATABASE_URL": database_url,
                "FEEDSVC_BASE_URL": "http://feeds.test"}
        env |= {f"FEEDSVC_{k}": v for k, v in config.items()}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(self.port),
             "--threads", str(threads)], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stdout.read()}")  # type: ignore[union-attr]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not start")

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
            out, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out or ""
