"""Truncated Taylor series in arbitrary precision: the arithmetic of the references.

A :class:`Taylor` holds ``c[k] = f⁽ᵏ⁾(x)/k!`` for k = 0…n of one function of one variable, each
coefficient an :mod:`interval` (bounds at the working precision). Arithmetic and the elementary
functions act on whole series (products are Cauchy products; a function F of a series u uses
``g′ = F′(u)·u′``), so a formula written once gives its value and exact derivatives to any
order, independent of torch. Branches (relu's ``x > 0``) compare the value ``c[0]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mpmath.libmp import finf, fnan, fninf, fzero

from . import interval as mp
from .interval import mpf


def _number(x: Any) -> Any:
    """``x`` as a coefficient: the fast tier's bounds as they are, else an interval."""
    return x if hasattr(x, "arithmetic") else mpf(x)


class Taylor:
    """A Taylor series c[0] + c[1]·h + … + c[n]·hⁿ (c[k] = f⁽ᵏ⁾/k!)."""

    __slots__ = ("c",)

    def __init__(self, c: list[Any]) -> None:
        self.c = c

    @classmethod
    def variable(cls, x: Any, order: int) -> Taylor:
        """The identity at x: x + h (x a number, an interval, or the fast tier's bounds)."""
        return cls([_number(x), mpf(1), *[mpf(0)] * (order - 1)][: order + 1])

    @property
    def v(self) -> Any:
        return self.c[0]

    def derivatives(self) -> list[Any]:
        """f, f′, f″, … (the coefficients times k!)."""
        out, fact = [], 1
        for k, c in enumerate(self.c):
            fact *= k or 1
            out.append(c * fact)
        return out

    def const(self, value: Any) -> Taylor:
        return Taylor([_number(value), *[ZERO] * (len(self.c) - 1)])

    def trunc(self, n: int) -> Taylor:
        return Taylor(self.c[:n])

    def _lift(self, other: Any) -> Taylor:
        return other if isinstance(other, Taylor) else self.const(other)

    def __add__(self, other: Any) -> Taylor:
        if not isinstance(other, Taylor):
            return Taylor([self.c[0] + other, *self.c[1:]])
        return Taylor([a + b for a, b in zip(self.c, other.c, strict=False)])

    __radd__ = __add__

    def __neg__(self) -> Taylor:
        return Taylor([-a for a in self.c])

    def __sub__(self, other: Any) -> Taylor:  # (term by term: no negated copy to add)
        if not isinstance(other, Taylor):
            return Taylor([self.c[0] - other, *self.c[1:]])
        return Taylor([a - b for a, b in zip(self.c, other.c, strict=False)])

    def __rsub__(self, other: Any) -> Taylor:
        return Taylor([other - self.c[0], *(-a for a in self.c[1:])])

    def __mul__(self, other: Any) -> Taylor:
        if not isinstance(other, Taylor):
            return Taylor([a * other for a in self.c])
        if constant(other):  # most series of a seeded pass carry no derivative: a scale
            return _scaled(self.c[: len(other.c)], other.c[0])
        if constant(self):
            return _scaled(other.c[: len(self.c)], self.c[0])
        mp.on_time()
        a, b = self.c, other.c
        n = min(len(a), len(b))
        if self is other:  # a square: each cross term once, doubled (exactly)
            return Taylor([_square_term(a, k) for k in range(n)])
        return Taylor(
            [
                mp.fsum(a[i] * b[k - i] for i in range(k + 1) if _live(a[i], b[k - i]))
                for k in range(n)
            ]
        )

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Taylor:
        if not isinstance(other, Taylor):
            return Taylor([a / other for a in self.c])
        if constant(other):
            return Taylor([a / other.c[0] for a in self.c[: len(other.c)]])
        a, d = self.c, other.c
        out: list[Any] = []
        for k in range(min(len(a), len(d))):
            terms = (d[j] * out[k - j] for j in range(1, k + 1) if _live(d[j], out[k - j]))
            out.append((a[k] - mp.fsum(terms)) / d[0])
        return Taylor(out)

    def __rtruediv__(self, other: Any) -> Taylor:
        return self._lift(other) / self

    def __pow__(self, k: int) -> Taylor:
        if not isinstance(k, int) or k < 0:
            raise TypeError("Taylor powers are whole numbers; use power() for others")
        out = self.const(1)
        for _ in range(k):
            out = out * self
        return out


