"""A standalone reproducer of one number torch computed for a request: Python that imports only
torch, builds the same inputs from their exact bits, makes the same calls in the same dtype on
the same device, takes the same derivative the same way, and asserts against the true value.

The calls are not written by hand per function: the request's program runs once under a
:class:`torch.overrides.TorchFunctionMode` that records every torch call it makes (what
``F.prelu`` or ``layer_norm``'s ``movedim`` really are), and the calls the output depends on
become the reproducer's lines. The derivative is taken as :mod:`..evaluator.derivatives` takes
it (the gradient of the sum, repeated for higher orders; a one-hot seed for a Jacobian row).
:func:`verify` runs the code and compares the number it gives with torch's, bit for bit.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BadParameter
from ..program import Program
from ..request import Request
from ..words import shortest

OPERATORS = {
    "__add__": "+",
    "__radd__": "+",
    "__sub__": "-",
    "__rsub__": "-",
    "__mul__": "*",
    "__rmul__": "*",
    "__truediv__": "/",
    "__rtruediv__": "/",
    "__pow__": "**",
    "__rpow__": "**",
}
METHOD_OPERATORS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}
PUBLIC = ("torch", "torch.nn.functional", "torch.linalg", "torch.special")
LANES = 64  # actgrad computes elementwise programs in chunks padded to this many lanes


@dataclass(frozen=True)
class Where:
    """One number of a result: its field (``grad.x``), the field's shape and the element."""

    path: str  # value, grad.x, grad2.x, jacobian.x, …
    shape: tuple[int, ...]
    flat: int

    @property
    def quantity(self) -> str:
        return self.path.split(".")[0]

    @property
    def order(self) -> int:
        q = self.quantity
        return 0 if q == "value" else 1 if q in ("grad", "jacobian") else int(q[4:])

    @property
    def leaf(self) -> str | None:
        return self.path.split(".", 1)[1] if "." in self.path else None

    @property
    def index(self) -> tuple[int, ...]:
        return tuple(int(i) for i in np.unravel_index(self.flat, self.shape)) if self.shape else ()


# ----------------------------------------------------------------------------------------------
# numbers and tensors as Python source


def number_text(v: float, dtype: str) -> str:
    """``v`` (a value of ``dtype``) as source that torch reads back as the same bits: the
    shortest decimal of the dtype where it round-trips through a Python float into the dtype,
    ``float.fromhex`` where it would not."""
    if math.isnan(v):
        return 'float("nan")'
    if math.isinf(v):
        return 'float("inf")' if v > 0 else '-float("inf")'
    text = shortest(v, dtype)
    if _round_trips(float(text), v, dtype):
        return text
    return f'float.fromhex("{float(v).hex()}")'


def _round_trips(read: float, v: float, dtype: str) -> bool:
    import torch

    back = torch.tensor(read, dtype=getattr(torch, dtype)).to(torch.float64).item()
    return back == v or (math.isnan(back) and math.isnan(v))


def _nested(values: np.ndarray, dtype: str) -> str:
    if values.ndim == 0:
        return number_text(float(values), dtype)
    return "[" + ", ".join(_nested(v, dtype) for v in values) + "]"


def tensor_text(t: Any, requires_grad: bool = False) -> str:
    """A tensor as ``torch.tensor(…)`` source with its exact values, dtype and device."""
    import torch

    dtype = str(t.dtype).removeprefix("torch.")
    data = t.detach().to("cpu")
    if t.dtype.is_floating_point:
        values = _nested(data.to(torch.float64).numpy(), dtype)
    else:
        values = repr(data.tolist())
    extra = "" if t.device.type == "cpu" else f', device="{t.device}"'
    grad = ", requires_grad=True" if requires_grad else ""
    return f"torch.tensor({values}, dtype=torch.{dtype}{extra}{grad})"


def _range_text(values: Any, dtype: str, device: str, grad: bool) -> str | None:
    """``torch.linspace(a, b, n, …)`` where the input is one range ``a:b:n``: made as actgrad
    makes it (in the dtype on the CPU, then moved), so bit for bit the same; None otherwise."""
    from ..parse.inputs import Linspace

    pieces = getattr(values, "pieces", ())
    if len(pieces) != 1 or not isinstance(pieces[0], Linspace) or len(values.shape) != 1:
        return None
    r = pieces[0]
    ends = f"{number_text(r.start, 'float64')}, {number_text(r.stop, 'float64')}"
    text = f"torch.linspace({ends}, {r.count}, dtype=torch.{dtype})"
    if device != "cpu":
        text += f'.to("{device}")'
    return text + (".requires_grad_()" if grad else "")


