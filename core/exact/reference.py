"""Ground truth: every function's value and derivatives in arbitrary precision.

The formulas are written from the mathematics, not from torch's kernels (where torch defines a
function by a formula, as gelu's tanh form or hardswish, that formula in exact arithmetic), and
take torch's conventions at kinks, at every order, from the registry (whose sides the tests
check against torch). Each point is evaluated at the input's exact binary value in
:mod:`interval` arithmetic: every number carries bounds that hold through any cancellation,
and the working precision is doubled, point by point, until the bounds round to one float64
and pin it past its last bit. That float64 is then the correctly rounded truth (kept as
hi + lo, so an error is measured to a fraction of an ulp); a point the precision or time
budget stops first is *unsettled*, never a value.

Here are the operations an activation's exact form is written with (:data:`OPS`): Taylor
series over intervals, the branches of the piecewise functions, and the slices of the
functions along a dim; :mod:`truth` runs every request's program over them (and over
:mod:`reference_losses`' for losses and norms), to every order, with one driver.

torch as it computes, not as typed: parameters arrive as the kernel stores them
(:mod:`..functions.arithmetic`), a branch such as softplus's ``β·x > threshold`` is decided
on the product rounded in the kernel's arithmetic (:func:`kernel_product`), and a kernel's own
constants are held as it holds them (:func:`kernel_constant`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
from mpmath.libmp import mpf_cmp

from ..errors import ActgradError
from ..functions.activations import SELU_ALPHA_TEXT, SELU_SCALE_TEXT
from ..functions.arithmetic import ARITHMETIC, DTYPE, EPSILON, round_to
from . import interval as mp
from . import taylor
from .interval import Undecided, mpf
from .taylor import Taylor

START_BITS = 96  # the first working precision; each next one is twice the last
MAX_BITS = 1 << 15  # the highest working precision (a value still unknown there is unsettled)
DIGITS = 20  # significant digits of --exact
MAX_ORDER = 4

SELU_ALPHA, SELU_SCALE = SELU_ALPHA_TEXT, SELU_SCALE_TEXT  # the entry's, to 32 digits
GELU_KAPPA = "0.044715"


class NoReference(ActgradError):
    """There is no arbitrary-precision reference for this request (said, not an error)."""


@dataclass
class Truth:
    """The reference for one result field: the float64 the truth rounds to (hi), the float64
    nearest the remainder (lo), and the decimal digits when asked for. ``settled`` marks the
    elements whose bounds decided their float64 within the budget; elsewhere hi and lo are NaN
    and the text says "unsettled" (never a guess)."""

    hi: np.ndarray
    lo: np.ndarray
    text: np.ndarray | None = None
    settled: np.ndarray | None = None  # None: every element
    fast: np.ndarray | None = None  # where the fast tier decided (None: nowhere)

    @property
    def converged(self) -> bool:
        return self.settled is None or bool(np.all(self.settled))

    @property
    def unsettled(self) -> int:
        return 0 if self.settled is None else int(np.size(self.settled) - np.sum(self.settled))

    def flat(self) -> Truth:
        """The same values as one row (a sweep's points, whatever the input's shape)."""

        def row(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else np.reshape(a, -1)

        return Truth(row(self.hi), row(self.lo), row(self.text), row(self.settled), row(self.fast))


def truth_of(values: list[Any], settled: list[bool], shape: tuple[int, ...], digits: bool) -> Truth:
    """A Truth of ``shape`` from intervals and whether each settled."""
    hi = np.empty(len(values))
    lo = np.empty(len(values))
    for i, v in enumerate(values):
        hi[i], lo[i] = mp.split(v) if settled[i] else (math.nan, math.nan)
    text = None
    if digits:
        text = np.array(
            [
                mp.text(v, DIGITS) if ok else "unsettled"
                for v, ok in zip(values, settled, strict=True)
            ],
            dtype=object,
        ).reshape(shape)
    return Truth(hi.reshape(shape), lo.reshape(shape), text, np.asarray(settled).reshape(shape))


# ----------------------------------------------------------------------------------------------
# elementwise activations: f(x: Taylor, params) -> Taylor


_TIE = [0]  # at a kink point: -1 the left branch, +1 the right one, 0 the function's own rule
TIED = [False]  # set when a branch test met its point with equality (the caller resets it)


def _side(x: Taylor | Any, c: Any) -> int:
    """Where x (a series, or a number) is against the branch point ``c``: -1, +1, or at a tie
    the side being taken (0: none forced)."""
    v = x.v if isinstance(x, Taylor) else x
    if v != c:
        return 1 if v > c else -1
    TIED[0] = True
    return _TIE[0]


# The operations an entry's ``exact`` form is written with (core/functions/activations.py): Taylor
# arithmetic over intervals, and the branches of the piecewise functions, each taking torch's
# side at its breakpoints (see _side).


def ramp(x: Taylor, slope: Any) -> Taylor:
    return x if _side(x, 0) > 0 else x * slope


def elu(x: Taylor, alpha: Any, scale: Any = 1) -> Taylor:
    return x * scale if _side(x, 0) > 0 else taylor.expm1(x) * (alpha * scale)


def celu(x: Taylor, alpha: float, p: Mapping[str, Any]) -> Taylor:
    """torch's celu is elu(x, alpha, 1, 1/alpha): alpha and 1/alpha (in double) reach elu's
    kernel in its arithmetic (Activation.cpp, elu_kernel's negcoef and negiptcoef). (Its
    backward takes 1.0/alpha.toFloat(): a float's precision in float64, torch's error.)"""
    if _side(x, 0) > 0:
        return x
    return taylor.expm1(x * kernel_constant(1 / alpha, p)) * kernel_constant(alpha, p)


def clip(x: Taylor, low: Any, high: Any) -> Taylor:
    """x strictly inside (low, high), the constant at and beyond the ends."""
    if _side(x, low) <= 0:
        return x.const(low)
    if _side(x, high) >= 0:
        return x.const(high)
    return x


def gelu(x: Taylor, p: Mapping[str, Any]) -> Taylor:
    """x·Φ(x), or the tanh form with torch's constants as its kernel holds them: kBeta =
    √2·(2/√π)·½ and kKappa = 0.044715 in the kernel's arithmetic (GeluKernelImpl,
    aten/src/ATen/native/cpu/Activation.cpp)."""
    if p["approximate"] == "tanh":  # 0.5·x·(1 + tanh(z)) = x·σ(2z)
        k = kernel_constant(math.sqrt(2 / math.pi), p)
        z = (x + x * x * x * kernel_constant(GELU_KAPPA, p)) * k
        return x * taylor.sigmoid(z * 2)
    return taylor.gelu(x)


def softsign(x: Taylor) -> Taylor:
    return taylor.softsign(x, _side(x, 0) >= 0)


def softplus_beta(x: Taylor, beta: float, threshold: float, p: Mapping[str, Any]) -> Taylor:
    """softplus(β·x)/β below the threshold, x from it on: torch's switch ``β·x > threshold``,
    decided on β·x rounded in the kernel's arithmetic (aten/src/ATen/native/cpu/Activation.cpp,
    softplus_kernel and softplus_backward_kernel). Its double backward is a composite of
    dtype tensors (softplus_double_backward, FunctionsManual.cpp): f″ and up are the formula's
    where ``β·x < threshold`` with the product and the threshold in the dtype, else 0."""
    if beta == 0:
        raise NoReference("softplus with beta 0 (as the dtype holds it) is log 2/0: no formula")
    b = mpf(beta)
    above = _side(kernel_product(x.v, b, p), threshold) > 0
    if len(x.c) > 2:
        dtype = p.get(DTYPE, "float64")
        inside = taylor.arithmetic(x.v).rounded_product(x.v, b, dtype) < round_to(threshold, dtype)
        if inside == above:  # f, f′ from one branch, f″ and up from the other: spliced
            jet = Taylor.variable(x.v, len(x.c) - 1)
            one = jet if above else taylor.softplus(jet * b) / b
            other = taylor.softplus(jet * b) / b if inside else jet.const(0)
            return taylor.compose([*one.c[:2], *other.c[2:]], x)
    return x if above else taylor.softplus(x * b) / b


def kernel_product(a: Any, b: Any, p: Mapping[str, Any]) -> Any:
    """a·b as the kernel computes it: rounded to its arithmetic (``p[ARITHMETIC]``)."""
    return taylor.arithmetic(a).rounded_product(a, b, p.get(ARITHMETIC, "float64"))


def kernel_constant(value: float | str, p: Mapping[str, Any]) -> Any:
    """A constant of torch's kernel (a float literal in its source) as the kernel holds it."""
    return mpf(round_to(float(value), p.get(ARITHMETIC, "float64")))


