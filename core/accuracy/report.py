"""``--report``: the worst finding of ``--check`` as an issue-ready Markdown report, in the shape
of the public PyTorch reports of lost derivatives: a title, what torch gives against the true
value (20 digits, ulps, the flag), a stable formula where the registry knows one, where else
on the accuracy grid the same loss happens, a standalone torch-only reproducer (checked here
to give torch's number bit for bit), and the versions, CPU and device."""

from __future__ import annotations

import math
import platform
import sys
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import BadParameter
from ..exact import truth
from ..exact.reference import NoReference, Truth
from ..functions import registry
from ..parse.options import default_ulps
from ..request import Request
from ..result import Result
from ..words import measured, shortest
from . import reproducer, sweeps
from .check import FLAG_ORDER, flag_masks
from .reproducer import Claim, Where
from .ulps import in_dtype, ulp

LOST = ("not_zero", "nan", "overflow", "flush_to_zero", "sign")  # every digit lost
FLAG_WORDS = {
    "not_zero": "not zero: torch gives a nonzero number where the true value is exactly 0",
    "nan": "NaN: torch gives NaN where the true value is finite",
    "overflow": "overflow: torch gives an infinity where the true value is finite",
    "flush_to_zero": "flush to zero: torch gives 0 where the true value is a nonzero {dtype}",
    "sign": "sign: torch's number has the wrong sign",
    "inaccurate": "inaccurate: more than {limit:g} ulps of {dtype} from the true value",
}
SMALL = 6  # inputs with at most this many numbers are written out in the title


@dataclass
class Finding:
    """The worst flagged number of a check."""

    where: Where
    flag: str
    got: float
    true: float  # the true value, correctly rounded to float64
    digits: str  # … to 20 significant digits
    ulps: float  # torch's error in ulps of the dtype at the true value
    ulp: float  # one ulp of the dtype there
    representable: bool  # the true value rounded to the dtype is a normal, nonzero number


@dataclass
class Report:
    text: str  # Markdown (the report, or the sentence that says nothing was flagged)
    flagged: bool
    reproduced: bool | None  # the reproducer gave torch's number here (None: no finding)


def _rank(item: tuple[float, str]) -> tuple[float, int]:
    ulps, flag = item
    return (math.inf if math.isnan(ulps) else ulps, -FLAG_ORDER.index(flag))


def worst(result: Result, truths: dict[str, Truth], dtype: str, limit: float) -> Finding | None:
    """The flagged number with the largest error (NaN and inf first) across every field."""
    best: tuple[tuple[float, int], Finding] | None = None
    fields = dict((p, a) for p, a in result.arrays() if not p.startswith("inputs."))
    for path, true in truths.items():
        got = fields.get(path)
        if got is None or got.shape != true.hi.shape:
            continue
        kinds, err = flag_masks(got, true, dtype, limit)
        # the true value rounded to the dtype is torch's number (an infinity where the truth
        # is beyond the dtype's range): flagged by --check, but torch's rounding is right
        rounded = got.astype(np.float64).reshape(-1) == in_dtype(true.hi, dtype).reshape(-1)
        for flag, mask in kinds.items():
            for i in np.flatnonzero(mask & ~rounded):
                rank = _rank((float(err[i]), flag))
                if best is not None and rank <= best[0]:
                    continue
                hi = float(true.hi.reshape(-1)[i])
                td = float(in_dtype(np.array([hi]), dtype)[0])
                finding = Finding(
                    Where(path, tuple(got.shape), int(i)),
                    flag,
                    float(got.astype(np.float64).reshape(-1)[i]),
                    hi,
                    str(true.text.reshape(-1)[i]) if true.text is not None else repr(hi),
                    float(err[i]),
                    float(ulp(np.array([hi]), dtype)[0]),
                    td != 0 and math.isfinite(td) and abs(td) >= _smallest_normal(dtype),
                )
                best = (rank, finding)
    return None if best is None else best[1]


def _smallest_normal(dtype: str) -> float:
    from ..functions.arithmetic import FORMATS

    return math.ldexp(1.0, FORMATS[dtype][1])


def report(req: Request, result: Result, command: str = "") -> Report:
    """The report of ``result``'s worst finding (``result`` carries the --check it was made
    with); ``command``: the actgrad command line that found it, for the report's last line."""
    reproducer.refuse(req)
    limit = ulps_limit(req)
    order = max(req.order, 1)
    ours = result if result.order >= 1 else _evaluate(replace(req, order=order))
    try:
        truths, missing = truth.truths(ours, req.program, digits=True)
    except NoReference as e:
        raise BadParameter(
            f"--report needs the arbitrary-precision reference, and it has none here: {e}",
            "use --check alone",
        ) from None
    finding = worst(ours, truths, req.dtype, limit)
    if finding is None:
        unreported = result.check is not None and not result.check["ok"]
        return Report(_nothing(req, limit, missing, unreported), False, None)
    claim = Claim(finding.true, finding.digits, limit, finding.ulp)
    inputs = {n: a.astype(np.float64) for n, a in ours.inputs.items()}
    req_at = replace(req, order=max(order, finding.where.order))
    code, gives, out = reproducer.build(req_at, inputs, finding.where, finding.got, claim)
    reproduced = gives is not None and reproducer.same(gives, finding.got)
    return Report(_markdown(req_at, ours, finding, code, gives, out, command), True, reproduced)