def filled_text(v: float, shape: tuple[int, ...], dtype: str, device: str, grad: bool) -> str:
    """``torch.full(shape, v, …)``: every element the same input."""
    extra = "" if device == "cpu" else f', device="{device}"'
    grad_text = ", requires_grad=True" if grad else ""
    return f"torch.full({shape!r}, {number_text(v, dtype)}, dtype=torch.{dtype}{extra}{grad_text})"


# ----------------------------------------------------------------------------------------------
# the forward calls, recorded


@dataclass
class _Call:
    func: Any
    args: tuple
    kwargs: dict
    out: Any


def _recorder() -> Any:
    from torch.overrides import TorchFunctionMode

    class Recorder(TorchFunctionMode):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[_Call] = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            self.calls.append(_Call(func, tuple(args), dict(kwargs), out))
            return out

    return Recorder()


_PATHS: dict[int, str] = {}


def _public(func: Any) -> str | None:
    """The public spelling of a torch function (torch.linalg.vector_norm for its C name)."""
    import importlib

    if not _PATHS:
        for module in PUBLIC:
            ns = importlib.import_module(module)
            for name in dir(ns):
                if not name.startswith("_"):
                    _PATHS.setdefault(id(getattr(ns, name)), f"{module}.{name}")
    return _PATHS.get(id(func))


class _Source:
    """Names for tensors (inputs, then each call's result) and source text for arguments."""

    def __init__(self, names: Mapping[int, str]) -> None:
        self.names = dict(names)

    def arg(self, a: Any) -> str:
        import torch

        if isinstance(a, torch.Tensor):
            return self.names.get(id(a)) or tensor_text(a)
        if isinstance(a, torch.dtype):
            return f"torch.{str(a).removeprefix('torch.')}"
        if isinstance(a, torch.device):
            return repr(str(a))
        if isinstance(a, torch.Size):
            return repr(tuple(a))
        if isinstance(a, float):
            return number_text(a, "float64")
        if isinstance(a, slice):
            parts = ["" if p is None else self.arg(p) for p in (a.start, a.stop, a.step)]
            return ":".join(parts[:2]) + (f":{parts[2]}" if a.step is not None else "")
        if a is Ellipsis:
            return "..."
        if isinstance(a, tuple):
            inner = ", ".join(self.arg(v) for v in a)
            return f"({inner},)" if len(a) == 1 else f"({inner})"
        if isinstance(a, list):
            return "[" + ", ".join(self.arg(v) for v in a) + "]"
        return repr(a)

    def call(self, call: _Call) -> str:
        func, args, kwargs = call.func, call.args, call.kwargs
        name = getattr(func, "__name__", "")
        qual = getattr(func, "__qualname__", "") or ""
        kwargs = {k: v for k, v in kwargs.items() if v is not None and not k.startswith("_")}
        listed = [self.arg(a) for a in args] + [f"{k}={self.arg(v)}" for k, v in kwargs.items()]
        written = self._syntax(func, name, args, kwargs)
        if written is not None:
            return written
        method = qual.startswith(("TensorBase.", "Tensor."))
        path = _public(func)
        if path is not None and not method:
            return f"{path}({', '.join(listed)})"
        if method:
            return self._method(name, args, kwargs, listed)
        return f"{qual or name}({', '.join(listed)})"  # never seen: said as is

    def _syntax(self, func: Any, name: str, args: tuple, kwargs: dict) -> str | None:
        """An indexing, an operator, a negation or a property as Python writes it."""
        if name == "__getitem__":
            index = args[1] if isinstance(args[1], tuple) else (args[1],)
            return f"{self.arg(args[0])}[{', '.join(self.arg(i) for i in index)}]"
        if name in OPERATORS and len(args) == 2:
            a, b = (args[1], args[0]) if name.startswith("__r") else args
            return f"{self.arg(a)} {OPERATORS[name]} {self.arg(b)}"
        if name in ("__neg__", "neg") and len(args) == 1 and not kwargs:
            return f"-{self.arg(args[0])}"
        if name == "__get__":  # a tensor property (x.T)
            return f"{self.arg(args[0])}.{func.__self__.__name__}"
        return None

    @staticmethod
    def _method(name: str, args: tuple, kwargs: dict, listed: list[str]) -> str:
        """A tensor method: an operator, torch's function of one tensor, or the method."""
        import torch

        if name in METHOD_OPERATORS and len(args) == 2 and not kwargs:
            return f"{listed[0]} {METHOD_OPERATORS[name]} {listed[1]}"
        if len(args) == 1 and not kwargs and callable(getattr(torch, name, None)):
            return f"torch.{name}({listed[0]})"  # x.sigmoid() is torch.sigmoid(x)
        return f"{listed[0]}.{name}({', '.join(listed[1:])})"  # as the method was called


