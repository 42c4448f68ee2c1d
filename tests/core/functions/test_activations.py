"""Every registry entry against independent float64 references, gradcheck and its kinks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from actgrad.core import machine
from actgrad.core.accuracy import generated_accuracy
from actgrad.core.evaluator.engine import apply
from actgrad.core.functions import registry
from conftest import GRID, cases, run
from reference import ALONG_DIM, POINTWISE, gumbel_softmax

SPECS = [s for s in registry.specs() if s.kind == "activation"]
POINTWISE_SPECS = [s for s in SPECS if s.pointwise]
DIM_SPECS = [s for s in SPECS if not s.pointwise]
F64 = {"rtol": 1e-7, "atol": 1e-7}  # torch.testing's default tolerances for float64


def _cases(specs):
    return [
        pytest.param(spec, params, id=f"{spec.name}-{i}")
        for spec in specs
        for i, params in enumerate(cases(spec))
    ]


def _kink_points(spec, params) -> list[float]:
    return [k.at for k in spec.kinks(spec_params(spec, params))]


def spec_params(spec, params) -> dict:
    return {**spec.defaults(), **params}


def test_every_entry_is_a_torch_function_with_its_exact_form():
    """Each activation is torch.nn.functional's own; each elementwise one has its exact form
    (the registry's names are the test references' keys: test_every_entry_has_a_reference)."""
    for spec in SPECS:
        assert callable(getattr(F, spec.name)), spec.name
        if spec.pointwise:
            assert spec.exact is not None, spec.name


def test_every_entry_has_a_reference():
    assert {s.name for s in POINTWISE_SPECS} == set(POINTWISE)
    assert {s.name for s in DIM_SPECS} == {*ALONG_DIM, "gumbel_softmax"}


@pytest.mark.parametrize(("spec", "params"), _cases(POINTWISE_SPECS))
def test_pointwise_values_match_reference(spec, params):
    value_ref, _ = POINTWISE[spec.name]
    x = np.array(GRID + _kink_points(spec, params))
    result = run(spec.name, x, params)
    expected = value_ref(x, **params)
    np.testing.assert_allclose(result.value, expected, equal_nan=True, **F64)


@pytest.mark.parametrize(("spec", "params"), _cases(POINTWISE_SPECS))
def test_reference_derivative_agrees_with_autograd(spec, params):
    """The derivative text of each entry is backed by a reference derivative."""
    _, deriv_ref = POINTWISE[spec.name]
    kinks = _kink_points(spec, params)
    x = np.array([v for v in GRID if v not in kinks])
    result = run(spec.name, x, params, grad=True)
    expected = deriv_ref(x, **params)
    finite = np.isfinite(x)
    np.testing.assert_allclose(result.derivatives[1]["x"][finite], expected[finite], **F64)
    # at ±inf torch's formula may give nan (inf·0), but a finite number must be the limit
    infinite = np.isinf(x)
    limits = result.derivatives[1]["x"][infinite]
    ok = np.isnan(limits) | np.isclose(limits, expected[infinite])
    assert ok.all(), (x[infinite], limits, expected[infinite])
    # at nan there is no derivative: whatever torch returns, the input is flagged
    nan_at = int(np.flatnonzero(np.isnan(x))[0])
    assert f"inputs.x[{nan_at}]" in result.nonfinite()
    assert any("nan" in note and "no meaning" in note for note in result.notes)


def _smooth_points(spec, params, count=12, seed=0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, size=count)
    for at in _kink_points(spec, params):
        x = x[np.abs(x - at) > 1e-3]
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize(("spec", "params"), _cases(POINTWISE_SPECS))
def test_pointwise_gradcheck(spec, params):
    full = spec_params(spec, params)
    x = _smooth_points(spec, params)
    fn = lambda t: apply(spec, t, full)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    if spec.max_order >= 2:
        assert torch.autograd.gradgradcheck(fn, (x,))
    else:  # the documented limit is torch's, not ours
        with pytest.raises(RuntimeError, match="not implemented"):
            torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize(("spec", "params"), _cases(POINTWISE_SPECS))
def test_kinks_are_exact(spec, params):
    full = spec_params(spec, params)
    _, deriv_ref = POINTWISE[spec.name]
    value_ref, _ = POINTWISE[spec.name]
    for kink in spec.kinks(full):
        for dtype in ("float64", "float32"):
            result = run(spec.name, kink.at, params, order=kink.order, dtype=dtype)
            want = np.asarray(kink.torch, dtype=dtype)  # the float64 convention, rounded
            got = result.derivatives[kink.order]["x"]
            assert got == want and np.signbit(got) == np.signbit(want), (kink, dtype)
            assert any("convention" in n and "on this kink" in n for n in result.notes)
            if kink.order == 2:  # a second-derivative kink is noted only when f'' is asked
                first = run(spec.name, kink.at, params, grad=True, dtype=dtype)
                assert not any(f"{spec.name}''" in n for n in first.notes)
        eps = 1e-7
        if kink.order == 1:
            left = deriv_ref(np.array(kink.at - eps), **params)
            right = deriv_ref(np.array(kink.at + eps), **params)
        else:  # one-sided differences of the reference derivative
            h = 1e-5
            left = (
                deriv_ref(np.array(kink.at - h), **params)
                - deriv_ref(np.array(kink.at - 2 * h), **params)
            ) / h
            right = (
                deriv_ref(np.array(kink.at + 2 * h), **params)
                - deriv_ref(np.array(kink.at + h), **params)
            ) / h
        assert left == pytest.approx(kink.left, rel=1e-4, abs=1e-4), kink
        assert right == pytest.approx(kink.right, rel=1e-4, abs=1e-4), kink
        jump = (
            abs(
                value_ref(np.array(kink.at + eps), **params)
                - value_ref(np.array(kink.at - eps), **params)
            )
            > 1e-3
        )
        assert jump == kink.jump, kink


def test_smooth_points_have_no_kink_note():
    result = run("relu", [-1.0, 2.0], grad=True)
    assert not result.notes


def _rows(seed=0, shape=(3, 4)) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=shape) * 2
    return np.vstack([rows, [0.1, 0.5, 0.9, -30.0], [501.0, -501.0, 1e-3, 0.0]])


@pytest.mark.parametrize(
    ("spec", "params"), [p for p in _cases(DIM_SPECS) if p.values[0].name != "gumbel_softmax"]
)
def test_dim_values_and_jacobians_match_reference(spec, params):
    value_ref, jac_ref = ALONG_DIM[spec.name]
    x = _rows()
    result = run(spec.name, x, params, grad=True)
    expected_value = np.stack([value_ref(row, **params) for row in x])
    expected_jac = np.stack([jac_ref(row, **params) for row in x])
    np.testing.assert_allclose(result.value, expected_value, **F64)
    np.testing.assert_allclose(result.jacobian["x"], expected_jac, **F64)
    # along dim 0 the slices are the columns
    columns = run(spec.name, x.T, {**params, "dim": 0}, grad=True)
    np.testing.assert_allclose(columns.value, expected_value.T, **F64)
    np.testing.assert_allclose(columns.jacobian["x"], expected_jac, **F64)


@pytest.mark.parametrize(
    ("spec", "params"), [p for p in _cases(DIM_SPECS) if p.values[0].name != "gumbel_softmax"]
)
def test_dim_index_gives_jacobian_row_and_hessian(spec, params):
    x = np.array([0.1, 0.5, 0.9, -0.7])
    _, jac_ref = ALONG_DIM[spec.name]
    result = run(spec.name, x, params, order=2, index=1)
    np.testing.assert_allclose(result.derivatives[1]["x"], jac_ref(x, **params)[1], **F64)
    # the Hessian row j is the derivative of the gradient's j-th entry: check by differences
    h = 1e-5
    for j in range(len(x)):
        step = np.eye(len(x))[j] * h
        up = jac_ref(x + step, **params)[1]
        down = jac_ref(x - step, **params)[1]
        np.testing.assert_allclose(
            result.derivatives[2]["x"][j], (up - down) / (2 * h), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize(("spec", "params"), _cases(DIM_SPECS))
def test_dim_gradcheck(spec, params):
    full = spec_params(spec, params)
    rows = np.random.default_rng(1).normal(size=(3, 4)) * 2  # no zeros: |x| kinks there
    x = torch.tensor(rows, dtype=torch.float64, requires_grad=True)

    def fn(t):
        if spec.stochastic:
            torch.manual_seed(0)
        return apply(spec, t, full)

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("hard", [False, True])
def test_gumbel_softmax_matches_reference_with_the_same_noise(hard):
    x = np.array([1.0, 2.0, 3.0, -0.5])
    result = run("gumbel_softmax", x, {"tau": 0.5, "hard": hard}, grad=True, seed=7)
    torch.manual_seed(7)
    gumbels = -torch.empty(4, dtype=torch.float64).exponential_().log().numpy()
    value, jac = gumbel_softmax(x, gumbels, tau=0.5, hard=hard)
    np.testing.assert_allclose(result.value, value, **F64)
    np.testing.assert_allclose(result.jacobian["x"], jac, **F64)
    assert result.params["seed"] == 7
    again = run("gumbel_softmax", x, {"tau": 0.5, "hard": hard}, grad=True, seed=7)
    np.testing.assert_array_equal(again.value, result.value)


def test_rrelu_training_is_random_within_bounds_and_reproducible():
    x = -np.linspace(1, 5, 50)
    first = run("rrelu", x, {"training": True, "lower": 0.1, "upper": 0.3}, grad=True, seed=3)
    slopes = first.value / x
    assert ((slopes >= 0.1) & (slopes <= 0.3)).all()
    assert len(np.unique(slopes.round(12))) > 10
    np.testing.assert_allclose(first.derivatives[1]["x"], slopes, **F64)
    again = run("rrelu", x, {"training": True, "lower": 0.1, "upper": 0.3}, grad=True, seed=3)
    np.testing.assert_array_equal(again.value, first.value)


@pytest.mark.parametrize(
    "spec", [s for s in POINTWISE_SPECS if s.max_order >= 2], ids=lambda s: s.name
)
def test_higher_orders_match_finite_differences(spec):
    params = cases(spec)[0]
    _, deriv_ref = POINTWISE[spec.name]
    x = _smooth_points(spec, params, count=6, seed=2).detach().numpy()
    result = run(spec.name, x, params, order=2)
    h = 1e-5
    numeric = (deriv_ref(x + h, **params) - deriv_ref(x - h, **params)) / (2 * h)
    np.testing.assert_allclose(result.derivatives[2]["x"], numeric, rtol=1e-5, atol=1e-6)


def test_seed_examples():
    sigmoid = run("sigmoid", 0.5, grad=True)
    s = 1 / (1 + math.exp(-0.5))
    assert sigmoid.value == pytest.approx(s, rel=1e-15)
    assert sigmoid.derivatives[1]["x"] == pytest.approx(s * (1 - s), rel=1e-15)
    x = np.linspace(-10, 10, 1000)
    tanh = run("tanh", "-10:10:1000" and x)
    twice = run("sigmoid", 2 * x)
    np.testing.assert_allclose(tanh.value, 2 * twice.value - 1, atol=1e-15)
    soft = run("softmax", [0.1, 0.5, 0.9], grad=True, index=1)
    p = soft.value
    np.testing.assert_allclose(soft.derivatives[1]["x"], p[1] * (np.eye(3)[1] - p), rtol=1e-15)


DTYPE_GRID = [
    0.0,
    0.001,
    -0.001,
    0.25,
    -0.25,
    0.5,
    1.0,
    -1.0,
    math.pi / 2,
    -math.pi / 2,
    3.3,
    -3.3,
    10.0,
    -10.0,
    501.0,
    -501.0,
]
TOLERANCES = {  # torch.testing.assert_close's defaults (rtol, atol)
    "float32": (1.3e-6, 1e-5),
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
}


def _low_vs_high(spec, dtype) -> list[str]:
    """What disagrees between ``dtype`` and float64 on the same (rounded) inputs."""
    params = cases(spec)[0]
    low_x = torch.tensor(DTYPE_GRID, dtype=getattr(torch, dtype)).double().numpy()
    options = {"grad": True} if spec.pointwise else {"grad": True, "index": 1}
    extra = {"seed": 0} if spec.stochastic else {}
    low = run(spec.name, low_x, params, dtype=dtype, **options, **extra)
    high = run(spec.name, low_x, params, dtype="float64", **options, **extra)
    rtol, atol = TOLERANCES[dtype]
    bad = []
    for what, a, b in (
        ("value", low.value, high.value),
        ("grad", low.derivatives[1]["x"], high.derivatives[1]["x"]),
    ):
        if not np.allclose(a.astype(np.float64), b, rtol=rtol, atol=atol, equal_nan=True):
            bad.append(what)
    return bad


@pytest.mark.parametrize("dtype", list(TOLERANCES))
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_low_precision_agrees_with_float64_or_is_documented(spec, dtype):
    bad = _low_vs_high(spec, dtype)
    if dtype in spec.dtype_notes:
        assert bad, f"{spec.name} has a stale {dtype} note: it now agrees with float64"
        x = 1.0 if spec.pointwise else [1.0, 2.0]
        result = run(spec.name, x, cases(spec)[0], dtype=dtype, grad=True)
        assert spec.dtype_notes[dtype] in result.notes
        plain = run(spec.name, x, cases(spec)[0], dtype=dtype)  # no derivative asked
        assert (spec.dtype_notes[dtype] in plain.notes) == (not spec.dtype_notes_need_grad)
        return
    measured = generated_accuracy.REGIONS.get(spec.name, {}).get(dtype, {})
    if not bad:
        return
    # the measured report (docs/accuracy.md) documents it, and a result inside one of its
    # regions says so (on another machine, from the live reference)
    assert measured, f"{spec.name} in {dtype}: {bad} differ from float64, and no region is known"
    low, high, _, _ = next(iter(measured.get("grad") or measured["value"]))
    inside = [x for x in DTYPE_GRID if low <= x <= high]
    if spec.pointwise and inside and machine.same(generated_accuracy.MACHINE):  # elsewhere: live
        result = run(spec.name, inside[0], cases(spec)[0], dtype=dtype, grad=True)
        assert any(f"torch's {spec.name}" in n for n in result.notes), result.notes


def test_fourth_order_matches_closed_form():
    x = np.array([-2.0, -0.3, 0.0, 0.7, 3.0])
    result = run("sigmoid", x, order=4)
    s = 1 / (1 + np.exp(-x))
    d1 = s * (1 - s)
    expected = {
        1: d1,
        2: d1 * (1 - 2 * s),
        3: d1 * (1 - 6 * s + 6 * s**2),
        4: d1 * (1 - 2 * s) * (1 - 12 * s + 12 * s**2),
    }
    for k, ref in expected.items():
        np.testing.assert_allclose(result.derivatives[k]["x"], ref, **F64)
