"""The arbitrary-precision reference (core/exact/reference.py, reference_losses.py) checked
independently: against sympy's derivatives of the same formulas at 60 digits, against scipy and
numpy in float64, and against values computed here with math; then --check, --exact, accuracy
and the committed report, through the command line."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import mpmath
import numpy as np
import orjson
import pytest
import scipy.special as sc
import sympy as sp
import torch
from actgrad.cli.app import app
from actgrad.core import evaluate, machine
from actgrad.core.accuracy import generated_accuracy
from actgrad.core.exact import reference, truth
from actgrad.core.functions import registry
from actgrad.core.parse.options import default_ulps
from actgrad.core.request import build_request
from conftest import cases
from hypothesis import given, settings
from hypothesis import strategies as st
from mpmath import mp
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[3]
PINNED = "2.13.0"
ON_PINNED = torch.__version__.split("+")[0] == PINNED
NOT_PINNED = f"depends on torch {PINNED}'s exact bits; this is torch {torch.__version__}"
X = sp.Symbol("x")
K64 = sp.Float(math.sqrt(2 / math.pi), 300)  # kBeta = M_SQRT2 * M_2_SQRTPI * 0.5 in double

# the same functions written independently as sympy formulas (smooth branches only)
SYMPY = {
    "sigmoid": ({}, 1 / (1 + sp.exp(-X))),
    "tanh": ({}, sp.tanh(X)),
    "silu": ({}, X / (1 + sp.exp(-X))),
    "mish": ({}, X * sp.tanh(sp.log(1 + sp.exp(X)))),
    "logsigmoid": ({}, -sp.log(1 + sp.exp(-X))),
    "softplus": ({"beta": 1.0, "threshold": 20.0}, sp.log(1 + sp.exp(X))),
    "gelu": ({"approximate": "none"}, X * (1 + sp.erf(X / sp.sqrt(2))) / 2),
    "gelu_tanh": (
        {"approximate": "tanh"},
        # the constants as torch's float64 kernel holds them (doubles, not the decimals)
        X * (1 + sp.tanh(K64 * (X + sp.Float(0.044715, 300) * X**3))) / 2,
    ),
    "tanhshrink": ({}, X - sp.tanh(X)),
}
POINTS = (-7.3, -1.1, -0.3, 0.2, 1.7, 6.5, 15.25)


def _sympy_value(expr: sp.Expr, x: float) -> float:
    return float(sp.N(expr.subs(X, sp.Float(x, 300)), 60))


@pytest.mark.parametrize("key", sorted(SYMPY))
def test_derivatives_match_sympy_diff_at_60_digits(key):
    params, expr = SYMPY[key]
    name = key.split("_")[0]
    derivatives = [expr, *(sp.diff(expr, X, k) for k in range(1, 4))]
    for x in POINTS:
        ours, ok = truth.point(registry.get(name), params, x, 3)
        assert ok
        for k, d in enumerate(derivatives):
            assert float(ours[k]) == _sympy_value(d, x), (key, x, k)


def test_mish_from_one_exponential_matches_mpmath_in_both_tails_and_near_0():
    """mish's factor tanh(softplus x) from e^(−|x|) alone (no cancellation in either tail):
    its value and derivatives to order 3 to the last bit, from e^−745 to e^700."""
    import mpmath

    def mish(z):
        return z * mpmath.tanh(mpmath.log(1 + mpmath.exp(z)))

    for x in (-745.0, -100.0, -30.0, -1e-10, 1e-12, 0.75, 30.0, 100.0, 700.0):
        ours, ok = truth.point(registry.get("mish"), {}, x, 3)
        assert ok
        with mpmath.workprec(1600):  # (1 + e^−745 needs more than 1,100 bits)
            for k in range(4):
                assert float(ours[k]) == float(mpmath.diff(mish, mpmath.mpf(x), k)), (x, k)


def test_gelu_from_the_normal_density_matches_mpmath_in_both_tails_and_near_0():
    """gelu = x·Φ(x) from its own derivatives, Φ + x·φ and 2φ − x²·φ (φ′ = −x·φ): its value
    and derivatives to order 5 (φ's series past its value) to the last bit, from the left
    tail's e^−722 to the right's, at gelu′'s zero (x ≈ −0.75179) and gelu″'s (±√2)."""
    import mpmath

    def gelu(z):
        return z * mpmath.erfc(-z / mpmath.sqrt(2)) / 2

    for x in (-38.0, -10.5, -1e-10, 1e-300, 0.75, 3.0, 40.0, -0.7517915, 2**0.5, -(2**0.5)):
        ours, ok = truth.point(registry.get("gelu"), {"approximate": "none"}, x, 5)
        assert ok
        with mpmath.workprec(1200):
            for k in range(6):
                assert float(ours[k]) == float(mpmath.diff(gelu, mpmath.mpf(x), k)), (x, k)


def test_piecewise_references_match_sympy_on_each_side():
    cases = [
        ("elu", {"alpha": 1.0}, -1.3, sp.exp(X) - 1),
        ("celu", {"alpha": 2.0}, -0.7, 2 * (sp.exp(X / 2) - 1)),
        (
            "selu",
            {},
            -2.5,
            sp.Float("1.0507009873554804934193349852946", 40)
            * sp.Float("1.6732632423543772848170429916717", 40)
            * (sp.exp(X) - 1),
        ),
        ("hardswish", {}, 1.25, X * (X + 3) / 6),
        ("softsign", {}, -3.5, X / (1 - X)),
        ("softsign", {}, 2.5, X / (1 + X)),
        ("softplus", {"beta": 2.0, "threshold": 20.0}, 0.75, sp.log(1 + sp.exp(2 * X)) / 2),
    ]
    for name, params, x, expr in cases:
        ours, _ = truth.point(registry.get(name), params, x, 2)
        for k in range(3):
            assert float(ours[k]) == _sympy_value(sp.diff(expr, X, k), x), (name, k)


def _ulps(a: float, b: float) -> float:
    return abs(a - b) / np.spacing(abs(b)) if b else abs(a)


@pytest.mark.parametrize(
    ("name", "params", "numpy_fn"),
    [
        ("sigmoid", {}, sc.expit),
        ("tanh", {}, np.tanh),
        ("softplus", {"beta": 1.0, "threshold": 20.0}, lambda x: np.logaddexp(0.0, x)),
        ("logsigmoid", {}, lambda x: -np.logaddexp(0.0, -x)),
        ("gelu", {"approximate": "none"}, lambda x: x * sc.ndtr(x)),
        ("elu", {"alpha": 1.0}, lambda x: np.where(x > 0, x, np.expm1(x))),
        ("silu", {}, lambda x: x * sc.expit(x)),
    ],
)
def test_values_agree_with_scipy_and_numpy_to_a_few_ulps(name, params, numpy_fn):
    xs = np.linspace(-3.0, 9.0, 37)  # where scipy's ndtr is accurate to an ulp or two too
    true = truth.elementwise(registry.get(name), params, xs, 0)[0]
    theirs = numpy_fn(xs)
    worst = max(_ulps(float(a), float(b)) for a, b in zip(theirs, true.hi, strict=True))
    assert worst <= 4  # neither numpy nor scipy promises correct rounding


def test_published_values_computed_here_with_math():
    # σ′(x) = e^(−x)/(1 + e^(−x))² has no cancellation: math gets it to an ulp or two
    for x in (20.0, 88.0):
        ours, _ = truth.point(registry.get("sigmoid"), {}, x, 1)
        e = math.exp(-x)
        assert _ulps(float(ours[1]), e / (1 + e) ** 2) <= 2
    assert float(truth.point(registry.get("sigmoid"), {}, 20.0, 1)[0][1]) == pytest.approx(
        2.0611536139418493e-9, rel=1e-16
    )
    # gelu(−10) = −10·Φ(−10), Φ(−10) = 7.6198530241605260659733432515993e−24 (published
    # tables of the normal distribution); gelu′(−10) = Φ(−10) + (−10)·φ(−10)
    tail = 7.6198530241605260659733432515993e-24
    ours, _ = truth.point(registry.get("gelu"), {"approximate": "none"}, -10.0, 1)
    assert float(ours[0]) == pytest.approx(-10 * tail, rel=1e-15)
    phi = math.exp(-50) / math.sqrt(2 * math.pi)
    assert float(ours[1]) == pytest.approx(tail - 10 * phi, rel=1e-13)
    # tanh′(20) = 1/cosh²(20); σ″(1e−8) = −1.25e−9·(1 − …)
    assert (
        _ulps(float(truth.point(registry.get("tanh"), {}, 20.0, 1)[0][1]), 1 / math.cosh(20) ** 2)
        <= 2
    )
    second = float(truth.point(registry.get("sigmoid"), {}, 1e-8, 2)[0][2])
    assert second == pytest.approx(-1.25e-9, rel=1e-15)
    # x − tanh(x) ~ x³/3 far below float64's ulp of x, where the formula cancels completely
    assert float(truth.point(registry.get("tanhshrink"), {}, 1e-30, 0)[0][0]) == pytest.approx(
        1e-90 / 3
    )


PARAMS = {"threshold": {"threshold": 1.0, "value": -1.0}}  # torch has no default for these


@settings(max_examples=60, deadline=None)
@given(
    x=st.one_of(st.floats(-60, 60), st.floats(-1e-6, 1e-6), st.floats(-700, 700)),
    name=st.sampled_from(
        sorted(
            s.name for s in registry.specs() if s.exact and s.pointwise and s.kind == "activation"
        )
    ),
)
def test_property_twice_the_precision_gives_the_same_float64(x, name):
    params = PARAMS.get(name) or registry.get(name).defaults()
    once, _ = truth.point(registry.get(name), params, x, 2)
    bits = 2 * max(reference.START_BITS, 3 * max(0, -math.frexp(x)[1]) + reference.START_BITS)
    twice, _ = truth.point(registry.get(name), params, x, 2, bits=bits)
    assert [float(v) for v in once] == [float(v) for v in twice]


def _torch_derivatives(
    spec, x: float, params: dict, order: int, dtype: torch.dtype = torch.float64
) -> list[float]:
    t = torch.tensor(x, dtype=dtype, requires_grad=True)
    from actgrad.core.evaluator.engine import apply

    out, values = apply(spec, t, params), []
    values.append(out.item())
    for _ in range(order):
        if out.requires_grad:
            (out,) = torch.autograd.grad(out, t, create_graph=True)
        else:  # a constant derivative: the next ones are 0
            out = torch.zeros_like(out)
        values.append(out.item())
    return values


def _kinks():
    """(spec, its parameters, a kink) for every kink of every elementwise function with a
    reference, at every parameter set the tests use."""
    for spec in registry.specs():
        if spec.kind != "activation" or not spec.pointwise or spec.stochastic:
            continue
        for case in cases(spec):
            params = {**spec.defaults(), **case}
            for kink in spec.kinks(params):
                if not isinstance(kink.at, str):
                    yield spec, params, kink


def _one_sided(spec, params: dict, x: float, order: int, tie: int) -> list[float]:
    """The derivatives of the branch on one side of x (tie -1: left, +1: right), with the
    parameters as given (already as the kernel stores them)."""
    from actgrad.core.exact.taylor import Taylor

    reference._TIE[0] = tie
    try:
        with mp.workprec(300):
            taylor = spec.exact(reference.OPS, Taylor.variable(x, order), params)
            return [float(v) for v in taylor.derivatives()]
    finally:
        reference._TIE[0] = 0


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_at_every_kink_and_order_the_reference_takes_torchs_convention(dtype):
    """Every kink and threshold the registry knows × orders 0–4 × dtypes: the reference is
    torch's number (rounded to the dtype, within --check's ulps); and the registry's sides are
    true: "=" where the two branches agree, "L"/"R" where torch takes that branch's value."""
    from actgrad.core.accuracy.ulps import ulp_errors
    from actgrad.core.functions.arithmetic import round_to, stored_params

    checked = 0
    for spec, params, typed in _kinks():
        if dtype in spec.no_cpu_kernel(params):
            continue
        stored = stored_params(spec.stored, {**spec.defaults(), **params}, dtype)
        kink = next(k for k in spec.kinks(stored) if k.sides == typed.sides)
        x = float(kink.at)  # the kink where the kernel has it
        if round_to(x, dtype) != x:
            continue  # no input of the dtype is on it
        order = min(4, spec.max_order)
        ours, _ = truth.point(spec, params, x, order, dtype)
        theirs = _torch_derivatives(spec, x, params, order, getattr(torch, dtype))
        left, right = (_one_sided(spec, stored, x, order, tie) for tie in (-1, 1))
        for k in range(order + 1):
            side = kink.side(k)
            if side == "=":
                assert left[k] == pytest.approx(right[k], rel=1e-12), (spec.name, params, x, k)
            elif side in "LR":
                assert (left, right)[side == "R"][k] == float(ours[k])
            true = reference.Truth(np.array(float(ours[k])), np.array(0.0))
            err, _ = ulp_errors(np.array(theirs[k]), true, dtype)
            assert err <= default_ulps(dtype), (spec.name, params, x, k, theirs[k], float(ours[k]))
            checked += 1
    assert checked > 100