def forward_lines(
    program: Program,
    variables: Mapping[str, Any],
    dtype: Any,
    device: Any,
    shown: Mapping[str, str] | None = None,
) -> tuple[list[str], Any, str]:
    """(source lines, the output tensor, the name of the main call) of ``program`` run on
    ``variables``: every recorded torch call the output depends on, in order; a variable is
    written as ``shown`` names it in the script (its own name by default)."""
    import torch

    from ..evaluator.engine import Forward

    recorder = _recorder()
    with recorder:
        out = Forward(dtype, device)(program, dict(variables))
    if out.dtype != dtype:
        out = out.to(dtype)
    produced: dict[int, int] = {}
    for i, call in enumerate(recorder.calls):
        outs = call.out if isinstance(call.out, tuple | list) else (call.out,)
        for o in outs:
            if isinstance(o, torch.Tensor):
                produced.setdefault(id(o), i)
    needed: set[int] = set()
    stack = [produced[id(out)]] if id(out) in produced else []
    while stack:
        i = stack.pop()
        if i in needed:
            continue
        needed.add(i)
        call = recorder.calls[i]
        for a in _tensors((call.args, call.kwargs)):
            if id(a) in produced and produced[id(a)] < i:
                stack.append(produced[id(a)])
    shown = shown or {}
    source = _Source({id(t): shown.get(n, n) for n, t in variables.items()})
    lines: list[str] = []
    main = ""
    kept = sorted(needed)
    for count, i in enumerate(kept, 1):
        call = recorder.calls[i]
        name = "y" if count == len(kept) else f"t{count}"
        lines.append(f"{name} = {source.call(call)}")
        if isinstance(call.out, tuple | list):
            for j, o in enumerate(call.out):
                source.names[id(o)] = f"{name}[{j}]"
        else:
            source.names[id(call.out)] = name
        main = _title_name(call.func) or main
    if not kept:  # the output is an input itself
        lines.append(f"y = {source.arg(out)}")
    return lines, out, main


def _tensors(obj: Any) -> list[Any]:
    import torch

    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _tensors(v)]
    if isinstance(obj, tuple | list):
        return [t for v in obj for t in _tensors(v)]
    return []


def _title_name(func: Any) -> str:
    """torch.sigmoid for a method, torch.nn.functional.gelu for a functional call."""
    import torch

    name = getattr(func, "__name__", "")
    if name.startswith("_") or name in ("to", "reshape", "movedim", "new_tensor", "new_full"):
        return ""
    path = _public(func)
    if path is not None:
        return path
    return f"torch.{name}" if callable(getattr(torch, name, None)) else ""


# ----------------------------------------------------------------------------------------------
# the derivative, as the evaluator takes it


