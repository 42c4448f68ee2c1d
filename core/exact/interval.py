"""Interval arithmetic in arbitrary precision: the reference's numbers, each a pair of bounds
that the true value lies between.

Every operation rounds its lower bound down and its upper bound up (mpmath's raw ``libmp``
arithmetic with directed rounding), so the bounds hold whatever cancellation happens on the way:
``1 + e^-120`` at 96 bits is [1, 1 + 2^-95], and its log [0, 2^-95], not a confident 0. The
transcendental functions are monotone pieces evaluated 16 bits beyond the working precision with
directed rounding and widened by a unit there (mpmath computes them to within an ulp), or
mpmath's own interval routines (sin, cos). A number is *settled* when its bounds round to the
same float64: that float64 is then the correctly rounded value of the truth.

The module reads like ``mpmath.mp`` (``exp``, ``log``, ``fsum``, ``mpf``, ``pi``, ``workprec``),
so :mod:`taylor` and the references compute with it unchanged. Comparisons decide only what the
bounds decide; otherwise :class:`Undecided` is raised and the caller works at a higher precision.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Iterable, Iterator
from typing import Any

import mpmath
from mpmath.libmp import (
    finf,
    fnan,
    fninf,
    fone,
    from_float,
    from_int,
    fzero,
    libmpi,
    mpf_add,
    mpf_cmp,
    mpf_div,
    mpf_e,
    mpf_erf,
    mpf_erfc,
    mpf_exp,
    mpf_log,
    mpf_mul,
    mpf_neg,
    mpf_pi,
    mpf_pos,
    mpf_shift,
    mpf_sqrt,
    mpf_sub,
    mpf_tanh,
    normalize,
    round_ceiling,
    round_floor,
    round_nearest,
)

PREC = [96]  # the working precision in bits (workprec sets it)
GUARD = 16  # a transcendental function is evaluated this many bits beyond the working precision
HUGE = from_int(1 << 30)  # |x| beyond which exp(x) is past any float: it is bounded, not computed
BEYOND = mpf_shift(fone, -(1 << 29))  # far under any float, and under what a cancellation
# leaves at any working precision (2⁻³²⁷⁶⁸ of its terms) unless its terms are that small
# themselves; over e^−huge's bound 2^(−2³⁰) times any float: bounds of either sign under
# it are e^−huge's, "0 ± bound" (text)


class Undecided(ArithmeticError):
    """The bounds do not decide a comparison at this precision."""


class OutOfTime(Exception):
    """The reference's time budget ran out (budget())."""


DEADLINE = [math.inf]  # time.monotonic() past which evaluation stops (budget() sets it)


@contextlib.contextmanager
def budget(seconds: float | None) -> Iterator[None]:
    """Within this block the reference works for ``seconds`` at most (None: no limit): past
    it, :func:`on_time` raises OutOfTime, and what has not settled is unsettled."""
    saved = DEADLINE[0]
    if seconds is not None:
        DEADLINE[0] = min(saved, time.monotonic() + seconds)
    try:
        yield
    finally:
        DEADLINE[0] = saved


def on_time() -> None:
    """OutOfTime once the budget's deadline has passed (called by the series arithmetic)."""
    if DEADLINE[0] != math.inf and time.monotonic() > DEADLINE[0]:
        raise OutOfTime


def _bits(s: tuple) -> int:
    """The binary exponent of a raw mpf's leading bit (s ≠ 0, finite)."""
    return s[2] + s[3]


def _widen_down(s: tuple, prec: int) -> tuple:
    """A raw mpf lowered by one unit at ``prec`` bits (finite, nonzero)."""
    if s in (fzero, finf, fninf, fnan):
        return s
    return mpf_sub(s, mpf_shift(fone, _bits(s) - prec), prec, round_floor)


def _widen_up(s: tuple, prec: int) -> tuple:
    if s in (fzero, finf, fninf, fnan):
        return s
    return mpf_add(s, mpf_shift(fone, _bits(s) - prec), prec, round_ceiling)


def _raw(v: Any) -> tuple:
    if isinstance(v, float):
        return from_float(v)
    if isinstance(v, int):
        return from_int(v)
    return mpmath.mpf(v)._mpf_


NUMBERS = (int, float, str, mpmath.mpf)


