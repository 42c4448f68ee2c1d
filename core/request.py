"""Requests: the plain object every front end (command line, batch, plots) builds.

:func:`build_request` is the one place raw user data (strings from argv, values from JSON) is
validated; it needs no torch, so every usage error is reported before torch is imported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import cost
from .cost import broadcast_shape
from .errors import BadInput, BadParameter
from .functions import registry
from .parse.inputs import Values, parse_values
from .parse.options import (
    DEFAULT_MAX_ELEMENTS,
    MAX_ORDER,
    check_params_fit,
    device_dtype,
    parse_cap,
    parse_int,
    resolve_params,
)
from .program import Program, of_function


@dataclass(frozen=True)
class Request:
    """A validated evaluation request (use :func:`build_request` to make one from user data)."""

    function: str
    inputs: Mapping[str, Values]
    params: Mapping[str, Any] = field(default_factory=dict)
    order: int = 0
    index: int | None = None
    device: str = "cpu"
    dtype: str = "float32"
    seed: int | None = None
    max_elements: int = DEFAULT_MAX_ELEMENTS
    wrt: tuple[str, ...] = ()  # inputs to differentiate (losses, norms, expressions)
    broadcast: bool = False  # let aligned inputs of different shapes broadcast
    program: Program | None = None  # what the evaluator runs (every builder sets it)
    symbolic: bool = False  # also give each derivative as a formula (sympy)
    check: bool = False  # add the --check report (finite differences, dtype error, flags)
    streamed: bool = False  # the result is written a chunk at a time (not serialized whole)
    cotangent: Values | None = None  # v for vᵀJ (y.backward(v)) instead of the Jacobian
    exact: bool = False  # add the arbitrary-precision reference's digits (--exact)
    ulps: int | None = None  # --check flags numbers more than this many ulps off (None: 64)

    @property
    def spec(self) -> registry.FunctionSpec | None:
        """The function's entry, resolved once where the request was made (None: an
        expression)."""
        return None if self.program is None else self.program.spec


def _check_activation(spec: registry.FunctionSpec, req: Request) -> Request:
    """Shape-dependent checks for functions along a dim; returns the request with dim and
    index normalized to non-negative values."""
    x = req.inputs["x"]
    if spec.pointwise:
        if req.index is not None:
            raise BadParameter(
                f"--index applies to functions along a dim; {spec.command} is elementwise",
                "drop --index: --grad already gives d f(xᵢ)/d xᵢ for every element",
            )
        return req
    shape = x.shape or (1,)
    ndim = len(shape)
    dim = req.params["dim"]
    if not -ndim <= dim < ndim:
        raise BadParameter(
            f"--dim {dim} is out of range for a {ndim}-D input",
            f"use a dim from {-ndim} to {ndim - 1} (default -1, the last)",
        )
    dim %= ndim
    spec.shapes({"x": shape}, {**req.params, "dim": dim})
    n = shape[dim]
    m = n
    if spec.halves:
        if n % 2:
            raise BadParameter(
                f"glu halves its input along dim {dim}, which has odd size {n}",
                "give an even number of values along that dim, e.g. --x 1,2,0,-1",
            )
        m = n // 2
    index = req.index
    if index is not None:
        if not -m <= index < m:
            raise BadParameter(
                f"--index {index} is out of range: {spec.command}'s output has {m} elements "
                f"along dim {dim}",
                f"use an index from {-m} to {m - 1}",
            )
        index %= m
    if req.order > 2 or (req.order == 2 and index is None):
        raise BadParameter(
            f"--order {req.order} of {spec.command} would be a tensor of order {req.order + 1}",
            "use --grad for the Jacobian, or --index I --order 2 for the Hessian of output I",
        )
    return replace(req, params={**req.params, "dim": dim - ndim}, index=index)


MODEL_INPUTS = ("x", "w")  # the tutorial's model: pred = x·w, target y


def _check_loss(spec: registry.FunctionSpec, req: Request, given: set[str]) -> Request:
    """A loss's or a norm's request checked (shapes, order, index) and what it differentiates
    decided."""
    _check_loss_shapes(spec, req)
    if req.order > 1 and req.params.get("reduction") == "none":
        raise BadParameter(
            "--order 2 needs a scalar loss, but reduction is none",
            "use --reduction mean or sum for the Hessian",
        )
    if req.index is not None:
        raise BadParameter(f"--index does not apply to {spec.command}", "drop --index")
    return replace(req, wrt=_loss_wrt(spec, req, given))


def _check_loss_shapes(spec: registry.FunctionSpec, req: Request) -> None:
    """The model's x and w broadcast; aligned inputs share a shape (or --broadcast asks, and
    they broadcast); the entry's own shape rules hold."""
    shapes = {name: v.shape for name, v in req.inputs.items()}
    if "w" in shapes:
        pred = broadcast_shape([shapes["x"], shapes["w"]])
        if pred is None:
            raise BadInput(
                f"--x {list(shapes['x'])} and --w {list(shapes['w'])} do not broadcast",
                "give one of them as a single number, or both with the same length",
            )
        shapes = {**shapes, "pred": pred}
    aligned = {n: shapes[n] for n in spec.aligned if n in shapes}
    distinct = {s for s in aligned.values() if s != ()}
    if len(distinct) > 1:
        listed = ", ".join(f"--{n} {list(s)}" for n, s in aligned.items())
        if not req.broadcast:
            raise BadInput(
                f"shape mismatch: {listed}; torch would only warn and broadcast",
                "give them the same shape, or pass --broadcast to broadcast on purpose",
            )
        if broadcast_shape(list(aligned.values())) is None:
            raise BadInput(f"shapes do not broadcast: {listed}", "fix the shapes")
    spec.shapes(shapes, req.params)


