"""Evaluation with torch autograd: the only module that imports torch."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from actgrad.core import registry
from actgrad.core.errors import DeviceUnavailable, EvaluationFailed
from actgrad.core.inputs import Linspace, Values
from actgrad.core.request import Request
from actgrad.core.result import Result


def resolve_device(name: str) -> torch.device:
    """The torch.device for ``name``, or DeviceUnavailable naming the build and the fix."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            why = "was built without CUDA" if torch.version.cuda is None else "sees no CUDA device"
            raise DeviceUnavailable(
                f"device {name!r} is not available: torch {torch.__version__} {why}",
                "use --device cpu, or --device auto to pick the best device present",
            )
        count = torch.cuda.device_count()
        ordinal = int(name.partition(":")[2] or torch.cuda.current_device())
        if ordinal >= count:
            raise DeviceUnavailable(
                f"device {name!r} is not available: this machine has {count} CUDA device(s)",
                "use cuda:0" if count == 1 else f"use one of cuda:0 to cuda:{count - 1}",
            )
        return torch.device("cuda", ordinal)
    if name == "mps" and not torch.backends.mps.is_available():
        raise DeviceUnavailable(
            f"device 'mps' is not available in torch {torch.__version__} on this machine",
            "use --device cpu, or --device auto",
        )
    return torch.device(name)


def materialize(values: Values, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Build the tensor for parsed values (in float64, then one cast to ``dtype``)."""
    parts = []
    for piece in values.pieces:
        if isinstance(piece, Linspace):
            parts.append(torch.linspace(piece.start, piece.stop, piece.count, dtype=torch.float64))
        else:
            parts.append(torch.frombuffer(piece, dtype=torch.float64) if len(piece) else None)
    flat = parts[0] if len(parts) == 1 else torch.cat(parts)
    return flat.reshape(values.shape).to(device=device, dtype=dtype)


def _call(spec: registry.FunctionSpec, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    if spec.call is not None:
        return spec.call(F, x, params)
    return getattr(F, spec.name)(x, **params)


def _grad(out: torch.Tensor, x: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """d out.sum() / dx; zeros where out does not depend on x (e.g. relu' differentiated)."""
    if not out.requires_grad:
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(
        out.sum(),
        x,
        create_graph=create_graph,
        retain_graph=True,
        allow_unused=True,
        materialize_grads=True,
    )
    return g


def _rows(out: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
    """Per slice along ``dim``: the Jacobian d out[..., i] / d x[..., j], shape (..., m, n)."""
    moved = out.movedim(dim, -1)
    rows = [_grad(moved[..., i], x, False).movedim(dim, -1) for i in range(moved.shape[-1])]
    return torch.stack(rows, dim=-2)


def _numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().to("cpu")
    if t.dtype == torch.bfloat16:
        t = t.float()  # numpy has no bfloat16; float32 holds every bfloat16 exactly
    return t.numpy()


def _fmt(v: float) -> str:
    return f"{v:g}"


def _kink_notes(spec: registry.FunctionSpec, x: torch.Tensor, params: dict) -> list[str]:
    notes = []
    for kink in spec.kinks(params):
        at = torch.tensor(kink.at, dtype=x.dtype, device=x.device)
        hits = int((x.detach() == at).sum())
        if not hits:
            continue
        where = f"{hits} inputs are" if hits > 1 else "the input is"
        text = (
            f"{spec.name}'({_fmt(kink.at)}) uses torch's convention {_fmt(kink.torch)} "
            f"(left derivative {_fmt(kink.left)}, right derivative {_fmt(kink.right)}); "
            f"{where} on this kink"
        )
        if kink.jump:
            text += "; the function itself jumps there"
        notes.append(text)
    return notes


def _overflow_note(x64: torch.Tensor, x: torch.Tensor, dtype_name: str) -> list[str]:
    """Inputs that are finite in float64 but not after the cast to the evaluation dtype."""
    if x.dtype == torch.float64:
        return []
    overflow = int((torch.isfinite(x64) & ~torch.isfinite(x.detach().cpu())).sum())
    if not overflow:
        return []
    biggest = torch.finfo(x.dtype).max
    return [f"{overflow} input(s) overflow {dtype_name} (|x| > {biggest:g}) and became ±inf"]


def evaluate(req: Request) -> Result:
    """Evaluate a validated request: value, derivatives and notes, as plain numpy arrays."""
    spec = registry.get(req.function)
    device = resolve_device(req.device)
    dtype = getattr(torch, req.dtype)
    values = req.inputs["x"]
    params = dict(req.params)
    x64 = materialize(values, torch.float64, torch.device("cpu"))
    x0 = x64.to(device=device, dtype=dtype)
    notes_cast = _overflow_note(x64, x0, req.dtype)
    del x64
    if not spec.pointwise and x0.ndim == 0:
        x0 = x0.reshape(1)
    x = x0.detach().requires_grad_(req.order > 0)
    notes = list(spec.notes)
    if req.dtype in spec.dtype_notes:
        notes.append(spec.dtype_notes[req.dtype])
    derivatives: dict[int, dict[str, np.ndarray]] = {}
    jacobian: dict[str, np.ndarray] = {}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if spec.stochastic:
                torch.manual_seed(req.seed)
            y = _call(spec, x, params)
            if spec.pointwise:
                out = y
                for k in range(1, req.order + 1):
                    out = _grad(out, x, create_graph=k < req.order)
                    derivatives[k] = {"x": _numpy(out)}
            elif req.order and req.index is None:
                jacobian["x"] = _numpy(_rows(y, x, params["dim"]))
            elif req.order:
                g = _grad(y.movedim(params["dim"], -1)[..., req.index], x, req.order > 1)
                derivatives[1] = {"x": _numpy(g)}
                if req.order > 1:
                    derivatives[2] = {"x": _numpy(_rows(g, x, params["dim"]))}
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EvaluationFailed(
            f"torch could not evaluate {spec.command} in {req.dtype} on {device}: {first}",
            "try --dtype float64 or --device cpu",
        ) from None
    notes.extend(f"torch warned: {w.message}" for w in caught)
    notes.extend(_kink_notes(spec, x, params))
    notes.extend(notes_cast)
    nans = int(torch.isnan(x0).sum())
    if nans and req.order:
        notes.append(
            f"{nans} input(s) are nan: derivatives there are whatever torch's kernels return "
            "and carry no meaning"
        )
    if spec.name == "gumbel_softmax" and params["hard"]:
        notes.append("hard=True: the value is one-hot; the derivative is the soft one")
    if spec.stochastic:
        params["seed"] = req.seed
    return Result(
        function=spec.name,
        params=params,
        dtype=req.dtype,
        device=str(device),
        torch=torch.__version__,
        inputs={"x": _numpy(x0)},
        value=_numpy(y),
        pointwise=spec.pointwise,
        scalar=values.shape == () and spec.pointwise,
        derivatives=derivatives,
        jacobian=jacobian,
        index=req.index,
        notes=notes,
    )
