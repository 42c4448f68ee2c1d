"""The arbitrary-precision truth of a whole result, by one driver for every request.

Every request is a program (an activation, a function along a dim, a loss, a norm, an
expression of any of them); :mod:`interpreter` runs it over Taylor series of intervals, and
derivatives are forward mode, seeded as the result's form asks (:func:`program.derivative_form`,
the evaluator's own rule):

- per element, to any order: one pass with every element of the variable seeded;
- a gradient, a Jacobian, the gradient of a sum or vᵀJ: one pass whose first-order
  coefficients carry a direction per element of the variable (per position along the dim,
  every slice at once, for a function along a dim: :class:`taylor.Tangents`);
- a Hessian (a scalar's, or one output's per slice): second-order passes seeded with eₖ and
  eₖ + eₗ, Hₖₗ = c₂(eₖ + eₗ) − c₂(eₖ) − c₂(eₗ).

The working precision doubles until every number's bounds round to one float64 (the
reference's ``converge``): a point at a time where each output element depends on its own
input element alone (elementwise programs, losses with reduction none), else the whole.
No branch here on the kind of function: an entry's form says how it applies.
"""

from __future__ import annotations

import contextlib
import gc
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..functions import registry
from ..program import Program, derivative_form, of_function
from ..result import Result
from . import fast, reference_losses
from . import interval as mp
from .interpreter import Applied, Exact, as_array, run
from .interval import OutOfTime, budget, mpf
from .reference import MAX_ORDER, START_BITS, NoReference, Truth, converge, start_bits, truth_of
from .taylor import ZERO, Tangents, Taylor

CHECK_POINTS = 20_000  # --check and --exact: the reference's points at most (accuracy: its own)
SECONDS = 20.0  # --check and --exact: the reference's time; past it, numbers are unsettled
MICROSECONDS = 40.0  # about one Taylor-series operation of the reference at its first precision
MAX_WORK = 400_000  # seeded passes × elements of a whole evaluation at most
CACHE_POINTS = 1 << 18
FAST_FROM = 8  # points from which elementwise asks the fast tier first (measured here: its
# ~1 ms of array calls cost 3-5 exact-tier points, and the exact tier caches each point)


@dataclass(frozen=True)
class Leaf:
    """What the result holds for one variable: its derivative form and the orders asked."""

    name: str
    form: str
    orders: tuple[int, ...]
    jacobian: bool

    @property
    def elementwise(self) -> bool:
        return self.form == "elementwise"


def plan(result: Result, program: Program) -> list[Leaf]:
    """The derivatives ``result`` holds, as forms of its variables."""
    names = [*result.derivatives.get(1, {}), *(n for n in result.jacobian)]
    out = []
    for name in dict.fromkeys(names):
        leaf = result.inputs[name]
        form = derivative_form(
            program, result.value.shape, leaf.shape, result.index, result.cotangent is not None
        )
        orders = tuple(k for k in sorted(result.derivatives) if name in result.derivatives[k])
        if form == "orders":
            form = "elementwise" if leaf.size == result.value.size else "gradient"
        out.append(Leaf(name, form, orders, name in result.jacobian))
    return out


def work(result: Result, program: Program | None) -> float:
    """The reference's work in Taylor-series operations, estimated from the shapes before it
    starts: points × steps of the program × (order + 1)² × its passes."""
    size = sum(v.size for v in result.inputs.values()) or 1
    order = max(result.derivatives, default=0) + 1
    steps = len(program.steps) if program is not None else 8
    passes = 1
    if program is not None:
        passes += sum(_passes(result, program, leaf) for leaf in plan(result, program))
    return size * steps * order * order * passes


def _passes(result: Result, program: Program, leaf: Leaf) -> int:
    if leaf.elementwise:
        return 1
    n = _seeds_per_pass(result, program, leaf.name)
    return n * (n + 1) // 2 if 2 in leaf.orders else n


def _seeds_per_pass(result: Result, program: Program, name: str) -> int:
    """Passes of one order-1 sweep of ``name``: its elements, or its positions along the dim."""
    leaf = result.inputs[name]
    if program.dim is not None and leaf.ndim:
        return leaf.shape[program.dim]
    return leaf.size