def _loss_wrt(spec: registry.FunctionSpec, req: Request, given: set[str]) -> tuple[str, ...]:
    """The inputs a loss is differentiated with respect to: --wrt's (each allowed), else the
    model's w (and x when given), else every input differentiated by default."""
    allowed = {t.name for t in spec.inputs if t.grad != "never" and t.name in given}
    if "w" in req.inputs:
        allowed |= set(MODEL_INPUTS)
    for name in req.wrt:
        if name not in allowed:
            raise BadParameter(
                f"--wrt {name}: {spec.command} cannot be differentiated with respect to it",
                f"choose from {', '.join(sorted(allowed)) or 'nothing'}",
            )
    if req.wrt:
        wrt = req.wrt
    elif "w" in req.inputs:
        wrt = ("w", "x") if "x" in given else ("w",)
    else:
        wrt = tuple(t.name for t in spec.inputs if t.grad == "default" and t.name in given)
    return tuple(dict.fromkeys(wrt))


def _loss_inputs(
    spec: registry.FunctionSpec, inputs: Mapping[str, Sequence[str]]
) -> tuple[dict[str, Sequence[str]], set[str]]:
    """Resolve aliases (--input, --y) and the tutorial model; returns inputs and given names."""
    names = {alias: t.name for t in spec.inputs for alias in (t.name, *t.aliases)}
    if spec.model:
        names.update({"x": "x", "w": "w"})
    out: dict[str, Sequence[str]] = {}
    for key, raw in inputs.items():
        if not raw:
            continue
        name = names.get(key)
        if name is None:
            options = ", ".join(sorted({"--" + n.replace("_", "-") for n in names}))
            raise BadParameter(f"{spec.command} has no input --{key}", f"its inputs: {options}")
        if name in out:
            raise BadParameter(f"--{key} repeats --{name}", "give it once")
        out[name] = raw
    given = set(out)
    if spec.model and ("x" in out or "w" in out):
        _the_model(spec, out)
    for t in spec.inputs:
        if t.required and t.name not in out and not (t.name == "pred" and "w" in out):
            model = " (or the model: --w W, with --x X and --y Y)" if spec.model else ""
            raise BadParameter(
                f"{spec.command} needs {t.option}{model}",
                f"e.g. {spec.example}" if spec.example else f"give {t.option} VALUES",
            )
    return out, given