def _derivative_lines(
    req: Request, where: Where, y_shape: tuple[int, ...], shown: Mapping[str, str]
) -> tuple[list[str], str]:
    """(lines, the expression of the number) for ``where``'s quantity of ``y``; the leaf is
    written as ``shown`` names it in the script."""
    program = req.program
    k, leaf = where.order, shown.get(where.leaf or "x", where.leaf)
    lines: list[str] = []
    element = _element(where.index)
    if k == 0:
        return lines, f"y{element}"
    if req.cotangent is not None:
        return ["v = " + _cotangent_text(req), f"(g,) = torch.autograd.grad(y, {leaf}, v)"], (
            f"g{element}"
        )
    if program.dim is not None:
        dim = program.dim
        if req.index is None:
            *batch, i, j = where.index
            lines += [
                f"seed = torch.zeros_like(y)  # output {i} of every slice along dim {dim}",
                f"seed.movedim({dim}, -1)[..., {i}] = 1",
                f"(row,) = torch.autograd.grad(y, {leaf}, seed)",
            ]
            return lines, f"row.movedim({dim}, -1){_element((*batch, j))}"
        picked = f"y.movedim({dim}, -1)[..., {req.index}].sum()"
        grad = "torch.autograd.grad({}, {}{})"
        lines.append(f"(g,) = {grad.format(picked, leaf, ', create_graph=True' if k > 1 else '')}")
        if k == 1:
            return lines, f"g{element}"
        *batch, i, j = where.index
        lines += [
            "seed = torch.zeros_like(g)",
            f"seed.movedim({dim}, -1)[..., {i}] = 1",
            f"(row,) = torch.autograd.grad(g, {leaf}, seed)",
        ]
        return lines, f"row.movedim({dim}, -1){_element((*batch, j))}"
    if where.quantity == "jacobian" or (k == 2 and not y_shape and where.shape != ()):
        out = "y"
        if where.quantity != "jacobian":  # a scalar's Hessian: rows of its gradient
            lines.append(f"(g,) = torch.autograd.grad(y, {leaf}, create_graph=True)")
            out = "g"
        size = int(np.prod(where.shape[len(where.shape) // 2 :], dtype=np.int64))
        if where.quantity == "jacobian":
            size = _leaf_size(req, where.leaf)
        row, col = divmod(where.flat, size)
        matrix = "Jacobian" if out == "y" else "Hessian"
        lines += [
            f"seed = torch.zeros_like({out})",
            f"seed.view(-1)[{row}] = 1  # row {row} of the {matrix}",
            f"(row,) = torch.autograd.grad({out}, {leaf}, seed)",
        ]
        return lines, f"row.reshape(-1)[{col}]"
    out = "y"
    for order in range(1, k + 1):
        graph = ", create_graph=True" if order < k else ""
        name = f"g{order}" if k > 1 else "g"
        lines.append(f"({name},) = torch.autograd.grad({out}.sum(), {leaf}{graph})")
        out = name
    return lines, f"{out}{element}"


def _element(index: tuple[int, ...]) -> str:
    return f"[{', '.join(str(i) for i in index)}]" if index else ""


def _leaf_size(req: Request, leaf: str | None) -> int:
    values = req.inputs[leaf or "x"]
    return int(np.prod(values.shape, dtype=np.int64)) if values.shape else 1


def _cotangent_text(req: Request) -> str:
    import torch

    from ..evaluator.engine import materialize

    v = materialize(req.cotangent, torch.float64, torch.device("cpu"))
    return tensor_text(v.to(getattr(torch, req.dtype)))


# ----------------------------------------------------------------------------------------------
# the reproducer


@dataclass
class Reproducer:
    code: str  # the whole script
    call: str  # the torch call the number comes from, as a title names it ("" if none stands out)
    lanes: bool  # the input is LANES copies of the point (the scalar path gives another number)
    scalar_gives: float | None  # with lanes: what the 0-dim tensor gives instead


# names the script itself uses: a variable of the user's with one of them is renamed
SCRIPT_NAMES = {"torch", "y", "g", "v", "seed", "row", "actual", "expected", "tolerance"}
_OWN = re.compile(r"[tg][0-9]+")


def script_names(names: Iterable[str]) -> dict[str, str]:
    """{a variable's name: its name in the script}: itself, unless Python or the script
    already means something by it (lambda, print, torch, y, t1): then ``name_``."""
    import builtins
    import keyword

    taken = SCRIPT_NAMES | set(dir(builtins))
    out: dict[str, str] = {}
    for name in names:
        shown = name
        while (
            not shown.isidentifier()
            or keyword.iskeyword(shown)
            or keyword.issoftkeyword(shown)
            or shown in taken
            or _OWN.fullmatch(shown)
            or shown in out.values()
        ):
            shown += "_"
        out[name] = shown
    return out


def _inputs(
    req: Request, inputs: Mapping[str, np.ndarray], where: Where, form: str, shown: dict
) -> tuple[dict[str, Any], list[str]]:
    """The input tensors of one form ("whole": the request's own; "scalar": the point as 0-dim
    tensors; "lanes": LANES copies of the point in each input shaped like the output) and
    their source lines."""
    import torch

    from ..evaluator.engine import resolve_device

    dtype = getattr(torch, req.dtype)
    device = resolve_device(req.device)  # auto: the device the request ran on
    leaves = set(req.wrt) if where.order > 0 else set()
    tensors: dict[str, Any] = {}
    lines: list[str] = []
    for name, array in inputs.items():
        grad = name in leaves
        if req.program.kinds.get(name) == "index":
            t = torch.tensor(array.astype(np.int64), device=device)
            text = tensor_text(t)
        elif form == "whole":
            t = torch.tensor(array, dtype=torch.float64).to(device=device, dtype=dtype)
            text = _range_text(req.inputs.get(name), req.dtype, str(device), grad)
            text = text or tensor_text(t, grad)
        else:
            full = array.shape == where.shape
            point = float(array.reshape(-1)[where.flat if full else 0])
            shape = (LANES,) if form == "lanes" and full else ()
            t = torch.full(shape, point, dtype=torch.float64).to(device=device, dtype=dtype)
            text = filled_text(point, shape, req.dtype, str(device), grad) if shape else None
            text = text or tensor_text(t, grad)
        if grad:
            t.requires_grad_(True)
        tensors[name] = t
        lines.append(f"{shown[name]} = {text}")
    return tensors, lines


@dataclass(frozen=True)
class Claim:
    """What the reproducer asserts: the true value (float64), its digits, and the tolerance
    in ulps of the dtype (one ulp there, as a float64)."""

    expected: float
    digits: str
    ulps: float
    ulp: float


def build(
    req: Request,
    inputs: Mapping[str, np.ndarray],
    where: Where,
    got: float,
    claim: Claim,
) -> tuple[Reproducer, float | None, str]:
    """The reproducer of torch's number ``got`` at ``where``, what it gives here (None: it
    raised) and what it prints. Elementwise programs try the point alone first; where torch's
    scalar code gives another number than the vectorized code actgrad ran, LANES copies."""
    forms = ["whole"]
    if _elementwise(req):  # the point alone, then its lanes; the whole input where it is short
        ranges = all(_range_text(v, "float64", "cpu", False) for v in req.inputs.values())
        forms = ["scalar", "lanes", *(["whole"] if ranges else [])]
    tried: list[tuple[Reproducer, float | None, str]] = []
    for form in forms:
        code, call = _script(req, inputs, where, form, claim)
        gives, printed = run(code)
        scalar = tried[0][1] if tried else None
        found = Reproducer(code, call, form == "lanes", scalar)
        tried.append((found, gives, printed))
        if gives is not None and same(gives, got):
            break
    return tried[-1]


def same(a: float, b: float) -> bool:
    """The same float, bit for bit (NaN is NaN, -0.0 is not 0.0)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def _elementwise(req: Request) -> bool:
    program = req.program
    return (
        program.elementwise
        and not program.stochastic
        and req.cotangent is None
        and program.dim is None
    )


def _script(
    req: Request,
    inputs: Mapping[str, np.ndarray],
    where: Where,
    form: str,
    claim: Claim,
) -> tuple[str, str]:
    """(the script of one form, the name of its main call)."""
    import torch

    shown = script_names(inputs)
    tensors, input_lines = _inputs(req, inputs, where, form, shown)
    dtype = getattr(torch, req.dtype)
    device = next(iter(tensors.values())).device if tensors else torch.device("cpu")
    forward, out, call = forward_lines(req.program, tensors, dtype, device, shown)
    at = Where(where.path, tuple(out.shape) if where.order == 0 else where.shape, where.flat)
    if form != "whole":
        at = Where(where.path, tuple(out.shape), 0)
    derivative, number = _derivative_lines(req, at, tuple(out.shape), shown)
    tolerance = claim.ulps * claim.ulp
    lines = [
        "import torch",
        "",
        *input_lines,
        *forward,
        *derivative,
        f"actual = {number}.item()",
        f"expected = {number_text(claim.expected, 'float64')}  # the true value: {claim.digits}",
        f"tolerance = {number_text(tolerance, 'float64')}  # {claim.ulps:g} ulps of "
        f"{req.dtype} at the true value",
        'print("torch:   ", actual)',
        'print("expected:", expected)',
        "assert abs(actual - expected) <= tolerance, "
        'f"torch gives {actual}, the true value is {expected}"',
    ]
    if form == "lanes":
        lines.insert(
            2,
            f"# {LANES} copies of the input: torch's vectorized kernel, as a tensor of many "
            "elements takes it (a 0-dim tensor takes its scalar code, which gives another number)",
        )
    return "\n".join(lines) + "\n", call


def run(code: str) -> tuple[float | None, str]:
    """Run a reproducer here: its ``actual`` (None when it raised before setting it) and what
    it printed, with the assertion's message as Python would show it."""
    import traceback

    scope: dict[str, Any] = {"__name__": "__reproducer__"}
    printed = io.StringIO()
    ended = True
    with contextlib.redirect_stdout(printed):
        try:
            exec(compile(code, "<reproducer>", "exec"), scope)  # our own generated code
        except AssertionError as exc:  # its own last line: torch's number is not the truth
            printed.write("".join(traceback.format_exception_only(exc)))
        except Exception as exc:  # what it raises is part of what it prints
            printed.write("".join(traceback.format_exception_only(exc)))
            ended = False  # a script that fails before its end reproduces nothing
    value = scope.get("actual") if ended else None
    return (float(value) if isinstance(value, int | float) else None), printed.getvalue()


def refuse(req: Request) -> None:
    """BadParameter where a report cannot follow the request."""
    if req.program is None:
        raise BadParameter("--report needs a request", "give a function or an expression")
    if req.program.stochastic:
        raise BadParameter(
            "--report cannot reproduce a function that draws random numbers",
            "use --check alone",
        )