class mpf:
    """An interval [a, b] of raw mpfs (a point when a == b); NaN when both are NaN."""

    __slots__ = ("a", "b")

    def __init__(self, value: Any = 0, upper: Any = None) -> None:
        if isinstance(value, mpf):
            self.a, self.b = value.a, value.b
        elif isinstance(value, str):
            if value.strip().lower() in ("nan", "inf", "+inf", "-inf"):
                self.a = self.b = _raw(value)
            else:  # a decimal constant: the interval around it
                self.a, self.b = libmpi.mpi_from_str(value, PREC[0])
        elif isinstance(value, tuple):  # raw bounds
            self.a, self.b = value, (value if upper is None else upper)
        else:
            self.a = _raw(value)
            self.b = self.a if upper is None else _raw(upper)

    @classmethod
    def of(cls, a: tuple, b: tuple) -> mpf:
        out = cls.__new__(cls)
        if a == fnan or b == fnan:
            a = b = fnan
        out.a, out.b = a, b
        return out

    # -- what the bounds say ---------------------------------------------------------------
    def mid(self) -> mpmath.mpf:
        """The midpoint, as an mpmath number (for text and for choosing between formulas)."""
        if self.a == fnan:
            return mpmath.mpf("nan")
        if self.a == self.b:
            return mpmath.mpf(self.a)
        if self.a == fninf or self.b == finf:
            return mpmath.mpf(self.a if self.b == finf and self.a != fninf else self.b)
        return mpmath.mpf(mpf_shift(mpf_add(self.a, self.b, PREC[0] + 8), -1))

    def __float__(self) -> float:
        return nearest(self.a) if self.a == self.b else float(self.mid())

    def __int__(self) -> int:
        return int(float(self))

    def __repr__(self) -> str:
        return f"[{mpmath.mpf(self.a)}, {mpmath.mpf(self.b)}]"

    # -- comparisons: decided by the bounds, or Undecided --------------------------------
    def _cmp(self, other: Any) -> tuple[int, int] | None:
        o = other if isinstance(other, mpf) else mpf(other)
        if self.a == fnan or o.a == fnan:
            return None
        return mpf_cmp(self.b, o.a), mpf_cmp(self.a, o.b)

    def __lt__(self, other: Any) -> bool:
        c = self._cmp(other)
        if c is None:
            return False
        if c[0] < 0:
            return True
        if c[1] >= 0:
            return False
        raise Undecided

    def __le__(self, other: Any) -> bool:
        c = self._cmp(other)
        if c is None:
            return False
        if c[0] <= 0:
            return True
        if c[1] > 0:
            return False
        raise Undecided

    def __gt__(self, other: Any) -> bool:
        return (other if isinstance(other, mpf) else mpf(other)).__lt__(self)

    def __ge__(self, other: Any) -> bool:
        return (other if isinstance(other, mpf) else mpf(other)).__le__(self)

    def __eq__(self, other: Any) -> bool:  # type: ignore[override]
        c = self._cmp(other)
        if c is None:
            return False
        if c[0] < 0 or c[1] > 0:
            return False
        o = other if isinstance(other, mpf) else mpf(other)
        if self.a == self.b == o.a == o.b:
            return True
        raise Undecided

    def __ne__(self, other: Any) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        if self.a == fnan:
            return True
        if self.a == self.b == fzero:
            return False
        if mpf_cmp(self.a, fzero) > 0 or mpf_cmp(self.b, fzero) < 0:
            return True
        raise Undecided

    # -- arithmetic -------------------------------------------------------------------------
    def __pos__(self) -> mpf:
        return self

    def __neg__(self) -> mpf:
        return mpf.of(mpf_neg(self.b), mpf_neg(self.a))

    def __abs__(self) -> mpf:
        if self.a == fnan:
            return self
        return mpf.of(*libmpi.mpi_abs((self.a, self.b)))

    def __add__(self, other: Any) -> mpf:
        o, p = (other if other.__class__ is mpf else operand(other)), PREC[0]
        if o is None:
            return NotImplemented
        if o.a is fzero and o.b is fzero:  # adding an exact 0 (a pass's unseeded tangents)
            return self
        if self.a is fzero and self.b is fzero:
            return o
        return mpf.of(mpf_add(self.a, o.a, p, round_floor), mpf_add(self.b, o.b, p, round_ceiling))

    __radd__ = __add__

    def __sub__(self, other: Any) -> mpf:
        o, p = operand(other), PREC[0]
        if o is None:
            return NotImplemented
        return mpf.of(mpf_sub(self.a, o.b, p, round_floor), mpf_sub(self.b, o.a, p, round_ceiling))

    def __rsub__(self, other: Any) -> mpf:
        if not isinstance(other, NUMBERS):
            return NotImplemented
        return mpf(other) - self

    def __mul__(self, other: Any) -> mpf:
        o = other if other.__class__ is mpf else operand(other)
        if o is None:
            return NotImplemented
        if self.a is fzero and self.b is fzero and o.a == o.b and o.a not in _NONFINITE:
            return self  # an exact 0 times a point: the seeded passes' most common product
        if self.a == fnan or o.a == fnan:
            return NAN()
        if (self.a == self.b == fzero and o.a != o.b) or (o.a == o.b == fzero and self.a != self.b):
            return mpf(0)  # 0 times a finite number known within bounds (an end may be ±inf)
        if self.a == self.b and o.a == o.b:  # points: one product, rounded both ways
            p = PREC[0]
            return mpf.of(
                mpf_mul(self.a, o.a, p, round_floor), mpf_mul(self.a, o.a, p, round_ceiling)
            )
        return mpf.of(*libmpi.mpi_mul((self.a, self.b), (o.a, o.b), PREC[0]))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> mpf:
        o = operand(other)
        if o is None:
            return NotImplemented
        if self.a == fnan or o.a == fnan:
            return NAN()
        if o.a == o.b == fzero:  # x/0 for a known sign of x: ±inf; otherwise nan
            if mpf_cmp(self.a, fzero) > 0:
                return mpf(math.inf)
            if mpf_cmp(self.b, fzero) < 0:
                return mpf(-math.inf)
            return NAN()
        return mpf.of(*libmpi.mpi_div((self.a, self.b), (o.a, o.b), PREC[0]))

    def __rtruediv__(self, other: Any) -> mpf:
        if not isinstance(other, NUMBERS):
            return NotImplemented
        return mpf(other) / self

    def __pow__(self, k: Any) -> mpf:
        if isinstance(k, int):
            if k < 0:
                return 1 / (self**-k)
            return mpf.of(*libmpi.mpi_pow_int((self.a, self.b), k, PREC[0]))
        return power(self, k)

    def __rpow__(self, base: Any) -> mpf:
        return power(mpf(base), self)


