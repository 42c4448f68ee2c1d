"""The fast tier of the truth (core/exact/fast.py) against the arbitrary-precision tier: where
the fast tier decides a number, the exact tier's true value lies within its bounds, rounds
alike in the dtype, gives torch the same error in ulps (to the fast tier's precision) and the
same flags. Inputs: every exponent of the dtype at random, a grid, the cancellations near 0,
subnormals, the largest numbers, and every kink with its neighbours."""

from __future__ import annotations

import json
import math
import re

import mpmath
import numpy as np
import pytest
import torch
from actgrad.core import evaluate
from actgrad.core.accuracy.check import flag_masks
from actgrad.core.accuracy.ulps import lost, ulp_errors
from actgrad.core.errors import BadParameter
from actgrad.core.exact import fast, truth
from actgrad.core.exact.reference import Truth
from actgrad.core.functions import registry
from actgrad.core.request import build_expr_request, build_request

DTYPES = ("float32", "bfloat16", "float16")
PARAMS = {"threshold": {"threshold": 0.1, "value": 5.0}, "softplus": {"beta": 3.0}}
FUNCTIONS = [
    s.name for s in registry.specs() if s.elementwise and s.exact is not None and not s.stochastic
]
LIMIT = 64.0  # the checks' flags: more than 1 ulp, and more than 64
KINKS = (0.0, 0.1, 0.3, 0.5, 1.0, 3.0, 6.0, 20.0 / 3)


