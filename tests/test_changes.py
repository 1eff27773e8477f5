"""Every write reports the scopes it touched, inside its own transaction."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from feedsvc.store import changes
from feedsvc.store.scopes import SITE, Scope

from conftest import Api, make_article


def listen(app: Flask) -> list[frozenset[Scope]]:
    seen: list[frozenset[Scope]] = []

    def listener(session: Session, scopes: frozenset[Scope], now: dt.datetime) -> None:
        seen.append(scopes)

    changes.listen(app, changes.Stage.WEBSUB, listener)
    return seen


def test_a_move_touches_old_and_new_scopes(app: Flask, api: Api) -> None:
    seen = listen(app)
    body = make_article(key="a", section="World", topics=["China"], authors=[{"name": "Ann"}])
    api.put("a", body)
    assert seen[-1] == {SITE, Scope("sections", "world"), Scope("topics", "china"),
                        Scope("authors", "ann")}
    api.put("a", body | {"section": "Sport", "topics": []})
    assert seen[-1] == {SITE, Scope("sections", "world"), Scope("sections", "sport"),
                        Scope("topics", "china"), Scope("authors", "ann")}
    count = len(seen)
    api.put("a", body | {"section": "Sport", "topics": []})  # nothing changes: no notice
    assert len(seen) == count
    api.delete("a")
    assert seen[-1] == {SITE, Scope("sections", "sport"), Scope("authors", "ann")}


def test_a_failing_listener_rolls_the_write_back(app: Flask, api: Api) -> None:
    def broken(session: Session, scopes: Any, now: dt.datetime) -> None:
        raise RuntimeError("outbox unavailable")

    changes.listen(app, changes.Stage.WEBSUB, broken)
    response = api.put("b", make_article(key="b"))
    assert response.status_code == 500
    assert api.get("b").status_code == 404


def test_import_reports_each_batch(app: Flask, tmp_path: Path) -> None:
    seen = listen(app)
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(json.dumps(make_article(key=f"i{n}", topics=[f"T{n}"]))
                              for n in range(3)) + "\n", encoding="utf-8")
    assert app.test_cli_runner().invoke(args=["import", "--quiet", str(path)]).exit_code == 0
    assert seen == [{SITE, Scope("sections", "world"), Scope("topics", "t0"),
                     Scope("topics", "t1"), Scope("topics", "t2"),
                     Scope("authors", "staff-correspondent")}]


def test_listeners_run_by_stage_whatever_order_they_were_registered_in(app: Flask, api: Api) -> None:
    """Each listener locks rows; every writer must lock in one order (changes.Stage), so a wing
    registered late still runs at its stage: the feeds' versions before WebSub's topics."""
    order: list[str] = []
    changes.listen(app, changes.Stage.WEBSUB, lambda s, scopes, now: order.append("websub"))
    changes.listen(app, changes.Stage.SCOPE_VERSIONS, lambda s, scopes, now: order.append("versions"))
    api.put("c", make_article(key="c"))
    assert order == ["versions", "websub"]
    stages = [stage for stage, _ in app.extensions["feedsvc.change_listeners"]]
    assert stages == sorted(stages) and stages.count(changes.Stage.SCOPE_VERSIONS) == 2