_NONFINITE = (fnan, finf, fninf)


def operand(other: Any) -> mpf | None:
    """``other`` as an interval; None for a type this arithmetic leaves to the other side (a
    Taylor, an array)."""
    if isinstance(other, mpf):
        return other
    return mpf(other) if isinstance(other, NUMBERS) else None


def NAN() -> mpf:
    return mpf.of(fnan, fnan)


# -- settling ------------------------------------------------------------------------------

TINY = mpf_shift(fone, -1075)  # half the smallest subnormal: below it a value rounds to 0


# significant bits, the exponent of the smallest subnormal, the exponent past the largest
FORMATS = {
    "float64": (53, -1074, 1024),
    "float32": (24, -149, 128),
    "float16": (11, -24, 16),
    "bfloat16": (8, -133, 128),
}
# at and past these a value rounds to inf: the largest number plus half its ulp
OVERFLOW = {
    f: mpf_sub(mpf_shift(fone, top), mpf_shift(fone, top - bits - 1))
    for f, (bits, _, top) in FORMATS.items()
}


def nearest(s: tuple, fmt: str = "float64") -> float:
    """A raw mpf as the nearest number of ``fmt`` (ties to even), subnormals and overflow
    included, returned as a Python float."""
    bits, quantum, _ = FORMATS[fmt]
    overflow = OVERFLOW[fmt]
    if s == fnan:
        return math.nan
    if s in (finf, fninf):
        return math.inf if s == finf else -math.inf
    sign, man, exp, bc = s
    if not man:
        return 0.0
    if mpf_cmp(abs_raw(s), overflow) >= 0:
        return -math.inf if sign else math.inf
    if exp + bc <= quantum - 1:  # below half the smallest subnormal (or exactly it: to even, 0)
        return -0.0 if sign else 0.0
    if exp + bc - 1 < quantum + bits - 1:  # the subnormal grid: multiples of 2^quantum
        shift = quantum - exp
        if shift <= 0:
            q = man << -shift
        else:
            q, r = divmod(man, 1 << shift)
            half = 1 << (shift - 1)
            if r > half or (r == half and q & 1):
                q += 1
        value = math.ldexp(q, quantum)
    else:
        _, man, exp, _ = normalize(0, man, exp, bc, bits, round_nearest)
        value = math.ldexp(man, exp)
    return -value if sign else value