def hardswish(x: Taylor) -> Taylor:
    if _side(x, -3) <= 0:
        return x.const(0)
    if _side(x, 3) >= 0:
        return x
    return x * (x + 3) / 6


def hardsigmoid(x: Taylor) -> Taylor:
    if _side(x, -3) <= 0:
        return x.const(0)
    if _side(x, 3) >= 0:
        return x.const(1)
    return x / 6 + mpf(1) / 2


def hardshrink(x: Taylor, lambd: float) -> Taylor:
    outside = _side(x, lambd) > 0 or _side(x, -lambd) < 0
    return x if outside else x * 0


def softshrink(x: Taylor, lambd: Any) -> Taylor:
    if _side(x, lambd) > 0:
        return x - lambd
    if _side(x, -lambd) < 0:
        return x + lambd
    return x * 0


def threshold(x: Taylor, at: float, value: float) -> Taylor:
    return x if _side(x, at) > 0 else x.const(value)


def rrelu(x: Taylor, p: Mapping[str, Any]) -> Taylor:
    """Evaluation mode: leaky_relu with the slope (lower + upper)/2, computed in double and
    stored as leaky_relu stores its slope (torch.rrelu → at::leaky_relu, RReLU.cpp)."""
    if p.get("training"):
        raise NoReference("rrelu with --training draws a random slope per element")
    return ramp(x, kernel_constant((p["lower"] + p["upper"]) / 2, p))


