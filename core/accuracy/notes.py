"""What the accuracy report and the live reference say about a result: the regions where
torch's kernel was measured far from the truth (docs/accuracy.md, generated on one machine),
or, for a small result or one on a machine or device the report did not measure, the truth at
each of its inputs. Accuracy knowledge, beside accuracy: the evaluator never imports it; a
caller that wants these notes passes :func:`judge` (one result) or :func:`judge_rows` (batch
rows) to it."""

from __future__ import annotations

import numpy as np

from .. import machine
from ..evaluator.notes import PRIMES
from ..functions import registry
from ..parse.options import default_ulps
from ..words import counted
from . import generated_accuracy


def _measured(
    spec: registry.FunctionSpec, params: dict, dtype: str, order: int
) -> list[tuple[int, list]]:
    """(order k, regions of the k-th derivative) measured for these parameters and dtype."""
    measured = generated_accuracy.REGIONS.get(spec.name, {}).get(dtype)
    if not measured or generated_accuracy.PARAMS.get(spec.name) != params:
        return []
    names = ["value", "grad", *(f"grad{k}" for k in range(2, order + 1))]
    return [(k, measured.get(names[k], [])) for k in range(order + 1)]


def where_measured(spec: registry.FunctionSpec) -> str:
    """Where the regions were measured, and how to measure them here."""
    if machine.same(generated_accuracy.MACHINE):
        return f"measured against the true value on this machine; actgrad accuracy {spec.command}"
    return (
        f"measured against the true value with {machine.words(generated_accuracy.MACHINE)}, "
        f"not this machine: actgrad accuracy {spec.command} measures it here"
    )


def _on_cpu(device: str) -> bool:
    return device.partition(":")[0] == "cpu"


def accuracy_notes(
    spec: registry.FunctionSpec,
    params: dict,
    dtype: str,
    order: int,
    x: np.ndarray,
    device: str = "cpu",
) -> list[str]:
    """Where the accuracy report measured torch to be more ulps off than --check allows, or
    to lose every digit, and an input lies there: one note per quantity, naming the region
    with the most inputs (every digit lost first among equals) and counting the rest. The
    report measures the CPU's kernels: on another device (whose kernels round differently)
    one note says so instead, where the CPU's report would have spoken, and how to measure
    that device."""
    out = []
    for k, runs in _measured(spec, params, dtype, order):
        found = [
            (n, -i) for i, r in enumerate(runs) if (n := int(((x >= r[0]) & (x <= r[1])).sum()))
        ]
        if not found:
            continue
        if not _on_cpu(device):
            kind = device.partition(":")[0]
            return [
                f"in {dtype} torch's {spec.name} on {kind} is not measured: the accuracy "
                f"report's regions near these inputs are the CPU's "
                f"({machine.words(generated_accuracy.MACHINE)}), and {kind}'s kernels round "
                f"differently; actgrad accuracy {spec.command} --device {kind} measures it "
                "there; --check judges each number"
            ]
        inside, i = max(found)
        low, high, lost, words = runs[-i]
        outside = (x < low) | (x > high)  # regions overlap (every digit lost ⊂ > N ulps off)
        rest, regions = np.zeros(x.shape, bool), 0
        for r in runs:  # a mask at a time: bounded memory on a large input
            more = (x >= r[0]) & (x <= r[1]) & outside
            regions += bool(more.any())
            rest |= more
        others = f", and {counted(int(rest.sum()), 'more input')} in "
        others += counted(regions, "other region")
        what = "loses every digit" if lost else f"is over {default_ulps(dtype)} ulps off"
        out.append(
            f"in {dtype} torch's {spec.name}{PRIMES[k]} {what} for {words} "
            f"({counted(inside, 'input')} there{others if regions else ''}; "
            f"{where_measured(spec)}; --check judges each number)"
        )
    return out


LIVE_POINTS = 256  # a result with this many inputs at most is judged by the live reference
LIVE_SECONDS = 2.0  # … within this long


Judged = list[tuple[np.ndarray, np.ndarray, np.ndarray]]


def judged_live(size: int, device: str = "cpu") -> bool:
    """Whether a result of ``size`` inputs is judged by the live reference (on a machine or
    device the report was not measured on) rather than by the report."""
    if size > LIVE_POINTS:
        return False
    return not _on_cpu(device) or not machine.same(generated_accuracy.MACHINE)


def _live(
    spec: registry.FunctionSpec,
    params: dict,
    dtype: str,
    x: np.ndarray,
    got: list[np.ndarray],
    rows: bool = False,
    device: str = "cpu",
) -> Judged | None:
    """Per quantity: (every digit lost, over --check's ulps, the true values), element by
    element, from the live reference; None where the report speaks instead (on the machine
    it was measured on, or for more than LIVE_POINTS inputs, unless each element is a result
    of its own: ``rows``) or there is no reference."""
    if not judged_live(1 if rows else x.size, device):
        return None
    head = _head(spec, params, dtype, device)
    kept = _ROWS.get((head, _bits(x, got))) if head is not None and np.size(x) == 1 else None
    if kept is not None:  # a batch row its group judged already
        return kept
    from ..accuracy.ulps import lost, ulp_errors
    from ..exact import reference, truth  # mpmath
    from ..exact.interval import budget

    try:
        with budget(LIVE_SECONDS):  # what does not settle in time is not judged
            limit = default_ulps(dtype)  # a note says only which side of it torch is
            truths = truth.elementwise(
                spec, params, x, len(got) - 1, dtype, got=got, limits=(limit,), verdict=limit
            )
    except reference.NoReference:
        return None
    out = []
    for mine, true in zip(got, truths, strict=True):
        err, _ = ulp_errors(mine, true, dtype)
        err = np.where(np.isnan(err), -np.inf, err).reshape(-1)
        gone = lost(mine, true, dtype).reshape(-1)
        out.append((gone, np.where(gone, np.inf, err), true.hi.reshape(-1)))
    if rows and head is not None:  # the rows it flags get notes of their own next
        _keep_rows(head, default_ulps(dtype), x, got, out)
    return out


