"""The ``feedsvc`` command as a person at a terminal meets it: its own help and version, one-line
answers to ordinary mistakes (no traceback, a non-zero exit, nothing created), true messages,
warnings for settings that would pass unseen, and tokens that can be rotated.

Each test runs the real command in a process of its own, in a folder of its own, with no
``FEEDSVC_*`` variable but those it sets.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from feedsvc import config
from feedsvc.cli import cli
from feedsvc.store import db

from live import free_port


def feedsvc(cwd: Path, *args: str, timeout: float = 60, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")} | environ
    return subprocess.run([sys.executable, "-m", "feedsvc.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line(result: subprocess.CompletedProcess[str], *phrases: str, status: int = 1) -> None:
    """Exit ``status``, and one line on standard error naming the problem: no traceback."""
    assert result.returncode == status, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("feedsvc: "), result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


# -- the command's own surface -------------------------------------------------------------------


def test_version_and_a_help_of_its_own(tmp_path: Path) -> None:
    for flag in ("--version", "-V"):
        result = feedsvc(tmp_path, flag)
        assert result.returncode == 0 and result.stdout == f"feedsvc {version('feedsvc')}\n"
    shown = feedsvc(tmp_path, "--help")
    assert shown.returncode == 0
    for name in ("serve", "worker", "db", "token", "import", "export", "subscriptions"):
        assert f"\n  {name} " in shown.stdout
    for flask_only in ("run ", "shell ", "routes ", "--env-file", "-A,", "--app", "--debug"):
        assert flask_only not in shown.stdout
    assert feedsvc(tmp_path, "run").returncode == 2  # no such command
    assert not (tmp_path / "instance").exists()  # help builds no app and creates nothing


def _all_commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found += _all_commands(command, (*path, name))
    return found


def test_every_command_and_option_says_what_it_does() -> None:
    for path, command in _all_commands(cli):
        assert command.help and command.get_short_help_str(limit=80).strip(), path
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"feedsvc {' '.join(path)} {param.opts[0]} has no help"


def test_import_and_export_say_that_a_dash_means_standard_input_or_output(tmp_path: Path) -> None:
    assert "`-` for standard input" in feedsvc(tmp_path, "import", "--help").stdout
    assert "`-` for standard output" in feedsvc(tmp_path, "export", "--help").stdout


# -- ordinary mistakes: one line, a non-zero exit, nothing created ----------------------------------


@pytest.mark.parametrize("args", [("token", "create", "newsroom"), ("token", "list"),
                                  ("token", "revoke", "newsroom"), ("export", "out.jsonl"),
                                  ("subscriptions",), ("worker", "--once")])
def test_a_command_run_where_there_is_no_database_says_so_and_creates_nothing(
        tmp_path: Path, args: tuple[str, ...]) -> None:
    result = feedsvc(tmp_path, *args)
    assert_one_line(result, f"no database at {tmp_path / 'instance' / 'feedsvc.sqlite3'}",
                    "FEEDSVC_INSTANCE_PATH", "feedsvc db upgrade")
    assert list(tmp_path.iterdir()) == []  # no stray instance/, no out.jsonl


def _sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.mark.parametrize("args", [("token", "create", "newsroom"), ("token", "list"),
                                  ("export", "-"), ("subscriptions",), ("worker", "--once")])
def test_a_database_without_the_schema_or_behind_it_names_both_and_the_fix(
        tmp_path: Path, args: tuple[str, ...]) -> None:
    empty, behind = tmp_path / "empty.sqlite3", tmp_path / "behind.sqlite3"
    empty.touch()
    _upgrade_to(behind, "0005")
    result = feedsvc(tmp_path, *args, FEEDSVC_DATABASE_URL=_sqlite(empty))
    assert_one_line(result, f"the database at {empty} has no schema", db.code_revision(),
                    "run `feedsvc db upgrade`")
    result = feedsvc(tmp_path, *args, FEEDSVC_DATABASE_URL=_sqlite(behind))
    assert_one_line(result, f"the database at {behind} has schema 0005", db.code_revision())
    assert result.stdout == ""


def _upgrade_to(path: Path, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    engine = db.make_engine(_sqlite(path))
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    engine.dispose()


def test_db_upgrade_says_what_it_did(tmp_path: Path) -> None:
    path = tmp_path / "instance" / "feedsvc.sqlite3"
    first = feedsvc(tmp_path, "db", "upgrade")
    assert first.returncode == 0 and first.stdout == f"created the schema at {db.code_revision()} in {path}\n"
    again = feedsvc(tmp_path, "db", "upgrade")
    assert again.stdout == f"the schema of {path} is already at {db.code_revision()}, this version's\n"
    old = tmp_path / "old.sqlite3"
    _upgrade_to(old, "0004")
    moved = feedsvc(tmp_path, "db", "upgrade", FEEDSVC_DATABASE_URL=_sqlite(old))
    assert moved.stdout == f"upgraded the schema of {old} from 0004 to {db.code_revision()}\n"


def test_a_database_a_later_release_migrated_is_used_as_it_is(tmp_path: Path) -> None:
    """Old processes and commands keep working during a rolling upgrade; `db upgrade` of the
    old release says the truth and changes nothing."""
    assert feedsvc(tmp_path, "db", "upgrade").returncode == 0
    path = tmp_path / "instance" / "feedsvc.sqlite3"
    engine = db.make_engine(_sqlite(path))
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    result = feedsvc(tmp_path, "db", "upgrade")
    assert result.returncode == 0 and result.stdout == (
        f"the schema of {path} is at 9999, newer than this version's {db.code_revision()}: "
        "nothing to do (upgrade feedsvc to match)\n")
    made = feedsvc(tmp_path, "token", "create", "newsroom")
    assert made.returncode == 0 and made.stdout.startswith("fsv_")


def test_export_into_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    assert feedsvc(tmp_path, "db", "upgrade").returncode == 0
    result = feedsvc(tmp_path, "export", "missing/backup.jsonl")
    assert_one_line(result, "cannot write missing/backup.jsonl: No such file or directory")
    assert not (tmp_path / "missing").exists()


def test_export_onto_a_full_disk(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps({"key": "a", "title": "A", "section": "World"}) + "\n")
    assert feedsvc(tmp_path, "import", "--quiet", "a.jsonl").returncode == 0
    result = feedsvc(tmp_path, "export", "/dev/full")
    assert_one_line(result, "cannot write /dev/full: No space left on device")


@pytest.mark.parametrize(("source", "phrases"), [
    ("http://127.0.0.1:{port}/feed.xml", ("cannot fetch http://127.0.0.1:", "refused")),
    ("http://[::1", ("cannot fetch http://[::1", "Invalid IPv6 URL")),
    ("http://editor:S3cretPW@127.0.0.1:{port}/x", ("cannot fetch http://editor:***@127.0.0.1:",
                                                   "a URL with a user name or password")),
    ("missing.jsonl", ("cannot read missing.jsonl: No such file or directory",)),
    (".", ("is a folder, not a file to import",)),
])
def test_import_from_a_source_that_cannot_be_read_creates_nothing(
        tmp_path: Path, source: str, phrases: tuple[str, ...]) -> None:
    result = feedsvc(tmp_path, "import", "--quiet", source.format(port=free_port()))
    assert_one_line(result, *phrases)
    assert "S3cretPW" not in result.stderr
    assert not (tmp_path / "instance").exists()


def test_import_takes_a_pipe(tmp_path: Path) -> None:
    line = json.dumps({"key": "piped", "title": "Piped", "section": "World",
                       "published": "2022-06-19T02:17:00+06:00"})
    result = subprocess.run(["bash", "-c", f"{sys.executable} -m feedsvc.cli import --quiet <(echo '{line}')"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")})
    assert result.returncode == 0 and "1 created" in result.stdout, result.stderr


@pytest.mark.parametrize("document", ["<html><body><p>Not a feed</p></body></html>", "<foo/>"])
def test_importing_xml_that_is_no_feed_fails(tmp_path: Path, document: str) -> None:
    (tmp_path / "page.xml").write_text(document)
    result = feedsvc(tmp_path, "import", "--quiet", "page.xml")
    assert result.returncode == 1
    assert "not an RSS or Atom feed" in result.stderr and "0 failed" not in result.stdout


@pytest.mark.parametrize(("place", "phrase"), [
    ("afile", "cannot make the folder"), ("afile/sub", "cannot make the folder"),
    ("adir", "is a folder, not a SQLite database")])
def test_a_database_path_that_cannot_be_a_database(tmp_path: Path, place: str, phrase: str) -> None:
    (tmp_path / "afile").write_text("")
    (tmp_path / "adir" / "x.sqlite3").mkdir(parents=True)
    url = _sqlite(tmp_path / place / "x.sqlite3")
    for args in (("db", "upgrade"), ("token", "list"), ("import", "--quiet", "-")):
        result = subprocess.run([sys.executable, "-m", "feedsvc.cli", *args], cwd=tmp_path, input="",
                                capture_output=True, text=True, timeout=60,
                                env={k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
                                | {"FEEDSVC_DATABASE_URL": url})
        if args == ("token", "list") and place != "adir":
            assert_one_line(result, "no database at")
        else:
            assert_one_line(result, phrase)


def test_a_database_another_program_migrated_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    engine = db.make_engine(_sqlite(path))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('ae1027a6acf')"))
    engine.dispose()
    for args in (("db", "upgrade"), ("token", "list")):
        result = feedsvc(tmp_path, *args, FEEDSVC_DATABASE_URL=_sqlite(path))
        assert_one_line(result, "belongs to another program", "'ae1027a6acf'", "a database of its own")


def test_two_rows_in_alembic_version_are_one_line(tmp_path: Path) -> None:
    assert feedsvc(tmp_path, "db", "upgrade").returncode == 0
    engine = db.make_engine(_sqlite(tmp_path / "instance" / "feedsvc.sqlite3"))
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO alembic_version VALUES ('0005')"))
    engine.dispose()
    assert_one_line(feedsvc(tmp_path, "token", "list"), "the database's migrations cannot be read")


def test_serve_with_its_metrics_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = feedsvc(tmp_path, "serve", "--port", "0", "--metrics-port", str(port),
                         FEEDSVC_BASE_URL="https://news.example")
    assert_one_line(result, f"cannot serve metrics on 127.0.0.1:{port}: Address already in use")


@pytest.mark.parametrize("host", ["999.1.1.1", "nonexistent.invalid", "127.0.0.1:9000"])
def test_serve_on_an_address_it_cannot_listen_on(tmp_path: Path, host: str) -> None:
    result = feedsvc(tmp_path, "serve", "--host", host, "--port", "0", FEEDSVC_BASE_URL="https://news.example")
    assert_one_line(result, f"cannot listen on {host}:0")
    assert not (tmp_path / "instance").exists()


def test_serve_names_an_ipv6_address_in_brackets(tmp_path: Path) -> None:
    printed = _serve_once(tmp_path, "--host", "::1", FEEDSVC_BASE_URL="https://news.example")
    assert "feedsvc serving on http://[::1]:" in printed


def test_serve_on_a_port_in_use_says_so_before_it_creates_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = feedsvc(tmp_path, "serve", "--port", str(port), FEEDSVC_BASE_URL="https://news.example")
    assert_one_line(result, f"cannot listen on 127.0.0.1:{port}: Address already in use",
                    "choose --port")
    assert not (tmp_path / "instance").exists()


@pytest.mark.parametrize("args", [("token", "list"), ("db", "upgrade"), ("serve", "--port", "0")])
def test_a_database_server_that_does_not_answer(tmp_path: Path, args: tuple[str, ...]) -> None:
    url = f"postgresql+psycopg://postgres:s3cret@127.0.0.1:{free_port()}/feedsvc"
    result = feedsvc(tmp_path, *args, FEEDSVC_DATABASE_URL=url, FEEDSVC_BASE_URL="https://news.example")
    assert_one_line(result, "cannot use the database at postgresql+psycopg://postgres:***@127.0.0.1:",
                    "Connection refused", "check DATABASE_URL")
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize("url", ["mysql://root@localhost/feedsvc", "postgresql+psycopg2://u@h/db",
                                 "oracle://u@h/db", "nonsense://x", "::::", "sqlite://", "sqlite:///:memory:",
                                 "sqlite://user:pw@host/x", "sqlite:///x.db?mode=ro",
                                 "postgresql://u:pw@127.0.0.1:abc/db", "postgresql://u@[::1/db"])
def test_a_database_feedsvc_does_not_run_on_is_refused_at_once(tmp_path: Path, url: str) -> None:
    result = feedsvc(tmp_path, "token", "list", FEEDSVC_DATABASE_URL=url)
    assert_one_line(result, "configuration DATABASE_URL:", "sqlite:///", "postgresql+psycopg://",
                    status=2)


@pytest.mark.parametrize(("key", "value"), [
    ("DATABASE_URL", " postgresql://u:S3cretPW@127.0.0.1:abc/db"), ("DATABASE_URL", "mysql://u:S3cretPW@h/db"),
    ("BASE_URL", "https://user:S3cretPW@news.example"), ("WEBSUB_HUB", "https://u:S3cretPW@hub example/"),
    ("DATABASE_URL", "postgresql://u@h:x/db?password=S3cretPW")])
def test_a_refused_value_never_shows_its_password(tmp_path: Path, key: str, value: str) -> None:
    result = feedsvc(tmp_path, "token", "list", **{f"FEEDSVC_{key}": value})
    assert_one_line(result, f"configuration {key}:", status=2)
    assert "S3cretPW" not in result.stderr


def test_the_database_named_with_a_password_in_its_query_is_shown_without_it(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x?password=S3cretPW"
    result = feedsvc(tmp_path, "token", "list", FEEDSVC_DATABASE_URL=url)
    assert_one_line(result, "cannot use the database at", "password=***")
    assert "S3cretPW" not in result.stderr


def test_a_sqlite_path_from_home_is_the_home_folder(tmp_path: Path) -> None:
    loaded = config.load(Path("/nonexistent"), {"FEEDSVC_DATABASE_URL": "sqlite:///~/feeds.db"}, None)
    assert loaded["DATABASE_URL"] == f"sqlite:///{Path.home() / 'feeds.db'}"


def test_postgresql_urls_without_a_driver_mean_psycopg_3() -> None:
    for url in ("postgresql://u@db.internal/feedsvc", "postgres://u@db.internal/feedsvc"):
        loaded = config.load(Path("/nonexistent"), {"FEEDSVC_DATABASE_URL": url}, None)
        assert loaded["DATABASE_URL"] == "postgresql+psycopg://u@db.internal/feedsvc"


# -- configuration: warnings and true messages ---------------------------------------------------


def test_a_misspelt_variable_is_named_with_the_nearest_setting(tmp_path: Path) -> None:
    result = feedsvc(tmp_path, "db", "upgrade", FEEDSVC_BASEURL="https://news.example",
                     FEEDSVC_SITE_TITEL="News", FEEDSVC_ZZZ="1", FEEDSVC_INSTANCE_PATH=str(tmp_path / "i"))
    assert result.returncode == 0
    warnings = result.stderr.strip().splitlines()
    assert warnings == [
        "feedsvc: FEEDSVC_BASEURL is not a setting and is ignored (did you mean FEEDSVC_BASE_URL?)",
        "feedsvc: FEEDSVC_SITE_TITEL is not a setting and is ignored (did you mean FEEDSVC_SITE_TITLE?)",
        "feedsvc: FEEDSVC_ZZZ is not a setting and is ignored",
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40),
       st.text(max_size=20))
def test_any_variable_name_is_warned_of_or_taken_never_a_crash(suffix: str, value: str) -> None:
    name = "FEEDSVC_" + suffix
    if suffix in config.SETTINGS or name in config.ENVIRONMENT:
        return
    loaded = config.load(Path("/nonexistent"), {name: value}, None)
    assert loaded["SITE_TITLE"] == "feedsvc"


@pytest.mark.parametrize("url", ["https://news.example/news", "https://news.example/a/b/",
                                 "http://localhost:8000/feeds"])
def test_a_base_url_with_a_path_is_refused_naming_the_origin_to_give(tmp_path: Path, url: str) -> None:
    result = feedsvc(tmp_path, "db", "upgrade", FEEDSVC_BASE_URL=url)
    origin = url[:url.index("/", 8)]
    assert_one_line(result, "configuration BASE_URL:", "has a path", f"give {origin} ", status=2)
    assert not (tmp_path / "instance").exists()


def test_bad_toml_is_reported_as_the_file_it_is_in(tmp_path: Path) -> None:
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "feedsvc.toml").write_text('BASE_URL = "https://news.example\n')
    result = feedsvc(tmp_path, "token", "list")
    assert_one_line(result, f"configuration file: {tmp_path / 'instance' / 'feedsvc.toml'} is not valid TOML",
                    status=2)
    assert "FEEDSVC_CONFIG" not in result.stderr
    named = tmp_path / "named.toml"
    named.write_text("FEED_SIZE = = 3\n")
    result = feedsvc(tmp_path, "token", "list", FEEDSVC_CONFIG=str(named))
    assert_one_line(result, f"configuration FEEDSVC_CONFIG: {named} is not valid TOML", status=2)


@pytest.mark.parametrize(("line", "phrase"), [
    ("FEED_SIZE = 1.9", "configuration FEED_SIZE: 1.9 is not a whole number"),
    ("SITE_TITLE = [1, 2]", "configuration SITE_TITLE: [1, 2] in"),
    ("SITE_TITLE = 1979-05-27", "is not a string or a number"),
    ("SITE_TITLE = 12", "configuration SITE_TITLE: 12 is not a string"),
    ("[SITE_TITLE]\nx = 1", "configuration SITE_TITLE: {'x': 1} in")])
def test_a_value_of_the_wrong_type_in_the_file_is_refused(tmp_path: Path, line: str, phrase: str) -> None:
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "feedsvc.toml").write_text(line + "\n")
    assert_one_line(feedsvc(tmp_path, "token", "list"), phrase, status=2)


def test_a_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "feedsvc.toml").write_bytes('\ufeffSITE_TITLE = "খবর"\n'.encode())
    assert config.load(tmp_path / "instance", {}, None)["SITE_TITLE"] == "খবর"


def test_a_configuration_file_that_is_a_folder_or_empty_name(tmp_path: Path) -> None:
    assert_one_line(feedsvc(tmp_path, "token", "list", FEEDSVC_CONFIG=str(tmp_path)),
                    f"configuration FEEDSVC_CONFIG: {tmp_path} is not a file", status=2)
    (tmp_path / "instance" / "feedsvc.toml").mkdir(parents=True)
    assert_one_line(feedsvc(tmp_path, "token", "list"), "configuration file:", "is not a file", status=2)
    assert_one_line(feedsvc(tmp_path, "token", "list", FEEDSVC_CONFIG=""), "configuration file:", status=2)


def test_a_misspelt_key_in_the_file_names_the_nearest_one(tmp_path: Path) -> None:
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "feedsvc.toml").write_text('TIME_ZONE = "Asia/Dhaka"\n')
    result = feedsvc(tmp_path, "token", "list")
    assert_one_line(result, "configuration TIME_ZONE: unknown key", "(did you mean TIMEZONE?)", status=2)


# -- the id authority ------------------------------------------------------------------------------


def _serve_once(cwd: Path, *args: str, **environ: str) -> str:
    """Start ``feedsvc serve``, wait until it serves, stop it; what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")} | environ
    process = subprocess.Popen([sys.executable, "-m", "feedsvc.cli", "serve", "--port", "0", "--no-worker",
                                *args],
                               cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "serving on" in line:
            break
    process.terminate()
    rest = process.communicate(timeout=30)[1]
    return "".join(lines) + rest


def test_serve_warns_when_the_configured_authority_is_not_the_recorded_one(tmp_path: Path) -> None:
    first = _serve_once(tmp_path)
    assert "authority" not in first
    later = _serve_once(tmp_path, FEEDSVC_BASE_URL="https://news.example")
    assert ("feedsvc: ids keep the authority 'localhost' recorded when this database was first used, "
            "not 'news.example' from BASE_URL") in later
    named = _serve_once(tmp_path, FEEDSVC_BASE_URL="https://news.example", FEEDSVC_ID_AUTHORITY="desk.example")
    assert "not 'desk.example' from ID_AUTHORITY" in named
    same = _serve_once(tmp_path, FEEDSVC_BASE_URL="https://localhost.example", FEEDSVC_ID_AUTHORITY="localhost")
    assert "authority" not in same


def test_import_warns_too_when_the_configured_authority_is_not_the_recorded_one(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps({"key": "a", "title": "A", "section": "World"}) + "\n")
    first = feedsvc(tmp_path, "import", "--quiet", "a.jsonl")
    assert first.returncode == 0 and "authority" not in first.stderr  # records localhost
    later = feedsvc(tmp_path, "import", "--quiet", "a.jsonl", FEEDSVC_ID_AUTHORITY="news.example")
    assert later.returncode == 0
    assert ("feedsvc: ids keep the authority 'localhost' recorded when this database was first used, "
            "not 'news.example' from ID_AUTHORITY") in later.stderr


# -- tokens: several per name, listed by id, revoked by id or name ---------------------------------


def _api(base: str, secret: str) -> int:
    request = urllib.request.Request(f"{base}/api/articles", headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_tokens_rotate_under_one_name_and_are_revoked_by_id_or_by_name(tmp_path: Path) -> None:
    assert feedsvc(tmp_path, "db", "upgrade").returncode == 0
    made = [feedsvc(tmp_path, "token", "create", "newsroom") for _ in range(2)]
    made.append(feedsvc(tmp_path, "token", "create", "wire"))
    assert all(result.returncode == 0 for result in made)
    secrets = [result.stdout.strip() for result in made]
    ids = [secret.split("_")[1] for secret in secrets]
    assert all(f"created token {ids[i]} named" in made[i].stderr for i in range(3))
    assert len(set(secrets)) == 3 and all(s.count("\n") == 0 for s in secrets)

    listed = feedsvc(tmp_path, "token", "list").stdout.splitlines()
    assert listed[0].split() == ["ID", "NAME", "STATE", "CREATED"]
    rows = [line.split() for line in listed[1:]]
    assert [(row[0], row[1], row[2]) for row in rows] == [(ids[0], "newsroom", "active"),
                                                           (ids[1], "newsroom", "active"),
                                                           (ids[2], "wire", "active")]
    assert not any(secret.split("_", 2)[2] in "\n".join(listed) for secret in secrets)

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    server = subprocess.Popen([sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(port), "--no-worker"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        assert [_api(base, s) for s in secrets] == [200, 200, 200]
        revoked = feedsvc(tmp_path, "token", "revoke", ids[0])  # the old one, by its id
        assert revoked.returncode == 0 and revoked.stdout == f"revoked token {ids[0]} named newsroom\n"
        assert [_api(base, s) for s in secrets] == [401, 200, 200]
        assert feedsvc(tmp_path, "token", "revoke", secrets[2]).returncode == 0  # the whole secret pasted
        assert [_api(base, s) for s in secrets] == [401, 200, 401]
        again = feedsvc(tmp_path, "token", "revoke", ids[0])
        assert_one_line(again, f"no active token has the id or name '{ids[0]}'")
        pasted = feedsvc(tmp_path, "token", "revoke", secrets[0])
        assert_one_line(pasted, f"no active token has the id or name '{ids[0]}'")  # not the secret
        assert feedsvc(tmp_path, "token", "revoke", f"fsv_{ids[1]}").returncode == 0  # as the secret starts
        assert feedsvc(tmp_path, "token", "create", "newsroom").returncode == 0
        assert feedsvc(tmp_path, "token", "create", "newsroom").returncode == 0
        by_name = feedsvc(tmp_path, "token", "revoke", "newsroom")
        assert by_name.returncode == 0 and len(by_name.stdout.splitlines()) == 2  # every active one
    finally:
        server.terminate()
        server.wait(timeout=30)
    states = [line.split()[2] for line in feedsvc(tmp_path, "token", "list").stdout.splitlines()[1:]]
    assert states == ["revoked"] * 5


def test_token_list_on_a_database_without_tokens_says_how_to_make_one(tmp_path: Path) -> None:
    assert feedsvc(tmp_path, "db", "upgrade").returncode == 0
    result = feedsvc(tmp_path, "token", "list")
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr == "no tokens: create one with `feedsvc token create NAME`\n"


def test_the_json_of_an_exported_database_is_on_standard_output_alone(tmp_path: Path) -> None:
    assert feedsvc(tmp_path, "db", "upgrade").returncode == 0
    result = feedsvc(tmp_path, "export", "-")
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr == "exported 0 article(s) to -\n"
