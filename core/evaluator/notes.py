"""What a result says besides its numbers: kinks and regions hit, inputs that overflow the
dtype, nan inputs and nan derivatives, and how a loss's reduction scales its derivatives."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..functions import registry
from ..words import counted


def kink_notes(spec: registry.FunctionSpec, x: torch.Tensor, params: dict, order: int) -> list[str]:
    """Notes for inputs on a kink (a second-derivative kink only when one was asked for) and
    in a region where torch departs from the formula."""
    notes = []
    for kink in spec.kinks(params):
        if kink.order > max(order, 1):
            continue
        at = torch.tensor(kink.at, dtype=x.dtype, device=x.device)
        hits = int((x.detach() == at).sum())
        if hits:
            where = f"{hits} inputs are" if hits > 1 else "the input is"
            rounded = torch.tensor(kink.torch, dtype=x.dtype).item()
            here = "" if rounded == kink.torch else f" ({rounded:.10g} in {str(x.dtype)[6:]})"
            notes.append(f"{kink.text(spec.name)}{here}; {where} on this kink")
    for region in spec.regions(params):
        count = int(region.mask(torch, x.detach()).sum())
        if count:
            notes.append(region.note.format(count=counted(count, "input")))
    return notes


def overflow_note(x64: torch.Tensor, x: torch.Tensor, dtype_name: str) -> list[str]:
    """Inputs that are finite in float64 but not after the cast to the evaluation dtype."""
    if x.dtype == torch.float64:
        return []
    overflow = int((torch.isfinite(x64) & ~torch.isfinite(x.detach().cpu())).sum())
    if not overflow:
        return []
    biggest = torch.finfo(x.dtype).max
    return [
        f"{counted(overflow, 'input')} overflow{'s' if overflow == 1 else ''} {dtype_name} "
        f"(|x| > {biggest:g}) and became ±inf"
    ]


def nan_derivative_notes(
    name: str, x: np.ndarray, derivatives: dict[int, dict[str, np.ndarray]]
) -> list[str]:
    """Every activation has finite derivatives at finite inputs: a nan there is torch's
    formula overflowing (mish'' past x ≈ 100 in float32), which a note names."""
    finite = np.isfinite(x)
    notes = []
    for order, grads in sorted(derivatives.items()):
        bad = np.isnan(grads["x"]) & finite
        count = int(bad.sum())
        if count:
            first = float(x[bad].flat[0])
            primes = "'" * order if order < 3 else f"^({order})"
            notes.append(
                f"{counted(count, 'value')} of {name}{primes} {'is' if count == 1 else 'are'} "
                f"nan at finite inputs (the first at x = {first:.10g}): torch's formula "
                "overflows there in this dtype; the true derivative is finite"
            )
    return notes


def reduction_note(spec: registry.FunctionSpec, t: dict, params: dict) -> str | None:
    reduction = params.get("reduction")
    if reduction == "none":
        return "reduction=none: one loss per element, each derivative that element's own"
    if reduction == "sum":
        return "reduction=sum: the derivatives of the summed loss, unscaled"
    if reduction == "batchmean":
        size = t["pred"].shape[0] if t["pred"].ndim else 1
        return f"reduction=batchmean divides the sum, and every derivative, by {size} (dim 0)"
    if reduction != "mean":
        return None
    if spec.mean_note:
        return spec.mean_note
    with torch.no_grad():
        count = spec.call(F, t, {**params, "reduction": "none"}).numel()
    target = t.get("target")
    ignored = (
        target is not None
        and "ignore_index" in params
        and not target.dtype.is_floating_point
        and bool((target == params.get("ignore_index")).any())
    )
    if spec.weighted_mean_note and ("weight" in t or ignored):
        return spec.weighted_mean_note
    if count == 1:
        return None
    return f"reduction=mean divides the sum, and every derivative, by {count} (the element count)"


PRIMES = ("", "′", "″", "‴", "⁗")
