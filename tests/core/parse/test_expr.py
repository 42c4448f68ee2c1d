"""actgrad expr: the examples, expressions against torch written directly, and security."""

from __future__ import annotations

import math
import os
import subprocess

import numpy as np
import orjson
import pytest
import torch
import torch.nn.functional as F
from actgrad.cli.app import app
from actgrad.core import evaluate
from actgrad.core.request import build_expr_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

runner = CliRunner()


def run(text, *variables, **options):
    options.setdefault("dtype", "float64")
    return evaluate(build_expr_request(text, list(variables), **options))


def cli(*args):
    return runner.invoke(app, ["expr", *args])


# --- the examples ---------------------------------------------------------------------


def test_identity_is_zero_everywhere():
    result = run("tanh(x) - (2*sigmoid(2*x) - 1)", "x=-10:10:1000")
    assert result.value.shape == (1000,)
    assert np.abs(result.value).max() < 1e-15


def test_tutorial_loss_by_hand():
    result = cli("(1 - w*x)**2", "--var", "w=3", "--var", "x=1", "--grad", "w")
    assert (result.exit_code, result.stdout) == (0, "4.0\t4.0\n")
    data = orjson.loads(
        cli("(1 - w*x)**2", "--var", "w=3", "--var", "x=1", "--grad", "w", "--json").stdout
    )
    assert (data["value"], data["grad"]) == (4.0, {"w": 4.0})
    assert data["function"] == "expr" and data["params"] == {"expression": "(1 - w*x)**2"}


def test_where_the_naive_form_breaks():
    result = run("log(sigmoid(x)) - logsigmoid(x)", "x=-100,0,100", grad=True, dtype="float32")
    assert math.isinf(result.value[0]) or math.isnan(result.value[0])  # log(0) in float32
    assert result.value[1] == 0
    assert "value[0]" in result.nonfinite()


def test_softmax_weighted_sum_gradient():
    result = run("sum(softmax(a) * b)", "a=0.1,0.5,0.9", "b=1,0,0", wrt=["a"])
    p = torch.softmax(torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64), -1).numpy()
    np.testing.assert_allclose(result.derivatives[1]["a"], p[0] * (np.eye(3)[0] - p), rtol=1e-14)
    assert list(result.derivatives[1]) == ["a"]


def test_leaky_relu_keyword_second_order():
    result = run("leaky_relu(x, negative_slope=0.2) * exp(-x^2)", "x=0.5", order=2)
    x = 0.5
    f = x * math.exp(-(x**2))
    d1 = math.exp(-(x**2)) * (1 - 2 * x**2)
    d2 = math.exp(-(x**2)) * (4 * x**3 - 6 * x)
    assert result.value == pytest.approx(f, rel=1e-14)
    assert result.derivatives[1]["x"] == pytest.approx(d1, rel=1e-14)
    assert result.derivatives[2]["x"] == pytest.approx(d2, rel=1e-14)


def test_symbolic_derivative():
    out = cli("x*sigmoid(x)", "--var", "x=1", "--grad", "--symbolic", "--json")
    data = orjson.loads(out.stdout)
    import sympy

    x = sympy.Symbol("x", real=True)
    claimed = sympy.sympify(data["symbolic"]["x"], locals={"x": x})  # our own output, a test
    expected = sympy.diff(x / (1 + sympy.exp(-x)), x)
    assert sympy.simplify(claimed - expected) == 0
    assert float(claimed.subs(x, 1)) == pytest.approx(data["grad"]["x"], rel=1e-6)


def test_x_shorthand_and_jacobian():
    result = run("softmax(x)", x=["1,2,3"], grad=True)
    p = torch.softmax(torch.tensor([1.0, 2, 3], dtype=torch.float64), -1).numpy()
    np.testing.assert_allclose(result.jacobian["x"], np.diag(p) - np.outer(p, p), rtol=1e-14)
    broadcast = run("w*x", "w=2", "x=1,2,3", grad=True)
    np.testing.assert_array_equal(broadcast.jacobian["w"], [1, 2, 3])
    np.testing.assert_array_equal(broadcast.derivatives[1]["x"], [2, 2, 2])


def test_unused_variable_has_zero_derivative_and_a_note():
    result = run("w*2", "w=3", "b=1", grad=True)
    assert result.derivatives[1]["b"] == 0
    assert any("not used" in note for note in result.notes)