def by_side(fn: Callable[[], list[Any]], sides: str) -> list[Any]:
    """f's coefficients at a kink: each order from the branch torch takes there ("L", "R"; "0"
    zero; "=" the function's own rule), ``fn`` evaluated once per side."""
    values = {}
    for side, tie in (("L", -1), ("R", 1), ("=", 0)):
        _TIE[0] = tie
        try:
            values[side] = fn()
        finally:
            _TIE[0] = 0
    out = []
    for k, own in enumerate(values["="]):
        c = sides[k] if k < len(sides) else "="
        out.append(mpf(0) if c == "0" else values[c][k] if c in "LR" else own)
    return out


# ----------------------------------------------------------------------------------------------
# functions along a dim: one slice (a list of Taylor series) to its outputs, written from the
# definition; the series arithmetic differentiates them and the intervals hold through the
# cancellations (1 − pᵢ, x − mean) at the precision that settles them


def _top(x: list[Taylor]) -> Any:
    """A shift for exp(x − shift): the largest value's lower bound (any shift is exact; this
    one does not overflow)."""
    top = x[0].v.a
    for v in x[1:]:
        if mpf_cmp(v.v.a, top) > 0:
            top = v.v.a
    return mpf(top)


def softmax(x: list[Taylor], sign: int) -> list[Taylor]:
    xs = x if sign == 1 else [-v for v in x]
    shift = -_top(xs)
    e = [taylor.exp(v + shift) for v in xs]
    inverse = 1 / _total(e)  # once: most e of a seeded pass are constants, a scale each
    return [v * inverse for v in e]


def log_softmax(x: list[Taylor]) -> list[Taylor]:
    top = _top(x)
    lse = taylor.log(_total([taylor.exp(v - top) for v in x])) + top
    return [v - lse for v in x]


def glu(x: list[Taylor]) -> list[Taylor]:
    half = len(x) // 2
    return [x[i] * taylor.sigmoid(x[half + i]) for i in range(half)]


def normalize(x: list[Taylor], p: float, eps: Any) -> list[Taylor]:
    """x / max(‖x‖_p, eps): torch's clamp_min passes the norm's gradient at equality."""
    if not (math.isfinite(p) and p >= 1):
        raise NoReference("the normalize reference covers finite p ≥ 1")
    norm = pnorm(np.asarray(x, dtype=object), p)
    den = norm if norm.v >= eps else norm.const(eps)
    return [v / den for v in x]


def layer_norm(x: list[Taylor], eps: Any, weight: Any, bias: Any) -> list[Taylor]:
    n = len(x)
    mean = _total(x) / n
    d = [v - mean for v in x]
    s = taylor.sqrt(_total([v * v for v in d]) / n + mpf(eps))
    return [v / s * mpf(weight) + mpf(bias) for v in d]


