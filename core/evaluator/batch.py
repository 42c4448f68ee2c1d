"""Coalesced evaluation for batch mode.

Scalar requests for one elementwise function with the same parameters, dtype, device and
derivative order are one program, the function's, evaluated by :func:`engine.compute` with x
bound to all their points; its padded chunks make every element's value bit-identical to
evaluating that request alone. A row's notes (a kink, a region, nan, ±inf, an overflow on the
cast, a measured accuracy region) come from the group's inputs and outputs by the very code a
one-off runs (:func:`engine.activation_notes`): rows that hit the same rules share one call,
rows whose notes name their own numbers get their own. No row is evaluated again for a note;
only a group whose evaluation warned (torch's warnings become notes) is answered row by row.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from ..errors import ActgradError
from ..functions import registry
from ..parse.inputs import Values
from ..parse.options import DEVICE_PATTERN, DTYPES, resolve_params
from ..program import of_function
from ..request import Request
from ..result import Result
from . import notes
from .engine import (
    Judge,
    activation_notes,
    compute,
    result_of,
    scalar_code,
    scalar_code_differs,
    scalar_code_text,
)


@dataclass(frozen=True)
class GroupKey:
    spec: registry.FunctionSpec
    params: tuple[tuple[str, Any], ...]
    dtype: str
    device: str
    order: int


@dataclass
class Group:
    """A stacked result (row i of every array is request i's scalar): rows with nothing of
    their own share its notes; ``notes`` holds each other row's own notes (rows that hit the
    same rules share one list); ``finite`` marks rows whose numbers are all finite; ``alone``
    rows to evaluate on their own (a warning)."""

    result: Result
    notes: dict[int, list[str]]
    finite: np.ndarray
    alone: np.ndarray

    def rows(self, rows: list[int], notes: list[str] | None = None) -> Result:
        """The result of just ``rows`` (a scalar result for one row), with ``notes``."""
        r = self.result
        pick = rows[0] if len(rows) == 1 else rows
        return Result(
            function=r.function,
            params=r.params,
            dtype=r.dtype,
            device=r.device,
            torch=r.torch,
            inputs={"x": r.inputs["x"][pick]},
            value=r.value[pick],
            pointwise=True,
            scalar=True,
            derivatives={k: {"x": g["x"][pick]} for k, g in r.derivatives.items()},
            notes=r.notes if notes is None else notes,
            spec=r.spec,
        )


def coalescible(spec: registry.FunctionSpec) -> bool:
    return spec.elementwise and not spec.stochastic


def scalar_key(
    fn: Any, params: Any, grad: Any, order: Any, dtype: Any, device: Any, dtype0: str, device0: str
) -> tuple | None:
    """The group key (entry, resolved params, dtype, device, order) of a scalar request
    that can be coalesced, the request's fields as a JSON line gives them ("" or 0: left out,
    then ``dtype0`` and ``device0``); None when it must take the general path, which says what
    is wrong with it (a null, a wrong type, an unknown function, a bad parameter)."""
    if (
        type(grad) is not bool
        or type(order) is not int
        or type(params) is not tuple
        or type(dtype) is not str
        or type(device) is not str
        or type(fn) is not str
    ):
        return None
    spec = registry.find(fn)  # a JSON line's edge
    if spec is None or not coalescible(spec):
        return None
    try:
        resolved = tuple(resolve_params(spec, dict(params)).items())
    except ActgradError:
        return None
    if grad and order < 1:
        order = 1
    dtype = dtype or dtype0
    device = device or device0
    if (
        not 0 <= order <= min(spec.max_order, 4)
        or dtype not in DTYPES
        or not DEVICE_PATTERN.fullmatch(device)  # as written: the general path says the rest
    ):
        return None
    return spec, resolved, dtype, device, order


def evaluate_group(
    key: GroupKey, xs: list[float], judge: Judge | None = None, judge_rows: Any = None
) -> Group:
    """Value and derivatives of ``key.spec`` at every x of ``xs`` at once; ``judge`` and
    ``judge_rows`` (core.accuracy.notes') add what the accuracy report or the live reference
    says of each row, as of a one-off."""
    spec = key.spec
    params = dict(key.params)
    shape = (len(xs),)
    req = Request(
        spec.name,
        {"x": Values((array("d", xs),), shape)},
        params,
        key.order,
        device=key.device,
        dtype=key.dtype,
        wrt=("x",),
        program=of_function(spec, {"x": shape}, params),
    )
    done = compute(req)
    result = replace(result_of(req, done, own_notes=False), scalar=True)  # rows are scalars
    x = done.inputs["x"]
    x_np, value = result.inputs["x"], result.value
    grads = [result.derivatives[k]["x"] for k in sorted(result.derivatives)]
    finite = np.isfinite(x_np) & np.isfinite(value)
    for g in grads:
        finite &= np.isfinite(g)
    if done.warnings:  # warnings become notes: let each row say them as it would alone
        return Group(result, {}, finite, np.ones(len(xs), dtype=bool))
    notes_of = _own_rows(spec, params, key, xs, x, x_np, value, grads, finite, judge, judge_rows)
    if x.device.type == "cpu" and spec.pointwise and not spec.stochastic:
        _scalar_code_rows(spec, params, key, x, [value, *grads], result.notes, notes_of)
    return Group(result, notes_of, finite, np.zeros(len(xs), dtype=bool))


def _scalar_code_rows(
    spec: registry.FunctionSpec,
    params: dict,
    key: GroupKey,
    x: torch.Tensor,
    got: list[np.ndarray],
    shared: list[str],
    notes_of: dict[int, list[str]],
) -> None:
    """Add to each row where torch's scalar code gives other numbers the note its one-off
    gives, from one strided evaluation of the whole group (before the parameter notes, as
    activation_notes orders them)."""
    scalar = scalar_code(spec, params, x, key.order)
    tail = spec.param_notes(params)
    apart = [scalar_code_differs([g], [s]) for g, s in zip(got, scalar, strict=True)]
    rows = np.flatnonzero(np.logical_or.reduce(apart)).tolist()
    if not rows:
        return
    points = x.detach().reshape(-1)[rows].tolist()
    each = [
        (a[rows].tolist(), g[rows].tolist(), s[rows].tolist())
        for a, g, s in zip(apart, got, scalar, strict=True)
    ]
    for j, i in enumerate(rows):
        pairs = [(k, g[j], s[j]) for k, (a, g, s) in enumerate(each) if a[j]]
        note = [scalar_code_text(spec.name, key.dtype, pairs, points[j], True)]
        base = notes_of.get(i, shared)
        ends = bool(tail) and base[len(base) - len(tail) :] == tail
        notes_of[i] = [*base[: len(base) - len(tail)], *note, *tail] if ends else [*base, *note]


def _own_rows(
    spec: registry.FunctionSpec,
    params: dict,
    key: GroupKey,
    xs: list[float],
    x: torch.Tensor,
    x_np: np.ndarray,
    value: np.ndarray,
    grads: list[np.ndarray],
    finite: np.ndarray,
    judge: Judge | None,
    judge_rows: Any,
) -> dict[int, list[str]]:
    """{row: its notes} for every row with something of its own to say or a non-finite
    number: the rows that hit the same rules share one call of the one-off's note code."""
    x64 = np.asarray(xs, dtype=np.float64)
    got = [value, *grads]
    rules = [np.isfinite(x64) & ~np.isfinite(x_np)]  # overflow on the cast
    if key.order:
        rules.append(np.isnan(x_np))
    for kink in spec.kinks(params):
        if kink.order <= max(key.order, 1):
            rules.append(x_np == torch.tensor(kink.at, dtype=x.dtype).item())
    rules += [region.mask(torch, x).cpu().numpy() for region in spec.regions(params)]
    own = np.zeros(len(xs), dtype=bool)  # notes that name the row's own numbers
    for g in grads:
        own |= np.isnan(g) & np.isfinite(x_np)
    if judge_rows is not None:
        live, regions = judge_rows(spec, params, key.dtype, key.order, x_np, got, str(x.device))
        if live is not None:
            own |= live
        rules += [r + 1 for r in regions]
    pattern = np.stack([np.asarray(r, dtype=np.int64) for r in rules], axis=1)
    special = pattern.any(axis=1) | own | ~finite
    rows = np.flatnonzero(special)
    if not rows.size:
        return {}
    out: dict[int, list[str]] = {}

    def notes_of(i: int) -> list[str]:  # the one-off's notes, for row i alone
        return (
            spec.standing_notes(key.dtype, key.order)
            + notes.overflow_note(torch.tensor(x64[i]), x[i], key.dtype)
            + activation_notes(
                spec,
                params,
                key.dtype,
                key.order,
                x[i],
                x_np[i],
                value[i],
                {k: {"x": g[i]} for k, g in enumerate(grads, 1)},
                scalar_note=False,  # added from the group's own arrays
                judge=judge,
            )
        )

    hit = pattern[rows]
    if hit.shape[1] <= 7 and int(hit.max(initial=0)) < 256:  # each row's rules as one number
        packed = hit @ (256 ** np.arange(hit.shape[1], dtype=np.int64))
        _, first, codes = np.unique(packed, return_index=True, return_inverse=True)
    else:
        _, first, codes = np.unique(hit, axis=0, return_index=True, return_inverse=True)
    shared = []
    for at in first.tolist():
        cache_key = (key, hit[at].tobytes())
        found = _SHARED.get(cache_key)
        if found is None:
            found = _SHARED[cache_key] = notes_of(int(rows[at]))
            if len(_SHARED) > 4096:
                _SHARED.clear()
        shared.append(found)
    own_rows = own[rows]
    for i, code, alone in zip(
        rows.tolist(), codes.reshape(-1).tolist(), own_rows.tolist(), strict=True
    ):
        out[i] = notes_of(i) if alone else shared[code]
    return out


# (group key, the rules a row hits): its notes, which name nothing of the row's own
_SHARED: dict[tuple, list[str]] = {}
