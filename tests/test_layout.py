"""Layering and documentation: core never imports typer/rich, cli never imports torch, and
the README's function table is the one the registry generates."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from actgrad.cli.describe import list_markdown
from actgrad.core.functions import registry

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- functions:start -->", "<!-- functions:end -->"


def _package(path: Path) -> str:
    """The package a source file belongs to (main/ is actgrad itself, core/ actgrad.core)."""
    parts = path.relative_to(ROOT).parent.parts
    return ".".join(["actgrad", *(parts[1:] if parts[:1] == ("main",) else parts)])


def _from(node: ast.ImportFrom, package: str) -> str:
    """The absolute module of ``from X import …`` in ``package`` (``from .engine``,
    ``from ..cli`` and ``from actgrad.core`` alike)."""
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    return ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))


def _imports(source: str, package: str) -> set[str]:
    """Every module a file of ``package`` (e.g. "actgrad.core") imports, fully qualified:
    relative imports resolved against the package, function-level imports included."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _from(node, package)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # a submodule, maybe
    return names


def _violations(names: set[str], banned: set[str]) -> set[str]:
    return {n for n in names for b in banned if n == b or n.startswith(b + ".")}


def test_the_import_resolver_reads_relative_imports():
    found = _imports(
        "from ..cli import app\nfrom . import engine\nfrom .x import y\nimport torch.nn\n",
        "actgrad.core",
    )
    assert {
        "actgrad.cli",
        "actgrad.cli.app",
        "actgrad.core.engine",
        "actgrad.core.x",
        "torch.nn",
    } <= found
    assert _violations(found, {"actgrad.cli", "torch"}) >= {"actgrad.cli.app", "torch.nn"}


@pytest.mark.parametrize(
    ("folder", "banned"),
    [("core", {"typer", "rich", "click", "actgrad.cli"}), ("cli", {"torch", "click"})],
)
def test_layering(folder, banned):
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files
    for path in files:
        assert not _violations(_imports(path.read_text(), _package(path)), banned), path


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
                if any(
                    isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError")
                    for n in names
                ):
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
    extras = project["optional-dependencies"]
    optional = _requirement_names(extras["plot"]) | _requirement_names(extras["cluster"])
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


# The architecture, bottom to top: a module imports only modules of lower layers (imports
# inside functions included). Where a new activation, derivative form, output format or front
# end goes is where its layer says.
LAYERS: list[tuple[str, ...]] = [
    # the version; the subpackages of core (docstrings only: each module has its own layer)
    ("version", "core.functions", "core.parse", "core.evaluator", "core.exact", "core.accuracy"),
    # error types and their exit codes; numbers in messages; the JSON documents' schemas
    ("core.errors", "core.words", "core.schema"),
    # text -> numbers; cost arithmetic; intervals in arbitrary precision; the machine
    ("core.parse.inputs", "core.cost", "core.exact.interval", "core.machine"),
    ("core.functions.arithmetic",),  # how a parameter reaches torch's kernel (no torch)
    # Taylor series over intervals; the fast tier's bounds over arrays of points
    ("core.exact.taylor", "core.exact.fast"),
    ("core.functions.spec",),  # what a function is, as data
    # data: the entries; the measured regions
    ("core.functions.activations", "core.functions.losses", "core.accuracy.generated_accuracy"),
    ("core.functions.registry",),  # specs by name and alias
    ("core.exact.reference",),  # the exact values of the activations (mpmath)
    ("core.exact.reference_losses",),  # … of the losses and the norm
    ("core.accuracy.ulps",),  # errors in ulps of a dtype against the exact value
    ("core.parse.options",),  # scalar options and parameters, parsed strictly
    ("core.program",),  # what every request becomes: steps over named variables
    ("core.parse.expr",),  # expression text -> program
    # validated requests; formulas; results
    ("core.request", "core.evaluator.symbolic", "core.result"),
    ("core.command_options",),  # each command's options as data; their values -> a request
    # a JSON request's options; the exact interpreter of every program
    ("core.json_line", "core.exact.interpreter"),
    ("core.exact.truth",),  # a result's exact values: the one driver of the interpreter
    # derivative forms; notes
    ("core.evaluator.derivatives", "core.evaluator.notes"),
    ("core.accuracy.notes",),  # what the accuracy report or the live reference says of a result
    ("core.evaluator.engine",),  # the evaluator (torch)
    ("core.accuracy.check", "core.evaluator.batch"),  # --check; coalesced batch groups
    ("core.accuracy.sweeps",),  # torch's error over a range, per dtype and order
    ("core.accuracy.exhaustive",),  # every input in shards: processes, a cluster, a checkpoint
    ("core.accuracy.plan",),  # a sweep's options validated, its grid, its cost, its JSON
    ("core.accuracy.reproducer",),  # a torch-only script giving one of torch's numbers
    ("core.accuracy.report",),  # --report: the worst finding as an issue, with its reproducer
    ("core",),  # the package: evaluate(request), with --check
    ("cli.exits",),  # exit statuses and the line each way of ending says
    # number text, stdout; the server's client; files opened by name
    ("cli.numbers", "cli.output", "cli.client", "cli.files"),
    ("cli.boundary",),  # the process boundary: one line for an interrupt or a bug
    ("cli.status",),  # exit codes and the one-line error
    ("cli.describe", "cli.render"),  # list/explain texts; table, plain and JSON writers
    ("cli.commands",),  # one Typer command per function, expr
    ("cli.plot", "cli.batch", "cli.server", "cli.repl"),  # front ends on the commands
    ("cli.accuracy",),  # torch's error over a range: tables, JSON, error curves (plot's)
    ("api",),  # the library: evaluate(), accuracy(), results that show as the tables
    ("cli.app",),  # the Typer application
    ("cli.entry",),  # the console script: errors before any import
    ("cli", "cli.__main__", "__main__"),  # python -m actgrad, python -m actgrad.cli
    ("actgrad",),  # the package: its version, and the library's names (lazily)
]


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = ["actgrad" if rel.parts[0] == "main" else rel.parts[0], *rel.parts[1:]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts).removeprefix("actgrad.") if len(parts) > 1 else parts[0]


