"""group_norm, added as one entry and its test reference (issue 33's proof that a new
function reaches every front end): the command line's refusals, batch, expressions, the truth
at its orders, an accuracy sweep; values and Jacobians against numpy are in test_activations."""

from __future__ import annotations

import orjson
import pytest
from actgrad.cli.app import app
from reference import ALONG_DIM
from typer.testing import CliRunner

runner = CliRunner()
ENV = {"ACTGRAD_SERVER": "off"}


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, env=ENV)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--x", "1,2,3", "--num-groups", "2"], "does not divide the 3 values"),
        (["--x", "1,2,3,4", "--num-groups", "4"], "one value per group"),
        (["--x", "1,2,3,4", "--num-groups", "0"], "num_groups must be positive"),
        (["--x", "1,2,3,4"], "--num-groups"),
        (["--x", "1,2,3,4", "--num-groups", "2", "--eps", "-1"], "eps must be non-negative"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, words):
    done = invoke("group-norm", *args)
    assert done.exit_code == 2 and done.stdout == ""
    assert words in done.stderr and done.stderr.count("\n") == 1


def test_two_samples_of_one_value_per_group_are_torch_s_own_call():
    """Two rows (an (N, C) input with N = 2): torch takes groups of one value; each is bias
    (in float64; float32's kernel can miss it by hundreds of ulps, which --check reports)."""
    done = invoke(
        "group-norm",
        "--x",
        "[[1,2],[3,4]]",
        "--num-groups",
        "2",
        "--bias",
        "0.5",
        "--dtype",
        "float64",
    )
    assert done.exit_code == 0
    assert [float(v) for v in done.stdout.split()[1::2]] == [0.5, 0.5, 0.5, 0.5]


def test_batch_and_expression_give_the_command_s_numbers():
    x, params = [1.0, 2.0, 3.0, 5.0], {"num_groups": 2, "weight": 2.0}
    want = ALONG_DIM["group_norm"][0]
    line = orjson.dumps({"fn": "group_norm", "x": x, "dtype": "float64", **params}).decode()
    batch = invoke("batch", input=line + "\n")
    assert batch.exit_code == 0, batch.stderr
    value = orjson.loads(batch.stdout.splitlines()[0])["result"]["value"]
    assert value == pytest.approx(want(x, **params).tolist(), rel=1e-12)
    expr = invoke(
        "expr",
        "group_norm(x, num_groups=2, weight=2) + 0*x",
        "--x",
        "1,2,3,5",
        "--dtype",
        "float64",
        "--json",
    )
    assert expr.exit_code == 0, expr.stderr
    assert orjson.loads(expr.stdout)["value"] == pytest.approx(value, rel=1e-15)


def test_the_truth_judges_every_order():
    done = invoke(
        "group-norm",
        "--x",
        "0.5,-1,2,4",
        "--num-groups",
        "2",
        "--order",
        "2",
        "--index",
        "1",
        "--check",
        "--dtype",
        "float64",
        "--json",
    )
    report = orjson.loads(done.stdout)["check"]
    assert report["reference"] == "mpmath" and not report["reference_missing"]
    assert {"value", "grad.x", "grad2.x"} <= set(report["dtype_error"])


def test_an_accuracy_sweep_has_its_rows():
    done = invoke("accuracy", "group-norm", "--x", "-3:3:31", "--dtypes", "float32", "--json")
    assert done.exit_code == 0, done.stderr
    rows = orjson.loads(done.stdout)["rows"]
    assert [r["quantity"] for r in rows] == ["value", "jacobian"]
    assert rows[0]["params"]["num_groups"] == 1