LOSS_CASES = [
    ("mse_loss", {"pred": "1,2,3", "target": "0,0.5,4"}, {}),
    ("mse_loss", {"pred": "1,2,3", "target": "0,0.5,4", "weight": "1,2,3"}, {}),
    ("l1_loss", {"pred": "1,2,3", "target": "0,2,4"}, {"reduction": "sum"}),
    ("huber_loss", {"pred": "0.2,3", "target": "0,0"}, {"delta": "1.5"}),
    ("smooth_l1_loss", {"pred": "0.2,3", "target": "0,0"}, {"beta": "0.5"}),
    ("binary_cross_entropy", {"pred": "0.2,0.9", "target": "0,1"}, {}),
    ("binary_cross_entropy_with_logits", {"pred": "-2,3", "target": "0,1", "pos_weight": "2"}, {}),
    ("cross_entropy", {"pred": "2,1,0.1", "target": "0"}, {}),
    (
        "cross_entropy",
        {"pred": "[[2,1,0.1],[0,3,1]]", "target": "0,2", "weight": "1,2,3"},
        {"label_smoothing": "0.1"},
    ),
    ("cross_entropy", {"pred": "2,1,0.1", "target": "0.7,0.2,0.1"}, {}),
    ("nll_loss", {"pred": "[[-1,-2,-0.5],[-0.1,-3,-2]]", "target": "2,0"}, {}),
    ("kl_div", {"pred": "-1.2,-0.7,-1.5", "target": "0.3,0.4,0.3"}, {"reduction": "batchmean"}),
    ("poisson_nll_loss", {"pred": "0.5,2", "target": "1,3"}, {"full": "true"}),
    ("gaussian_nll_loss", {"pred": "0.5,2", "target": "1,3", "var": "0.5,2"}, {}),
    ("hinge_embedding_loss", {"pred": "0.3,2", "target": "1,-1"}, {}),
    ("soft_margin_loss", {"pred": "0.3,-2", "target": "1,-1"}, {}),
    ("multilabel_soft_margin_loss", {"pred": "[[0.3,-2,1]]", "target": "[[1,0,1]]"}, {}),
    ("multi_margin_loss", {"pred": "[[0.3,-2,1],[1,2,0.5]]", "target": "0,2"}, {}),
    (
        "multilabel_margin_loss",
        {"pred": "[[0.1,0.2,0.4,0.8],[1,-1,0.5,0]]", "target": "[[3,0,-1,1],[1,2,-1,-1]]"},
        {},
    ),
    ("margin_ranking_loss", {"x1": "1,2", "x2": "2,1", "target": "1,-1"}, {"margin": "0.5"}),
    ("cosine_embedding_loss", {"x1": "1,2,3", "x2": "2,1,0.5", "target": "1"}, {}),
    (
        "cosine_embedding_loss",
        {"x1": "[[1,2,3],[0,1,1]]", "x2": "[[2,1,0.5],[1,1,0]]", "target": "1,-1"},
        {},
    ),
    ("triplet_margin_loss", {"anchor": "0,0", "positive": "1,0", "negative": "0,1.5"}, {}),
    (
        "ctc_loss",
        {"log_probs": "[[-1.2,-0.4,-2.0],[-0.9,-0.8,-1.7],[-0.3,-1.6,-2.5]]", "targets": "1,2"},
        {},
    ),
    (
        "ctc_loss",
        {
            "log_probs": "[[[-1.2,-0.4,-2],[-0.5,-1,-2]],[[-0.9,-0.8,-1.7],[-1.1,-0.6,-1.9]],"
            "[[-0.3,-1.6,-2.5],[-0.7,-0.9,-1.8]]]",
            "targets": "[[1,2],[2,2]]",
            "input_lengths": "3,2",
            "target_lengths": "2,1",
        },
        {"reduction": "none"},
    ),
    (
        "ctc_loss",
        {"log_probs": "[[-0.7,-0.7],[-0.7,-0.7]]", "targets": "1,1"},
        {"zero_infinity": "true", "reduction": "sum"},
    ),
    ("vector_norm", {"x": "3,4,-12"}, {"ord": "3"}),
    ("vector_norm", {"x": "3,-4"}, {"ord": "inf"}),
]


