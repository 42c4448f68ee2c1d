"""The exact interpreter: every program's steps over Taylor series of intervals.

:func:`program.run` is the one stack machine; here are its operations in the reference's
arithmetic (:class:`Exact`). A value is a :class:`taylor.Taylor` (one element) or a numpy
object array of them. A registry function applies its entry's exact form by the form's
shape: to each element (with torch's side at a kink, order by order), to each slice along
its dim, or to the whole inputs (losses, norms), each with its parameters as torch's
kernel stores them in the request's dtype (:func:`arithmetic.stored_params`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..functions.arithmetic import orders_differ, stored_params
from ..functions.spec import FunctionSpec, Kink
from ..program import Call, Program
from ..program import run as program_run
from . import interval as mp
from . import reference, reference_losses, taylor
from .interval import mpf
from .reference import MAX_ORDER, NoReference
from .taylor import Taylor

CONSTANTS = {"pi": lambda: +mp.pi, "e": lambda: +mp.e}


def _each(fn: Callable[..., Taylor], *args: Any) -> Any:
    """``fn`` on single series directly, elementwise over (broadcast) arrays of them."""
    if isinstance(args[0], Taylor) and (len(args) == 1 or all(isinstance(a, Taylor) for a in args)):
        return fn(*args)
    return np.asarray(np.frompyfunc(fn, len(args), 1)(*args), dtype=object)


def _extreme(a: Taylor, b: Taylor, bigger: bool) -> Taylor:
    """maximum/minimum: torch splits the gradient evenly between ties."""
    if a.v == b.v:
        return (a + b) / 2
    return a if (a.v > b.v) == bigger else b


def _items(arr: Any) -> list[Taylor]:
    return [arr] if isinstance(arr, Taylor) else list(np.asarray(arr, dtype=object).reshape(-1))


def _reduce_extreme(arr: Any, bigger: bool) -> Taylor:
    items = _items(arr)
    best = max(i.v for i in items) if bigger else min(i.v for i in items)
    ties = [i for i in items if i.v == best]
    return reference_losses.total(np.asarray(ties, dtype=object)) / len(ties)


def _log1p(u: Taylor) -> Taylor:
    return taylor.log1p(u) if u.v > -1 else taylor.real_log(u + 1)


UNARY: dict[str, Callable[[Taylor], Taylor]] = {
    "exp": taylor.exp,
    "log": taylor.real_log,
    "log1p": _log1p,
    "expm1": taylor.expm1,
    "sqrt": taylor.real_sqrt,
    "abs": taylor.absolute,
    "sin": taylor.sin,
    "cos": taylor.cos,
    "tan": taylor.tan,
    "erf": taylor.erf,
}


def _clamp(call: Call, args: list[Any]) -> Any:
    """torch passes the gradient at the bounds."""
    low, high = call.params.get("min"), call.params.get("max")
    if len(args) > 1:
        raise NoReference("clamp with tensor bounds has no reference yet")

    def one(u: Taylor) -> Taylor:
        if low is not None and u.v < low:
            return u.const(low)
        if high is not None and u.v > high:
            return u.const(high)
        return u

    return _each(one, args[0])


def _math(call: Call, args: list[Any]) -> Any:
    name = call.name
    if name in UNARY:
        return _each(UNARY[name], args[0])
    if name in ("maximum", "minimum") or (name in ("max", "min") and len(args) == 2):
        bigger = name in ("maximum", "max")
        return _each(lambda a, b: _extreme(a, b, bigger), args[0], args[1])
    if name in ("max", "min"):
        return _reduce_extreme(args[0], name == "max")
    if name in ("sum", "mean"):
        items = _items(args[0])
        return reference_losses.total(np.asarray(items, dtype=object)) / (
            len(items) if name == "mean" else 1
        )
    if name == "norm":
        order = float(call.params["ord"])
        if not (math.isfinite(order) and order >= 1):
            raise NoReference("norm in an expression: the reference covers finite ord ≥ 1")
        return reference.pnorm(np.asarray(_items(args[0]), dtype=object), order)
    if name == "clamp":
        return _clamp(call, args)
    raise NoReference(f"{name} in an expression has no reference yet")


def _divide(a: Taylor, b: Taylor) -> Taylor:
    if b.v != 0:
        return a / b
    sign = mp.sign(a.v)
    return Taylor([mpf("inf") * sign if sign else mpf("nan"), *[mpf("nan")] * (len(a.c) - 1)])


BINARY: dict[str, Callable[[Taylor, Taylor], Taylor]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _divide,
    "**": taylor.real_power,
    "^": taylor.real_power,
}


class Applied:
    """One registry call's entry with its parameters as the kernel of each derivative order
    stores them in ``dtype`` and its kinks there; applies the exact form by its shape."""

    def __init__(self, spec: FunctionSpec, params: Mapping[str, Any], dtype: str) -> None:
        if spec.exact is None:
            raise NoReference(f"{spec.name} has no reference" + _why(spec))
        self.spec = spec
        given = {**spec.defaults(), **params}
        self.forward = stored_params(spec.stored, given, dtype)
        self.by_order = [self.forward]
        for k in range(1, MAX_ORDER + 1 if orders_differ(spec.stored) else 1):
            params = stored_params(spec.stored, given, dtype, k)
            self.by_order.append(self.by_order[-1] if params == self.by_order[-1] else params)
        self.kinks = {id(p): _kinks(spec, p) for p in self.by_order}
        self.uniform = all(p is self.forward for p in self.by_order)
        self.form = spec.exact
        self.shape = "element" if spec.elementwise else "slice" if spec.along_dim else "whole"

    def __call__(self, args: list[Any], names: tuple[str, ...], align: bool) -> Any:
        spec = self.spec
        if self.shape == "element":
            u = args[0]
            return self.element(u) if u.__class__ is Taylor else _each(self.element, u)
        if self.shape == "slice":
            return self.slices(args[0])
        inputs = dict(zip(names, (as_array(a) for a in args), strict=True))
        if align:
            aligned = [n for n in spec.aligned if n in inputs]
            if len({np.shape(inputs[n]) for n in aligned}) > 1:
                broadcast = np.broadcast_arrays(*(inputs[n] for n in aligned))
                inputs.update(
                    {
                        n: np.asarray(b, dtype=object)
                        for n, b in zip(aligned, broadcast, strict=True)
                    }
                )
        return spec.exact(reference_losses.OPS, inputs, self.forward)

    def element(self, u: Taylor) -> Taylor:
        """f(u), taking torch's side at a kink order by order (a branch test met with equality
        is one), and each order from the kernel of that order (its parameters, its arithmetic)."""
        form = self.form
        if self.uniform:
            reference.TIED[0] = False
            y = form(reference.OPS, u, self.forward)
            if not reference.TIED[0]:
                return y
            if u.v.__class__ is not mpf:  # many points (the fast tier): the tie's are left
                return taylor.arithmetic(u.v).at_kink(y)
        order = len(u.c) - 1
        jets: dict[int, list[Any]] = {}
        coefficients = []
        for k in range(order + 1):
            params = self.by_order[min(k, len(self.by_order) - 1)]
            if id(params) not in jets:
                jets[id(params)] = self._jet(form, params, u.v, order)
            coefficients.append(jets[id(params)][k])
        return taylor.compose(coefficients, u)

    def _jet(
        self, form: Callable[..., Taylor], params: Mapping[str, Any], v: Any, order: int
    ) -> list[Any]:
        """f's Taylor coefficients at v with ``params``, by torch's sides where v is a tie."""

        def once() -> list[Any]:
            return form(reference.OPS, Taylor.variable(v, order), params).c

        reference.TIED[0] = False
        plain = once()
        if not reference.TIED[0]:
            return plain
        sides = _at_kink(self.kinks[id(params)], v)
        return reference.by_side(once, sides) if sides else plain

    def slices(self, x: Any) -> Any:
        """The form on each slice along the dim (moved last and back)."""
        arr = as_array(x)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        moved = np.moveaxis(arr, self.forward["dim"], -1)
        rows = moved.reshape(-1, moved.shape[-1])
        out = [self.spec.exact(reference.OPS, list(row), self.forward) for row in rows]
        width = len(out[0]) if out else 0
        result = np.empty((len(out), width), dtype=object)
        for i, row in enumerate(out):
            result[i, :] = row
        return np.moveaxis(result.reshape(*moved.shape[:-1], width), -1, self.forward["dim"])


def _why(spec: FunctionSpec) -> str:
    return ": it draws random noise" if spec.stochastic else ""


def as_array(x: Any) -> np.ndarray:
    """A series or an array of them as an object array (a series: 0-d)."""
    if isinstance(x, Taylor):
        out = np.empty((), dtype=object)
        out[()] = x
        return out
    return np.asarray(x, dtype=object)


def _kinks(spec: FunctionSpec, params: Mapping[str, Any]) -> list[Kink]:
    return [k for k in spec.kinks(params) if k.sides and not isinstance(k.at, str)]


def _at_kink(kinks: list[Kink], v: Any) -> str:
    """torch's sides at the tie ``v`` is at: the kink there, or (a branch test in the kernel's
    arithmetic ties at other inputs than its kink, softplus's β·x = threshold) the only one."""
    for kink in kinks:
        if v == kink.at:
            return kink.sides
    return kinks[0].sides if len(kinks) == 1 else ""


