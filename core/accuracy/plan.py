"""A sweep's plan: ``actgrad accuracy``'s options validated, its grid chosen and its cost
measured, then run: one place for the command line and the library (:func:`actgrad.accuracy`).
Nothing here writes: refusals are errors, and what a run found is rows and a JSON object."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BadParameter
from ..parse.options import dtype_names, parse_cap, parse_int
from . import sweeps

CALIBRATION_POINTS = 1024  # of each dtype
CALIBRATION_SECONDS = 1.0  # the most an estimate spends measuring
FEW_POINTS = 8


def parse_dtypes(text: str | None) -> list[str]:
    """The dtypes of --dtypes (every one the sweep knows without it), each once."""
    return list(sweeps.DTYPES) if text is None else dtype_names(text)


def estimate(
    specs: list[Any],
    params: dict[str, Any],
    order: int,
    limit: float | None,
    samples: dict[str, np.ndarray],
    counts: dict[str, int],
    device: str = "cpu",
) -> float:
    """The sweep's seconds, measured on its own points drawn at random (``samples``, per
    dtype) through the sweep itself (torch, the fast tier, the arbitrary-precision tier for
    what the fast one leaves): a call's fixed cost from a few points, a point's from the
    rest, scaled to ``counts`` (per dtype) for each function, for at most
    CALIBRATION_SECONDS (the cache then keeps what was computed)."""

    def timed(spec: Any, dtype: str, values: np.ndarray) -> float:
        start = time.perf_counter()
        grid = ",".join(map(repr, values.tolist()))
        for _ in sweeps.sweep(spec, grid, [dtype], order, params, limit, device=device):
            pass
        return time.perf_counter() - start

    measured: list[float] = []
    began = time.perf_counter()
    each = max(FEW_POINTS * 8, CALIBRATION_POINTS // len(specs))
    samples = {d: v[:each] for d, v in samples.items()}
    # the functions in a random order: those measured stand for the rest
    for at in np.random.default_rng(3).permutation(len(specs)):
        spec = specs[at]
        if time.perf_counter() - began > CALIBRATION_SECONDS * min(len(specs), 4) and measured:
            break
        total = 0.0
        for dtype, sample in samples.items():
            if not sample.size:
                continue
            few = sample[:FEW_POINTS]
            try:
                timed(spec, dtype, few)  # warm: torch's first kernels, the program's build
                fixed = timed(spec, dtype, few)
                rest = timed(spec, dtype, sample) - fixed if sample.size > few.size else 0.0
            except Exception:  # only an estimate: a refusal shows up in the sweep itself
                continue
            per_point = max(rest, 0.0) / max(sample.size - few.size, 1)
            total += fixed + per_point * counts[dtype]
        measured.append(total)
    return sum(measured) / max(len(measured), 1) * len(specs)


def sample(
    grid: sweeps.Grid, dtypes: list[str], xs: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """CALIBRATION_POINTS of each dtype's points of the sweep, at random."""
    rng = np.random.default_rng(29)
    if isinstance(grid, sweeps.Exhaustive):
        return {d: grid.sample(d, min(CALIBRATION_POINTS, grid.count(d)), rng) for d in dtypes}
    xs = np.zeros(0) if xs is None else xs
    drawn = rng.choice(xs, size=min(CALIBRATION_POINTS, xs.size), replace=False)
    return dict.fromkeys(dtypes, drawn)