def rounded_product(a: Any, b: Any, fmt: str) -> mpf:
    """a·b rounded to ``fmt`` once, as a kernel's multiply rounds it: the exact product of two
    points, else the product's interval rounded (:func:`rounded`)."""
    a, b = mpf(a), mpf(b)
    if a.a == a.b and b.a == b.b and fnan not in (a.a, b.a):
        return mpf(nearest(mpf_mul(a.a, b.a), fmt))  # no precision given: exact
    return rounded(a * b, fmt)


def rounded(x: Any, fmt: str) -> mpf:
    """``x`` rounded to ``fmt`` as torch's arithmetic rounds it (to nearest, ties to even):
    a point, when both bounds round alike; Undecided otherwise (more bits decide it)."""
    if not isinstance(x, mpf):
        x = mpf(x)
    low, high = nearest(x.a, fmt), nearest(x.b, fmt)
    if low != high and not (math.isnan(low) and math.isnan(high)):
        raise Undecided
    return mpf(low)


def settled(x: mpf) -> float | None:
    """The correctly rounded float64 of every number in ``x``, or None when the bounds do
    not decide it: both ends round to the same float64 (NaN: NaN)."""
    if x.a == fnan:
        return math.nan
    if x.a == x.b:
        return nearest(x.a)
    if mpf_cmp(x.a, mpf_neg(TINY)) > 0 and mpf_cmp(x.b, TINY) < 0:
        return 0.0  # strictly within half the smallest subnormal of 0
    low, high = nearest(x.a), nearest(x.b)
    return low if low == high else None


def narrow(x: mpf, bits: int = 64) -> bool:
    """True when the interval is a point, or holds no 0 and is narrower than 2^-bits of its
    magnitude (the truth then known well past float64's last bit)."""
    if x.a == x.b:
        return True
    if (
        x.a in (finf, fninf, fnan)
        or x.b in (finf, fninf)
        or mpf_cmp(x.a, fzero) <= 0 <= mpf_cmp(x.b, fzero)
    ):
        return False
    low = x.a if mpf_cmp(x.a, fzero) > 0 else mpf_neg(x.b)
    width = mpf_sub(x.b, x.a, 8, round_ceiling)
    return _bits(width) - _bits(low) + 1 <= -bits


def known(x: mpf) -> float | None:
    """The float64 the truth rounds to, once it is known well enough to measure an error to a
    fraction of an ulp: settled and narrow, or settled to 0, ±inf or NaN."""
    f = settled(x)
    if f is None:
        return None
    if f == 0 or math.isinf(f) or math.isnan(f) or narrow(x):
        return f
    return None


def split(x: mpf) -> tuple[float, float]:
    """(the float64 nearest the truth, the float64 nearest the remainder), from the midpoint."""
    hi = settled(x)
    if hi is None:
        return math.nan, math.nan
    if not math.isfinite(hi) or x.a == fnan:
        return hi, 0.0
    middle = x.a if x.a == x.b else mpf_shift(mpf_add(x.a, x.b, 128, round_nearest), -1)
    return hi, nearest(mpf_sub(middle, from_float(hi), 128, round_nearest))