def _the_model(spec: registry.FunctionSpec, out: dict[str, Sequence[str]]) -> None:
    """The tutorial's model pred = x·w in place of --pred: w given, x and the target 1 by
    default."""
    if "pred" in out:
        raise BadParameter(
            "give either --pred or the model pred = x·w (--x, --w), not both",
            f"e.g. actgrad {spec.command} --w 3, or --pred 3 --target 1",
        )
    if "w" not in out:
        raise BadParameter("the model pred = x·w needs --w", f"e.g. actgrad {spec.command} --w 3")
    out.setdefault("x", ["1"])
    out.setdefault("target", ["1"])


def build_request(
    function: registry.FunctionSpec | str,
    inputs: Mapping[str, Sequence[str]],
    params: Mapping[str, Any] | None = None,
    *,
    grad: bool = False,
    order: object = None,
    index: object = None,
    device: object = None,
    dtype: object = None,
    seed: object = None,
    max_elements: object = None,
    read_stdin: Callable[[], str | Iterable[str]] | None = None,
    wrt: Sequence[str] | None = None,
    broadcast: bool = False,
    check: bool = False,
    streamed: bool = False,
    cotangent: Sequence[str] | None = None,
) -> Request:
    """Validate raw user data (strings from argv or values from JSON) into a Request of
    ``function``: its entry, or (a Python caller's edge) its name."""
    spec = function if isinstance(function, registry.FunctionSpec) else registry.get(function)
    cap = parse_cap(max_elements)
    resolved = resolve_params(spec, {k: v for k, v in (params or {}).items() if v is not None})
    n = _order(spec, order, grad)
    idx = parse_int(index, "--index", -(2**40), 2**40) if index is not None else None
    dev, dt = device_dtype(device, dtype)
    seed_value = _seed(spec, seed)
    activation = not spec.reduces
    if activation:
        raw_inputs, given = _activation_inputs(spec, inputs, bool(wrt), broadcast), {"x"}
    else:
        raw_inputs, given = _loss_inputs(spec, inputs)
    values = {
        name: parse_values(
            list(raw), "--" + name.replace("_", "-"), max_elements=cap, read_stdin=read_stdin
        )
        for name, raw in raw_inputs.items()
    }
    check_params_fit(spec, resolved, dt)
    req = Request(
        spec.name,
        values,
        resolved,
        n,
        idx,
        dev,
        dt,
        seed_value,
        cap,
        ("x",) if activation else tuple(wrt or ()),
        broadcast,
    )
    req = _check_activation(spec, req) if activation else _check_loss(spec, req, given)
    shapes = {name: v.shape for name, v in req.inputs.items()}
    req = replace(
        req, check=check, streamed=streamed, program=of_function(spec, shapes, req.params)
    )
    req = _with_cotangent(req, cotangent, read_stdin)
    enforce_cost(req)
    return req


def _order(spec: registry.FunctionSpec, order: object, grad: bool) -> int:
    """The derivative order asked (--grad: at least 1), within what torch's autograd has."""
    n = parse_int(order, "--order", 0, MAX_ORDER) if order is not None else 0
    if grad:
        n = max(n, 1)
    if n > spec.max_order:
        raise BadParameter(
            f"torch's autograd has no derivative of order {n} for {spec.command}",
            f"use --order {spec.max_order} or lower (see 'actgrad explain {spec.command}')",
        )
    return n


def _seed(spec: registry.FunctionSpec, seed: object) -> int | None:
    """A stochastic function's seed (a fresh one unless given); a deterministic one takes
    none."""
    if spec.stochastic:
        import secrets

        return secrets.randbits(31) if seed is None else parse_int(seed, "--seed", 0, 2**63 - 1)
    if seed is not None:
        raise BadParameter(f"{spec.command} is deterministic; --seed has no effect", "drop --seed")
    return None


