"""What a result says besides its numbers: kinks and regions hit, inputs that overflow the
dtype, nan inputs and nan derivatives, and how a loss's reduction scales its derivatives."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import machine
from ..accuracy import generated_accuracy
from ..functions import registry
from ..options import default_ulps
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
    from ..accuracy.ulps import lost, ulp_errors
    from ..exact import reference, truth  # mpmath
    from ..exact.interval import budget

    try:
        with budget(LIVE_SECONDS):  # what does not settle in time is not judged
            truths = truth.elementwise(spec.name, params, x, len(got) - 1, dtype)
    except reference.NoReference:
        return None
    out = []
    for mine, true in zip(got, truths, strict=True):
        err, _ = ulp_errors(mine, true, dtype)
        err = np.where(np.isnan(err), -np.inf, err).reshape(-1)
        gone = lost(mine, true, dtype).reshape(-1)
        out.append((gone, np.where(gone, np.inf, err), true.hi.reshape(-1)))
    return out


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