def inputs(dtype: str, n: int, seed: int) -> list[float]:
    """Random bit patterns (every exponent), a grid, tiny and huge numbers, kinks ± a step."""
    t = getattr(torch, dtype)
    info = torch.finfo(t)
    g = torch.Generator().manual_seed(seed)
    bits = {2: torch.int16, 4: torch.int32}[info.bits // 8]
    raw = torch.randint(-(1 << (info.bits - 1)), 1 << (info.bits - 1), (n,), generator=g)
    rnd = raw.to(bits).view(t).double()
    rnd = rnd[torch.isfinite(rnd)].tolist()
    grid = torch.linspace(-40, 40, n // 2, dtype=t).double().tolist()
    tiny = [s * 2.0**-k for k in range(1, 150, 3) for s in (1, -1)]
    huge = [s * float(info.max) / d for d in (1, 3, 1e3) for s in (1, -1)]
    near = []
    for k in KINKS:
        for s in (1, -1):
            v = torch.tensor([s * k], dtype=t)
            step = torch.tensor([math.inf], dtype=t)
            near += [v.item(), torch.nextafter(v, step).item(), torch.nextafter(v, -step).item()]
    values = torch.tensor(rnd + grid + tiny + huge + near, dtype=torch.float64).to(t).double()
    return values.tolist()


def _slow(result, program) -> dict[str, Truth]:
    saved = truth._fast
    truth._fast = lambda *args: None
    try:
        return truth.truths(result, program, limit=None, seconds=None)[0]
    finally:
        truth._fast = saved


def _on_points(fn, x: np.ndarray, order: int = 0):
    """``fn`` of the fast tier's bounds at the points ``x`` (a series seeded through
    ``order``, or the bare bounds at order 0), within one evaluation's branch decisions."""
    from actgrad.core.exact import taylor
    from actgrad.core.exact.interval import mpf

    fast.PATHS[0] = fast.Paths([], len(x))
    try:
        b = fast.Bounds(x, x)
        return fn(taylor.Taylor([b, mpf(1), *[mpf(0)] * (order - 1)]) if order else b)
    finally:
        fast.PATHS[0] = None


def _float32_sample(seed: int, n: int = 3000) -> list[float]:
    """Finite float32 numbers from random bit patterns (every exponent alike)."""
    bits = np.random.default_rng(seed).integers(0, 2**32, n, dtype=np.uint64)
    sample = bits.astype(np.uint32).view(np.float32).astype(np.float64)
    return sample[np.isfinite(sample)].tolist()


def compare(name: str, dtype: str, order: int, xs: list[float]) -> tuple[int, int]:
    """(points the fast tier decided, points) for every output of a function or (a name
    with a space or a parenthesis) an expression of x; asserts the exact tier agrees
    wherever the fast tier decided."""
    text = ",".join(repr(v) for v in xs)
    if "(" in name or " " in name:
        req = build_expr_request(name, x=[text], order=order, dtype=dtype, max_elements=None)
    else:
        req = build_request(
            name, {"x": [text]}, PARAMS.get(name, {}), order=order, dtype=dtype, max_elements=None
        )
    result = evaluate(req)
    fields = {"value": result.value}
    for k in range(1, order + 1):
        fields[truth._key(k, "x")] = result.derivatives[k]["x"]
    points = truth.Points(req.program, dtype, [("x", order)] if order else [])
    quick = truth._fast(points, result, (1.0, LIMIT))
    assert quick is not None, f"{name} has no fast tier"
    values, where = quick
    slow = _slow(result, req.program)
    x = np.asarray(xs)
    for at, (path, got) in enumerate(fields.items()):
        exact = slow[path]
        decided = where & exact.settled.reshape(-1)
        f = Truth(values[at], np.zeros_like(values[at]))
        s = exact.flat()
        g = np.asarray(got, dtype=np.float64).reshape(-1)
        ef, tf = ulp_errors(g, f, dtype)
        es, ts = ulp_errors(g, s, dtype)
        same = (tf == ts) | (np.isnan(tf) & np.isnan(ts))
        assert same[decided].all(), (path, x[decided & ~same][:5])
        close = np.abs(ef - es) <= 2.0**-17 * np.maximum(1.0, es)
        close |= (ef == es) | (np.isnan(ef) & np.isnan(es))
        assert close[decided].all(), (path, x[decided & ~close][:5], ef[decided & ~close][:5])
        for limit in (1.0, LIMIT):
            for flag, mask in flag_masks(g, f, dtype, limit)[0].items():
                other = flag_masks(g, s, dtype, limit)[0][flag]
                wrong = decided & (mask != other)
                assert not wrong.any(), (path, flag, limit, x[wrong][:5])
    return int(where.sum()), len(xs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_fast_tier_agrees_with_the_exact_tier_wherever_it_decides(name, dtype):
    xs = inputs(dtype, 160, seed=len(name))
    decided, total = compare(name, dtype, 1, xs)
    assert decided >= 0.6 * total, f"{name} in {dtype}: the fast tier decided {decided}/{total}"


@pytest.mark.parametrize("order", [0, 2])
@pytest.mark.parametrize(
    "name", ["sigmoid", "tanh", "gelu", "silu", "mish", "logsigmoid", "elu", "softplus"]
)
def test_the_fast_tier_at_orders_0_and_2(name, order):
    compare(name, "float32", order, inputs("float32", 200, seed=order))


@pytest.mark.parametrize("sign", [1, -1])
def test_gelu_on_points_of_one_sign(sign):
    """Where every point is ≥ 0 (erfc(−x/√2) as 1 + erf(x/√2)) or < 0: the same agreement."""
    xs = [v for v in inputs("float32", 1500, 8) if v * sign > 0]
    for order in (0, 1, 2, 3):
        decided, total = compare("gelu", "float32", order, xs)
        assert decided > total * 0.9


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_second_derivative_across_its_switch(dtype):
    """softplus″ splices two branches where torch's forward and double backward decide the
    switch in different arithmetic (β·x against the threshold): the fast tier follows both."""
    xs = np.linspace(6.0, 7.5, 97).tolist()  # β = 3: the switch at 20/3
    decided, total = compare("softplus", dtype, 2, xs)
    assert decided >= 0.9 * total


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_has_a_fast_tier_at_every_order_and_dtype(name):
    """No function, order or dtype sends all its points to the slow tier (an operation the
    fast tier lacks would: every float32 input would then take days)."""
    for dtype in (*DTYPES, "float64"):
        xs = inputs("float32" if dtype == "float64" else dtype, 120, seed=7)
        for order in (0, 1, 2):
            try:
                req = build_request(
                    name,
                    {"x": [",".join(map(repr, xs))]},
                    PARAMS.get(name, {}),
                    order=order,
                    dtype=dtype,
                    max_elements=None,
                )
            except BadParameter as refused:  # torch has no such derivative
                assert "no derivative of order" in str(refused)
                continue
            result = evaluate(req)
            points = truth.Points(req.program, dtype, [("x", order)] if order else [])
            quick = truth._fast(points, result, (1.0, LIMIT))
            assert quick is not None, (name, dtype, order)
            if dtype != "float64":  # (float64 needs an exact point)
                assert quick[1].mean() >= 0.5, (name, dtype, order, quick[1].mean())


CANCELLATIONS = (
    "log1p(x) - x",
    "exp(x) - 1 - x",
    "(x + 1) - x",
    "1 - tanh(x)",
    "sigmoid(x) - 1",
    "logsigmoid(x) - x",
    "x * sigmoid(x) - x",
    "sqrt(x + 1) - 1",
    "x ** 1.5 - x",
)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("text", CANCELLATIONS)
def test_cancellations_are_decided_right_or_left_to_the_exact_tier(text, dtype):
    """The cancellation families: where float64 loses every digit the bounds are wide and
    the exact tier decides; where the fast tier decides, it agrees."""
    xs = inputs(dtype, 120, seed=len(text)) + [2.0**-k for k in range(20, 60)]
    xs = torch.tensor(xs, dtype=getattr(torch, dtype)).double().tolist()
    compare(text, dtype, 1, xs)


def test_bounds_hold_through_cancellation_and_tails():
    """Where float64 cannot tell the answer (1 − tanh at 20, x − tanh x near 0, σ(40)), the
    bounds are wide or the point is left to the exact tier: never a confident wrong value."""
    xs = np.array([20.0, 1e-6, -1e-6, 40.0, -40.0, 700.0, -745.0, 1e-300])
    req = build_request(
        "tanhshrink", {"x": [",".join(map(repr, xs.tolist()))]}, {}, dtype="float64"
    )
    points = truth.Points(req.program, "float64", [])
    los, his, ok = truth.fast_bounds(points, "x", xs)
    with mpmath.workdps(60):
        for x, lo, hi in zip(xs[ok], los[0][ok], his[0][ok], strict=True):
            true = mpmath.mpf(x) - mpmath.tanh(mpmath.mpf(x))
            assert lo <= true <= hi, (x, lo, hi, true)
    got = evaluate(req).value.reshape(-1)
    assert not fast.decided(los[0], his[0], got, "float64")[1:3].any()  # x³/3 cancels


def test_elementary_functions_are_within_half_their_widening_here():
    """The widening is twice each float64 function's documented error bound (torch's: MKL's
    or SLEEF's, 1 ulp; erfc 1.5): measured on this machine against mpmath, each within half
    of it, at 61,000 points each: the bulk, small arguments (expm1, log1p, tanh near 0, log
    near 1), the overflow and underflow edges, and erfc's subnormal tail. Also through a
    single point's call, which torch computes outside its vector loop."""
    rng = np.random.default_rng(7)
    xs = np.concatenate(
        [
            rng.uniform(-30, 30, 20000),
            rng.uniform(-3, 3, 20000),
            rng.uniform(-1e-3, 1e-3, 5000),
            10 ** rng.uniform(-300, 0, 5000) * rng.choice([-1.0, 1.0], 5000),
            rng.uniform(-745, 709, 5000),
        ]
    )
    near_one = 1 + rng.uniform(-1e-3, 1e-3, 2000)
    cases = [
        (fast._EXP, mpmath.exp, xs, fast.WIDEN),
        (fast._EXPM1, mpmath.expm1, xs, fast.WIDEN),
        (fast._TANH, mpmath.tanh, xs, fast.WIDEN),
        (fast._LOG, mpmath.log, np.concatenate([np.abs(xs) + 1e-3, near_one]), fast.WIDEN),
        (fast._LOG1P, mpmath.log1p, np.concatenate([np.abs(xs) - 0.999, xs[xs > -1]]), fast.WIDEN),
        (fast._ERF, mpmath.erf, xs, fast.WIDEN),
        (
            fast._ERFC,
            mpmath.erfc,
            np.concatenate([xs, rng.uniform(20, 27.3, 2000)]),
            fast.WIDEN_ERFC,
        ),
    ]
    with mpmath.workdps(40):
        for ours, theirs, arg, widen in cases:
            got = np.asarray(ours(arg), dtype=np.float64)
            assert ours(float(arg[1])) == got[1]  # one point: the same number
            for x, v in zip(arg.tolist(), got.tolist(), strict=True):
                t = theirs(x)
                if abs(t) > fast.BIG:  # past float64: an infinite end is bounded elsewhere
                    assert v == math.copysign(math.inf, t), (ours, x, v)
                    continue
                bound = abs(t) * widen / 2 + fast.TINY
                assert abs(v - t) <= bound, (ours, x, v, t)


@pytest.mark.parametrize("sign", [1, -1])
def test_a_known_sign_widens_as_much_and_keeps_it(sign):
    """exp, erfc, and tanh, erf, expm1 and log1p of an argument of known sign widen in fewer
    operations: the bounds hold the truth (mpmath) and are at least as wide as the widening
    of an unknown sign, and the result keeps its sign (exp and erfc: ≥ 0, the others the
    argument's), across the bulk, small arguments, underflow and overflow."""
    rng = np.random.default_rng(8)
    mags = np.concatenate(
        [rng.uniform(0, 30, 3000), 10 ** rng.uniform(-320, 0, 1000), rng.uniform(700, 745, 200)]
    )
    xs = sign * mags
    cases = [
        (fast.exp, mpmath.exp, 1),
        (fast.erfc, mpmath.erfc, 1),
        (fast.tanh, mpmath.tanh, sign),
        (fast.erf, mpmath.erf, sign),
        (fast.expm1, mpmath.expm1, sign),
        (fast.log1p, mpmath.log1p, sign),
    ]
    with mpmath.workdps(40), np.errstate(all="ignore"):
        for ours, theirs, keeps in cases:
            arg = xs[xs > -0.99] if ours is fast.log1p else xs
            fast.PATHS[0] = fast.Paths([], len(arg))
            try:
                quick = ours(fast.Bounds(arg, arg, sign))
                plain = ours(fast.Bounds(arg, arg))
            finally:
                fast.PATHS[0] = None
            assert quick.sign == keeps
            assert (quick.lo <= plain.lo).all() and (quick.hi >= plain.hi).all()
            assert (np.sign(quick.lo) != -keeps).all() and (np.sign(quick.hi) != -keeps).all()
            ends = zip(arg.tolist(), quick.lo.tolist(), quick.hi.tolist(), strict=True)
            for x, lo, hi in ends:
                t = theirs(x)
                assert lo <= t <= hi or (abs(t) > fast.BIG and abs(lo or hi) == fast.BIG)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "sech2"])
def test_derivatives_near_zero_and_in_the_tails_stay_a_few_ulps_wide(name):
    """tanh's, σ's and sech²'s series as products (sech²′ = −2·tanh·sech², σ′ = sech²(u/2)/4),
    not quotients whose terms cancel near 0: through order 4, from 10⁻³⁰⁰ to 30 of both
    signs, the bounds hold mpmath's derivatives and, up to tanh‴ (whose roots cancel by
    right) and near 0 at every order, are at most 2⁻⁴⁴ of them wide (the quotient's σ″ at
    10⁻⁴ was 2⁻³⁴, tanh″ at 10⁻⁸ wider than a float32 ulp), so the fast tier decides there,
    where a float32 sweep has half its inputs."""
    from actgrad.core.exact import taylor

    rng = np.random.default_rng(9)
    mags = np.concatenate([10 ** rng.uniform(-300, -2, 300), rng.uniform(0.01, 30, 100)])
    x = np.concatenate([mags, -mags])

    def tanh(v: mpmath.mpf, k: int) -> mpmath.mpf:  # closed forms (mp.diff fails at 10⁻²¹⁵)
        t = mpmath.tanh(v)
        s = 1 / mpmath.cosh(v) ** 2
        return [t, s, -2 * t * s, 4 * t * t * s - 2 * s * s, 16 * t * s * s - 8 * t**3 * s,
                16 * s**3 - 88 * t * t * s * s + 16 * t**4 * s][k]  # fmt: skip

    def exact(v: mpmath.mpf, k: int) -> mpmath.mpf:
        if name == "sech2":
            return tanh(v, k + 1)
        if name == "sigmoid":  # (1 + tanh(v/2))/2
            return 1 / (1 + mpmath.exp(-v)) if k == 0 else tanh(v / 2, k) / 2 ** (k + 1)
        return tanh(v, k)

    got = _on_points(lambda u: getattr(taylor, name)(u).derivatives(), x, 4)
    with mpmath.workdps(60):
        for k, b in enumerate(got):
            for v, lo, hi in zip(x.tolist(), b.lo.tolist(), b.hi.tolist(), strict=True):
                t = exact(mpmath.mpf(v), k)
                assert lo <= t <= hi, (name, k, v)
                j = k + (name == "sech2")  # tanh's order: past 2 its derivatives have
                if abs(t) > 1e-290 and (j <= 2 or abs(v) < 0.01):  # roots, and cancel by
                    assert hi - lo <= abs(t) * 2.0**-44, (name, k, v)  # rights there


def test_softsign_derivatives_stay_tight_however_large_the_input():
    """softsign′ = 1/(1 + |x|)² and up as series of 1 + |x| itself: the quotient x/(1 + x)'s
    own series took 1 − x/(1 + x), which cancels as |x| grows (from 2⁵³ on its bounds reached
    0, and a quarter of the float32 inputs went to the exact tier). Through order 3, from
    10⁻³⁰ to float32's largest, both signs: the bounds hold mpmath's closed forms
    (−1)^(k+1)·k!/(1 + x)^(k+1) and k!/(1 − x)^(k+1), at most 2⁻⁴⁴ of them wide; and the
    fast tier decides every float32 input of a random sample at orders 0 to 2, as the exact
    tier does."""
    from actgrad.core.exact import reference

    rng = np.random.default_rng(11)
    mags = 10 ** rng.uniform(-30, 38.5, 400)
    x = np.concatenate([mags, -mags])

    def exact(v: mpmath.mpf, k: int) -> mpmath.mpf:
        if k == 0:
            return v / (1 + abs(v))
        if v > 0:
            return (-1) ** (k + 1) * mpmath.factorial(k) / (1 + v) ** (k + 1)
        return mpmath.factorial(k) / (1 - v) ** (k + 1)

    for side in (1, -1):
        xs = x[x * side > 0]
        got = _on_points(lambda u: reference.softsign(u).derivatives(), xs, 3)
        with mpmath.workdps(60):
            for k, b in enumerate(got):
                for v, lo, hi in zip(xs.tolist(), b.lo.tolist(), b.hi.tolist(), strict=True):
                    t = exact(mpmath.mpf(v), k)
                    assert lo <= t <= hi, (k, v)
                    assert hi - lo <= abs(t) * 2.0**-44, (k, v)
    sample = _float32_sample(12)
    for order in (0, 1, 2):
        decided, total = compare("softsign", "float32", order, sample)
        assert decided == total, (order, decided, total)


def test_tanhshrink_near_zero_takes_its_series_and_stays_tight():
    """x − tanh x cancels near 0 (a third of the float32 inputs went to the exact tier): the
    fast tier's series through x¹⁵ where |x| ≤ 1/8. From 10⁻¹⁰⁰ to 30, both signs, and at
    the switch: the bounds hold mpmath's x − tanh x, at most 2⁻⁴² of it wide; the fast tier
    decides 99% of a random float32 sample at orders 0 to 2, as the exact tier does."""
    rng = np.random.default_rng(13)
    mags = np.concatenate([10 ** rng.uniform(-100, 1.5, 600), [fast.SMALL_TANHSHRINK]])
    mags = np.concatenate([mags, np.nextafter(mags[-1:], 1), np.nextafter(mags[-1:], 0)])
    x = np.concatenate([mags, -mags])
    b = _on_points(fast.tanhshrink, x)
    with mpmath.workdps(260):  # (x³/3 at 10⁻¹⁰⁰: 200 digits below x)
        for v, lo, hi in zip(x.tolist(), b.lo.tolist(), b.hi.tolist(), strict=True):
            t = mpmath.mpf(v) - mpmath.tanh(mpmath.mpf(v))
            assert lo <= t <= hi, v
            assert hi - lo <= abs(t) * 2.0**-42, v
    sample = _float32_sample(12)
    for order in (0, 1, 2):
        decided, total = compare("tanhshrink", "float32", order, sample)
        assert decided >= 0.99 * total, (order, decided, total)


@pytest.mark.parametrize("name", ["gelu", "silu", "mish", "softplus", "elu", "tanh"])
def test_terms_with_a_zero_seed_are_left_out_and_the_bounds_still_hold(name, monkeypatch):
    """The fast tier's series leave out a term whose factor is an exact 0 of the seeds
    (taylor._live): through order 3 the bounds are NaN where the whole sums' are, decide
    the same points, and meet the exact tier's interval of each value and derivative (which
    holds the truth, a few ulps wide) over the range, the tails and subnormal values."""
    from actgrad.core.exact import taylor
    from actgrad.core.program import of_function

    x = np.concatenate([np.linspace(-40, 40, 161), [0.0, 1e-300, 3e38, -3e38, 800, -800]])
    spec = registry.get(name)
    points = truth.Points(of_function(spec, {"x": ()}, {}), "float32", [("x", 3)])
    left_out = truth.fast_bounds(points, "x", x)
    with monkeypatch.context() as m:
        m.setattr(taylor, "_live", lambda a, b: True)
        whole = truth.fast_bounds(points, "x", x)
    assert left_out is not None and whole is not None
    for k in range(4):
        assert np.array_equal(np.isnan(left_out[0][k]), np.isnan(whole[0][k]))
    assert np.array_equal(left_out[2], whole[2])
    for i, v in enumerate(x.tolist()):
        exact, _ = truth.point(spec, {}, v, 3, "float32")
        for k, interval in enumerate(exact):
            lo, hi = left_out[0][k][i], left_out[1][k][i]
            if math.isnan(lo) or interval.a == mpmath.libmp.fnan:
                continue
            a, b = fast.lift(interval)
            assert lo <= b and hi >= a, (name, v, k, lo, hi, a, b)


def test_branches_split_the_points_and_ties_go_to_the_exact_tier():
    xs = np.array([-2.0, -0.0, 0.0, 1.5, 3.0, 2.0, -3.0, 0.25])
    req = build_request("hardswish", {"x": [",".join(map(repr, xs.tolist()))]}, {}, grad=True)
    points = truth.Points(req.program, "float32", [("x", 1)])
    los, his, ok = truth.fast_bounds(points, "x", xs)
    assert not ok[[4, 6]].any()  # ±3, its kinks, met exactly: torch's side is the exact tier's
    assert ok[[0, 1, 2, 3, 5, 7]].all()
    assert los[1][3] <= (2 * 1.5 + 3) / 6 <= his[1][3]


def test_exact_says_below_any_float_for_e_to_the_minus_huge():
    """softplus(−1e300) = log(1 + e^−1e300) > 0, below any float: its bound, not 0."""
    from actgrad.cli.app import app
    from typer.testing import CliRunner

    done = CliRunner().invoke(
        app, ["softplus", "--x", "-1e300,-30", "--dtype", "float64", "--exact", "--json"]
    )
    assert done.exit_code == 0, done.output
    tiny, plain = json.loads(done.stdout)["exact"]["value"]
    assert tiny.startswith("< ") and float(mpmath.mpf(tiny[2:])) == 0.0
    with mpmath.workdps(50):
        bound = mpmath.mpf(tiny[2:])
        assert 0 < mpmath.exp(-(mpmath.mpf(10) ** 300)) < bound < mpmath.mpf(10) ** -300000000
        assert abs(mpmath.mpf(plain) / mpmath.log1p(mpmath.exp(-30)) - 1) < 1e-19


@pytest.mark.parametrize(
    ("name", "x", "dtype", "truths"),
    [
        (  # gelu′ = Φ + x·φ and gelu″ = φ·(2 − x²): two numbers below any float, or one
            "gelu",
            "-3e38",
            "float32",
            [
                lambda x: mpmath.ncdf(x) + x * mpmath.npdf(x),
                lambda x: mpmath.npdf(x) * (2 - x * x),
            ],
        ),
        (  # silu′ = σ(1 + x(1 − σ)) and its derivative σ′(2 + x(1 − 2σ)): e^x(1 + x) in the tail
            "silu",
            "-1e300",
            "float64",
            [
                lambda x: mpmath.exp(x) / (1 + mpmath.exp(x)) * (1 + x / (1 + mpmath.exp(x))),
                lambda x: (
                    mpmath.exp(x)
                    / (1 + mpmath.exp(x)) ** 2
                    * (2 + x * (1 - 2 * mpmath.exp(x) / (1 + mpmath.exp(x))))
                ),
            ],
        ),
    ],
)
def test_exact_says_0_within_a_bound_below_any_float_where_the_sign_is_unknown(
    name, x, dtype, truths
):
    """Where the bounds of an e^−huge hold 0 on both sides, each end below any float (the
    exact tier bounds e^−huge, of either sign, so Φ + x·φ straddles 0), --exact says
    "0 ± bound", not "0": the true value (mpmath, independently, at its own precision)
    is nonzero and within the bound, and the bound below any float."""
    from actgrad.cli.app import app
    from typer.testing import CliRunner

    done = CliRunner().invoke(
        app, [name, "--x", x, "--dtype", dtype, "--order", "2", "--exact", "--json"]
    )
    assert done.exit_code == 0, done.output
    exact = json.loads(done.stdout)["exact"]
    shown = [exact["grad"]["x"], exact["grad2"]["x"]]
    with mpmath.workdps(40):
        for text, truth_of in zip(shown, truths, strict=True):
            assert text.startswith("0 ± "), text
            bound = mpmath.mpf(text[4:])
            true = truth_of(mpmath.mpf(float(np.float32(x) if dtype == "float32" else x)))
            assert true != 0 and abs(true) < bound < mpmath.mpf(2) ** -1075, (text, true)


def test_the_check_says_how_many_numbers_each_tier_decided():
    from actgrad.cli.app import app
    from typer.testing import CliRunner

    done = CliRunner().invoke(
        app, ["tanh", "--x", "-3:3:30001", "--grad", "--check", "--format", "plain"]
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("check: true values:"))
    fast_n, exact_n = (
        int(v.replace(",", "")) for v in re.findall(r"[\d,]+(?= (?:numbers|by))", line)
    )
    assert fast_n + exact_n == 60_002 and fast_n > 59_000


def test_a_kernel_product_rounds_once_in_every_format():
    """The fast tier rounds a product to a 16-bit format once, as the exact tier does: just
    above a bfloat16 tie, rounding through float32 first (torch's conversion of a double)
    lands on the tie and goes to even, the single rounding goes up."""
    from actgrad.core.exact import interval
    from actgrad.core.exact.fast import nearest
    from actgrad.core.functions.arithmetic import round_array

    x = np.array([1 + 2.0**-8 + 2.0**-30, -(1 + 2.0**-8 + 2.0**-30), 65519.0, 65520.0, 2.0**-134])
    for fmt in ("float16", "bfloat16", "float32"):
        want = [interval.nearest(interval.mpf(v).a, fmt) for v in x.tolist()]
        assert nearest(x, fmt).tolist() == want
    assert nearest(x[:1], "bfloat16")[0] == 1 + 2.0**-7 != round_array(x[:1], "bfloat16")[0]


def test_the_outward_step_is_one_or_two_floats_never_none():
    """fast._down and _up (Rump et al.'s successor without nextafter) move every float64 one
    or two floats outward, never zero, across normals, subnormals, zeros and the largest."""
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 1 << 63, 200_000, dtype=np.int64).view(np.float64)
    special = np.array([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.0, -1.0])
    big = np.finfo(np.float64).max
    v = np.concatenate([bits[np.isfinite(bits)], -bits[np.isfinite(bits)], special, [big, -big]])
    down, up = fast._down(v), fast._up(v)
    once_d, once_u = np.nextafter(v, -np.inf), np.nextafter(v, np.inf)
    assert (down <= once_d).all() and (up >= once_u).all()
    below = v[down != -np.inf]  # -big steps to -inf (unbounded below): outward is all it owes
    assert (fast._down(below) >= np.nextafter(np.nextafter(below, -np.inf), -np.inf)).all()
    assert (up[v < big] <= np.nextafter(once_u[v < big], np.inf)).all()
    assert fast._down(np.array([np.inf]))[0] == big  # a lower end past the largest: the largest


