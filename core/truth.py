"""The arbitrary-precision reference of a whole result: for each of its numeric fields
(``value``, ``grad.x``, ``grad2.x``, ``jacobian.x``, …) a :class:`reference.Truth` of the same
shape, from :mod:`reference` (activations) or :mod:`reference_losses` (losses, the norm)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from actgrad.core import reference, reference_losses, reference_program, registry
from actgrad.core.program import Program
from actgrad.core.reference import NoReference, Truth, decimal, split
from actgrad.core.result import Result
from mpmath import mp


def _truth(values: list[Any], shape: tuple[int, ...], digits: bool, converged: bool) -> Truth:
    hi = np.empty(len(values))
    lo = np.empty(len(values))
    for i, v in enumerate(values):
        hi[i], lo[i] = split(v)
    text = None
    if digits:
        with mp.workdps(reference.DIGITS + 10):
            text = np.array([decimal(v) for v in values], dtype=object).reshape(shape)
    return Truth(hi.reshape(shape), lo.reshape(shape), text, converged)


CHECK_POINTS = 20_000  # --check and --exact: the reference's points at most (accuracy: its own)


def truths(
    result: Result, program: Program | None = None, digits: bool = False,
    progress: Callable[[int], None] | None = None, limit: int | None = CHECK_POINTS,
) -> tuple[dict[str, Truth], list[str]]:  # fmt: skip
    """({path: Truth}, what has no reference and why). Raises NoReference when nothing has,
    or when the inputs hold more than ``limit`` numbers (mpmath takes ~0.1 ms a point).
    An expression's result needs its ``program``."""
    size = sum(v.size for v in result.inputs.values())
    if limit is not None and size > limit:
        raise NoReference(f"{size:,} input numbers are more than the {limit:,} the "
                          "arbitrary-precision reference checks at once; actgrad accuracy "
                          "sweeps a range")  # fmt: skip
    if result.cotangent is not None:
        raise NoReference("a --cotangent product has no reference yet")
    if result.kind == "expr":
        if program is None:
            raise NoReference("an expression's reference needs its program")
        return _expression(program, result, digits)
    spec = registry.get(result.function)
    if spec.kind == "activation" and spec.pointwise:
        order = max(result.derivatives, default=0)
        found = reference.elementwise(
            spec.name, result.params, result.inputs["x"], order, digits, progress
        )
        out = {"value": found[0]}
        out.update({f"{'grad' if k == 1 else f'grad{k}'}.x": found[k] for k in range(1, order + 1)})
        return out, []
    if spec.kind == "activation":
        return _along_dim(spec, result, digits)
    return _loss(spec, result, digits)


def _along_dim(spec: registry.FunctionSpec, result: Result, digits: bool) -> tuple[
        dict[str, Truth], list[str]]:  # fmt: skip
    if spec.stochastic:
        raise NoReference(f"{spec.name} draws random noise: no reference")
    dim = result.params["dim"]
    moved = np.moveaxis(result.inputs["x"].astype(np.float64), dim, -1)
    n = moved.shape[-1]
    rows = moved.reshape(-1, n)
    ys, jacs, ok = [], [], True
    for row in rows.tolist():
        y, jac, converged = reference.along_dim(spec.name, result.params, row)
        ys.append(y)
        jacs.append(jac)
        ok &= converged
    m = len(ys[0]) if ys else 0
    batch = moved.shape[:-1]
    value = _truth([v for y in ys for v in y], (*batch, m), digits, ok)
    out = {"value": _moved(value, dim)}
    missing = []
    if result.jacobian:
        flat = [v for jac in jacs for r in jac for v in r]
        out["jacobian.x"] = _truth(flat, (*batch, m, n), digits, ok)
    if 1 in result.derivatives:
        i = result.index
        grads = _truth([v for jac in jacs for v in jac[i]], (*batch, n), digits, ok)
        out["grad.x"] = _moved(grads, dim)
    if 2 in result.derivatives:
        missing.append("grad2.x: the Hessian of one output has no reference yet")
    return out, missing


def _moved(truth: Truth, dim: int) -> Truth:
    def back(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.moveaxis(a, -1, dim)

    return Truth(back(truth.hi), back(truth.lo), back(truth.text), truth.converged)


def _loss(spec: registry.FunctionSpec, result: Result, digits: bool) -> tuple[
        dict[str, Truth], list[str]]:  # fmt: skip
    inputs = dict(result.inputs)
    wrt = [*result.derivatives.get(1, {}), *(n for n in result.jacobian
                                           if n not in result.derivatives.get(1, {}))]  # fmt: skip
    model = spec.model and "w" in inputs
    value, grads, ok = reference_losses.loss(spec.name, result.params, inputs, wrt, model)
    shape = result.value.shape
    out = {"value": _truth(value, shape, digits, ok)}
    m = len(value)
    for name in wrt:
        flat, k = grads[name]  # pass-major: flat[j·m + i] = ∂value_i/∂input_j
        in_shape = inputs[name].shape
        if name in result.jacobian:
            jac = [flat[j * m + i] for i in range(m) for j in range(k)]
            out[f"jacobian.{name}"] = _truth(jac, (*shape, *in_shape), digits, ok)
        if name in result.derivatives.get(1, {}):
            with mp.workprec(4096):  # each sum has one term or a few
                summed = [mp.fsum(flat[j * m : (j + 1) * m]) for j in range(k)]
            out[f"grad.{name}"] = _truth(summed, in_shape, digits, ok)
    missing = [f"grad2.{n}: second derivatives of losses have no reference yet"
               for n in result.derivatives.get(2, {})]  # fmt: skip
    return out, missing


def _expression(program: Program, result: Result, digits: bool) -> tuple[
        dict[str, Truth], list[str]]:  # fmt: skip
    forms: dict[str, tuple[str, int]] = {name: ("columns", 1) for name in result.jacobian}
    missing = []
    for k, grads in sorted(result.derivatives.items()):
        for name in grads:
            if name in forms and forms[name][0] == "columns":
                if k > 1:
                    missing.append(f"grad{k}.{name}: a Hessian has no reference yet")
                continue
            leaf = result.inputs[name]
            same = program.elementwise and leaf.shape == result.value.shape
            if same or (leaf.ndim == 0 and result.value.ndim == 0):
                forms[name] = ("elementwise", k)
            elif k == 1:
                forms[name] = ("columns", 1)  # a scalar's gradient
    value, grads, ok = reference_program.expression(program, result.inputs, forms)
    shape = result.value.shape
    out = {"value": _truth(value, shape, digits, ok)}
    m = len(value)
    for name, (form, order) in forms.items():
        flat = grads[name]
        if form == "elementwise":
            for k in range(1, order + 1):
                key = f"{'grad' if k == 1 else f'grad{k}'}.{name}"
                out[key] = _truth(flat[k - 1 :: order], shape, digits, ok)
            continue
        size = result.inputs[name].size
        in_shape = result.inputs[name].shape
        if name in result.jacobian:
            jac = [flat[j * m + i] for i in range(m) for j in range(size)]
            out[f"jacobian.{name}"] = _truth(jac, (*shape, *in_shape), digits, ok)
        else:
            out[f"grad.{name}"] = _truth(flat, in_shape, digits, ok)
    return out, missing