def _activation_inputs(
    spec: registry.FunctionSpec, inputs: Mapping[str, Sequence[str]], wrt: bool, broadcast: bool
) -> dict[str, Sequence[str]]:
    """An activation's one input, --x (nothing a loss takes)."""
    if not inputs.get("x"):
        raise BadParameter(
            f"{spec.command} needs an input",
            f"give --x VALUES, e.g. {spec.example or '--x 0.5'}",
        )
    unknown = [k for k, v in inputs.items() if v and k != "x"]
    if unknown or wrt or broadcast:
        what = f"--{unknown[0]}" if unknown else "--wrt" if wrt else "--broadcast"
        raise BadParameter(f"{spec.command} takes no {what}", "its input is --x")
    return dict(inputs)


def _with_cotangent(
    req: Request, cotangent: Sequence[str] | None, read_stdin: Callable | None
) -> Request:
    """--cotangent V: the request gives vᵀJ (what y.backward(v) leaves in x.grad)."""
    if not cotangent:
        return req
    if req.index is not None:
        raise BadParameter(
            "--index I is the cotangent one-hot at I: give --index or --cotangent, not both",
            "drop one of them",
        )
    if req.order > 1:
        raise BadParameter(
            "--cotangent gives a first derivative (vᵀJ)",
            "drop --order, or use --grad --cotangent V",
        )
    if req.check:
        raise BadParameter(
            "--check does not check a --cotangent product yet",
            "check the Jacobian: drop --cotangent",
        )
    values = parse_values(
        list(cotangent), "--cotangent", max_elements=req.max_elements, read_stdin=read_stdin
    )
    return replace(req, cotangent=values, order=1)


def _variables(variables: Sequence[str], x: Sequence[str] | None) -> dict[str, list[str]]:
    """{name: VALUES texts} of --var NAME=VALUES (repeatable) and --x."""
    from .parse import expr

    raw: dict[str, list[str]] = {}
    for item in variables:
        name, eq, values = item.partition("=")
        name = name.strip()
        if not eq or not expr.NAME.fullmatch(name):
            raise BadInput(f"bad --var {item[:40]!r}", "write NAME=VALUES, e.g. --var x=0.5")
        if name in expr.CONSTANTS or name in expr.callable_names():
            raise BadInput(f"variable name {name!r} is a function or constant", "rename it")
        raw.setdefault(name, []).append(values)
    if x:
        if "x" in raw:
            raise BadInput("x is given by both --x and --var x=", "give it once")
        raw = {"x": list(x), **raw}
    if len(raw) > expr.MAX_VARIABLES:
        raise BadInput(f"more than {expr.MAX_VARIABLES} variables", "use fewer")
    return raw


def _check_expr_order(
    program: Program, values: Mapping[str, Values], chosen: tuple[str, ...], n: int
) -> None:
    """Refuse derivatives the expression cannot have: of unknown variables, past a function's
    highest order, or of a tensor order above 2 (a Hessian of a scalar)."""
    for name in chosen:
        if name not in values:
            known = ", ".join(values) or "none"
            raise BadParameter(f"--grad {name}: no variable {name!r}", f"variables: {known}")
    if n and not chosen:
        raise BadParameter("the expression has no variables to differentiate", "give --var")
    for spec in (c.spec for c in program.calls() if c.spec is not None):
        if n > spec.max_order:
            raise BadParameter(
                f"torch's autograd has no derivative of order {n} for {spec.command}",
                f"use --order {spec.max_order} or lower",
            )
    for name in chosen:
        size = values[name].numel
        if program.shape == ():
            limit = 2 if size > 1 else MAX_ORDER
        elif program.elementwise and program.shape == values[name].shape:
            limit = MAX_ORDER
        else:
            limit = 1
        if n > limit:
            raise BadParameter(
                f"--order {n} with respect to {name} would be a tensor of order {n + 1}",
                "ask for --order 2 of a scalar expression (a Hessian), or --grad",
            )


