"""The deployment files in deploy/ are the ones the README shows, and they name settings and
options feedsvc takes (the README's "Running it for real" was tried by hand with them)."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

from feedsvc import config
from feedsvc.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def _readme_block(language: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    running = text[text.index("## Running it for real"):text.index("## Benchmarks")]
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", running, flags=re.M | re.S)
    assert len(blocks) == 1, language
    return blocks[0]


def test_the_readme_shows_the_deploy_files_as_they_are() -> None:
    assert _readme_block("ini") == (DEPLOY / "systemd" / "feedsvc@.service").read_text()
    assert _readme_block("nginx") == (DEPLOY / "nginx" / "feedsvc.conf").read_text()
    assert _readme_block("toml") == (DEPLOY / "feedsvc.toml").read_text()


def test_the_settings_file_is_one_feedsvc_takes(tmp_path: Path) -> None:
    (tmp_path / "feedsvc.toml").write_text((DEPLOY / "feedsvc.toml").read_text())
    loaded = config.load(tmp_path, {}, None)
    assert loaded["BASE_URL"] == "https://news.example" and loaded["TRUSTED_PROXY"] == "127.0.0.1"
    assert loaded["DATABASE_URL"].startswith("postgresql+psycopg://")


def test_the_unit_starts_feedsvc_serve_with_options_it_takes() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "systemd" / "feedsvc@.service")
    service = unit["Service"]
    program, *args = shlex.split(service["ExecStart"].replace("%i", "8001"))
    assert program == "/srv/feedsvc/.venv/bin/feedsvc" and args[0] == "serve"
    context = cli.commands["serve"].make_context("serve", args[1:])
    assert context.params["port"] == 8001 and context.params["host"] == "127.0.0.1"
    assert context.params["metrics_port"] == 18001 and context.params["metrics_host"] == "127.0.0.1"
    instance = service["Environment"].removeprefix("FEEDSVC_INSTANCE_PATH=")
    assert instance in service["ReadWritePaths"]  # the one folder it may write
    assert service["KillSignal"] == "SIGTERM"  # finishes the requests under way
