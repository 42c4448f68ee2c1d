"""The arbitrary-precision reference of a whole result: for each of its numeric fields
(``value``, ``grad.x``, ``grad2.x``, ``jacobian.x``, …) a :class:`reference.Truth` of the same
shape, from :mod:`reference` (activations) or :mod:`reference_losses` (losses, the norm)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..evaluator.program import Program
from ..functions import registry
from ..options import DTYPE_EPS
from ..result import Result
from . import reference, reference_losses, reference_program
from .interval import OutOfTime, budget, known, workprec
from .reference import NoReference, Truth, truth_of

_truth = truth_of


CHECK_POINTS = 20_000  # --check and --exact: the reference's points at most (accuracy: its own)


SECONDS = 20.0  # --check and --exact: the reference's time; past it, numbers are unsettled
MICROSECONDS = 40.0  # about one Taylor-series operation of the reference at its first precision


def work(result: Result, program: Program | None) -> float:
    """The reference's work in Taylor-series operations, estimated from the shapes before it
    starts: points × operations of the program × (order + 1)² × the passes of its gradient."""
    size = sum(v.size for v in result.inputs.values()) or 1
    order = max(result.derivatives, default=0) + 1
    expression = program is not None and result.kind == "expr"
    steps = len(program.steps) if expression else 8
    passes = 1
    if expression:  # an elementwise program: a pass per variable; otherwise one per element
        passes += len(result.inputs) if program.elementwise else size
    return size * steps * order * order * passes


def truths(
    result: Result,
    program: Program | None = None,
    digits: bool = False,
    progress: Callable[[int], None] | None = None,
    limit: int | None = CHECK_POINTS,
    seconds: float | None = SECONDS,
) -> tuple[dict[str, Truth], list[str]]:
    """({path: Truth}, what has no reference and why). Raises NoReference when nothing has,
    when the inputs hold more than ``limit`` numbers, or when the estimated work would take
    more than ten times ``seconds``; past ``seconds`` what has not settled is unsettled (None:
    no time limit). An expression's result needs its ``program``."""
    size = sum(v.size for v in result.inputs.values())
    if limit is not None and size > limit:
        raise NoReference(
            f"{size:,} input numbers are more than the {limit:,} the "
            "arbitrary-precision reference checks at once; actgrad accuracy "
            "sweeps a range"
        )
    estimate = work(result, program) * MICROSECONDS * 1e-6
    if seconds is not None and estimate > 10 * seconds:
        raise NoReference(
            f"the arbitrary-precision reference would take about "
            f"{estimate:,.0f} s here, over its budget of {seconds:g} s; give "
            "fewer points or a lower order"
        )
    try:
        with budget(seconds):
            return _truths(result, program, digits, progress)
    except OutOfTime:
        raise NoReference(
            f"the arbitrary-precision reference ran out of its {seconds:g} s "
            "budget before any value settled"
        ) from None


def _truths(
    result: Result, program: Program | None, digits: bool, progress: Callable[[int], None] | None
) -> tuple[dict[str, Truth], list[str]]:
    if result.cotangent is not None:
        raise NoReference("a --cotangent product has no reference yet")
    if result.kind == "expr":
        if program is None:
            raise NoReference("an expression's reference needs its program")
        return _expression(program, result, digits)
    spec = registry.get(result.function)
    if spec.elementwise:
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