def text(x: mpf, digits: int) -> str:
    """The truth in decimal, up to ``digits`` significant digits, as many as the bounds
    determine; "> bound" past any float, "< bound" for a positive number below any float
    (e^−huge: 0 is only its lower bound), "0 ± bound" for one of either sign (gelu′ at
    −3·10³⁸, Φ(x) + x·φ(x): two such numbers of opposite signs, so the bounds hold 0 on both
    sides, each end under :data:`BEYOND`); "0" where the bounds hold 0 on both sides
    otherwise (an exact 0, log σ(x) − log σ(x) at 120: ±7·10⁻⁴⁶³ at its precision)."""
    if x.a == fnan:
        return "nan"
    if x.b == finf and x.a != finf and mpf_cmp(x.a, fzero) > 0:  # past any float
        return "> " + mpmath.mp.nstr(mpmath.mpf(x.a), 3)
    if x.a == fninf and x.b != fninf and mpf_cmp(x.b, fzero) < 0:
        return "< " + mpmath.mp.nstr(mpmath.mpf(x.b), 3)
    if x.a == fzero and x.b != fzero and mpf_cmp(x.b, TINY) < 0:  # e^−huge: below any float
        return "< " + mpmath.mp.nstr(mpmath.mpf(x.b), 3)
    if x.b == fzero and x.a != fzero and mpf_cmp(mpf_neg(x.a), TINY) < 0:
        return "> " + mpmath.mp.nstr(mpmath.mpf(x.a), 3)
    low = mpf_neg(x.a)
    if (  # of either sign, each end where only e^−huge's bound reaches
        mpf_cmp(low, fzero) > 0
        and mpf_cmp(x.b, fzero) > 0
        and mpf_cmp(low, BEYOND) < 0
        and mpf_cmp(x.b, BEYOND) < 0
    ):
        return "0 ± " + mpmath.mp.nstr(mpmath.mpf(low if mpf_cmp(low, x.b) > 0 else x.b), 3)
    width = relative_width(x)
    if width == math.inf:  # the bounds hold 0 (within half the smallest subnormal of it)
        return "0"
    shown = digits if width == 0 else max(1, min(digits, int(-math.log10(width)) - 1))
    with mpmath.mp.workprec(max(PREC[0], 64) + 16):
        middle = mpmath.mpf(x.a) if x.a == x.b else (mpmath.mpf(x.a) + mpmath.mpf(x.b)) / 2
        return mpmath.mp.nstr(middle, shown, min_fixed=-5, max_fixed=digits, strip_zeros=True)


def whole(x: Any) -> bool:
    """True when ``x`` is a point that is a whole number (never Undecided)."""
    if not isinstance(x, mpf):
        return isinstance(x, int) or (isinstance(x, float) and x.is_integer())
    if x.a != x.b or x.a in (fnan, finf, fninf):
        return False
    return x.a == fzero or x.a[2] >= 0


def leaning_positive(x: Any) -> bool:
    """For choosing between two formulas that are equal (a stable form for each sign): the
    midpoint's sign, never Undecided."""
    if not isinstance(x, mpf):
        return x >= 0
    total = mpf_add(x.a, x.b)
    return total == fnan or mpf_cmp(total, fzero) >= 0


def relative_width(x: mpf) -> float:
    """(b − a) / min(|a|, |b|) as a float: 0 for a point, inf when the interval is unbounded
    or holds 0."""
    if x.a == fnan or x.a == x.b:
        return 0.0
    if (
        x.a in (finf, fninf)
        or x.b in (finf, fninf)
        or mpf_cmp(x.a, fzero) <= 0 <= mpf_cmp(x.b, fzero)
    ):
        return math.inf
    width = mpf_sub(x.b, x.a, 30, round_ceiling)
    low = min(abs_raw(x.a), abs_raw(x.b), key=lambda r: mpmath.mpf(r))
    return float(mpmath.mpf(mpf_div(width, low, 30, round_ceiling)))


# -- the context: what mpmath.mp offered the references ------------------------------------


@contextlib.contextmanager
def workprec(bits: int) -> Iterator[None]:
    saved = PREC[0]
    PREC[0] = int(bits)
    try:
        yield
    finally:
        PREC[0] = saved


def __getattr__(name: str) -> Any:  # pi and e at the working precision
    if name == "pi":
        return _pi()
    if name == "e":
        p = PREC[0]
        return mpf.of(mpf_e(p, round_floor), mpf_e(p, round_ceiling))
    raise AttributeError(name)


def _pi() -> mpf:
    p = PREC[0]
    return mpf.of(mpf_pi(p, round_floor), mpf_pi(p, round_ceiling))


_CONSTANTS = {  # the forms' irrational constants, by name
    "sqrt(2)": lambda: sqrt(mpf(2)),
    "1/sqrt(2pi)": lambda: 1 / sqrt(2 * _pi()),
    "2/sqrt(pi)": lambda: 2 / sqrt(_pi()),
}