def _square_term(a: list[Any], k: int) -> Any:
    """The k-th coefficient of (Σ aᵢhⁱ)²: 2·Σ_{i<k−i} aᵢ·a_{k−i} + a_{k/2}²."""
    cross = [a[i] * a[k - i] for i in range((k + 1) // 2) if _live(a[i], a[k - i])]
    total = mp.fsum(cross) * 2 if cross else None
    if k % 2:
        return mp.fsum([]) if total is None else total
    middle = a[k // 2] * a[k // 2]
    return middle if total is None else total + middle


ZERO = mpf(0)  # shared: intervals are never changed in place
_SOME = object()  # Tangents.a where some direction is held: not fzero, so not a constant


class Tangents:
    """A first-order coefficient in ``n`` directions at once (direction k → an interval; a
    direction not held is an exact 0): one order-1 pass carries every seed eₖ of a Jacobian,
    instead of a pass per seed that recomputes every value. A plain interval where a Tangents
    is expected is the same number in every direction (an exact 0, or a NaN)."""

    __slots__ = ("d", "n")

    def __init__(self, n: int, d: dict[int, Any]) -> None:
        self.n = n
        self.d = d

    @property
    def a(self) -> Any:  # constant() and _scaled() test a coefficient's ends against fzero
        return _SOME if self.d else fzero

    b = a

    def at(self, k: int) -> Any:
        return self.d.get(k, ZERO)

    def _everywhere(self, fn: Callable[[Any], Any]) -> Tangents:
        """fn of every direction, where fn(0) is not 0 (a NaN, an inf) the absent ones too."""
        z = fn(ZERO)
        if z.a is fzero and z.b is fzero:
            return Tangents(self.n, {k: fn(v) for k, v in self.d.items()})
        return Tangents(self.n, {k: fn(self.at(k)) for k in range(self.n)})

    def __add__(self, other: Any) -> Tangents:
        if other.__class__ is Tangents:
            big, small = (self.d, other.d) if len(self.d) >= len(other.d) else (other.d, self.d)
            out = dict(big)
            for k, v in small.items():
                out[k] = out[k] + v if k in out else v
            return Tangents(self.n, out)
        o = mp.operand(other)
        if o is None:
            return NotImplemented
        return self._everywhere(lambda v: v + o)

    __radd__ = __add__

    def __neg__(self) -> Tangents:
        return Tangents(self.n, {k: -v for k, v in self.d.items()})

    def __sub__(self, other: Any) -> Tangents:
        return self + (-other)

    def __rsub__(self, other: Any) -> Tangents:
        return (-self) + other

    def __mul__(self, other: Any) -> Tangents:
        o = mp.operand(other)
        if o is None:
            return NotImplemented  # two first-order coefficients never meet at order 1
        return self._everywhere(lambda v: v * o)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tangents:
        o = mp.operand(other)
        if o is None:
            return NotImplemented
        return self._everywhere(lambda v: v / o)

    def __eq__(self, other: Any) -> bool:  # type: ignore[override]
        return all(self.at(k) == other for k in range(self.n))

    __hash__ = None  # type: ignore[assignment]


def _scaled(c: list[Any], by: Any) -> Taylor:
    if by.a != by.b or by.a in (fnan, finf, fninf):
        return Taylor([a * by for a in c])
    return Taylor([c[0] * by, *(a if a.a is fzero and a.b is fzero else a * by for a in c[1:])])


def arithmetic(x: Any) -> Any:
    """The module whose elementary functions act on a value: the interval module for an
    interval, else the value's own (the fast tier's bounds over many points)."""
    return mp if x.__class__ is mpf else x.arithmetic


def constant(u: Taylor) -> bool:
    """No derivative part: every coefficient past the value is an exact 0 (mpmath's own
    zero; a zero made otherwise only takes the general path)."""
    c = u.c
    if len(c) < 2:
        return True
    first = c[1]
    if first.a is not fzero or first.b is not fzero:  # the common case, decided at once
        return False
    return all(x.a is fzero and x.b is fzero for x in c[2:])


def lifted(fn: Callable[..., Taylor]) -> Callable[..., Taylor]:
    """``fn`` of a series, evaluated on its value alone where the series is a constant."""

    def on(u: Taylor, *args: Any) -> Taylor:
        if len(u.c) > 1 and constant(u):
            value = fn(Taylor(u.c[:1]), *args).c[0]
            return Taylor([value, *(ZERO for _ in u.c[1:])])
        return fn(u, *args)

    on.__name__, on.__doc__ = fn.__name__, fn.__doc__
    return on


def _live(a: Any, b: Any) -> bool:
    """Whether a·b counts in a sum: not where one is an exact 0 interval and the other the
    fast tier's bounds (a 0 there comes from the seeds and constants, never from the points:
    the term is 0 at every point, and summing an array of zeros cost a sweep 15% at order 2;
    where the bounds are NaN, the value, which they come from, is too). In the exact tier
    every term counts (0 · ∞ there is a kink's NaN)."""
    if a.__class__ is mpf and a.a is fzero and a.b is fzero:
        return not hasattr(b, "arithmetic")  # (the fast tier's bounds, as _number tells)
    if b.__class__ is mpf and b.a is fzero and b.b is fzero:
        return not hasattr(a, "arithmetic")
    return True


def _chain(u: Taylor, value: Any, derivative: Taylor | None) -> Taylor:
    """g = F(u) from g(x) = value and F′(u) as a series one order shorter:
    g_k = (1/k)·Σ_{j=1..k} j·u_j·h_{k−j}."""
    mp.on_time()
    c = [value]
    for k in range(1, len(u.c)):
        h = derivative.c
        terms = (j * u.c[j] * h[k - j] for j in range(1, k + 1) if _live(u.c[j], h[k - j]))
        c.append(mp.fsum(terms) / k)
    return Taylor(c)


def _shorter(u: Taylor) -> Taylor | None:
    return u.trunc(len(u.c) - 1) if len(u.c) > 1 else None


def _derivative(u: Taylor, fn: Callable[[Taylor], Taylor]) -> Taylor | None:
    """F′(u) as a series one order shorter (``fn`` = F′), or None at order 0."""
    s = _shorter(u)
    return s and fn(s)


def _slope(d: Taylor | None) -> Any:
    """F′ at u's value, bounds over u's bounds: the fast tier then calls F at one end of
    them alone (None: no derivative at hand)."""
    return None if d is None else d.c[0]


@lifted
def exp(u: Taylor) -> Taylor:
    return _exp(u, arithmetic(u.v).exp(u.v))


def _exp(u: Taylor, value: Any) -> Taylor:
    """e^u's series from its value."""
    mp.on_time()
    c = [value]
    for k in range(1, len(u.c)):
        terms = (j * u.c[j] * c[k - j] for j in range(1, k + 1) if _live(u.c[j], c[k - j]))
        c.append(mp.fsum(terms) / k)
    return Taylor(c)


@lifted
def expm1(u: Taylor) -> Taylor:
    d = _derivative(u, exp)
    return _chain(u, arithmetic(u.v).expm1(u.v, _slope(d)), d)


@lifted
def log(u: Taylor) -> Taylor:
    d = _derivative(u, lambda s: 1 / s)
    return _chain(u, arithmetic(u.v).log(u.v, _slope(d)), d)


@lifted
def log1p(u: Taylor) -> Taylor:
    d = _derivative(u, lambda s: 1 / (1 + s))
    return _chain(u, arithmetic(u.v).log1p(u.v, _slope(d)), d)


@lifted
def sigmoid(u: Taylor) -> Taylor:
    """1/(1 + e⁻ᵘ) = (1 + tanh(u/2))/2: its value 1/(1 + t) or t/(1 + t) with t = e^(−|u|),
    so that neither tail cancels; its derivative sech²(u/2)/4 (:func:`_tanh_sech2`, whose
    value t/(1 + t)² shares t), products all the way (the quotient's own series lost 1 − 2σ
    near 0: σ″ there came 10⁻¹¹ wide in float64 bounds)."""
    return _sigmoid(u, *_tail(u))


def _tail(u: Taylor) -> tuple[bool, Any]:
    """Which way u's value leans (≥ 0: True), and t = e^(−|u|) at it."""
    a = arithmetic(u.v)
    lean = a.leaning_positive(u.v)
    return lean, a.exp(-u.v) if lean else a.exp(u.v)


def _sigmoid(u: Taylor, lean: bool, t: Any) -> Taylor:
    """σ from t = e^(−|u|), and its derivative S = σ′ = sech²(u/2)/4 = t/(1 + t)² as a series
    with T = tanh(u/2): S′ = −T·S and T′ = 2S, products all the way (no quotient whose terms
    cancel near 0), and no factor of ½ or 4 to carry through them."""
    d = 1 + t
    value = 1 / d if lean else t / d
    s = _shorter(u)
    if s is None:
        return Taylor([value])
    slope = t / (d * d)
    th = arithmetic(s.v).tanh(s.v * 0.5, lambda: slope * 4)  # (tanh′ = sech², at u/2)
    return _chain(u, value, _tanh_pair(s, th, slope, 2, 1, tanh_too=False)[1])


def _tanh_pair(
    u: Taylor, th: Any, sh: Any, rise: int, fall: int, tanh_too: bool, other_too: bool = True
) -> tuple[Taylor, Taylor]:
    """The series along u of T (value ``th``) and S (value ``sh``) where T′ = rise·S and
    S′ = −fall·T·S, a term at a time: tanh u and sech² u (1, 2), or tanh(u/2) and σ′(u) (2, 1).
    At the last order T is left out unless ``tanh_too``, S unless ``other_too``."""
    tanh_, other = Taylor([th]), Taylor([sh])
    for n in range(2, len(u.c) + 1):
        part = u.trunc(n)
        end = n == len(u.c)
        tanh_, other = (
            tanh_ if end and not tanh_too else _chain(part, th, other * rise),
            other if end and not other_too else _chain(part, sh, other * tanh_ * -fall),
        )
    return tanh_, other


@lifted
def softplus(u: Taylor) -> Taylor:
    """log(1 + eᵘ) = u + log1p(e⁻ᵘ) or log1p(eᵘ), with derivative σ(u), which shares
    e^(−|u|)."""
    s = _shorter(u)
    a = arithmetic(u.v)
    lean, t = _tail(u)
    value = u.v + a.log1p(t, 1) if lean else a.log1p(t, 1)  # (t ≥ 0: log1p′ ≤ 1)
    return _chain(u, value, s and _sigmoid(s, lean, t))


@lifted
def tanh_softplus(u: Taylor) -> Taylor:
    """tanh(softplus(u)) (mish's factor) from t = e^(−|u|) alone: with n = (1 + t)² − 1,
    tanh(log(1 + eᵘ)) = n/(n + 2) = (1 + 2t)/(1 + 2t + 2t²) for u ≥ 0 (t = e⁻ᵘ) and
    t(t + 2)/(t(t + 2) + 2) for u < 0 (t = eᵘ): sums of positive terms, no cancellation in
    either tail. Its derivative sech²(softplus u)·σ(u) is, the same way, 4t²(1 + t)/D² and
    4t(1 + t)/D² (D the denominator: 1 − tanh² = (D − N)(D + N)/D² with D − N = 2t² or 2):
    one exponential for the value and every derivative, where tanh of softplus took seven
    calls of a function at order 2."""
    lean, t = _tail(u)
    s = _shorter(u)
    tt = Taylor([t]) if s is None else _exp(-s if lean else s, t)  # t's series along s
    if lean:  # n = 1 + 2t, D = n + 2t²; sech²·σ: 4t²(1 + t)/D²
        square = tt * tt
        d = (tt + square) * 2 + 1
        value = (t * 2 + 1) / d.c[0]
        top = square
    else:  # n = t(t + 2), D = n + 2; 4t(1 + t)/D²
        n = tt * (tt + 2)
        d = n + 2
        value = n.c[0] / d.c[0]
        top = tt
    if s is None:
        return Taylor([value])
    return _chain(u, value, top * (tt + 1) * 4 / (d * d))


def _tanh_sech2(
    u: Taylor, sech2_too: bool = True, tanh_too: bool = True
) -> tuple[Taylor, Taylor | None]:
    """tanh(u) and sech²(u) together, a term at a time: tanh′ = sech², sech²′ = −2·tanh·sech²
    (a product: the quotient 4t/(1 + t)²'s own series lost 1 − t near 0, where sech²′ at
    10⁻⁴ came 5·10⁻¹¹ wide in float64 bounds; now a few ulps). sech²'s value is 4t/(1 + t)²
    with t = e^(−2|u|): no cancellation and no huge number in either tail (4/(eᵘ + e⁻ᵘ)²
    would hold e^|u|, past float64's range beyond 710). (``sech2_too`` false: tanh alone,
    with sech² one order shorter, or none at order 0; ``tanh_too`` false: sech² alone, tanh
    one order shorter.)"""
    a = arithmetic(u.v)
    if len(u.c) == 1 and not sech2_too:
        return Taylor([a.tanh(u.v)]), None
    t = a.exp(u.v * -2) if a.leaning_positive(u.v) else a.exp(u.v * 2)
    d = 1 + t
    sh = 4 * t / (d * d)
    th = a.tanh(u.v, sh) if len(u.c) > 1 or not sech2_too else None
    return _tanh_pair(u, th, sh, 1, 2, tanh_too, sech2_too)


@lifted
def sech2(u: Taylor) -> Taylor:
    """1/cosh²(u) (see :func:`_tanh_sech2`)."""
    return _tanh_sech2(u, tanh_too=False)[1]  # type: ignore[return-value]


@lifted
def tanh(u: Taylor) -> Taylor:
    return _tanh_sech2(u, sech2_too=False)[0]


@lifted
def tanhshrink(u: Taylor) -> Taylor:
    """u − tanh(u), whose derivative is tanh²(u) (no 1 − sech² cancellation)."""
    s = _shorter(u)
    t = s and tanh(s)
    return _chain(u, arithmetic(u.v).tanhshrink(u.v), t and t * t)


@lifted
def softsign(u: Taylor, positive: bool) -> Taylor:
    """u/(1 + |u|) on the side of 0 ``positive`` says, its derivative 1/(1 + |u|)² along u:
    the quotient's own series took 1 − u/(1 + u), which cancels as |u| grows (at |u| past
    2⁵³, every digit: the derivative's bounds reached 0)."""
    s = _shorter(u)
    d = s and ((1 + s) if positive else (1 - s))
    return _chain(u, u.v / ((1 + u.v) if positive else (1 - u.v)), d and 1 / (d * d))


def _gauss(u: Taylor, scale: Any) -> Taylor:
    return exp(-(u * u)) * (scale * mp.constant("2/sqrt(pi)"))


@lifted
def gelu(u: Taylor) -> Taylor:
    """u·Φ(u) along u from its own derivatives, F′ = Φ + u·φ and F″ = φ·(2 − u²) (φ′ =
    −u·φ): one erfc and one exponential for the value and every derivative, where the
    product u·Φ(u) carried Φ's series and φ's (e^(−u²/2)·(1/√2π) a term at a time, each
    term times the constant) through a convolution (7% of the fast tier's form at order 2)."""
    a = arithmetic(u.v)
    t = u.v / -mp.constant("sqrt(2)")
    s = _shorter(u)
    if s is None:
        return Taylor([u.v * (a.erfc(t) * 0.5)])
    square = u.v * u.v
    e = a.exp(square * -0.5)
    phi = e * mp.constant("1/sqrt(2pi)")
    cdf = a.erfc(t, phi * (2 * mp.constant("sqrt(2)"))) * 0.5  # (φ: erfc′ along t, its slope)
    value = u.v * cdf
    r = _shorter(s)
    second = None
    if r is not None:  # φ(r)·(2 − r²) along r as 2φ − r²·φ: products of terms ≥ 0 (2 − r²
        if len(r.c) > 1:  # changes sign at √2: a product with it, of no known sign, costs
            rr = r * r  # twice as much); φ's series from its value
            ph = _exp(rr * -0.5, e) * mp.constant("1/sqrt(2pi)")
        else:
            rr, ph = Taylor([square]), Taylor([phi])
        second = ph * 2 - rr * ph
    return _chain(u, value, _chain(s, cdf + s.v * phi, second))


@lifted
def erf(u: Taylor) -> Taylor:
    d = _derivative(u, lambda s: _gauss(s, 1))
    return _chain(u, arithmetic(u.v).erf(u.v, _slope(d)), d)


@lifted
def erfc(u: Taylor) -> Taylor:
    d = _derivative(u, lambda s: _gauss(s, -1))
    return _chain(u, arithmetic(u.v).erfc(u.v, _slope(d)), d)


@lifted
def power(u: Taylor, a: Any) -> Taylor:
    """uᵃ for u > 0 and any real a (derivative a·uᵃ⁻¹)."""
    s = _shorter(u)
    return _chain(u, arithmetic(u.v).power(u.v, a), s and power(s, a - 1) * a)


def sqrt(u: Taylor) -> Taylor:
    return power(u, mpf(1) / 2)


def absolute(u: Taylor) -> Taylor:
    """|u|, with derivative sign(u) and 0 at 0 (torch's sgn)."""
    if u.v > 0:
        return u
    if u.v < 0:
        return -u
    return u * 0


def nan_like(u: Taylor) -> Taylor:
    """NaN in every coefficient: outside a function's real domain (log of a negative)."""
    return Taylor([mpf("nan")] * len(u.c))


@lifted
def sin(u: Taylor) -> Taylor:
    s = _shorter(u)
    return _chain(u, arithmetic(u.v).sin(u.v), s and cos(s))


@lifted
def cos(u: Taylor) -> Taylor:
    s = _shorter(u)
    return _chain(u, arithmetic(u.v).cos(u.v), s and -sin(s))


def tan(u: Taylor) -> Taylor:
    return sin(u) / cos(u)


def real_log(u: Taylor) -> Taylor:
    """log(u) for u > 0; −inf at 0 (no derivative); NaN below."""
    if u.v > 0:
        return log(u)
    if u.v == 0:
        return Taylor([mpf("-inf"), *[mpf("nan")] * (len(u.c) - 1)])
    return nan_like(u)


def real_sqrt(u: Taylor) -> Taylor:
    if u.v > 0:
        return sqrt(u)
    if u.v == 0:
        return Taylor([mpf(0), *[mpf("inf")] * (len(u.c) - 1)])
    return nan_like(u)


def real_power(u: Taylor, a: Taylor) -> Taylor:
    """uᵃ as torch.pow defines it over the reals: a whole constant exponent for any u, else
    u > 0 (exp(a·log u)); 0 to a positive constant is 0; NaN otherwise."""
    constant = all(c == 0 for c in a.c[1:])
    if constant and mp.whole(a.v) and abs(a.v) <= 1 << 16:
        k = int(a.v)
        out = u ** abs(k) if k else u.const(1)
        return out if k >= 0 else 1 / out
    if u.v > 0:
        return power(u, a.v) if constant else exp(a * log(u))
    if u.v == 0 and constant and a.v > 0:
        return _zero_power(u, a.v)
    return nan_like(u)


def _zero_power(u: Taylor, a: Any) -> Taylor:
    """0ᵃ for a positive non-integer a: the value 0; derivatives 0 below order a, inf above."""
    return Taylor([mpf(0)] + [mpf(0) if k < a else mpf("inf") for k in range(1, len(u.c))])


def compose(coefficients: list[Any], u: Taylor) -> Taylor:
    """Σₖ aₖ·(u − u₀)ᵏ: a function whose Taylor coefficients at u₀ are ``coefficients``,
    applied to the series u."""
    d = Taylor([mpf(0), *u.c[1:]])
    out, power = u.const(coefficients[0]), None
    for k in range(1, len(u.c)):
        power = d if power is None else power * d
        out = out + power * coefficients[k]
    return out
