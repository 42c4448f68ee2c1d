"""One judge: every verdict as torch computes it, by one truth driver, and no "ok" without the
truth (core/functions/arithmetic.py, core/exact/interpreter.py, core/exact/truth.py).

Parameters reach the reference as torch's kernels store them (cast to the dtype or to its
opmath type), branch tests are decided in the kernel's arithmetic, and torch's own constants
are torch's: each is checked against torch's own behaviour here (how torch stores a number is
a fact about torch), and every value against independent float64/mpmath arithmetic.
"""

from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pytest
import torch
from actgrad.cli.app import app
from actgrad.core.functions import registry
from actgrad.core.functions.arithmetic import STORAGES, opmath, round_to
from typer.testing import CliRunner

F = torch.nn.functional
DTYPES = ("float32", "float64", "float16", "bfloat16")
UNHELD = (0.1, 0.3, 0.7, 1 / 3)  # parameters no dtype holds exactly


def check(*args: str) -> tuple[int, dict]:
    done = CliRunner().invoke(app, [*args, "--check", "--json"])
    assert done.stdout, done.stderr
    return done.exit_code, json.loads(done.stdout)["check"]


def _exact(*args: str) -> dict:
    done = CliRunner().invoke(app, [*args, "--exact", "--json"])
    return json.loads(done.stdout)["exact"]


def near(v: float, dtype: str, steps: int = 2) -> list[float]:
    """The dtype's numbers nearest v: its rounding and ``steps`` neighbours each way."""
    t = torch.tensor([v], dtype=torch.float64).to(getattr(torch, dtype))
    bits = {2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
    b = t.view(bits).item()
    return [
        torch.tensor([b + i], dtype=bits).view(t.dtype).double().item()
        for i in range(-steps, steps + 1)
    ]


def around(values: list[float], dtype: str) -> str:
    """Inputs at and beside each value, both signs, as a JSON list."""
    xs = {u for v in values for u in near(v, dtype)}
    return json.dumps(sorted(xs | {-u for u in xs}))


# ---------------------------------------------------------------------------------------------
# the issue's examples, through the command line


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "args",
    [
        ["threshold", "--x", "0.1", "--threshold", "0.1", "--value", "5", "--grad"],
        ["hardshrink", "--x", "0.1", "--lambd", "0.1", "--grad"],
        ["softshrink", "--x", "0.3", "--lambd", "0.3", "--grad"],
        ["hardtanh", "--x", "0.7", "--min-val", "-0.1", "--max-val", "0.7", "--grad"],
        ["softplus", "--x", "10", "--beta", "0.1", "--threshold", "1", "--grad"],
        ["softplus", "--x", "0.3333333333333333", "--beta", "3", "--threshold", "1", "--grad"],
    ],
)
def test_the_issues_false_alarms_are_gone(args, dtype):
    code, report = check(*args, "--dtype", dtype)
    assert code == 0 and report["ok"] and report["reference"] == "mpmath", report["flags"]


def test_bce_divides_by_torchs_float_epsilon_even_in_float64():
    done = CliRunner().invoke(
        app, ["bce", "--pred", "1", "--target", "0", "--grad", "--dtype", "float64", "--check"]
    )
    assert done.exit_code == 0, done.stdout
    code, report = check("bce", "--pred", "1", "--target", "0", "--grad", "--dtype", "float64")
    assert code == 0 and not report["flags"]
    exact = _exact("bce", "--pred", "1", "--target", "0", "--grad", "--dtype", "float64")
    true = float(exact["grad"]["pred"])
    assert true == 1 / float(np.float32(1e-12))  # 1/9.999999960041972e-13, not 1e12