@pytest.mark.parametrize(("name", "inputs", "params"), LOSS_CASES)
def test_loss_references_agree_with_torch_float64_at_benign_points(name, inputs, params):
    """Reductions, weights, smoothing and clamps as torch defines them: at points where
    float64 is accurate, the reference and torch agree to 1e-13."""
    req = build_request(
        name, {k: [v] for k, v in inputs.items()}, params, grad=True, dtype="float64", check=True
    )
    report = evaluate(req).check
    assert report["reference"] == "mpmath" and not report["reference_missing"]
    for path, err in report["dtype_error"].items():
        assert err["max_rel"] is not None and err["max_rel"] < 1e-13, (path, err)


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def as_json(*args: str) -> tuple[int, dict]:
    code, out, _ = cli(*args, "--json")
    return code, orjson.loads(out)


# the issue's table: (command, path, torch's float64, the true value, flag)
TABLE = [
    (["sigmoid", "--x", "20", "--grad"], "grad.x", 2.06115369e-9, 2.06115361e-9, "inaccurate"),
    (["sigmoid", "--x", "88", "--grad"], "grad.x", 0.0, 6.05e-39, "flush_to_zero"),
    (
        ["sigmoid", "--x", "1e-8", "--order", "2"],
        "grad2.x",
        -1.2499999924e-9,
        -1.25e-9,
        "inaccurate",
    ),
    (["tanh", "--x", "20", "--grad"], "grad.x", 0.0, 1.70e-17, "flush_to_zero"),
    (["gelu", "--x", "-30"], "value", -0.0, -1.472e-196, "flush_to_zero"),
    (["gelu", "--x", "-10", "--grad"], "grad.x", -7.6946e-22, -7.6184e-22, "inaccurate"),
    (["hardsigmoid", "--x", "0.5", "--grad"], "grad.x", 0.1666666716337204, 1 / 6, "inaccurate"),
    (["mish", "--x", "710", "--order", "2"], "grad2.x", math.nan, 0.0, "nan"),
    (
        ["softplus", "--x", "19.52", "--order", "2"],
        "grad2.x",
        3.330977704780903e-09,
        3.330977586019287e-09,
        "inaccurate",
    ),  # at 20 itself f″ = 0 is torch's convention
    (
        ["softmin", "--x", "-30,0,30,88", "--grad"],
        "jacobian.x[0][0]",
        -9.348e-14,
        -9.358e-14,
        "inaccurate",
    ),
]


