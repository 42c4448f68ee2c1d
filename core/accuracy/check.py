"""--check: can the number be trusted? Every value and derivative against the arbitrary-precision
reference (:mod:`truth`: error in ulps of the dtype and relative, the worst point, flags for a
number wrong by more than N ulps, NaN or inf where the truth is finite, zero where it is not, a
wrong sign), in every dtype including float64; autograd against finite differences in float64
as a second opinion. Where there is no reference (expressions), the chosen dtype is compared
with torch's float64 result instead. Kinks are reported as kinks, not failures."""

from __future__ import annotations

from array import array
from dataclasses import replace
from typing import Any

import numpy as np

from ..evaluator.engine import closed_form_derivative, torch_result
from ..exact import truth
from ..exact.reference import NoReference, Truth
from ..functions import registry
from ..parse.inputs import Values
from ..parse.options import default_ulps
from ..request import Request, finite_difference_plan
from ..result import Result, element_path
from .ulps import in_dtype, ulp, ulp_errors

FD_RTOL, FD_ATOL = 1e-5, 1e-7
MAX_FLAGS = 20


def _errors(got: np.ndarray, ref: np.ndarray, dtype: str) -> dict[str, float | None]:
    got, ref = got.astype(np.float64), ref.astype(np.float64)
    both = np.isfinite(got) & np.isfinite(ref)
    if not both.any():
        return {"max_abs": None, "max_rel": None, "max_ulp": None}
    diff = np.abs(got - ref)[both]
    scale = np.abs(ref)[both]
    rel = np.where(scale > 0, diff / np.where(scale > 0, scale, 1), diff)
    ulps = diff / ulp(ref[both], dtype)
    return {"max_abs": float(diff.max()), "max_rel": float(rel.max()), "max_ulp": float(ulps.max())}


def _flags(
    path: str, got: np.ndarray, ref: np.ndarray, dtype: str, only: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Flags against torch's float64 result rounded to ``dtype`` (at the elements ``only``
    marks, if given): a 0 or ±1 that is that rounding is no flush or saturation."""
    shape = np.shape(got)
    got, ref = got.astype(np.float64).reshape(-1), ref.astype(np.float64).reshape(-1)
    found = []
    if only is not None:
        ref = np.where(only.reshape(-1), ref, np.nan)
    rounded = in_dtype(ref, dtype)
    kinds = {
        "overflow": np.isfinite(ref) & np.isinf(got),  # the dtype's own too, as --check
        "nan": np.isnan(got) & ~np.isnan(ref),
        "flush_to_zero": (got == 0) & (rounded != 0) & np.isfinite(ref),
        "saturation": (np.abs(got) == 1) & (got != rounded) & np.isfinite(ref),
    }
    for flag, mask in kinds.items():
        for i in np.flatnonzero(mask)[:MAX_FLAGS]:
            where = element_path(path, shape, i)
            found.append({"path": where, "flag": flag, "got": _num(got[i]), "true": _num(ref[i])})
    return found


def _num(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _pairs(result: Result) -> list[tuple[str, np.ndarray]]:
    return [(p, a) for p, a in result.arrays() if not p.startswith("inputs.")]


def _perturbed(req: Request, name: str, flat: np.ndarray) -> Request:
    buffer = array("d")
    buffer.frombytes(np.ascontiguousarray(flat, dtype=np.float64).tobytes())
    inputs = {**req.inputs, name: Values((buffer,), req.inputs[name].shape)}
    return replace(req, inputs=inputs, order=0, dtype="float64", symbolic=False)


def _clear_of_kinks(
    spec: registry.FunctionSpec, params: dict, x: np.ndarray, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Steps that never straddle a kink or threshold of the registry's (halved to stay on
    one side), and at a kink point the side torch's derivative comes from (-1 left, +1
    right, 0 a central difference)."""
    side = np.zeros(x.shape)
    for kink in spec.kinks(params):
        if isinstance(kink.at, str):
            continue
        gap = np.abs(x - kink.at)
        near = (gap > 0) & (gap <= h)
        h = np.where(near, gap / 2, h)
        torch_side = {"L": -1, "R": 1}.get(kink.side(1), 0)
        side = np.where(gap == 0, torch_side, side)
    return h, side


Column = np.ndarray | None


