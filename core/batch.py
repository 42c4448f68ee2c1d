"""Coalesced evaluation for batch mode.

Scalar requests for one elementwise function with the same parameters, dtype, device and
derivative order are one program, the function's, evaluated by :func:`engine.compute` with x
bound to all their points; its padded chunks make every element's value bit-identical to
evaluating that request alone. Rows that would carry element-specific notes or non-finite
paths (a kink, a region, nan, ±inf, an overflow on the cast, a torch warning) are marked for
evaluation alone, so their results are the single-request ones too.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from actgrad.core import notes, registry
from actgrad.core.engine import compute, to_numpy
from actgrad.core.inputs import Values
from actgrad.core.program import of_function
from actgrad.core.request import Request
from actgrad.core.result import Result


@dataclass(frozen=True)
class GroupKey:
    function: str
    params: tuple[tuple[str, Any], ...]
    dtype: str
    device: str
    order: int


@dataclass
class Group:
    """A stacked result (row i of every array is request i's scalar) and the rows that must
    be evaluated alone."""

    result: Result
    alone: np.ndarray


def coalescible(spec: registry.FunctionSpec) -> bool:
    return spec.kind == "activation" and spec.pointwise and not spec.stochastic


def evaluate_group(key: GroupKey, xs: list[float]) -> Group:
    """Value and derivatives of ``key.function`` at every x of ``xs`` at once."""
    spec = registry.get(key.function)
    params = dict(key.params)
    shape = (len(xs),)
    req = Request(
        spec.name, {"x": Values((array("d", xs),), shape)}, params, key.order,
        device=key.device, dtype=key.dtype, wrt=("x",),
        program=of_function(spec, {"x": shape}, params),
    )  # fmt: skip
    done = compute(req)
    x = done.inputs["x"]
    alone = ~torch.isfinite(x) | ~torch.isfinite(done.value)  # nan, ±inf, overflow on the cast
    grads = [done.derivatives[k]["x"] for k in sorted(done.derivatives)]
    for g in grads:
        alone |= ~torch.isfinite(g)
    for kink in spec.kinks(params):
        alone |= x == torch.tensor(kink.at, dtype=x.dtype, device=x.device)
    for region in spec.regions(params):
        alone |= region.mask(torch, x)
    x_np = to_numpy(x)
    got = [to_numpy(done.value), *(to_numpy(g) for g in grads)]
    measured = notes.live_accuracy_mask(spec, params, key.dtype, x_np, got)
    if measured is None:
        measured = notes.accuracy_mask(spec, params, key.dtype, key.order, x_np)
    alone |= torch.from_numpy(measured).to(alone.device)
    if done.warnings:  # warnings become notes: let each row say them as it would alone
        alone[:] = True
    result = Result(
        function=spec.name, params=params, dtype=key.dtype, device=str(done.device),
        torch=torch.__version__, inputs={"x": x_np}, value=to_numpy(done.value),
        pointwise=True, scalar=True,
        derivatives={k: {"x": to_numpy(g)} for k, g in enumerate(grads, 1)},
        notes=spec.notes_for(key.dtype, key.order),
    )  # fmt: skip
    return Group(result, to_numpy(alone))
