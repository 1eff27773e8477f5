"""Configuration layers and the refusal of bad values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from feedsvc import config
from feedsvc.errors import ConfigError


def test_layers_in_order(tmp_path: Path) -> None:
    (tmp_path / "feedsvc.toml").write_text('SITE_TITLE = "From file"\nFEED_SIZE = 20\n'
                                           'TIMEZONE = "Asia/Dhaka"\n')
    env = {"FEEDSVC_FEED_SIZE": "30", "FEEDSVC_CACHE_MAX_AGE": "0"}
    loaded = config.load(tmp_path, env, {"FEED_SIZE": 40})
    assert loaded["SITE_TITLE"] == "From file"  # file over default
    assert loaded["TIMEZONE"] == "Asia/Dhaka"
    assert loaded["CACHE_MAX_AGE"] == 0  # environment over default
    assert loaded["FEED_SIZE"] == 40  # test config over environment over file
    assert loaded["DATABASE_URL"] == f"sqlite:///{tmp_path / 'feedsvc.sqlite3'}"
    assert loaded["MAX_BODY"] == 2 * 2**20


def test_config_file_named_by_environment(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('BASE_URL = "https://news.example/"\n')
    loaded = config.load(tmp_path, {"FEEDSVC_CONFIG": str(other)}, None)
    assert loaded["BASE_URL"] == "https://news.example"


@pytest.mark.parametrize(("key", "value"), [
    ("TIMEZONE", "Mars/Olympus"), ("FEED_SIZE", "many"), ("FEED_SIZE", "0"),
    ("MAX_BODY", "lots"), ("BASE_URL", "news.example"), ("BASE_URL", "ftp://x"),
    ("CACHE_MAX_AGE", "-1"), ("ID_AUTHORITY", "not a host!"), ("DATABASE_URL", "::::"),
    ("WEBSUB_ALLOW_PRIVATE", "perhaps"), ("SITE_TITLE", "  "),
])
def test_bad_value_names_its_key(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path, {f"FEEDSVC_{key}": value}, None)
    assert info.value.key == key
    assert key in str(info.value)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    (tmp_path / "feedsvc.toml").write_text("FEED_SIZ = 3\n")
    with pytest.raises(ConfigError, match="FEED_SIZ"):
        config.load(tmp_path, {}, None)


def test_bad_config_stops_the_cli_with_the_key(tmp_path: Path) -> None:
    env = {"FEEDSVC_INSTANCE_PATH": str(tmp_path), "FEEDSVC_TIMEZONE": "Nowhere/Land",
           "PATH": ""}
    result = subprocess.run([sys.executable, "-m", "feedsvc.cli", "db", "upgrade"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "TIMEZONE" in result.stderr
    assert "Traceback" not in result.stderr