def build_expr_request(
    text: str,
    variables: Sequence[str] = (),
    x: Sequence[str] | None = None,
    *,
    grad: bool = False,
    wrt: Sequence[str] | None = None,
    order: object = None,
    device: object = None,
    dtype: object = None,
    max_elements: object = None,
    symbolic: bool = False,
    read_stdin: Callable[[], str | Iterable[str]] | None = None,
    check: bool = False,
    streamed: bool = False,
    cotangent: Sequence[str] | None = None,
) -> Request:
    """Validate an expression and its variables (``NAME=VALUES``) into a Request."""
    from .parse import expr  # the parser: not on the path of --help and function commands

    cap = parse_cap(max_elements)
    values = {
        name: parse_values(specs, f"--var {name}", max_elements=cap, read_stdin=read_stdin)
        for name, specs in _variables(variables, x).items()
    }
    program = expr.compile_expression(text, {n: v.shape for n, v in values.items()}, cap)
    n = parse_int(order, "--order", 0, MAX_ORDER) if order is not None else 0
    if grad or wrt or cotangent:
        n = max(n, 1)
    chosen = tuple(dict.fromkeys(wrt)) if wrt else tuple(values) if n else ()
    _check_expr_order(program, values, chosen, n)
    if symbolic and not n:
        raise BadParameter(
            "--symbolic gives each derivative as a formula, and none was asked for",
            "add --grad (or --order N)",
        )
    dev, dt = device_dtype(device, dtype)
    for call in program.calls():
        if call.target != "math":
            check_params_fit(call.spec, call.params, dt)
    req = Request(
        "expr",
        values,
        {"expression": text},
        n,
        None,
        dev,
        dt,
        None,
        cap,
        chosen,
        False,
        program,
        symbolic,
        check,
        streamed,
    )
    req = _with_cotangent(req, cotangent, read_stdin)
    enforce_cost(req)
    return req


def estimate(req: Request, dtype: str | None = None) -> cost.Cost:
    """The request's cost (largest tensor, peak bytes, repeated-pass work) from shapes alone."""
    if req.cotangent is not None:  # vᵀJ: one backward pass, a gradient per input
        shape = req.cotangent.shape
        base = estimate(replace(req, cotangent=None, order=0, index=None), dtype)
        itemsize = cost.ITEMSIZE[dtype or req.dtype]
        grads = cost.total(cost.result(*v.shape) for v in req.inputs.values())
        # the forward graph is kept once more for the backward pass
        return base.times(2) + cost.inputs({"cotangent": shape}, itemsize) + grads
    itemsize = cost.ITEMSIZE[dtype or req.dtype]
    shapes = {name: v.shape for name, v in req.inputs.items()}
    spec = req.spec
    if spec is None:
        return _expression_cost(req, shapes, itemsize)
    if not spec.reduces:
        return _activation_cost(req, spec, shapes["x"], itemsize)
    return _loss_cost(req, spec, shapes, itemsize)


def _expression_cost(req: Request, shapes: dict[str, tuple[int, ...]], itemsize: int) -> cost.Cost:
    program = req.program
    per_element = {n: program.elementwise and program.shape == shapes[n] for n in req.wrt}
    no_double = any(c.spec.max_order < 2 for c in program.calls() if c.spec is not None)
    # each derivative order differentiates the graph of the one before, which grows: by
    # ~2.2x an order on sigmoid(tanh(x)*gelu(x))*mish(x), and by up to ~3x on deep
    # compositions (mish nested 64 deep peaked at 1.73x a 2.5x estimate at order 4): 3.5x
    grows = max(req.order - 1, 0)
    graph = cost.GRAPH_FACTOR * program.graph * 7**grows // 2**grows
    return cost.total(
        [
            cost.inputs(shapes, itemsize),
            cost.Cost(program.largest, graph * itemsize, 0, "an intermediate of the expression"),
            cost.result(*program.shape),
            cost.derivatives(
                program.shape,
                {n: shapes[n] for n in req.wrt},
                req.order,
                graph,
                itemsize,
                per_element,
                columns=not no_double,
            ),
        ]
    )


