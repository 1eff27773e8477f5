"""An unreachable database gives a fast 503 problem with Retry-After, never a 500 or a hang."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from feedsvc import create_app

from conftest import make_article


def test_unreachable_postgres_is_a_fast_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDSVC_INSTANCE_PATH", str(tmp_path))
    down = create_app({"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:9/none",
                       "BASE_URL": "http://feeds.test", "ID_AUTHORITY": "feeds.test"})
    client = down.test_client()
    started = time.monotonic()
    response = client.put("/api/articles/x", json=make_article(key="x"),
                          headers={"Authorization": "Bearer fsv_000000000000_x"})
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
