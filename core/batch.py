"""Coalesced evaluation for batch mode.

Scalar requests for one elementwise function with the same parameters, dtype, device and
derivative order are evaluated as one tensor through :func:`engine.pointwise`, whose padded
chunks make every element's value bit-identical to evaluating that request alone. Rows that
would carry element-specific notes or non-finite paths (a kink, nan, ±inf, an overflow on the
cast) are marked for evaluation alone, so their results are the single-request ones too.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from actgrad.core import registry
from actgrad.core.engine import _numpy, pointwise, resolve_device


@dataclass(frozen=True)
class GroupKey:
    function: str
    params: tuple[tuple[str, Any], ...]
    dtype: str
    device: str
    order: int


@dataclass
class GroupResult:
    x: np.ndarray
    value: np.ndarray
    grads: list[np.ndarray]
    alone: np.ndarray  # rows to evaluate one by one (element-specific notes or non-finite)
    notes: list[str]
    device: str
    torch: str


def coalescible(spec: registry.FunctionSpec) -> bool:
    return spec.kind == "activation" and spec.pointwise and not spec.stochastic


def evaluate_group(key: GroupKey, xs: list[float]) -> GroupResult:
    """Value and derivatives of ``key.function`` at every x of ``xs`` at once."""
    spec = registry.get(key.function)
    params = dict(key.params)
    device = resolve_device(key.device)
    dtype = getattr(torch, key.dtype)
    x64 = torch.tensor(xs, dtype=torch.float64)
    x = x64.to(device=device, dtype=dtype)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value, grads = pointwise(spec, x, params, key.order)
    alone = ~torch.isfinite(x64) | ~torch.isfinite(x.cpu())
    alone |= ~torch.isfinite(value.cpu())
    for g in grads:
        alone |= ~torch.isfinite(g.cpu())
    for kink in spec.kinks(params):
        alone |= (x == torch.tensor(kink.at, dtype=dtype, device=device)).cpu()
    for region in spec.regions(params):
        alone |= region.mask(torch, x).cpu()
    if caught:  # warnings become notes: let each row say them as it would alone
        alone[:] = True
    notes = spec.notes_for(key.dtype, key.order)
    return GroupResult(
        x=_numpy(x),
        value=_numpy(value),
        grads=[_numpy(g) for g in grads],
        alone=alone.numpy(),
        notes=notes,
        device=str(device),
        torch=torch.__version__,
    )
