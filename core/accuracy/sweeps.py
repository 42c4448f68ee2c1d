"""``actgrad accuracy``: torch's error over a range, against the arbitrary-precision reference.

For each function, dtype and derivative order, torch evaluates the whole grid once (the very
request ``actgrad NAME --x GRID --order N --dtype D`` makes) and the reference evaluates each
distinct point of the grid as rounded to that dtype (cached, so a point shared by two dtypes or
two runs is computed once). Reported: max and median error in ulps of the dtype, the worst
point, NaN/inf/zero/sign counts, and the regions of x where the error exceeds a threshold.

Functions along a dim are swept over the slice [0, x] ([1, x] for glu, whose output is then
σ(x)); the elementwise losses over pred = x with a fixed target, reduction none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BadParameter
from ..exact import truth
from ..exact.reference import NoReference, Truth
from ..functions import registry
from ..parse.options import default_ulps
from ..request import build_request
from .ulps import errors, in_dtype, lost_with

DTYPES = ("float64", "float32", "float16", "bfloat16")
LINEAR_GRID = "-40:40:2001"
# the standard grid: the linear one, and ±10^k for k from −12 to 3.5 in steps of 1/4 (the tails
# and the small inputs where formulas cancel: σ″(1e−8), mish″(710), x − tanh x near 0)
STANDARD = "standard"
DEFAULT_GRID = STANDARD
MAX_REFERENCE_POINTS = 1_000_000  # the reference-evaluation budget of one sweep (a few minutes)
# the elementwise losses a sweep covers: pred = x against this target (and these inputs)


@dataclass
class Row:
    """One function × dtype × quantity over the grid."""

    function: str
    params: dict[str, Any]
    dtype: str
    quantity: str  # "value", "grad", "grad2", … or "jacobian"
    limit: float  # the regions are where the error exceeds this many ulps
    points: int
    max_ulp: float | None
    median_ulp: float | None
    worst: dict[str, Any] | None
    counts: dict[str, int]
    regions: list[dict[str, Any]]  # where the error exceeds the threshold
    lost: list[dict[str, Any]]  # where every digit is lost (relative error ≥ 1, or wrong)
    x: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    ulps: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    spec: Any = field(default=None, repr=False, compare=False)  # the function's entry

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "params": self.params,
            "dtype": self.dtype,
            "quantity": self.quantity,
            "ulps": self.limit,
            "points": self.points,
            "max_ulp": self.max_ulp,
            "median_ulp": self.median_ulp,
            "worst": self.worst,
            "counts": self.counts,
            "regions": self.regions,
            "all_digits_lost": self.lost,
        }


def sweepable(spec: registry.FunctionSpec) -> bool:
    if spec.stochastic:
        return False
    return not spec.reduces or bool(spec.sweep)


def fixed_inputs(spec: registry.FunctionSpec) -> dict[str, str]:
    """The inputs a sweep of a loss holds fixed (its entry's ``sweep``: the target, …)."""
    return {k: v for k, v in spec.sweep.items() if k not in spec.param_names}


def own_params(spec: registry.FunctionSpec, params: dict[str, Any] | None) -> dict[str, Any]:
    """A sweep's parameters: those torch has no default for (the entry's ``sweep``), then
    the ones given that ``spec`` takes."""
    return {
        **{k: v for k, v in spec.sweep.items() if k in spec.param_names},
        **{k: v for k, v in (params or {}).items() if k in spec.param_names},
    }


def functions(names: list[str], everything: bool) -> list[registry.FunctionSpec]:
    """The specs to sweep: the names given, or every function with a sweep."""
    if everything:
        return [s for s in registry.specs() if sweepable(s)]
    if not names:
        raise BadParameter("name a function, or --all", "e.g. actgrad accuracy sigmoid")
    out: list[registry.FunctionSpec] = []
    for name in names:
        spec = registry.get(name)
        if spec in out:
            continue
        if not sweepable(spec):
            why = "it draws random numbers" if spec.stochastic else "it has no one-input sweep"
            raise BadParameter(
                f"accuracy cannot sweep {spec.command}: {why}",
                "use --check on a request of it instead",
            )
        out.append(spec)
    return out


def orders(spec: registry.FunctionSpec, order: int) -> int:
    """The derivative order a sweep of ``spec`` goes to (its own maximum at most)."""
    if not spec.elementwise:
        return min(order, 1)
    return min(order, spec.max_order)


def _tails() -> np.ndarray:
    tails = 10.0 ** np.arange(-12, 3.5 + 1e-9, 0.25)
    return np.concatenate([-tails[::-1], tails])


def _pieces(grid: str) -> list[str]:
    """``grid`` as --x takes it: the standard grid is its range and its tails."""
    if grid != STANDARD:
        return [grid]
    return [LINEAR_GRID, "[" + ",".join(repr(float(v)) for v in _tails()) + "]"]


# the bits of each dtype: (signed integer type of its width, how its bit patterns read)
_BITS: dict[str, tuple[Any, Callable[[np.ndarray], np.ndarray]]] = {
    "float16": (np.int16, lambda p: p.view(np.float16).astype(np.float64)),
    "bfloat16": (
        np.int16,
        lambda p: (p.view(np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64),
    ),
    "float32": (np.int32, lambda p: p.view(np.float32).astype(np.float64)),
    "float64": (np.int64, lambda p: p.view(np.float64)),
}
LARGEST = {
    "float16": 65504.0,
    "bfloat16": 3.3895313892515355e38,
    "float32": 3.4028234663852886e38,
    "float64": 1.7976931348623157e308,
}


def _pattern(v: float, dtype: str) -> int:
    """The bit pattern of ``v`` (a number of ``dtype``) as a signed integer."""
    if dtype == "float16":
        return int(np.array([v], np.float16).view(np.int16)[0])
    if dtype == "bfloat16":
        bits = int(np.array([v], np.float32).view(np.uint32)[0]) >> 16
        return int(np.array([bits], np.uint16).view(np.int16)[0])
    kind = np.float32 if dtype == "float32" else np.float64
    return int(np.array([v], kind).view(_BITS[dtype][0])[0])


def _key(pattern: int, width: int) -> int:
    """Bit patterns in the order of their numbers: −max … −0, +0 … +max are consecutive."""
    return pattern ^ ((1 << (width - 1)) - 1) if pattern < 0 else pattern


@dataclass(frozen=True)
class Exhaustive:
    """Every finite input of each dtype, or every one between ``low`` and ``high``."""

    low: float | None = None
    high: float | None = None

    def _keys(self, dtype: str) -> tuple[int, int]:
        width = np.dtype(_BITS[dtype][0]).itemsize * 8
        top = LARGEST[dtype]
        low = -top if self.low is None else max(self.low, -top)
        high = top if self.high is None else min(self.high, top)
        first = float(in_dtype(np.array([low]), dtype)[0])
        last = float(in_dtype(np.array([high]), dtype)[0])
        k_first, k_last = _key(_pattern(first, dtype), width), _key(_pattern(last, dtype), width)
        k_first += first < low  # rounded below the bound: the next number up
        k_last -= last > high
        return k_first, k_last

    def count(self, dtype: str) -> int:
        """How many inputs of ``dtype`` the sweep has."""
        first, last = self._keys(dtype)
        return max(0, last - first + 1)

    def keys(self, dtype: str) -> tuple[int, int]:
        """The first and last input's key: consecutive integers in the order of the inputs."""
        return self._keys(dtype)

    def values(self, dtype: str) -> np.ndarray:
        """The inputs, ascending, as float64 (−0 before +0)."""
        return values_between(dtype, *self._keys(dtype))

    def sample(self, dtype: str, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` of the inputs drawn at random (by bit pattern, as the sweep spreads them)."""
        first, last = self._keys(dtype)
        if last < first:
            return np.zeros(0)
        return values_of(rng.integers(first, last + 1, size=n, dtype=np.int64), dtype)

    def words(self, dtypes: list[str]) -> str:
        counts = ", ".join(f"{self.count(d):,} in {d}" for d in dtypes)
        if self.low is None and self.high is None:
            return f"every finite input ({counts})"
        return f"every input from {self.low:g} to {self.high:g} ({counts})"


def values_between(dtype: str, first: int, last: int) -> np.ndarray:
    """The numbers of ``dtype`` with keys ``first`` … ``last``, ascending, as float64."""
    return values_of(np.arange(first, last + 1, dtype=np.int64), dtype)


def values_of(keys: np.ndarray, dtype: str) -> np.ndarray:
    """The numbers of ``dtype`` with these keys, as float64."""
    kind, read = _BITS[dtype]
    mask = (1 << (np.dtype(kind).itemsize * 8 - 1)) - 1
    return read(np.where(keys < 0, keys ^ mask, keys).astype(kind))


def parse_bounds(text: str) -> tuple[float, float]:
    """--x LOW:HIGH (or LOW,HIGH) of an exhaustive sweep."""
    parts = [p.strip() for p in text.replace(",", ":").split(":")]
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise BadParameter(
            f"--x {text!r} with --exhaustive: two bounds are needed",
            "e.g. --x -1:1 (every input of the dtype from −1 to 1)",
        ) from None
    if math.isnan(low) or math.isnan(high) or low > high:
        raise BadParameter(f"--x {text!r}: bounds must be LOW:HIGH with LOW ≤ HIGH", "e.g. -1:1")
    return low, high


def grid_values(grid: str, max_elements: int | None = None, dtype: str = "float64") -> np.ndarray:
    """The points of ``grid`` ("standard", or any --x form) in ``dtype``, as float64: a range
    is torch.linspace in that dtype, bit for bit."""
    import torch

    from ..evaluator.engine import materialize
    from ..parse.inputs import parse_values
    from ..parse.options import DEFAULT_MAX_ELEMENTS

    cap = DEFAULT_MAX_ELEMENTS if max_elements is None else max_elements
    values = parse_values(_pieces(grid), "--x", max_elements=cap)
    exact = materialize(values, getattr(torch, dtype), torch.device("cpu"), "--x")
    return exact.to(torch.float64).reshape(-1).numpy()


def grid_words(grid: Grid, dtypes: list[str] | None = None) -> str:
    """The grid in words, for captions and reports."""
    if isinstance(grid, Exhaustive):
        return grid.words(dtypes or list(DTYPES))
    if grid == STANDARD:
        return f"the standard grid (x = {LINEAR_GRID} and ±10^k for k = −12, −11.75, …, 3.5)"
    return f"x = {grid}"


Grid = str | Exhaustive  # any --x form (or "standard"), or every input of each dtype


def _inputs(spec: registry.FunctionSpec, grid: Grid, dtype: str) -> dict[str, list[str]]:
    """The sweep's inputs as --x and the other options take them."""
    pieces = (
        [",".join(map(repr, grid.values(dtype).tolist()))]
        if isinstance(grid, Exhaustive)
        else _pieces(grid)
    )
    if spec.reduces:
        return {"pred": pieces, **{k: [v] for k, v in fixed_inputs(spec).items()}}
    if spec.pointwise:
        return {"x": pieces}
    return {"x": [_pairs(grid, spec.sweep_slice, dtype)]}  # the slices [first, x]


def reference_points(specs: list[registry.FunctionSpec], xs: np.ndarray, dtypes: list[str]) -> int:
    """How many distinct points the reference evaluates (the budget's unit)."""
    distinct = sum(np.unique(in_dtype(xs, d)).size for d in dtypes)
    return distinct * len(specs)


GAP = 2  # runs of points this close are one region


def _runs(x: np.ndarray, mask: np.ndarray, err: np.ndarray) -> list[dict[str, Any]]:
    """Runs of consecutive grid points (x sorted) where ``mask`` holds, runs fewer than GAP
    points apart merged: from, to, points, max ulp, and whether they reach the grid's ends."""
    out: list[dict[str, Any]] = []
    where = np.flatnonzero(mask)
    if not where.size:
        return out
    breaks = np.flatnonzero(np.diff(where) > GAP)
    for first, last in zip(np.r_[0, breaks + 1], np.r_[breaks, where.size - 1], strict=True):
        i, j = int(where[first]), int(where[last])
        run = err[i : j + 1][mask[i : j + 1]]
        out.append(
            {
                "from": float(x[i]),
                "to": float(x[j]),
                "points": int(last - first + 1),
                "max_ulp": _finite(float(run.max())),
                "low_end": i == 0,
                "high_end": j == x.size - 1,
            }
        )
    return out


def short(v: float | None, digits: int = 3) -> str:
    """A number in a few digits (None, a non-finite error, as inf)."""
    if v is None:
        return "inf"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def span(run: dict[str, Any]) -> str:
    """A run of grid points in words: x ≥ a, x ≤ b, x = a, a ≤ x ≤ b, or everywhere."""
    a, b = short(run["from"], 4), short(run["to"], 4)
    if run["low_end"] and run["high_end"]:
        return "everywhere"
    if run["points"] == 1 or run["from"] == run["to"]:
        return f"x = {a}"
    if run["high_end"]:
        return f"x ≥ {a}"
    if run["low_end"]:
        return f"x ≤ {b}"
    return f"{a} ≤ x ≤ {b}"


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def point_errors(
    got: np.ndarray, true: Truth, dtype: str, limit: float
) -> tuple[np.ndarray, dict[str, int], np.ndarray]:
    """(torch's error in ulps at each point, the count of each flag, where every digit is
    lost), flat."""
    got = got.astype(np.float64).reshape(-1)
    hi, lo = true.hi.reshape(-1), true.lo.reshape(-1)
    td = in_dtype(hi, dtype)
    err, td = errors(got, hi, lo, td, dtype)
    finite = bool(np.isfinite(got).all())
    zero = td == 0
    with np.errstate(invalid="ignore"):
        wrong_sign = np.sign(got) * np.sign(td) < 0
    zeroed = got == 0
    if finite:  # (no NaN or inf to count)
        counts = {
            "not_zero": int(np.count_nonzero(zero & ~zeroed)),
            "nan": 0,
            "inf": 0,
            "zero": int(np.count_nonzero(zeroed & ~zero & np.isfinite(td))),
        }
    else:
        finite_truth = np.isfinite(td)
        counts = {
            "not_zero": int((zero & ~zeroed & np.isfinite(got)).sum()),
            "nan": int((np.isnan(got) & ~np.isnan(td)).sum()),
            "inf": int((np.isinf(got) & np.isfinite(hi)).sum()),
            "zero": int((zeroed & ~zero & finite_truth).sum()),
        }
    counts["sign"] = int(np.count_nonzero(wrong_sign))
    counts["over"] = int(np.count_nonzero(err > limit))
    return err, counts, lost_with(got, hi, td, wrong_sign, finite)


def _row(
    spec: registry.FunctionSpec,
    params: dict[str, Any],
    dtype: str,
    quantity: str,
    x: np.ndarray,
    got: np.ndarray,
    true: Truth,
    limit: float,
) -> Row:
    err, counts, lost_here = point_errors(got, true, dtype, limit)
    got, hi = got.astype(np.float64).reshape(-1), true.hi.reshape(-1)
    per = err.size // max(x.size, 1)  # a slice's Jacobian: several numbers per point, the worst
    if per > 1:
        rows = np.arange(x.size)
        each = np.where(np.isnan(err), -np.inf, err).reshape(x.size, per)
        pick = np.argmax(each, axis=1)
        err = np.where(each[rows, pick] == -np.inf, np.nan, each[rows, pick])
        lost_here = lost_here.reshape(x.size, per).any(axis=1)
        got, hi = got.reshape(x.size, per)[rows, pick], hi.reshape(x.size, per)[rows, pick]
    known = ~np.isnan(err)
    if not known.any():
        return Row(
            spec.name,
            params,
            dtype,
            quantity,
            limit,
            int(err.size),
            None,
            None,
            None,
            counts,
            [],
            [],
            spec=spec,
        )
    worst = int(np.flatnonzero(known)[np.argmax(err[known])])
    marked = np.where(np.isnan(err) & lost_here, np.inf, err)  # not 0 where the truth is: lost
    kept = ~np.isnan(marked)
    order = np.argsort(x[kept], kind="stable")
    xs, errs, losts = x[kept][order], marked[kept][order], lost_here[kept][order]
    at = {
        "x": float(x[worst]),
        "got": _finite(float(got[worst])),
        "true": _finite(float(hi[worst])),
    }
    return Row(
        spec.name,
        params,
        dtype,
        quantity,
        limit,
        int(err.size),
        _finite(float(err[worst])),
        float(np.median(err[known])),
        at,
        counts,
        _runs(xs, (errs > limit) | losts, errs),
        _runs(xs, losts, errs),
        x,
        err,
        spec=spec,
    )


def sweep(
    spec: registry.FunctionSpec,
    grid: Grid,
    dtypes: list[str],
    order: int,
    params: dict[str, Any] | None = None,
    limit: float | None = None,
    max_elements: int | None = None,
    progress: Callable[[int], None] | None = None,
    device: str = "cpu",
) -> Iterator[Row]:
    """One Row per dtype and quantity of ``spec`` over ``grid`` (any --x form), torch's
    numbers computed on ``device``; ``limit``: the regions more ulps off than this (None: the
    dtype's --check default)."""
    from ..evaluator.engine import torch_result  # torch

    own = own_params(spec, params)
    if spec.reduces:
        own["reduction"] = "none"
    n = orders(spec, order)
    dim_function = spec.along_dim
    for dtype in dtypes:
        if device == "cpu" and dtype in spec.no_cpu_kernel({**spec.defaults(), **own}):
            continue
        inputs = _inputs(spec, grid, dtype)
        req = build_request(
            spec,
            inputs,
            own,
            order=n,
            dtype=dtype,
            device=device,
            max_elements=max_elements,
        )
        result = torch_result(req)
        over = default_ulps(dtype) if limit is None else limit
        try:
            truths, _ = truth.truths(
                result, req.program, progress=progress, limit=None, seconds=None, limits=(over,)
            )
        except NoReference:
            continue
        x = result.inputs["x" if "x" in result.inputs else "pred"].astype(np.float64)
        x = x[:, 1] if dim_function else x.reshape(-1)  # a grid is its points (--x 1, a matrix)
        for path, got in result.arrays():
            if path in truths and not path.startswith("inputs."):
                quantity = path.split(".")[0]
                flat = np.reshape(got, -1), truths[path].flat()
                yield _row(spec, dict(result.params), dtype, quantity, x, *flat, over)


def device_differences(
    spec: registry.FunctionSpec,
    grid: Grid,
    dtypes: list[str],
    order: int,
    device: str,
    params: dict[str, Any] | None = None,
) -> dict[tuple[str, str], int]:
    """{(dtype, quantity): inputs where torch on ``device`` gives other bits than torch on
    the CPU} over ``grid`` (NaN equals NaN; -0.0 is not 0.0): where their kernels differ,
    whichever is nearer the truth."""
    from ..evaluator.engine import torch_result  # torch

    own = own_params(spec, params)
    if spec.reduces:
        own["reduction"] = "none"
    n = orders(spec, order)
    out: dict[tuple[str, str], int] = {}
    for dtype in dtypes:
        if dtype in spec.no_cpu_kernel({**spec.defaults(), **own}):
            continue
        inputs = _inputs(spec, grid, dtype)
        sides = [
            dict(
                torch_result(
                    build_request(
                        spec, inputs, own, order=n, dtype=dtype, device=d, max_elements=None
                    )
                ).arrays()
            )
            for d in ("cpu", device)
        ]
        for path, here in sides[0].items():
            there = sides[1].get(path)
            if path.startswith("inputs.") or there is None:
                continue
            a, b = np.reshape(here, -1), np.reshape(there, -1)
            same = (a == b) & (np.signbit(a) == np.signbit(b)) | (np.isnan(a) & np.isnan(b))
            quantity = path.split(".")[0]
            out[(dtype, quantity)] = out.get((dtype, quantity), 0) + int((~same).sum())
    return out


def _pairs(grid: Grid, first: str, dtype: str) -> str:
    """The rows [first, x] for every x of ``grid`` in ``dtype`` as a JSON array."""
    xs = grid.values(dtype) if isinstance(grid, Exhaustive) else grid_values(grid, dtype=dtype)
    return "[" + ",".join(f"[{first},{_json_number(float(v))}]" for v in xs) + "]"


def _json_number(v: float) -> str:
    return repr(v) if math.isfinite(v) else f'"{v}"'  # "inf", "-inf", "nan": --x reads them


def torch_version() -> str:
    import torch

    return torch.__version__
