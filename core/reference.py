"""Ground truth: every function's value and derivatives in arbitrary precision (mpmath).

The formulas are written from the mathematics, not from torch's kernels (where torch defines a
function by a formula, as gelu's tanh form or hardswish, that formula in exact arithmetic), and
take torch's conventions at kinks from the registry (whose values the tests check against
torch). Each point is evaluated at the input's exact binary value, at a working precision that
is doubled until two evaluations round to the same float64, so the reference is correct to the
last bit of float64 (and kept as hi + lo, so an error is measured to a fraction of an ulp).

Elementwise functions get every derivative order through :mod:`jet`'s Taylor arithmetic;
functions along a dim their Jacobian, losses and norms their gradient (:mod:`reference_losses`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from actgrad.core import jet, registry
from actgrad.core.errors import ActgradError
from actgrad.core.jet import Jet
from mpmath import mp, mpf

START_BITS = 80  # first working precision; the second is twice that
MAX_BITS = 1 << 15  # give up doubling here (the point is marked unconverged)
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
    """The reference for one result field: float64 nearest (hi), the remainder (lo), and the
    decimal digits when asked for; ``converged`` is False where doubling stopped at MAX_BITS."""

    hi: np.ndarray
    lo: np.ndarray
    text: np.ndarray | None = None
    converged: bool = True


# ----------------------------------------------------------------------------------------------
# elementwise activations: f(x: Jet, params) -> Jet


_TIE = [0]  # at a kink point: -1 the left branch, +1 the right one, 0 the function's own rule


def _side(x: Jet, c: Any) -> int:
    """Where x is against the branch point ``c``: -1, +1, or at a tie the side being taken
    (0: none forced)."""
    if x.v != c:
        return 1 if x.v > c else -1
    return _TIE[0]


def _ramp(x: Jet, slope: Any) -> Jet:
    return x if _side(x, 0) > 0 else x * slope


def _elu(x: Jet, alpha: Any, scale: Any = 1) -> Jet:
    return x * scale if _side(x, 0) > 0 else jet.expm1(x) * (alpha * scale)


def _celu(x: Jet, alpha: Any) -> Jet:
    return x if _side(x, 0) > 0 else jet.expm1(x / alpha) * alpha


def _clip(x: Jet, low: Any, high: Any) -> Jet:
    """x strictly inside (low, high), the constant at and beyond the ends."""
    if _side(x, low) <= 0:
        return x.const(low)
    if _side(x, high) >= 0:
        return x.const(high)
    return x


def _gelu(x: Jet, p: Mapping[str, Any]) -> Jet:
    if p["approximate"] == "tanh":  # 0.5·x·(1 + tanh(z)) = x·σ(2z)
        k = mp.sqrt(2 / mp.pi)
        z = (x + x * x * x * mpf(GELU_KAPPA)) * k
        return x * jet.sigmoid(z * 2)
    return x * jet.erfc(-x / mp.sqrt(2)) / 2  # x·Φ(x), erfc so the left tail does not cancel


def _softsign(x: Jet, p: Mapping[str, Any]) -> Jet:
    return x / (1 + x) if _side(x, 0) >= 0 else x / (1 - x)


def _softplus(x: Jet, p: Mapping[str, Any]) -> Jet:
    beta = mpf(p["beta"])
    if _side(x * beta, p["threshold"]) > 0:
        return x
    return jet.softplus(x * beta) / beta


def _hardswish(x: Jet, p: Mapping[str, Any]) -> Jet:
    if _side(x, -3) <= 0:
        return x.const(0)
    if _side(x, 3) >= 0:
        return x
    return x * (x + 3) / 6


def _hardsigmoid(x: Jet, p: Mapping[str, Any]) -> Jet:
    if _side(x, -3) <= 0:
        return x.const(0)
    if _side(x, 3) >= 0:
        return x.const(1)
    return x / 6 + mpf(1) / 2


def _hardshrink(x: Jet, p: Mapping[str, Any]) -> Jet:
    outside = _side(x, p["lambd"]) > 0 or _side(x, -p["lambd"]) < 0
    return x if outside else x * 0


def _softshrink(x: Jet, p: Mapping[str, Any]) -> Jet:
    lambd = mpf(p["lambd"])
    if _side(x, lambd) > 0:
        return x - lambd
    if _side(x, -lambd) < 0:
        return x + lambd
    return x * 0


def _threshold(x: Jet, p: Mapping[str, Any]) -> Jet:
    return x if _side(x, p["threshold"]) > 0 else x.const(p["value"])


def _rrelu(x: Jet, p: Mapping[str, Any]) -> Jet:
    if p.get("training"):
        raise NoReference("rrelu with --training draws a random slope per element")
    return _ramp(x, (mpf(p["lower"]) + mpf(p["upper"])) / 2)


ELEMENTWISE: dict[str, Callable[[Jet, Mapping[str, Any]], Jet]] = {
    "relu": lambda x, p: _ramp(x, 0),
    "relu6": lambda x, p: _clip(x, 0, 6),
    "leaky_relu": lambda x, p: _ramp(x, mpf(p["negative_slope"])),
    "prelu": lambda x, p: _ramp(x, mpf(p["weight"])),
    "rrelu": _rrelu,
    "elu": lambda x, p: _elu(x, mpf(p["alpha"])),
    "celu": lambda x, p: _celu(x, mpf(p["alpha"])),
    "selu": lambda x, p: _elu(x, mpf(SELU_ALPHA), mpf(SELU_SCALE)),
    "gelu": _gelu,
    "silu": lambda x, p: x * jet.sigmoid(x),
    "mish": lambda x, p: x * jet.tanh(jet.softplus(x)),
    "sigmoid": lambda x, p: jet.sigmoid(x),
    "logsigmoid": lambda x, p: -jet.softplus(-x),
    "hardsigmoid": _hardsigmoid,
    "tanh": lambda x, p: jet.tanh(x),
    "hardtanh": lambda x, p: _clip(x, mpf(p["min_val"]), mpf(p["max_val"])),
    "softsign": _softsign,
    "softplus": _softplus,
    "hardswish": _hardswish,
    "hardshrink": _hardshrink,
    "softshrink": _softshrink,
    "tanhshrink": lambda x, p: jet.tanhshrink(x),
    "threshold": _threshold,
}


def _start_bits(xs: Iterable[float]) -> int:
    """Enough bits that small inputs do not cancel away (x − tanh x ~ x³/3 near 0)."""
    tiny = max((-math.frexp(x)[1] for x in xs if x and math.isfinite(x)), default=0)
    return START_BITS + 3 * max(0, tiny)


def _same(a: list[float], b: list[float] | None) -> bool:
    return b is not None and all(u == v or (u != u and v != v) for u, v in zip(a, b, strict=True))


def converge(evaluate: Callable[[], list[Any]], start: int = START_BITS) -> tuple[list[Any], bool]:
    """``evaluate()`` at doubling precision until two evaluations round to the same float64s:
    (the values, converged)."""
    bits, last = start, None
    while True:
        with mp.workprec(bits):
            values = evaluate()
        rounded = [float(v) for v in values]
        if _same(rounded, last):
            return values, True
        if bits >= MAX_BITS:
            return values, False
        last, bits = rounded, bits * 2


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


_CACHE: dict[tuple[Any, ...], tuple[list[Any], bool]] = {}


def point(name: str, params: Mapping[str, Any], x: float, order: int,
          bits: int | None = None) -> tuple[list[Any], bool]:  # fmt: skip
    """f(x), f′(x), …, f⁽ᵒʳᵈᵉʳ⁾(x) as mpf at the precision that converged, and whether it did;
    ``bits``: start at that working precision instead (uncached; the tests use it)."""
    fn = ELEMENTWISE.get(name)
    if fn is None:
        raise NoReference(f"no elementwise reference for {name}")
    key = (name, tuple(sorted(params.items())), float(x), order, bits)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    if not math.isfinite(x):
        out: tuple[list[Any], bool] = ([mpf(math.nan)] * (order + 1), True)
    else:
        sides = at_kink(registry.get(name), params, x)

        def evaluate() -> list[Any]:
            return fn(Jet.variable(x, order), params).derivatives()

        out = converge((lambda: _by_side(evaluate, sides)) if sides else evaluate,
                       bits or _start_bits([x]))  # fmt: skip
    if len(_CACHE) >= CACHE_POINTS:
        _CACHE.clear()
    _CACHE[key] = out
    return out


def split(value: Any) -> tuple[float, float]:
    """An mpf as float64 nearest and the float64 nearest the remainder."""
    hi = float(value)
    if not math.isfinite(hi):
        return hi, 0.0
    return hi, float(value - mpf(hi))


def decimal(value: Any, digits: int = DIGITS) -> str:
    """``value`` to ``digits`` significant digits (mpmath's shortest exact-enough text)."""
    if value != value:
        return "nan"
    return mp.nstr(value, digits, min_fixed=-5, max_fixed=digits, strip_zeros=True)


def elementwise(
    name: str, params: Mapping[str, Any], x: np.ndarray, order: int, digits: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[Truth]:  # fmt: skip
    """The truth for f, f′, …, f⁽ᵒʳᵈᵉʳ⁾ at every element of ``x`` (exact float64 values)."""
    if order > MAX_ORDER:
        raise NoReference(f"the reference stops at order {MAX_ORDER}")
    flat = np.asarray(x, dtype=np.float64).reshape(-1)
    hi = np.empty((order + 1, flat.size))
    lo = np.empty((order + 1, flat.size))
    text = np.empty((order + 1, flat.size), dtype=object) if digits else None
    converged = True
    for i, xi in enumerate(flat.tolist()):
        values, ok = point(name, params, xi, order)
        converged &= ok
        for k, v in enumerate(values):
            hi[k, i], lo[k, i] = split(v)
            if text is not None:
                text[k, i] = decimal(v)
        if progress is not None and i % 256 == 255:
            progress(256)
    shape = np.shape(x)
    return [
        Truth(
            hi[k].reshape(shape),
            lo[k].reshape(shape),
            None if text is None else text[k].reshape(shape),
            converged,
        )
        for k in range(order + 1)
    ]


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
    jac = [[sign * (p[i] * others[i] / total if i == j else -p[i] * p[j]) for j in range(len(p))]
           for i in range(len(p))]  # fmt: skip
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
        s = jet.sigmoid(Jet.variable(x[half + i], 1))  # σ(b) and σ′(b)
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
        return [v / eps for v in x], [[mpf(1) / eps if i == j else mpf(0) for j in range(n)]
                                      for i in range(n)]  # fmt: skip
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


def along_dim(name: str, params: Mapping[str, Any], row: list[float]) -> tuple[
        list[Any], list[list[Any]], bool]:  # fmt: skip
    """(y, J, converged) of one slice (a list of exact floats) of a function along a dim."""
    if not all(math.isfinite(v) for v in row):
        raise NoReference("the reference of a slice needs finite inputs")

    def evaluate() -> list[Any]:
        x = [mpf(v) for v in row]
        if name in ("softmax", "softmin"):
            y, jac = _softmax(x, 1 if name == "softmax" else -1)
        elif name == "log_softmax":
            y, jac = _log_softmax(x)
        elif name == "glu":
            y, jac = _glu(x)
        elif name == "normalize":
            y, jac = _normalize(x, float(params["p"]), float(params["eps"]))
        else:
            raise NoReference(f"no reference for {name}")
        return [*y, *(v for r in jac for v in r)]

    values, ok = converge(evaluate, _start_bits(row))
    m = len(row) // 2 if name == "glu" else len(row)
    return values[:m], [values[m + i * len(row) : m + (i + 1) * len(row)] for i in range(m)], ok
