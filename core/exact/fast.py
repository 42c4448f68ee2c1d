"""The fast tier of the truth: an entry's exact form over whole arrays of points in float64,
every number a pair of bounds that hold.

:class:`Bounds` is another arithmetic for the same forms and the same Taylor series
(:mod:`taylor` asks a coefficient for its arithmetic): each operation rounds its lower bound
down and its upper bound up. ``+ − × ÷`` and √ are IEEE operations, correctly rounded in the
unit's rounding mode: each end is computed in the mode toward its side (fesetround, checked
once against numpy, :func:`_pair`), or, where that is not had, to nearest and stepped out
(:func:`_outward`). exp, log, expm1, log1p, tanh, erf and erfc come from torch in
float64 (Intel MKL's VML in its high-accuracy mode for exp, log, tanh, erf and erfc where torch
is built with it, as on x86-64; SLEEF's vectorised functions otherwise, and for expm1 and
log1p; glibc's for a remainder shorter than a vector), always to nearest, each widened by
twice its documented error bound, relative to the result (:data:`WIDEN`, 2⁻⁵¹: 2 to 4 ulps;
erfc, documented to 1.5 ulps in SLEEF, :data:`WIDEN_ERFC`, 2⁻⁵⁰), plus the smallest
subnormal. tests/core/exact/test_fast.py measures each on the machine it runs on against
mpmath and holds it to half its widening, the documented bound (0.75 of 2⁻⁵² at most,
measured here on 65,000 points each, erfc's subnormal tail among them). Over bounds that are
not a point, a monotone function is called at one end alone where its derivative's series
gives bounds of its slope (the other end by the mean value theorem). A real power is
exp(a·log x).

A branch test (``x > 0``, which tail of σ is stable) is decided per point: the points that go
the way most go are followed, the others are evaluated again along their own path
(:class:`Paths`), and a point whose bounds straddle the test, or that meets a kink exactly,
is left to the arbitrary-precision tier, as is a NaN or an infinity (float64's range is not
the truth's). Where an operation has no bound here (sin, cos, the kernel's rounding in a
16-bit dtype) the whole request goes there. Points are evaluated :data:`BLOCK` at a time.

:func:`decided` says where the bounds settle what a check of torch's number needs in a dtype:
the true value's rounding there, and torch's error in ulps to :data:`PRECISION` (2⁻¹⁶) of
itself; sufficient tests answer the common cases (float32's in bit operations first, then
torch near the truth, or far from it, in half the whole test's operations), its whole test
the rest.

Where the sign of a result is known (a product or quotient of signed operands, exp, erfc, an
odd function of a signed argument), :class:`Bounds` carries it and a product takes two
corners, not four (with one operand's sign known, two an end); a point (lower bound the same
array as the upper) stays one through negation and exact scaling, so that a function of it is
called once.
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from mpmath.libmp import fnan, fzero, round_ceiling, round_floor, to_float

from ..functions.arithmetic import FORMATS, round_array, ulp
from .interval import mpf

WIDEN = 2.0**-51  # an elementary function's error bound, relative (see the module's text)
WIDEN_ERFC = 2.0**-50  # … erfc's (SLEEF documents 1.5 ulps for it, the others 1)
TINY = 2.0**-1074  # … and absolute (an error in ulps of a subnormal result)
PRECISION = 2.0**-16  # torch's error in ulps, decided to this fraction of itself (4 digits shown)
MAX_PATHS = 256  # runs of a block's paths through the branches, at most (the rest: exact tier)
_LOW, _HIGH = object(), object()  # Bounds.a and .b where some bound is not 0


class Unsupported(Exception):
    """An operation the fast tier does not bound: the request goes to the exact tier."""


class _Empty(Exception):
    """No point is left on this path."""


class _Split(Exception):
    """A branch parted the points: each side is evaluated again on its own points (an array
    mostly of points off the path would be computed for nothing)."""


SPLIT = 0.75  # a new branch that keeps less than this share of a run's points splits it


class Paths:
    """The branch decisions of one evaluation over an array of points: the decisions made so
    far (``forced`` replays a path's first ones), the points still on this path, the points
    left to the exact tier, and the other paths met, to evaluate after."""

    def __init__(self, forced: list[bool], size: int) -> None:
        self.forced = forced
        self.made: list[bool] = []
        self.active = np.ones(size, dtype=bool)
        self.slow = np.zeros(size, dtype=bool)
        self.pending: list[tuple[list[bool], np.ndarray]] = []

    def decide(self, true: np.ndarray, false: np.ndarray | None) -> bool:
        """Follow the way most active points go (``true`` or ``false``, neither: the exact
        tier's; ``false`` None: every point not ``true``)."""
        active = self.active
        t = np.asarray(true) & active
        if false is None:
            f = np.logical_xor(t, active)  # (t within active)
        else:
            f = np.asarray(false) & active
            self.slow |= active & ~(t | f)
        i = len(self.made)
        choice = (
            self.forced[i] if i < len(self.forced) else np.count_nonzero(t) >= np.count_nonzero(f)
        )
        other = f if choice else t
        kept = t if choice else f
        if other.any():
            self.pending.append(([*self.made, not choice], other))
            if i >= len(self.forced) and kept.size >= 4096 and kept.sum() < SPLIT * kept.size:
                self.pending.append(([*self.made, choice], kept))
                raise _Split
        self.active = kept
        self.made.append(choice)
        if not self.active.any():
            raise _Empty
        return choice

    def leave(self, where: np.ndarray) -> None:
        """These points go to the exact tier."""
        self.slow |= where & self.active
        self.active = self.active & ~where
        if not self.active.any():
            raise _Empty


PATHS: list[Paths | None] = [None]
_NULL = contextlib.nullcontext()


def _quiet() -> Any:
    """numpy's warnings off (infinities and NaN are bounds here, not accidents): evaluate has
    them off already around every operation of a form, else np.errstate (a tenth of the
    operations' Python time where it was entered at every one)."""
    return _NULL if PATHS[0] is not None else np.errstate(all="ignore")


def _paths() -> Paths:
    p = PATHS[0]
    if p is None:
        raise Unsupported("a branch outside a fast evaluation")
    return p


# Rump, Zimmermann, Boldo and Melquiond, "Computing predecessor and successor in rounding to
# nearest" (BIT 49, 2009), Algorithm 2 and Theorem 2.2: for a float64 c, fl(c ± fl(φ·|c| + η))
# with φ = 2⁻⁵³(1 + 2⁻⁵²) and η the smallest subnormal is succ(c) or succ(succ(c)) (pred(c)
# or pred(pred(c)) below), never c: an outward step of five array operations, where numpy's
# nextafter costs about thirty (tests/core/exact/test_fast.py checks it against nextafter).
_PHI = 2.0**-53 * (1 + 2.0**-52)


def _step(v: Any) -> np.ndarray:
    """fl(φ·|v| + η), finite at every point that is not NaN (an infinite end stays one)."""
    e = np.abs(v)
    np.minimum(e, BIG, out=e)
    e *= _PHI
    e += TINY
    return e


def _down(v: Any) -> Any:
    if _ndim(v) == 0:
        return np.nextafter(v, -np.inf)
    out = v - _step(v)
    return np.minimum(out, BIG, out=out)  # a lower end past float64's largest: the largest


def _up(v: Any) -> Any:
    if _ndim(v) == 0:
        return np.nextafter(v, np.inf)
    out = v + _step(v)
    return np.maximum(out, -BIG, out=out)


def _outward(lo: Any, hi: Any, sign: int) -> Bounds:
    """``[lo, hi]`` computed to nearest, each end stepped out past its float64 neighbour.
    Where the exact value is known to be of one sign at every point (``sign`` 1: ≥ 0, −1:
    ≤ 0: a product or a quotient of operands of known signs, a sum of two of one sign), the
    steps need no absolute value: the end away from 0 takes Rump's step (three operations),
    the end nearer 0 its predecessor in magnitude, from ∓ the smallest subnormal (exact
    where the end is subnormal or 0, a step there; nothing to a normal end) then × (1 − 2⁻⁵³)
    (a normal c times it is c − c·2⁻⁵³, rounded to c's predecessor: c·2⁻⁵³ lies within [½, 1)
    of c's ulp, or is ½ of the finer ulp below a power of two), clipped at 0, which the exact
    value is not past, and at the largest float (an end that overflowed toward 0's side).
    The result keeps that sign, and the next operation need not look for it. Otherwise
    (``sign`` 0), :func:`_down` and :func:`_up`."""
    if not sign or _ndim(lo) == 0 or _ndim(hi) == 0:
        return Bounds(_down(lo), _up(hi))
    if sign > 0:
        low = lo - TINY
        low *= _TOWARD_0
        np.minimum(np.maximum(low, 0.0, out=low), BIG, out=low)
        high = hi * _PHI
        high += TINY
        high += hi
    else:
        high = hi + TINY
        high *= _TOWARD_0
        np.maximum(np.minimum(high, 0.0, out=high), -BIG, out=high)
        low = lo * _PHI
        low -= TINY
        low += lo
    return Bounds(low, high, sign)


_TOWARD_0 = 1 - 2.0**-53  # the float below 1


# Directed rounding. IEEE arithmetic rounds in the mode the floating-point unit is set to, and
# numpy's +, −, ×, ÷ and √ are the unit's own instructions: with the mode set toward −∞ for the
# lower ends and toward +∞ for the upper, each end is a bound as it comes, in one operation,
# where stepping out after rounding to nearest takes three more per end (_outward). The mode
# is the C library's fesetround, with this machine's constants, and it is used only where a
# check at first use shows numpy's operations following it (array and scalar operands, vector
# loops and their remainders); elsewhere, _outward's steps. It is set for the operations of
# one end at a time, and back to nearest in a ``finally``: nothing else (torch's functions,
# the dtype's roundings, Python's own float formatting) ever runs in another mode.
_MODES = {  # FE_DOWNWARD, FE_UPWARD in <fenv.h>, by machine
    "x86_64": (0x400, 0x800),
    "amd64": (0x400, 0x800),
    "i386": (0x400, 0x800),
    "i686": (0x400, 0x800),
    "aarch64": (0x800000, 0x400000),
    "arm64": (0x800000, 0x400000),
    "ppc64le": (3, 2),
}
_ROUNDING: list[Any] = []  # [(fesetround, down, up)] once found to work, [None] where not


def _rounding() -> tuple[Callable[[int], int], int, int] | None:
    """(fesetround, FE_DOWNWARD, FE_UPWARD) where numpy's arithmetic follows the mode (checked
    once per process by :func:`_follows`), None elsewhere."""
    if _ROUNDING:
        return _ROUNDING[0]
    found = None
    try:
        import ctypes
        import platform

        modes = _MODES.get(platform.machine().lower())
        lib = ctypes.CDLL(None)  # the process's own symbols: libm is loaded with Python
        if not hasattr(lib, "fesetround"):
            import ctypes.util

            lib = ctypes.CDLL(ctypes.util.find_library("m"))
        setter, getter = lib.fesetround, lib.fegetround
        setter.restype = getter.restype = ctypes.c_int  # (no argtypes: a Python int is a C int
        # as is, and the conversion they add cost 40% of a call, 3 calls an operation)
        if modes is not None and getter() == 0:
            found = (setter, *modes)
            if not _follows(found):
                found = None
    except (OSError, AttributeError, ValueError):  # no C library to ask: _outward's steps
        found = None
    _ROUNDING.append(found)
    return found


def _follows(rounding: tuple[Callable[[int], int], int, int]) -> bool:
    """Whether numpy's +, −, ×, ÷ and √ round down and up in the two modes (of an inexact
    result, the mode down's is the float just below the mode up's), on arrays long enough for
    the vector loops and their remainders, with array and scalar operands, and whether the mode
    comes back to nearest."""
    setter, down, up = rounding
    one = np.ones(67)
    tiny = np.full(67, 2.0**-60)
    cases = [  # each inexact
        lambda: one + tiny,
        lambda: -tiny - one,
        lambda: (one + 2.0**-52) * (1 / 3),
        lambda: (one + 2.0**-52) * (one + 2.0**-52),
        lambda: -one / 3.0,
        lambda: 1.0 / (one * 3.0),
        lambda: one - 2.0**-60,
        lambda: np.sqrt(one * 2.0),
    ]
    try:
        setter(down)
        lows = [fn() for fn in cases]
        setter(up)
        highs = [fn() for fn in cases]
    finally:
        setter(0)
    for lo, hi in zip(lows, highs, strict=True):
        if not (np.all(lo == lo[0]) and np.all(hi == np.nextafter(lo, np.inf))):
            return False
    return float(np.ones(3)[0] / 3.0) == 1 / 3


def _pair(low: Callable[[], Any], high: Callable[[], Any], sign: int = 0) -> Bounds:
    """Bounds from ``low()`` and ``high()``, each a computation of an end to nearest that
    rounds once (or a min or max of such): computed rounded down and up where the mode is had,
    else to nearest and stepped out (:func:`_outward`)."""
    rounding = _ROUNDING[0] if _ROUNDING else _rounding()
    if rounding is None:
        return _outward(low(), high(), sign)
    setter, down, up = rounding
    with _quiet():
        try:
            setter(down)
            lo = low()
            setter(up)
            hi = high()
        finally:
            setter(0)
    return Bounds(lo, hi, sign or None)


def _ndim(v: Any) -> int:
    """np.ndim without its call of asarray for an array."""
    c = v.__class__
    return v.ndim if c is np.ndarray else 0 if c is float or c is int else np.ndim(v)


def _scalar(x: mpf) -> tuple[float, float]:
    """An interval of the exact tier as float64 bounds (outward), converted once per pair of
    ends (the forms' constants: 1/√2, 2/√π, … at every block)."""
    return _ends(x.a, x.b)


@functools.lru_cache(maxsize=4096)
def _ends(a: tuple, b: tuple) -> tuple[float, float]:
    if a == fnan:
        return math.nan, math.nan
    return to_float(a, rnd=round_floor), to_float(b, rnd=round_ceiling)


def lift(o: Any) -> tuple[Any, Any] | None:
    """(lower, upper) of an operand: bounds, an interval, a number; None otherwise."""
    if o.__class__ is Bounds:
        return o.lo, o.hi
    if o.__class__ is mpf:
        return _scalar(o)
    if isinstance(o, bool | int):
        f = float(o)
        return (f, f) if abs(o) <= 1 << 53 else (_down(f), _up(f))
    if isinstance(o, float):
        return o, o
    return None


class Bounds:
    """Float64 bounds of a number at each of an array's points (NaN: NaN at that point)."""

    __slots__ = ("hi", "lo", "sign")

    def __init__(self, lo: Any, hi: Any, sign: int | None = None) -> None:
        self.lo = lo
        self.hi = hi
        self.sign = sign  # of every point's bounds, once known (see _sign); None: not yet

    def signed(self) -> int:
        """1 where every point's bounds are ≥ 0, −1 where every one's are ≤ 0, 0 otherwise
        (or a NaN), found once."""
        if self.sign is None:
            self.sign = _sign(self.lo, self.hi)
        return self.sign

    @property
    def arithmetic(self) -> Any:  # the module whose exp, log, … act on Bounds (taylor asks)
        return sys.modules[__name__]

    @property
    def a(self) -> Any:  # taylor's test for an exact 0 coefficient (fzero: 0 at every point)
        return fzero if _zero(self.lo, self.hi) else _LOW

    @property
    def b(self) -> Any:
        return fzero if _zero(self.lo, self.hi) else _HIGH

    def __repr__(self) -> str:
        return f"Bounds({self.lo!r}, {self.hi!r})"

    # -- arithmetic --------------------------------------------------------------------------
    def __pos__(self) -> Bounds:
        return self

    def __neg__(self) -> Bounds:
        sign = None if self.sign is None else -self.sign
        if self.lo is self.hi:  # a point stays one
            n = -self.lo
            return Bounds(n, n, sign)
        return Bounds(-self.hi, -self.lo, sign)

    def __abs__(self) -> Bounds:
        lo = np.where(self.lo >= 0, self.lo, np.where(self.hi <= 0, -self.hi, 0.0))
        return Bounds(lo, np.maximum(np.abs(self.lo), np.abs(self.hi)))

    def __add__(self, other: Any) -> Bounds:
        o = lift(other)
        if o is None:
            return NotImplemented
        if _ndim(o[0]) == 0 and o[0] == 0 and o[1] == 0:
            return self  # + an exact 0: exact
        sign = self.sign
        if sign and sign != (other.sign if other.__class__ is Bounds else _signed(other, o)):
            sign = 0  # (a sign not known yet is not looked for)
        alo, ahi, blo, bhi = self.lo, self.hi, o[0], o[1]
        return _pair(lambda: alo + blo, lambda: ahi + bhi, sign or 0)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Bounds:
        o = lift(other)
        if o is None:
            return NotImplemented
        return _difference(self, self.lo, self.hi, other, o[0], o[1])

    def __rsub__(self, other: Any) -> Bounds:
        o = lift(other)
        if o is None:
            return NotImplemented
        return _difference(other, o[0], o[1], self, self.lo, self.hi)

    def __mul__(self, other: Any) -> Bounds:
        o = lift(other)
        if o is None:
            return NotImplemented
        return _product(self.lo, self.hi, o[0], o[1], self.signed(), _signed(other, o))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Bounds:
        o = lift(other)
        if o is None:
            return NotImplemented
        return _quotient(self.lo, self.hi, o[0], o[1], self.signed())

    def __rtruediv__(self, other: Any) -> Bounds:
        o = lift(other)
        if o is None:
            return NotImplemented
        return _quotient(o[0], o[1], self.lo, self.hi, _signed(other, o))

    def __pow__(self, k: Any) -> Bounds:
        if not isinstance(k, int) or k < 0 or k > 64:
            raise Unsupported("a power other than a small whole number")
        out: Any = Bounds(np.ones_like(self.lo), np.ones_like(self.hi))
        for _ in range(k):
            out = out * self
        return out

    # -- comparisons: a decision per point (Paths) -------------------------------------------
    def _against(self, other: Any) -> tuple[Any, Any, np.ndarray]:
        o = lift(other)
        if o is None:
            raise Unsupported(f"a comparison with {type(other).__name__}")
        nan = np.isnan(self.lo) | np.isnan(o[0])
        return o[0], o[1], nan

    def __lt__(self, other: Any) -> bool:
        lo, hi, nan = self._against(other)
        return _paths().decide(~nan & (self.hi < lo), nan | (self.lo >= hi))

    def __le__(self, other: Any) -> bool:
        lo, hi, nan = self._against(other)
        return _paths().decide(~nan & (self.hi <= lo), nan | (self.lo > hi))

    def __gt__(self, other: Any) -> bool:
        lo, hi, nan = self._against(other)
        return _paths().decide(~nan & (self.lo > hi), nan | (self.hi <= lo))

    def __ge__(self, other: Any) -> bool:
        lo, hi, nan = self._against(other)
        return _paths().decide(~nan & (self.lo >= hi), nan | (self.hi < lo))

    def __eq__(self, other: Any) -> bool:  # type: ignore[override]
        lo, hi, nan = self._against(other)
        point = (self.lo == self.hi) & (self.lo == lo) & (lo == hi)
        return _paths().decide(~nan & point, nan | (self.hi < lo) | (self.lo > hi))

    def __ne__(self, other: Any) -> bool:  # type: ignore[override]
        lo, hi, nan = self._against(other)
        point = (self.lo == self.hi) & (self.lo == lo) & (lo == hi)
        return _paths().decide(nan | (self.hi < lo) | (self.lo > hi), ~nan & point)

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return self != 0


def _difference(a: Any, alo: Any, ahi: Any, b: Any, blo: Any, bhi: Any) -> Bounds:
    """a − b (``a`` and ``b`` as given, and their bounds): of a's sign where b's is the
    opposite (a sign not known yet is not looked for)."""
    if _ndim(blo) == 0 and blo == 0 and bhi == 0:
        return a if a.__class__ is Bounds else Bounds(alo, ahi)
    sa = a.sign if a.__class__ is Bounds else _signed(a, (alo, ahi))
    sb = b.sign if b.__class__ is Bounds else _signed(b, (blo, bhi))
    sign = sa if sa and sb == -sa else 0
    return _pair(lambda: alo - bhi, lambda: ahi - blo, sign)


def _zero(lo: Any, hi: Any) -> bool:
    """Both bounds 0 at every point (a NaN is not 0). A derivative's coefficient is not, most
    often, at the first point already: looked at there before the whole arrays are."""
    try:
        if lo[0] != 0 or hi[0] != 0:  # (a number, an empty or 2-d array: the whole test)
            return False
    except (IndexError, TypeError, ValueError):
        pass
    return not (np.any(lo) or np.any(hi))


def _sign(lo: Any, hi: Any) -> int:
    """1 where every point's bounds are ≥ 0, −1 where every one is ≤ 0, 0 otherwise (or a NaN):
    a product or a quotient of operands of known signs takes two operations, not four."""
    if _ndim(lo) == 0:
        return 1 if lo >= 0 else -1 if hi <= 0 else 0
    if lo.min() >= 0:
        return 1
    return -1 if hi.max() <= 0 else 0


def _signed(o: Any, bounds: tuple[Any, Any]) -> int | None:
    """An operand's sign as :meth:`Bounds.signed` finds it (None: not looked for yet)."""
    if o.__class__ is Bounds:
        return o.signed()
    return _sign(*bounds) if _ndim(bounds[0]) == 0 else None


def _product(
    alo: Any, ahi: Any, blo: Any, bhi: Any, sa: int | None = None, sb: int | None = None
) -> Bounds:
    """[alo, ahi]·[blo, bhi]; ``sa`` and ``sb``, the operands' signs where known."""
    if _ndim(blo) == 0 and blo == bhi:
        return _scaled(alo, ahi, float(blo), np.multiply, sa)
    if _ndim(alo) == 0 and alo == ahi:
        return _scaled(blo, bhi, float(alo), np.multiply, sb)
    if blo is bhi:  # points times bounds: two products, not four
        alo, ahi, blo, bhi, sa, sb = blo, bhi, alo, ahi, sb, sa
    with _quiet():
        sa = _sign(alo, ahi) if sa is None else sa
        sb = _sign(blo, bhi) if sb is None else sb
        if sa and sb:  # [alo, ahi]·[blo, bhi] with both signs known: the corners that bound it
            l1, l2 = (alo if sb > 0 else ahi), (blo if sa > 0 else bhi)
            h1, h2 = (ahi if sb > 0 else alo), (bhi if sa > 0 else blo)
            out = _pair(lambda: l1 * l2, lambda: h1 * h2, sa * sb)
        elif sa or sb:  # one sign known: two products an end
            if not sb:
                alo, ahi, blo, bhi, sb = blo, bhi, alo, ahi, sa
            return _one_signed(alo, ahi, blo, bhi, sb, np.multiply)
        elif alo is ahi:
            out = _pair(
                lambda: np.minimum(alo * blo, alo * bhi), lambda: np.maximum(alo * blo, alo * bhi)
            )
        else:
            out = _pair(
                lambda: _corners(np.minimum, alo, ahi, blo, bhi),
                lambda: _corners(np.maximum, alo, ahi, blo, bhi),
            )
    return out  # (0 times an infinite bound, NaN: not decided, the exact tier's point)


def _one_signed(alo: Any, ahi: Any, blo: Any, bhi: Any, sb: int, op: Any) -> Bounds:
    """[alo, ahi] times (or over: ``op``) [blo, bhi], the second of sign ``sb`` (apart from 0
    for a quotient), the first's unknown: monotone in a (increasing where b > 0), so each end
    is one of two corners."""
    low, high = (alo, ahi) if sb > 0 else (ahi, alo)
    return _pair(
        lambda: np.minimum(op(low, blo), op(low, bhi)),
        lambda: np.maximum(op(high, blo), op(high, bhi)),
    )


def _corners(pick: Any, alo: Any, ahi: Any, blo: Any, bhi: Any, op: Any = np.multiply) -> Any:
    """The least (or greatest: ``pick``) of the four corners op(a, b)."""
    return pick(pick(op(alo, blo), op(alo, bhi)), pick(op(ahi, blo), op(ahi, bhi)))


def _scaled(
    lo: Any, hi: Any, by: float, op: Callable[[Any, Any], Any], sign: int | None = None
) -> Bounds:
    """[lo, hi] (of ``sign``, where known) times (or divided by) a number: exact for ±1 and,
    times 0, 0; a point times a power of two stays a point where that is exact (no overflow,
    no underflow that rounded it: checked); rounded outward otherwise (exact where the
    rounding is directed and the product exact)."""
    if by == 0 and op is np.multiply:
        zero = np.where(np.isnan(lo), np.nan, 0.0)
        return Bounds(zero, zero)
    if by == 1.0:
        return Bounds(lo, hi, sign)
    if by == -1.0:
        return -Bounds(lo, hi, sign)
    flipped = None if sign is None else -sign
    with _quiet():
        if hi is lo and math.frexp(by)[0] in (0.5, -0.5):  # a point times a power of two:
            a = op(lo, by)  # exact, but past the range or where an underflow rounded it
            if (abs(by) >= 1) == (op is np.multiply):
                exact = a.max() <= BIG and a.min() >= -BIG  # (a NaN: not here)
            else:
                exact = np.array_equal((np.divide if op is np.multiply else np.multiply)(a, by), lo)
            if exact:  # a point stays one: one call of what follows
                return Bounds(a, a, flipped if by < 0 else sign)
        if by < 0:
            return _pair(lambda: op(hi, by), lambda: op(lo, by), flipped or 0)
        return _pair(lambda: op(lo, by), lambda: op(hi, by), sign or 0)


def _quotient(alo: Any, ahi: Any, blo: Any, bhi: Any, sa: int | None = None) -> Bounds:
    """[alo, ahi]/[blo, bhi]; ``sa``, the dividend's sign where known."""
    if _ndim(blo) == 0 and blo == bhi and blo != 0:
        return _scaled(alo, ahi, float(blo), np.divide, sa)
    blo, bhi = np.asarray(blo, dtype=np.float64), np.asarray(bhi, dtype=np.float64)
    with _quiet():
        positive = bool(blo.min() > 0)
        apart = positive or bhi.max() < 0  # (a NaN is neither)
    if not apart:
        straddle = (blo <= 0) & (bhi >= 0)
        if straddle.any():  # a divisor that may be 0: the exact tier's case
            _paths().leave(np.broadcast_to(straddle, np.shape(_paths().active)))
    sa = (_sign(alo, ahi) if sa is None else sa) if apart else 0
    if sa:  # both signs known (the divisor's: apart from 0): two quotients, not four
        sb = 1 if positive else -1
        l1, l2 = (alo if sb > 0 else ahi), (bhi if sa > 0 else blo)
        h1, h2 = (ahi if sb > 0 else alo), (blo if sa > 0 else bhi)
        return _pair(lambda: l1 / l2, lambda: h1 / h2, sa * sb)
    if apart:  # the dividend's sign unknown, the divisor's known
        return _one_signed(alo, ahi, blo, bhi, 1 if positive else -1, np.divide)
    if alo is ahi or (_ndim(alo) == 0 and alo == ahi):  # a point over bounds
        return _pair(
            lambda: np.minimum(alo / blo, alo / bhi), lambda: np.maximum(alo / blo, alo / bhi)
        )
    return _pair(
        lambda: _corners(np.minimum, alo, ahi, blo, bhi, np.divide),
        lambda: _corners(np.maximum, alo, ahi, blo, bhi, np.divide),
    )


def _widened(lo: np.ndarray, hi: np.ndarray, widen: float = WIDEN, sign: int = 0) -> Bounds:
    """An elementary function's bounds: each end moved out by ``widen`` of itself and the
    smallest subnormal. A lower end that overflowed to +inf is the largest float (the value is
    finite and past it), an upper end at −inf the lowest. Where the value's ``sign`` is known
    (1: ≥ 0 at every point, −1: ≤ 0), each end is scaled by 1 ∓ ``widen`` and moved by the
    subnormal, and the end nearer 0 clipped at 0 and at the largest float: five operations,
    not twelve. Either way an end's rounding takes at most 2⁻⁵³ of it back: the widening
    that holds is ``widen`` − 2⁻⁵³, 1.5 ulps of 2⁻⁵² for :data:`WIDEN`, over the documented
    bound, which the tests hold each function to."""
    with _quiet():
        if sign and _ndim(lo) and _ndim(hi):
            near, far = 1 - widen, 1 + widen
            low = lo * (near if sign > 0 else far)
            low -= TINY
            high = hi * (far if sign > 0 else near)
            high += TINY
            if sign > 0:
                np.minimum(np.maximum(low, 0.0, out=low), BIG, out=low)
            else:
                np.maximum(np.minimum(high, 0.0, out=high), -BIG, out=high)
            return Bounds(low, high, sign)
        low = np.where(lo == np.inf, BIG, lo - np.abs(lo) * widen - TINY)
        high = np.where(hi == -np.inf, -BIG, hi + np.abs(hi) * widen + TINY)
    return Bounds(low, high)


BIG = float(np.finfo(np.float64).max)


def _increasing(
    fn: Callable[[Any], Any],
    x: Any,
    widen: float = WIDEN,
    odd: bool = False,
    slope: Any = None,
    decreasing: bool = False,
) -> Bounds:
    """A monotone ``fn`` (increasing, or ``decreasing``: erfc, > 0) over x's bounds,
    widened; ``odd``: fn(x) has x's sign (tanh, erf, expm1, log1p), used where x's is known
    already. Given ``slope``, bounds of fn′ over x's bounds (the derivative's series has
    them, where there is one), fn is called at one end alone: by the mean value theorem the
    other end's value is within max|fn′|·(hi − lo) of it, a bound rounded up (x's bounds are
    a few ulps apart: the extra width is of that order, and a call of a function costs as
    much as 5-20 array operations)."""
    b = x if x.__class__ is Bounds else Bounds(*lift(x))
    sign = 1 if decreasing else (b.sign or 0) if odd else 0  # (erfc: > 0)
    with _quiet():
        if b.lo is b.hi:  # a point: one call
            return _widened(*(fn(b.lo),) * 2, widen, sign)
        if slope is None:
            low, high = fn(b.lo), fn(b.hi)
            return (
                _widened(high, low, widen, sign) if decreasing else _widened(low, high, widen, sign)
            )
        at = fn(b.hi if decreasing else b.lo)  # the least value; the greatest within:
        near = _widened(at, at, widen, sign)
        steep = _steepest(slope)
        return _pair(lambda: near.lo, lambda: near.hi + steep * (b.hi - b.lo), sign)


def _steepest(slope: Any) -> Any:
    """max |s| over a slope's bounds (a number, an interval or bounds, or a function that gives
    one: computed only here, where x's bounds are not a point), exactly."""
    if callable(slope):
        slope = slope()
    if isinstance(slope, int | float):
        return abs(float(slope))
    b = slope if slope.__class__ is Bounds else Bounds(*lift(slope))
    if b.sign == 1:
        return b.hi
    if b.sign == -1:
        return -b.lo
    return np.maximum(np.abs(b.lo), np.abs(b.hi))


# -- the functions taylor and the forms call (the interval module's names) ------------------


def exp(x: Any) -> Bounds:
    """e^x, one call at bounds that are points though not the same array: gelu's −x²/2 is
    exact for float32 inputs (x² has 48 bits), its ends computed apart (looked at where the
    first point's ends are equal, the rest then compared: a tenth of the call's cost)."""
    b = x if x.__class__ is Bounds else Bounds(*lift(x))
    lo = _EXP(b.lo)  # > 0: the quick widening
    point = b.hi is b.lo or (_ndim(b.lo) == 1 and _same(b.lo, b.hi))
    return _clamped(_widened(lo, lo if point else _EXP(b.hi), sign=1), 0.0, math.inf)


def _same(lo: np.ndarray, hi: Any) -> bool:
    """Whether bounds are equal at every point (the first looked at alone first)."""
    return _ndim(hi) == 1 and len(lo) > 0 and lo[0] == hi[0] and bool(np.array_equal(lo, hi))


def expm1(x: Any, slope: Any = None) -> Bounds:
    return _clamped(_increasing(_EXPM1, x, odd=True, slope=slope), -1.0, math.inf)


def log(x: Any, slope: Any = None) -> Bounds:
    b = x if x.__class__ is Bounds else Bounds(*lift(x))
    if np.any(b.lo <= 0):
        _paths().leave(b.lo <= 0)
    return _increasing(_LOG, b, slope=slope)


def log1p(x: Any, slope: Any = None) -> Bounds:
    b = x if x.__class__ is Bounds else Bounds(*lift(x))
    if b.sign != 1 and np.any(b.lo <= -1):
        _paths().leave(b.lo <= -1)
    return _increasing(_LOG1P, b, odd=True, slope=slope)


def tanh(x: Any, slope: Any = None) -> Bounds:
    return _clamped(_increasing(_TANH, x, odd=True, slope=slope), -1.0, 1.0)


# x − tanh x = Σ_k c_k·x^(2k+1) from x³ on, the series of tanh with its signs turned: the
# coefficients through x¹⁵ (tanh's are 2^(2n)(2^(2n) − 1)B_2n/(2n)!)
_TANHSHRINK = ((1, 3), (-2, 15), (17, 315), (-62, 2835), (1382, 155925), (-21844, 6081075),
               (929569, 638512875))  # fmt: skip
SMALL_TANHSHRINK = 0.125


@functools.cache
def _tanhshrink_terms() -> list[Bounds]:
    """:data:`_TANHSHRINK`'s coefficients as float64 bounds, highest first (outward: they hold
    the fractions at any working precision), computed once."""
    return [Bounds(*_scalar(mpf(top) / bottom)) for top, bottom in reversed(_TANHSHRINK)]


def tanhshrink(x: Any) -> Bounds:
    """x − tanh x, which cancels near 0 (at |x| = 10⁻¹², bounds around 0 where the value is
    3·10⁻³⁷, a normal float32): where |x| ≤ 1/8 at a point, its series through x¹⁵ instead.
    The series alternates, its terms falling by (2/π)²x² ≤ 1/150 each, so what it leaves out
    is under its first term left out, 6404582/10854718875·|x|¹⁷ ≤ 2⁻⁵²·⁷|x|³, under 2⁻⁵¹·¹ of the
    sum (≥ 0.331|x|³): a widening by 2⁻⁵⁰ holds it. Elsewhere the difference is a few ulps of
    x wide: at most 2⁻⁴² of itself (at |x| = 1/8, less beyond)."""
    b = x if x.__class__ is Bounds else Bounds(*lift(x))
    direct = b - tanh(b)
    if not _ndim(b.lo):
        return direct
    with _quiet():
        small = np.maximum(np.abs(b.lo), np.abs(b.hi)) <= SMALL_TANHSHRINK
    if not small.any():
        return direct
    z = b * b
    total, *rest = _tanhshrink_terms()
    for c in rest:
        total = total * z + c
    total = total * z * b
    series = _widened(total.lo, total.hi, 2.0**-50)
    return Bounds(np.where(small, series.lo, direct.lo), np.where(small, series.hi, direct.hi))


def sqrt(x: Any) -> Bounds:
    b = x if x.__class__ is Bounds else Bounds(*lift(x))
    if np.any(b.lo < 0):
        _paths().leave(b.lo < 0)
    with np.errstate(invalid="ignore"):
        out = _pair(lambda: np.sqrt(b.lo), lambda: np.sqrt(b.hi), 1)
    return Bounds(np.maximum(out.lo, 0.0), out.hi, 1)  # (a step below 0 in _outward's)


def _unsupported(name: str) -> Callable[..., Any]:
    def fn(*args: Any) -> Any:
        raise Unsupported(f"{name} has no bounded float64 form here")

    return fn


def _float64(fn: str) -> Callable[[Any], np.ndarray]:
    """torch's float64 ``fn`` over an array, vectorised (see the module's text for
    whose, and their documented bounds). These are not the float32 or 16-bit kernels a check
    judges: those have their own polynomials in ATen. Faster than numpy's here: 2-3x on AVX2,
    where numpy's float64 functions are glibc's, one point at a time."""

    def call(x: Any) -> np.ndarray:
        import torch  # the fast tier judges torch's numbers: torch is already loaded

        a = np.ascontiguousarray(x, dtype=np.float64)  # (a number: an array of one)
        if not a.flags.writeable:  # torch.from_numpy wants an array it may write
            a = a.copy()
        out = getattr(torch, fn)(torch.from_numpy(a)).numpy()
        return out if _ndim(x) else out[0]

    return call


_EXP, _EXPM1, _LOG, _LOG1P, _TANH, _ERF, _ERFC = map(
    _float64, ("exp", "expm1", "log", "log1p", "tanh", "erf", "erfc")
)


def _clamped(b: Bounds, low: float, high: float) -> Bounds:
    """``b`` within a function's range [low, high], keeping its sign (≥ 0 where low is); an
    end its sign or an infinite limit already bounds is left as it is."""
    lo = b.lo if low == -math.inf or (b.sign == 1 and low <= 0) else np.maximum(b.lo, low)
    hi = b.hi if high == math.inf or (b.sign == -1 and high >= 0) else np.minimum(b.hi, high)
    return Bounds(lo, hi, b.sign if b.sign is not None or low < 0 else 1)


def erf(x: Any, slope: Any = None) -> Bounds:
    return _clamped(_increasing(_ERF, x, odd=True, slope=slope), -1.0, 1.0)


def erfc(x: Any, slope: Any = None) -> Bounds:
    """erfc; where x ≤ 0 at every point, 1 + erf(−x), a sum of two terms ≥ 0 (erf costs less
    than half of erfc here; its slope is erfc's, negated)."""
    b = x if x.__class__ is Bounds else Bounds(*lift(x))
    if _ndim(b.hi) and b.hi.max() <= 0:
        return _clamped(erf(-b, slope) + 1.0, 0.0, 2.0)
    return _clamped(_increasing(_ERFC, b, WIDEN_ERFC, slope=slope, decreasing=True), 0.0, 2.0)


def power(x: Any, a: Any) -> Bounds:
    """xᵃ for x > 0 (the points where x may not be go to the exact tier): exp(a·log x)."""
    return exp(log(x) * a)


sin = _unsupported("sin")
cos = _unsupported("cos")


def at_kink(y: Any) -> Any:
    """The points on this path met a kink exactly: torch's side there is the exact tier's."""
    paths = _paths()
    paths.leave(paths.active)
    return y


def leaning_positive(x: Any) -> bool:
    """Which of two equal formulas (a stable one for each sign): by the midpoint's sign."""
    b = x if x.__class__ is Bounds else Bounds(*lift(x))
    with np.errstate(invalid="ignore", over="ignore"):
        up = (  # a point: its sign (a NaN leans positive); else the midpoint's
            np.logical_not(b.lo < 0)
            if b.lo is b.hi
            else (b.lo / 2 + b.hi / 2 >= 0) | np.isnan(b.lo)
        )
    return _paths().decide(up, None)


def rounded_product(a: Any, b: Any, fmt: str) -> Bounds:
    """a·b rounded once to ``fmt`` (a kernel's multiply), for points a and a number b: the
    float64 product is within half an ulp of the exact one, so where both ends of a whole
    float64 ulp either side round alike in ``fmt``, so does the exact product."""
    x, y = lift(a), lift(b)
    if x is None or y is None or fmt not in FORMATS:
        raise Unsupported(f"a product rounded to {fmt}")
    if not (np.all(x[0] == x[1]) and np.all(np.asarray(y[0]) == y[1])):
        raise Unsupported("a rounded product of intervals")
    with np.errstate(over="ignore", invalid="ignore"):
        p = np.asarray(x[0] * y[0], dtype=np.float64)
        if fmt == "float64":
            return Bounds(p, p)
        if _ndim(y[0]) == 0 and math.frexp(y[0])[0] in (0.5, -0.5):  # times a power of two
            size = np.abs(p)  # (softplus's β = 1): exact in float64 from the least normal
            if size.min() >= 2.0**-1022 and size.max() <= BIG:  # number to the largest
                out = nearest(p, fmt)
                return Bounds(out, out)
        low, high = nearest(_down(p), fmt), nearest(_up(p), fmt)
        exact = _bits(x[0]) + _bits(np.asarray(y[0], dtype=np.float64)) <= 53
        exact &= np.isfinite(p) & (np.abs(p) >= 2.0**-1022)  # not rounded by an underflow
    hazard = (low != high) & ~np.isnan(p) & ~exact
    if hazard.any():
        _paths().leave(np.broadcast_to(hazard, np.shape(_paths().active)))
    out = nearest(p, fmt)
    return Bounds(out, out)


def _bits(values: np.ndarray) -> np.ndarray:
    """The significant bits of each float64 (0 for 0): two numbers whose counts add up to
    at most 53 have their exact product in float64."""
    with np.errstate(invalid="ignore"):
        m = np.frexp(np.where(np.isfinite(values), np.abs(values), 0.0))[0]
        whole = (m * 2.0**53).astype(np.int64)
    lowest = whole & -whole
    return np.where(whole == 0, 0, 54 - np.frexp(lowest.astype(np.float64))[1])


def nearest(values: np.ndarray, fmt: str) -> np.ndarray:
    """float64 ``values`` rounded once to ``fmt`` (to nearest, ties to even), as an exact
    product rounds; round_array goes through float32 for bfloat16, as torch's conversion of
    a double does, which is not the same (a double rounding)."""
    if fmt == "float64":
        return np.asarray(values, dtype=np.float64)
    if fmt == "float32":  # the CPU's own conversion of a double: rounded once, 4x faster
        with np.errstate(over="ignore"):
            return np.asarray(values, dtype=np.float64).astype(np.float32).astype(np.float64)
    bits, lowest = FORMATS[fmt]
    with np.errstate(over="ignore", invalid="ignore"):
        step = ulp(values, fmt)  # a power of two: the quotient is exact
        out = np.round(values / step) * step
        top = (2 - 2.0**-bits) * 2.0 ** (1 - lowest)  # the largest finite number
        return np.where(np.abs(out) > top, np.copysign(np.inf, values), out)


# -- evaluation over points, and what a dtype's check needs -----------------------------------


_BINADE = np.int64(-(1 << 52))  # a float64's sign and exponent bits: the bottom of its binade
# points evaluated at once: each operation's Python cost (a microsecond or two) spread over
# 65,536 points, each array (512 KiB) still in the caches; measured here against 16,384:
# 1.2-1.3x the points/s at order 2, and the same again (131,072) or slower (2^18) beyond
BLOCK = 65536


_HEAP = [False]  # glibc's heap told to keep freed blocks (once per process)


def _keep_freed_blocks() -> None:
    """Each operation here allocates a block's array (512 KiB), and glibc gives freed memory at
    the heap's top back to the system past 128 KiB, to fault it in again, zeroed, at the next
    allocation: measured here, 3.6x the time of :func:`decided`, 15–20% of a sweep's. Keep up
    to 64 MiB (a bound: freed memory beyond it still goes back). Elsewhere (not glibc): as is."""
    if _HEAP[0] or not sys.platform.startswith("linux"):
        return
    _HEAP[0] = True
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        if hasattr(libc, "gnu_get_libc_version"):
            libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
            libc.mallopt(-3, 16 << 20)  # M_MMAP_THRESHOLD: blocks from the heap, not mmap
    except (OSError, AttributeError):  # no C library to tell: slower, not wrong
        pass


def evaluate(
    fn: Callable[[Bounds], list[Any]],
    xs: np.ndarray,
    width: int,
    judge: Callable[[slice, list[np.ndarray], list[np.ndarray]], np.ndarray] | None = None,
    keep: bool = True,
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """``fn`` (bounds of the points → ``width`` outputs, each bounds or an interval of the
    exact tier, the same at every point) at every point of ``xs``, path by path, a block of
    points at a time. (Lower bounds per output, upper bounds per output, where the fast tier
    has them: NaN elsewhere.) ``judge(block, lows, highs)``, given, says where a block's
    bounds settle what the caller needs, while its arrays are in the core's cache; with
    ``keep`` false, a block's bounds live only until it is judged (one block's arrays,
    reused: no array of every point's bounds to fill), and none are returned."""
    _keep_freed_blocks()
    n = len(xs)
    size = n if keep else min(n, BLOCK)
    los = [np.empty(size) for _ in range(width)]
    his = [np.empty(size) for _ in range(width)]
    ok = np.empty(n, dtype=bool)
    with np.errstate(all="ignore"):  # infinities and NaN are bounds here, not accidents
        for start in range(0, n, BLOCK):
            block = slice(start, min(start + BLOCK, n))
            own = block if keep else slice(0, block.stop - start)
            lo, hi = [v[own] for v in los], [v[own] for v in his]
            lo, hi = _evaluate(fn, xs[block], lo, hi, ok[block], keep)
            if judge is not None:
                ok[block] &= judge(block, lo, hi)
    return (los, his, ok) if keep else ([], [], ok)


def _evaluate(
    fn: Callable[[Bounds], list[Any]],
    xs: np.ndarray,
    los: list[np.ndarray],
    his: list[np.ndarray],
    ok: np.ndarray,
    keep: bool = True,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One block: its outputs' bounds into ``los`` and ``his``, and where they hold into
    ``ok``; (the lower and the upper bounds). Without ``keep``, where the whole block took one
    path, the outputs' own arrays are the bounds (nothing copied)."""
    n = len(xs)
    ok[:] = False
    queue: list[tuple[list[bool], np.ndarray | None]] = [([], None)]  # None: every point
    runs = 0
    while queue and runs < MAX_PATHS:
        forced, where = queue.pop()
        runs += 1
        paths = PATHS[0] = Paths(forced, n if where is None else len(where))
        x = xs if where is None else xs[where]
        try:
            outs = fn(Bounds(x, x))
        except (_Empty, _Split):
            outs = None
        finally:
            PATHS[0] = None
        if paths.pending:
            index = np.arange(n) if where is None else where
            queue += [(path, index[mask]) for path, mask in paths.pending]
        if outs is None:
            continue
        active = paths.active
        every = where is None and bool(active.all())  # the one path of the whole block
        bounds = [lift(out) or (np.nan, np.nan) for out in outs]
        if every and not keep:
            ok[:] = True
            return [_full(lo, n) for lo, _ in bounds], [_full(hi, n) for _, hi in bounds]
        at = slice(None) if every else (np.arange(n) if where is None else where)[active]
        for k, (lo, hi) in enumerate(bounds):
            los[k][at] = lo if every else np.broadcast_to(lo, active.shape)[active]
            his[k][at] = hi if every else np.broadcast_to(hi, active.shape)[active]
        ok[at] = True
    if not ok.all():
        for v in (*los, *his):
            v[~ok] = np.nan
    return los, his


def _full(v: Any, n: int) -> np.ndarray:
    """An output's bounds as an array of the block's ``n`` points (a number: read-only)."""
    return v if _ndim(v) == 1 and len(v) == n else np.broadcast_to(np.float64(v), (n,))


def decided(
    lo: np.ndarray,
    hi: np.ndarray,
    got: np.ndarray | None,
    dtype: str,
    limits: tuple[float, ...] = (),
) -> np.ndarray:
    """Where the bounds settle the check of torch's ``got`` in ``dtype``: a finite point (an
    exact value); or finite bounds that round alike in the dtype (to 0: the check then looks
    at ``got`` alone), of one sign, between which torch's error in ulps varies by at most
    PRECISION of itself (of one ulp below one), and not across any of ``limits`` (the errors
    the caller flags beyond), nor across a relative error of 1 (``got`` twice the truth:
    every digit lost). float64 needs a point. A block at a time (the arrays stay in cache)."""
    if len(lo) > BLOCK:
        return np.concatenate(
            [
                decided(
                    lo[i : i + BLOCK],
                    hi[i : i + BLOCK],
                    None if got is None else got[i : i + BLOCK],
                    dtype,
                    limits,
                )
                for i in range(0, len(lo), BLOCK)
            ]
        )
    if not len(lo):
        return np.zeros(0, dtype=bool)
    with np.errstate(all="ignore"):
        if dtype == "float64" or got is None:
            return (lo == hi) & np.isfinite(lo)  # a NaN or an inf here may be float64's own
        got = np.reshape(got, -1)
        near = _near32(lo, hi, got, limits) if dtype == "float32" else None
        if near is not None and near.all():  # (no sample first: it cost a judge 10-20%, and
            return near  # blocks the bit test leaves mostly undecided are rare)
        if near is None or np.count_nonzero(near) * 2 < len(near):
            g = np.asarray(got, dtype=np.float64)
            sure = _surely(lo, hi, g, dtype, limits)
            if near is not None:
                sure |= near
        else:  # the other tests on the points the first left, where they are few
            sure, rest = near, np.flatnonzero(~near)
            g = np.full(len(got), np.nan)  # (torch's numbers in float64 where still asked)
            g[rest] = got[rest]
            sure[rest] = _surely(lo[rest], hi[rest], g[rest], dtype, limits)
        if not sure.all():
            rest = np.flatnonzero(~sure)
            sure[rest] = _decided(lo[rest], hi[rest], g[rest], dtype, limits)
        return sure


_STEPS = 1 << 12  # float64 steps between the bounds, at most, for _near32 (its text)


def _near32(
    lo: np.ndarray, hi: np.ndarray, got: np.ndarray, limits: tuple[float, ...]
) -> np.ndarray | None:
    """The common case of float32 in bit operations, a sufficient test (None: not this
    dtype's numbers, or a limit under 3 ulps): the bounds round to one float32 r, fewer than
    2¹² float64 steps apart, and either r is normal and not a power of two and torch's g at
    most L float32 steps from r, with 2L + 1 under the least limit (or 0), or anywhere in r's
    own binade with its error not within ½ ulp of a limit (:func:`_binade_apart`); or g is r
    itself, bit for bit (a power of two, a subnormal, 0 too); or r is 0 (the check then looks
    at g alone, as the whole test does).

    Why that decides: every τ between the bounds rounds to r, so lies in r's binade (r's
    rounding interval does not reach a power of two), where ulp(τ) = u, r's; |τ − r| ≤ u/2.
    g is k ≤ L steps from r (same sign: the int32 difference of opposite signs is past
    2²³ even where it wraps), each step u, or u/2 or 2u past the binade's edge: torch's error
    |g − τ|/u ≤ 2k + ½ < every limit, far under a relative error of 1 (|τ| ≥ 2²³u). Both
    bounds lie in r's binade, so hi − lo = steps·2⁻²⁹u: over them the error moves by
    2⁻¹⁷ at most, under PRECISION. Of one sign: r ≠ 0. Where torch's g is 0 instead (a tail
    it flushed), its error |τ|/u ≥ 2²³ ulps is past every limit under 2²², its relative
    error exactly 1 at every τ: decided too.

    g = r = 2^e (a power of two, u its ulp above): τ lies in [r − u/4, r + u/2], its ulp u/2
    below r and u above, so the error is |τ − r|/ulp(τ) ≤ ½ on both sides and, 2¹² float64
    steps at most from r, under 2⁻¹⁷: a spread under PRECISION. g = r subnormal: the ulp is
    2⁻¹⁴⁹ over the whole range, |τ − r| ≤ ulp/2, and the bounds (normal float64 numbers)
    2⁻⁴⁰|τ| < 2⁻¹⁶⁶ apart. Either way g/2 lies outside the bounds (not every digit lost) and
    r ≠ 0 gives them one sign."""
    if got.dtype != np.float32:
        return None
    reach = int((min(limits, default=math.inf) - 1.5) // 2) if limits else 1 << 20
    if reach < 1:
        return None
    reach = min(reach, 1 << 20)
    rlo = lo.astype(np.float32)
    same = rlo == hi.astype(np.float32)
    bits = rlo.view(np.int32)
    ok = (bits & 0x7FFFFF) != 0  # not a power of two (nor 0)
    a = bits & 0x7FFFFFFF
    a -= 0x00800000  # |r|'s bits less the least normal's: in [0, 2³¹ − 2²⁴) where r is
    ok &= a.view(np.uint32) < 0x7F000000  # normal and finite (< 0 where subnormal or 0)
    g = got.view(np.int32)
    k = g - bits  # (int32: a wrap lands far from 0 too)
    k += reach
    near = k.view(np.uint32) <= 2 * reach
    left = len(near) - np.count_nonzero(near)
    if left:  # the other tests on the points the first left (on those alone where few)
        rest = np.flatnonzero(~near) if left * 8 < len(near) else slice(None)
        gr = g[rest]
        other = _binade_apart(gr, bits[rest], k[rest] - reach, limits)
        if max(limits, default=0.0) < 2.0**22:  # torch's 0 (either sign) for a normal truth
            other |= (gr & 0x7FFFFFFF) == 0
        if isinstance(rest, slice):
            near |= other
        else:
            near[rest] = other
    ok &= near
    rest = not ok.all()
    if rest:  # torch's number r itself, r finite: a power of two, a subnormal, 0 too
        exact = k == reach
        exact &= a < 0x7F000000
        ok |= exact
    steps = hi.view(np.int64) - lo.view(np.int64)  # (of either sign: ± the steps)
    steps += _STEPS
    ok &= steps.view(np.uint64) < 2 * _STEPS
    if rest:
        ok |= a == -0x00800000  # r = ±0
    ok &= same
    return ok


def _binade_apart(
    g: np.ndarray, bits: np.ndarray, k: np.ndarray, limits: tuple[float, ...]
) -> np.ndarray:
    """Where torch's float32 g, k steps from r (``bits``), lies in r's own binade (the same
    sign and exponent) and its error is not within ½ ulp of any of ``limits``: |k| ± ½ apart
    from each (for :func:`_near32`, r normal and not a power of two, the bounds within 2¹²
    float64 steps of each other: it checks those). There every step is r's ulp u, so torch's
    error |g − τ|/u lies within |k| ± ½ at every τ that rounds to r (|τ − r| ≤ u/2): on one
    side of every limit, and under a relative error of 1 (g and τ in one binade [2ᵉ, 2ᵉ⁺¹):
    |g − τ| < 2ᵉ ≤ |τ|). torch's float32 gelu, far off where its 1 + erf cancels (11 ulps
    at the median over [−3, −0.5], 547 at most), is decided here, not by the float64 tests."""
    apart = (g ^ bits).view(np.uint32) < (1 << 23)  # sign and exponent alike
    if not limits:
        return apart
    size = np.abs(k)  # (< 2²³ wherever apart holds; an int32 elsewhere)
    for limit in limits:  # within ½ of it: the whole numbers in [limit − ½, limit + ½]
        low, high = max(math.ceil(limit - 0.5), 0), math.floor(limit + 0.5)
        if low < 1 << 23:  # (beyond: no |k| where apart holds)
            off = size - low  # (int32 in place of |size − limit| in float64: a third of
            apart &= off.view(np.uint32) > high - low  # the time, where blocks take it whole)
    return apart


def _surely(
    lo: np.ndarray, hi: np.ndarray, g: np.ndarray, dtype: str, limits: tuple[float, ...]
) -> np.ndarray:
    """Where :func:`decided` holds by sufficient tests of half its operations, the common
    cases: bounds a few float64 ulps apart that round alike to a finite number of the dtype,
    and torch near them or far from them. With m the dtype's mantissa bits and 2^e its least
    normal number, 2^m/max(|τ|, 2^e) ≤ 1/ulp(τ) < 2^(m+1)/|τ| at every τ.

    Near: |g − lo|·K₂ + (hi − lo)·K₁ < |lo|, and, where the bounds lie in two binades,
    (|g − lo| + hi − lo)·K₁ < min(|lo|, |hi|). In one binade 1/ulp is lo's, under
    2^(m+1)/|lo|, and K₁ = 2^(m+3)/PRECISION puts the spread of torch's error in ulps under a
    quarter of PRECISION; across two, the error itself is under it. K₂ = 2^(m+2)/(the least
    limit) puts the error under half of every limit; K₁ ≥ K₂ ≥ 2 keeps it under half the
    truth (no relative error of 1) and the bounds of one sign (hi − lo < |lo|/2).

    Far (torch's 0 for a tiny truth, every digit lost): one binade (so one sign, and
    |τ| < 2|lo|), (hi − lo)·32/PRECISION < |g − lo| (the spread, 2(hi − lo)/ulp, within a
    quarter of PRECISION of the least error, (|g − lo| − (hi − lo))/ulp, the ulp at most
    doubling across the binade), |g − lo| > max(|lo|, 2^e)·2^(3−m)·(the greatest limit)
    (the least error past every limit), and g/2 outside the bounds. The margins of 2 hold
    the tests' own roundings. Bounds that both round to 0 are decided as the whole test
    decides them. The rest take :func:`_decided`'s whole test."""
    bits, lowest = FORMATS[dtype]
    least = min(limits, default=math.inf)
    if not least > 0:
        return np.zeros(len(lo), dtype=bool)
    k2 = max(2.0 ** (bits + 2) / least, 2.0)
    k1 = max(2.0 ** (bits + 3) / PRECISION, k2)
    if dtype == "bfloat16":
        rlo, rhi = round_array(lo, dtype), round_array(hi, dtype)
    else:
        rlo, rhi = lo.astype(dtype), hi.astype(dtype)
    ok = rlo == rhi
    if not (rlo.min() > -np.inf and rlo.max() < np.inf):  # (a NaN: neither)
        ok &= np.isfinite(rlo)
    off = np.subtract(g, lo)
    np.abs(off, out=off)
    d = np.subtract(hi, lo)
    size = np.abs(lo)
    t = np.multiply(off, k2)
    w = np.multiply(d, k1)
    t += w
    near = t < size
    one = (lo.view(np.int64) ^ hi.view(np.int64)) < (1 << 52)  # (of one sign:) one binade
    if not one.all():
        np.add(off, d, out=t)
        t *= k1
        near &= one | (t < np.minimum(size, np.abs(hi)))
    near &= ok
    if near.all():
        return near
    near |= ok & (rlo == 0)  # both round to 0: the check looks at torch's number alone
    ok &= one
    ok &= ~near  # the far test where the near one failed: on those alone where they are few
    rest = np.flatnonzero(ok) if ok.sum() * 8 < len(ok) else slice(None)
    off, d, size, g, lo, hi = off[rest], d[rest], size[rest], g[rest], lo[rest], hi[rest]
    far = d * (32 / PRECISION) < off
    np.maximum(size, 2.0**lowest, out=size)
    far &= off > size * (max(limits, default=0.0) * 2.0 ** (3 - bits))
    half = g * 0.5
    far &= (half < lo) | (half > hi)
    if isinstance(rest, slice):
        far &= ok
        return near | far
    near[rest] = far
    return near


def _decided(
    lo: np.ndarray, hi: np.ndarray, g: np.ndarray, dtype: str, limits: tuple[float, ...]
) -> np.ndarray:
    """:func:`decided`'s whole test (a dtype other than float64)."""
    with np.errstate(all="ignore"):
        point = (lo == hi) & np.isfinite(lo)  # a NaN or an inf here may be float64's own
        if dtype == "bfloat16":
            rlo, rhi = round_array(lo, dtype), round_array(hi, dtype)
        else:  # compared in the dtype itself: no way back to float64
            rlo, rhi = lo.astype(dtype), hi.astype(dtype)
        same = rlo == rhi
        zero = same & (rlo == 0)
        least, most = _span(lo, hi, g, dtype)
        spread = (most - least) * (1 + 2.0**-40)  # (the roundings of a, w and their sum)
        settled = spread <= PRECISION * np.maximum(1.0, least)
        for limit in limits:
            settled &= (most < limit) | (least > limit)
        half = g * 0.5
        settled &= (half < lo) | (half > hi)
        settled &= (lo > 0) | (hi < 0)  # of one sign
        finite = np.isfinite(rlo)
        finite &= same
        # torch's inf or NaN against a finite truth: infinitely far, whatever the truth is
        wild = np.isfinite(g)
        settled &= wild
        settled &= finite
        np.logical_not(wild, out=wild)
        wild &= finite
        return point | zero | wild | settled


def _span(lo: np.ndarray, hi: np.ndarray, g: np.ndarray, dtype: str) -> tuple[Any, Any]:
    """(least, most): torch's error |g − τ|/ulp(τ) in ulps of ``dtype`` over the τ between
    the bounds (one sign, 1/ulp a normal float64 there: elsewhere meaningless)."""
    # torch's error is linear in τ within a binade: over [lo, hi] it moves by w = (hi − lo)/ulp
    # from its value a at lo, one way: up where g is at or below lo, down where at or above hi
    # (between them it is 0 at g, and a ± w holds it). Where the bounds lie in two binades, its
    # extremes are at the ends and at the edge between them, in both binades' ulps. (Each
    # computed within 2⁻⁵² of itself: the callers' margins.)
    bits, lowest = FORMATS[dtype][0], FORMATS[dtype][1]
    elo = (lo.view(np.int64) >> 52) & 0x7FF  # biased exponents: the binades, in a bit op
    ehi = (hi.view(np.int64) >> 52) & 0x7FF
    # 1/ulp at lo, a power of two (its exponent field built directly): exact products
    inverse = ((2046 + bits - np.maximum(elo, lowest + 1023)) << 52).view(np.float64)
    width = (hi - lo) * inverse
    off = g - lo
    a = np.abs(off) * inverse
    most, least = a + width, a - width
    np.copyto(least, a, where=off <= 0)  # (the spread w, not 2w: mish″'s and silu″'s zeros,
    np.copyto(most, a, where=g >= hi)  # 10⁻⁵ ulps wide at 10⁻³, were the exact tier's)
    two = np.flatnonzero(elo != ehi)
    if two.size:
        l2, h2, g2, il = lo[two], hi[two], g[two], inverse[two]
        ih = ((2046 + bits - np.maximum(ehi[two], lowest + 1023)) << 52).view(np.float64)
        outer = np.where(np.abs(l2) > np.abs(h2), l2, h2)
        edge = (outer.view(np.int64) & _BINADE).view(np.float64)  # ±2^e: no mantissa
        off = np.abs(g2 - edge)
        ends = [np.abs(g2 - l2) * il, np.abs(g2 - h2) * ih, off * il, off * ih]
        most[two], least[two] = np.maximum.reduce(ends), np.minimum.reduce(ends)
        least[two] = np.where((g2 >= l2) & (g2 <= h2), 0.0, least[two])
    return least, most


def below(lo: np.ndarray, hi: np.ndarray, got: np.ndarray, dtype: str, limit: float) -> np.ndarray:
    """Where the bounds show torch's ``got`` less than ``limit`` ulps of ``dtype`` from every
    number between them, of the same sign, under a relative error of 1, and neither rounding to
    0 nor past the dtype's range: a verdict (not flagged), not a measurement, so float64 too.
    The bounds' middle then judges as the truth would (its error lies among theirs)."""
    if len(lo) > BLOCK:
        return np.concatenate(
            [
                below(lo[i : i + BLOCK], hi[i : i + BLOCK], got[i : i + BLOCK], dtype, limit)
                for i in range(0, len(lo), BLOCK)
            ]
        )
    with np.errstate(all="ignore"):
        g = np.asarray(got, dtype=np.float64).reshape(-1)
        rlo, rhi = round_array(lo, dtype), round_array(hi, dtype)
        ok = np.isfinite(rlo) & np.isfinite(rhi) & (rlo != 0) & (rhi != 0) & np.isfinite(g)
        ok &= ((lo > 0) & (g > 0) & (g * 0.5 < lo)) | ((hi < 0) & (g < 0) & (g * 0.5 > hi))
        for end in (lo, hi):  # 1/ulp a normal float64 at both ends
            ok &= ((end.view(np.int64) >> 52) & 0x7FF) > FORMATS[dtype][0]
        return ok & (_span(lo, hi, g, dtype)[1] * (1 + 2.0**-50) < limit)  # (its rounding)
