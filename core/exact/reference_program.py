"""Ground truth for expressions: a program's steps run over numpy arrays of :class:`taylor.Taylor`
in arbitrary precision, the same stack machine as the evaluator's with mpmath for torch.

Derivatives are forward mode: for an elementwise program, one pass per variable with every
element seeded (each output element depends on its own input element only), to any order;
otherwise one order-1 pass per element of the variable (a gradient or a Jacobian column).
Registry activations are :mod:`reference`'s formulas, losses :mod:`reference_losses`'s;
functions along a dim inside an expression have no reference yet.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..evaluator.program import Call, Program
from ..evaluator.program import run as program_run
from ..functions import registry
from . import interval as mp
from . import reference, reference_losses, taylor
from .interval import mpf
from .reference import NoReference, converge
from .taylor import Taylor

CONSTANTS = {"pi": lambda: +mp.pi, "e": lambda: +mp.e}


def _each(fn: Callable[..., Taylor], *arrays: Any) -> np.ndarray:
    out = np.frompyfunc(fn, len(arrays), 1)(*arrays)
    return np.asarray(out, dtype=object)


def _pair(fn: Callable[[Taylor, Taylor], Taylor]) -> Callable[[Any, Any], np.ndarray]:
    return lambda a, b: _each(fn, a, b)


def _extreme(a: Taylor, b: Taylor, bigger: bool) -> Taylor:
    """maximum/minimum: torch splits the gradient evenly between ties."""
    if a.v == b.v:
        return (a + b) / 2
    return a if (a.v > b.v) == bigger else b


UNARY: dict[str, Callable[[Taylor], Taylor]] = {
    "exp": taylor.exp,
    "log": taylor.real_log,
    "log1p": lambda u: taylor.log1p(u) if u.v > -1 else taylor.real_log(u + 1),
    "expm1": taylor.expm1,
    "sqrt": taylor.real_sqrt,
    "abs": taylor.absolute,
    "sin": taylor.sin,
    "cos": taylor.cos,
    "tan": taylor.tan,
    "erf": taylor.erf,
}


def _reduce_extreme(arr: np.ndarray, bigger: bool) -> Taylor:
    items = list(np.asarray(arr, dtype=object).reshape(-1))
    best = max(i.v for i in items) if bigger else min(i.v for i in items)
    ties = [i for i in items if i.v == best]
    total = ties[0]
    for item in ties[1:]:
        total = total + item
    return total / len(ties)  # torch's amax/amin: the gradient split evenly between ties


def _math(call: Call, args: list[np.ndarray]) -> Any:
    name = call.name
    if name in UNARY:
        return _each(UNARY[name], args[0])
    if name in ("maximum", "minimum") or (name in ("max", "min") and len(args) == 2):
        bigger = name in ("maximum", "max")
        return _each(lambda a, b: _extreme(a, b, bigger), args[0], args[1])
    if name in ("max", "min"):
        return np.asarray(_reduce_extreme(args[0], name == "max"), dtype=object)
    if name in ("sum", "mean"):
        total = reference_losses.total(args[0])
        return np.asarray(total / (args[0].size if name == "mean" else 1), dtype=object)
    if name == "norm":
        order = float(call.params["ord"])
        items = np.asarray(args[0], dtype=object)
        if not (math.isfinite(order) and order >= 1):
            raise NoReference("norm in an expression: the reference covers finite ord ≥ 1")
        return np.asarray(reference_losses.pnorm(items, order), dtype=object)
    if name == "clamp":  # torch passes the gradient at the bounds
        low = call.params.get("min")
        high = call.params.get("max")
        if len(args) > 1:
            raise NoReference("clamp with tensor bounds has no reference yet")

        def one(u: Taylor) -> Taylor:
            if low is not None and u.v < low:
                return u.const(low)
            if high is not None and u.v > high:
                return u.const(high)
            return u

        return _each(one, args[0])
    raise NoReference(f"{name} in an expression has no reference yet")


def _call(call: Call, args: list[np.ndarray]) -> Any:
    if call.target == "math":
        return _math(call, args)
    spec = registry.get(call.target)
    if spec.kind == "activation":
        fn = reference.exact_form(spec.name)
        if fn is None or not spec.pointwise:
            raise NoReference(f"{spec.name} inside an expression has no reference yet")
        return _each(lambda u: fn(u, call.params), args[0])
    inputs = dict(zip(call.args, args, strict=True))
    if call.align:
        aligned = [n for n in spec.aligned if n in inputs]
        shapes = {np.shape(inputs[n]) for n in aligned}
        if len(shapes) > 1:
            broadcast = np.broadcast_arrays(*(inputs[n] for n in aligned))
            inputs.update(
                {n: np.asarray(b, dtype=object) for n, b in zip(aligned, broadcast, strict=True)}
            )
    return reference_losses.exact_loss(spec.name)(inputs, call.params)


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _pair(lambda a, b: a / b if b.v != 0 else _divide_by_zero(a, b)),
    "**": _pair(taylor.real_power),
    "^": _pair(taylor.real_power),
}


def _divide_by_zero(a: Taylor, b: Taylor) -> Taylor:
    sign = mp.sign(a.v)
    return Taylor([mpf("inf") * sign if sign else mpf("nan"), *[mpf("nan")] * (len(a.c) - 1)])


def run(program: Program, variables: Mapping[str, np.ndarray]) -> np.ndarray:
    """The program's value as an array of Taylor series (variables: arrays of them)."""
    order = max(
        (
            len(np.asarray(v, dtype=object).reshape(-1)[0].c) - 1
            for v in variables.values()
            if np.size(v)
        ),
        default=1,
    )  # constants' length
    return np.asarray(program_run(program, _Exact(variables, order)), dtype=object)


