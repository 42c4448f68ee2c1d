"""--check, --dtypes, kink reports and plots."""

from __future__ import annotations

import builtins
import math
import struct

import numpy as np
import orjson
import pytest
import torch
from actgrad.cli.app import app
from actgrad.core.functions import registry
from typer.testing import CliRunner

runner = CliRunner()


def as_json(*args: str) -> dict:
    """The JSON result; with --check, exit 1 exactly when the check failed (as gradcheck
    raises), 0 otherwise."""
    out = runner.invoke(app, [*args, "--json"])
    data = orjson.loads(out.stdout)
    failed = "check" in data and not data["check"]["ok"]
    assert out.exit_code == (1 if failed else 0), out.stderr
    return data


def flags(report: dict) -> set[tuple[str, str]]:
    return {(f["flag"], f["path"]) for f in report["flags"]}


def test_check_finds_flush_to_zero_of_sigmoid_derivative_at_20():
    report = as_json("sigmoid", "--x", "20", "--grad", "--check")["check"]
    assert ("flush_to_zero", "grad.x") in flags(report)
    flag = next(f for f in report["flags"] if f["flag"] == "flush_to_zero")
    s = 1 / (1 + math.exp(-20))
    assert flag["true"] == pytest.approx(s * (1 - s), rel=1e-6)  # 2.06e-9
    assert report["ok"] is False
    assert report["finite_differences"]["ok"] and report["closed_form"]["ok"]


def test_check_finds_float16_exp_overflow_above_11_09():
    above = as_json("expr", "exp(x)", "--x", "11.1", "--dtype", "float16", "--check")["check"]
    assert ("overflow", "value") in flags(above)
    below = as_json("expr", "exp(x)", "--x", "11", "--dtype", "float16", "--check")["check"]
    assert not any(f["flag"] == "overflow" for f in below["flags"])


def test_check_finds_float16_softplus_overflow():
    report = as_json("softplus", "--x", "1e5", "--dtype", "float16", "--check")["check"]
    assert ("overflow", "value") in flags(report)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_check_is_clean_for_a_smooth_function_at_ordinary_points(dtype):
    report = as_json("tanh", "--x", "-2:2:9", "--grad", "--dtype", dtype, "--check")["check"]
    assert report["ok"] is True and report["flags"] == []
    assert report["finite_differences"]["failures"] == []
    assert report["finite_differences"]["max_rel"] < 1e-6
    assert report["closed_form"] == {"max_abs": pytest.approx(0, abs=1e-15), "ok": True}
    assert report["reference"] == "mpmath"  # torch against the true value, float64 too
    assert report["dtype_error"]["value"]["max_ulp"] <= 1


def test_kinks_are_reported_as_kinks_not_failures():
    report = as_json("relu", "--x", "-1,0,1", "--grad", "--check")["check"]
    assert report["finite_differences"]["kinks"] == ["x[1]"]
    assert report["finite_differences"]["ok"] and report["ok"]


@pytest.mark.parametrize(
    "args",
    [
        ["mse", "--pred", "1,2", "--target", "0,0.5", "--grad"],
        ["softmax", "--x", "0.1,0.5,0.9", "--grad"],
        ["softmax", "--x", "0.1,0.5,0.9", "--grad", "--index", "1"],
        ["expr", "sum(softmax(a) * b)", "--var", "a=0.1,0.5,0.9", "--var", "b=1,0,0", "--grad"],
        ["cross-entropy", "--pred", "2,1,0.1", "--target", "0", "--grad"],
    ],
)
def test_check_beyond_elementwise_functions(args):
    report = as_json(*args, "--check", "--dtype", "float64")["check"]
    assert report["finite_differences"]["ok"], report
    assert report["ok"]


def test_check_in_table_and_plain():
    table = runner.invoke(
        app, ["sigmoid", "--x", "20", "--grad", "--check", "-f", "table"], env={"COLUMNS": "200"}
    )
    assert "flush-to-zero at grad.x" in table.stdout
    plain = runner.invoke(app, ["sigmoid", "--x", "20", "--grad", "--check"])
    assert plain.stdout == "1.0\t0.0\n"  # data on stdout, the report on stderr
    assert "flush-to-zero" in plain.stderr
    assert table.exit_code == plain.exit_code == 1  # the check failed


