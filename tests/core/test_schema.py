"""The JSON contract: every document actgrad writes carries "format" and validates against
the schema `actgrad schema NAME` prints (jsonschema, draft 2020-12)."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
import pytest
from actgrad.cli.app import app
from actgrad.core.schema import DOCUMENTS, JSON_FORMAT, schema
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name))


def document_of(argv: list[str]) -> str | None:
    """Which document a command line writes as JSON (None: no JSON document)."""
    words = [a for a in argv if not a.startswith("-")]
    first = words[0] if words else ""
    if first in ("plot", "accuracy", "list", "explain"):
        return first
    if first == "batch":
        return "batch-line"
    if first in ("server", "repl", "help", "schema", ""):
        return None
    return "result"


def test_every_schema_is_a_valid_draft_2020_12_schema():
    for name in DOCUMENTS:
        Draft202012Validator.check_schema(schema(name))


def test_the_schema_command_prints_each_schema():
    names = runner.invoke(app, ["schema"])
    assert names.exit_code == 0 and names.stdout.split() == list(DOCUMENTS)
    for name in DOCUMENTS:
        done = runner.invoke(app, ["schema", name])
        assert done.exit_code == 0
        assert orjson.loads(done.stdout) == orjson.loads(orjson.dumps(schema(name)))
    bad = runner.invoke(app, ["schema", "nope"])
    assert bad.exit_code == 2 and "no JSON document named 'nope'" in bad.stderr


SAMPLES = [
    ["sigmoid", "--x", "0.5,nan,inf", "--grad", "--json"],
    ["softmax", "--x", "1,2,3", "--grad", "--check", "--exact", "--json"],
    ["softmax", "--x", "1,2,3", "--index", "0", "--order", "2", "--json"],
    ["elu", "--x", "-1,0,1", "--order", "4", "--json"],
    ["mse", "--w", "3", "--grad", "--json"],
    ["cross-entropy", "--pred", "[[1,2],[3,4]]", "--target", "0,1", "--grad", "--json"],
    ["expr", "x*sigmoid(x)", "--x", "1", "--grad", "--symbolic", "--json"],
    ["sigmoid", "--x", "1,2", "--grad", "--dtypes", "float16", "--json"],
    ["tanh", "--x", "1,2", "--cotangent", "1,0", "--json"],
    ["plot", "sigmoid", "x*2", "--x", "-1:1:5", "--grad", "--json"],
    ["accuracy", "sigmoid", "--x", "-1:1:5", "--order", "1", "--json"],
    ["list", "--json"],
    ["explain", "softplus", "--json"],
]


@pytest.mark.parametrize("argv", SAMPLES, ids=[" ".join(a[:2]) for a in SAMPLES])
def test_sample_documents_validate(argv):
    done = runner.invoke(app, argv)
    assert done.exit_code == 0, done.stderr
    data = orjson.loads(done.stdout)
    assert data["format"] == JSON_FORMAT
    validator(document_of(argv)).validate(data)


def test_batch_lines_validate_fast_coalesced_and_failed():
    lines = [
        '{"fn": "sigmoid", "x": 0.5, "grad": true, "id": 1}',
        '{"fn": "sigmoid", "x": 1.5, "grad": true, "id": "b"}',
        '{"fn": "relu", "x": 0, "grad": true}',
        '{"expr": "x*sigmoid(x)", "vars": {"x": [0, 1]}, "grad": true}',
        '{"fn": "softmax", "x": [1, 2], "dtypes": ["float16"]}',
        "mse --w 3 --grad",
        '{"fn": "nope"}',
        "not json",
        "",
        '{"fn": "sigmoid", "x": "nan"}',
    ]
    done = runner.invoke(app, ["batch", "-q"], input="\n".join(lines) + "\n")
    out = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [o["line"] for o in out] == [1, 2, 3, 4, 5, 6, 7, 8, 10]  # the blank line: skipped
    check = validator("batch-line")
    for line in out:
        check.validate(line)
    assert [o["ok"] for o in out] == [True] * 6 + [False, False, True]


@pytest.mark.slow
def test_every_readme_example_writes_documents_that_validate():
    """Each README example, as written and with --json, run as readme_examples runs it:
    whatever it writes as JSON on stdout validates against its document's schema."""
    spec = importlib.util.spec_from_file_location(
        "readme_examples", ROOT / "tools" / "readme_examples.py"
    )
    examples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(examples)
    lines = [
        v
        for c in examples.commands((ROOT / "README.md").read_text(encoding="utf-8"))
        for v in examples.variants(c)
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTGRAD_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    checked = 0
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "requests.jsonl").write_text(examples.REQUESTS)
        for line in lines:
            if ">" in line or ("|" in line and "jq" in line):
                continue  # redirected to a file, or reshaped by another tool
            argv = shlex.split(line)[1:] if line.startswith("actgrad ") else []
            name = document_of(argv) if "--json" in argv or "batch" in argv else None
            if name is None:
                continue
            done = subprocess.run(
                ["bash", "-c", line], cwd=scratch, env=env, capture_output=True, timeout=300
            )
            if done.returncode not in (0, 1) or not done.stdout.strip():
                continue
            for text in done.stdout.decode().splitlines():
                if re.match(r"\s*[{\[]", text):
                    data = orjson.loads(text)
                    assert data["format"] == JSON_FORMAT, line
                    validator(name).validate(data)
                    checked += 1
    assert checked > 40