@pytest.mark.skipif(not ON_PINNED, reason=NOT_PINNED)
@pytest.mark.parametrize(("args", "path", "torch_value", "true", "flag"), TABLE)
def test_the_issues_table_through_the_command_line(args, path, torch_value, true, flag):
    code, data = as_json(*args, "--dtype", "float64", "--check", "--exact")
    assert code == 1  # a failed check fails
    found = {(f["path"], f["flag"]): f for f in data["check"]["flags"]}
    assert (path, flag) in found, data["check"]["flags"]
    got = found[(path, flag)]
    if math.isnan(torch_value):
        assert got["got"] is None  # NaN in strict JSON
    else:
        assert got["got"] == pytest.approx(torch_value, rel=1e-4, abs=0)  # the digits shown
    assert got["true"] == pytest.approx(true, rel=2e-3, abs=1e-300)
    key, _, name = path.partition(".")
    exact = data["exact"][key] if not name else data["exact"][key][name.split("[")[0]]
    digits = np.asarray(exact, dtype=object).reshape(-1)[0]
    assert float(mpmath.mpf(digits)) == pytest.approx(
        got["true"] if got["true"] else true, rel=1e-15, abs=1e-300
    )


def test_check_exits_0_when_every_number_holds_and_says_so_in_float64_too():
    code, data = as_json("sigmoid", "--x", "0.5", "--grad", "--dtype", "float64", "--check")
    assert code == 0 and data["check"]["ok"] and data["check"]["reference"] == "mpmath"
    assert data["check"]["dtype_error"]["grad.x"]["max_ulp"] <= 1