def test_check_relative_error_is_never_a_false_zero():
    """σ'(20) (2.06e-9) and gelu'(−10) (−7.7e-22) are below what a central difference can
    resolve: no relative error is claimed for them, neither 0 nor a number."""
    for args in (["sigmoid", "--x", "20"], ["gelu", "--x", "-10"]):
        fd = as_json(*args, "--grad", "--check", "--dtype", "float64")["check"][
            "finite_differences"
        ]
        assert fd["max_rel"] is None and fd["below_floor"] == 1
        plain = runner.invoke(app, [*args, "--grad", "--check", "--dtype", "float64"])
        first = plain.stderr.splitlines()[0]  # the finite-difference line
        assert "below the finite-difference floor" in first and "max rel 0" not in first
    fd = as_json("gelu", "--x", "-10,1", "--grad", "--check", "--dtype", "float64")["check"][
        "finite_differences"
    ]
    assert 0 < fd["max_rel"] < 1e-6 and fd["below_floor"] == 1


def test_dtypes_side_by_side():
    data = as_json("softplus", "--x", "0,10,100", "--grad", "--dtypes", "float32,float16,bfloat16")
    assert list(data["dtypes"]) == ["float64", "float32", "float16", "bfloat16"]
    assert "error" not in data["dtypes"]["float64"]
    x = torch.tensor([0.0, 10, 100], dtype=torch.float64)
    np.testing.assert_allclose(
        data["dtypes"]["float64"]["value"], torch.nn.functional.softplus(x).numpy(), rtol=1e-15
    )
    half = data["dtypes"]["float16"]
    assert half["error"]["value"]["max_rel"] > 1e-5  # half precision shows
    assert data["dtypes"]["float32"]["error"]["value"]["max_ulp"] <= 1
    plain = runner.invoke(app, ["softplus", "--x", "0,10", "--dtypes", "float32"]).stdout
    assert plain.splitlines()[0].split("\t")[0] == "0.0" and len(plain.splitlines()) == 2
    bad = runner.invoke(app, ["softplus", "--x", "0", "--dtypes", "float8"])
    assert bad.exit_code == 2 and "float8" in bad.stderr


# the formulas the registry's kink alternatives name, written directly in torch
ALTERNATIVES = {
    "maximum(x, 0)": lambda x, p: torch.maximum(x, torch.zeros_like(x)),
    "(x + abs(x))/2": lambda x, p: (x + x.abs()) / 2,
    "clamp(x, min=0)": lambda x, p: torch.clamp(x, min=0),
    "x*(x > 0)": lambda x, p: x * (x > 0),
    "clamp(x, 0, 6)": lambda x, p: torch.clamp(x, 0, 6),
    "clamp(x, min_val, max_val)": lambda x, p: torch.clamp(x, p["min_val"], p["max_val"]),
}


def test_kink_alternatives_are_what_torch_gives():
    checked = 0
    for spec in registry.specs():
        params = spec.defaults()
        if any(p.required for p in spec.params):
            continue
        for kink in spec.kinks(params):
            for form, claimed in kink.alternatives:
                x = torch.tensor(kink.at, dtype=torch.float64, requires_grad=True)
                (g,) = torch.autograd.grad(ALTERNATIVES[form](x, params), x)
                assert g.item() == claimed, (spec.name, form)
                checked += 1
    assert checked >= 6
    note = as_json("relu", "--x", "0", "--grad")["notes"][0]
    assert "maximum(x, 0) gives 0.5" in note and "left derivative 0, right derivative 1" in note


def test_terminal_plot_has_axes_legend_and_fits_the_width():
    out = runner.invoke(
        app,
        ["plot", "sigmoid", "tanh", "--terminal", "--width", "60", "--height", "15"],
        env={"NO_COLOR": "1"},
    )
    assert out.exit_code == 0, out.stderr
    lines = out.stdout.splitlines()
    plot_rows = [
        line for line in lines if " | " in line and any("\u2800" <= c <= "\u28ff" for c in line)
    ]
    assert len(plot_rows) == 15
    assert all(len(row.split(" | ", 1)[1]) == 60 for row in plot_rows)
    assert "(X)" in out.stdout and "(Y)" in out.stdout
    assert "Legend" in out.stdout and "sigmoid" in out.stdout and "tanh" in out.stdout
    assert "\x1b[" not in out.stdout