def test_the_outward_step_of_a_known_sign_moves_each_end_past_its_neighbour():
    """fast._outward of one sign: the end nearer 0 goes to its predecessor in magnitude
    (exactly from 2⁻¹⁰²⁰ up, where the smallest subnormal is under half an ulp; one or two
    floats below; clipped at 0 and at the largest float), the end away from 0 one or two
    floats out; NaN stays NaN, across normals, powers of two, subnormals, zeros and the
    largest."""
    rng = np.random.default_rng(12)
    bits = rng.integers(0, 0x7FF0 << 48, 200_000, dtype=np.int64).view(np.float64)  # ≥ 0
    big = np.finfo(np.float64).max
    special = [0.0, 5e-324, 1e-323, 2.0**-1022, 2.0**-1022 - 5e-324, 2.0**-1021, 1.0, 0.5, big]
    v = np.concatenate([bits, special, np.ldexp(1.0, np.arange(-1074, 1024)), [np.nan]])
    for sign in (1, -1):
        ends = v * sign
        b = fast._outward(ends, ends, sign)
        near, far = (b.lo, b.hi) if sign > 0 else (b.hi, b.lo)
        inward, outward = (-np.inf, np.inf) if sign > 0 else (np.inf, -np.inf)
        nan = np.isnan(ends)
        assert np.isnan(near[nan]).all() and np.isnan(far[nan]).all()
        e, n, f = ends[~nan], near[~nan], far[~nan]
        want = np.nextafter(e, inward)
        twice = np.nextafter(want, inward)
        want, twice = (np.where(np.sign(w) == -sign, 0.0, w) for w in (want, twice))  # at 0
        small = np.abs(e) < 2.0**-1020
        assert (n[~small] == want[~small]).all() and (np.sign(n) != -sign).all()
        assert ((n[small] == want[small]) | (n[small] == twice[small])).all()
        once = np.nextafter(e, outward)
        assert (sign * f >= sign * once).all()
        ok = np.abs(e) < big
        assert (sign * f[ok] <= sign * np.nextafter(once[ok], outward)).all()
        assert b.sign == sign
    assert fast._outward(np.array([np.inf]), np.array([np.inf]), 1).lo[0] == big