@dataclass
class _Exact:
    """Taylor series over intervals as the operations of :func:`program.run`."""

    variables: Mapping[str, np.ndarray]
    order: int

    def number(self, value: float) -> np.ndarray:
        return np.asarray(Taylor([mpf(value), *[mpf(0)] * self.order]), dtype=object)

    def name(self, name: str) -> np.ndarray:
        value = self.variables.get(name)
        if value is None:
            value = np.asarray(Taylor([CONSTANTS[name](), *[mpf(0)] * self.order]), dtype=object)
        return value

    def neg(self, a: np.ndarray) -> np.ndarray:
        return -a

    def binary(self, op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(BINARY[op](a, b), dtype=object)

    def call(self, call: Call, args: list[np.ndarray]) -> np.ndarray:
        return np.asarray(_call(call, args), dtype=object)


def _jets(values: np.ndarray, order: int, seed: int | None, everywhere: bool) -> np.ndarray:
    flat = np.asarray(values, dtype=np.float64).reshape(-1).tolist()
    out = np.empty(len(flat), dtype=object)
    for k, v in enumerate(flat):
        seeded = everywhere or k == seed
        out[k] = Taylor([mpf(v), mpf(1 if seeded else 0), *[mpf(0)] * (order - 1)][: order + 1])
    return out.reshape(np.shape(values))


def expression(
    program: Program, inputs: Mapping[str, np.ndarray], forms: Mapping[str, tuple[str, int]]
) -> tuple[list[Any], dict[str, Any], list[bool], dict[str, list[bool]]]:
    """(the value, flat; {variable: derivatives}; whether each value settled; {variable:
    whether each derivative did}). ``forms[name]`` is ("elementwise", order): f′ … f⁽ᵒʳᵈᵉʳ⁾
    per element, one pass; or ("columns", 1): ∂value/∂name_k, one pass per element k,
    value-major."""
    size = sum(np.size(v) for v in inputs.values()) or 1
    passes = 1 + sum(np.size(inputs[n]) for n, (form, _) in forms.items() if form == "columns")
    if passes * size > reference_losses.MAX_WORK:
        raise NoReference(
            f"too large for the arbitrary-precision reference ({passes} passes "
            f"over {size} elements)"
        )
    top = max((k for _, k in forms.values()), default=0)

    def attempt() -> list[Any]:
        base = {n: _jets(v, max(top, 1), None, False) for n, v in inputs.items()}
        value = run(program, base).reshape(-1)
        out = [j.c[0] for j in value]
        for name, (form, order) in forms.items():
            if form == "elementwise":
                seeded = {**base, name: _jets(inputs[name], order, None, True)}
                ys = run(program, seeded).reshape(-1)
                out += [d for j in ys for d in j.derivatives()[1 : order + 1]]
                continue
            for k in range(np.size(inputs[name])):
                seeded = {**base, name: _jets(inputs[name], 1, k, False)}
                out += [j.c[1] for j in run(program, seeded).reshape(-1)]
        return out

    values = np.concatenate(
        [np.asarray(v, dtype=np.float64).reshape(-1) for v in inputs.values()] or [np.zeros(0)]
    )
    start = reference_losses.start_bits(values)
    flat, ok = converge(attempt, start)
    m = _value_size(len(flat), inputs, forms)
    value, rest, rest_ok = flat[:m], flat[m:], ok[m:]
    derivatives: dict[str, Any] = {}
    settled: dict[str, list[bool]] = {}
    for name, (form, order) in forms.items():
        count = m * order if form == "elementwise" else m * np.size(inputs[name])
        derivatives[name], settled[name] = rest[:count], rest_ok[:count]
        rest, rest_ok = rest[count:], rest_ok[count:]
    return value, derivatives, ok[:m], settled


def _value_size(
    total: int, inputs: Mapping[str, np.ndarray], forms: Mapping[str, tuple[str, int]]
) -> int:
    """m from total = m·(1 + Σ orders of elementwise forms + Σ sizes of column forms)."""
    per = 1 + sum(
        order if form == "elementwise" else np.size(inputs[name])
        for name, (form, order) in forms.items()
    )
    return total // per