def _steps_inside(
    req: Request, name: str, x: np.ndarray, j: int, h: float, base: np.ndarray
) -> tuple[Column, Column, float]:
    """f(x + h·e_j) and f(x − h·e_j) with a step inside the function's domain: a step the
    request refuses (bce's probabilities in [0, 1]) is retried relative to |x_j|, then left
    out (None) for a one-sided difference."""
    from ..errors import BadInput

    def at(step: float) -> np.ndarray | None:
        moved = x.copy()
        moved[j] += step
        try:
            return torch_result(_perturbed(req, name, moved)).value.astype(np.float64).reshape(-1)
        except BadInput:
            return None

    one_sided = None
    for step in dict.fromkeys([h, 1e-6 * abs(x[j])]):
        if step == 0:
            continue
        up, down = at(step), at(-step)
        if up is not None and down is not None:
            return up, down, step
        if one_sided is None and (up is not None or down is not None):
            one_sided = up, down, step
    return one_sided or (base, base, h)  # no step inside: 0 (the reference decides)


def _per_slice(full: np.ndarray, out: tuple[int, ...], x: tuple[int, ...], dim: int) -> np.ndarray:
    """The whole Jacobian (outputs × inputs) as the evaluator gives a function along ``dim``:
    per slice, d out[..., i] / d x[..., j], shape (*batch, m, n)."""
    out = out or (1,)
    x = x or (1,)
    d = dim % len(x)
    whole = np.moveaxis(full.reshape(*out, *x), d, len(out) - 1)  # (*batch, m, *x)
    whole = np.moveaxis(whole, len(out) + d, -1)  # (*batch, m, *batch, n)
    m, n = out[d], x[d]
    batch = tuple(s for i, s in enumerate(x) if i != d)
    count = int(np.prod(batch, dtype=np.int64))
    flat = whole.reshape(count, m, count, n)
    return flat[np.arange(count), :, np.arange(count), :].reshape(*batch, m, n)


def finite_differences(req: Request, reference: Result) -> dict[str, Any]:
    """Central differences in float64 against autograd, per differentiated input (inf and
    NaN inputs give inf and NaN differences: values, not warnings)."""
    with np.errstate(all="ignore"):
        return _finite_differences(req, reference)


def _finite_differences(req: Request, reference: Result) -> dict[str, Any]:
    spec = req.spec
    if spec is not None and spec.no_finite_differences:
        return {"skipped": spec.no_finite_differences}
    names = list(reference.derivatives.get(1, {})) or list(reference.jacobian)
    pointwise = spec is not None and spec.elementwise
    if names and not pointwise:
        _, skipped = finite_difference_plan(req)
        if skipped:
            return {"skipped": skipped}
    tally = _Tally()
    for name in names:
        x = reference.inputs[name].astype(np.float64).reshape(-1)
        h = 1e-6 * np.maximum(1.0, np.abs(x))
        if pointwise:
            found = _elementwise_differences(req, spec, reference, name, x, h)
        else:
            found = _column_differences(req, reference, name, x, h)
        tally.add(name, *found)
    return tally.report()