@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_erf_bounds_hold_over_wide_intervals_and_keep_the_tails_relative(name):
    """erf and erfc over wide intervals: the truth at both ends lies inside, and erfc's far
    tail keeps a relative width."""
    rng = np.random.default_rng(5)
    lo = np.concatenate([rng.uniform(-8, 8, 400), [-1.0, 0.0, 20.0]])
    hi = lo + np.concatenate([10.0 ** rng.uniform(-15, 0, 400), [2.0, 0.0, 1e-12]])
    b = getattr(fast, name)(fast.Bounds(lo, hi))
    f = getattr(mpmath, name)
    with mpmath.workdps(40):
        for a, z, blo, bhi in zip(lo, hi, b.lo, b.hi, strict=True):
            for t in (f(a), f(z)):
                assert blo <= t <= bhi, (name, a, z, blo, bhi)
    if name == "erfc":
        assert (b.hi[-1] - b.lo[-1]) / b.hi[-1] < 1e-9  # erfc(20) ≈ 5e-176, not 0 ± 1e-16


def test_scaling_by_a_power_of_two_is_exact_and_overflows_to_the_largest_float():
    big = float(np.finfo(np.float64).max)
    b = fast.Bounds(np.array([1.5, -3.0, 1e308, -1e308]), np.array([2.5, -1.0, 1e308, -1e308]))
    four = b * 4.0
    assert four.lo[:2].tolist() == [6.0, -12.0] and four.hi[:2].tolist() == [10.0, -4.0]
    assert four.lo[2] == big and four.hi[2] == np.inf  # past the largest: still a bound
    assert four.lo[3] == -np.inf and four.hi[3] == -big
    halved = b / 0.5  # dividing by a half doubles: exact too
    assert halved.lo[:2].tolist() == [3.0, -6.0]
    tiny = fast.Bounds(np.array([5e-324]), np.array([5e-324])) / 2.0  # may round: outward
    assert tiny.lo[0] <= 2.5e-324 <= tiny.hi[0] and tiny.lo[0] < tiny.hi[0]
    x = np.array([3.0, -0.75, 0.0, 2.0**-1021, 1e300])
    half = fast.Bounds(x, x) * 0.5  # shrinking without an underflow that rounds: exact,
    assert half.lo is half.hi and half.lo.tolist() == [1.5, -0.375, 0.0, 2.0**-1022, 5e299]
    odd = np.array([3.0, 3 * 2.0**-1074])  # ... and outward where one rounds
    half = fast.Bounds(odd, odd) * -0.5
    assert (half.lo <= -odd / 2).all() and (half.hi >= -odd / 2).all() and half.lo[1] < half.hi[1]
    assert half.lo[0] <= -1.5 <= half.hi[0] and half.lo is not half.hi  # not a point now
    with np.errstate(over="ignore"):
        up = fast.Bounds(np.array([1.0, 1e308]), np.array([1.0, 1e308])) * 4.0
    assert up.lo.tolist() == [4.0, big] and up.hi.tolist() == [4.0, np.inf]  # past it: not a point
    neg = -fast.Bounds(x, x)
    assert neg.lo is neg.hi and (neg.lo == -x).all()  # a point stays one