def test_ulps_threshold_is_an_option():
    args = ("silu", "--x", "-1.28", "--grad", "--dtype", "float64", "--check")
    code, data = as_json(*args)
    err = data["check"]["dtype_error"]["grad.x"]["max_ulp"]
    assert err > 1  # silu′ has a zero near −1.2785: torch's relative error is large there
    code_tight, tight = as_json(*args, "--ulps", "0")
    assert code_tight == 1 and tight["check"]["flags"][0]["flag"] == "inaccurate"
    code, out, err_text = cli(*args, "--ulps", "-3")
    assert code == 2 and "--ulps" in err_text and out == ""


def test_exact_in_json_table_and_plain():
    _, data = as_json("sigmoid", "--x", "20", "--grad", "--exact")
    assert data["exact"]["grad"]["x"].startswith("2.06115361394184934")
    assert data["exact"]["value"].startswith("0.99999999793884638")
    _, out, _ = cli("sigmoid", "--x", "20", "--grad", "--exact", "--format", "plain")
    assert out.split("\t")[2:] == ["0.99999999793884638181", "2.0611536139418493437e-9\n"]
    _, out, _ = cli("softmax", "--x", "1,2", "--grad", "--exact", "--format", "plain")
    assert "exact jacobian.x: 0.19661193324148185254 -0.19661193324148185254" in out
    _, data = as_json("mse", "--w", "3", "--grad", "--exact")
    assert data["exact"] == {"value": "4.0", "grad": {"w": "4.0"}}


