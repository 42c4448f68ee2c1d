"""Layering and documentation: core never imports typer/rich, cli never imports torch, and
the README's function table is the one the registry generates."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from actgrad.cli.describe import list_markdown
from actgrad.core import registry

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- functions:start -->", "<!-- functions:end -->"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("folder", "banned"), [("core", {"typer", "rich", "click"}), ("cli", {"torch", "click"})]
)
def test_layering(folder, banned):
    files = sorted((ROOT / folder).glob("*.py"))
    assert files
    for path in files:
        assert not _imports(path) & banned, path


def test_readme_function_table_is_generated_from_the_registry():
    readme = (ROOT / "README.md").read_text()
    table = readme.split(START)[1].split(END)[0].strip()
    assert table == list_markdown().strip(), "regenerate: actgrad list --format markdown"
    for spec in registry.specs():
        assert f"`{spec.command}`" in table


def test_help_lists_every_function():
    from actgrad.cli.app import app
    from typer.testing import CliRunner

    text = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).stdout
    for spec in registry.specs():
        assert spec.command in text


def _requirement_names(requirements: list[str]) -> set[str]:
    import re

    return {
        re.split(r"[<>=!~\[;\s]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements
    }


def _guarded_by_import_error(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside a ``try:`` whose handlers catch ImportError (or ModuleNotFoundError)."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                if any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError")
                       for n in names):  # fmt: skip
                    return True
        child, parent = parent, parents.get(parent)
    return False


def test_every_third_party_import_is_a_declared_dependency():
    """A new user's `pip install .` brings only [project] dependencies: every module that
    core/ and cli/ import at run time (function-level imports included) must come from one of
    them, or from an optional extra behind a try/except ImportError with a clear message."""
    import sys
    from importlib.metadata import packages_distributions

    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _requirement_names(project["dependencies"])
    optional = _requirement_names(project["optional-dependencies"]["plot"])
    dists = packages_distributions()
    seen = set()
    for path in sorted([*(ROOT / "core").rglob("*.py"), *(ROOT / "cli").rglob("*.py")]):
        tree = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in ("actgrad", "__future__"):
                    continue
                names = {d.lower().replace("_", "-") for d in dists.get(top, [top])}
                seen |= names
                where = f"{path.relative_to(ROOT)}:{node.lineno} imports {module}"
                if names & declared:
                    continue
                assert names & optional, f"{where}, which no dependency provides"
                assert _guarded_by_import_error(node, parents), (
                    f"{where} (an optional extra) outside try/except ImportError"
                )
    assert {"torch", "numpy", "typer", "orjson"} <= seen  # the walk really found the imports