def _float64_inputs(n: int, seed: int) -> list[float]:
    """Random float64 numbers of every size, a grid over [-40, 40], and the kinks."""
    rng = np.random.default_rng(seed)
    spread = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    grid = np.linspace(-40, 40, n)
    return [*spread.tolist(), *grid.tolist(), *KINKS, *(-k for k in KINKS)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_verdict_from_bounds_flags_what_the_exact_tier_flags(name, dtype):
    """The live notes ask only whether torch is more than LIMIT ulps off (or lost every
    digit): bounds that show it below LIMIT decide a point in float64 too (fast.below), and
    their middle flags exactly what the exact truth flags."""
    spec = registry.get(name)
    xs = _float64_inputs(60, len(name)) if dtype == "float64" else inputs(dtype, 120, len(name))
    t = torch.tensor(xs, dtype=getattr(torch, dtype))
    text = ",".join(map(repr, t.tolist()))
    req = build_request(name, {"x": [text]}, PARAMS.get(name, {}), order=1, dtype=dtype)
    result = evaluate(req)
    got = [np.reshape(result.value, -1), np.reshape(result.derivatives[1]["x"], -1)]
    x = np.asarray(t.detach().double())
    params = result.params
    quick = truth.elementwise(spec, params, x, 1, dtype, got=got, limits=(LIMIT,), verdict=LIMIT)
    exact = truth.elementwise(spec, params, x, 1, dtype)
    assert quick[0].fast is not None
    for at, (q, e, g) in enumerate(zip(quick, exact, got, strict=True)):
        decided = q.fast & e.settled.reshape(-1)
        for flag, mask in flag_masks(g, q, dtype, LIMIT)[0].items():
            wrong = decided & (mask != flag_masks(g, e, dtype, LIMIT)[0][flag])
            assert not wrong.any(), (at, flag, x[wrong][:5])
        wrong = decided & (lost(g, q, dtype).reshape(-1) != lost(g, e, dtype).reshape(-1))
        assert not wrong.any(), (at, "every digit lost", x[wrong][:5])
    if dtype == "float64" and name in ("sigmoid", "relu", "elu", "softsign"):
        assert quick[0].fast.mean() > 0.3, quick[0].fast.mean()  # the verdicts decide many


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_the_quick_tests_decide_only_what_the_whole_test_decides(dtype):
    """fast.decided's quick tests (_surely: torch near the bounds or far from them) are
    sufficient for its whole test (_decided), so decided gives what the whole test gives,
    over bounds of every width and both signs, at powers of two, subnormals of the dtype and
    past its range, torch's number near the truth, 0 or far off, with and without limits;
    and they decide most of the common case."""
    rng = np.random.default_rng(31)
    n = 60_000
    for limits in ((), (64.0,), (1.0, 4.0), (0.5,)):
        for scale in (1e-44, 6e-8, 1e-5, 1.0, 1e4, 3e38):
            sign = rng.choice([-1.0, 1.0], n)
            tau = scale * np.exp(rng.uniform(-5, 5, n)) * sign
            two = rng.random(n) < 0.1
            tau[two] = np.ldexp(sign[two], rng.integers(-140, 128, two.sum()))
            rel = 10.0 ** rng.uniform(-17, -1, n)
            lo = tau - np.abs(tau) * rel * rng.random(n)
            hi = tau + np.abs(tau) * rel * rng.random(n)
            with np.errstate(all="ignore"):
                g = fast.round_array(tau, dtype)
                steps = rng.integers(-100, 100, n) * (rng.random(n) < 0.5)
                g += np.abs(np.spacing(g.astype(np.float32))).astype(np.float64) * steps
                g[rng.random(n) < 0.2] = 0.0
                far = rng.random(n) < 0.1
                g[far] *= rng.uniform(0.3, 3, far.sum())
                quick = fast._surely(lo, hi, g, dtype, limits)
                whole = fast._decided(lo, hi, g, dtype, limits)
                assert not (quick & ~whole).any()
                assert (fast.decided(lo, hi, g, dtype, limits) == whole).all()
                if scale == 1.0 and limits == (64.0,):
                    common = (rel < 1e-14) & (steps == 0) & ~far & (g != 0)
                    assert quick[common].mean() > 0.9
                if dtype == "float32":  # the bit test of torch's own float32 numbers
                    g32 = g.astype(np.float32)
                    near = fast._near32(lo, hi, g32, limits)
                    whole = fast._decided(lo, hi, g32.astype(np.float64), dtype, limits)
                    if near is not None:
                        assert not (near & ~whole).any()
                        if scale == 1.0 and limits == (64.0,):
                            assert near[common].mean() > 0.8
                            # torch far off (32-99 steps) in the truth's own binade, its
                            # error not within ½ ulp of the limit: the bit test too
                            binade = np.frexp(g32)[1] == np.frexp(tau.astype(np.float32))[1]
                            off = (rel < 1e-14) & ~far & (g != 0) & binade & ~two
                            off &= (np.abs(steps) > 31) & (np.abs(np.abs(steps) - 64) > 1)
                            assert off.sum() > 100 and near[off].mean() > 0.95
                        if limits == (64.0,):  # torch's number the rounded truth itself: at
                            own = (rel < 1e-14) & (g32 == tau.astype(np.float32))  # powers
                            own &= two | (scale == 1e-44)  # of two, subnormals and 0 too
                            assert own.sum() > 100 and near[own].mean() > 0.99
                    assert (fast.decided(lo, hi, g32, dtype, limits) == whole).all()
                # and where few points fail the near test (the far one then takes those alone)
                few = rng.random(n) < 0.02
                g2 = np.where(few, g, fast.round_array(tau, dtype))
                lo2, hi2 = np.where(few, lo, tau), np.where(few, hi, tau)
                quick = fast._surely(lo2, hi2, g2, dtype, limits)
                whole = fast._decided(lo2, hi2, g2, dtype, limits)
                assert not (quick & ~whole).any()
                assert (fast.decided(lo2, hi2, g2, dtype, limits) == whole).all()
                if dtype == "float32":  # ... the bit test first, then the others on the rest
                    g32 = g2.astype(np.float32)
                    whole = fast._decided(lo2, hi2, g32.astype(np.float64), dtype, limits)
                    assert (fast.decided(lo2, hi2, g32, dtype, limits) == whole).all()


def test_the_binade_test_leaves_out_every_error_within_half_an_ulp_of_a_limit():
    """_binade_apart in int32 against its words in Python: torch's g in r's binade (the same
    sign and exponent), |k| more than ½ from every limit: whole and half-whole limits (1.5
    leaves out 1 and 2), limits under ½ and past every |k|, wrapped differences."""
    rng = np.random.default_rng(5)
    n = 20_000
    bits = rng.integers(-(2**31), 2**31, n).astype(np.int32)
    for spread in (8, 100, 1 << 23, 1 << 31):
        k = rng.integers(-spread, spread, n).astype(np.int64)
        g = ((bits.astype(np.int64) + k + 2**31) % 2**32 - 2**31).astype(np.int32)
        k32 = ((g.astype(np.int64) - bits + 2**31) % 2**32 - 2**31).astype(np.int32)
        for limits in ((), (64.0,), (1.5,), (0.25,), (2.0, 7.5, 64.0), (1e9,)):
            got = fast._binade_apart(g, bits, k32, limits)
            for i in range(0, n, 97):
                a, b = int(g[i]) & 0xFFFFFFFF, int(bits[i]) & 0xFFFFFFFF
                size = abs(int(k32[i]))
                want = (a >> 23) == (b >> 23) and all(abs(size - x) > 0.5 for x in limits)
                assert got[i] == want, (int(g[i]), int(bits[i]), limits)


def test_the_whole_test_decides_a_spread_up_to_precision_and_no_more():
    """In one binade torch's error |g − τ|/ulp moves one way over the bounds, by their width
    w in ulps (not 2w): _decided settles bounds whose w lies between PRECISION/2 and
    PRECISION of the least error (the exact tier's before: mish″'s and silu″'s zeros), and
    every bound it settles holds the promise, checked in exact rationals at both ends (the
    extremes of a linear error), with g below, above and between the bounds."""
    from fractions import Fraction

    rng = np.random.default_rng(17)
    n = 4000
    ulp = 2.0**-23  # float32's ulp over [1, 2)
    tau = rng.uniform(1.25, 1.75, n)
    error = rng.uniform(0.3, 40.0, n) * rng.choice([-1.0, 1.0], n)  # torch's, in ulps
    g = (tau + error * ulp).astype(np.float32).astype(np.float64)
    least = np.abs(g - tau) / ulp
    w = least * fast.PRECISION * rng.uniform(0.3, 1.2, n)  # spreads about the limit
    lo = tau - w * ulp * rng.random(n)
    hi = lo + w * ulp
    inside = rng.random(n) < 0.05  # g between the bounds: their error reaches 0
    lo[inside], hi[inside] = g[inside] - 1e-9, g[inside] + 1e-9
    settled = fast._decided(lo, hi, g, "float32", (LIMIT,))
    for i in np.flatnonzero(settled):
        ends = [abs(Fraction(g[i]) - Fraction(v)) / Fraction(ulp) for v in (lo[i], hi[i])]
        low = Fraction(0) if inside[i] else min(ends)
        assert max(ends) - low <= Fraction(fast.PRECISION) * max(Fraction(1), low), i
    ends = np.abs(g - lo) / ulp, np.abs(g - hi) / ulp
    spread = np.abs(ends[0] - ends[1])
    within = ~inside & (spread < 0.99 * fast.PRECISION * np.minimum(*ends))
    wider = spread > fast.PRECISION / 2 * np.minimum(*ends)  # 2w: past the old test
    assert (within & wider).sum() > 500 and settled[within & wider].all()
    beyond = spread > 1.01 * fast.PRECISION * np.maximum(1.0, np.maximum(*ends))
    assert beyond.sum() > 100 and not settled[~inside & beyond].any()


def test_below_holds_at_every_number_between_the_bounds():
    """fast.below against brute force: where it says torch is under the limit, it is under
    the limit, of the truth's sign and not every digit lost at sampled numbers in between."""
    rng = np.random.default_rng(7)
    for dtype in ("float64", "float32", "bfloat16"):
        mid = rng.standard_normal(4000) * 10.0 ** rng.integers(-40, 40, 4000)
        width = np.abs(mid) * 10.0 ** rng.uniform(-17, -1, 4000)
        lo, hi = mid - width, mid + width
        got = mid * (1 + rng.standard_normal(4000) * 10.0 ** rng.integers(-17, 0, 4000))
        got = np.asarray(torch.tensor(got).to(getattr(torch, dtype)).double())
        ok = fast.below(lo, hi, got, dtype, LIMIT)
        assert ok.any() and not ok.all()
        for s in np.linspace(0, 1, 9):
            tau = lo + (hi - lo) * s
            true = Truth(tau, np.zeros_like(tau))
            flags = flag_masks(got, true, dtype, LIMIT)[0]
            bad = np.logical_or.reduce([*flags.values(), lost(got, true, dtype)])
            assert not (ok & bad).any(), (dtype, s, lo[ok & bad][:3], got[ok & bad][:3])


def test_directed_rounding_is_found_here_and_refused_where_numpy_ignores_it():
    """The mode is had on x86-64 Linux (glibc's and musl's fesetround), and a mode setter
    that does nothing (a machine whose numpy does not follow the unit's mode) is refused."""
    import platform
    import sys

    rounding = fast._rounding()
    if sys.platform.startswith("linux") and platform.machine() == "x86_64":
        assert rounding is not None
    if rounding is not None:
        assert fast._follows(rounding)
        assert not fast._follows((lambda mode: 0, rounding[1], rounding[2]))
        assert not fast._follows((rounding[0], rounding[2], rounding[1]))  # the modes swapped
    assert np.float64(1.0) / 3.0 == 1 / 3  # and back to nearest


@pytest.mark.parametrize("name", ["mish", "gelu", "sigmoid", "softplus", "elu"])
def test_without_directed_rounding_the_outward_steps_hold(name, monkeypatch):
    """Where the mode is not had, every end is stepped out after rounding to nearest: the
    same agreement with the exact tier wherever it decides."""
    monkeypatch.setattr(fast, "_ROUNDING", [None])
    decided, total = compare(name, "float32", 2, inputs("float32", 600, 5))
    assert decided > total // 2


def test_directed_bounds_hold_where_the_exact_products_and_sums_are_known():
    """+, −, ×, ÷ and √ of bounds, rounded down and up: each result's bounds hold the exact
    rational (Fraction) at every point, and are one float apart or the same where exact."""
    from fractions import Fraction

    rng = np.random.default_rng(3)
    a = rng.standard_normal(257) * 10.0 ** rng.integers(-300, 300, 257)
    b = rng.standard_normal(257) * 10.0 ** rng.integers(-10, 10, 257)
    x, y = fast.Bounds(a, a), fast.Bounds(b, b)
    for op, out in (
        (lambda p, q: p + q, x + y),
        (lambda p, q: p - q, x - y),
        (lambda p, q: p * q, x * y),
        (lambda p, q: p / q, x / y),
    ):
        for p, q, lo, hi in zip(a, b, out.lo, out.hi, strict=True):
            exact = op(Fraction(p), Fraction(q))
            if math.isfinite(lo) and math.isfinite(hi):
                assert Fraction(lo) <= exact <= Fraction(hi)
                assert hi == lo or hi == np.nextafter(lo, np.inf)
    root = fast.sqrt(fast.Bounds(np.abs(a), np.abs(a)))
    for v, lo, hi in zip(np.abs(a), root.lo, root.hi, strict=True):
        assert Fraction(lo) ** 2 <= Fraction(v) <= Fraction(hi) ** 2


DERIVATIVES = {
    "tanh": lambda v: mpmath.sech(v) ** 2,
    "erf": lambda v: 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-(v**2)),
    "erfc": lambda v: -2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-(v**2)),
    "log1p": lambda v: 1 / (1 + v),
    "expm1": mpmath.exp,
    "log": lambda v: 1 / v,
}