def _evaluate(req: Request) -> Result:
    from ..evaluator.engine import torch_result
    from .notes import judge

    return torch_result(replace(req, check=False, exact=False, symbolic=False), judge)


def _nothing(req: Request, limit: float, missing: list[str], unreported: bool) -> str:
    """What --report says where it has no finding to report."""
    judged = " that the reference judges" if missing else ""
    parts = [
        f"nothing to report: no number of {_subject(req)} in {req.dtype}{judged} is more than "
        f"{limit:g} ulps from its true value, or NaN, inf, zero or of the wrong sign where the "
        "true value is not"
    ]
    if unreported:  # --check failed on numbers that are no finding of torch's
        parts.append(
            f"what --check flags is {req.dtype}'s own rounding of a true value beyond its "
            "range, or a number with no true value"
        )
    if missing:
        parts.append(f"no true value for {'; '.join(missing)}")
    parts.append("no report written")
    return "; ".join(parts)


# ----------------------------------------------------------------------------------------------
# words


def _subject(req: Request) -> str:
    if req.spec is None:
        return f"`{req.program.text}`"
    return req.spec.command


def _quantity(where: Where, req: Request) -> tuple[str, str]:
    """(the pass, as the title says it; the number, as a sentence says it)."""
    k = where.order
    if where.quantity == "jacobian":
        i, j = where.index[-2], where.index[-1]
        return "backward", f"Jacobian entry ∂y[{i}]/∂{where.leaf}[{j}]"
    if k == 0:
        return "", "value"
    wrt = f" with respect to {where.leaf}" if where.leaf not in (None, "x") else ""
    if k == 1:
        return "backward", f"first derivative{wrt}"
    passes = {2: "double backward", 3: "triple backward"}.get(k, f"order-{k} backward")
    return passes, f"{_ordinal(k)} derivative{wrt}"


def _ordinal(k: int) -> str:
    return {2: "second", 3: "third", 4: "fourth"}.get(k, f"order-{k}")


def _what_lost(finding: Finding, req: Request) -> str:
    dtype = req.dtype
    noun = "value" if finding.where.order == 0 else "derivative"
    if finding.flag == "flush_to_zero":
        kind = "representable" if finding.representable else "nonzero"
        return f"loses a {kind} {dtype} {noun}"
    if finding.flag == "nan":
        return f"returns NaN for a finite {dtype} {noun}"
    if finding.flag == "overflow":
        return f"overflows to inf for a finite {dtype} {noun}"
    if finding.flag == "sign":
        return f"returns a {noun} of the wrong sign in {dtype}"
    if finding.flag == "not_zero":
        return f"returns {_number(finding.got, dtype)} for a {dtype} {noun} that is exactly 0"
    return f"is {measured(finding.ulps)} ulps off for a {dtype} {noun}"


def _point(req: Request, ours: Result, where: Where) -> str:
    """``x = 37.43`` (the point of an elementwise program), or the inputs written out when
    small, or their shapes."""
    inputs = {n: a for n, a in ours.inputs.items()}
    if req.program.elementwise and req.program.dim is None:
        parts = []
        for name, a in inputs.items():
            full = a.shape == where.shape
            v = float(a.astype(np.float64).reshape(-1)[where.flat if full else 0])
            parts.append(f"{name} = {_number(v, req.dtype)}")
        return "at " + ", ".join(parts)
    total = sum(a.size for a in inputs.values())
    if total <= SMALL:
        return "at " + ", ".join(f"{n} = {_values(a, req.dtype)}" for n, a in inputs.items())
    shapes = ", ".join(f"{n} of shape {list(a.shape)}" for n, a in inputs.items())
    return f"for {shapes}"


def _number(v: float, dtype: str) -> str:
    """The shortest digits of the dtype, a whole number without its ".0"."""
    text = shortest(v, dtype)
    return text[:-2] if text.endswith(".0") else text


def _values(a: np.ndarray, dtype: str) -> str:
    if a.ndim == 0:
        return _number(float(a), dtype)
    return "[" + ", ".join(_values(v, dtype) for v in a) + "]"