_ROWS: dict[tuple, Judged] = {}  # (entry, params, dtype, device, x, torch's numbers): judged
MAX_ROWS = 4096


def _head(spec: registry.FunctionSpec, params: dict, dtype: str, device: str) -> tuple | None:
    """What a judged row's key shares with its group (None: a parameter is not hashable)."""
    key = (spec, tuple(sorted(params.items())), dtype, device)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _bits(x: np.ndarray, got: list[np.ndarray]) -> bytes:
    """One element's input and torch's numbers, as bits (-0.0 is not 0.0)."""
    return np.asarray([np.reshape(v, -1)[0] for v in (x, *got)], dtype=np.float64).tobytes()


def _keep_rows(
    head: tuple, limit: float, x: np.ndarray, got: list[np.ndarray], judged: Judged
) -> None:
    """Keep the judgment of each row over ``limit`` ulps (its note is built next, row by row,
    from the same truth), at most MAX_ROWS of them."""
    flat_x, flat_got = np.reshape(x, -1), [np.reshape(g, -1) for g in got]
    for i in np.flatnonzero(np.logical_or.reduce([err > limit for _, err, _ in judged])):
        if len(_ROWS) >= MAX_ROWS:
            _ROWS.clear()
        row = slice(i, i + 1)
        key = (head, _bits(flat_x[row], [g[row] for g in flat_got]))
        _ROWS[key] = [(gone[row], err[row], true[row]) for gone, err, true in judged]


def live_accuracy_notes(
    spec: registry.FunctionSpec,
    params: dict,
    dtype: str,
    x: np.ndarray,
    got: list[np.ndarray],
    device: str = "cpu",
) -> list[str] | None:
    """On a machine the accuracy report was not measured on (its numbers may differ there),
    a small result is judged by the live reference instead: a note per quantity that loses
    every digit or is more ulps off than --check allows. None where the report speaks."""
    judged = _live(spec, params, dtype, x, got, device=device)
    if judged is None:
        return None
    limit = default_ulps(dtype)
    kind = device.partition(":")[0]
    here = "on this machine" if kind == "cpu" else f"for {kind}'s numbers"
    there = "" if kind == "cpu" else f" --device {kind}"
    out = []
    for k, ((gone, err, true), mine) in enumerate(zip(judged, got, strict=True)):
        bad = err > limit
        if not bad.any():
            continue
        at = int(np.argmax(err))
        what = "loses every digit" if gone.any() else f"is {err[at]:.3g} ulps off"
        out.append(
            f"in {dtype} torch's {spec.name}{PRIMES[k]} {what} at x = "
            f"{float(x.reshape(-1)[at]):.10g} (torch {float(mine.reshape(-1)[at]):.6g}, true "
            f"{float(true[at]):.6g}; {counted(int(bad.sum()), 'input')}; judged against the true "
            f"value {here}, as --check does; actgrad accuracy {spec.command}{there} measures "
            "a range)"
        )
    return out


def live_accuracy_mask(
    spec: registry.FunctionSpec,
    params: dict,
    dtype: str,
    x: np.ndarray,
    got: list[np.ndarray],
    device: str = "cpu",
) -> np.ndarray | None:
    """The elements :func:`live_accuracy_notes` would speak of, each judged as a result of
    its own (batch rows); None where the report speaks."""
    judged = _live(spec, params, dtype, x, got, rows=True, device=device)
    if judged is None:
        return None
    limit = default_ulps(dtype)
    return np.logical_or.reduce([err > limit for _, err, _ in judged]).reshape(x.shape)


def accuracy_regions(
    spec: registry.FunctionSpec, params: dict, dtype: str, order: int, x: np.ndarray
) -> list[np.ndarray]:
    """Per quantity, for each element taken as a result of its own, the index of the region
    :func:`accuracy_notes` would name (the first one holding it), or -1."""
    out = []
    for _, runs in _measured(spec, params, dtype, order):
        found = np.full(x.shape, -1)
        for i, (low, high, _, _) in enumerate(runs):
            found = np.where((found < 0) & (x >= low) & (x <= high), i, found)
        out.append(found)
    return out


def judge(
    spec: registry.FunctionSpec,
    params: dict,
    dtype: str,
    order: int,
    x: np.ndarray,
    got: list[np.ndarray],
    device: str,
) -> list[str]:
    """The accuracy notes of one elementwise result: the live reference's where it judges
    (a small result, or a machine or device the report did not measure), else the report's
    regions."""
    live = live_accuracy_notes(spec, params, dtype, x, got, device)
    return accuracy_notes(spec, params, dtype, order, x, device) if live is None else live


def judge_rows(
    spec: registry.FunctionSpec,
    params: dict,
    dtype: str,
    order: int,
    x: np.ndarray,
    got: list[np.ndarray],
    device: str,
) -> tuple[np.ndarray | None, list[np.ndarray]]:
    """For batch rows, each a result of its own: (the rows the live reference speaks of, or
    None where the report does; per quantity, each row's region of the report or -1)."""
    live = live_accuracy_mask(spec, params, dtype, x, got, device)
    regions = accuracy_regions(spec, params, dtype, order, x) if live is None else []
    return live, regions
