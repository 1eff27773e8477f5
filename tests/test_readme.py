"""The README as a newcomer follows it: every shell example runs as written, in order, and gets
the answer the README names; the command help it reproduces is the commands' own.

``FEEDSVC_UPDATE_README=1 pytest tests/test_readme.py -k help`` rewrites the help in the README.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from feedsvc.cli import cli

from live import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
HELP_BEGIN, HELP_END = "<!-- cli-help: begin -->\n", "<!-- cli-help: end -->\n"
BACKGROUND = "<!-- readme-test: background -->"
ORIGIN = "http://localhost:8000"  # the README's own


@dataclass(frozen=True)
class Example:
    """One ```sh block of the README: its text, its line, and whether it runs in the background."""

    code: str
    line: int
    background: bool

    def curls(self) -> list[str]:
        """The curl commands in it, continuation lines joined."""
        commands, current = [], ""
        for line in self.code.splitlines():
            current += line.rstrip("\\").strip() + " "
            if not line.endswith("\\"):
                if re.match(r"(\w+=\$\()?curl ", current):
                    commands.append(current.strip())
                current = ""
        return commands

    def statuses(self) -> list[int]:
        """The statuses its comments name, one `→ NNN` for each curl in turn."""
        comments = "\n".join(line for line in self.code.splitlines() if line.lstrip().startswith("#"))
        return [int(status) for status in re.findall(r"→ (\d{3})\b", comments)]


def examples(text: str) -> list[Example]:
    found = []
    for match in re.finditer(r"^```sh\n(.*?)^```$", text, flags=re.M | re.S):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        found.append(Example(match.group(1), text[:match.start()].count("\n") + 1, before == BACKGROUND))
    return found


def test_every_curl_in_the_readme_names_its_answer() -> None:
    for example in examples(README.read_text(encoding="utf-8")):
        assert len(example.curls()) == len(example.statuses()), (
            f"README line {example.line}: each curl needs a '→ status' comment before it")


def _copy_project(target: Path) -> None:
    """The checkout as a fresh clone has it: tracked and new files, nothing ignored."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _script(found: list[Example], work: Path, origin: str) -> str:
    lines = ["set -eo pipefail",
             # The suite itself is not run from inside the suite (CI runs it).
             'pytest() { echo "@@pytest" >&2; }']
    for number, example in enumerate(found):
        lines.append(f'echo "@@block {number}" >&2')
        if example.background:
            lines += [f"( {example.code} ) > {work}/server.log 2>&1 &",
                      f"echo $! > {work}/server.pid",
                      "for _ in $(seq 150); do",
                      f"  curl -q -s -o /dev/null {origin}/readyz && break; sleep 0.2",
                      "done"]
        else:
            lines.append(example.code)
    lines.append('echo "@@end" >&2')
    return "\n".join(lines) + "\n"


def _get(origin: str, path: str) -> tuple[int, bytes]:
    request = urllib.request.Request(origin + path)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress binds it
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_the_readme_runs_as_written_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """From the quickstart's `python3 -m venv` on: each example in order, in one shell, as a
    newcomer with two terminals runs them; the server started by the quickstart."""
    project = tmp_path / "feedsvc"
    _copy_project(project)
    found = examples(README.read_text(encoding="utf-8"))
    origin = ORIGIN
    if not _free(8000):
        # The quickstart's own server is up (the README runs pytest beside it): the same
        # examples on another port.
        port = free_port()
        origin = f"http://localhost:{port}"
        found = [Example(example.code.replace("localhost:8000", f"localhost:{port}").replace(
                     "feedsvc serve", f"feedsvc serve --port {port}"), example.line, example.background)
                 for example in found]
    (tmp_path / ".curlrc").write_text('write-out = "%{stderr}@@status %{http_code}\\n"\n')
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("FEEDSVC_", "VIRTUAL_ENV", "PYTHON"))}
    env["CURL_HOME"] = str(tmp_path)  # each curl reports its status on standard error
    env["PATH"] = os.pathsep.join(part for part in env["PATH"].split(os.pathsep)
                                  if not part.startswith(sys.prefix))
    script = _script(found, tmp_path, origin)
    try:
        run = subprocess.run(["bash", "-c", script], cwd=project, env=env, capture_output=True,
                             text=True, timeout=900)
        stderr = run.stderr
        assert run.returncode == 0 and "@@end" in stderr, (run.stdout[-4000:], stderr[-4000:])
        # Each block's curls got the statuses its comments name.
        got: dict[int, list[int]] = {}
        block = -1
        for line in stderr.splitlines():
            if line.startswith("@@block "):
                block = int(line.split()[1])
            elif line.startswith("@@status "):
                got.setdefault(block, []).append(int(line.split()[1]))
        for number, example in enumerate(found):
            assert got.get(number, []) == example.statuses(), (
                f"README line {example.line}", run.stdout[-4000:], stderr[-4000:])
        assert "@@pytest" in stderr

        # What the examples did, as the server now shows it.
        server_log = (tmp_path / "server.log").read_text()
        assert f"serving on http://127.0.0.1:{origin.rsplit(':', 1)[1]}/" in server_log, server_log
        # The test extras were installed under the running server: its pages keep their files.
        assert _get(origin, "/static/site.css")[0] == 200
        status, body = _get(origin, "/sections/bangladesh/feed.json")
        entries = json.loads(body)["items"]
        assert status == 200 and [entry["title"] for entry in entries] == ["Floods in Sylhet"]
        assert entries[0]["summary"] == "Corrected death toll"  # the stale edit changed nothing
        assert entries[0]["id"].startswith("tag:news.example,")  # the authority set before the start
        assert entries[0]["url"].startswith(origin + "/articles/")
        assert entries[0]["date_modified"] == "2022-06-19T08:18:00Z"  # 14:18 in Dhaka
    finally:
        log = _stop_server(tmp_path)
    assert "feedsvc stopped" in log, log  # Ctrl-C stops it cleanly


def _stop_server(work: Path) -> str:
    """Ctrl-C to the README's server (and whatever its shell started); its log."""
    pid_file, log = work / "server.pid", work / "server.log"
    if pid_file.exists():
        pid = pid_file.read_text().strip()
        subprocess.run(["pkill", "-INT", "-P", pid], check=False)
        subprocess.run(["kill", "-INT", pid], check=False, capture_output=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "feedsvc stopped" not in log.read_text():
            time.sleep(0.1)
    return log.read_text() if log.exists() else ""


def help_text() -> str:
    """``feedsvc --help`` and every command's ``--help``, as a terminal shows them."""
    runner = CliRunner()
    parts = []

    def show(args: list[str], command: object) -> None:
        result = runner.invoke(cli, [*args, "--help"], prog_name="feedsvc")
        assert result.exit_code == 0, result.output
        parts.append(f"$ feedsvc {' '.join([*args, '--help']).strip()}\n{result.output}")
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            show([*args, name], sub)

    show([], cli)
    return "```text\n" + "\n".join(parts) + "```\n"


def test_the_readme_shows_each_commands_own_help() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(HELP_BEGIN) + len(HELP_BEGIN), text.index(HELP_END)
    wanted = help_text()
    if os.environ.get("FEEDSVC_UPDATE_README") == "1":
        README.write_text(text[:start] + wanted + text[end:], encoding="utf-8")
    assert text[start:end] == wanted, "run FEEDSVC_UPDATE_README=1 pytest tests/test_readme.py -k help"
