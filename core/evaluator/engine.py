"""The evaluator: any program (a command, a loss, an expression, a batch group) evaluated with
torch on a device and dtype, its derivatives taken by :mod:`derivatives`, as a Result."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..cost import broadcast_numel
from ..errors import BadInput, BadParameter, DeviceUnavailable, EvaluationFailed
from ..functions import registry
from ..parse.expr import CONSTANTS, OPERATORS
from ..parse.inputs import Linspace, Values
from ..parse.options import device_name
from ..program import Call, Program, elementwise_shape, of_function, run
from ..request import Request
from ..result import Result
from ..words import counted, counted_are, shortest
from . import symbolic
from .derivatives import Derivatives, differentiate
from .notes import (
    PRIMES,
    kink_notes,
    nan_derivative_notes,
    overflow_note,
    reduction_note,
)

# judge(spec, params, dtype, order, x, [value, f′, …], device): the accuracy notes of an
# elementwise result (actgrad.core.accuracy.notes.judge; the evaluator does not import it)
Judge = Callable[..., list[str]]

CHUNK = 16_384  # under torch's parallel grain size: one thread, never split mid-vector
LANES = 64  # chunks are padded to a multiple of this: every element takes the SIMD kernels


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
                f"device {name!r} is not available: this machine has "
                f"{counted(count, 'CUDA device')}",
                "use cuda:0" if count == 1 else f"use one of cuda:0 to cuda:{count - 1}",
            )
        return torch.device("cuda", ordinal)
    if name == "mps" and not torch.backends.mps.is_available():
        raise DeviceUnavailable(
            f"device 'mps' is not available in torch {torch.__version__} on this machine",
            "use --device cpu, or --device auto",
        )
    return torch.device(name)


def resolved(device: object, where: str = " (from --device or ACTGRAD_DEVICE)") -> str:
    """The device a --device name means on this machine (auto: the best one present; cuda:
    the current one) as torch names it, "cpu" when none is given; BadParameter for a name
    that is none, DeviceUnavailable (one line, exit 2) for one this machine lacks."""
    return str(resolve_device(device_name(device, where)))


def materialize(
    values: Values, dtype: torch.dtype, device: torch.device, where: str = "the input"
) -> torch.Tensor:
    """The tensor of parsed values in ``dtype``: numbers as float64, then one cast; a range
    ``a:b:n`` as torch.linspace(a, b, n, dtype=dtype) itself, bit for bit (BadInput when its
    ends, width or step overflow the dtype)."""
    parts = []
    for piece in values.pieces:
        if isinstance(piece, Linspace):
            parts.append(
                _linspace(piece, dtype if dtype.is_floating_point else torch.float64, where)
            )
        else:
            parts.append(torch.frombuffer(piece, dtype=torch.float64) if len(piece) else None)
    parts = [p.to(dtype) for p in parts if p is not None] or [torch.zeros(0, dtype=dtype)]
    flat = parts[0] if len(parts) == 1 else torch.cat(parts)
    return flat.reshape(values.shape).to(device=device)


def _linspace(piece: Linspace, dtype: torch.dtype, where: str) -> torch.Tensor:
    name = str(dtype).removeprefix("torch.")
    text = f"{piece.start:g}:{piece.stop:g}:{piece.count}"
    try:
        t = torch.linspace(piece.start, piece.stop, piece.count, dtype=dtype)
    except RuntimeError:  # an end beyond the dtype's largest number
        raise BadInput(
            f"the range {text} in {where} has an end that {name} cannot hold",
            f"give ends within ±{torch.finfo(dtype).max:g}",
        ) from None
    if not bool(torch.isfinite(t).all()):
        largest = torch.finfo(dtype).max
        width = abs(piece.stop - piece.start)
        why = (
            f"its width {width:g} is more than {name} holds (±{largest:g})"
            if width > largest
            else f"a point of it rounds past {name}'s largest number (±{largest:g})"
        )
        raise BadInput(
            f"the range {text} in {where} overflows {name}: {why}",
            "narrow the range (or split it in two)",
        )
    return t


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A tensor as a numpy array on the CPU (bfloat16 as float32, which holds it exactly)."""
    t = t.detach().to("cpu")
    if t._is_zerotensor():  # autograd's symbolic zero (l1's second derivative): real zeros
        t = torch.zeros(t.shape, dtype=t.dtype)
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()


