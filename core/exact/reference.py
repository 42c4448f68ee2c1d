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

Elementwise functions get every derivative order through :mod:`taylor`'s Taylor arithmetic;
functions along a dim their Jacobian, losses and norms their gradient (:mod:`reference_losses`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..errors import ActgradError
from ..functions import registry
from . import interval as mp
from . import taylor
from .interval import Undecided, mpf
from .taylor import Taylor

START_BITS = 96  # the first working precision; each next one is twice the last
MAX_BITS = 1 << 15  # the highest working precision (a value still unknown there is unsettled)
DIGITS = 20  # significant digits of --exact
MAX_ORDER = 4
CACHE_POINTS = 1 << 18

SELU_ALPHA = "1.6732632423543772848170429916717"  # the self-normalizing constants, to 32 digits
SELU_SCALE = "1.0507009873554804934193349852946"
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

        return Truth(row(self.hi), row(self.lo), row(self.text), row(self.settled))


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


def _side(x: Taylor, c: Any) -> int:
    """Where x is against the branch point ``c``: -1, +1, or at a tie the side being taken
    (0: none forced)."""
    if x.v != c:
        return 1 if x.v > c else -1
    return _TIE[0]


# The operations an entry's ``exact`` form is written with (core/functions/activations.py): Taylor
# arithmetic over intervals, and the branches of the piecewise functions, each taking torch's
# side at its breakpoints (see _side).


def ramp(x: Taylor, slope: Any) -> Taylor:
    return x if _side(x, 0) > 0 else x * slope


def elu(x: Taylor, alpha: Any, scale: Any = 1) -> Taylor:
    return x * scale if _side(x, 0) > 0 else taylor.expm1(x) * (alpha * scale)


def celu(x: Taylor, alpha: Any) -> Taylor:
    return x if _side(x, 0) > 0 else taylor.expm1(x / alpha) * alpha


def clip(x: Taylor, low: Any, high: Any) -> Taylor:
    """x strictly inside (low, high), the constant at and beyond the ends."""
    if _side(x, low) <= 0:
        return x.const(low)
    if _side(x, high) >= 0:
        return x.const(high)
    return x


def gelu(x: Taylor, approximate: str) -> Taylor:
    if approximate == "tanh":  # 0.5·x·(1 + tanh(z)) = x·σ(2z)
        k = mp.sqrt(2 / mp.pi)
        z = (x + x * x * x * mpf(GELU_KAPPA)) * k
        return x * taylor.sigmoid(z * 2)
    return x * taylor.erfc(-x / mp.sqrt(2)) / 2  # x·Φ(x), erfc so the left tail does not cancel


def softsign(x: Taylor) -> Taylor:
    return x / (1 + x) if _side(x, 0) >= 0 else x / (1 - x)


def softplus_beta(x: Taylor, beta: float, threshold: float) -> Taylor:
    """softplus(β·x)/β below the threshold, x from it on (torch's switch)."""
    b = mpf(beta)
    if _side(x * b, threshold) > 0:
        return x
    return taylor.softplus(x * b) / b


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
    if p.get("training"):
        raise NoReference("rrelu with --training draws a random slope per element")
    return ramp(x, (mpf(p["lower"]) + mpf(p["upper"])) / 2)


OPS = SimpleNamespace(
    mpf=mpf,
    sigmoid=taylor.sigmoid,
    tanh=taylor.tanh,
    softplus=taylor.softplus,
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
)


def exact_form(name: str) -> Callable[[Taylor, Mapping[str, Any]], Taylor] | None:
    """The exact form of a registry function, as f(x, params) over Taylor series; None when
    its entry has none."""
    spec = registry.get(name) if registry.resolve(name) else None
    if spec is None or spec.exact is None or not spec.elementwise:
        return None
    form = spec.exact
    return lambda x, p: form(OPS, x, p)


def _start_bits(xs: Iterable[float]) -> int:
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


def at_kink(spec: registry.FunctionSpec, params: Mapping[str, Any], x: float) -> str:
    """torch's side at each order where ``x`` is one of the function's kinks ("" if none)."""
    for kink in spec.kinks(params):
        if not isinstance(kink.at, str) and x == kink.at and kink.sides:
            return kink.sides
    return ""


def _by_side(fn: Callable[[], list[Any]], sides: str) -> list[Any]:
    """f, f′, … at a kink: each order from the branch torch takes there (0 where neither)."""
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


_CACHE: dict[tuple[Any, ...], tuple[list[Any], list[bool]]] = {}


def point(
    name: str, params: Mapping[str, Any], x: float, order: int, bits: int | None = None
) -> tuple[list[Any], list[bool]]:
    """f(x), f′(x), …, f⁽ᵒʳᵈᵉʳ⁾(x) as intervals, and whether each settled; ``bits``: start
    at that working precision instead (uncached; the tests use it)."""
    fn = exact_form(name)
    if fn is None:
        raise NoReference(f"no elementwise reference for {name}")
    own = tuple(sorted(params.items()))
    key = (name, own, float(x), order, bits)
    for higher in range(order, MAX_ORDER + 1):  # a point known to a higher order knows this
        hit = _CACHE.get((name, own, float(x), higher, bits))
        if hit is not None:
            return (hit[0][: order + 1], hit[1][: order + 1])
    if not math.isfinite(x):
        out: tuple[list[Any], list[bool]] = ([mpf(math.nan)] * (order + 1), [True] * (order + 1))
    else:
        sides = at_kink(registry.get(name), params, x)

        def attempt() -> list[Any]:
            return fn(Taylor.variable(x, order), params).derivatives()

        try:
            out = converge(
                (lambda: _by_side(attempt, sides)) if sides else attempt, bits or _start_bits([x])
            )
        except mp.OutOfTime:  # the budget ran out before this point: unsettled
            return [mpf(math.nan)] * (order + 1), [False] * (order + 1)
    if all(out[1]) or mp.DEADLINE[0] == math.inf:  # what a budget cut short is not kept
        if len(_CACHE) >= CACHE_POINTS:
            _CACHE.clear()
        _CACHE[key] = out
    return out


def elementwise(
    name: str,
    params: Mapping[str, Any],
    x: np.ndarray,
    order: int,
    digits: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[Truth]:
    """The truth for f, f′, …, f⁽ᵒʳᵈᵉʳ⁾ at every element of ``x`` (exact float64 values)."""
    if order > MAX_ORDER:
        raise NoReference(f"the reference stops at order {MAX_ORDER}")
    flat = np.asarray(x, dtype=np.float64).reshape(-1)
    values: list[list[Any]] = [[] for _ in range(order + 1)]
    known: list[list[bool]] = [[] for _ in range(order + 1)]
    for i, xi in enumerate(flat.tolist()):
        found, ok = point(name, params, xi, order)
        for k in range(order + 1):
            values[k].append(found[k])
            known[k].append(ok[k])
        if progress is not None and i % 256 == 255:
            progress(256)
    shape = np.shape(x)
    return [truth_of(values[k], known[k], shape, digits) for k in range(order + 1)]


# ----------------------------------------------------------------------------------------------
# functions along a dim: value and Jacobian of one slice, in closed forms that do not cancel


def _softmax_parts(x: list[Any]) -> tuple[list[Any], list[Any], Any]:
    """e_j = exp(x_j − max), their sum S, and for each i the sum of the others (1 − p_i = that
    over S without cancelling)."""
    top = max(x)
    e = [mp.exp(v - top) for v in x]
    total = mp.fsum(e)
    others = [mp.fsum(e[:i] + e[i + 1 :]) for i in range(len(e))]
    return e, others, total


def _softmax(x: list[Any], sign: int) -> tuple[list[Any], list[list[Any]]]:
    e, others, total = _softmax_parts([sign * v for v in x])
    p = [v / total for v in e]
    jac = [
        [sign * (p[i] * others[i] / total if i == j else -p[i] * p[j]) for j in range(len(p))]
        for i in range(len(p))
    ]
    return p, jac


def _log_softmax(x: list[Any]) -> tuple[list[Any], list[list[Any]]]:
    e, others, total = _softmax_parts(x)
    top, log_total = max(x), mp.log(total)
    y = [v - top - log_total for v in x]
    p = [v / total for v in e]
    jac = [[others[i] / total if i == j else -p[j] for j in range(len(x))] for i in range(len(x))]
    return y, jac


def _glu(x: list[Any]) -> tuple[list[Any], list[list[Any]]]:
    half = len(x) // 2
    y, jac = [], []
    for i in range(half):
        s = taylor.sigmoid(Taylor.variable(x[half + i], 1))  # σ(b) and σ′(b)
        y.append(x[i] * s.c[0])
        row = [mpf(0)] * len(x)
        row[i], row[half + i] = s.c[0], x[i] * s.c[1]
        jac.append(row)
    return y, jac


def _normalize(x: list[Any], p: float, eps: float) -> tuple[list[Any], list[list[Any]]]:
    if not (math.isfinite(p) and p >= 1):
        raise NoReference("the normalize reference covers finite p ≥ 1")
    powers = [abs(v) ** p for v in x]
    norm = mp.fsum(powers) ** (1 / mpf(p))
    n = len(x)
    if norm <= eps:  # x / eps: the identity over eps
        return [v / eps for v in x], [
            [mpf(1) / eps if i == j else mpf(0) for j in range(n)] for i in range(n)
        ]
    scale = norm ** (p + 1)
    jac = []
    for i in range(n):
        row = []
        for j in range(n):
            if i == j:  # (‖x‖ᵖ − |x_i|ᵖ)/‖x‖ᵖ⁺¹, the other elements' share: no cancellation
                row.append(mp.fsum(powers[:i] + powers[i + 1 :]) / scale)
            else:
                row.append(-x[i] * mp.sign(x[j]) * abs(x[j]) ** (p - 1) / scale)
        jac.append(row)
    return [v / norm for v in x], jac


def _layer_norm(x: list[Any], eps: float, weight: float, bias: float) -> tuple[list, list]:
    n = len(x)
    mean = mp.fsum(x) / n
    d = [v - mean for v in x]
    s = mp.sqrt(mp.fsum([v * v for v in d]) / n + mpf(eps))
    xh = [v / s for v in d]
    w, b = mpf(weight), mpf(bias)
    jac = [
        [w / s * ((1 if i == j else 0) - mpf(1) / n - xh[i] * xh[j] / n) for j in range(n)]
        for i in range(n)
    ]
    return [w * v + b for v in xh], jac


def _rms_norm(x: list[Any], eps: float, weight: float) -> tuple[list, list]:
    n = len(x)
    r2 = mp.fsum([v * v for v in x]) / n + mpf(eps)
    r = mp.sqrt(r2)
    w = mpf(weight)
    jac = [
        [w / r * ((1 if i == j else 0) - x[i] * x[j] / (n * r2)) for j in range(n)]
        for i in range(n)
    ]
    return [w * v / r for v in x], jac


OPS.softmax, OPS.log_softmax, OPS.glu, OPS.normalize = _softmax, _log_softmax, _glu, _normalize
OPS.layer_norm, OPS.rms_norm = _layer_norm, _rms_norm


def along_dim(
    name: str, params: Mapping[str, Any], row: list[float]
) -> tuple[list[Any], list[list[Any]], list[bool], list[list[bool]]]:
    """(y, J, whether each y settled, whether each entry of J did) of one slice (a list of
    exact floats) of a function along a dim."""
    if not all(math.isfinite(v) for v in row):
        raise NoReference("the reference of a slice needs finite inputs")

    form = registry.get(name).exact
    if form is None:
        raise NoReference(f"no reference for {name}")
    m, n = len(row), len(row)

    def attempt() -> list[Any]:
        nonlocal m
        y, jac = form(OPS, [mpf(v) for v in row], params)
        m = len(y)
        return [*y, *(v for r in jac for v in r)]

    values, ok = converge(attempt, _start_bits(row))

    def rows(a: list[Any]) -> list[list[Any]]:
        return [a[m + i * n : m + (i + 1) * n] for i in range(m)]

    return values[:m], rows(values), ok[:m], rows(ok)
