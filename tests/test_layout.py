"""The package's shape: wings import downwards only, and nothing runs at import (issue 14).

Read from the source with ``ast``, so an import inside a function counts as much as one at
the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "feedsvc"  # this checkout's, not the installed one
# What each part of the package may import from feedsvc, besides itself. The store is at the
# bottom; feeds build on it; WebSub and transfer on those; the web wing on all but those two;
# the top (create_app, the CLI, configuration, serve) wires them together. Beside them, two
# modules that import nothing of feedsvc and that every part may use: the exception
# hierarchy (errors) and the metrics every wing counts into (metrics).
LEAVES = {"errors", "metrics"}
ALLOWED = {
    "errors": set(),
    "metrics": set(),
    "store": LEAVES,
    "feeds": LEAVES | {"store"},
    "websub": LEAVES | {"store", "feeds"},
    "transfer": LEAVES | {"store"},
    "web": LEAVES | {"store", "feeds"},
    "top": LEAVES | {"store", "feeds", "websub", "transfer", "web", "config", "top"},
}
CONFIG = {"errors", "store", "feeds"}  # config checks values against the wings' own limits


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    if len(relative.parts) > 1:
        return relative.parts[0]
    return {"errors.py": "errors", "metrics.py": "metrics", "config.py": "config"}.get(relative.name, "top")


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


# Calls that hook into every session, request or app when run; at import they would.
HOOKS = ("listen", "listens_for", "after_request", "before_request", "teardown_request",
         "teardown_appcontext", "errorhandler", "register_blueprint")


def _run_at_import(tree: ast.Module) -> list[ast.Call]:
    """Every call in the module's body or a class body (decorators included), but not inside
    a function, which runs only when called."""
    found: list[ast.Call] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            pending += node.decorator_list
            continue
        if isinstance(node, ast.Call):
            found.append(node)
        pending += list(ast.iter_child_nodes(node))
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_hooks_in_at_import(path: Path) -> None:
    """Listeners and request hooks are registered in init_app (or on one session), never by
    importing a module: one registered at import would affect every session or app of the
    process, and twice for a second app."""
    for call in _run_at_import(ast.parse(path.read_text(encoding="utf-8"))):
        name = ast.unparse(call.func).rsplit(".", 1)[-1]
        assert name not in HOOKS, f"{path.name}:{call.lineno}: {ast.unparse(call.func)} at import"


def test_the_hook_check_sees_a_listener_in_a_class_body() -> None:
    tree = ast.parse("class A:\n    event.listen(Session, 'after_commit', f)\n"
                     "def g():\n    event.listen(Session, 'after_commit', f)\n")
    assert [ast.unparse(c.func) for c in _run_at_import(tree)] == ["event.listen"]


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