def test_plot_json_points_agree_with_the_function():
    data = orjson.loads(
        runner.invoke(app, ["plot", "sigmoid", "gelu", "--x", "-5:5:11", "--grad"]).stdout
    )
    x = torch.linspace(-5, 5, 11, dtype=torch.float64).float().requires_grad_()
    y = torch.sigmoid(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    assert data["x"] == pytest.approx(x.detach().tolist())
    assert data["series"][0]["name"] == "sigmoid"
    np.testing.assert_array_equal(np.float32(data["series"][0]["y"]), y.detach().numpy())
    np.testing.assert_array_equal(np.float32(data["series"][0]["dy"]), dy.numpy())
    assert len(data["series"][1]["y"]) == 11


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_plot_writes_a_png_of_the_requested_size(tmp_path):
    path = tmp_path / "identity.png"
    out = runner.invoke(
        app, ["plot", "tanh(x)", "2*sigmoid(2*x)-1", "--output", str(path), "--size", "640x400"]
    )
    assert out.exit_code == 0, out.stderr
    assert _png_size(path) == (640, 400)
    svg = tmp_path / "f.svg"
    assert runner.invoke(app, ["plot", "relu", "--output", str(svg)]).exit_code == 0
    assert svg.read_text().lstrip().startswith("<?xml")


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    out = runner.invoke(app, ["plot", "sigmoid", "--output", str(tmp_path / "f.png")])
    assert out.exit_code == 1
    assert "pip install 'actgrad[plot]'" in out.stderr and out.stdout == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["plot"], "nothing to plot"),
        (["plot", "softmax"], "not elementwise"),
        (["plot", "sum(x)"], "not elementwise in x"),
        (["plot", "sigmoid", "--output", "f.gif"], ".png, .svg or .pdf"),
        (["plot", "sigmoid", "--size", "big"], "WIDTHxHEIGHT"),
    ],
)
def test_plot_usage_errors(args, needle):
    out = runner.invoke(app, args)
    assert out.exit_code == 2 and needle in out.stderr


def _canvas(text: str) -> tuple[list[tuple[float, str]], float, float]:
    """(rows from the top as (label value, content), lowest label, highest label)."""
    lines = text.splitlines()
    rows = [line.split(" | ", 1) for line in lines if " | " in line or line.rstrip().endswith("|")]
    parsed = [
        (float(label.strip().rstrip("|").strip()), rest[0] if rest else "")
        for label, *rest in rows
        if label.strip().rstrip("|").strip()
    ]
    return parsed, parsed[-1][0], parsed[0][0]