def constant(name: str) -> mpf:
    """One of :data:`_CONSTANTS` at the working precision, computed once per precision (the
    fast tier asks at every block of points)."""
    return _constant(name, PREC[0])


@functools.lru_cache(maxsize=64)
def _constant(name: str, prec: int) -> mpf:
    with workprec(prec):
        return _CONSTANTS[name]()


_KNOWN: dict[tuple, mpf] = {}  # (f, a, b, precision) -> f over [a, b]: passes repeat values
KNOWN_SIZE = 1 << 16


def _monotone(f: Any, x: mpf, increasing: bool = True) -> mpf:
    """f over [a, b] for a monotone f evaluated GUARD bits beyond the working precision with
    directed rounding, then widened by a unit there (mpmath's error bound). Remembered: the
    passes of a Jacobian evaluate the same values again."""
    if x.a == fnan:
        return x
    key = (f, x.a, x.b, PREC[0], increasing)
    found = _KNOWN.get(key)
    if found is None:
        if len(_KNOWN) >= KNOWN_SIZE:
            _KNOWN.clear()
        found = _KNOWN[key] = _monotone_now(f, x, increasing)
    return found


def _monotone_now(f: Any, x: mpf, increasing: bool) -> mpf:
    p = PREC[0]
    q = p + GUARD
    lo, hi = (x.a, x.b) if increasing else (x.b, x.a)
    a = _widen_down(f(lo, q, round_floor), q - 1)
    b = _widen_up(f(hi, q, round_ceiling), q - 1)
    return mpf.of(mpf_pos(a, p, round_floor), mpf_pos(b, p, round_ceiling))


def _exp(s: tuple, prec: int, rnd: Any) -> tuple:
    if s in (finf, fninf):
        return finf if s == finf else fzero
    if mpf_cmp(s, HUGE) > 0:  # past any float: bounded, not computed (a hang otherwise)
        return mpf_shift(fone, 1 << 30) if rnd == round_floor else finf
    if mpf_cmp(s, mpf_neg(HUGE)) < 0:
        return fzero if rnd == round_floor else mpf_shift(fone, -(1 << 30))
    return mpf_exp(s, prec, rnd)


def exp(x: Any) -> mpf:
    return _monotone(_exp, x if isinstance(x, mpf) else mpf(x))


def _expm1(s: tuple, prec: int, rnd: Any) -> tuple:
    if s == fzero:
        return fzero
    if s in (finf, fninf) or mpf_cmp(abs_raw(s), HUGE) > 0:
        return mpf_sub(_exp(s, prec, rnd), fone, prec, rnd)
    extra = max(0, -_bits(s)) + 8  # e^s − 1 cancels about −log2|s| bits
    return mpf_sub(mpf_exp(s, prec + extra, rnd), fone, prec, rnd)


def abs_raw(s: tuple) -> tuple:
    return mpf_neg(s) if s[0] and s != fnan else s


def expm1(x: Any, slope: Any = None) -> mpf:  # (slope: the fast tier's)
    return _monotone(_expm1, x if isinstance(x, mpf) else mpf(x))


def _log(s: tuple, prec: int, rnd: Any) -> tuple:
    if s == fzero:
        return fninf
    if s == finf:
        return finf
    return mpf_log(s, prec, rnd)


def log(x: Any, slope: Any = None) -> mpf:  # (slope: the fast tier's)
    x = x if isinstance(x, mpf) else mpf(x)
    if x.a == fnan or mpf_cmp(x.b, fzero) < 0:
        return NAN()
    if mpf_cmp(x.a, fzero) < 0:  # straddles the domain's edge: this precision cannot tell
        raise Undecided
    return _monotone(_log, x)


def _log1p(s: tuple, prec: int, rnd: Any) -> tuple:
    if s == finf:
        return finf
    one_plus = mpf_add(fone, s)  # exact
    if one_plus == fzero:
        return fninf
    return mpf_log(one_plus, prec, rnd)


def log1p(x: Any, slope: Any = None) -> mpf:  # (slope: the fast tier's)
    x = x if isinstance(x, mpf) else mpf(x)
    if x.a == fnan or mpf_cmp(x.b, from_int(-1)) < 0:
        return NAN()
    if mpf_cmp(x.a, from_int(-1)) < 0:
        raise Undecided
    return _monotone(_log1p, x)