@pytest.mark.parametrize("dtype", DTYPES)
def test_rms_norm_without_eps_uses_the_opmath_epsilon(dtype):
    code, report = check("rms-norm", "--x", "1e-3,1e-3", "--grad", "--dtype", dtype)
    assert code == 0 and report["ok"], report["flags"]
    exact = _exact("rms-norm", "--x", "1e-3,1e-3", "--dtype", dtype)
    x = round_to(1e-3, dtype)
    eps = 2.0**-52 if dtype == "float64" else 2.0**-23  # float's for float16 and bfloat16
    with mpmath.workdps(40):
        true = mpmath.mpf(x) / mpmath.sqrt(mpmath.mpf(x) ** 2 + mpmath.mpf(eps))
    assert float(exact["value"][0]) == pytest.approx(float(true), rel=1e-15)


def test_bce_second_derivative_is_torchs_double_backward():
    """torch's double backward divides by (p + 1e-12)²(1 − p + 1e-12)²."""
    code, report = check(
        "bce", "--pred", "0.3", "--target", "0.2", "--order", "2", "--dtype", "float64"
    )
    assert code == 0 and not report["flags"]
    p, t, e = 0.3, 0.2, 1e-12
    with mpmath.workdps(40):
        p_, t_ = mpmath.mpf(p), mpmath.mpf(t)
        true = (p_ * p_ - 2 * p_ * t_ + t_) / ((p_ + e) ** 2 * (1 - p_ + e) ** 2)
    exact = _exact("bce", "--pred", "0.3", "--target", "0.2", "--order", "2", "--dtype", "float64")
    assert float(exact["grad2"]["pred"]) == pytest.approx(float(true), rel=1e-15)


# ---------------------------------------------------------------------------------------------
# every kink whose place is a parameter, with parameters no dtype holds, in every dtype


KINKED = [
    ("threshold", "--threshold", ["--value", "5"], 2),
    ("hardshrink", "--lambd", [], 2),
    ("softshrink", "--lambd", [], 2),
    ("hardtanh", "--max-val", ["--min-val", "-3"], 1),
    ("hardtanh", "--min-val", ["--max-val", "3"], 1),
    ("softplus", "--threshold", ["--beta", "1"], 2),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "option", "extra", "order"), KINKED)
