"""Invocation forms a new user tries first: python -m actgrad, actgrad help NAME, positional values,
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
    proc = subprocess.run(
        [sys.executable, "-m", module, "sigmoid", "--x", "0.5", "--grad"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
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
        (
            ["leaky-relu", "-1", "--negative-slope", "-0.2"],
            ["leaky-relu", "--x", "-1", "--negative-slope", "-0.2"],
        ),
        (["expr", "-x^2", "--x", "3", "--grad"], ["expr", "(-x^2)", "--x", "3", "--grad"]),
        (["expr", "-sigmoid(x)", "--var", "x=-1"], ["expr", "(-sigmoid(x))", "--var", "x=-1"]),
        (["plot", "-x", "--x", "0:1:3", "--json"], ["plot", "(-x)", "--x", "0:1:3", "--json"]),
    ],
)
def test_positional_values_and_leading_minus(args, same_as):
    got, want = invoke(*args), invoke(*same_as)
    assert got.exit_code == want.exit_code == 0, (got.stderr, want.stderr)
    if args[0] == "plot":  # the curve's name is the expression as typed
        typed = got.stdout.replace('"name":"-x"', '"name":"(-x)"')
        assert typed.replace('"expression":"-x"', '"expression":"(-x)"') == want.stdout
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


# --- notes that tell the truth -----------------------------------------------------------


def notes(*args: str) -> list[str]:
    import orjson

    out = invoke(*args, "--json")
    assert out.exit_code == 0, out.stderr
    return orjson.loads(out.stdout)["notes"]


def test_softplus_threshold_is_noted_only_past_it_and_is_a_kink():
    assert notes("softplus", "--x", "1", "--grad") == []
    (past,) = notes("softplus", "--x", "25,30", "--grad")
    assert past.startswith("beta·x > threshold (20) at 2 inputs")
    (kink,) = notes("softplus", "--x", "20", "--grad", "--dtype", "float64")
    assert (
        "softplus'(20) uses torch's convention 0.9999999979" in kink
        and "right derivative 1" in kink
    )
    explain = invoke("explain", "softplus", "--format", "plain").stdout
    assert "softplus'(20)" in explain


def test_derivative_dtype_notes_need_a_derivative():
    assert notes("sigmoid", "--x", "10", "--dtype", "float16") == []
    assert any(
        "float16 torch's sigmoid′ loses every digit" in n
        for n in notes("sigmoid", "--x", "10", "--dtype", "float16", "--grad")
    )


def test_hardsigmoid_float64_derivative_note_is_what_torch_returns():
    import torch

    x = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(torch.nn.functional.hardsigmoid(x), x)
    assert g.item() != 1 / 6
    assert any(
        repr(g.item()) in n
        for n in notes("hardsigmoid", "--x", "0", "--grad", "--dtype", "float64")
    )
    assert notes("hardsigmoid", "--x", "0", "--grad") == []  # nothing unasked: no order-2 talk


def test_hardswish_derivative_text_agrees_with_its_kinks():
    explain = invoke("explain", "hardswish", "--format", "plain").stdout
    assert "else (2x + 3)/6" not in explain and "−3 < x < 3" in explain


@pytest.mark.parametrize(
    ("name", "params", "left", "right"),
    [
        ("softsign", [], "2", "-2"),
        ("elu", [], "1", "0"),
        ("celu", ["--alpha", "2"], "0.5", "0"),
        ("selu", [], "1.758099341", "0"),
    ],
)
def test_second_derivative_kinks_are_noted_when_asked(name, params, left, right):
    found = [n for n in notes(name, "--x", "0", "--order", "2", *params) if f"{name}''(0)" in n]
    assert len(found) == 1
    assert f"left second derivative {left}, right second derivative {right}" in found[0]
    assert not any(f"{name}''" in n for n in notes(name, "--x", "0", "--grad", *params))


def test_nan_second_derivative_at_a_finite_input_is_noted():
    (note,) = [n for n in notes("mish", "--x", "50,100,200", "--order", "2") if "nan" in n]
    assert note.startswith("2 values of mish'' are nan at finite inputs (the first at x = 100)")


def test_ctc_says_nothing_of_order_2_unless_asked():
    assert not any(
        "order 2" in n
        for n in notes(
            "ctc", "--log-probs", "[[-0.7,-0.7],[-0.7,-0.7]]", "--targets", "1", "--grad"
        )
    )
    assert (
        "limit: torch's ctc_loss has no second derivative"
        in invoke("explain", "ctc", "--format", "plain").stdout
    )


def test_poisson_negative_target_is_a_note_not_a_refusal():
    import math

    import orjson

    out = invoke("poisson-nll", "--pred", "1", "--target", "-2", "--json")
    data = orjson.loads(out.stdout)
    assert out.exit_code == 0 and math.isclose(data["value"], math.e + 2, rel_tol=1e-6)
    assert any("negative" in n for n in data["notes"])


def test_kl_div_notes_are_right_for_the_input_given():
    raw = notes(
        "kl-div", "--pred", "-1.2,-0.9,-1.2", "--target", "0.3,0.4,0.3", "--reduction", "batchmean"
    )
    assert any("do not normalize" in n for n in raw)
    assert any("divides the sum by the size of dim 0, here 3" in n for n in raw)
    assert not any("true KL" in n for n in raw)
    clean = notes(
        "kl-div",
        "--pred",
        "-1.3862944,-0.6931472,-1.3862944",
        "--target",
        "0.3,0.4,0.3",
        "--reduction",
        "sum",
    )
    assert clean == []


def test_plain_notes_go_to_stderr_and_json_keeps_them():
    plain = invoke("relu", "--x", "-1,0,2", "--grad", "--format", "plain")
    assert plain.stdout == "-1.0\t0.0\t0.0\n0.0\t0.0\t0.0\n2.0\t2.0\t1.0\n"
    lines = plain.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("note: relu'(0) uses torch's convention 0")
    assert notes("relu", "--x", "-1,0,2", "--grad")[0] == lines[0].removeprefix("note: ")
    dtypes = invoke("sigmoid", "--x", "10", "--grad", "--dtypes", "float16", "--format", "plain")
    assert "note: float16: in float16 torch's sigmoid′ loses every digit" in dtypes.stderr


# --- y.backward(v): --cotangent ----------------------------------------------------------


def _json(*args: str) -> dict:
    import orjson

    out = invoke(*args, "--json", "--dtype", "float64")
    assert out.exit_code == 0, out.stderr
    return orjson.loads(out.stdout)


def _text(arr) -> str:
    import json

    import numpy as np

    return json.dumps(np.asarray(arr).tolist())


@pytest.mark.parametrize(
    "name", ["softmax", "log_softmax", "softmin", "glu", "normalize", "gumbel_softmax"]
)
def test_cotangent_is_what_backward_leaves_in_x_grad_along_a_dim(name):
    import numpy as np
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4))
    out_shape = (2, 2) if name == "glu" else (2, 4)
    v = rng.normal(size=out_shape)
    seed = ["--seed", "7"] if name == "gumbel_softmax" else []
    data = _json(name.replace("_", "-"), "--x", _text(x), "--cotangent", _text(v), *seed)
    params = {k: val for k, val in data["params"].items() if k != "seed"}
    leaf = torch.tensor(x, requires_grad=True)
    if name == "gumbel_softmax":
        torch.manual_seed(7)
    y = getattr(F, name)(leaf, **params)
    y.backward(torch.tensor(v))
    np.testing.assert_allclose(data["grad"]["x"], leaf.grad.numpy(), rtol=1e-14, atol=1e-16)
    np.testing.assert_array_equal(data["cotangent"], v)


@pytest.mark.parametrize(
    ("name", "inputs"),
    [
        ("mse_loss", {}),
        ("l1_loss", {}),
        ("huber_loss", {}),
        ("smooth_l1_loss", {}),
        ("binary_cross_entropy_with_logits", {}),
        ("soft_margin_loss", {"target": [1, -1, 1]}),
        ("poisson_nll_loss", {}),
        ("binary_cross_entropy", {"pred": [0.2, 0.5, 0.9]}),
    ],
)
def test_cotangent_of_losses_with_reduction_none(name, inputs):
    import numpy as np
    import torch
    import torch.nn.functional as F

    pred = np.asarray(inputs.get("pred", [0.3, -1.2, 2.0]))
    target = np.asarray(inputs.get("target", [0.1, 0.7, 0.4]))
    v = np.asarray([0.5, -2.0, 3.0])
    data = _json(
        name.replace("_", "-"),
        "--pred",
        _text(pred),
        "--target",
        _text(target),
        "--reduction",
        "none",
        "--cotangent",
        _text(v),
    )
    leaf = torch.tensor(pred, requires_grad=True)
    getattr(F, name)(leaf, torch.tensor(target), reduction="none").backward(torch.tensor(v))
    np.testing.assert_allclose(data["grad"]["pred"], leaf.grad.numpy(), rtol=1e-14, atol=1e-16)


def test_index_is_the_one_hot_cotangent_and_expr_takes_it_too():
    by_index = _json("softmax", "--x", "0.1,0.5,0.9", "--grad", "--index", "1")
    by_cotangent = _json("softmax", "--x", "0.1,0.5,0.9", "--cotangent", "0,1,0")
    assert by_index["grad"] == by_cotangent["grad"]
    scaled = _json(
        "expr",
        "sum(softmax(a) * b)",
        "--var",
        "a=0.1,0.5,0.9",
        "--var",
        "b=1,0,0",
        "--grad",
        "a",
        "--backward",
        "2",
    )
    plain = _json(
        "expr", "sum(softmax(a) * b)", "--var", "a=0.1,0.5,0.9", "--var", "b=1,0,0", "--grad", "a"
    )
    assert scaled["grad"]["a"] == [2 * g for g in plain["grad"]["a"]]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["softmax", "--x", "1,2,3", "--cotangent", "1,2"], "--cotangent has shape [2]"),
        (["softmax", "--x", "1,2,3", "--cotangent", "1,2,3", "--index", "0"], "not both"),
        (["softmax", "--x", "1,2,3", "--cotangent", "1,2,3", "--check"], "--check"),
    ],
)
def test_cotangent_errors(args, needle):
    out = invoke(*args)
    assert out.exit_code == 2 and out.stdout == "" and needle in out.stderr, out.stderr


def test_backward_is_findable_in_help_and_explain():
    assert "y.backward(v)" in invoke("softmax", "--help").stdout
    assert "backward" in invoke("explain", "softmax", "--format", "plain").stdout


# --- help and discovery -------------------------------------------------------------------


@pytest.mark.parametrize(("command", "usage"), [("explain", "NAME"), ("expr", "EXPRESSION")])
def test_usage_lines_name_arguments_plainly(command, usage):
    first = invoke(command, "--help").stdout.splitlines()[0]
    assert first == f"Usage: actgrad {command} [OPTIONS] {usage}"


def test_plot_help_describes_every_option():
    text = invoke("plot", "--help").stdout
    assert "<str>" not in text and "float32 | float64" in text and "Element cap" in text


@pytest.mark.parametrize(
    ("item", "hint"), [("nonexistent", "actgrad list"), ("sigmod", "did you mean 'sigmoid'")]
)
def test_plot_unknown_name_says_what_plot_takes(item, hint):
    out = invoke("plot", item)
    assert out.exit_code == 2 and "--var" not in out.stderr and hint in out.stderr


def test_completion_after_plot_and_explain():
    env = {**ENV, "_ACTGRAD_COMPLETE": "complete_bash", "COMP_CWORD": "2"}
    for words in ("actgrad plot sig", "actgrad explain sig"):
        proc = subprocess.run(
            [sys.executable, "-m", "actgrad"],
            capture_output=True,
            text=True,
            env={**env, "COMP_WORDS": words},
            timeout=60,
        )
        assert "sigmoid" in proc.stdout.split(), (words, proc.stdout, proc.stderr)


@pytest.mark.parametrize("columns", ["120", "80", "60"])
def test_root_help_puts_commands_first_and_names_every_function_in_a_compact_block(columns):
    """The commands with their help lines, then every function by name, grouped by kind,
    never broken inside a name: under 50 lines at 80 columns (the formulas are in list)."""
    from actgrad.core.functions import registry

    proc = subprocess.run(
        [sys.executable, "-m", "actgrad", "--help"],
        capture_output=True,
        text=True,
        env={**ENV, "COLUMNS": columns},
        timeout=60,
    )
    text = proc.stdout
    assert proc.returncode == 0 and "..." not in text.split("Commands:")[1]
    assert max(len(line) for line in text.splitlines()) <= int(columns)
    if columns == "120":
        assert max(len(line) for line in text.splitlines()) > 80
    if columns == "80":
        assert len(text.splitlines()) < 50
    commands, functions = text.split("Commands:")[1].split("Functions")
    for name in ("list", "explain", "expr", "batch", "plot", "accuracy", "schema", "repl"):
        assert f"\n  {name} " in commands
    words = functions.split()
    for spec in registry.specs():
        assert spec.command in words, spec.name


# --- numbers are never cut ---------------------------------------------------------------


def _readme_commands() -> list[list[str]]:
    """Every `actgrad …` line of the README's sh blocks that prints a result table."""
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    out = []
    for block in re.findall(r"```sh\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            args = shlex.split(line, comments=True)
            if args[:1] != ["actgrad"] or any(c in " ".join(args) for c in "|<>$"):
                continue
            args = args[1:]
            if args[0] in ("list", "explain", "help", "plot", "batch", "server", "repl") or (
                "--json" in args or "--plot" in args or "--output" in args
            ):
                continue
            out.append(args)
    return out


README_COMMANDS = _readme_commands()


def test_readme_has_table_examples():
    assert len(README_COMMANDS) >= 25


@pytest.mark.slow
@pytest.mark.parametrize("columns", ["40", "80", "200"])
def test_no_number_is_cut_in_any_table(columns):
    import re

    cut = re.compile(r"[0-9.]…|…[0-9]")
    for args in README_COMMANDS:
        out = runner.invoke(app, [*args, "--format", "table"], env={"COLUMNS": columns})
        assert out.exit_code in (0, 1), (args, out.stderr)
        assert not cut.search(out.stdout), (args, columns, out.stdout)
        assert all(line == line.rstrip(" ") for line in out.stdout.splitlines()), args
    dtypes = runner.invoke(
        app,
        [
            "softplus",
            "--x",
            "0,10,100",
            "--grad",
            "--dtypes",
            "float32,float16,bfloat16",
            "--format",
            "table",
        ],
        env={"COLUMNS": columns},
    )
    assert dtypes.exit_code == 0 and not cut.search(dtypes.stdout), dtypes.stdout


@pytest.mark.parametrize("columns", ["50", "120"])
def test_list_fits_the_width_without_breaking_words(columns):
    from actgrad.core.functions import registry

    out = runner.invoke(app, ["list", "--format", "table"], env={"COLUMNS": columns})
    words = {w for line in out.stdout.splitlines() for w in line.replace("│", " ").split()}
    for spec in registry.specs():
        assert spec.command in words, spec.command  # names whole, never broken
    if columns == "120":  # a table with the formula as the only wrapping column
        assert len(out.stdout.splitlines()) < 150


def test_index_on_a_function_without_it_says_what_to_use():
    out = invoke("sigmoid", "--x", "1", "--index", "1")
    assert out.exit_code == 2 and "Possible options" not in out.stderr
    assert "along a dim" in out.stderr and "--grad" in out.stderr


def test_ctc_padding_beyond_target_lengths_is_ignored_as_torch_does():
    import math

    import torch

    lp = torch.full((3, 1, 2), -0.7, dtype=torch.float64)
    want = torch.nn.functional.ctc_loss(
        lp, torch.tensor([[1, 0]]), torch.tensor([3]), torch.tensor([1])
    ).item()
    got = _json(
        "ctc", "--log-probs", _text(lp.numpy()), "--targets", "[[1,0]]", "--target-lengths", "[1]"
    )
    assert math.isclose(got["value"], want, rel_tol=1e-12)
    bad = invoke(
        "ctc", "--log-probs", _text(lp.numpy()), "--targets", "[[0,1]]", "--target-lengths", "[1]"
    )
    assert bad.exit_code == 2 and "within each target length" in bad.stderr


def test_index_inputs_print_as_whole_numbers():
    args = ["ctc", "--log-probs", "[[-0.7,-0.7],[-0.7,-0.7]]", "--targets", "1", "--grad"]
    table = runner.invoke(app, [*args, "--format", "table"], env={"COLUMNS": "100"})
    assert "targets = 1\n" in table.stdout and "1.0" not in table.stdout.split("targets")[1][:8]


# --- plain output keeps its meaning -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        (
            ["sigmoid", "--x", "0.5", "--grad"],
            ["sigmoid(x)\tsigmoid'(x)", "0.62245935\t0.23500371"],
        ),
        (
            ["mse", "--w", "3", "--x", "1,2", "--grad"],
            ["loss", "14.5", "∂ℓ/∂w", "12.0", "∂ℓ/∂x", "6.0\t15.0"],
        ),
        (
            ["expr", "sum(x*x)", "--x", "1,2", "--order", "2"],
            ["f", "5.0", "∂f/∂x", "2.0\t4.0", "∂²f/∂x²", "2.0\t0.0", "0.0\t2.0"],
        ),
        (
            ["mse", "--pred", "1,2", "--target", "0,0", "--reduction", "none", "--grad"],
            ["pred\ttarget\tloss\t∂ℓ/∂pred", "1.0\t0.0\t1.0\t2.0", "2.0\t0.0\t4.0\t4.0"],
        ),
    ],
)
def test_plain_header_and_shapes(args, lines):
    out = invoke(*args, "--header", "--format", "plain")
    assert out.exit_code == 0 and out.stdout.splitlines() == lines, out.stdout
    without = invoke(*args, "--format", "plain").stdout.splitlines()
    assert without == (
        [lines[1]] if args[0] == "sigmoid" else [line for line in lines if line[0] in "-0123456789"]
    )