def _along_dim(
    spec: registry.FunctionSpec, result: Result, digits: bool
) -> tuple[dict[str, Truth], list[str]]:
    if spec.stochastic:
        raise NoReference(f"{spec.name} draws random noise: no reference")
    dim = result.params["dim"]
    params = result.params
    if "eps" in params and params["eps"] is None:  # torch's own: the dtype's machine epsilon
        params = {**params, "eps": DTYPE_EPS[result.dtype]}
    moved = np.moveaxis(result.inputs["x"].astype(np.float64), dim, -1)
    n = moved.shape[-1]
    rows = moved.reshape(-1, n)
    ys, jacs, y_ok, jac_ok = [], [], [], []
    for row in rows.tolist():
        y, jac, settled_y, settled_jac = reference.along_dim(spec.name, params, row)
        ys.append(y)
        jacs.append(jac)
        y_ok.append(settled_y)
        jac_ok.append(settled_jac)
    m = len(ys[0]) if ys else 0
    batch = moved.shape[:-1]
    value = _truth([v for y in ys for v in y], [k for y in y_ok for k in y], (*batch, m), digits)
    out = {"value": _moved(value, dim)}
    missing = []
    if result.jacobian:
        flat = [v for jac in jacs for r in jac for v in r]
        oks = [k for jac in jac_ok for r in jac for k in r]
        out["jacobian.x"] = _truth(flat, oks, (*batch, m, n), digits)
    if 1 in result.derivatives:
        i = result.index
        grads = _truth(
            [v for jac in jacs for v in jac[i]],
            [k for jac in jac_ok for k in jac[i]],
            (*batch, n),
            digits,
        )
        out["grad.x"] = _moved(grads, dim)
    if 2 in result.derivatives:
        missing.append("grad2.x: the Hessian of one output has no reference yet")
    return out, missing


def _moved(truth: Truth, dim: int) -> Truth:
    def back(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.moveaxis(a, -1, dim)

    return Truth(back(truth.hi), back(truth.lo), back(truth.text), back(truth.settled))


def _loss(
    spec: registry.FunctionSpec, result: Result, digits: bool
) -> tuple[dict[str, Truth], list[str]]:
    inputs = dict(result.inputs)
    wrt = [
        *result.derivatives.get(1, {}),
        *(n for n in result.jacobian if n not in result.derivatives.get(1, {})),
    ]
    model = spec.model and "w" in inputs
    value, grads, ok, grads_ok = reference_losses.loss(spec.name, result.params, inputs, wrt, model)
    shape = result.value.shape
    out = {"value": _truth(value, ok, shape, digits)}
    m = len(value)
    for name in wrt:
        flat, k = grads[name]  # pass-major: flat[j·m + i] = ∂value_i/∂input_j
        oks = grads_ok[name]
        in_shape = inputs[name].shape
        if name in result.jacobian:
            order = [j * m + i for i in range(m) for j in range(k)]
            out[f"jacobian.{name}"] = _truth(
                [flat[t] for t in order], [oks[t] for t in order], (*shape, *in_shape), digits
            )
        if name in result.derivatives.get(1, {}):
            with workprec(4096):  # each sum has one term or a few, each known: exact enough
                summed = [sum(flat[j * m : (j + 1) * m][1:], flat[j * m]) for j in range(k)]
            settled = [
                all(oks[j * m : (j + 1) * m]) and known(v) is not None for j, v in enumerate(summed)
            ]
            out[f"grad.{name}"] = _truth(summed, settled, in_shape, digits)
    missing = [
        f"grad2.{n}: second derivatives of losses have no reference yet"
        for n in result.derivatives.get(2, {})
    ]
    return out, missing


def _expression(
    program: Program, result: Result, digits: bool
) -> tuple[dict[str, Truth], list[str]]:
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
    value, grads, ok, grads_ok = reference_program.expression(program, result.inputs, forms)
    shape = result.value.shape
    out = {"value": _truth(value, ok, shape, digits)}
    m = len(value)
    for name, (form, order) in forms.items():
        flat, oks = grads[name], grads_ok[name]
        if form == "elementwise":
            for k in range(1, order + 1):
                key = f"{'grad' if k == 1 else f'grad{k}'}.{name}"
                out[key] = _truth(flat[k - 1 :: order], oks[k - 1 :: order], shape, digits)
            continue
        size = result.inputs[name].size
        in_shape = result.inputs[name].shape
        if name in result.jacobian:
            at = [j * m + i for i in range(m) for j in range(size)]
            out[f"jacobian.{name}"] = _truth(
                [flat[t] for t in at], [oks[t] for t in at], (*shape, *in_shape), digits
            )
        else:
            out[f"grad.{name}"] = _truth(flat, oks, in_shape, digits)
    return out, missing