@pytest.mark.parametrize(
    "name, low, high, slope",
    [
        ("tanh", -30.0, 30.0, 1.0),
        ("erf", -8.0, 8.0, 2 / math.sqrt(math.pi) + 1e-9),
        ("erfc", -8.0, 30.0, -2 / math.sqrt(math.pi) - 1e-9),
        ("erfc", -8.0, 0.0, -2 / math.sqrt(math.pi) - 1e-9),  # 1 + erf(−x) at every point
        ("log1p", 0.0, 1e6, 1.0),
        ("expm1", -30.0, 3.0, math.exp(3.0) + 1e-9),
        ("log", 0.5, 1e6, 2.0 + 1e-9),
    ],
)
def test_a_function_called_at_one_end_holds_the_other_by_its_slope(name, low, high, slope):
    """Given bounds of the derivative over the interval (the derivative's series has them),
    a monotone function is called at one end alone and the other end's value bounded by the
    mean value theorem: both ends' true values (mpmath) lie within, over intervals a few ulps
    wide and wide ones; and with the derivative's own bounds over an interval a few ulps
    wide (one side of 0, where each of these derivatives is monotone), hardly wider than the
    values themselves spread over it."""
    rng = np.random.default_rng(11)
    a = rng.uniform(low, high, 400)
    width = np.abs(a) * 10.0 ** rng.uniform(-16, -1, 400) + 1e-300
    b = np.minimum(a + width, high)
    s = fast.Bounds(np.full(400, min(slope, 0.0)), np.full(400, max(slope, 0.0)))
    f = getattr(mpmath, name) if name != "log1p" else (lambda v: mpmath.log(1 + v))
    with mpmath.workdps(60):
        out = getattr(fast, name)(fast.Bounds(a, b), s)
        for lo, hi, x0, x1 in zip(out.lo, out.hi, a, b, strict=True):
            for v in (f(mpmath.mpf(x0)), f(mpmath.mpf(x1))):
                assert lo <= v <= hi, (name, x0, x1, lo, hi)
        a = a[(a > 0) | (a + 1e-6 < 0)][:100]
        b = a + np.abs(a) * 2.0**-50
        d = [
            [float(DERIVATIVES[name](mpmath.mpf(v))) for v in ends]
            for ends in zip(a, b, strict=True)
        ]
        steep = fast.Bounds(np.min(d, axis=1) * (1 - 1e-9), np.max(d, axis=1) * (1 + 1e-9))
        out = getattr(fast, name)(fast.Bounds(a, b), steep)
        for lo, hi, x0, x1 in zip(out.lo, out.hi, a, b, strict=True):
            ends = [f(mpmath.mpf(x0)), f(mpmath.mpf(x1))]
            assert lo <= min(ends) and max(ends) <= hi, (name, x0, x1, lo, hi)
            spread = float(abs(ends[1] - ends[0]))  # the values' own, the least it can be
            assert hi - lo <= 2 * spread + 2.0**-46 * max(abs(lo), abs(hi)) + 2.0**-1000