@pytest.mark.parametrize(
    ("text", "finite"),
    [("x/0", False), ("log(0*x)", False), ("sqrt(-1+0*x)", False), ("0**0 + 0*x", True)],
)
def test_numeric_edge_cases_are_values(text, finite):
    out = cli(text, "--var", "x=1", "--grad", "--json")
    assert out.exit_code == 0
    data = orjson.loads(out.stdout)
    assert ("value" in data["nonfinite"]) != finite
    if finite:
        assert data["value"] == 1.0


# --- generated expressions against the same computation written directly in torch ----------

UNARY = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "sin": torch.sin,
    "cos": torch.cos,
    "softplus": F.softplus,
    "silu": F.silu,
    "gelu": F.gelu,
    "erf": torch.special.erf,
    "abs": torch.abs,
    "exp": lambda t: torch.exp(torch.clamp(t, max=5)),
}
OPS = {"+": torch.add, "-": torch.sub, "*": torch.mul}


@st.composite
def expressions(draw, depth=0):
    """(text, torch function of (x, y)) pairs drawn from the grammar."""
    choice = draw(st.integers(0, 3 if depth < 3 else 1))
    if choice == 0:
        name = draw(st.sampled_from(["x", "y"]))
        return name, (lambda x, y, n=name: x if n == "x" else y)
    if choice == 1:
        value = draw(st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 3)))
        return f"({value!r})", (lambda x, y, v=value: torch.tensor(v, dtype=torch.float64))
    if choice == 2:
        name = draw(st.sampled_from(sorted(UNARY)))
        text, fn = draw(expressions(depth + 1))
        if name == "exp":
            return f"exp(clamp({text}, max=5))", (lambda x, y, f=fn: UNARY["exp"](f(x, y)))
        return f"{name}({text})", (lambda x, y, f=fn, g=UNARY[name]: g(f(x, y)))
    op = draw(st.sampled_from(sorted(OPS)))
    (lt, lf), (rt, rf) = draw(expressions(depth + 1)), draw(expressions(depth + 1))
    return f"({lt} {op} {rt})", (lambda x, y, a=lf, b=rf, o=OPS[op]: o(a(x, y), b(x, y)))


@settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(expressions(), st.booleans())
def test_expressions_agree_with_direct_torch(pair, reduce):
    text, fn = pair
    if reduce:
        text, fn = f"sum({text})", (lambda x, y, f=fn: f(x, y).sum())
    xs, ys = [0.3, -1.2, 2.5], [1.1, 0.4, -0.7]
    result = run(text, "x=" + ",".join(map(str, xs)), "y=" + ",".join(map(str, ys)), grad=True)
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(ys, dtype=torch.float64, requires_grad=True)
    value = fn(x, y)
    np.testing.assert_allclose(result.value, value.detach().numpy(), rtol=1e-12, atol=1e-12)
    if reduce:
        if value.requires_grad:
            gx, gy = torch.autograd.grad(value, (x, y), allow_unused=True, materialize_grads=True)
        else:  # a constant expression: both derivatives are 0
            gx, gy = torch.zeros(3), torch.zeros(3)
        np.testing.assert_allclose(result.derivatives[1]["x"], gx.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(result.derivatives[1]["y"], gy.numpy(), rtol=1e-10, atol=1e-12)


# --- security -----------------------------------------------------------------------------------

ATTACKS = [
    "__import__('os').system('touch F')",
    "().__class__.__bases__[0].__subclasses__()",
    "x.__class__",
    "tanh.__globals__",
    "(lambda: 1)()",
    "[c for c in ()]",
    "'{0.__class__}'.format(x)",
    'f"{x}"',
    "getattr(x,'a')",
    "eval('1')",
    "open('/etc/passwd')",
    "globals()",
    "x; import os",
    "(x:=1)",
    "x if x else x",
    "x[0]",
    "x.real",
    "torch.tanh(x)",
    "sigmoid(x)(x)",
    "sigmoid(*x)",
    "sigmoid(x, out=x)",
    "tanh",
    "9**9**9**9",
    "10**10**10",
    "(" * 200 + "x" + ")" * 200,
    "+".join(["x"] * 5000),
    "-" * 10000 + "x",
    "x" * 1_000_000,
    "1" * 5000,
    "1e999",
    "ｘ",
    "х",
    "\ud800",
    "x\x00",
    "x\u200b",
    "",
    "   ",
]


@pytest.fixture
def no_side_effects(monkeypatch, tmp_path):
    def forbidden(*args, **kwargs):
        raise AssertionError("a process was spawned")

    for name in ("system", "popen", "fork", "execv", "execve", "spawnv"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert not (tmp_path / "F").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: repr(a[:30]))
def test_attacks_are_refused_before_any_evaluation(attack, no_side_effects, monkeypatch):
    from actgrad.core.evaluator import engine

    def evaluated(*args, **kwargs):
        raise AssertionError("the expression was evaluated")

    monkeypatch.setattr(engine, "compute", evaluated)
    out = cli(attack, "--var", "x=1", "--grad")
    assert out.exit_code == 2, (attack[:40], out.stdout, out.stderr)
    assert out.stdout == ""
    assert out.stderr.startswith("actgrad: error: ")
    assert "Traceback" not in out.stderr


def test_huge_linspace_is_refused_before_allocating(no_side_effects):
    out = cli("x*2", "--var", "x=0:1:10000000000")
    assert out.exit_code == 2 and "cap" in out.stderr


def test_errors_point_at_the_column():
    """Off a terminal one line with the column in it (exit 2 promises one line); on a
    terminal the expression and a caret under the column follow."""
    out = cli("sigmoid(x) + tanh(q)", "--var", "x=1")
    lines = out.stderr.splitlines()
    assert out.exit_code == 2
    assert len(lines) == 1 and "unknown name 'q' at column 19" in lines[0]


def test_caret_on_a_terminal(monkeypatch, capsys):
    import io

    from actgrad.cli.status import status_for
    from actgrad.core.request import build_expr_request

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with pytest.raises(Exception) as caught:
        build_expr_request("sigmoid(x) + tanh(q)", ["x=1"])
    assert status_for(caught.value) == 2
    lines = terminal.getvalue().splitlines()
    assert "unknown name 'q' at column 19" in lines[0]
    assert lines[1] == "  sigmoid(x) + tanh(q)"
    assert lines[2] == "  " + " " * 18 + "^"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["x+y", "--var", "x=1,2", "--var", "y=1,2,3"], "do not broadcast"),
        (["exp(x)", "--var", "exp=1"], "is a function or constant"),
        (["x*2", "--var", "x"], "NAME=VALUES"),
        (["x*2", "--var", "x=1", "--grad", "q"], "no variable 'q'"),
        (["1+2", "--grad"], "no variables to differentiate"),
        (["sum(x)", "--var", "x=1,2", "--order", "3"], "tensor of order 4"),
        (["softmax(x)", "--var", "x=1,2", "--order", "2"], "tensor of order 3"),
        (["hardsigmoid(x)", "--var", "x=1", "--order", "2"], "no derivative of order 2"),
        (["gumbel_softmax(x)", "--var", "x=1,2"], "random"),
        (["gelu(x, approximate=fast)", "--var", "x=1"], "none, tanh"),
        (["mse_loss(x)", "--var", "x=1"], "target at column 1; e.g. mse_loss(pred, target)"),
    ],
)
def test_usage_errors(args, needle):
    out = cli(*args)
    assert out.exit_code == 2, out.stderr
    assert needle in out.stderr and out.stdout == ""


def test_losses_in_expressions():
    result = run("mse_loss(w*x, y)", "w=3", "x=1", "y=1", grad=True)
    assert (result.value, result.derivatives[1]["w"]) == (4.0, 4.0)
    ce = run("cross_entropy(z, t)", "z=2,1,0.1", "t=0", wrt=["z"])
    p = torch.softmax(torch.tensor([2, 1, 0.1], dtype=torch.float64), -1).numpy()
    np.testing.assert_allclose(ce.derivatives[1]["z"], p - [1, 0, 0], rtol=1e-14)


@pytest.mark.parametrize(
    ("expression", "args", "value"),
    [
        ("1+1", [], 2.0),
        ("1+1", ["--x", "1,2"], 2.0),
        ("exp(2)", ["--x", "1"], math.exp(2)),
        ("2*pi", ["--var", "x=1"], 2 * math.pi),
    ],
)
def test_a_constant_expression_is_a_number(expression, args, value):
    """A calculator can add: an expression that uses none of its variables has its value, and
    a variable given to it gets the note that it is unused and derivative 0."""
    out = cli(expression, *args, "--dtype", "float64", "--json")
    assert out.exit_code == 0, out.stderr
    data = orjson.loads(out.stdout)
    assert data["value"] == pytest.approx(value, rel=1e-15)
    if args:
        assert any("not used by the expression" in n for n in data["notes"])
    graded = cli(expression, "--x", "1,2", "--grad", "--json")
    assert graded.exit_code == 0, graded.stderr
    assert orjson.loads(graded.stdout)["grad"]["x"] == [0.0, 0.0]