def test_plain_matrices_keep_their_rows():
    out = invoke(
        "cross-entropy",
        "--pred",
        "[[2,1,0.1],[0,1,2]]",
        "--target",
        "0,2",
        "--grad",
        "--format",
        "plain",
    ).stdout.splitlines()
    assert len(out) == 3 and all(len(line.split("\t")) == 3 for line in out[1:])
    ctc = invoke(
        "ctc",
        "--log-probs",
        "[[[-0.7,-0.7]],[[-0.7,-0.7]],[[-0.7,-0.7]]]",
        "--targets",
        "[[1]]",
        "--grad",
        "--format",
        "plain",
    ).stdout.splitlines()
    assert len(ctc) == 4 and all(len(line.split("\t")) == 2 for line in ctc[1:])


def test_plain_dtypes_header_names_every_column():
    out = invoke(
        "softplus", "--x", "0,10", "--grad", "--dtypes", "float16", "--header", "--format", "plain"
    ).stdout.splitlines()
    assert out[0].split("\t") == [
        "x",
        "value float64",
        "value float16",
        "grad.x float64",
        "grad.x float16",
    ]
    assert len(out) == 3 and all(len(line.split("\t")) == 5 for line in out)


@pytest.mark.parametrize(
    ("name", "inputs", "wrt"),
    [
        (
            "kl_div",
            {"pred": [[-1.2, -0.4], [-0.9, -0.5]], "target": [[0.3, 0.7], [0.6, 0.4]]},
            "pred",
        ),
        (
            "gaussian_nll_loss",
            {"pred": [0.3, 1.0], "target": [0.0, 2.0], "var": [0.5, 2.0]},
            "pred",
        ),
        ("hinge_embedding_loss", {"pred": [0.3, 2.0, -1.0], "target": [1, -1, -1]}, "pred"),
        ("margin_ranking_loss", {"x1": [0.3, 2.0], "x2": [1.0, -1.0], "target": [1, -1]}, "x1"),
        (
            "cosine_embedding_loss",
            {"x1": [[1.0, 2.0], [0.5, -1.0]], "x2": [[2.0, 1.0], [1.0, 1.0]], "target": [1, -1]},
            "x1",
        ),
        ("cross_entropy", {"pred": [[2.0, 1.0, 0.1], [0.0, 1.0, 2.0]], "target": [0, 2]}, "pred"),
        ("nll_loss", {"pred": [[-0.2, -1.8], [-1.1, -0.4]], "target": [1, 0]}, "pred"),
        (
            "multi_margin_loss",
            {"pred": [[0.1, 0.9, 0.3], [0.5, 0.2, 0.8]], "target": [1, 2]},
            "pred",
        ),
        (
            "multilabel_soft_margin_loss",
            {"pred": [[0.1, -0.9], [0.5, 0.2]], "target": [[1, 0], [0, 1]]},
            "pred",
        ),
        (
            "triplet_margin_loss",
            {
                "anchor": [[0.0, 0.0], [1.0, 1.0]],
                "positive": [[1.0, 0.0], [1.0, 2.0]],
                "negative": [[0.0, 1.5], [3.0, 1.0]],
            },
            "anchor",
        ),
    ],
)
def test_cotangent_of_every_kind_of_loss_with_reduction_none(name, inputs, wrt):
    import numpy as np
    import torch
    import torch.nn.functional as F
    from actgrad.core.functions import registry

    spec = registry.get(name)
    tensors = {k: torch.tensor(v, dtype=torch.float64) for k, v in inputs.items()}
    for t in spec.inputs:  # class indices (one per sample) are integers for torch
        if t.name not in tensors:
            continue
        per_sample = t.kind == "target" and tensors[t.name].ndim < tensors["pred"].ndim
        if t.kind == "index" or per_sample:
            tensors[t.name] = tensors[t.name].long()
    tensors[wrt].requires_grad_(True)
    value = spec.call(F, tensors, {**spec.defaults(), "reduction": "none"})
    v = torch.linspace(0.5, 2.0, value.numel(), dtype=torch.float64).reshape(value.shape)
    value.backward(v)
    args = [name.replace("_", "-")]
    for k, val in inputs.items():
        args += [f"--{k.replace('_', '-')}", _text(val)]
    data = _json(*args, "--reduction", "none", "--wrt", wrt, "--cotangent", _text(v.numpy()))
    np.testing.assert_allclose(data["grad"][wrt], tensors[wrt].grad.numpy(), rtol=1e-13, atol=1e-15)


