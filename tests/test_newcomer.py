"""What a new user tries first: python -m actgrad, actgrad help NAME, positional values,
expressions that start with a minus."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from actgrad.cli.app import app
from typer.testing import CliRunner

runner = CliRunner()
ENV = {k: v for k, v in os.environ.items() if not k.startswith("ACTGRAD_")}


@pytest.mark.parametrize("module", ["actgrad", "actgrad.cli", "actgrad.cli.entry"])
def test_python_dash_m(module):
    proc = subprocess.run([sys.executable, "-m", module, "sigmoid", "--x", "0.5", "--grad"],
                          capture_output=True, text=True, env=ENV, timeout=120)  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "0.62245935\t0.23500371\n", "")


@pytest.mark.parametrize("name", ["sigmoid", "mse", "expr", "plot", "batch"])
def test_help_name_is_name_dash_dash_help(name):
    via_help = runner.invoke(app, ["help", name])
    direct = runner.invoke(app, [name, "--help"])
    assert via_help.exit_code == direct.exit_code == 0
    assert via_help.stdout == direct.stdout and f"actgrad {name}" in direct.stdout


def test_help_alone_is_the_root_help():
    assert runner.invoke(app, ["help"]).stdout == runner.invoke(app, ["--help"]).stdout


def test_help_command_without_the_rewrite():
    """The help command itself (as a Click command) prints the same text."""
    import typer

    group = typer.main.get_command(app)
    from contextlib import redirect_stdout
    from io import StringIO

    out = StringIO()
    with group.make_context("actgrad", ["help", "tanh"]) as ctx, redirect_stdout(out):
        group.invoke(ctx)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Usage: actgrad tanh [OPTIONS]") and "Hyperbolic tangent" in lines[2]


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


@pytest.mark.parametrize(
    ("args", "same_as"),
    [
        (["sigmoid", "0.5"], ["sigmoid", "--x", "0.5"]),
        (["sigmoid", "-0.5", "--grad"], ["sigmoid", "--x", "-0.5", "--grad"]),
        (["softmax", "1", "2", "3", "--grad"], ["softmax", "--x", "1,2,3", "--grad"]),
        (["tanh", "-10:10:7"], ["tanh", "--x", "-10:10:7"]),
        (["softmax", "[[1,2],[3,4]]"], ["softmax", "--x", "[[1,2],[3,4]]"]),
        (["leaky-relu", "-1", "--negative-slope", "-0.2"],
         ["leaky-relu", "--x", "-1", "--negative-slope", "-0.2"]),
        (["expr", "-x^2", "--x", "3", "--grad"], ["expr", "(-x^2)", "--x", "3", "--grad"]),
        (["expr", "-sigmoid(x)", "--var", "x=-1"], ["expr", "(-sigmoid(x))", "--var", "x=-1"]),
        (["plot", "-x", "--x", "0:1:3", "--json"], ["plot", "(-x)", "--x", "0:1:3", "--json"]),
    ],
)  # fmt: skip
def test_positional_values_and_leading_minus(args, same_as):
    got, want = invoke(*args), invoke(*same_as)
    assert got.exit_code == want.exit_code == 0, (got.stderr, want.stderr)
    if args[0] == "plot":  # the curve's name is the expression as typed
        assert got.stdout.replace('"name":"-x"', '"name":"(-x)"') == want.stdout
    else:
        assert got.stdout == want.stdout


@pytest.mark.parametrize(
    ("args", "fix"),
    [
        (["softmax", "--x", "1", "2", "3"], "give them once: --x 1,2,3"),
        (["mse", "3"], "e.g. actgrad mse --w 3"),
    ],
)
def test_positional_values_that_cannot_be_taken_say_what_to_type(args, fix):
    out = invoke(*args)
    assert out.exit_code == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and fix in out.stderr, out.stderr


def test_batch_command_lines_take_the_same_forms():
    import orjson

    out = invoke("batch", input="sigmoid -0.5\nexpr -x^2 --x 3\n")
    got = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert [g["result"]["value"] for g in got] == [0.37754068, -9.0]