def _elementwise_differences(
    req: Request, spec: Any, reference: Result, name: str, x: np.ndarray, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(numeric, autograd, left, right) of an elementwise function: three evaluations over
    the whole input; at a kink, the one-sided difference of the branch torch takes there."""
    h, side = _clear_of_kinks(spec, reference.params, x, h)
    up, mid, down = (
        torch_result(_perturbed(req, name, x + s * h)).value.astype(np.float64).reshape(-1)
        for s in (1, 0, -1)
    )
    left, right = (mid - down) / h, (up - mid) / h
    numeric = np.where(side < 0, left, np.where(side > 0, right, (up - down) / (2 * h)))
    autograd = reference.derivatives[1][name].astype(np.float64).reshape(-1)
    return numeric, autograd, left, right


def _column_differences(
    req: Request, reference: Result, name: str, x: np.ndarray, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(numeric, autograd, left, right): a column of the Jacobian per element of the input,
    central where both steps stay in the domain, matched to the form autograd gave."""
    base = torch_result(_perturbed(req, name, x)).value.astype(np.float64).reshape(-1)
    cols, lefts, rights = [], [], []
    for j in range(x.size):
        up, down, hj = _steps_inside(req, name, x, j, h[j], base)
        cols.append(
            (up - down) / (2 * hj)
            if up is not None and down is not None
            else (up - base) / hj
            if up is not None
            else (base - down) / hj
        )
        lefts.append(cols[-1] if down is None else (base - down) / hj)
        rights.append(cols[-1] if up is None else (up - base) / hj)
    jac = np.stack(cols, axis=-1)  # (outputs, inputs)
    left, right = np.stack(lefts, -1), np.stack(rights, -1)
    if name in reference.jacobian and req.program.dim is not None:  # per slice
        autograd = reference.jacobian[name].astype(np.float64).reshape(-1)
        shapes = reference.value.shape, reference.inputs[name].shape, req.program.dim
        jac, left, right = (_per_slice(a, *shapes).reshape(-1) for a in (jac, left, right))
    elif name in reference.jacobian:
        autograd = reference.jacobian[name].astype(np.float64).reshape(jac.shape)
    elif reference.value.ndim == 0:
        autograd = reference.derivatives[1][name].astype(np.float64).reshape(jac.shape)
    elif req.index is not None and reference.inputs[name].ndim == 1:
        autograd = reference.derivatives[1][name].astype(np.float64).reshape(1, -1)
        jac, left, right = jac[[req.index]], left[[req.index]], right[[req.index]]
    else:
        autograd = reference.derivatives[1][name].astype(np.float64).reshape(-1)
        if jac.shape[0] == jac.shape[1]:  # elementwise: the diagonal
            jac, left, right = np.diagonal(jac), np.diagonal(left), np.diagonal(right)
        else:  # a loss per sample: the gradient of their sum
            jac, left, right = jac.sum(0), left.sum(0), right.sum(0)
    return jac, autograd, left, right


class _Tally:
    """Finite differences against autograd, over every input: the worst errors, the kinks
    (one-sided differences that disagree) and the failures."""

    def __init__(self) -> None:
        self.worst_abs = 0.0
        self.worst_rel: float | None = None
        self.below_floor = 0  # derivatives too small for a central difference to say much
        self.kinks: list[str] = []
        self.failures: list[str] = []

    def add(
        self,
        name: str,
        numeric: np.ndarray,
        autograd: np.ndarray,
        left: np.ndarray,
        right: np.ndarray,
    ) -> None:
        finite = np.isfinite(numeric) & np.isfinite(autograd)
        kink = (
            ~np.isclose(left, right, rtol=1e-3, atol=1e-5) & np.isfinite(left) & np.isfinite(right)
        )
        with np.errstate(all="ignore"):  # inf and nan differences are counted, not warned
            diff = np.abs(numeric - autograd)
            rel = diff / np.maximum(np.abs(numeric), 1e-300)
        smooth = finite & ~kink
        if smooth.any():
            self.worst_abs = max(self.worst_abs, float(diff[smooth].max()))
            measurable = smooth & (np.abs(numeric) > FD_ATOL)
            self.below_floor += int((smooth & ~measurable).sum())
            if measurable.any():
                self.worst_rel = max(self.worst_rel or 0.0, float(rel[measurable].max()))
        bad = smooth & ~np.isclose(autograd, numeric, rtol=FD_RTOL, atol=FD_ATOL)
        for i in np.flatnonzero(kink.reshape(-1))[:MAX_FLAGS]:
            self.kinks.append(element_path(name, kink.shape, i))
        for i in np.flatnonzero(bad.reshape(-1))[:MAX_FLAGS]:
            self.failures.append(element_path(name, bad.shape, i))

    def report(self) -> dict[str, Any]:
        return {
            "max_abs": self.worst_abs,
            "max_rel": self.worst_rel,
            "below_floor": self.below_floor,
            "floor": FD_ATOL,
            "kinks": self.kinks,
            "failures": self.failures,
            "ok": not self.failures,
        }


def measure(got: np.ndarray, true: Truth, dtype: str) -> dict[str, Any]:
    """Max, median and worst of ``got``'s error against the truth, in ulps and relative."""
    err, _ = ulp_errors(got, true, dtype)
    flat = err.reshape(-1)
    known = ~np.isnan(flat)
    if not known.any():
        return {"max_ulp": None, "median_ulp": None, "max_rel": None, "max_abs": None}
    worst = int(np.flatnonzero(known)[np.argmax(flat[known])])
    g, h = got.astype(np.float64).reshape(-1), true.hi.reshape(-1)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.abs((g - h) - true.lo.reshape(-1))
        rel = np.where(h != 0, diff / np.abs(h), np.where(diff == 0, 0.0, np.inf))
    ok = known & np.isfinite(diff)
    return {
        "max_ulp": _num(flat[worst]),
        "median_ulp": _num(float(np.median(flat[known]))),
        "max_rel": _num(float(rel[ok].max())) if ok.any() else None,
        "max_abs": _num(float(diff[ok].max())) if ok.any() else None,
        "worst": {
            "index": [int(i) for i in np.unravel_index(worst, got.shape)],
            "got": _num(g[worst]),
            "true": _num(h[worst]),
        },
    }


FLAG_ORDER = ("not_zero", "nan", "overflow", "flush_to_zero", "sign", "inaccurate")


def flag_masks(
    got: np.ndarray, true: Truth, dtype: str, ulps: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({flag: where it holds}, the error in ulps), flat: NaN or inf where the truth is finite,
    zero where it is not, the wrong sign, or (where none of those) more than ``ulps`` ulps off."""
    err, td = ulp_errors(got, true, dtype)
    g = got.astype(np.float64).reshape(-1)
    err, td = err.reshape(-1), td.reshape(-1)
    finite = np.isfinite(td)
    kinds = {
        "not_zero": (td == 0) & (g != 0) & np.isfinite(g),
        "nan": np.isnan(g) & ~np.isnan(td),
        "overflow": np.isinf(g) & np.isfinite(true.hi.reshape(-1)),  # the dtype's too, or not
        "flush_to_zero": (g == 0) & (td != 0) & finite,
        "sign": np.sign(g) * np.sign(td) < 0,
    }
    kinds["inaccurate"] = (err > ulps) & ~np.logical_or.reduce(list(kinds.values()))
    return kinds, err


def reference_flags(
    path: str, got: np.ndarray, true: Truth, dtype: str, ulps: float
) -> list[dict[str, Any]]:
    """Numbers that do not hold (:func:`flag_masks`), at most MAX_FLAGS of each kind."""
    kinds, err = flag_masks(got, true, dtype, ulps)
    g = got.astype(np.float64).reshape(-1)
    found = []
    for flag, mask in kinds.items():
        for i in np.flatnonzero(mask)[:MAX_FLAGS]:
            found.append(
                {
                    "path": element_path(path, np.shape(got), i),
                    "flag": flag,
                    "got": _num(g[i]),
                    "true": _num(true.hi.reshape(-1)[i]),
                    "ulps": _num(err[i]),
                }
            )
    return found


def exact(req: Request, result: Result) -> dict[str, Any]:
    """--exact: each field's true value as decimal strings (``missing``: why some have none)."""
    try:
        truths, missing = truth.truths(result, req.program, digits=True)
    except NoReference as e:
        return {"missing": [str(e)]}
    out: dict[str, Any] = {path: t.text for path, t in truths.items()}
    if missing:
        out["missing"] = missing
    return out


def check(req: Request, result: Result, ulps: float | None = None) -> dict[str, Any]:
    """The check object: the error of every number against the arbitrary-precision reference
    (or, without one, against torch's float64), flags, finite differences, closed form."""
    ulps = default_ulps(req.dtype) if ulps is None else ulps
    order = max(req.order, 1)
    reference = torch_result(replace(req, dtype="float64", order=order, symbolic=False))
    out: dict[str, Any] = {"finite_differences": finite_differences(req, reference)}
    out["closed_form"] = _closed_form(req, reference)
    errors: dict[str, Any] = {}
    flags: list[dict[str, Any]] = []
    ours_result = result if result.order >= 1 else torch_result(replace(req, order=order))
    ours = dict(_pairs(ours_result))
    try:
        truths, missing = truth.truths(ours_result, req.program, limits=(ulps,))
        against = "mpmath"
    except NoReference as e:
        truths, missing, against = {}, [str(e)], "float64"
    float64 = dict(_pairs(reference))
    flags += _judged(req, ours_result, ours, truths, float64, ulps, errors)
    if against == "float64" or missing:  # what the reference does not cover: torch's float64
        for path, ref in float64.items():
            if path not in truths and path in ours and ours[path].shape == ref.shape:
                errors[path] = {**_errors(ours[path], ref, req.dtype), "against": "float64"}
                flags += _flags(path, ours[path], ref, req.dtype)
    out["reference"] = against
    out["reference_missing"] = missing
    # where the precision or time budget ran out before the bounds decided a float64: those
    # numbers are not judged (their truth is NaN, never a guess)
    out["reference_unsettled"] = [p for p, t in truths.items() if not t.converged]
    out["unsettled_points"] = {p: t.unsettled for p, t in truths.items() if not t.converged}
    out["dtype"] = req.dtype
    out["ulps"] = ulps
    out["dtype_error"] = errors
    out["flags"] = flags[:MAX_FLAGS]
    # a number is judged by its true value, or it is not judged: finite differences and the
    # closed form are second opinions (they may disagree, a note); they never pass a check
    out["decided"] = against == "mpmath" and not missing and not out["reference_unsettled"]
    out["not_judged"] = _not_judged(out, truths, ours)
    out["tiers"] = tiers(truths)
    out["ok"] = not flags and out["decided"]
    return out


def _judged(
    req: Request,
    ours_result: Result,
    ours: dict[str, np.ndarray],
    truths: dict[str, Truth],
    float64: dict[str, np.ndarray],
    ulps: float,
    errors: dict[str, Any],
) -> list[dict[str, Any]]:
    """Each of torch's fields against its truth: its errors into ``errors`` (the worst with
    its x), and the flags; where an input is not finite the truth has no value, and torch's
    float64 says."""
    flags: list[dict[str, Any]] = []
    x = ours_result.inputs.get("x") if ours_result.pointwise else None
    inputs_finite = all(np.isfinite(v).all() for v in ours_result.inputs.values())
    for path, true in truths.items():
        if path not in ours or ours[path].shape != true.hi.shape:
            continue
        errors[path] = measure(ours[path], true, req.dtype)
        worst = errors[path].get("worst")
        if worst and x is not None and x.shape == true.hi.shape:
            worst["x"] = _num(float(x[tuple(worst["index"])]))
        flags += reference_flags(path, ours[path], true, req.dtype, ulps)
        unknown = np.isnan(true.hi) & (not inputs_finite)
        if unknown.any() and path in float64 and float64[path].shape == true.hi.shape:
            flags += _flags(path, ours[path], float64[path], req.dtype, unknown)
    return flags


def tiers(truths: dict[str, Truth]) -> dict[str, int]:
    """How many true values each tier of the reference decided: the fast tier's float64
    bounds, the arbitrary-precision tier's intervals."""
    quick = sum(int(np.sum(t.fast)) for t in truths.values() if t.fast is not None)
    settled = sum(t.hi.size - t.unsettled for t in truths.values())
    return {"fast": quick, "exact": settled - quick}


def _not_judged(out: dict[str, Any], truths: dict[str, Truth], ours: dict[str, np.ndarray]) -> int:
    """How many of the result's numbers have no settled true value."""
    count = sum(t.unsettled for t in truths.values())
    if out["decided"]:
        return 0
    return count + sum(a.size for p, a in ours.items() if p not in truths)


def _closed_form(req: Request, reference: Result) -> dict[str, Any] | None:
    """Autograd against the registry's closed-form derivative (elementwise functions)."""
    if req.spec is None:
        return None
    spec = req.spec
    if not spec.elementwise or spec.derivative_fn is None:
        return None
    closed = closed_form_derivative(spec, reference.inputs["x"], reference.params)
    autograd = reference.derivatives[1]["x"].astype(np.float64)
    kinks = np.zeros(closed.shape, dtype=bool)
    for kink in spec.kinks(reference.params):
        kinks |= reference.inputs["x"] == kink.at
    both = np.isfinite(closed) & np.isfinite(autograd) & ~kinks
    diff = np.abs(closed - autograd)[both]
    worst = float(diff.max()) if diff.size else 0.0
    ok = bool(np.allclose(autograd[both], closed[both], rtol=1e-10, atol=1e-12))
    return {"max_abs": worst, "ok": ok}


def compare_dtypes(results: dict[str, Result]) -> dict[str, Any]:
    """Each dtype's value and derivatives against float64's: errors and flags."""
    reference = dict(_pairs(results["float64"]))
    out: dict[str, Any] = {}
    for dtype, result in results.items():
        if dtype == "float64":
            continue
        errors, flags = {}, []
        for path, arr in _pairs(result):
            if path in reference and reference[path].shape == arr.shape:
                errors[path] = _errors(arr, reference[path], dtype)
                flags += _flags(path, arr, reference[path], dtype)
        out[dtype] = {"error": errors, "flags": flags[:MAX_FLAGS]}
    return out