class Exact:
    """Taylor series over intervals as the operations of :func:`program.run`: ``variables``
    by name (series or arrays of them, each ``order + 1`` long), in ``dtype``'s kernels."""

    def __init__(
        self,
        variables: Mapping[str, Any],
        order: int,
        dtype: str,
        applied: dict[int, Applied] | None = None,
    ) -> None:
        self.variables = variables
        self.order = order
        self.dtype = dtype
        self.applied = {} if applied is None else applied  # one per call, kept across points

    def number(self, value: float) -> Taylor:
        return Taylor([mpf(value), *[mpf(0)] * self.order])

    def name(self, name: str) -> Any:
        value = self.variables.get(name)
        if value is None:
            return Taylor([CONSTANTS[name](), *[mpf(0)] * self.order])
        return value

    def neg(self, a: Any) -> Any:
        return -a

    def binary(self, op: str, a: Any, b: Any) -> Any:
        return _each(BINARY[op], a, b)

    def call(self, call: Call, args: list[Any]) -> Any:
        if call.target == "math":
            return _math(call, args)
        applied = self.applied.get(id(call))
        if applied is None:
            applied = Applied(call.spec, call.params, self.dtype)
            self.applied[id(call)] = applied
        return applied(args, call.args, call.align)


def run(program: Program, ops: Exact) -> Any:
    """The program's value: a series, or an array of them."""
    return program_run(program, ops)