def _internal_imports(path: Path) -> list[tuple[str, int, str | None]]:
    """(module imported, line, private name taken from it or None) for every actgrad import
    in ``path``, function-level and relative ones included; ``from actgrad.core import
    registry`` (or ``from . import registry`` in core) imports the module core.registry,
    ``from actgrad.core import evaluate`` the package core."""
    modules = {_module(p) for p in _sources()}
    package = _package(path)
    found = []
    tree = ast.parse(path.read_text())
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("actgrad"):
                    name = alias.name.removeprefix("actgrad.") if "." in alias.name else "actgrad"
                    found.append((name, node.lineno, None))
        elif isinstance(node, ast.ImportFrom) and _from(node, package).startswith("actgrad"):
            base = _from(node, package).removeprefix("actgrad").removeprefix(".")
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                if sub in modules:
                    found.append((sub, node.lineno, None))
                    aliases[alias.asname or alias.name] = sub
                else:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    found.append((base or "actgrad", node.lineno, alias.name if private else None))
    for node in ast.walk(tree):  # module._private
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append((aliases[node.value.id], node.lineno, node.attr))
    return found


def _sources() -> list[Path]:
    return sorted(p for d in ("core", "cli", "main") for p in (ROOT / d).rglob("*.py"))


def test_layers_have_no_upward_imports_and_no_private_names():
    rank = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    problems = []
    for path in _sources():
        here = _module(path)
        assert here in rank, f"{here} has no layer: add it to LAYERS (and README's Layout)"
        for target, line, private in _internal_imports(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if private:
                problems.append(f"{where} takes the private name {private} from {target}")
            if target != here and rank[target] >= rank[here]:
                problems.append(
                    f"{where}: {here} (layer {rank[here]}) imports {target} (layer {rank[target]})"
                )
    assert not problems, "\n".join(problems)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` (a depth-first search), or None."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [])):
            return cycle
    return None


def test_no_import_cycles():
    """Layers exclude cycles; this says so without them."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    graph = {_module(p): {t for t, _, _ in _internal_imports(p)} - {_module(p)} for p in _sources()}
    assert len(graph) > 20 and "core.functions.registry" in graph["core.request"]
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_no_two_packages_import_each_other():
    """The core's subpackages are layers, not folders: no two of them (nor a top-level module
    of core or of the package root, each counted on its own) import each other, function-level
    imports included (tools/house.py measures it)."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import house
    finally:
        sys.path.remove(str(ROOT / "tools"))
    graph = house.package_graph()
    assert graph.get("actgrad.core.evaluator")
    assert house.mutual_pairs(graph) == []