def test_index_json_has_no_jacobian_in_any_form():
    import orjson

    for extra in ([], ["--order", "2"], ["--dtypes", "float32"]):
        out = invoke("softmax", "--x", "0.1,0.5,0.9", "--grad", "--index", "1", *extra, "--json")
        assert out.exit_code == 0 and '"jacobian"' not in out.stdout, (extra, out.stdout)
        orjson.loads(out.stdout)
    line = invoke("batch", input='{"fn": "softmax", "x": [1, 2], "grad": true, "index": 0}\n')
    assert '"jacobian"' not in line.stdout and '"index":0' in line.stdout


@pytest.mark.parametrize(
    ("args", "present", "absent"),
    [
        (["vector-norm", "--help"], "Hessian of the norm", "Hessian of the loss"),
        (["vector-norm", "--help"], "e.g. x,pred", "e.g. w,x"),
        (["mse", "--help"], "e.g. w,x", "Hessian of the norm"),
        (["sigmoid", "--help"], "(0-4)", "(1-4)"),
        (["softplus", "--help"], "where beta·x > threshold", "above beta·x > threshold"),
    ],
)
def test_help_texts_say_what_is_true(args, present, absent):
    text = " ".join(runner.invoke(app, args, env={"COLUMNS": "200"}).stdout.split())
    assert present in text and absent not in text


def test_order_out_of_range_matches_the_help():
    out = invoke("sigmoid", "--x", "1", "--order", "5")
    assert out.exit_code == 2 and "from 0 to 4" in out.stderr
