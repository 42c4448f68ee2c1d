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
