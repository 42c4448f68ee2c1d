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
    assert lines[0] == "Usage: actgrad tanh [OPTIONS]" and "Hyperbolic tangent" in lines[2]
