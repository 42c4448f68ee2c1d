"""Finite differences and closed forms are second opinions: where the arbitrary-precision
reference judged every number, their disagreement is said, never a failed check; and they
stay inside the function's domain and on one side of a kink or a threshold."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import orjson
import pytest
from actgrad.cli.app import app
from actgrad.core.functions import registry
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tools"))
import readme_examples  # noqa: E402


def check(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, [*args, "--check", "--json"])
    assert result.exit_code in (0, 1), (args, result.stderr)
    return result.exit_code, orjson.loads(result.stdout)["check"]


@pytest.mark.parametrize(
    "args",
    [
        ["leaky-relu", "--x", "-2", "--negative-slope", "0.1", "--grad", "--dtype", "float64"],
        ["leaky-relu", "--x", "-3,-0.5", "--negative-slope", "0.1", "--grad"],
        ["softplus", "--x", "20", "--grad", "--dtype", "float64"],
        ["softplus", "--x", "19.999999", "--grad", "--dtype", "float64"],
        [
            "softplus",
            "--x",
            "2.5",
            "--beta",
            "2",
            "--threshold",
            "5",
            "--grad",
            "--dtype",
            "float64",
        ],
        ["hardsigmoid", "--x", "0.7", "--dtype", "float32"],
        ["hardswish", "--x", "-3,3", "--grad", "--dtype", "float64"],
        ["relu", "--x", "0", "--grad"],
        ["elu", "--x", "0", "--order", "3", "--dtype", "float64"],
        ["bce", "--pred", "1e-50", "--target", "1", "--grad"],
        ["bce", "--pred", "1,0,0.5", "--target", "1,0,1", "--grad", "--dtype", "float64"],
    ],
)
def test_numbers_that_hold_pass_the_check(args):
    """The audit's cases: right numbers, second opinions that used to fail them (the closed
    form's float32 slope, differences across softplus's threshold, steps out of [0, 1])."""
    code, report = check(*args)
    assert report["flags"] == [] and report["decided"]
    assert (code, report["ok"]) == (0, True)


def _readme_evaluations() -> list[list[str]]:
    out = []
    for line in readme_examples.commands((ROOT / "README.md").read_text()):
        if not line.startswith("actgrad ") or any(c in line for c in "|<>$"):
            continue
        words = shlex.split(line)[1:]
        if "--report" in words:  # the same request, its check as JSON: no report, no file
            at = words.index("--report")
            given = at + 1 < len(words) and words[at + 1].endswith(".md")
            del words[at : at + 1 + given]
        if (
            words
            and (words[0] == "expr" or registry.resolve(words[0]))
            and not ({"--check", "--help", "--dtypes", "--plot"} & set(words))
        ):
            out.append(words)
    return out


def test_every_readme_example_fails_its_check_only_for_a_wrong_number():
    """Each README evaluation with --check: where the reference decides, the check fails
    exactly when a number is flagged against the true value."""
    examples = _readme_evaluations()
    assert len(examples) > 20
    for words in examples:
        code, report = check(*words)
        if report["decided"]:
            assert report["ok"] == (not report["flags"]), words
            assert code == (0 if report["ok"] else 1), words
