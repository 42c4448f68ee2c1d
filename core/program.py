"""Programs: what every request becomes before evaluation, whatever front end made it.

A program is a flat list of steps in postfix order over named variables: ``sigmoid --x 0.5``
is ``x sigmoid()``, ``mse --w 3`` is ``x w * target mse_loss(pred, target)``, an expression
is what its parser made of it, and a batch group is a function's program with x bound to many
points. :mod:`engine` evaluates any program the same way. No torch here.

Steps: ``("num", value)``, ``("name", variable or constant)``, ``("neg",)``, ``("bin", op)``
and ``("call", Call, number of arguments)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .cost import broadcast_shape
from .functions.spec import FunctionSpec


@dataclass(frozen=True)
class Call:
    """A call of a registry function (``spec`` its entry, resolved where the program is made;
    ``target`` its name) or of a math function (``target == "math"``, no spec). A registry
    loss names the tensor input of each argument in ``args``; ``align`` broadcasts its aligned
    inputs explicitly (the command line's ``--broadcast`` and scalar targets) instead of
    leaving it to torch, which warns."""

    name: str
    target: str
    params: Mapping[str, Any] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    align: bool = False
    spec: FunctionSpec | None = field(default=None, compare=False, repr=False)


class Operations(Protocol):
    """What a program's steps mean in one arithmetic: torch's (the evaluator), Taylor series
    over intervals (the reference), or sympy's (--symbolic)."""

    def number(self, value: float) -> Any: ...
    def name(self, name: str) -> Any: ...  # a variable, or a constant such as pi
    def neg(self, a: Any) -> Any: ...
    def binary(self, op: str, a: Any, b: Any) -> Any: ...
    def call(self, call: Call, args: list[Any]) -> Any: ...


def run(program: Program, ops: Operations) -> Any:
    """The program's value in ``ops``' arithmetic: the one interpreter of the steps (a stack
    machine, no recursion)."""
    stack: list[Any] = []
    for step in program.steps:
        kind = step[0]
        if kind == "num":
            stack.append(ops.number(step[1]))
        elif kind == "name":
            stack.append(ops.name(step[1]))
        elif kind == "neg":
            stack.append(ops.neg(stack.pop()))
        elif kind == "bin":
            b, a = stack.pop(), stack.pop()
            stack.append(ops.binary(step[1], a, b))
        else:
            call, nargs = step[1], step[2]
            args = stack[len(stack) - nargs :]
            del stack[len(stack) - nargs :]
            stack.append(ops.call(call, args))
    return stack.pop()


@dataclass(frozen=True)
class Program:
    """Steps over ``variables``, and what the evaluator needs to know to differentiate it.

    ``elementwise``: every step maps element i to element i (derivatives are per element and
    values may be computed in chunks); ``separable``: each output element depends on its own
    sample only (a loss with reduction none: the gradient of the sum is each one's);
    ``dim``: the function works along this dim (Jacobians per slice); ``function``: the
    registry function a command evaluates (its notes, kinks and conventions apply);
    ``kinds``: variables bound as whole numbers ("index": class indices, lengths) or as at
    least one-dimensional ("vector": a function along a dim given one number)."""

    steps: tuple[tuple, ...]
    variables: tuple[str, ...]
    elementwise: bool
    shape: tuple[int, ...] = ()
    text: str = ""
    graph: int = 0  # elements of every intermediate (and a loss's broadcast inside it)
    largest: int = 0  # elements of the largest intermediate
    separable: bool = False
    dim: int | None = None
    function: str | None = None
    kinds: Mapping[str, str] = field(default_factory=dict)
    stochastic: bool = False
    spec: FunctionSpec | None = field(default=None, compare=False, repr=False)  # function's

    def calls(self) -> Iterator[Call]:
        """Every call, in evaluation order."""
        return (step[1] for step in self.steps if step[0] == "call")


def of_function(
    spec: FunctionSpec,
    shapes: Mapping[str, tuple[int, ...]],
    params: Mapping[str, Any],
) -> Program:
    """The program of one command: ``spec`` called on its inputs (``shapes`` by name, in the
    order they were given; an activation's is ``x``; a loss may have the model's x and w)."""
    if not spec.reduces:
        call = Call(spec.name, spec.name, dict(params), spec=spec)
        shape = shapes["x"]
        return Program(
            (("name", "x"), ("call", call, 1)),
            ("x",),
            spec.pointwise,
            shape,
            dim=None if spec.pointwise else params["dim"],
            function=spec.name,
            spec=spec,
            kinds={} if spec.pointwise else {"x": "vector"},
            stochastic=spec.stochastic,
        )
    steps: list[tuple] = []
    args: list[str] = []
    if "w" in shapes:  # the tutorial's model: pred = x·w
        steps += [("name", "x"), ("name", "w"), ("bin", "*")]
        args.append("pred")
    pred_shape = shapes.get("pred")
    kinds = {}
    for meta in spec.inputs:
        if meta.name in shapes and meta.name not in args:
            steps.append(("name", meta.name))
            args.append(meta.name)
            if meta.kind == "index" or (meta.kind == "target" and shapes[meta.name] != pred_shape):
                kinds[meta.name] = "index"
    call = Call(spec.name, spec.name, dict(params), tuple(args), align=True, spec=spec)
    steps.append(("call", call, len(args)))
    return Program(
        tuple(steps),
        tuple(shapes),
        False,
        separable=params.get("reduction") == "none",
        function=spec.name,
        spec=spec,
        kinds=kinds,
    )


def derivative_form(
    program: Program,
    value_shape: tuple[int, ...],
    leaf_shape: tuple[int, ...],
    index: int | None = None,
    direction: bool = False,
) -> str:
    """How a leaf's derivatives are taken, for torch's evaluator and the reference alike:

    - "vjp": vᵀJ for a cotangent v (as ``value.backward(v)`` fills ``leaf.grad``);
    - "slice-jacobian" / "slice-index": a function along the program's dim: its Jacobian per
      slice, or the gradient of output ``index`` (and, at order 2, its Hessian per slice);
    - "orders": repeated differentiation (an elementwise program and a leaf of the value's
      shape, or a scalar value; a scalar's second derivative in a vector is its Hessian);
    - "sum": a separable program (a loss with reduction none) and a leaf at least as large
      as the value: the gradient of the sum, each element's own derivative;
    - "jacobian": otherwise, the whole Jacobian."""
    if direction:
        return "vjp"
    if program.dim is not None:
        return "slice-jacobian" if index is None else "slice-index"
    if (program.elementwise and tuple(leaf_shape) == tuple(value_shape)) or not value_shape:
        return "orders"
    if program.separable and math.prod(leaf_shape) >= math.prod(value_shape):
        return "sum"
    return "jacobian"


def elementwise_shape(program: Program, shapes: Mapping[str, tuple[int, ...]]) -> tuple | None:
    """The output shape of an elementwise program over variables of ``shapes``, when each
    variable it uses is either that shape or a single number (so the program can be evaluated
    a slice of elements at a time); else None."""
    if not program.elementwise or program.stochastic:
        return None
    used = [shapes[n] for n in program.variables]
    out = broadcast_shape(used) if used else ()
    if out is None or not all(s == out or math.prod(s) == 1 for s in used):
        return None
    return out