def _activation_cost(
    req: Request, spec: registry.FunctionSpec, shape: tuple[int, ...], itemsize: int
) -> cost.Cost:
    if spec.pointwise:
        return cost.activation(shape, itemsize, req.order, True, 1, 1, None)
    shape = shape or (1,)
    size = shape[req.params["dim"] % len(shape)]
    out = size // 2 if spec.halves else size
    return cost.activation(shape, itemsize, req.order, False, size, out, req.index)


def _loss_cost(
    req: Request, spec: registry.FunctionSpec, shapes: dict[str, tuple[int, ...]], itemsize: int
) -> cost.Cost:
    floats = [
        s for n, s in shapes.items() if (t := spec.tensor_input(n)) is None or t.kind != "index"
    ]
    if "w" in shapes:  # the model's pred = x·w
        floats.append(broadcast_shape([shapes["x"], shapes["w"]]) or shapes["x"])
    inner = cost.broadcast_numel(floats)
    inner = max(inner, spec.work(shapes))
    reduction = req.params.get("reduction")
    value_shape = (inner,) if reduction == "none" else ()
    per_element = {n: math.prod(shapes[n]) >= inner for n in req.wrt}
    return cost.total(
        [
            cost.inputs(shapes, itemsize),
            cost.tensor(
                inner, itemsize, "the loss's inputs broadcast together", copies=cost.GRAPH_FACTOR
            ),
            cost.result(*value_shape),
            cost.derivatives(
                value_shape,
                {n: shapes[n] for n in req.wrt},
                req.order,
                cost.GRAPH_FACTOR * inner,
                itemsize,
                per_element,
                columns=spec.max_order > 1,
            ),
        ]
    )


def enforce_cost(req: Request, dtypes: Sequence[str] = (), times: int = 1) -> None:
    """Refuse the request (TooLarge) before any allocation when its estimated cost, with
    --check or --dtypes copies, ``times`` over (--devices: one result per device, kept side by
    side), is over the budgets of its element cap."""
    whole = cost.total([total_cost(req, dtypes)] * times)
    cost.enforce(whole, req.max_elements, whole_text=not req.streamed)


def total_cost(req: Request, dtypes: Sequence[str] = ()) -> cost.Cost:
    """The request's cost with its --check (or --dtypes) evaluations added."""
    single = estimate(req)
    if req.check or dtypes:
        reference = estimate(replace(req, order=max(req.order, 1)), "float64")
        numbers = reference.elements * (max(req.order, 1) + 2)
        fd, _ = finite_difference_plan(req, reference)
        copies = len(dtypes) if dtypes else 3  # --check: three finite-difference columns
        single = cost.repeated(single, reference, numbers, copies, fd if req.check else 0)
    return single


def finite_difference_plan(req: Request, reference: cost.Cost | None = None) -> tuple[int, str]:
    """(evaluations, why they are skipped: "" when they run) of --check's finite differences
    beside a Jacobian or gradient: one pair per element differentiated. They are skipped, on
    one rule whatever the size, past MAX_FD_ELEMENTS elements or past the work budget."""
    spec = req.spec
    if spec is not None and spec.elementwise:
        return 0, ""  # three evaluations over the whole input, counted as copies
    sizes = {n: v.numel for n, v in req.inputs.items() if not req.wrt or n in req.wrt}
    name, largest = max(sizes.items(), key=lambda item: item[1], default=("x", 1))
    if largest > cost.MAX_FD_ELEMENTS:
        return 0, f"more than {cost.MAX_FD_ELEMENTS} elements in {name}"
    if reference is None:
        reference = estimate(replace(req, order=max(req.order, 1)), "float64")
    n = 2 * largest + 1
    work = cost.passes(n, reference.elements * cost.GRAPH_FACTOR, "").work
    work += estimate(req).work + reference.work  # the check's other passes share the budget
    if work > cost.work_budget(req.max_elements):
        return 0, (
            f"{n} evaluations of about {reference.elements:,} elements each would be over the "
            f"work budget of the cap ({req.max_elements:,}); --max-elements N raises it"
        )
    return n, ""