def title(req: Request, ours: Result, finding: Finding, name: str) -> str:
    passes, _ = _quantity(finding.where, req)
    if req.spec is None:
        subject = (
            f"torch {passes} of `{req.program.text}`" if passes else f"torch's `{req.program.text}`"
        )
        passes = ""
    else:
        subject = name
    lost = _what_lost(finding, req)
    return " ".join(w for w in (subject, passes, lost, _point(req, ours, finding.where)) if w)


# ----------------------------------------------------------------------------------------------
# the report


def _markdown(
    req: Request,
    ours: Result,
    finding: Finding,
    code: reproducer.Reproducer,
    gives: float | None,
    output: str,
    command: str,
) -> str:
    name = code.call or f"torch.nn.functional.{req.spec.name}"
    if req.spec is None:
        name = req.program.text
    dtype = req.dtype
    _, number = _quantity(finding.where, req)
    element = "" if finding.where.shape in ((), (1,)) else f" (element {list(finding.where.index)})"
    flag = FLAG_WORDS[finding.flag].format(dtype=dtype, limit=ulps_limit(req))
    lines = [
        f"# {title(req, ours, finding, name)}",
        "",
        "## Describe the bug",
        "",
        f"With `dtype=torch.{dtype}` on `{_device(req)}`, the {number}{element} of "
        f"`{name}` "
        f"{_point(req, ours, finding.where)} is `{_plain(finding.got)}` in torch, "
        f"while the true value is `{finding.true!r}` (correctly rounded to float64).",
        "",
        "| | |",
        "|---|---|",
        f"| torch | `{_plain(finding.got)}` |",
        f"| true value, 20 digits | `{finding.digits}` |",
        f"| true value, rounded to float64 | `{finding.true!r}` |",
        *(
            [f"| true value, rounded to {dtype} | `{_in(finding.true, dtype)}` |"]
            if dtype != "float64"
            else []
        ),
        f"| error | {_ulps(finding.ulps)} ulps of {dtype} at the true value |",
        f"| flag | {flag} |",
        "",
    ]
    lines += _stable(req, ours, finding)
    lines += _elsewhere(req, ours, finding)
    lines += [
        "## To reproduce",
        "",
        "```python",
        code.code.rstrip("\n"),
        "```",
        "",
    ]
    if code.lanes:
        scalar = "raises" if code.scalar_gives is None else f"gives `{_plain(code.scalar_gives)}`"
        lines += [
            f"The input is {reproducer.LANES} copies of the point: torch's vectorized kernel "
            "gives this number; the same point as a 0-dim tensor takes torch's scalar code, "
            f"which {scalar}.",
            "",
        ]
    ran = (
        "gives torch's number bit for bit"
        if gives is not None and reproducer.same(gives, finding.got)
        else (
            "does not reproduce the number actgrad measured: it gives "
            f"`{'an error' if gives is None else _plain(gives)}`"
        )
    )
    lines += [
        f"Output on the machine that wrote this report (the reproducer {ran}):",
        "",
        "```text",
        output.rstrip("\n"),
        "```",
        "",
        "The true value comes from interval arithmetic at increasing precision, continued until "
        "the bounds round to one float64 (actgrad's arbitrary-precision reference); the input is "
        "the exact binary value torch was given.",
        "",
        "## Versions",
        "",
        "```text",
        *_environment(req),
        *([f"found with: {command}"] if command else []),
        "```",
    ]
    return "\n".join(lines) + "\n"


def ulps_limit(req: Request) -> float:
    return default_ulps(req.dtype) if req.ulps is None else req.ulps


def _plain(v: float) -> str:
    return repr(float(v))


def _in(v: float, dtype: str) -> str:
    return shortest(float(in_dtype(np.array([v]), dtype)[0]), dtype)


def _ulps(v: float) -> str:
    return "inf" if not math.isfinite(v) else measured(v)


def _device(req: Request) -> str:
    return "cpu" if req.device == "auto" else req.device


def _stable(req: Request, ours: Result, finding: Finding) -> list[str]:
    """The registry's stable form of this derivative, and what it gives at the point."""
    if req.spec is None or not req.spec.elementwise:
        return []
    spec = req.spec
    form = spec.stable.get(finding.where.order)
    if form is None:
        return []
    words, source = form
    value = stable_value(spec, dict(ours.params), _point_value(ours, finding), req.dtype, source)
    err = abs(value - finding.true) / finding.ulp if math.isfinite(value) else math.inf
    return [
        f"A stable formula: {words}, in torch `{source}`, gives `{_plain(value)}` at this input "
        f"in {req.dtype} ({_ulps(err)} ulps from the true value).",
        "",
    ]