def group_norm(x: list[Taylor], groups: int, eps: Any, weight: Any, bias: Any) -> list[Taylor]:
    """layer_norm over each of ``groups`` equal runs of x."""
    m = len(x) // groups
    return [y for g in range(groups) for y in layer_norm(x[g * m : (g + 1) * m], eps, weight, bias)]


def rms_norm(x: list[Taylor], eps: Any, weight: Any, p: Mapping[str, Any]) -> list[Taylor]:
    """Without eps, torch's is the machine epsilon of the arithmetic it computes in (float's
    for float16 and bfloat16: std::numeric_limits<opmath_t>::epsilon(), layer_norm.cpp)."""
    if eps is None:
        eps = EPSILON[p.get(ARITHMETIC, "float64")]
    r = taylor.sqrt(_total([v * v for v in x]) / len(x) + mpf(eps))
    return [v / r * mpf(weight) for v in x]


def pnorm(v: np.ndarray, order: float) -> Taylor:
    """‖v‖_p for finite p ≥ 1 (0 at the origin, with gradient 0 there, torch's subgradient)."""
    items = list(v.reshape(-1))
    if all(i.v == 0 for i in items):
        return items[0] * 0
    if order == 1:
        return _total([taylor.absolute(i) for i in items])
    summed = _total([taylor.power(taylor.absolute(i), mpf(order)) if i.v else i * 0 for i in items])
    return taylor.power(summed, 1 / mpf(order))


def _total(items: list[Taylor]) -> Taylor:
    out = items[0]
    for item in items[1:]:
        out = out + item
    return out


OPS = SimpleNamespace(
    mpf=mpf,
    sigmoid=taylor.sigmoid,
    tanh=taylor.tanh,
    softplus=taylor.softplus,
    tanh_softplus=taylor.tanh_softplus,
    expm1=taylor.expm1,
    erfc=taylor.erfc,
    tanhshrink=taylor.tanhshrink,
    ramp=ramp,
    elu=elu,
    celu=celu,
    clip=clip,
    gelu=gelu,
    softsign=softsign,
    softplus_beta=softplus_beta,
    hardswish=hardswish,
    hardsigmoid=hardsigmoid,
    hardshrink=hardshrink,
    softshrink=softshrink,
    threshold=threshold,
    rrelu=rrelu,
    SELU_ALPHA=SELU_ALPHA,
    SELU_SCALE=SELU_SCALE,
    product=kernel_product,
    constant=kernel_constant,
    softmax=softmax,
    log_softmax=log_softmax,
    glu=glu,
    normalize=normalize,
    layer_norm=layer_norm,
    group_norm=group_norm,
    rms_norm=rms_norm,
)


def start_bits(xs: Iterable[float]) -> int:
    """Enough bits that small inputs do not cancel away (x − tanh x ~ x³/3 near 0)."""
    tiny = max((-math.frexp(x)[1] for x in xs if x and math.isfinite(x)), default=0)
    return START_BITS + 3 * max(0, tiny)


def converge(
    attempt: Callable[[], list[Any]], start: int = START_BITS
) -> tuple[list[Any], list[bool]]:
    """``attempt()`` (intervals) at doubling precision until every value is known: its
    bounds round to one float64 and pin it past its last bit. (The values, each one's first
    known evaluation or its last; whether each is known.) Stops at MAX_BITS or the budget's
    deadline; NoReference if no evaluation could decide its comparisons."""
    bits, fixed, known = start, None, None
    while True:
        try:
            with mp.workprec(bits):
                values = attempt()
        except Undecided:  # a branch these bounds cannot decide: more bits
            values = None
        except mp.OutOfTime:
            if fixed is None:
                raise
            return fixed, known
        if values is not None:
            if fixed is None:
                fixed, known = list(values), [False] * len(values)
            for i, v in enumerate(values):
                if not known[i]:
                    fixed[i] = v
                    known[i] = mp.known(v) is not None
            if all(known):
                return fixed, known
        if bits >= MAX_BITS or time.monotonic() > mp.DEADLINE[0]:
            if fixed is None:
                raise NoReference(f"the reference could not decide a branch at {bits} bits")
            return fixed, known
        bits *= 2