def grid_of(
    options: dict[str, Any],
    specs: list[Any],
    dtypes: list[str],
    cap: int,
    budget: int,
    plotting: bool = False,
) -> tuple[sweeps.Grid, int, int, dict[str, np.ndarray], dict[str, int]]:
    """(the grid, its points in float64, the reference evaluations it needs, a sample and
    the count of each dtype's points) of the options:
    --x or the standard grid, or with --exhaustive every input of each dtype (within --x
    bounds), refused where that is more than the element cap or the reference budget."""
    if not options.get("exhaustive"):  # curves (plotting): the linear part by default
        grid = options.get("x") or (sweeps.LINEAR_GRID if plotting else sweeps.DEFAULT_GRID)
        xs = sweeps.grid_values(grid, cap)
        points = sweeps.reference_points(specs, xs, dtypes)
        return grid, int(xs.size), points, sample(grid, dtypes, xs), dict.fromkeys(dtypes, xs.size)
    bounded = options.get("x") is not None
    grid = (
        sweeps.Exhaustive(*sweeps.parse_bounds(options.get("x")))
        if bounded
        else sweeps.Exhaustive()
    )
    counts = {d: grid.count(d) for d in dtypes}
    for dtype, count in counts.items():
        if dtype in ("float32", "float64") and not bounded:
            params = options["function_params"]
            drawn = sample(grid, [dtype])
            took = estimate(specs, params, 1, None, drawn, {dtype: count}, options["device"])
            raise BadParameter(
                f"--exhaustive over {dtype} is {count:,} inputs: about "
                f"{duration(took)} of the reference here",
                f"give --x LOW:HIGH (every {dtype} between two numbers, up to the budget of "
                f"{budget:,}), or sweep --dtypes float16,bfloat16",
            )
    points = sum(counts.values()) * len(specs)
    if points > budget:
        each = ", ".join(f"{c:,} in {d}" for d, c in counts.items())
        raise BadParameter(
            f"the exhaustive sweep needs {points:,} reference evaluations ({each}), over the "
            f"budget of {budget:,}",
            "narrow --x, sweep fewer dtypes or functions, or raise --max-points",
        )
    for dtype, count in counts.items():
        if count > cap:
            raise BadParameter(
                f"every {dtype} input of the sweep is {count:,} numbers, over the element cap "
                f"of {cap:,}",
                "narrow --x, or raise --max-elements",
            )
    if points == 0:
        raise BadParameter(
            f"no {' or '.join(dtypes)} number lies in --x {options['x']}", "widen it"
        )
    return grid, max(counts.values()), points, sample(grid, dtypes), counts


def duration(seconds: float) -> str:
    """A long estimate in the unit that reads best."""
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:,.0f} {unit}"
    return f"{seconds:.0f} s"


def grid_name(grid: sweeps.Grid) -> str:
    """The grid as JSON names it: its --x text, or exhaustive[:LOW:HIGH]."""
    if not isinstance(grid, sweeps.Exhaustive):
        return grid
    if grid.low is None:
        return "exhaustive"
    return f"exhaustive:{grid.low!r}:{grid.high!r}"


@dataclass
class Plan:
    """A sweep's validated options and its grid (not sharded: see :func:`sharded`)."""

    specs: list[Any]
    dtypes: list[str]
    order: int
    limit: float | None
    params: dict[str, Any]
    device: str
    cap: int
    budget: int
    grid: sweeps.Grid
    size_of_grid: int
    points: int
    sample: dict[str, np.ndarray]
    counts: dict[str, int]
    rows: list[sweeps.Row] = field(default_factory=list)
    seconds: float = 0.0

    def estimate(self) -> float:
        return estimate(
            self.specs, self.params, self.order, self.limit, self.sample, self.counts, self.device
        )

    def run(self, progress: Any = None) -> list[sweeps.Row]:
        """Every row of the sweep (``progress(spec)``, given: called for each function and
        passed on as the sweep's progress callback it returns)."""
        started = time.perf_counter()
        rows: list[sweeps.Row] = []
        for spec in self.specs:
            step = progress(spec) if progress else None
            rows.extend(
                sweeps.sweep(
                    spec,
                    self.grid,
                    self.dtypes,
                    self.order,
                    self.params,
                    self.limit,
                    self.cap,
                    progress=step,
                    device=self.device,
                )
            )
        self.rows = rows
        self.seconds = time.perf_counter() - started
        return rows

    def to_dict(self) -> dict[str, Any]:
        return result_dict(
            self.rows,
            self.grid,
            self.dtypes,
            self.order,
            self.limit,
            self.seconds,
            self.device,
            self.size_of_grid,
        )


