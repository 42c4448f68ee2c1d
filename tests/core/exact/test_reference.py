"""The reference is never confidently wrong: every exact value is the correctly rounded
float64 of the truth, shown by interval bounds (a cancellation deeper than the working
precision widens the bounds instead of becoming a "true" 0), per point whatever else is in
the request, in every reference; past its budget a number is unsettled, never a value; and
the extremes (±1e308, subnormals, ±inf, NaN, huge intermediate exponents) give a value, an
unsettled value or a clear message, never a hang, an internal error or a library warning.

The independent oracle is plain mpmath at 4,000 bits with its own formulas, converted to
float64 through Fraction (correctly rounded, subnormals included)."""

from __future__ import annotations

import math
import random
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import mpmath
import orjson
import pytest
from actgrad.cli.app import app
from actgrad.core.evaluator.engine import torch_result
from actgrad.core.exact import interval, truth
from actgrad.core.exact.reference import NoReference
from actgrad.core.request import build_expr_request
from typer.testing import CliRunner

ACTGRAD = str(Path(sys.executable).with_name("actgrad"))
ORACLE_BITS = 4000


def rounded(value: mpmath.mpf) -> float:
    """An mpmath number as the nearest float64 (ties to even, subnormals, overflow)."""
    if mpmath.isnan(value):
        return math.nan
    if mpmath.isinf(value):
        return float(value)
    sign, man, exp, _ = value._mpf_
    exact = Fraction(-man if sign else man) * (Fraction(2) ** int(exp))
    try:
        return float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


def exact(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, [*args, "--exact", "--json"])
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, orjson.loads(result.stdout)


def true_value(text: str) -> float:
    """--exact's value, read back (20 digits: the float64 they round to)."""
    return float(text)


# 1. the audit's cancellations: each truth, and torch's 0 flagged


@pytest.mark.parametrize(
    ("args", "path", "truth_"),
    [
        (["expr", "log(1+exp(x))", "--var", "x=-120"], "value", "7.6676480737219996324e-53"),
        (["expr", "1 - tanh(x)", "--var", "x=100"], "value", "2.7677930534734750613e-87"),
        (["expr", "1 - sigmoid(x)", "--var", "x=150"], "value", "7.1750959731644104198e-66"),
        (["expr", "log(sigmoid(x)) - logsigmoid(x)", "--var", "x=120"], "value", "0"),
        (["log-softmax", "--x", "0,200"], "value", "-1.3838965267367375306e-87"),
    ],
)
def test_a_cancellation_deeper_than_the_precision_is_never_a_confident_zero(args, path, truth_):
    code, data = exact(*args, "--dtype", "float64", "--check")
    got = data["exact"][path]
    got = got[-1] if isinstance(got, list) else got
    assert got == truth_
    if truth_ != "0":  # torch's 0 is every digit lost: flagged, the check fails
        assert code == 1 and any(f["flag"] == "flush_to_zero" for f in data["check"]["flags"])


def test_a_points_truth_does_not_depend_on_the_rest_of_the_request():
    _, alone = exact("expr", "log(1+exp(x))", "--var", "x=-120", "--dtype", "float64")
    for others in ("x=-120,0", "x=0,-120,5e-324", "x=-1,-120,700"):
        _, many = exact("expr", "log(1+exp(x))", "--var", others, "--dtype", "float64")
        at = [float(v) for v in orjson.loads(orjson.dumps(many["inputs"]["x"]))].index(-120.0)
        assert many["exact"]["value"][at] == alone["exact"]["value"]


def test_past_the_highest_precision_a_number_is_unsettled_never_a_value():
    _, data = exact(
        "expr", "log(1+exp(x))*exp(-x)", "--var", "x=-40000,-2", "--dtype", "float64", "--check"
    )
    assert data["exact"]["value"][0] == "unsettled"
    assert float(data["exact"]["value"][1]) == pytest.approx(0.93787819412221284721, rel=1e-15)
    check = data["check"]
    assert check["reference_unsettled"] == ["value"] and check["unsettled_points"] == {"value": 1}
    assert not any(f["path"] == "value[0]" for f in check["flags"])  # not judged


# the property: random expressions, cancellations included, against the oracle