def test_every_parametrized_kink_in_every_dtype_is_judged_as_torch_computes(
    name, option, extra, order, dtype
):
    for v in UNHELD:
        value = -v if option == "--min-val" else v
        at = [value, round_to(value, dtype), round_to(value, opmath(dtype))]
        code, report = check(
            name, "--x", around(at, dtype), option, repr(value), *extra,
            "--order", str(order), "--dtype", dtype,
        )  # fmt: skip
        assert code == 0 and report["ok"], (name, value, dtype, report["flags"][:3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [0.1, 3.0, 0.3])
def test_softplus_switch_is_decided_on_the_product_as_the_kernel_rounds_it(beta, dtype):
    for threshold in (1.0, 0.5, 2.0):
        xs = json.dumps(sorted(set(near(threshold / beta, dtype, 3))))
        code, report = check(
            "softplus", "--x", xs, "--beta", repr(beta), "--threshold", repr(threshold),
            "--order", "2", "--dtype", dtype,
        )  # fmt: skip
        assert code == 0 and report["ok"], (beta, threshold, dtype, report["flags"][:3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "option"), [("huber", "--delta"), ("smooth-l1", "--beta")])
def test_a_losss_switch_is_decided_on_the_difference_as_the_kernel_rounds_it(name, option, dtype):
    for v in UNHELD:
        preds = json.dumps(sorted(set(near(v, dtype) + near(v + 0.25, dtype, 1))))
        code, report = check(
            name, "--pred", preds, "--target", "0", option, repr(v), "--reduction", "none",
            "--grad", "--dtype", dtype,
        )  # fmt: skip
        assert code == 0 and report["ok"], (name, v, dtype, report["flags"][:3])
        code, report = check(
            name, "--pred", repr(0.25 + v), "--target", "0.25", option, repr(v),
            "--order", "2", "--dtype", dtype,
        )  # fmt: skip
        assert code == 0 and report["ok"], (name, v, dtype, report["flags"][:3])


# ---------------------------------------------------------------------------------------------
# how each entry says its parameters are stored is how torch stores them (asked of torch)


def _decides(spec, name: str, value: float, dtype: str, order: int) -> bool:
    """Whether the entry's storage of ``name`` explains torch's branches at the inputs beside
    every candidate storage of ``value``, at derivative ``order`` (0: the value, 1: f′)."""
    from actgrad.core.functions.arithmetic import stored_params

    params = {**spec.defaults(), **REQUIRED.get(spec.name, {}), name: value}
    stored = stored_params(spec.stored, params, dtype, order)
    candidates = {round_to(value, d) for d in ("float64", "float32", dtype)}
    xs = sorted({u for c in candidates for u in near(c, dtype, 1)})
    x = torch.tensor(xs, dtype=getattr(torch, dtype), requires_grad=True)
    call = {k: v for k, v in params.items() if k not in ("dim",)}
    got = getattr(F, spec.name)(x, **call)
    if order:
        (got,) = torch.autograd.grad(got.sum(), x)
    # the same function in float64 at the same inputs, with the parameter as stored
    x64 = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    want = getattr(F, spec.name)(x64, **{**call, name: stored[name]})
    if order:
        (want,) = torch.autograd.grad(want.sum(), x64)
    return bool(torch.equal(want.to(x.dtype), got.detach()))


REQUIRED = {"threshold": {"threshold": 1.0, "value": 5.0}}
BRANCHING = [  # (entry, parameter): a branch or a clip happens at the parameter
    ("threshold", "threshold"),
    ("hardshrink", "lambd"),
    ("softshrink", "lambd"),
    ("hardtanh", "max_val"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "param"), BRANCHING)
def test_the_entrys_storage_is_torchs(name, param, dtype):
    spec = registry.get(name)
    assert param in spec.stored and spec.source
    for value in UNHELD:
        for order in (0, 1):
            assert _decides(spec, param, value, dtype, order), (name, param, value, dtype, order)


def test_every_storage_is_written_in_the_known_ways_with_its_source():
    for spec in registry.specs():
        for name, how in spec.stored.items():
            assert all(way in STORAGES for way in how.split(",")), (spec.name, name, how)
            assert name.startswith("_") or name in spec.param_names, (spec.name, name)
        if spec.stored:
            assert spec.source.startswith(("aten/", "torch/")), spec.name


def test_the_stored_value_rounds_as_torchs_scalar_does():
    for v in (0.1, 1 / 3, 2.1, 1e-3, 65519.0, 1e-8, 3.0e38, 5e-45):
        for dtype in ("float16", "bfloat16", "float32"):
            theirs = torch.tensor(v, dtype=torch.float64).to(getattr(torch, dtype)).double().item()
            via_float = (
                torch.tensor(v, dtype=torch.float64)
                .float()
                .to(getattr(torch, dtype))
                .double()
                .item()
            )
            assert round_to(v, dtype) in (theirs, via_float)
            assert round_to(v, dtype) == via_float  # c10's Scalar.to<Half>() goes through float


# ---------------------------------------------------------------------------------------------
# one driver: functions along a dim inside expressions, losses at order 2


@pytest.mark.parametrize(
    "args",
    [
        ["expr", "softmax(x)", "--x", "1,2,3", "--grad"],
        ["expr", "log_softmax(x)*2", "--x", "1,2,3", "--grad"],
        ["mse", "--w", "3", "--order", "2"],
        ["cross-entropy", "--pred", "1,2,3", "--target", "0", "--order", "2"],
        ["softmax", "--x", "1,2,3", "--index", "1", "--order", "2"],
        ["expr", "sum(softmax(x)*x)", "--x", "1,2,3", "--order", "2"],
    ],
)
def test_every_kind_of_request_is_judged_by_the_true_value(args):
    code, report = check(*args, "--dtype", "float64")
    assert code == 0 and report["reference"] == "mpmath"
    assert report["reference_missing"] == [] and report["decided"] and report["ok"]


def test_the_true_hessians_and_jacobians_are_the_mathematics():
    """Independent float64: softmax's Jacobian diag(p) − ppᵀ, cross-entropy's Hessian the
    same (of the logits), mse's d²/dw² = 2x², log_softmax's Jacobian I − 1pᵀ (doubled)."""
    x = np.array([1.0, 2.0, 3.0])
    p = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    jac = np.diag(p) - np.outer(p, p)
    got = np.array(
        _exact("expr", "softmax(x)", "--x", "1,2,3", "--grad", "--dtype", "float64")["jacobian"][
            "x"
        ],
        dtype=float,
    )
    np.testing.assert_allclose(got, jac, rtol=1e-14, atol=1e-16)
    got = np.array(
        _exact(
            "cross-entropy",
            "--pred",
            "1,2,3",
            "--target",
            "0",
            "--order",
            "2",
            "--dtype",
            "float64",
        )["grad2"]["pred"],
        dtype=float,
    )
    np.testing.assert_allclose(got, jac, rtol=1e-14, atol=1e-16)
    got = np.array(
        _exact("expr", "log_softmax(x)*2", "--x", "1,2,3", "--grad", "--dtype", "float64")[
            "jacobian"
        ]["x"],
        dtype=float,
    )
    np.testing.assert_allclose(got, 2 * (np.eye(3) - np.outer(np.ones(3), p)), rtol=1e-14)
    assert (
        float(
            _exact("mse", "--w", "3", "--x", "1.5", "--order", "2", "--dtype", "float64")["grad2"][
                "w"
            ]
        )
        == 2 * 1.5**2
    )


# ---------------------------------------------------------------------------------------------
# no "ok" without the truth


def test_past_the_reference_size_the_check_is_not_judged_and_fails():
    """A program the fast tier has no bounds for (sin) past the exact tier's size."""
    done = CliRunner().invoke(
        app, ["expr", "sin(x)*2", "--x", "-10:10:20001", "--check", "--format", "plain"]
    )
    assert done.exit_code == 1
    assert "check: not judged: 20,001 numbers without a true value" in done.stderr
    assert "check: ok" not in done.stderr


def test_a_function_past_that_size_is_judged_by_the_fast_tier():
    code, report = check("sigmoid", "--x", "-10:10:20001", "--grad")
    assert report["reference"] == "mpmath" and report["decided"] and report["not_judged"] == 0
    assert report["tiers"]["fast"] + report["tiers"]["exact"] == 40_002
    assert report["tiers"]["fast"] > 39_000
    # sigmoid′ in float32 is more than 64 ulps off past 6.76 (docs/accuracy.md): flagged
    assert code == 1 and {f["flag"] for f in report["flags"]} == {"inaccurate"}


def test_a_nan_against_an_unsettled_truth_is_not_judged():
    code, report = check("expr", "(exp(exp(x))+1)-exp(exp(x))", "--x", "11", "--dtype", "float64")
    assert code == 1
    assert report["decided"] is False and report["ok"] is False and report["not_judged"] == 1


def test_a_stochastic_function_is_not_judged():
    code, report = check("gumbel-softmax", "--x", "1,2,3", "--seed", "0", "--grad")
    assert code == 1 and not report["decided"] and report["not_judged"] > 0


def test_the_limit_of_a_non_finite_input_is_still_judged_by_float64():
    code, report = check("sigmoid", "--x", "-inf,inf,0", "--grad")
    assert code == 0, report
    assert math.isfinite(report["dtype_error"]["value"]["max_ulp"])


# ---------------------------------------------------------------------------------------------
# a function added after the driver: one entry (and its exact operation), judged everywhere


@pytest.mark.parametrize(
    "args",
    [
        ["cosine-similarity", "--x1", "1,2,3", "--x2", "3,1,2", "--grad"],
        ["cosine-similarity", "--x1", "1,2,3", "--x2", "3,1,2", "--order", "2"],
        ["cosine-similarity", "--x1", "[[1,2],[0,1]]", "--x2", "[[2,1],[1,1]]", "--grad"],
        ["expr", "cosine_similarity(x, y)*2", "--x", "1,2", "--var", "y=3,1", "--grad"],
    ],
)
def test_an_added_function_is_judged_by_the_truth_at_every_order(args):
    code, report = check(*args, "--dtype", "float32")
    assert report["reference"] == "mpmath" and report["decided"], report
    hessian = "--order" in args  # torch's float32 Hessian cancels (a real finding there)
    assert (code == 0 and report["ok"]) or (hessian and report["flags"]), report["flags"]


def test_the_added_functions_truth_is_the_mathematics():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([3.0, 1.0, 2.0])
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = a @ b / na / nb
    grad = a / na / nb - cos * b / (b @ b)
    hessian = (
        -(np.outer(a, b) + np.outer(b, a)) / (na * nb**3)
        - cos * np.eye(3) / nb**2
        + 3 * cos * np.outer(b, b) / nb**4
    )
    exact = _exact(
        "cosine-similarity", "--x1", "1,2,3", "--x2", "3,1,2", "--order", "2", "--dtype", "float64"
    )
    np.testing.assert_allclose(np.array(exact["grad"]["x2"], dtype=float), grad, rtol=1e-14)
    np.testing.assert_allclose(np.array(exact["grad2"]["x2"], dtype=float), hessian, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# a Jacobian's columns in one pass (taylor.Tangents)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_a_dense_jacobian_along_any_dim_is_the_mathematics(dim):
    """Every slice's diag(p) − ppᵀ (mpmath, 40 digits), the slices along dim 0 or 1."""
    x = [[0.5, -1.0, 2.0, 7.25], [3.0, 0.25, -0.75, -30.0], [1e-3, 4.0, 4.0, -2.5]]
    got = _exact("softmax", "--x", json.dumps(x), "--dim", str(dim), "--grad", "--dtype", "float64")
    rows = x if dim != 0 else [list(c) for c in zip(*x, strict=True)]
    with mpmath.workdps(40):
        for row, jac in zip(rows, got["jacobian"]["x"], strict=True):
            e = [mpmath.exp(mpmath.mpf(v)) for v in row]
            p = [v / mpmath.fsum(e) for v in e]
            for i, line in enumerate(jac):
                for j, text in enumerate(line):
                    true = p[i] * ((i == j) - p[j])
                    assert abs(mpmath.mpf(text) - true) <= abs(true) * 1e-19, (i, j, text)


def test_tangents_carry_every_direction_as_its_own_pass_would():
    """One series with n directions against n series seeded one at a time: the same bounds
    in every direction (an interval's sum and product do not depend on their order), and a
    NaN (log of a negative) in every direction where each pass has one."""
    from actgrad.core.exact import interval, taylor
    from actgrad.core.exact.taylor import Tangents, Taylor

    xs = [interval.mpf(v) for v in (0.3, -1.7, 2.5)]
    one, zero = interval.mpf(1), interval.mpf(0)

    def f(u: list[Taylor]) -> list[Taylor]:
        a = taylor.sigmoid(u[0]) * taylor.log(u[1] * u[1] + 1) / (u[2] + 3) - taylor.tanh(u[0])
        return [a * u[1] + taylor.exp(u[2]) - 0.25, taylor.real_log(u[1]), u[0] * 2 + u[2] / 7]

    with interval.workprec(96):
        together = f([Taylor([x, Tangents(3, {i: one})]) for i, x in enumerate(xs)])
        for k in range(3):
            alone = f([Taylor([x, one if i == k else zero]) for i, x in enumerate(xs)])
            for t, s in zip(together, alone, strict=True):
                c = t.c[1].at(k) if isinstance(t.c[1], Tangents) else t.c[1]
                assert (t.c[0].a, t.c[0].b) == (s.c[0].a, s.c[0].b)
                assert (c.a, c.b) == (s.c[1].a, s.c[1].b), (k, c, s.c[1])
    assert not isinstance(together[1].c[1], Tangents)  # NaN in every direction