def settings(items: list[str], options: dict[str, Any]) -> dict[str, Any]:
    """The options every sweep reads, validated: functions, device, dtypes, order, ulps, the
    reference budget, the element cap and the function parameters."""
    from ..evaluator.engine import resolved  # torch

    exhaustive = bool(options.get("exhaustive"))
    order = options.get("order")
    dtypes = options.get("dtypes") or ("float16,bfloat16" if exhaustive else None)
    params = options.get("function_params") or {}
    return {
        "specs": sweeps.functions(items, bool(options.get("all"))),
        "device": resolved(options.get("device"), " (from --device)"),  # refused here when absent
        "dtypes": parse_dtypes(dtypes),
        "order": parse_int(order, "--order", 0, 4) if order is not None else 2,
        "limit": parse_int(options["ulps"], "--ulps", 0, 1 << 62) if options.get("ulps") else None,
        "budget": (
            parse_int(options["max_points"], "--max-points", 1, 1 << 40)
            if options.get("max_points")
            else sweeps.MAX_REFERENCE_POINTS
        ),
        "cap": parse_cap(options.get("max_elements")),
        "params": {k: v for k, v in params.items() if v is not None},
    }


def plan(given: dict[str, Any], options: dict[str, Any], plotting: bool = False) -> Plan:
    """The plan of a sweep that is not sharded (``given``: :func:`settings`)."""
    grid, size, points, drawn, counts = grid_of(
        {**options, "function_params": given["params"], "device": given["device"]},
        given["specs"],
        given["dtypes"],
        given["cap"],
        given["budget"],
        plotting,
    )
    if points > given["budget"]:
        raise BadParameter(
            f"the sweep needs {points:,} reference evaluations, over the budget of "
            f"{given['budget']:,}",
            "use fewer points (--x), dtypes (--dtypes) or functions, or raise --max-points",
        )
    return Plan(**given, grid=grid, size_of_grid=size, points=points, sample=drawn, counts=counts)


def sharded(specs: list[Any], dtypes: list[str], options: dict[str, Any], budget: int) -> bool:
    """Whether an exhaustive sweep runs in shards: elementwise activations, asked for
    (--jobs, --scheduler, --checkpoint) or more inputs than --max-points."""
    from . import exhaustive

    if not options.get("exhaustive") or not all(exhaustive.supported(s) for s in specs):
        return False
    if options.get("jobs") or options.get("scheduler") or options.get("checkpoint"):
        return True
    if options.get("x") is None:
        return "float32" in dtypes
    grid = sweeps.Exhaustive(*sweeps.parse_bounds(options.get("x")))
    return sum(grid.count(d) for d in dtypes) * len(specs) > budget


def result_dict(
    rows: list[sweeps.Row],
    grid: sweeps.Grid,
    dtypes: list[str],
    order: int,
    limit: float | None,
    took: float,
    device: str,
    size_of_grid: int | None = None,
) -> dict[str, Any]:
    """The sweep's JSON object (DESIGN.md's accuracy result)."""
    from .. import machine
    from ..schema import JSON_FORMAT

    if size_of_grid is None:
        size_of_grid = max((grid.count(d) for d in dtypes), default=0)
    data = {
        "format": JSON_FORMAT,
        "torch": sweeps.torch_version(),
        "device": device,
        "machine": machine.identity(device),
        "grid": grid_name(grid),
        "points": size_of_grid,
        "dtypes": dtypes,
        "order": order,
        "ulps": limit,
        "rows": [r.to_dict() for r in rows],
        "seconds": round(took, 3),
    }
    if isinstance(grid, sweeps.Exhaustive):
        data["inputs"] = {d: grid.count(d) for d in dtypes}
    return data