@pytest.mark.parametrize("sign", [1, -1])
def test_products_and_quotients_with_one_sign_known_hold_every_corner(sign):
    """Bounds of unknown sign times (or over) bounds of one sign take two corners an end:
    the exact products and quotients of all four corners (Fraction) lie within, and the ends
    are the least and greatest of them, rounded outward by one float at most."""
    from fractions import Fraction

    rng = np.random.default_rng(5)
    n = 300
    alo = rng.standard_normal(n) * 10.0 ** rng.integers(-5, 5, n)
    ahi = alo + np.abs(rng.standard_normal(n)) * 10.0 ** rng.integers(-5, 5, n)
    blo = np.abs(rng.standard_normal(n)) + 1e-3
    bhi = blo + np.abs(rng.standard_normal(n))
    if sign < 0:
        blo, bhi = -bhi, -blo
    a, b = fast.Bounds(alo, ahi), fast.Bounds(blo, bhi)
    assert a.signed() == 0 and b.signed() == sign
    for op, out in ((lambda p, q: p * q, a * b), (lambda p, q: p / q, a / b)):
        for i in range(n):
            corners = [
                op(Fraction(p), Fraction(q)) for p in (alo[i], ahi[i]) for q in (blo[i], bhi[i])
            ]
            lo, hi = Fraction(out.lo[i]), Fraction(out.hi[i])
            assert lo <= min(corners) and max(corners) <= hi
            assert out.lo[i] >= np.nextafter(float(min(corners)), -np.inf)
            assert out.hi[i] <= np.nextafter(float(max(corners)), np.inf)