def test_accuracy_command_finds_the_sigmoid_tail():
    code, data = as_json("accuracy", "sigmoid", "--x", "-40:40:401")
    assert code == 0 and data["points"] == 401
    rows = {(r["dtype"], r["quantity"]): r for r in data["rows"]}
    assert set(rows) == {
        (d, q)
        for d in ("float64", "float32", "float16", "bfloat16")
        for q in ("value", "grad", "grad2")
    }
    assert rows[("float32", "value")]["max_ulp"] < 4
    lost = rows[("float32", "grad")]["all_digits_lost"][-1]
    assert 16 < lost["from"] < 17.5 and lost["high_end"]
    lost64 = rows[("float64", "grad")]["all_digits_lost"][-1]
    assert 36 < lost64["from"] < 37.5


def test_accuracy_plain_table_plot_and_refusals(tmp_path):
    code, out, _ = cli(
        "accuracy",
        "gelu",
        "--x",
        "-12:12:97",
        "--dtypes",
        "float32",
        "--format",
        "plain",
        "--header",
    )
    assert code == 0 and out.splitlines()[0].startswith("function\tdtype\tquantity")
    assert len(out.splitlines()) == 4
    code, out, _ = cli("accuracy", "tanh", "--x", "-5:5:41", "--order", "1", "--plot")
    assert code == 0 and "log10(1 + error in ulps)" in out
    image = tmp_path / "err.png"
    code, _, err = cli("accuracy", "tanh", "--x", "-5:5:41", "--output", str(image))
    assert code == 0 and image.stat().st_size > 1000
    code, out, err = cli("accuracy", "sigmoid", "--max-points", "100")
    assert code == 2 and out == "" and "budget" in err and "--max-points" in err
    code, out, err = cli("accuracy", "gumbel-softmax")
    assert code == 2 and out == "" and "random" in err
    code, out, err = cli("accuracy")
    assert code == 2 and "--all" in err


