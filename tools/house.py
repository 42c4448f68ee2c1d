"""The house's measures (issue 33), before and after a change: how the core's subpackages
import each other, how often a function's name travels instead of its entry, where options
are validated and exit statuses chosen, radon's cyclomatic complexity, and (``--tests``) the
default test run's time.

    python tools/house.py            # the counts, one per line
    python tools/house.py --json     # the same as JSON (a record to compare with later)
    python tools/house.py --tests    # also time `python -m pytest -q` (minutes)
    python tools/house.py --root ../old-checkout   # the same measures of another tree

Static measures read the source with ast (nothing is imported); radon is a development
tool (``pip install radon``), and without it its line says so.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"main": "actgrad", "core": "actgrad.core", "cli": "actgrad.cli"}
MODULES: set[str] = set()
KIND = r'kind [!=]= "(?:activation|loss|norm|expr)"'


def sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def module_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = [FOLDERS[rel.parts[0]], *rel.parts[1:-1]]
    if rel.stem != "__init__":
        parts.append(rel.stem)
    return ".".join(parts)


def package_of(module: str) -> str:
    """The node a module counts in: a core subpackage (actgrad.core.exact); a top-level
    module of core or of the package root, each on its own (actgrad.core.request,
    actgrad.version; a package's __init__ is the package); the command line (actgrad.cli)."""
    parts = module.split(".")
    if parts[:2] == ["actgrad", "cli"]:
        return "actgrad.cli"
    if parts[:2] == ["actgrad", "core"] and len(parts) >= 3:
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def imports(path: Path) -> set[str]:
    global MODULES
    if not MODULES:
        MODULES = {module_of(p) for p in sources()}
    """Every actgrad module a file imports (relative imports resolved; function-level
    imports included)."""
    module = module_of(path)
    package = module if path.stem == "__init__" else module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("actgrad"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("actgrad"):
                continue
            names = {f"{target}.{a.name}" for a in node.names}
            out.update(names)
            if not names <= MODULES:  # `from .. import machine` imports the module, not ..
                out.add(target)
    return out


def known(modules: set[str], name: str) -> str | None:
    """The module ``name`` is (or the module it is an attribute of)."""
    while name and name not in modules:
        name = name.rsplit(".", 1)[0] if "." in name else ""
    return name or None


def package_graph() -> dict[str, set[str]]:
    files = sources()
    modules = {module_of(p) for p in files}
    graph: dict[str, set[str]] = defaultdict(set)
    for path in files:
        src = package_of(module_of(path))
        for name in imports(path):
            target = known(modules, name)
            if target is None:
                continue
            dst = package_of(target)
            if dst != src:
                graph[src].add(dst)
    return graph


def mutual_pairs(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a in graph for b in graph[a] if a < b and a in graph.get(b, set()))


def count(pattern: str, folders: tuple[str, ...] = ("core", "cli", "main")) -> tuple[int, int]:
    """(occurrences, modules) of a regular expression in the source."""
    total, files = 0, 0
    for path in sources():
        if path.relative_to(ROOT).parts[0] not in folders:
            continue
        n = len(re.findall(pattern, path.read_text()))
        total += n
        files += bool(n)
    return total, files


def radon_worst(limit: int = 20) -> dict[str, object]:
    try:
        from radon.complexity import cc_visit
    except ImportError:
        return {"radon": "not installed (pip install radon)"}
    blocks = []
    for path in sources():
        if path.name == "generated_accuracy.py":
            continue
        for block in cc_visit(path.read_text()):
            name = getattr(block, "fullname", block.name)
            blocks.append((block.complexity, f"{path.relative_to(ROOT)}:{name}"))
    blocks.sort(reverse=True)
    return {
        "radon_max": blocks[0][0] if blocks else 0,
        "radon_over_20": [f"{name} {c}" for c, name in blocks if c > limit],
    }


def test_time() -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        check=False,
    )
    return round(time.perf_counter() - start, 1)


LOOKUP = r"registry\.(?:get|find|resolve)\("


def measures(tests: bool = False) -> dict[str, object]:
    graph = package_graph()
    pairs = mutual_pairs(graph)
    out: dict[str, object] = {
        "mutual_package_pairs": len(pairs),
        "mutual_pairs": [f"{a} <-> {b}" for a, b in pairs],
        "registry_get": count(r"registry\.get\(")[0],
        "registry_get_modules": count(r"registry\.get\(")[1],
        # every place a name becomes an entry, however spelled (get raises, find and resolve
        # give None): the edges where user text enters
        "name_lookups": count(LOOKUP)[0],
        "name_lookup_modules": count(LOOKUP)[1],
        # a function's kind tested by name (a token's or a parameter's kind is another thing)
        "kind_eq": count(KIND)[0],
        "kind_eq_modules": count(KIND)[1],
        "error_prefix_modules": count(r"actgrad: error:")[1],
        "server_bare_returns": len(
            re.findall(r"return [01]\b", (ROOT / "cli/server.py").read_text())
        ),
    }
    out.update(radon_worst())
    if tests:
        out["default_test_run_s"] = test_time()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--tests", action="store_true", help="also time the default test run")
    parser.add_argument("--root", type=Path, help="measure another checkout (an older commit)")
    args = parser.parse_args()
    if args.root:
        global ROOT
        ROOT = args.root.resolve()
    found = measures(args.tests)
    if args.json:
        print(json.dumps(found, indent=1))
        return
    for key, value in found.items():
        if isinstance(value, list):
            print(f"{key}:")
            for item in value:
                print(f"  {item}")
        else:
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