def _tanh(s: tuple, prec: int, rnd: Any) -> tuple:
    if s in (finf, fninf):
        return fone if s == finf else mpf_neg(fone)
    if mpf_cmp(abs_raw(s), HUGE) > 0:
        return mpf_tanh(
            mpf_shift(fone, 12) if not s[0] else mpf_neg(mpf_shift(fone, 12)), prec, rnd
        )
    return mpf_tanh(s, prec, rnd)


def tanh(x: Any, slope: Any = None) -> mpf:  # (slope: the fast tier's)
    return _monotone(_tanh, x if isinstance(x, mpf) else mpf(x))


def tanhshrink(x: Any) -> mpf:
    """x − tanh x (the fast tier's takes a series near 0; here the precision grows instead)."""
    x = x if isinstance(x, mpf) else mpf(x)
    return x - tanh(x)


def erf(x: Any, slope: Any = None) -> mpf:  # (slope: the fast tier's)
    return _monotone(_erf, x if isinstance(x, mpf) else mpf(x))


def _erf(s: tuple, prec: int, rnd: Any) -> tuple:
    if s in (finf, fninf):
        return fone if s == finf else mpf_neg(fone)
    return mpf_erf(s, prec, rnd)


def _erfc(s: tuple, prec: int, rnd: Any) -> tuple:
    if s in (finf, fninf):
        return fzero if s == finf else from_int(2)
    if mpf_cmp(s, from_int(1 << 26)) > 0:  # past 2^26 erfc underflows every format
        return fzero if rnd == round_floor else mpf_shift(fone, -(1 << 40))
    return mpf_erfc(s, prec, rnd)


def erfc(x: Any, slope: Any = None) -> mpf:  # (slope: the fast tier's)
    return _monotone(_erfc, x if isinstance(x, mpf) else mpf(x), increasing=False)


def sqrt(x: Any) -> mpf:
    x = x if isinstance(x, mpf) else mpf(x)
    if x.a == fnan or mpf_cmp(x.b, fzero) < 0:
        return NAN()
    if mpf_cmp(x.a, fzero) < 0:
        raise Undecided
    p = PREC[0]
    return mpf.of(mpf_sqrt(x.a, p, round_floor), mpf_sqrt(x.b, p, round_ceiling))


def power(x: Any, a: Any) -> mpf:
    """xᵃ for x > 0 (exp(a·log x)); 0ᵃ = 0 for a > 0."""
    x = x if isinstance(x, mpf) else mpf(x)
    a = a if isinstance(a, mpf) else mpf(a)
    whole = a.a == a.b and a.a != fnan and (a.a == fzero or (a.a[1] and a.a[2] >= 0))
    if whole and mpf_cmp(abs_raw(a.a), from_int(1 << 16)) <= 0:
        k = int(mpmath.mpf(a.a))  # a whole exponent: exact powers, any sign of x
        return x**k
    if x.a == x.b == fzero and mpf_cmp(a.a, fzero) > 0:
        return mpf(0)
    return exp(a * log(x))


def sin(x: Any) -> mpf:
    x = x if isinstance(x, mpf) else mpf(x)
    if x.a == fnan or x.a in (finf, fninf) or x.b in (finf, fninf):
        return NAN()
    return mpf.of(*libmpi.mpi_sin((x.a, x.b), PREC[0]))


def cos(x: Any) -> mpf:
    x = x if isinstance(x, mpf) else mpf(x)
    if x.a == fnan or x.a in (finf, fninf) or x.b in (finf, fninf):
        return NAN()
    return mpf.of(*libmpi.mpi_cos((x.a, x.b), PREC[0]))


def sign(x: Any) -> int:
    x = x if isinstance(x, mpf) else mpf(x)
    if x.a == fnan:
        return 0
    if mpf_cmp(x.a, fzero) > 0:
        return 1
    if mpf_cmp(x.b, fzero) < 0:
        return -1
    if x.a == x.b == fzero:
        return 0
    raise Undecided


def fsum(items: Iterable[Any]) -> mpf:
    """The sum from its first term (the fast tier's bounds are added as they are, not to an
    interval 0 first), 0 for none."""
    terms = iter(items)
    for first in terms:
        total = mpf(first) if isinstance(first, NUMBERS) else first
        for item in terms:
            total = total + item
        return total
    return mpf(0)