def test_a_result_in_a_measured_region_says_so_and_explain_cites_the_report():
    _, data = as_json("sigmoid", "--x", "20", "--grad")
    assert any("loses every digit" in n and "actgrad accuracy sigmoid" in n for n in data["notes"])
    _, data = as_json("sigmoid", "--x", "0.5", "--grad")
    assert not any("actgrad accuracy" in n for n in data["notes"])
    _, out, _ = cli("explain", "sigmoid")
    assert "accuracy: float32 f′: every digit lost for x = -100, 16.64 ≤ x ≤ 100" in out


def test_on_another_machine_a_small_result_is_judged_by_the_live_reference(monkeypatch):
    """The report's regions were measured elsewhere: a note comes from the true value computed
    here, so it never under-reports (σ′(20) in float32 is 0 on every machine)."""
    elsewhere = {"torch": "2.13.0+cpu (git elsewhere)", "cpu": "Other CPU", "capability": "AVX2"}
    monkeypatch.setattr(generated_accuracy, "MACHINE", elsewhere)
    _, data = as_json("sigmoid", "--x", "20", "--grad")
    assert any(
        "loses every digit at x = 20" in n and "judged against the true value on this machine" in n
        for n in data["notes"]
    ), data["notes"]
    _, data = as_json("sigmoid", "--x", "0.5", "--grad")
    assert data["notes"] == []
    _, data = as_json("sigmoid", "--x", "0:30:300", "--grad")  # more than it judges live
    assert any("Other CPU" in n and "not this machine" in n for n in data["notes"])
    monkeypatch.setattr(generated_accuracy, "MACHINE", machine.identity())
    _, data = as_json("sigmoid", "--x", "20", "--grad")
    assert any("on this machine; actgrad accuracy sigmoid" in n for n in data["notes"])


MEASURED_HERE = machine.same(generated_accuracy.MACHINE)
ELSEWHERE = (
    f"torch's numbers depend on the machine: the report was measured with "
    f"{machine.words(generated_accuracy.MACHINE)}, this is "
    f"{machine.words(machine.identity())}"
)


@pytest.mark.skipif(not MEASURED_HERE, reason=ELSEWHERE)
def test_the_committed_report_is_current_on_the_machine_it_was_measured_on():
    sys.path.insert(0, str(ROOT / "tools"))
    import accuracy_report

    report = (ROOT / "docs" / "accuracy.md").read_text()
    assert machine.words(generated_accuracy.MACHINE) in report
    for name in ("sigmoid", "gelu", "softmax", "mse_loss"):
        spec = registry.get(name)
        for line in accuracy_report.table_lines(spec, accuracy_report.measure(spec)):
            assert line in report, (
                f"docs/accuracy.md is stale (run tools/accuracy_report.py): {line}"
            )


def test_the_committed_report_has_a_row_for_every_function_accuracy_sweeps():
    """A function added since the report was generated is missing from it, on any machine
    (group-norm once was): each has its rows."""
    from actgrad.core.accuracy import sweeps

    report = (ROOT / "docs" / "accuracy.md").read_text()
    missing = [s.command for s in sweeps.functions([], True) if f"\n| {s.command} | " not in report]
    assert not missing, f"docs/accuracy.md has no rows for {missing}: run tools/accuracy_report.py"