def stable_value(
    spec: registry.FunctionSpec, params: dict[str, Any], x: float, dtype: str, source: str
) -> float:
    """The stable form ``source`` evaluated with torch at ``x`` in ``dtype``."""
    import torch

    t = torch.tensor(x, dtype=torch.float64).to(getattr(torch, dtype))
    scope = {"torch": torch, "math": math, **params, "x": t}
    return float(eval(source, {"__builtins__": {}}, scope))  # the registry's own text, not input


def _point_value(ours: Result, finding: Finding) -> float:
    x = ours.inputs["x"].astype(np.float64)
    return float(x.reshape(-1)[finding.where.flat if x.shape == finding.where.shape else 0])


def _swept_at(req: Request, ours: Result, finding: Finding) -> float | None:
    """The x of an accuracy sweep that holds the finding's point: an elementwise function's
    input, or the pred of a one-number loss whose other inputs are the sweep's own (None:
    no sweep holds it)."""
    spec = req.spec
    if spec.elementwise and sweeps.sweepable(spec):
        return _point_value(ours, finding)
    fixed = sweeps.fixed_inputs(spec) or None
    inputs = ours.inputs
    if fixed is None or finding.where.leaf not in ("pred", None) or set(inputs) != {"pred", *fixed}:
        return None
    if any(a.size != 1 for a in inputs.values()):
        return None
    if any(float(inputs[k].reshape(-1)[0]) != float(v) for k, v in fixed.items()):
        return None
    return float(inputs["pred"].reshape(-1)[0])


def _elsewhere(req: Request, ours: Result, finding: Finding) -> list[str]:
    """Where on the accuracy grid the same loss happens (elementwise functions, and losses
    the accuracy sweep covers at their own inputs)."""
    if req.spec is None or req.device not in ("cpu", "auto"):
        return []
    x = _swept_at(req, ours, finding)
    row = None if x is None else _swept_row(req, finding)
    if row is None:
        return []
    spec = req.spec
    lost = finding.flag in LOST
    runs = row.lost if lost else row.regions
    what = "loses every digit" if lost else f"is more than {ulps_limit(req):g} ulps off"
    points = sum(r["points"] for r in runs)
    inside = [r for r in runs if _contains(r, x)]
    loss = spec.reduces

    def span(run: dict[str, Any]) -> str:  # a loss is swept over its pred
        return sweeps.span(run).replace("x", "pred") if loss else sweeps.span(run)

    where = ", ".join(span(r) for r in runs[:4]) + (
        f" and {len(runs) - 4} more" if len(runs) > 4 else ""
    )
    if loss:
        fixed = ", ".join(f"{k} = {v}" for k, v in sweeps.fixed_inputs(spec).items())
        where += f" (with {fixed})"
    _, number = _quantity(finding.where, req)
    grid = sweeps.grid_words(sweeps.STANDARD)
    if loss:
        grid = grid.replace("x =", "pred =")
    command = (
        f"`actgrad accuracy {spec.command} --dtypes {req.dtype} --order {finding.where.order}`"
    )
    if not runs:
        return [
            f"Elsewhere: on {grid}, no other point of {spec.command}'s {number} in "
            f"{req.dtype} {what}. ({command})",
            "",
        ]
    lies = f"; this input lies in {span(inside[0])}" if inside else ""
    return [
        f"Elsewhere: on {grid}, torch's {req.dtype} {number} of {spec.command} {what} at "
        f"{points:,} of {row.points:,} points: {where}{lies}. ({command})",
        "",
    ]


def _swept_row(req: Request, finding: Finding) -> sweeps.Row | None:
    """The standard sweep's row of the finding's quantity, in the request's dtype and
    parameters (None where the sweep has none)."""
    spec = req.spec
    params = {k: v for k, v in req.params.items() if k in spec.param_names}
    swept = sweeps.sweep(
        spec, sweeps.STANDARD, [req.dtype], finding.where.order, params, ulps_limit(req)
    )
    return next((r for r in swept if r.quantity == finding.where.quantity), None)


def _contains(run: dict[str, Any], x: float) -> bool:
    if math.isnan(x):
        return False
    low = -math.inf if run["low_end"] else run["from"]
    high = math.inf if run["high_end"] else run["to"]
    return low <= x <= high


def _environment(req: Request) -> list[str]:
    import torch

    from ..machine import identity

    machine = identity()
    lines = [
        f"PyTorch version: {machine['torch']}",
        f"Is debug build: {torch.version.debug}",
        f"CUDA used to build PyTorch: {torch.version.cuda or 'None'}",
        f"CPU: {machine['cpu']}",
        f"torch CPU capability: {machine['capability']}",
        f"Python version: {platform.python_version()} ({sys.implementation.name})",
        f"OS: {platform.platform()}",
        f"device: {_device(req)}",
    ]
    if _device(req).startswith("cuda"):
        lines.append(f"GPU: {torch.cuda.get_device_name(torch.device(_device(req)))}")
    return lines