@pytest.mark.parametrize(
    ("names", "checked"),
    [
        (["sigmoid"], ["sigmoid"]),
        (["tanh"], ["tanh"]),
        (["sigmoid", "tanh"], ["tanh"]),
        (["gelu"], ["gelu"]),
        (["softsign"], ["softsign"]),
        (["elu"], ["elu"]),
        (["relu"], ["relu"]),
    ],
)
def test_terminal_plot_draws_every_extreme(names, checked):
    """Each curve's maximum and minimum fall on the canvas rows that hold those values, with
    the y-axis padded beyond them; without colour every curve has its own mark."""
    from actgrad.cli.plot import MARKS

    out = runner.invoke(
        app,
        ["plot", *names, "--terminal", "--width", "60", "--height", "15"],
        env={"NO_COLOR": "1"},
    )
    assert out.exit_code == 0, out.stderr
    rows, low, high = _canvas(out.stdout)
    contents = [content for _, content in rows[1:]]  # the first label is the axis' top end
    delta = (high - low) / len(contents)
    for name in checked:
        mark = MARKS[names.index(name)]
        assert f"{mark}⠤ {name}" in out.stdout  # the legend names the mark
        ys = orjson.loads(runner.invoke(app, ["plot", name, "--json"]).stdout)["series"][0]["y"]
        assert low < min(ys) and max(ys) < high  # padded: no extreme on the frame
        for extreme in (max(ys), min(ys)):
            row = len(contents) - 1 - int((extreme - low) // delta)
            assert mark in contents[row], (name, extreme, row, out.stdout)
    labels = [label for label, _ in rows]
    assert all(len(f"{v}".split(".")[-1]) <= 3 for v in labels)  # rounded tick labels


def test_plot_takes_the_function_parameters():
    args = ["plot", "leaky-relu", "elu", "--x", "-2:2:5", "--negative-slope", "0.2", "--alpha", "2"]
    data = orjson.loads(runner.invoke(app, args).stdout)
    assert data["series"][0]["y"][0] == pytest.approx(-0.4)
    assert data["series"][1]["y"][0] == pytest.approx(2 * math.expm1(-2), rel=1e-6)


@pytest.mark.parametrize("x", ["0:0:5", "5", "-1e-300,1e-300"])
def test_terminal_plot_of_a_degenerate_range(x):
    out = runner.invoke(
        app, ["plot", "sigmoid", "--x", x, "--terminal", "--width", "30", "--height", "6"]
    )
    assert out.exit_code == 0 and "sigmoid" in out.stdout, out.stderr


def _at(document: dict, path: str):
    """The number a path (``jacobian.x[1][3][0][0]``) names in a JSON document."""
    head, *indices = path.replace("]", "").split("[")
    found = document
    for key in head.split("."):
        found = found[key]
    for index in indices:
        found = found[int(index)]
    return found


def test_every_flag_path_names_its_number_in_the_same_document():
    row = [1, 2, 3, 4]
    x = orjson.dumps([[row, row, row, row], [row, row, row, [100, 2, 3, 4]]]).decode()
    checked = as_json("softmax", "--x", x, "--grad", "--check")
    compared = as_json("softmax", "--x", x, "--grad", "--dtypes", "float16")
    found = [(checked, f) for f in checked["check"]["flags"]]
    found += [(compared["dtypes"]["float16"], f) for f in compared["dtypes"]["float16"]["flags"]]
    assert found and all(f["path"].count("[") == 4 for _, f in found)  # a 2×4×4×4 Jacobian
    for document, flag in found:
        assert _at(document, flag["path"]) == flag["got"], flag


def test_dtypes_flags_are_against_float64_rounded_to_the_dtype():
    """A 0 or 1 that is float64's number rounded to the dtype is no flush or saturation."""
    report = as_json("sigmoid", "--x", "10,20", "--grad", "--dtypes", "float16,bfloat16")
    half = {(f["flag"], f["path"]) for f in report["dtypes"]["float16"]["flags"]}
    brain = {(f["flag"], f["path"]) for f in report["dtypes"]["bfloat16"]["flags"]}
    # σ′(20) = 2.06e-9 is below float16's smallest number (0 is its rounding), not bfloat16's
    assert ("flush_to_zero", "grad.x[0]") in half and ("flush_to_zero", "grad.x[1]") not in half
    assert ("flush_to_zero", "grad.x[1]") in brain
    assert not any(flag == "saturation" for flag, _ in half | brain)  # σ(10) rounds to 1 there


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["sigmoid", "--x", "10", "--grad", "--dtypes", "float16", "--check"], "--check judges"),
        (["sigmoid", "--x", "10", "--dtypes", "float16", "--exact"], "--exact judges"),
        (["sigmoid", "--x", "10", "--ulps", "3"], "--ulps sets --check's limit"),
    ],
)
def test_an_option_that_would_not_act_is_refused(args, says):
    out = runner.invoke(app, args)
    assert out.exit_code == 2 and out.stdout == "" and says in out.stderr, out.output
    assert out.stderr.count("\n") == 1


def test_a_losss_wrt_asks_for_its_gradient():
    data = as_json("mse", "--pred", "1,2", "--target", "0,0", "--wrt", "target")
    assert data["grad"] == {"target": [-1.0, -2.0]}


def test_index_asks_for_that_outputs_gradient():
    data = as_json("softmax", "--x", "1,2", "--index", "0")
    assert "grad" in data and len(data["grad"]["x"]) == 2