@pytest.mark.parametrize("name", ["sigmoid", "relu", "softplus", "hardswish"])
def test_the_judge_sees_the_same_bounds_whether_they_are_kept_or_not(name):
    """Not kept, a block that took one path hands its outputs' own arrays to the judge (a
    number as a read-only array), one of several paths fills the block's reused arrays: the
    judge sees what the kept bounds hold, block by block, at every order."""
    xs = np.concatenate([np.linspace(-40, 40, fast.BLOCK + 1000), [0.0, -3.0, 3.0, 20.0]])
    for order in (0, 1, 2):
        req = build_request(name, {"x": ["1"]}, {}, order=order, max_elements=None)
        points = truth.Points(req.program, "float32", [("x", order)] if order else [])
        los, his, ok = truth.fast_bounds(points, "x", xs)
        seen = []

        def judge(block, lo, hi, seen=seen):
            seen.append((block, [v.copy() for v in lo], [v.copy() for v in hi]))
            return np.ones(block.stop - block.start, dtype=bool)

        _, _, ok2 = truth.fast_bounds(points, "x", xs, judge, keep=False)
        assert (ok2 == ok).all()
        for block, lo, hi in seen:
            mine = ok[block]
            for k in range(order + 1):
                assert np.array_equal(lo[k][mine], los[k][block][mine])
                assert np.array_equal(hi[k][mine], his[k][block][mine])


def test_a_series_squared_counts_each_cross_term_once_and_agrees_with_the_product():
    """u·u (the same series) doubles each cross term instead of computing it twice: in the
    fast tier's bounds and in the exact tier's intervals, the same numbers as the product of
    two copies, to the last bit of the bounds' rounding."""
    from actgrad.core.exact import interval
    from actgrad.core.exact.taylor import Taylor

    rng = np.random.default_rng(9)
    c = [rng.standard_normal(500) * 10.0 ** rng.integers(-5, 5, 500) for _ in range(4)]
    u = Taylor([fast.Bounds(v, v) for v in c])
    square, product = u * u, u * Taylor(list(u.c))
    for a, b in zip(square.c, product.c, strict=True):
        assert (a.lo <= b.hi).all() and (b.lo <= a.hi).all()  # they overlap ...
        width, other = a.hi - a.lo, b.hi - b.lo
        assert (width <= other + np.spacing(np.abs(a.hi)) * 4).all()  # ... and no wider
    with interval.workprec(200):
        x = Taylor([interval.mpf(v) for v in ("0.3", "-1.7", "2.5", "0.125")])
        for a, b in zip((x * x).c, (x * Taylor(list(x.c))).c, strict=True):
            with mpmath.workprec(200):
                assert mpmath.mpf(a.a) <= mpmath.mpf(b.b) and mpmath.mpf(b.a) <= mpmath.mpf(a.b)


@pytest.mark.parametrize(
    ("name", "xs"),
    [
        ("gelu", "-3e38,-1e20,-40,-39"),
        ("silu", "-3e38,-1e6,-800"),
        ("mish", "-3e38,-1e6,-800"),
        ("softplus", "-3e38,-1e6"),
        ("sigmoid", "-3e38,-1e6"),
    ],
)
def test_values_past_float64s_range_are_the_exact_tiers(name, xs, monkeypatch):
    """Where the truth underflows float64 and the fast tier's bounds hold 0 (an exponential's
    smallest subnormal times a huge x: gelu″ at −3·10³⁸ had [−4.4·10⁻²⁴⁷, 0]), --check's true
    value is 0 as the exact tier's is, not the bounds' middle: at orders 0-2, every true value
    and error the check shows, the same from either tier."""
    req = build_request(name, {"x": [xs]}, {}, order=2, check=True)

    def shown(result):
        errors = result.check["dtype_error"].items()
        return {path: (e["worst"]["true"], e["max_abs"], e["max_rel"]) for path, e in errors}

    truth._CACHE.clear()
    quick = evaluate(req)
    assert quick.check["tiers"]["fast"] > 0
    truth._CACHE.clear()
    monkeypatch.setattr(truth, "_fast", lambda *a, **k: None)
    exact = evaluate(req)
    assert exact.check["tiers"]["fast"] == 0
    assert shown(quick) == shown(exact)
