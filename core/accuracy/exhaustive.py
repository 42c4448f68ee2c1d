"""Every input of a dtype in shards: bounded memory, every core, a checkpoint, a cluster.

A sweep of every float32 (4,278,190,080 inputs) is cut into shards of consecutive inputs
(:class:`Task`, :data:`SHARD` each). A shard is evaluated by torch and judged by the truth
(the fast tier first) on its own, and leaves a :class:`Tally` per quantity: the number of
points, each flag's count, the worst point, a histogram of the errors (the median to 1/1024
of an ulp below 4 ulps), and the regions past the limit as intervals (at most
:data:`MAX_REGIONS`, the nearest merged) — never an array per point. Tallies merge in the
inputs' order, so a sweep's result is the same bit for bit whatever ran its shards and in
what order: processes on this machine (:func:`run_local`), or the workers of a Dask cluster
(:func:`run_cluster`). Each finished shard is appended to a checkpoint (JSON lines), and a
sweep started again with the same identity skips what the checkpoint holds.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from .. import machine
from ..errors import BadParameter
from ..exact import truth
from ..exact.reference import Truth
from ..functions import registry
from ..parse.inputs import Values
from ..parse.options import default_ulps
from ..request import build_request
from . import sweeps

SHARD = 1 << 20  # inputs per shard (every float32: 4,080 shards; a point costs least here)
MAX_REGIONS = 64  # regions kept per quantity (beyond: the two nearest merge)
FINE = 1024  # histogram bins per ulp below 4 ulps
OCTAVE = 512  # … and per doubling above (0.14%)
_TOP = 4 * FINE + 200 * OCTAVE  # the last bin (inf, and anything past 2^202 ulps)


@dataclass(frozen=True)
class Task:
    """One shard: the inputs of ``dtype`` with keys ``first`` … ``last`` (consecutive in the
    inputs' order), of ``spec``'s function at derivative ``order`` (the entry crosses
    processes by its name)."""

    spec: registry.FunctionSpec
    params: tuple[tuple[str, Any], ...]
    dtype: str
    order: int
    limit: float
    first: int
    last: int
    index: int  # its place in the sweep (the order tallies merge in)
    device: str = "cpu"  # where torch computes

    @property
    def function(self) -> str:
        return self.spec.name

    @property
    def points(self) -> int:
        return self.last - self.first + 1


def supported(spec: registry.FunctionSpec) -> bool:
    """Whether ``spec`` sweeps in shards (an elementwise activation)."""
    return not spec.reduces and spec.pointwise and not spec.stochastic


def tasks(
    specs: Iterable[registry.FunctionSpec],
    grid: sweeps.Exhaustive,
    dtypes: list[str],
    order: int,
    params: dict[str, Any],
    limit: float | None,
    shard: int = SHARD,
    device: str = "cpu",
) -> list[Task]:
    """The shards of a sweep, in order, torch's numbers computed on ``device``."""
    out: list[Task] = []
    for spec in specs:
        own = _own(spec, params)
        n = sweeps.orders(spec, order)
        for dtype in dtypes:
            if device == "cpu" and dtype in spec.no_cpu_kernel({**spec.defaults(), **own}):
                continue
            first, last = grid.keys(dtype)
            over = float(default_ulps(dtype) if limit is None else limit)
            for start in range(first, last + 1, shard):
                end = min(start + shard - 1, last)
                key = tuple(sorted(own.items()))
                out.append(Task(spec, key, dtype, n, over, start, end, len(out), device))
    return out


def _own(spec: registry.FunctionSpec, params: dict[str, Any]) -> dict[str, Any]:
    return sweeps.own_params(spec, params)


# ----------------------------------------------------------------------------------------------
# one shard


@dataclass
class Tally:
    """What a sweep keeps of one quantity over some consecutive inputs."""

    points: int = 0
    unjudged: int = 0  # points without a settled true value
    counts: dict[str, int] = field(default_factory=dict)
    max_ulp: float | None = None
    worst: dict[str, Any] | None = None
    hist: dict[int, int] = field(default_factory=dict)  # bin -> points
    regions: list[list[Any]] = field(default_factory=list)  # [first key, last key, x, x, n, max]
    lost: list[list[Any]] = field(default_factory=list)
    fast: int = 0  # points the fast tier decided
    first: int = 0  # the keys it covers
    last: int = -1

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["hist"] = [[k, v] for k, v in sorted(self.hist.items())]
        return out

    @classmethod
    def of(cls, data: dict[str, Any]) -> Tally:
        data = dict(data)
        data["hist"] = {int(k): int(v) for k, v in data["hist"]}
        return cls(**data)


def run_task(task: Task) -> dict[str, dict[str, Any]]:
    """Evaluate one shard: {quantity: its tally as a dict} (JSON and pickle alike)."""
    keys = np.arange(task.first, task.last + 1, dtype=np.int64)
    return {q: t.to_dict() for q, t in _measured(task, keys).items()}


def _measured(task: Task, keys: np.ndarray) -> dict[str, Tally]:
    """The inputs with ``keys`` (ascending) of ``task``'s function and dtype, evaluated by
    torch and judged by the truth: a tally per quantity."""
    return _judged(task, keys)[0]


def _judged(task: Task, keys: np.ndarray) -> tuple[dict[str, Tally], np.ndarray]:
    """(:func:`_measured`, where the fast tier left some quantity to the exact tier)."""
    from ..evaluator.engine import torch_result  # torch

    xs = sweeps.values_of(keys, task.dtype)
    n = xs.size
    template = build_request(
        task.spec,
        {"x": [f"0:1:{n}"]},
        dict(task.params),
        order=task.order,
        dtype=task.dtype,
        device=task.device,
        max_elements=None,
    )
    req = replace(template, inputs={"x": Values((array("d", xs.tobytes()),), (n,))})
    result = torch_result(req)
    found, _ = truth.truths(result, req.program, limit=None, seconds=None, limits=(task.limit,))
    out, slow = {}, np.zeros(n, dtype=bool)
    for path, got in result.arrays():
        if path in found and not path.startswith("inputs."):
            true = found[path].flat()
            out[path.split(".")[0]] = _tally(keys, xs, np.reshape(got, -1), true, task)
            slow |= np.ones(n, dtype=bool) if true.fast is None else ~true.fast
    return out, slow


def seconds(task_list: list[Task], runs: int = 4, run: int = 1 << 18, seed: int = 31) -> float:
    """The sweep's time in one process, estimated from its own inputs through the same path
    as the shards: ``runs`` runs of ``run`` consecutive inputs at random places (what a
    shard's point costs), and inputs drawn at random (the share the exact tier takes,
    wherever it lies, and what a point of it costs). Each function and dtype in proportion."""
    import time

    rng = np.random.default_rng(seed)
    groups: dict[tuple[Any, ...], list[Task]] = {}
    for t in task_list:
        groups.setdefault((t.function, t.params, t.dtype, t.order, t.limit), []).append(t)
    total = 0.0
    for members in groups.values():
        task, first, last = members[0], members[0].first, members[-1].last
        points = last - first + 1
        size = min(run, points)
        start = time.perf_counter()
        for at in rng.integers(first, last - size + 2, size=runs if points > size else 1):
            _measured(task, np.arange(at, at + size, dtype=np.int64))
        total += (time.perf_counter() - start) / (runs if points > size else 1) * points / size
        drawn = np.unique(rng.integers(first, last + 1, size=min(points, 1 << 14), dtype=np.int64))
        slow = drawn[_judged(task, drawn)[1]]
        if slow.size and points > size:
            start = time.perf_counter()
            _measured(task, slow)
            total += (time.perf_counter() - start) * points / drawn.size
    return total


TALLY_BLOCK = 1 << 16  # points measured at once (the arrays stay in the core's cache)


def _tally(keys: np.ndarray, x: np.ndarray, got: np.ndarray, true: Any, task: Task) -> Tally:
    """A shard's tally of one quantity, measured a block of points at a time."""
    t = Tally(points=int(x.size), first=task.first, last=task.last)
    t.fast = int(np.sum(true.fast)) if true.fast is not None else 0
    worst, flagged, lost = -1.0, [], []
    hist = np.zeros(_TOP + 1, dtype=np.int64)
    for i in range(0, x.size, TALLY_BLOCK):
        part = slice(i, i + TALLY_BLOCK)
        err, counts, lost_here = sweeps.point_errors(
            got[part], Truth(true.hi[part], true.lo[part]), task.dtype, task.limit
        )
        for k, v in counts.items():
            t.counts[k] = t.counts.get(k, 0) + v
        nan = np.isnan(err)
        every = not nan.any()  # (the common case: no mask to apply)
        if not every:
            t.unjudged += int(np.count_nonzero(nan & ~lost_here))
        if every or not nan.all():
            if every:
                j, judged = int(np.argmax(err)), err
            else:
                known = np.flatnonzero(~nan)
                judged = err[known]
                j = int(known[np.argmax(judged)])
            e = float(err[j])
            if e > worst or (worst < 0 and t.worst is None):
                worst, at = e, i + j
                t.max_ulp = _finite(e)
                t.worst = {
                    "x": float(x[at]),
                    "got": _finite(float(got[at])),
                    "true": _finite(float(true.hi[at])),
                }
            hist += np.bincount(_bins(judged), minlength=_TOP + 1)
        if every:  # (marked: err itself)
            over = np.flatnonzero((err > task.limit) | lost_here)
            marked = err
        else:
            marked = np.where(nan & lost_here, np.inf, err)  # lost where the truth is 0
            over = np.flatnonzero(((marked > task.limit) | lost_here) & ~np.isnan(marked))
        flagged.append((over + i, marked[over]))
        gone = np.flatnonzero(lost_here)
        lost.append((gone + i, marked[gone]))
    bins = np.flatnonzero(hist)
    t.hist = dict(zip(bins.tolist(), hist[bins].tolist(), strict=True))
    t.regions = _regions(keys, x, *_joined_parts(flagged))
    t.lost = _regions(keys, x, *_joined_parts(lost))
    return t


def _joined_parts(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _bins(err: np.ndarray) -> np.ndarray:
    """Histogram bins of errors in ulps: 1/FINE of an ulp below 4, OCTAVE per doubling above."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.floor(err * FINE)
        big = np.flatnonzero(~(err < 4))  # the few past 4 ulps (inf, NaN) take the logarithm
        if big.size:
            e = err[big]
            coarse = 4 * FINE + np.floor(np.log2(np.maximum(e, 4.0) / 4) * OCTAVE)
            out[big] = np.minimum(coarse, _TOP)
            out[big[~np.isfinite(e)]] = _TOP
    return out.astype(np.int64)


def _value(b: int) -> float:
    """The middle of histogram bin ``b`` (inf for the last; 0 for the first: below 1/FINE
    of an ulp, as most inputs where the function saturates are)."""
    if b >= _TOP:
        return math.inf
    if b == 0:
        return 0.0
    if b < 4 * FINE:
        return (b + 0.5) / FINE
    return 4 * 2 ** ((b - 4 * FINE + 0.5) / OCTAVE)


def _regions(
    keys: np.ndarray, x: np.ndarray, where: np.ndarray, err: np.ndarray
) -> list[list[Any]]:
    """Runs of the points at ``where`` (ascending, their errors ``err``), runs within GAP
    inputs of each other merged: [first key, last key, first x, last x, points, max ulp
    (None: inf)]."""
    if not where.size:
        return []
    breaks = np.flatnonzero(np.diff(where) > sweeps.GAP)
    starts, ends = np.r_[0, breaks + 1], np.r_[breaks, where.size - 1]
    worst = np.maximum.reduceat(err, starts)
    return _grouped(
        keys[where[starts]],
        keys[where[ends]],
        x[where[starts]],
        x[where[ends]],
        ends - starts + 1,
        worst,
    )


def _grouped(
    first: np.ndarray,
    last: np.ndarray,
    x0: np.ndarray,
    x1: np.ndarray,
    n: np.ndarray,
    worst: np.ndarray,
) -> list[list[Any]]:
    """MAX_REGIONS regions of many runs: the runs between the largest gaps merged (ties:
    the earlier gap stays)."""
    if first.size <= MAX_REGIONS:
        cut = np.arange(first.size - 1)
    else:
        gaps = first[1:] - last[:-1]
        cut = np.sort(np.argsort(-gaps, kind="stable")[: MAX_REGIONS - 1])
    starts, ends = np.r_[0, cut + 1], np.r_[cut, first.size - 1]
    counts = np.add.reduceat(n, starts)
    peaks = np.maximum.reduceat(worst, starts)
    return [
        [int(first[a]), int(last[b]), float(x0[a]), float(x1[b]), int(c), _finite(float(p))]
        for a, b, c, p in zip(starts, ends, counts, peaks, strict=True)
    ]


def _capped(regions: list[list[Any]]) -> list[list[Any]]:
    """At most MAX_REGIONS: the runs between the largest gaps merged."""
    if len(regions) <= MAX_REGIONS:
        return regions
    r = regions
    worst = np.array([math.inf if v[5] is None else v[5] for v in r])
    return _grouped(
        np.array([v[0] for v in r]),
        np.array([v[1] for v in r]),
        np.array([v[2] for v in r]),
        np.array([v[3] for v in r]),
        np.array([v[4] for v in r]),
        worst,
    )


def _joined(a: list[Any], b: list[Any]) -> list[Any]:
    worst = None if a[5] is None or b[5] is None else max(a[5], b[5])
    return [a[0], b[1], a[2], b[3], a[4] + b[4], worst]


# ----------------------------------------------------------------------------------------------
# merging, in the inputs' order


def merge(a: Tally, b: Tally) -> Tally:
    """Two tallies of consecutive inputs (``a``'s before ``b``'s) as one."""
    out = Tally(
        points=a.points + b.points,
        unjudged=a.unjudged + b.unjudged,
        counts={k: a.counts.get(k, 0) + b.counts.get(k, 0) for k in {*a.counts, *b.counts}},
        fast=a.fast + b.fast,
        first=a.first,
        last=b.last,
    )
    pick = a if _worse(a.max_ulp, a.worst, b.max_ulp, b.worst) else b
    out.max_ulp, out.worst = pick.max_ulp, pick.worst
    out.hist = dict(a.hist)
    for k, v in b.hist.items():
        out.hist[k] = out.hist.get(k, 0) + v
    out.regions = _chained(a.regions, b.regions)
    out.lost = _chained(a.lost, b.lost)
    return out


def _worse(m: float | None, w: Any, n: float | None, v: Any) -> bool:
    """Whether the first worst point stands (ties: the earlier input)."""
    if v is None:
        return True
    if w is None:
        return False
    m = math.inf if m is None else m
    n = math.inf if n is None else n
    return m >= n


def _chained(a: list[list[Any]], b: list[list[Any]]) -> list[list[Any]]:
    if a and b and b[0][0] - a[-1][1] <= sweeps.GAP:
        return _capped([*a[:-1], _joined(a[-1], b[0]), *b[1:]])
    return _capped([*a, *b])


def rows(task_list: list[Task], done: dict[int, dict[str, dict[str, Any]]]) -> list[sweeps.Row]:
    """The sweep's rows from every shard's tallies (merged in the inputs' order)."""
    merged: dict[tuple[str, str, str], tuple[Task, Tally]] = {}
    for task in task_list:
        for quantity, data in done[task.index].items():
            key = (task.function, task.dtype, quantity)
            tally = Tally.of(data)
            if key in merged:
                merged[key] = (merged[key][0], merge(merged[key][1], tally))
            else:
                merged[key] = (task, tally)
    return [_row(task, quantity, t, task.spec) for (_, _, quantity), (task, t) in merged.items()]


def _row(task: Task, quantity: str, t: Tally, spec: registry.FunctionSpec) -> sweeps.Row:
    def spans(regions: list[list[Any]]) -> list[dict[str, Any]]:
        return [
            {
                "from": r[2],
                "to": r[3],
                "points": r[4],
                "max_ulp": r[5],
                "low_end": r[0] == t.first,
                "high_end": r[1] == t.last,
            }
            for r in regions
        ]

    return sweeps.Row(
        task.function,
        dict(task.params),
        task.dtype,
        quantity,
        task.limit,
        t.points,
        t.max_ulp,
        median(t.hist),
        t.worst,
        {**t.counts, "unjudged": t.unjudged, "fast_tier": t.fast},
        spans(t.regions),
        spans(t.lost),
        spec=spec,
    )


def median(hist: dict[int, int]) -> float | None:
    """The median of the histogram's errors (the middle of its bin)."""
    total = sum(hist.values())
    if not total:
        return None
    seen = 0
    for b in sorted(hist):
        seen += hist[b]
        if 2 * seen >= total:
            return _value(b)
    return None


# ----------------------------------------------------------------------------------------------
# the checkpoint


def identity(task_list: list[Task]) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the shards, actgrad and its code, torch
    and the CPU or GPU (a shard computed elsewhere is another machine's measurement)."""
    from ...version import __version__

    shards = [
        (t.function, t.params, t.dtype, t.order, t.limit, t.first, t.last, t.device)
        for t in task_list
    ]
    digest = hashlib.sha256(orjson.dumps(shards)).hexdigest()
    device = task_list[0].device if task_list else "cpu"
    return {"shards": digest, "actgrad": __version__, "code": _code(), **machine.identity(device)}


def _code() -> str:
    """A digest of the core's source: a shard measured by other code is not resumed."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def checkpoint_path(ident: dict[str, Any]) -> Path:
    """Where a sweep keeps its checkpoint by default (the user's cache)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    name = hashlib.sha256(orjson.dumps(ident, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    return Path(root) / "actgrad" / "sweeps" / f"{name}.jsonl"


def resume(path: Path, ident: dict[str, Any]) -> dict[int, dict[str, dict[str, Any]]]:
    """The shards a checkpoint holds for this sweep ({} when none, or another sweep's)."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return {}
    if not lines:
        return {}
    try:
        if orjson.loads(lines[0]) != ident:
            return {}
    except orjson.JSONDecodeError:
        return {}
    done = {}
    for line in lines[1:]:
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:  # a line cut short by a kill: that shard again
            continue
        done[int(item["index"])] = item["tallies"]
    return done


class Checkpoint:
    """Appends each finished shard to the checkpoint file (its first line: the identity)."""

    def __init__(self, path: Path, ident: dict[str, Any], fresh: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        if fresh:
            path.write_bytes(orjson.dumps(ident) + b"\n")
        self.file = path.open("ab")

    def add(self, index: int, tallies: dict[str, Any]) -> None:
        self.file.write(orjson.dumps({"index": index, "tallies": tallies}) + b"\n")
        self.file.flush()

    def close(self, finished: bool) -> None:
        self.file.close()
        if finished:
            self.path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------
# running the shards


def _worker_start() -> None:
    """A worker process: one torch thread (the processes are the parallelism), and Ctrl-C
    is the parent's to handle."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_threads()


def run_local(
    todo: list[Task],
    jobs: int,
    on_done: Callable[[Task, dict[str, Any]], None],
) -> None:
    """Each shard of ``todo`` in one of ``jobs`` processes (started fresh: no fork of a
    process that has run torch); ``on_done`` as each finishes."""
    if jobs <= 1:
        _worker_threads()
        for task in todo:
            on_done(task, run_task(task))
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_start)
    try:
        pending = {}
        queue = list(todo)
        while queue or pending:
            while queue and len(pending) < 2 * jobs:  # a few ahead: memory stays bounded
                task = queue.pop(0)
                pending[pool.submit(run_task, task)] = task
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                on_done(pending.pop(future), future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_threads() -> None:
    import torch

    torch.set_num_threads(1)


def connect(address: str) -> Any:
    """A Dask client of the scheduler at ``address``, or a BadParameter that says why not
    (the extra not installed, a malformed address, nothing there, not a scheduler)."""
    address = scheduler_address(address)
    try:
        return _distributed().Client(address, timeout=f"{CONNECT_SECONDS}s")
    except Exception as error:  # whatever answered there is not a Dask scheduler
        reason = (
            f"no answer within {CONNECT_SECONDS} s"
            if isinstance(error, TimeoutError)
            else f"what answered: {error.__class__.__name__}"
        )
        message = f"--scheduler: no Dask scheduler at {address} ({reason})"
        raise BadParameter(message, _START) from None


def _distributed() -> Any:
    """dask's distributed module (the cluster extra), or a BadParameter that installs it."""
    try:
        import distributed
    except ImportError:
        raise BadParameter(
            "--scheduler needs dask's distributed scheduler", "pip install 'actgrad[cluster]'"
        ) from None
    return distributed


def run_cluster(
    todo: list[Task], client: Any, on_done: Callable[[Task, dict[str, Any]], None]
) -> None:
    """Each shard of ``todo`` on the workers of the Dask cluster of ``client`` (closed
    after)."""
    with client:
        futures = {client.submit(run_task, t, pure=False): t for t in todo}
        for future in _distributed().as_completed(futures):
            on_done(futures[future], future.result())


CONNECT_SECONDS = 10  # a scheduler that does not answer by then is not there
_ADDRESS = re.compile(
    r"(?:(?:tcp|tls|ws|wss|ucx)://)?"
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)"
    r":(\d{1,5})"
)


_START = "start one (dask scheduler; dask worker ADDRESS) or check the address"


def scheduler_address(text: str) -> str:
    """``text`` as a Dask scheduler's address (``[PROTOCOL://]HOST:PORT``) where something
    listens, or a BadParameter at once that names the form or the reason (Dask itself would
    retry for CONNECT_SECONDS)."""
    import socket

    address = text.strip()
    found = _ADDRESS.fullmatch(address)
    if not found or not 1 <= int(found.group(1)) <= 65535:
        raise BadParameter(
            f"--scheduler {text!r} is not a scheduler's address",
            "give HOST:PORT or tcp://HOST:PORT (a Dask scheduler listens on 8786)",
        )
    host, _, port = address.rpartition("://")[2].rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise BadParameter(f"--scheduler: cannot reach {address}: {reason}", _START) from None
    return address