LEAVES = ["x", "x", "2", "0.5"]
UNARY = {  # actgrad's text, the oracle's function
    "exp": ("exp({})", mpmath.exp),
    "sigmoid": ("sigmoid({})", lambda z: 1 / (1 + mpmath.exp(-z))),
    "tanh": ("tanh({})", mpmath.tanh),
    "softplus": ("log(1 + exp({}))", lambda z: mpmath.log(1 + mpmath.exp(z))),
    "one_minus_sigmoid": ("(1 - sigmoid({}))", lambda z: 1 - 1 / (1 + mpmath.exp(-z))),
    "logsigmoid": ("logsigmoid({})", lambda z: -mpmath.log(1 + mpmath.exp(-z))),
    "shrink": ("(({0}) - tanh({0}))", lambda z: z - mpmath.tanh(z)),
    "identity": (
        "(tanh({0}) - (2*sigmoid(2*({0})) - 1))",
        lambda z: mpmath.tanh(z) - (2 / (1 + mpmath.exp(-2 * z)) - 1),
    ),
}
BINARY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def _expression(rng: random.Random, depth: int, exps: int = 0) -> tuple[str, object]:
    if depth == 0 or rng.random() < 0.2:
        leaf = rng.choice(LEAVES)
        return leaf, (lambda x: x) if leaf == "x" else (lambda x, c=leaf: mpmath.mpf(c))
    if rng.random() < 0.65:
        names = [n for n in UNARY if n != "exp" or exps == 0]
        name = rng.choice(names)
        text, fn = UNARY[name]
        inner, f = _expression(rng, depth - 1, exps + (name == "exp"))
        return text.format(inner), lambda x, f=f, fn=fn: fn(f(x))
    op = rng.choice(list(BINARY))
    (a, fa), (b, fb) = (_expression(rng, depth - 1, exps) for _ in range(2))
    return f"({a} {op} {b})", lambda x, fa=fa, fb=fb, g=BINARY[op]: g(fa(x), fb(x))


POINTS = [-700.0, -120.0, -20.0, -1e-8, 0.0, 3e-5, 0.5, 20.0, 120.0, 700.0]


def test_property_random_expressions_agree_with_the_oracle_to_the_last_bit():
    rng = random.Random(19)
    checked = unsettled = 0
    for _ in range(120):
        text, oracle = _expression(rng, 3)
        while not re.search(r"\bx\b", text):  # a constant expression: issue 22's
            text, oracle = _expression(rng, 3)
        req = build_expr_request(text, ["x=" + ",".join(map(repr, POINTS))], dtype="float64")
        result = torch_result(req)
        found, _ = truth.truths(result, req.program, digits=True)
        value = found["value"]
        with mpmath.workprec(ORACLE_BITS):
            for i, x in enumerate(POINTS):
                expected = rounded(oracle(mpmath.mpf(x)))
                if not value.settled[i]:
                    unsettled += 1
                    continue
                got = value.hi[i]
                assert got == expected or (math.isnan(got) and math.isnan(expected)), (
                    text,
                    x,
                    got,
                    expected,
                )
                checked += 1
    assert checked > 900 and unsettled <= checked // 50, (checked, unsettled)


def test_the_bounds_hold_what_mpmath_says():
    with interval.workprec(96):
        for text, value in (("0.1", "0.1"), ("1e-300", "1e-300")):
            x = interval.mpf(text)
            with mpmath.workprec(400):
                true = mpmath.mpf(value)
                assert mpmath.mpf(x.a) <= true <= mpmath.mpf(x.b)
        y = interval.log(1 + interval.exp(interval.mpf(-120.0)))
        assert interval.settled(y) is None  # 96 bits cannot tell: not a 0


# 8. the extremes, bounded


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["expr", "exp(exp(exp(x)))", "--var", "x=20", "--exact", "--check"],
        ["gelu", "--x=-1e155", "--dtype", "float64", "--exact", "--check"],
        ["expr", "gelu(x)", "--var", "x=-1e155", "--check", "--dtype", "float64"],
        [
            "expr",
            "log(x)",
            "--var",
            "x=1e308,5e-324",
            "--dtype",
            "float64",
            "--order",
            "4",
            "--exact",
        ],
        [
            "poisson-nll",
            "--pred",
            "1e308,5e-324",
            "--target",
            "1,3",
            "--dtype",
            "float64",
            "--grad",
            "--exact",
        ],
        ["expr", "exp(exp(x))", "--var", "x=1e308", "--exact"],
        ["expr", "x**x**x", "--var", "x=inf", "--exact"],
        ["expr", "x", "--var", "x=1e308,5e-324", "--dtype", "float64", "--check"],
        [
            "sigmoid",
            "--x",
            "nan,inf,-inf,5e-324,-1e308",
            "--dtype",
            "float64",
            "--order",
            "4",
            "--exact",
            "--check",
        ],
        ["accuracy", "gelu", "--x=-1e155,1e155,-1e308,1e308"],
        ["accuracy", "--all", "--x=1e308,-1e308,5e-324,-5e-324,inf,nan", "--order", "1"],
    ],
)
def test_extremes_give_values_unsettled_values_or_messages(args):
    proc = subprocess.run([ACTGRAD, *args], capture_output=True, text=True, timeout=240)
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr


def test_the_work_is_estimated_before_it_starts_and_bounded():
    deep = "x"
    for _ in range(60):
        deep = f"mish({deep})"
    result = CliRunner().invoke(
        app, ["expr", deep, "--var", "x=-2:2:2000", "--order", "4", "--exact"]
    )
    assert result.exit_code == 0
    assert "would take about" in result.stderr and "over its budget" in result.stderr
    req = build_expr_request(deep, ["x=-2:2:20"], order=2)
    done = torch_result(req)
    try:  # a budget that runs out mid-way: unsettled numbers, or no reference (not a hang)
        found, _ = truth.truths(done, req.program, seconds=0.05)
        assert not found["value"].converged
    except NoReference as e:
        assert "budget" in str(e)
