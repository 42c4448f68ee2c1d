"""Evaluation with torch autograd: the only module that imports torch."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from actgrad.core import registry
from actgrad.core.errors import (
    BadInput,
    BadParameter,
    DeviceUnavailable,
    EvaluationFailed,
)
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


def _grad(
    out: torch.Tensor,
    x: torch.Tensor,
    create_graph: bool = False,
    direction: torch.Tensor | None = None,
) -> torch.Tensor:
    """d out.sum() / dx, or vᵀ d out / dx with ``direction`` v (as out.backward(v) fills
    x.grad); zeros where out does not depend on x (e.g. relu' differentiated)."""
    if not out.requires_grad:
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(
        out.sum() if direction is None else out,
        x,
        direction,
        create_graph=create_graph,
        retain_graph=True,
        allow_unused=True,
        materialize_grads=True,
    )
    return g


CHUNK = 16_384  # under torch's parallel grain size: one thread, never split mid-vector
LANES = 64  # chunks are padded to a multiple of this: every element takes the SIMD kernels


def pointwise(
    spec: registry.FunctionSpec, x0: torch.Tensor, params: dict, order: int
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Value and derivatives 1…order of an elementwise function.

    torch's CPU kernels compute a tensor's tail (its last size mod 32 elements) with scalar
    code that can differ from the vectorized code in the last ulp. Evaluating in chunks padded
    to a multiple of LANES makes every element's result independent of what else is in the
    tensor: a value is bit-identical asked alone, in a list, or coalesced in batch mode."""
    flat = x0.detach().reshape(-1)
    values: list[torch.Tensor] = []
    grads: list[list[torch.Tensor]] = [[] for _ in range(order)]
    for start in range(0, flat.numel(), CHUNK):
        part = flat[start : start + CHUNK]
        size = part.numel()
        pad = -size % LANES
        if pad:
            part = torch.cat([part, part[-1:].expand(pad)])
        leaf = part.detach().requires_grad_(order > 0)
        out = _call(spec, leaf, params)
        values.append(out.detach()[:size])
        for k in range(order):
            out = _grad(out, leaf, create_graph=k + 1 < order)
            grads[k].append(out.detach()[:size])
    return (
        torch.cat(values).reshape(x0.shape),
        [torch.cat(g).reshape(x0.shape) for g in grads],
    )


def _rows(out: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
    """Per slice along ``dim``: the Jacobian d out[..., i] / d x[..., j], shape (..., m, n)."""
    moved = out.movedim(dim, -1)
    rows = _stacked(moved.shape[-1], lambda i: _grad(moved[..., i], x, False).movedim(dim, -1))
    return rows.movedim(0, -2)


def _stacked(count: int, row: Any) -> torch.Tensor:
    """torch.stack([row(0), …, row(count - 1)]) written into one preallocated tensor: each
    row's pass frees its temporaries before the next, so the heap does not fragment (a list
    of small rows between large temporaries held several times the result's memory)."""
    first = row(0)
    out = torch.empty((count, *first.shape), dtype=first.dtype, device=first.device)
    out[0] = first
    del first
    for i in range(1, count):
        out[i] = row(i)
    return out


def _numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().to("cpu")
    if t.dtype == torch.bfloat16:
        t = t.float()  # numpy has no bfloat16; float32 holds every bfloat16 exactly
    return t.numpy()


def _kink_notes(
    spec: registry.FunctionSpec, x: torch.Tensor, params: dict, order: int
) -> list[str]:
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
            notes.append(region.note.format(count=count))
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
    result = _evaluate(replace(req, check=False))
    if req.cotangent is not None:
        cast = materialize(req.cotangent, getattr(torch, req.dtype), torch.device("cpu"))
        result.cotangent = _numpy(cast)
    if req.check:
        from actgrad.core.check import check

        result.check = check(replace(req, check=False), _evaluate, result)
    return result


def _evaluate(req: Request) -> Result:
    device = resolve_device(req.device)
    if req.expression is not None:
        return _evaluate_expr(req, device)
    spec = registry.get(req.function)
    if device.type == "cpu" and req.dtype in spec.no_cpu_kernel(req.params):
        raise BadParameter(
            f"torch has no {req.dtype} kernel for {spec.command} on the CPU",
            "use --dtype float32 or float64 (or a CUDA device)",
        )
    if spec.kind == "activation":
        return _evaluate_activation(spec, req, device)
    return _evaluate_loss(spec, req, device)


@contextmanager
def _torch_calls(command: str, req: Request, device: torch.device, notes: list):
    """Run torch: warnings become notes, a RuntimeError becomes EvaluationFailed."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    except ValueError as exc:  # torch's own input validation
        raise BadInput(f"torch rejected the input of {command}: {exc}", "fix the input") from None
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EvaluationFailed(
            f"torch could not evaluate {command} in {req.dtype} on {device}: {first}",
            "try --dtype float64 or --device cpu",
        ) from None
    notes.extend(f"torch warned: {w.message}" for w in caught)


def _evaluate_activation(spec: registry.FunctionSpec, req: Request, device: torch.device) -> Result:
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
    notes = spec.notes_for(req.dtype, req.order)
    derivatives: dict[int, dict[str, np.ndarray]] = {}
    jacobian: dict[str, np.ndarray] = {}
    with _torch_calls(spec.command, req, device, notes):
        if spec.stochastic:
            torch.manual_seed(req.seed)
        if spec.pointwise and not spec.stochastic:
            y, grads = pointwise(spec, x0, params, 0 if req.cotangent is not None else req.order)
            derivatives = {k: {"x": _numpy(g)} for k, g in enumerate(grads, 1)}
        elif spec.pointwise and req.cotangent is None:  # rrelu: slopes drawn once for x
            out = y = _call(spec, x, params)
            for k in range(1, req.order + 1):
                out = _grad(out, x, create_graph=k < req.order)
                derivatives[k] = {"x": _numpy(out)}
        if req.cotangent is not None:  # vᵀJ, exactly as y.backward(v) fills x.grad
            full = _call(spec, x, params)
            if not (spec.pointwise and not spec.stochastic):
                y = full
            v = _cotangent(req, full)
            derivatives = {1: {"x": _numpy(_grad(full, x, direction=v))}}
        elif not spec.pointwise:  # along a dim: the Jacobian, or one output's gradient
            y = _call(spec, x, params)
            if req.order and req.index is None:
                jacobian["x"] = _numpy(_rows(y, x, params["dim"]))
            elif req.order:
                g = _grad(y.movedim(params["dim"], -1)[..., req.index], x, req.order > 1)
                derivatives[1] = {"x": _numpy(g)}
                if req.order > 1:
                    derivatives[2] = {"x": _numpy(_rows(g, x, params["dim"]))}
    notes.extend(_kink_notes(spec, x, params, req.order))
    notes.extend(notes_cast)
    nans = int(torch.isnan(x0).sum())
    if nans and req.order:
        notes.append(
            f"{nans} input(s) are nan: derivatives there are whatever torch's kernels return "
            "and carry no meaning"
        )
    if spec.pointwise:
        notes.extend(_nan_derivative_notes(spec.name, x0, derivatives))
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


def _nan_derivative_notes(
    name: str, x: torch.Tensor, derivatives: dict[int, dict[str, np.ndarray]]
) -> list[str]:
    """Every activation has finite derivatives at finite inputs: a nan there is torch's
    formula overflowing (mish'' past x ≈ 100 in float32), which a note names."""
    finite = np.isfinite(_numpy(x))
    notes = []
    for order, grads in sorted(derivatives.items()):
        bad = np.isnan(grads["x"]) & finite
        count = int(bad.sum())
        if count:
            first = float(np.asarray(_numpy(x))[bad].flat[0])
            primes = "'" * order if order < 3 else f"^({order})"
            notes.append(
                f"{count} value(s) of {name}{primes} "
                f"are nan at finite inputs (the first at x = {first:.10g}): torch's formula "
                "overflows there in this dtype; the true derivative is finite"
            )
    return notes


def whole(t64: torch.Tensor, option: str) -> torch.Tensor:
    if not bool(torch.isfinite(t64).all()) or not torch.equal(t64, t64.round()):
        raise BadInput(f"{option} holds indices or counts: whole numbers only", "e.g. 0, 2, -1")
    return t64.to(torch.int64)


def _loss_tensors(
    spec: registry.FunctionSpec, req: Request, device: torch.device, dtype: torch.dtype
) -> tuple[dict[str, torch.Tensor], list[str]]:
    tensors: dict[str, torch.Tensor] = {}
    notes: list[str] = []
    pred_shape = req.inputs["pred"].shape if "pred" in req.inputs else None
    for name, values in req.inputs.items():
        meta = spec.tensor_input(name)
        kind = meta.kind if meta is not None else "float"
        x64 = materialize(values, torch.float64, torch.device("cpu"))
        if kind == "index" or (kind == "target" and values.shape != pred_shape):
            tensors[name] = whole(x64, "--" + name.replace("_", "-")).to(device)
        else:
            tensors[name] = x64.to(device=device, dtype=dtype)
            notes += _overflow_note(x64, tensors[name], req.dtype)
    return tensors, notes


def _ctc_lengths(t: dict[str, torch.Tensor]) -> None:
    """ctc_loss's lengths default to every time step and every target given."""
    if t["targets"].ndim == 0:
        t["targets"] = t["targets"].reshape(1)
    log_probs, targets = t["log_probs"], t["targets"]
    batch = () if log_probs.ndim == 2 else (log_probs.shape[1],)
    if "input_lengths" not in t:
        t["input_lengths"] = torch.full(batch, log_probs.shape[0], dtype=torch.int64)
    if "target_lengths" not in t:
        t["target_lengths"] = torch.full(batch, targets.shape[-1], dtype=torch.int64)


def _reduction_note(spec: registry.FunctionSpec, t: dict, params: dict) -> str | None:
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
    if spec.name == "ctc_loss":
        return "reduction=mean divides each sample's loss by its target length, then averages"
    with torch.no_grad():
        count = spec.call(F, t, {**params, "reduction": "none"}).numel()
    target = t.get("target")
    ignored = (
        target is not None
        and "ignore_index" in params
        and not target.dtype.is_floating_point
        and bool((target == params.get("ignore_index")).any())
    )
    if "weight" in t and spec.name in ("l1_loss", "mse_loss"):
        return "reduction=mean divides the weighted sum, and every derivative, by the weights' sum"
    if ("weight" in t and spec.name in ("cross_entropy", "nll_loss")) or ignored:
        return (
            "reduction=mean divides the sum, and every derivative, by the total weight of "
            "the counted targets (ignore_index excluded)"
        )
    if count == 1:
        return None
    return f"reduction=mean divides the sum, and every derivative, by {count} (the element count)"


def _jacobian_rows(value: torch.Tensor, leaf: torch.Tensor, create_graph: bool = False):
    flat = value.reshape(-1)
    rows = _stacked(flat.numel(), lambda i: _grad(flat[i], leaf, create_graph))
    return rows.reshape((*value.shape, *leaf.shape))


def _jacobian_columns(value: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """d value / d leaf one column at a time: a Jacobian-vector product per leaf element,
    taken as the derivative of the vector-Jacobian product u ↦ uᵀJ with respect to u."""
    u = torch.zeros_like(value, requires_grad=True)
    (vjp,) = torch.autograd.grad(value, leaf, u, create_graph=True, retain_graph=True,
                                 allow_unused=True, materialize_grads=True)  # fmt: skip
    eye = torch.zeros(leaf.numel(), dtype=leaf.dtype, device=leaf.device)

    def column(j: int) -> torch.Tensor:
        eye.zero_()
        eye[j] = 1
        return _grad(vjp, u, direction=eye.reshape(leaf.shape)).reshape(-1)

    columns = _stacked(leaf.numel(), column)  # (leaf elements, value elements)
    return columns.T.reshape((*value.shape, *leaf.shape))


def _cotangent(req: Request, out: torch.Tensor) -> torch.Tensor:
    """--cotangent's v as a tensor shaped like the output ``out`` it multiplies."""
    v = materialize(req.cotangent, torch.float64, torch.device("cpu"))
    if tuple(v.shape) != tuple(out.shape):
        raise BadInput(
            f"--cotangent has shape {list(v.shape)}, but the output it weights has shape "
            f"{list(out.shape)}",
            "give one value per output element (y.backward(v) needs v shaped like y)",
        )
    return v.to(device=out.device, dtype=out.dtype)


def jacobian_of(value: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """The full Jacobian d value / d leaf, shape value.shape + leaf.shape, in as few autograd
    passes as it takes: one reverse pass per output element, or one forward (Jacobian-vector)
    pass per leaf element where the leaf is smaller (a broadcast scalar takes one pass)."""
    if leaf.numel() < value.numel() and value.requires_grad:
        try:
            return _jacobian_columns(value, leaf)
        except RuntimeError:  # no double backward through some op: one row per output
            pass
    return _jacobian_rows(value, leaf)


def _evaluate_loss(spec: registry.FunctionSpec, req: Request, device: torch.device) -> Result:
    dtype = getattr(torch, req.dtype)
    params = dict(req.params)
    tensors, notes = _loss_tensors(spec, req, device, dtype)
    notes = [*spec.notes, *notes]
    leaves = {n: tensors[n].detach().requires_grad_(req.order > 0) for n in req.wrt}
    tensors.update(leaves)
    call = dict(tensors)
    if "w" in tensors:
        del call["x"], call["w"]
        call["pred"] = tensors["x"] * tensors["w"]
        shown = f" = {call['pred'].item():g}" if call["pred"].numel() == 1 else ""
        notes.append(f"pred = x·w{shown} (the tutorial's model; target y)")
    derivatives: dict[int, dict[str, np.ndarray]] = {}
    jacobian: dict[str, np.ndarray] = {}
    with _torch_calls(spec.command, req, device, notes):
        aligned = [n for n in spec.aligned if n in call]
        if len({tuple(call[n].shape) for n in aligned}) > 1:
            for name, t in zip(aligned, torch.broadcast_tensors(*(call[n] for n in aligned)),
                               strict=True):  # fmt: skip
                call[name] = t
        if spec.name == "ctc_loss":
            _ctc_lengths(call)
        notes += spec.lint(call, params)
        value = spec.call(F, call, params)
        if req.cotangent is not None:  # vᵀJ for every input, as value.backward(v)
            v = _cotangent(req, value)
            derivatives[1] = {
                n: _numpy(_grad(value, leaf, direction=v)) for n, leaf in leaves.items()
            }
        elif req.order and value.ndim == 0:
            grads = torch.autograd.grad(
                value,
                list(leaves.values()),
                create_graph=req.order > 1,
                allow_unused=True,
                materialize_grads=True,
            )
            derivatives[1] = {n: _numpy(g) for n, g in zip(leaves, grads, strict=True)}
            if req.order > 1:
                derivatives[2] = {
                    n: _numpy(_jacobian_rows(g, leaves[n]))
                    for n, g in zip(leaves, grads, strict=True)
                }
        elif req.order:
            derivatives[1] = {}
            for name, leaf in leaves.items():
                if leaf.numel() >= value.numel():  # losses of independent elements or samples
                    derivatives[1][name] = _numpy(_grad(value, leaf, False))
                else:  # a broadcast input (the model's w): every element's derivative
                    jacobian[name] = _numpy(jacobian_of(value, leaf))
            if not derivatives[1]:
                del derivatives[1]
    if req.order:
        note = _reduction_note(spec, {n: v.detach() for n, v in call.items()}, params)
        if note:
            notes.append(note)
    return Result(
        function=spec.name,
        params=params,
        dtype=req.dtype,
        device=str(device),
        torch=torch.__version__,
        inputs={n: _numpy(t) for n, t in tensors.items()},
        value=_numpy(value),
        pointwise=False,
        scalar=value.ndim == 0,
        derivatives=derivatives,
        jacobian=jacobian,
        notes=notes,
        kind=spec.kind,
    )


def _evaluate_expr(req: Request, device: torch.device) -> Result:
    from actgrad.core import expr

    dtype = getattr(torch, req.dtype)
    program = req.expression
    tensors: dict[str, torch.Tensor] = {}
    notes: list[str] = []
    for name, values in req.inputs.items():
        x64 = materialize(values, torch.float64, torch.device("cpu"))
        tensors[name] = x64.to(device=device, dtype=dtype)
        notes += _overflow_note(x64, tensors[name], req.dtype)
    leaves = {n: tensors[n].detach().requires_grad_(True) for n in req.wrt}
    tensors.update(leaves)
    unused = [n for n in req.inputs if n not in program.variables]
    if unused:
        zero = " (its derivative is 0)" if set(unused) & set(leaves) else ""
        notes.append(f"given but not used by the expression: {', '.join(unused)}{zero}")
    derivatives: dict[int, dict[str, np.ndarray]] = {}
    jacobian: dict[str, np.ndarray] = {}
    with _torch_calls("expr", req, device, notes):
        value = expr.run(program, list(req.calls), tensors, dtype, device)
        if value.dtype != dtype:
            value = value.to(dtype)
        v = _cotangent(req, value) if req.cotangent is not None else None
        for name, leaf in leaves.items():
            per_element = value.ndim == 0 or (program.elementwise and value.shape == leaf.shape)
            if v is not None:  # vᵀJ, as value.backward(v)
                derivatives.setdefault(1, {})[name] = _numpy(_grad(value, leaf, direction=v))
                continue
            if not per_element:
                jacobian[name] = _numpy(jacobian_of(value, leaf))
                continue
            out = value
            for k in range(1, req.order + 1):
                if value.ndim == 0 and leaf.ndim and k == 2:
                    derivatives.setdefault(2, {})[name] = _numpy(_jacobian_rows(out, leaf))
                    break
                out = _grad(out, leaf, create_graph=k < req.order)
                derivatives.setdefault(k, {})[name] = _numpy(out)
    symbolic: dict[str, str] = {}
    if req.symbolic:
        symbolic, more = expr.symbolic(program, list(req.calls), req.wrt)
        notes += more
    return Result(
        function="expr",
        params={"expression": program.text},
        dtype=req.dtype,
        device=str(device),
        torch=torch.__version__,
        inputs={n: _numpy(t) for n, t in tensors.items()},
        value=_numpy(value),
        pointwise=False,
        scalar=value.ndim == 0,
        derivatives=derivatives,
        jacobian=jacobian,
        notes=notes,
        kind="expr",
        symbolic=symbolic,
    )


def closed_form_derivative(spec: registry.FunctionSpec, x: np.ndarray, params: dict) -> np.ndarray:
    """The registry's closed-form derivative at ``x``, in float64."""
    t = torch.from_numpy(np.asarray(x, dtype=np.float64))
    return torch.broadcast_to(spec.derivative_fn(torch, t, params), t.shape).numpy()
