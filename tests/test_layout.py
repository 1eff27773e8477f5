"""The package's shape: wings import downwards only, and nothing runs at import (issue 14).

Read from the source with ``ast``, so an import inside a function counts as much as one at
the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import feedsvc

PACKAGE = Path(feedsvc.__file__).parent
# What each part of the package may import from feedsvc, besides itself. The store is at the
# bottom; feeds build on it; WebSub and transfer on those; the web wing on all but those two;
# the top (create_app, the CLI, configuration, serve) wires them together.
ALLOWED = {
    "errors": set(),
    "store": {"errors"},
    "feeds": {"errors", "store"},
    "websub": {"errors", "store", "feeds"},
    "transfer": {"errors", "store"},
    "web": {"errors", "store", "feeds"},
    "top": {"errors", "store", "feeds", "websub", "transfer", "web", "config", "top"},
}
CONFIG = {"errors", "store", "feeds"}  # config checks values against the wings' own limits


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    if len(relative.parts) > 1:
        return relative.parts[0]
    return {"errors.py": "errors", "config.py": "config"}.get(relative.name, "top")


def imported_parts(path: Path) -> set[str]:
    """The parts of feedsvc a module imports, by absolute name (the package uses no relative)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: a relative import"
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "feedsvc":
                continue
            if len(parts) == 1 or parts[1] not in ALLOWED and parts[1] != "config":
                found.add("top")
            else:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_the_wings_below_it(path: Path) -> None:
    part = part_of(path)
    allowed = (CONFIG if part == "config" else ALLOWED[part]) | {part}
    assert imported_parts(path) <= allowed, f"{part} imports {imported_parts(path) - allowed}"


def test_the_web_wing_is_imported_by_nothing_below_it() -> None:
    importers = {str(p.relative_to(PACKAGE)) for p in modules()
                 if "web" in imported_parts(p) and part_of(p) not in ("web", "top")}
    assert importers == set()


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_registers_a_listener_at_import(path: Path) -> None:
    """SQLAlchemy listeners are registered in init_app or on one session, never by importing
    a module: a module-level ``event.listen`` or ``@event.listens_for`` would affect every
    session of the process."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)] if not isinstance(
            node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) else []
        decorators = node.decorator_list if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else []
        for call in calls + [d for d in decorators if isinstance(d, ast.Call)]:
            name = ast.unparse(call.func)
            assert not name.endswith(("event.listen", "event.listens_for", "listens_for")), (
                f"{path.name}: {name} at import")


def test_a_wing_offers_what_its_docstring_names() -> None:
    """Each wing's __init__ names its modules; a module added or removed keeps it true."""
    for wing in ("store", "feeds", "web", "websub", "transfer"):
        folder = PACKAGE / wing
        named = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
        assert named is not None
        present = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
        listed = {word.strip("`") for line in named.splitlines() if line.startswith("- ")
                  for word in line[2:].split(" — ")[0].replace(" and ", ", ").split(", ")}
        assert listed == present, wing