def truths(
    result: Result,
    program: Program | None = None,
    digits: bool = False,
    progress: Callable[[int], None] | None = None,
    limit: int | None = CHECK_POINTS,
    seconds: float | None = SECONDS,
    limits: tuple[float, ...] = (),
) -> tuple[dict[str, Truth], list[str]]:
    """({path: Truth}, what has no reference and why). Raises NoReference when nothing has,
    when the inputs hold more than ``limit`` numbers, or when the estimated work would take
    more than ten times ``seconds``; past ``seconds`` what has not settled is unsettled (None:
    no time limit). ``limits``: the errors in ulps the caller flags beyond (the fast tier
    leaves a number whose error may lie either side of one to the exact tier)."""
    if program is None:
        raise NoReference("the reference needs the request's program")
    size = sum(v.size for v in result.inputs.values())
    quick = not digits and _fast_first(result, program)
    if limit is not None and size > limit and not quick:
        raise NoReference(
            f"{size:,} input numbers are more than the {limit:,} the "
            "arbitrary-precision reference checks at once; actgrad accuracy "
            "sweeps a range"
        )
    estimate = work(result, program) * MICROSECONDS * 1e-6
    if seconds is not None and estimate > 10 * seconds and not quick:
        raise NoReference(
            f"the arbitrary-precision reference would take about "
            f"{estimate:,.0f} s here, over its budget of {seconds:g} s; give "
            "fewer points or a lower order"
        )
    try:
        with budget(seconds), _few_collections():
            return _truths(result, program, digits, progress, limits, limit)
    except OutOfTime:
        raise NoReference(
            f"the arbitrary-precision reference ran out of its {seconds:g} s "
            "budget before any value settled"
        ) from None