def apply(spec: registry.FunctionSpec, x: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """An activation called as torch.nn.functional calls it (or as its spec says)."""
    if spec.call is not None:
        return spec.call(F, x, params)
    return getattr(F, spec.name)(x, **params)


def whole(t64: torch.Tensor, option: str) -> torch.Tensor:
    if not bool(torch.isfinite(t64).all()) or not torch.equal(t64, t64.round()):
        raise BadInput(f"{option} holds indices or counts: whole numbers only", "e.g. 0, 2, -1")
    return t64.to(torch.int64)


MATH = {
    "exp": torch.exp,
    "log": torch.log,
    "log1p": torch.log1p,
    "expm1": torch.expm1,
    "sqrt": torch.sqrt,
    "abs": torch.abs,
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "erf": torch.special.erf,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "sum": torch.sum,
    "mean": torch.mean,
}


@dataclass
class Forward:
    """torch's operations for :func:`program.run`. A loss call's arguments are kept for the
    notes about it; its lint notes are collected."""

    dtype: torch.dtype
    device: torch.device
    lint: list[str] = field(default_factory=list)
    loss_args: dict[str, torch.Tensor] | None = None
    variables: Mapping[str, torch.Tensor] = field(default_factory=dict)

    def __call__(self, program: Program, variables: Mapping[str, torch.Tensor]) -> torch.Tensor:
        self.variables = variables
        return run(program, self)

    def number(self, value: float) -> torch.Tensor:
        return torch.tensor(value, dtype=self.dtype, device=self.device)

    def name(self, name: str) -> torch.Tensor:
        value = self.variables.get(name)
        return self.number(CONSTANTS[name]) if value is None else value

    def neg(self, a: torch.Tensor) -> torch.Tensor:
        return -a

    def binary(self, op: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return OPERATORS[op](a, b)

    def call(self, call: Call, args: list[torch.Tensor]) -> torch.Tensor:
        if call.target == "math":
            return _math(call, args)
        spec = call.spec
        if not spec.reduces:
            x = args[0]
            return apply(
                spec, x.reshape(1) if not spec.pointwise and x.ndim == 0 else x, call.params
            )
        tensors: dict[str, torch.Tensor] = {}
        for name, arg in zip(call.args, args, strict=True):
            meta = spec.tensor_input(name)
            kind = meta.kind if meta is not None else "float"
            index = kind == "index" or (kind == "target" and arg.shape != args[0].shape)
            if index and arg.dtype.is_floating_point:
                arg = whole(arg.detach(), meta.option)
            tensors[name] = arg
        if call.align:
            aligned = [n for n in spec.aligned if n in tensors]
            if len({tuple(tensors[n].shape) for n in aligned}) > 1:
                broadcast = torch.broadcast_tensors(*(tensors[n] for n in aligned))
                tensors.update(zip(aligned, broadcast, strict=True))
        spec.complete(torch, tensors)
        self.lint += spec.lint(tensors, call.params)
        self.loss_args = tensors
        return spec.call(F, tensors, call.params)


def _math(call: Call, args: list[torch.Tensor]) -> torch.Tensor:
    name = call.name
    if name in ("min", "max"):
        if len(args) == 1:
            return (torch.amin if name == "min" else torch.amax)(args[0])
        return (torch.minimum if name == "min" else torch.maximum)(*args)
    if name == "norm":
        return torch.linalg.vector_norm(args[0], call.params["ord"])
    if name == "clamp":
        return torch.clamp(*args, **call.params)
    return MATH[name](*args)


PARALLEL_ELEMENTS = 1 << 17  # tensors from this many elements on use torch's thread pool
_THREADS: list[int] = []  # torch's own intra-op thread count, read once


def torch_threads() -> int:
    """torch's own intra-op thread count (OMP_NUM_THREADS, else the cores), as it started."""
    if not _THREADS:
        _THREADS.append(torch.get_num_threads())
    return _THREADS[0]


def threads_for(elements: int) -> None:
    """One intra-op thread for a request whose tensors are small (most requests: their work
    is below torch's grain size anyway, and a pool's idle threads spin against whatever else
    runs on the machine); torch's own count for a large one, which keeps its speed-up."""
    want = 1 if elements < PARALLEL_ELEMENTS else torch_threads()
    if torch.get_num_threads() != want:
        torch.set_num_threads(want)


@dataclass
class Computed:
    """A program's value and derivatives as tensors, with what was said along the way."""

    inputs: dict[str, torch.Tensor]
    value: torch.Tensor
    derivatives: Derivatives
    jacobian: dict[str, torch.Tensor]
    input_notes: list[str]
    lint: list[str]
    warnings: list[str]
    loss_args: dict[str, torch.Tensor] | None
    device: torch.device


def compute(req: Request) -> Computed:
    """Evaluate the request's program and its derivatives: the one evaluation routine."""
    program = req.program
    device = resolve_device(req.device)
    for call in program.calls():
        if call.target != "math":
            spec = call.spec
            if device.type == "cpu" and req.dtype in spec.no_cpu_kernel(call.params):
                raise BadParameter(
                    f"torch has no {req.dtype} kernel for {spec.command} on the CPU",
                    "use --dtype float32 or float64 (or a CUDA device)",
                )
    dtype = getattr(torch, req.dtype)
    inputs, input_notes = _bind(req, program, device, dtype)
    threads_for(max([program.largest, *(t.numel() for t in inputs.values())]))
    forward = Forward(dtype, device)
    names = [n for n in req.wrt if n in inputs]
    command = program.function.replace("_", "-") if program.function else "expr"
    with _torch_calls(command, req.dtype, device) as caught:
        if program.stochastic:
            torch.manual_seed(req.seed)
        shape = elementwise_shape(program, {n: tuple(t.shape) for n, t in inputs.items()})
        chunked = (
            device.type == "cpu"
            and shape is not None
            and all(n in program.variables and tuple(inputs[n].shape) == shape for n in names)
        )
        run = _chunked if chunked else _whole
        value, derivatives, jacobian = run(req, program, forward, inputs, names, shape)
    return Computed(
        inputs,
        value,
        derivatives,
        jacobian,
        input_notes,
        forward.lint,
        [f"torch warned: {w.message}" for w in caught],
        forward.loss_args,
        device,
    )


def _bind(
    req: Request, program: Program, device: torch.device, dtype: torch.dtype
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Each input as a tensor (whole numbers as int64), and notes on overflow in the cast."""
    tensors: dict[str, torch.Tensor] = {}
    notes: list[str] = []
    for name, values in req.inputs.items():
        option = "--" + name.replace("_", "-")
        x64 = materialize(values, torch.float64, torch.device("cpu"), option)
        kind = program.kinds.get(name)
        if kind == "index":
            tensors[name] = whole(x64, option).to(device)
            continue
        if dtype == torch.float64 or not any(isinstance(p, Linspace) for p in values.pieces):
            t = x64.to(device=device, dtype=dtype)
        else:  # a range is torch.linspace in the dtype itself, not float64's values rounded
            t = materialize(values, dtype, device, option)
        notes += overflow_note(x64, t, req.dtype)
        tensors[name] = t.reshape(1) if kind == "vector" and t.ndim == 0 else t
    return tensors, notes


def _whole(req: Request, program: Program, forward: Forward, inputs: dict, names: list, shape):
    """The program on whole tensors, then its derivatives."""
    variables = dict(inputs)
    leaves = {n: inputs[n].detach().requires_grad_(req.order > 0) for n in names}
    variables.update(leaves)
    value = forward(program, variables)
    if value.dtype != forward.dtype:
        value = value.to(forward.dtype)
    v = _cotangent(req, value) if req.cotangent is not None else None
    shapes = [tuple(t.shape) for t in inputs.values() if t.dtype.is_floating_point]
    graph = max(program.largest, broadcast_numel(shapes) if shapes else 1)
    derivatives, jacobian = differentiate(program, value, leaves, req.order, req.index, v, graph)
    inputs.update({n: leaf.detach() for n, leaf in leaves.items()})
    return value, derivatives, jacobian


def _chunked(req: Request, program: Program, forward: Forward, inputs: dict, names: list, shape):
    """An elementwise program a chunk of elements at a time.

    torch's CPU kernels compute a tensor's tail (its last size mod 32 elements) with scalar
    code that can differ from the vectorized code in the last ulp. Evaluating in chunks padded
    to a multiple of LANES makes every element's result independent of what else is in the
    tensor: a value is bit-identical asked alone, in a list, or coalesced in batch mode. (On
    CUDA and MPS the program runs as one call.)"""
    full = {n for n in program.variables if tuple(inputs[n].shape) == shape}
    flat = {n: t.reshape(-1) for n, t in inputs.items() if n in full}
    count = int(np.prod(shape, dtype=np.int64))
    v_flat = None
    if req.cotangent is not None:
        v_flat = _cotangent(req, torch.empty(shape, dtype=forward.dtype)).reshape(-1)
    values: list[torch.Tensor] = []
    parts: dict[tuple[int, str], list[torch.Tensor]] = {}
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        pad = -size % LANES
        variables = {
            n: t.reshape(()) if n in program.variables else t  # one number, or unused
            for n, t in inputs.items()
            if n not in full
        }
        for n, t in flat.items():
            part = t[start : start + size]
            variables[n] = torch.cat([part, part[-1:].expand(pad)]) if pad else part
        leaves = {n: variables[n].detach().requires_grad_(req.order > 0) for n in names}
        variables.update(leaves)
        out = forward(program, variables)
        if out.dtype != forward.dtype:
            out = out.to(forward.dtype)
        if out.shape != (size + pad,):  # a constant (1+1, exp(2)): the same at every element
            out = out.expand(size + pad)
        v = None
        if v_flat is not None:
            v = v_flat[start : start + size]
            v = torch.cat([v, v.new_zeros(pad)]) if pad else v
        derivatives, _ = differentiate(program, out, leaves, req.order, None, v)
        values.append(out.detach()[:size])
        for k, grads in derivatives.items():
            for n, g in grads.items():
                parts.setdefault((k, n), []).append(g.detach()[:size])
    derivatives: Derivatives = {}
    for (k, n), pieces in parts.items():
        derivatives.setdefault(k, {})[n] = torch.cat(pieces).reshape(shape)
    return torch.cat(values).reshape(shape), derivatives, {}


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


@contextmanager
def _torch_calls(command: str, dtype: str, device: torch.device):
    """Run torch: warnings are caught (they become notes), a RuntimeError becomes
    EvaluationFailed and a ValueError (torch's own input validation) BadInput."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    except ValueError as exc:
        raise BadInput(f"torch rejected the input of {command}: {exc}", "fix the input") from None
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        changes = {"--dtype float64": dtype != "float64", "--device cpu": device.type != "cpu"}
        elsewhere = " or ".join(option for option, differs in changes.items() if differs)
        raise EvaluationFailed(
            f"torch could not evaluate {command} in {dtype} on {device}: {first}",
            f"try {elsewhere}" if elsewhere else "see torch's message; change the input",
        ) from None


def torch_result(req: Request, judge: Judge | None = None) -> Result:
    """Evaluate a validated request: value, derivatives and notes, as plain numpy arrays;
    ``judge`` adds what the accuracy report or the live reference says (core.evaluate's)."""
    return result_of(req, compute(req), judge=judge)


def result_of(
    req: Request, done: Computed, own_notes: bool = True, judge: Judge | None = None
) -> Result:
    """The Result of a computed request: the one result builder, for one-offs and batch groups
    alike. Without ``own_notes`` it carries only the function's fixed notes (a batch group's
    rows get their own from :func:`activation_notes`, row by row)."""
    program = req.program
    spec = program.spec
    kind = "expr" if spec is None else spec.kind  # the result's, for its renderers
    activation = spec is not None and not spec.reduces
    x = {n: to_numpy(t) for n, t in done.inputs.items()}
    value = to_numpy(done.value)
    derivatives = {
        k: {n: to_numpy(g) for n, g in grads.items()} for k, grads in done.derivatives.items()
    }
    notes: list[str] = []
    if spec is not None:
        notes += spec.standing_notes(req.dtype, req.order) if activation else spec.notes
    params = dict(req.params)
    if activation and spec.stochastic:
        params["seed"] = req.seed
    if own_notes:
        notes += _own_notes(req, done, spec, x, value, derivatives, judge)
    formulas: dict[str, str] = {}
    if req.symbolic:
        formulas, more = symbolic.symbolic(program, req.wrt)
        notes += more
    result = Result(
        function=program.function or "expr",
        spec=spec,
        params=params,
        dtype=req.dtype,
        device=str(done.device),
        torch=torch.__version__,
        inputs=x,
        value=value,
        pointwise=activation and spec.pointwise,
        scalar=value.ndim == 0,
        derivatives=derivatives,
        jacobian={n: to_numpy(j) for n, j in done.jacobian.items()},
        index=req.index,
        notes=notes,
        kind=kind,
        symbolic=formulas,
    )
    if req.cotangent is not None:
        cast = materialize(req.cotangent, getattr(torch, req.dtype), torch.device("cpu"))
        result.cotangent = to_numpy(cast)
    return result


def _own_notes(
    req: Request,
    done: Computed,
    spec: Any,
    x: dict,
    value: Any,
    derivatives: dict,
    judge: Judge | None,
) -> list[str]:
    """What a result says of its own inputs and outputs: overflow on the cast, the model, unused
    variables, the domain, torch's warnings, kinks and regions, the reduction."""
    notes = list(done.input_notes)
    if spec is not None and "w" in done.inputs and done.loss_args is not None:  # the model
        pred = done.loss_args["pred"]
        shown = f" = {pred.item():g}" if pred.numel() == 1 else ""
        notes.append(f"pred = x·w{shown} (the tutorial's model; target y)")
    unused = [n for n in req.inputs if n not in req.program.variables]
    if unused:
        zero = " (its derivative is 0)" if set(unused) & set(req.wrt) else ""
        notes.append(f"given but not used by the expression: {', '.join(unused)}{zero}")
    notes += done.lint + done.warnings
    if spec is not None and not spec.reduces:
        notes += activation_notes(
            spec,
            dict(req.params),
            req.dtype,
            req.order,
            done.inputs["x"],
            x["x"],
            value,
            derivatives,
            judge=judge,
        )
    elif spec is not None and req.order and done.loss_args is not None:
        args = {n: t.detach() for n, t in done.loss_args.items()}
        note = reduction_note(spec, args, req.params)
        if note:
            notes.append(note)
    return notes


def activation_notes(
    spec: registry.FunctionSpec,
    params: dict,
    dtype: str,
    order: int,
    x: torch.Tensor,
    x_np: np.ndarray,
    value: np.ndarray,
    derivatives: dict[int, dict[str, np.ndarray]],
    scalar_note: bool = True,
    judge: Judge | None = None,
) -> list[str]:
    """Kinks and regions hit, nan inputs, nan derivatives, measured accuracy, the scalar
    kernel's numbers (unless ``scalar_note`` is False: a batch group adds them from its own
    arrays), gumbel's hard one-hot: what an activation's result says besides its numbers (a
    one-off's, and each row of a batch group's, by this same code)."""
    notes = kink_notes(spec, x, params, order)
    nans = int(np.isnan(x_np).sum())
    if nans and order:
        notes.append(
            f"{counted_are(nans, 'input')} nan: derivatives there are whatever torch's kernels "
            "return "
            "and carry no meaning"
        )
    if spec.pointwise:
        notes += nan_derivative_notes(spec.name, x_np, derivatives)
        if judge is not None:
            got = [value, *got_derivatives(derivatives)]
            notes += judge(spec, params, dtype, order, x_np, got, str(x.device))
    if scalar_note:
        got = [value, *got_derivatives(derivatives)]
        notes += scalar_code_notes(spec, params, dtype, order, x, got)
    notes += spec.param_notes(params)
    return notes


def got_derivatives(derivatives: dict[int, dict[str, np.ndarray]]) -> list[np.ndarray]:
    return [derivatives[k]["x"] for k in sorted(derivatives)]


SCALAR_POINTS = 64  # inputs up to this many are also evaluated as torch's scalar code runs them


def scalar_code(spec: registry.FunctionSpec, params: dict, x: torch.Tensor, order: int) -> list:
    """[value, f′, …] at each element of ``x`` as torch's scalar (not vectorized) code gives
    them: the evaluator's own program and derivatives on a strided copy of ``x``, where every
    element takes the loop a 0-dim tensor takes (``F.gelu(torch.tensor(-4.0))``), and the last
    elements of a tensor whose size is not a multiple of the vector width."""
    flat = x.detach().reshape(-1)
    spread = torch.empty(2 * flat.numel(), dtype=flat.dtype, device=flat.device)[::2]
    leaf = spread.copy_(flat).requires_grad_(order > 0)
    program = of_function(spec, {"x": tuple(leaf.shape)}, params)
    forward = Forward(flat.dtype, flat.device)
    with _torch_calls(spec.name, str(flat.dtype).removeprefix("torch."), flat.device):
        out = forward(program, {"x": leaf})
        derivatives, _ = differentiate(program, out, {"x": leaf}, order)
    found = [out, *(derivatives[k]["x"] for k in sorted(derivatives))]
    return [to_numpy(t).reshape(x.shape) for t in found]


def scalar_code_differs(got: list[np.ndarray], scalar: list[np.ndarray]) -> np.ndarray:
    """Where (flat) any quantity differs between the two kernels (nan is nan)."""
    differs = np.zeros(np.size(got[0]), dtype=bool)
    for a, b in zip(got, scalar, strict=True):
        a, b = np.reshape(a, -1), np.reshape(b, -1)
        differs |= ~((a == b) | (np.isnan(a) & np.isnan(b)))
    return differs


def scalar_code_notes(
    spec: registry.FunctionSpec,
    params: dict,
    dtype: str,
    order: int,
    x: torch.Tensor,
    got: list[np.ndarray],
    scalar: list[np.ndarray] | None = None,
) -> list[str]:
    """Where torch's scalar code gives other numbers than the vectorized kernel actgrad shows
    (a learner's ``F.gelu(torch.tensor(-4.0))`` against ``actgrad gelu --x -4``): both.
    ``scalar``: the scalar code's numbers, when the caller has them."""
    if (
        x.device.type != "cpu"
        or not spec.pointwise
        or spec.stochastic
        or not 0 < x.numel() <= SCALAR_POINTS
    ):
        return []
    scalar = scalar_code(spec, params, x, order) if scalar is None else scalar
    differs = scalar_code_differs(got, scalar)
    if not differs.any():
        return []
    i = int(np.flatnonzero(differs)[0])
    pairs = [
        (k, float(np.reshape(g, -1)[i]), float(np.reshape(s, -1)[i]))
        for k, (g, s) in enumerate(zip(got, scalar, strict=True))
        if scalar_code_differs([g], [s])[i]
    ]
    point = float(x.detach().reshape(-1)[i])
    return [scalar_code_text(spec.name, dtype, pairs, point, x.ndim == 0, int(differs.sum()) - 1)]


def scalar_code_text(
    name: str,
    dtype: str,
    pairs: list[tuple[int, float, float]],
    point: float,
    alone: bool,
    more: int = 0,
) -> str:
    """:func:`scalar_code_notes`' note: ``pairs`` (order, vectorized, scalar) of the quantities
    that differ at ``point`` (``alone``: a 0-dim input, "here"), and ``more`` inputs besides."""
    said = ", ".join(
        f"{name}{PRIMES[k]} {shortest(s, dtype)} (vectorized: {shortest(g, dtype)})"
        for k, g, s in pairs
    )
    shown = shortest(point, dtype)
    where = "here" if alone else f"at x = {shown}"
    if more:
        where += f" (and at {counted(more, 'more input')})"
    return (
        f"torch's scalar code gives {said} {where}: a 0-dim tensor "
        f"(torch.tensor({shown})) and a tensor's last few elements take it; the numbers shown "
        "are the vectorized kernel's, which every element of a larger tensor, and batch, gets"
    )


def closed_form_derivative(spec: registry.FunctionSpec, x: np.ndarray, params: dict) -> np.ndarray:
    """The registry's closed-form derivative at ``x``, in float64 throughout (a constant
    such as leaky_relu's slope in torch.where is float64 too, not the default float32)."""
    t = torch.from_numpy(np.asarray(x, dtype=np.float64))
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        out = spec.derivative_fn(torch, t, params)
    finally:
        torch.set_default_dtype(default)
    return torch.broadcast_to(out, t.shape).to(torch.float64).numpy()