_COLLECTING = [0, None]  # reference runs under way, and the thresholds before the first


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """The reference makes millions of small intervals that hold no cycles (refcounting frees
    them), and each 700 of them would start a collection that walks the cache: collect after
    each 50,000 instead while it works (6% of a sweep)."""
    with _GC_LOCK:
        if not _COLLECTING[0]:
            _COLLECTING[1] = gc.get_threshold()
            gc.set_threshold(50_000, *_COLLECTING[1][1:])
        _COLLECTING[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _COLLECTING[0] -= 1
            if not _COLLECTING[0]:
                gc.set_threshold(*_COLLECTING[1])


_GC_LOCK = threading.Lock()


def _truths(
    result: Result,
    program: Program,
    digits: bool,
    progress: Callable[[int], None] | None,
    limits: tuple[float, ...] = (),
    limit: int | None = None,
) -> tuple[dict[str, Truth], list[str]]:
    if program.stochastic:
        raise NoReference("a function that draws random noise has no reference")
    if max(result.derivatives, default=0) > MAX_ORDER:
        raise NoReference(f"the reference stops at order {MAX_ORDER}")
    leaves = plan(result, program)
    missing = [
        f"grad{k}.{leaf.name}: derivatives past a Hessian have no reference"
        for leaf in leaves
        if not leaf.elementwise
        for k in leaf.orders
        if k > 2
    ]
    if _pointwise(result, program, leaves):
        return _by_point(result, program, leaves, digits, progress, limits, limit), missing
    if _slicewise(result, program):
        return _by_slice(result, program, leaves, digits, progress), missing
    return _whole(result, program, leaves, digits), missing


# ----------------------------------------------------------------------------------------------
# a slice at a time: a function along a dim, each slice settled on its own


def _slicewise(result: Result, program: Program) -> bool:
    return (
        program.dim is not None
        and len(result.inputs) == 1
        and result.cotangent is None
        and next(iter(result.inputs.values())).ndim > 1
    )


def _by_slice(
    result: Result,
    program: Program,
    leaves: list[Leaf],
    digits: bool,
    progress: Callable[[int], None] | None,
) -> dict[str, Truth]:
    """Each slice along the dim as a result of its own (its other axes kept, of length 1),
    settled apart (one hard slice does not raise the precision of all), placed back."""
    (name, x), d = next(iter(result.inputs.items())), program.dim % result.value.ndim
    batch = [n for a, n in enumerate(x.shape) if a != d]
    out: dict[str, Truth] = {}
    for count, at in enumerate(np.ndindex(*batch)):
        pick = list(at)
        idx = tuple(
            slice(None) if a == d else slice(pick[a - (a > d)], pick[a - (a > d)] + 1)
            for a in range(x.ndim)
        )
        part = replace(result, inputs={name: x[idx]}, value=result.value[idx])
        for path, truth in _whole(part, program, leaves, digits).items():
            _place(out, path, truth, idx, at, result, digits)
        if progress is not None and count % 256 == 255:
            progress(256)
    return out


def _place(
    out: dict[str, Truth],
    path: str,
    part: Truth,
    idx: tuple,
    at: tuple[int, ...],
    result: Result,
    digits: bool,
) -> None:
    """Put one slice's truth of ``path`` into the whole result's: the value and a gradient
    where the slice sits, a Jacobian or Hessian (batch…, m, n) at its batch position."""
    if path not in out:
        shape = _full_shape(path, result)
        out[path] = Truth(
            np.full(shape, np.nan),
            np.full(shape, np.nan),
            np.full(shape, "unsettled", dtype=object) if digits else None,
            np.zeros(shape, dtype=bool),
        )
    whole = out[path]
    where = idx if path == "value" or path.startswith("grad.") else at
    settled = np.ones(part.hi.shape, dtype=bool) if part.settled is None else part.settled
    pairs = [(whole.hi, part.hi), (whole.lo, part.lo), (whole.settled, settled)]
    if digits and part.text is not None:
        pairs.append((whole.text, part.text))
    for mine, theirs in pairs:
        mine[where] = np.reshape(theirs, mine[where].shape)


def _full_shape(path: str, result: Result) -> tuple[int, ...]:
    if path == "value":
        return result.value.shape
    kind, _, name = path.partition(".")
    if kind == "jacobian":
        return result.jacobian[name].shape
    k = 1 if kind == "grad" else int(kind[4:])
    return result.derivatives[k][name].shape


# ----------------------------------------------------------------------------------------------
# a point at a time: each output element depends on its own input elements alone


def _pointwise(result: Result, program: Program, leaves: list[Leaf]) -> bool:
    m = result.value.size
    if not (program.elementwise or program.separable) or result.cotangent is not None:
        return False
    if any(v.size not in (m, 1) for v in result.inputs.values()):
        return False
    return all(
        result.inputs[leaf.name].shape == result.value.shape
        and (leaf.elementwise or leaf.form == "sum")
        and not leaf.jacobian
        for leaf in leaves
    )


_CACHE: dict[tuple[Any, ...], tuple[list[Any], list[bool]]] = {}


def _by_point(
    result: Result,
    program: Program,
    leaves: list[Leaf],
    digits: bool,
    progress: Callable[[int], None] | None,
    limits: tuple[float, ...] = (),
    limit: int | None = None,
) -> dict[str, Truth]:
    """Each point settled apart (cached), the fast tier's first where it has the program:
    the exact tier takes the rest, at most ``limit`` of them (the others: unsettled)."""
    m = result.value.size
    orders = [(leaf.name, max(leaf.orders, default=1)) for leaf in leaves]
    points = Points(program, result.dtype, orders)
    quick = None if digits else _fast(points, result, limits)
    rest = range(m) if quick is None else np.flatnonzero(~quick[1])
    pick = slice(None) if quick is None else rest
    flat = {  # the exact tier's points: each input's own there, or its one broadcast number
        n: np.asarray(np.reshape(v, -1)[pick if v.size == m else 0], dtype=np.float64).tolist()
        for n, v in result.inputs.items()  # (picked first: not every input widened)
    }
    if quick is not None and progress is not None:
        progress(m - len(rest))
    if quick is None and limit is not None and m > limit:
        raise NoReference(
            f"{m:,} points are more than the {limit:,} the arbitrary-precision reference "
            "checks at once (the fast tier has no bounds for this program); actgrad accuracy "
            "sweeps a range"
        )
    columns, oks = _exact_tier(points, flat, rest, limit, progress)
    shape = result.value.shape

    def field(at: int) -> Truth:
        if quick is None:
            return truth_of(columns[at], oks[at], shape, digits)
        slow = truth_of(columns[at], oks[at], (len(rest),), digits)
        return _merged(quick[0][at], quick[1], rest, slow, shape)

    out = {"value": field(0)}
    at = 1
    for leaf, (_, top) in zip(leaves, orders, strict=True):
        for k in range(1, top + 1):
            if k in leaf.orders:
                out[_key(k, leaf.name)] = field(at)
            at += 1
    return out


def _exact_tier(
    points: Points,
    flat: dict[str, Any],
    rest: Any,
    limit: int | None,
    progress: Callable[[int], None] | None,
) -> tuple[list[list[Any]], list[list[bool]]]:
    """The exact tier's columns (per output) at the points the fast tier left (``flat``: each
    input's numbers there, or its one broadcast number); NaN and not settled, all of them,
    where they are more than ``limit``."""
    judged = rest if limit is None or len(rest) <= limit else []
    rows = (
        {n: (v[i] if isinstance(v, list) else v) for n, v in flat.items()}
        for i in range(len(judged))
    )
    columns, oks = _columns(points, rows, progress)
    if len(judged) < len(rest):  # more than the exact tier takes at once: not judged
        columns = [[mpf(math.nan)] * len(rest) for _ in columns]
        oks = [[False] * len(rest) for _ in oks]
    return columns, oks


def _fast_first(result: Result, program: Program) -> bool:
    """Whether the fast tier judges a result's points first (the exact tier's limits then
    count only the points it leaves)."""
    leaves = plan(result, program)
    if len(result.inputs) != 1 or len(leaves) > 1 or program.stochastic:
        return False
    return max(result.derivatives, default=0) <= MAX_ORDER and _pointwise(result, program, leaves)


def _fast(
    points: Points, result: Result, limits: tuple[float, ...] = ()
) -> tuple[list[np.ndarray], np.ndarray] | None:
    """The fast tier (:mod:`fast`) at every finite point of a one-function, one-variable
    elementwise program: (each output's value, where every output is decided for torch's
    number in the result's dtype), or None where the fast tier has no bounds for it."""
    if len(result.inputs) != 1:
        return None
    name = points.orders[0][0] if points.orders else ""
    width = 1 + (points.orders[0][1] if points.orders else 0)
    gots = [
        result.value if k == 0 else result.derivatives.get(k, {}).get(name) for k in range(width)
    ]
    variable, x = next(iter(result.inputs.items()))
    return _fast_at(points, variable, x, gots, result.dtype, limits)


def _fast_at(
    points: Points,
    variable: str,
    x: Any,
    gots: list[Any],
    dtype: str,
    limits: tuple[float, ...] = (),
    verdict: float | None = None,
) -> tuple[list[np.ndarray], np.ndarray] | None:
    """:func:`_fast` at the points ``x`` of ``variable``, torch's numbers ``gots`` (the value,
    then each derivative; None: not judged) in ``dtype``; ``verdict``, given: a point where
    the bounds show torch less than that many ulps off is decided too (:func:`fast.below`)."""
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    finite: Any = np.isfinite(xs)
    finite = slice(None) if finite.all() else np.flatnonzero(finite)
    gots = [None if g is None else np.reshape(g, -1)[finite] for g in gots]
    size = len(xs) if isinstance(finite, slice) else len(finite)
    middles = [np.empty(size) for _ in gots]

    def judge(block: slice, los: list[np.ndarray], his: list[np.ndarray]) -> np.ndarray:
        ok = None
        for lo, hi, got, middle in zip(los, his, gots, middles, strict=True):
            if got is not None:
                settled = fast.decided(lo, hi, got[block], dtype, limits)
                if verdict is not None:
                    settled |= fast.below(lo, hi, got[block], dtype, verdict)
                ok = settled if ok is None else np.logical_and(ok, settled, out=ok)
            m = middle[block]
            np.add(lo, hi, out=m)  # (lo + hi)/2: lo itself at a point, within the bounds
            m *= 0.5  # elsewhere (rounding is monotone, and halving exact above float64's
            # subnormals); finite at every decided point, whose bounds are within the dtype's
            # range (an overflow elsewhere: the exact tier's points)
            if np.fmin.reduce(lo, initial=np.inf) <= 0 <= np.fmax.reduce(hi, initial=-np.inf):
                _zero_about(lo, hi, m)
        return np.ones(block.stop - block.start, dtype=bool) if ok is None else ok

    found = fast_bounds(points, variable, xs[finite], judge, keep=False)
    if found is None:
        return None
    ok = found[2]
    if isinstance(finite, slice):
        return middles, ok
    values = []
    for middle in middles:
        column = np.full(xs.shape, np.nan)
        column[finite] = middle
        values.append(column)
    where = np.zeros(xs.shape, dtype=bool)
    where[finite] = ok
    return values, where


def _zero_about(lo: np.ndarray, hi: np.ndarray, middle: np.ndarray) -> None:
    """0 (−0 where the upper bound is 0) as the value where the bounds are apart and hold 0:
    they are decided only where both round to 0 in the dtype, and their middle is no truth
    in float64 (gelu″ at x = −3·10³⁸, e^(−4.5·10⁷⁶)·x², has bounds [−4.4·10⁻²⁴⁷, 0] from the
    exponential's smallest subnormal times x²: its middle, −2.2·10⁻²⁴⁷, is what --check
    showed as the true value; the exact tier's float64 value is 0)."""
    about = np.less(lo, hi)
    about &= lo <= 0
    about &= hi >= 0
    if about.any():
        middle[about] = np.where(hi[about] <= 0, -0.0, 0.0)


def fast_bounds(
    points: Points,
    variable: str,
    xs: np.ndarray,
    judge: Callable[[slice, list[np.ndarray], list[np.ndarray]], np.ndarray] | None = None,
    keep: bool = True,
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray] | None:
    """The fast tier's bounds of the value and derivatives 1…order of a one-variable
    elementwise program at finite points ``xs``: (lower bounds, upper bounds, where it has
    them), or None where it has no bounds for the program (the exact tier's then);
    ``judge`` and ``keep``: as :func:`fast.evaluate` takes them."""
    if len(points.orders) > 1:
        return None
    order = points.orders[0][1] if points.orders else 0
    direct = points.direct

    def at(x: fast.Bounds) -> list[Any]:
        u = Taylor([x, ONE, *[ZERO] * (order - 1)] if order else [x])
        if direct is not None:
            y = direct.element(u)
        else:
            y = run(points.program, Exact({variable: u}, order, points.dtype, points.applied))
            y = y if isinstance(y, Taylor) else np.asarray(y, dtype=object).reshape(-1)[0]
        return y.derivatives()

    try:
        return fast.evaluate(at, xs, order + 1, judge, keep)
    except Exception:  # no bounds here (fast.Unsupported, or an operation Bounds lacks):
        return None  # the exact tier's, which always has them


def _merged(
    quick: np.ndarray, where: np.ndarray, rest: list[int], slow: Truth, shape: tuple[int, ...]
) -> Truth:
    """The fast tier's values where it decided (``quick``, the fast tier's own array, filled
    in place), the exact tier's at ``rest``; the remainders (lo) 0 but there, and where the
    fast tier decided every point, one read-only 0 for all."""
    hi = quick
    lo = np.zeros(quick.shape) if len(rest) else np.broadcast_to(0.0, quick.shape)
    settled = where.copy()
    if len(rest):
        hi[rest], lo[rest] = slow.hi, slow.lo
    settled[rest] = True if slow.settled is None else slow.settled
    return Truth(
        hi.reshape(shape), lo.reshape(shape), None, settled.reshape(shape), where.reshape(shape)
    )


def _columns(
    points: Points, rows: Iterator[dict[str, float]], progress: Callable[[int], None] | None
) -> tuple[list[list[Any]], list[list[bool]]]:
    """Each of the points' outputs (the value, then each derivative) as a column over the
    rows, and whether each settled."""
    width = 1 + sum(k for _, k in points.orders)
    columns: list[list[Any]] = [[] for _ in range(width)]
    oks: list[list[bool]] = [[] for _ in range(width)]
    for i, values in enumerate(rows):
        found, ok = points(values)
        for column, out, o, known in zip(columns, found, oks, ok, strict=True):
            column.append(out)
            o.append(known)
        if progress is not None and i % 256 == 255:
            progress(256)
    return columns, oks


class Points:
    """The program at one point: its value and, per variable, derivatives 1…order (a pass
    with that variable seeded), settled point by point and cached."""

    def __init__(self, program: Program, dtype: str, orders: list[tuple[str, int]]) -> None:
        self.program = program
        self.dtype = dtype
        self.orders = orders
        self.applied: dict[int, Applied] = {}
        self.ops: dict[int, Exact] = {}  # one per order, its variables set for each run
        held = []  # the parameters each call's kernels hold: dtypes that hold them alike share
        for call in program.calls():
            if call.target != "math":
                applied = Applied(call.spec, call.params, dtype)
                self.applied[id(call)] = applied
                # an entry that follows no kernel's arithmetic (no source cited) computes the
                # same in every dtype: its points are shared by them
                own = ("_opmath", "_dtype") if not applied.spec.source else ()
                held.append(
                    tuple(
                        tuple(sorted((k, v) for k, v in p.items() if k not in own))
                        for p in applied.by_order
                    )
                )
        self.key = (repr((program.steps, held, orders)),)  # a str: its hash is kept
        steps = program.steps
        one_call = len(steps) == 2 and steps[0][0] == "name" and steps[1][0] == "call"
        applied = self.applied.get(id(steps[1][1])) if one_call else None
        # f(x) itself: the entry applied to the series, as the stack machine would (no stack)
        self.direct = applied if applied is not None and applied.shape == "element" else None

    def __call__(
        self, values: Mapping[str, float], bits: int | None = None
    ) -> tuple[list[Any], list[bool]]:
        """``bits``: start at that working precision instead (uncached; the tests use it)."""
        key = (*self.key, tuple(values.values()), bits)
        hit = _CACHE.get(key)
        if hit is not None:
            return hit
        size = 1 + sum(k for _, k in self.orders)
        if not all(math.isfinite(v) for v in values.values()):
            return [mpf(math.nan)] * size, [True] * size
        try:
            out = converge(lambda: self._attempt(values), bits or _first_bits(values.values()))
        except OutOfTime:  # the budget ran out before this point: unsettled
            return [mpf(math.nan)] * size, [False] * size
        if all(out[1]) or mp.DEADLINE[0] == math.inf:  # what a budget cut short is not kept
            if len(_CACHE) >= CACHE_POINTS:
                _CACHE.clear()
            _CACHE[key] = out
        return out

    def _attempt(self, values: Mapping[str, float]) -> list[Any]:
        if not self.orders:
            return [self._run(values, None, 0).c[0]]
        out: list[Any] = []
        for name, order in self.orders:
            y = self._run(values, name, order)
            if not out:
                out.append(y.c[0])
            out += y.derivatives()[1 : order + 1]
        return out

    def _run(self, values: Mapping[str, float], seeded: str | None, order: int) -> Taylor:
        ops = self.ops.get(order)
        if ops is None:
            ops = self.ops[order] = Exact({}, order, self.dtype, self.applied)
        zeros = [ZERO] * (order - 1)
        ops.variables = {
            n: Taylor([mpf(v), ONE if n == seeded else ZERO, *zeros] if order else [mpf(v)])
            for n, v in values.items()
        }
        if self.direct is not None:
            return self.direct.element(next(iter(ops.variables.values())))
        y = run(self.program, ops)
        return y if isinstance(y, Taylor) else np.asarray(y, dtype=object).reshape(-1)[0]


def _first_bits(values: Any) -> int:
    """Enough bits that small inputs do not cancel away (x − tanh x ~ x³/3 near 0)."""
    return start_bits([v for v in values if isinstance(v, float)])


# ----------------------------------------------------------------------------------------------
# the whole program at once: passes seeded per element (or per position along the dim)


@dataclass(frozen=True)
class Pass:
    order: int
    leaf: str | None
    seeds: tuple[int, ...]  # positions seeded with 1 (along the dim: in every slice)
    width: int = 0  # > 0: one order-1 pass seeding every position k with direction k

    @property
    def work(self) -> int:
        """Passes' worth of work: a vector pass carries ``width`` directions."""
        return max(self.width, 1)


def _whole(result: Result, program: Program, leaves: list[Leaf], digits: bool) -> dict[str, Truth]:
    inputs = {n: np.asarray(v, dtype=np.float64) for n, v in result.inputs.items()}
    passes = [Pass(0, None, ())]
    for leaf in leaves:
        passes += list(_leaf_passes(result, program, leaf))
    size = sum(v.size for v in inputs.values()) or 1
    count = sum(p.work for p in passes)
    if count * size > MAX_WORK:
        raise NoReference(
            f"too large for the arbitrary-precision reference ({count} passes "
            f"over {size} elements; at most {MAX_WORK:,} element evaluations)"
        )
    for v in inputs.values():
        if not np.all(np.isfinite(v)):
            raise NoReference("the reference of a whole program needs finite inputs")
    applied: dict[int, Applied] = {}
    layout: list[tuple[str, tuple[int, ...]]] = []

    held = {n: (v.shape, [mpf(x) for x in v.reshape(-1).tolist()]) for n, v in inputs.items()}

    def attempt() -> list[Any]:
        outs = {p: as_array(_seeded_run(program, result, held, p, applied)) for p in passes}
        found = _fields(result, program, leaves, passes, outs, inputs)
        layout[:] = [(path, shape) for path, shape, _ in found]
        return [v for _, _, values in found for v in values]

    spread = np.concatenate([v.reshape(-1) for v in inputs.values()] or [np.zeros(0)])
    flat, ok = converge(attempt, max(_spread_bits(spread), _first_bits(spread.tolist())))
    out, at = {}, 0
    for path, shape in layout:
        n = math.prod(shape)
        out[path] = truth_of(flat[at : at + n], ok[at : at + n], shape, digits)
        at += n
    return out


def _spread_bits(values: np.ndarray) -> int:
    """Enough bits for the spread of the inputs (a softmax's 1 − p cancels within e^−spread)."""
    finite = values[np.isfinite(values)]
    spread = float(finite.max()) - float(finite.min()) if finite.size else 0.0
    return START_BITS + int(min(spread, 3000) * 1.5)


def _leaf_passes(result: Result, program: Program, leaf: Leaf) -> Iterator[Pass]:
    if leaf.elementwise:
        yield Pass(max(leaf.orders), leaf.name, ())
        return
    n = _seeds_per_pass(result, program, leaf.name)
    if 2 not in leaf.orders:  # every column of the first order in one pass
        yield Pass(1, leaf.name, (), n)
        return
    for k in range(n):
        yield Pass(2, leaf.name, (k,))
    for k in range(n):
        for j in range(k + 1, n):
            yield Pass(2, leaf.name, (k, j))


def _seeded_run(
    program: Program,
    result: Result,
    inputs: Mapping[str, list[Any]],
    p: Pass,
    applied: dict[int, Applied],
) -> Any:
    """One pass: every input as series (its values, an input's own intervals made once),
    the pass's leaf seeded with 1 at its positions (along the dim: in every slice)."""
    variables = {}
    for name, (shape, values) in inputs.items():
        position = np.arange(math.prod(shape)).reshape(shape)  # a seed's position k
        if program.dim is not None and len(shape):
            position = np.broadcast_to(
                np.expand_dims(np.arange(shape[program.dim]), tuple(range(len(shape) - 1))),
                np.moveaxis(position, program.dim, -1).shape,
            )
            position = np.moveaxis(position, -1, program.dim)
        tangents = [_tangent(p, name == p.leaf, k) for k in position.reshape(-1).tolist()]
        rest = [ZERO] * (p.order - 1)
        out = np.empty(len(values), dtype=object)
        for i, (v, t) in enumerate(zip(values, tangents, strict=True)):
            out[i] = Taylor([v, t, *rest] if p.order else [v])
        variables[name] = out.reshape(shape)
    return run(program, Exact(variables, p.order, result.dtype, applied))


def _tangent(p: Pass, seeded: bool, k: int) -> Any:
    """The first-order coefficient of the element at position ``k`` in pass ``p``."""
    if not seeded:
        return ZERO
    if p.width:
        return Tangents(p.width, {k: ONE})
    return ONE if not p.seeds or k in p.seeds else ZERO


ONE = mpf(1)


def _key(k: int, name: str) -> str:
    return f"{'grad' if k == 1 else f'grad{k}'}.{name}"


def _coefficient(arr: np.ndarray, k: int) -> np.ndarray:
    """Coefficient k of every series (an object array of arr's shape)."""
    out = np.empty(arr.shape, dtype=object)
    for i, t in enumerate(arr.reshape(-1)):
        out.reshape(-1)[i] = t.c[k] if k < len(t.c) else mpf(0)
    return out


def _fields(
    result: Result,
    program: Program,
    leaves: list[Leaf],
    passes: list[Pass],
    outs: Mapping[Pass, np.ndarray],
    inputs: Mapping[str, np.ndarray],
) -> list[tuple[str, tuple[int, ...], list[Any]]]:
    """(path, shape, flat values) of every field of the result, from the passes' outputs."""
    value = outs[passes[0]]
    found = [("value", value.shape, list(_coefficient(value, 0).reshape(-1)))]
    for leaf in leaves:
        mine = [p for p in passes if p.leaf == leaf.name]
        if leaf.elementwise:
            y, shape = outs[mine[0]], inputs[leaf.name].shape
            for k in leaf.orders:
                scale = math.factorial(k)
                values = [c * scale for c in _coefficient(y, k).reshape(-1)]
                found.append((_key(k, leaf.name), shape, values))
            continue
        columns = _first_columns(mine, outs)  # (*value, n)
        if leaf.name == _logits_gradient(program):
            _with_posterior(columns, inputs, program)
        found += _first_order(result, program, leaf, columns, inputs)
        if 2 in leaf.orders:
            found.append(_hessian(result, program, leaf, mine, outs))
    return found


def _first_columns(mine: list[Pass], outs: Mapping[Pass, np.ndarray]) -> np.ndarray:
    """∂value/∂(seed k) for every k, (*value, n): from the one vector pass, or from the
    passes seeded with eₖ alone."""
    vector = [p for p in mine if p.width]
    if not vector:
        firsts = [outs[p] for p in mine if len(p.seeds) == 1]
        return np.stack([_coefficient(o, 1) for o in firsts], axis=-1)
    first = _coefficient(outs[vector[0]], 1)
    columns = np.empty((*first.shape, vector[0].width), dtype=object)
    flat = columns.reshape(-1, vector[0].width)
    for i, c in enumerate(first.reshape(-1)):
        flat[i] = [c.at(k) for k in range(c.n)] if isinstance(c, Tangents) else c
    return columns


def _first_order(
    result: Result,
    program: Program,
    leaf: Leaf,
    columns: np.ndarray,
    inputs: Mapping[str, np.ndarray],
) -> list[tuple[str, tuple[int, ...], list[Any]]]:
    """The gradient, Jacobian, gradient of the sum or vᵀJ from the order-1 columns
    ∂value/∂(seed k), shape (*value, n)."""
    name, shape = leaf.name, inputs[leaf.name].shape
    out = []
    if leaf.form in ("slice-jacobian", "slice-index"):
        at = program.dim % max(1, result.value.ndim)
        moved = np.moveaxis(columns, at, -2)  # (..., m, n) per slice
        if leaf.jacobian:
            out.append((f"jacobian.{name}", moved.shape, list(moved.reshape(-1))))
        if 1 in leaf.orders and result.index is not None:
            grad = np.moveaxis(moved[..., result.index, :], -1, at)
            out.append((f"grad.{name}", grad.shape, list(grad.reshape(-1))))
        return out
    flat = columns.reshape(-1, columns.shape[-1])  # (m, n)
    if leaf.jacobian:
        jac = flat.reshape(*result.value.shape, *shape)
        out.append((f"jacobian.{name}", jac.shape, list(jac.reshape(-1))))
    if 1 not in leaf.orders:
        return out
    if leaf.form == "vjp":
        v = np.asarray(result.cotangent, dtype=np.float64).reshape(-1).tolist()
        grads = [
            mp.fsum(mpf(v[i]) * flat[i, k] for i in range(len(v))) for k in range(flat.shape[1])
        ]
    elif leaf.form == "sum":
        grads = [mp.fsum(flat[:, k]) for k in range(flat.shape[1])]
    else:  # the gradient of a scalar
        grads = list(flat[0])
    out.append((f"grad.{name}", shape, grads))
    return out


def _hessian(
    result: Result, program: Program, leaf: Leaf, mine: list[Pass], outs: Mapping[Pass, np.ndarray]
) -> tuple[str, tuple[int, ...], list[Any]]:
    """Second derivatives from the c₂ of the passes seeded with eₖ and eₖ + eₗ: of the scalar
    value, or of output ``index`` in every slice."""
    c2 = {p.seeds: _coefficient(outs[p], 2) for p in mine}
    n = sum(1 for s in c2 if len(s) == 1)

    def pick(arr: np.ndarray) -> np.ndarray:
        if leaf.form == "slice-index":
            return np.moveaxis(arr, program.dim, -1)[..., result.index]
        return arr.reshape(())

    rows = []
    for k in range(n):
        row = []
        for j in range(n):
            if k == j:
                row.append(pick(c2[(k,)]) * 2)
            else:
                a, b = min(k, j), max(k, j)
                row.append(pick(c2[(a, b)]) - pick(c2[(k,)]) - pick(c2[(j,)]))
        rows.append(np.stack(row, axis=-1))
    hessian = np.stack(rows, axis=-2)  # (..., n, n)
    if leaf.form != "slice-index":
        hessian = hessian.reshape(*result.inputs[leaf.name].shape, *result.inputs[leaf.name].shape)
    return (_key(2, leaf.name), hessian.shape, list(hessian.reshape(-1)))


def _logits_gradient(program: Program) -> str:
    return "" if program.spec is None else program.spec.logits_gradient


def _with_posterior(
    columns: np.ndarray, inputs: Mapping[str, np.ndarray], program: Program
) -> None:
    """torch's ctc gradient is with respect to the logits behind log_softmax: add the
    y = exp(log_prob) term to each element's column (none where zero_infinity zeroed it)."""
    call = next(program.calls())
    params = {**program.spec.defaults(), **call.params}
    flat = columns.reshape(-1, columns.shape[-1])
    lp = inputs["log_probs"].reshape(-1)
    for k in range(flat.shape[1]):
        found = reference_losses.ctc_posterior(inputs, params, k, flat.shape[0])
        if found is not None:
            i, scale = found
            flat[i, k] = flat[i, k] + scale * mp.exp(mpf(float(lp[k])))


# ----------------------------------------------------------------------------------------------
# one elementwise function at many points (notes, the accuracy estimate, the benchmarks)


def point(
    spec: registry.FunctionSpec,
    params: Mapping[str, Any],
    x: float,
    order: int,
    dtype: str = "float64",
    bits: int | None = None,
) -> tuple[list[Any], list[bool]]:
    """f(x), f′(x), …, f⁽ᵒʳᵈᵉʳ⁾(x) of ``spec``'s function as intervals, and whether each
    settled; ``bits``: start at that working precision (uncached)."""
    points = Points(of_function(spec, {"x": ()}, params), dtype, [("x", order)] if order else [])
    return points({"x": float(x)}, bits)


def elementwise(
    spec: registry.FunctionSpec,
    params: Mapping[str, Any],
    x: np.ndarray,
    order: int,
    dtype: str = "float64",
    progress: Callable[[int], None] | None = None,
    got: list[np.ndarray] | None = None,
    limits: tuple[float, ...] = (),
    verdict: float | None = None,
) -> list[Truth]:
    """The truth of f, f′, …, f⁽ᵒʳᵈᵉʳ⁾ of the function ``spec`` at every element of ``x``
    (exact float64 values), its parameters as torch holds them in ``dtype``. Given torch's
    numbers there (``got``: the value, then each derivative), the fast tier decides first
    where its bounds settle their check (``limits``: the errors the caller flags beyond, as
    --check's), and the exact tier takes the rest; ``verdict``, given: where the bounds show
    torch less than that many ulps off, the point is decided too, its truth the bounds'
    middle (enough to say it is not flagged, in float64 too; not the digits of its error)."""
    if order > MAX_ORDER:
        raise NoReference(f"the reference stops at order {MAX_ORDER}")
    points = Points(of_function(spec, {"x": ()}, params), dtype, [("x", order)] if order else [])
    flat = np.asarray(x, dtype=np.float64).reshape(-1)
    fast_first = got is not None and flat.size >= FAST_FROM
    quick = _fast_at(points, "x", flat, got, dtype, limits, verdict) if fast_first else None
    rest = np.arange(flat.size) if quick is None else np.flatnonzero(~quick[1])
    if quick is not None and progress is not None:
        progress(flat.size - rest.size)
    columns, oks = _columns(points, ({"x": v} for v in flat[rest].tolist()), progress)
    shape = np.shape(x)
    if quick is None:
        return [truth_of(columns[k], oks[k], shape, False) for k in range(order + 1)]
    return [
        _merged(quick[0][k], quick[1], rest, truth_of(columns[k], oks[k], rest.shape, False), shape)
        for k in range(order + 1)
    ]
