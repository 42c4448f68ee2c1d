"""The options of every evaluating command, as data, and how their values become a Request.

One table per command (a function's, generated from its spec, or ``expr``'s): the command line
builds its Typer options from it (cli/commands.py), a JSON line takes its keys from it
(:mod:`json_line`), and :func:`request_of` validates the parsed values of either, so a JSON
line, a command line, a batch line and a REPL line accept exactly the same things.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import BadInput, BadParameter
from .functions import registry
from .functions.spec import FunctionSpec, Param
from .parse.options import DTYPES, device_dtype, dtype_names, parse_cap, parse_int
from .request import Request, build_expr_request, build_request

INPUTS = "Inputs"
DERIVATIVES = "Derivatives"
PARAMETERS = "Function parameters"
OUTPUT = "Output and device"
VALUES_HELP = "0.5 | -1,0,2 | start:stop:count | JSON array [[1,2],[3,4]] | - (stdin)"
FORMATS = ("auto", "table", "plain", "json")


@dataclass(frozen=True)
class Option:
    """One option of a command. ``key``: its name among the parsed options (``t_`` for a
    tensor input, ``p_`` for a function parameter); ``kind``: "flag" (False unless given),
    "switch" (a bool parameter: --name/--no-name, None unless given), "text" (one string),
    "values" (a tensor's VALUES, repeatable)."""

    key: str
    flags: tuple[str, ...]
    help: str
    panel: str
    kind: str = "text"
    metavar: str | None = None
    default: Any = None
    envvar: str | None = None
    shown: str | None = None  # the default as help shows it (None: not shown)
    choices: tuple[str, ...] = ()  # offered by completion

    @property
    def long_names(self) -> list[str]:
        """The long spellings, without dashes, as JSON keys (``negative_slope``, ``vjp``)."""
        return [f[2:].replace("-", "_") for f in self.flags if f.startswith("--")]

    @property
    def initial(self) -> Any:
        """Its value when not given (a flag: False)."""
        return False if self.kind == "flag" else self.default

    @property
    def name(self) -> str:
        """The option's own name (its key without the t_ or p_ prefix)."""
        return self.key.removeprefix("t_").removeprefix("p_")


def _tensor(name: str, flags: tuple[str, ...], help: str) -> Option:
    return Option(f"t_{name}", flags, help, INPUTS, "values", "VALUES")


def _wrt(help: str) -> Option:
    return Option("wrt", ("--wrt",), help, DERIVATIVES, metavar="NAMES")


def _cotangent(index: bool) -> Option:
    """--cotangent V: y.backward(v); ``index``: the command also has --index I."""
    one_hot = "; --index I is v one-hot at I" if index else ""
    return Option(
        "cotangent",
        ("--cotangent", "--vjp", "--backward"),
        "v for the vector-Jacobian product vᵀJ: what y.backward(v) leaves in x.grad (--grad is "
        f"torch.autograd.grad{one_hot}). VALUES shaped like the output.",
        DERIVATIVES,
        "values",
        "VALUES",
    )


def _inputs(spec: FunctionSpec) -> list[Option]:
    if not spec.reduces:
        return [_tensor("x", ("--x", "-x"), f"Input: {VALUES_HELP}. Repeat to concatenate.")]
    out = [_tensor(t.name, t.options, f"{t.help[0].upper()}{t.help[1:]}.") for t in spec.inputs]
    if spec.model:
        out += [
            _tensor("x", ("--x",), "Model input x, pred = x·w (default 1)."),
            _tensor("w", ("--w",), "Model weight w, pred = x·w (target --y defaults to 1)."),
        ]
    return out


def _derivatives(spec: FunctionSpec) -> list[Option]:
    loss = spec.reduces
    what = {"loss": "loss", "norm": "norm"}.get(spec.kind, "output")
    if loss:
        reduction = any(p.name == "reduction" for p in spec.params)
        first = "First derivative w.r.t. each input given (torch.autograd.grad" + (
            "; per element with --reduction none)." if reduction else ")."
        )
        order = f"0-2; 2: the Hessian of the {what}."
    elif spec.pointwise:
        first, order = "First derivative (torch.autograd.grad).", "Derivatives up to order N (0-4)."
    else:
        first = "The Jacobian along --dim (torch.autograd.grad of every output)."
        order = "0-2; 2 with --index: the Hessian of output I."
    out = [
        Option("grad", ("--grad", "-g"), first, DERIVATIVES, "flag"),
        Option("order", ("--order",), order, DERIVATIVES, metavar="N"),
        _cotangent(spec.along_dim),
    ]
    if loss:
        names = [t.name for t in spec.inputs if t.grad != "never"]
        example = "w,x" if spec.model else ",".join(names[:2])
        out.append(_wrt(f"Differentiate only with respect to these inputs, e.g. {example}."))
        if spec.aligned:
            help = "Let inputs of different shapes broadcast (otherwise an error)."
            out.append(Option("broadcast", ("--broadcast",), help, INPUTS, "flag"))
    elif not spec.pointwise:
        help = "Gradient of output I only (a Jacobian row): grad(y[I], x)."
        out.append(Option("index", ("--index",), help, DERIVATIVES, metavar="I"))
    return out


def param_option(param: Param) -> Option:
    """A function parameter's option, spelled as in torch with hyphens (--negative-slope)."""
    key = f"p_{param.name}"
    if param.name == "dim":
        help = "Dimension the function works along (echoed in the output)."
        return Option(key, ("--dim",), help, DERIVATIVES, metavar="INT", shown="-1")
    if param.kind == "bool":
        return Option(
            key, (param.option,), param.help, PARAMETERS, "switch", shown=str(param.default).lower()
        )
    return Option(
        key,
        (param.option,),
        param.help + (f" ({'|'.join(param.choices)})" if param.choices else ""),
        PARAMETERS,
        metavar=param.kind.upper() if not param.choices else "CHOICE",
        shown="required" if param.required else str(param.default),
        choices=param.choices,
    )


def _shared_tail(stochastic: bool) -> list[Option]:
    seed = "Random seed for reproducible draws (random and echoed if omitted)."
    return [
        *([Option("seed", ("--seed",), seed, PARAMETERS, metavar="N")] if stochastic else []),
        Option(
            "dtypes",
            ("--dtypes",),
            "The same evaluation in each dtype (e.g. float32,float16), beside float64.",
            OUTPUT,
            metavar="LIST",
        ),
        Option(
            "devices",
            ("--devices",),
            "The same request on each device (e.g. cpu,cuda), side by side, each judged "
            "against the true value (--check).",
            OUTPUT,
            metavar="LIST",
        ),
        Option(
            "check",
            ("--check",),
            "Can the numbers be trusted? Error against the true value (arbitrary "
            "precision) in ulps, flags, finite differences; exit 1 when a number fails.",
            OUTPUT,
            "flag",
        ),
        Option(
            "report",
            ("--report",),
            "--check, then the worst finding as an issue-ready Markdown report (title, "
            "torch-only reproducer, true value, versions) on stdout, or in FILE.",
            OUTPUT,
            metavar="[FILE]",
        ),
        Option(
            "exact",
            ("--exact",),
            "Also the true value of every number (arbitrary precision, decimal digits).",
            OUTPUT,
            "flag",
        ),
        Option(
            "ulps",
            ("--ulps",),
            "--check: flag a number more than N ulps of its dtype from the true value.",
            OUTPUT,
            metavar="N",
            shown="64; 4 in float16, bfloat16",
        ),
        Option(
            "device",
            ("--device",),
            "cpu | cuda | cuda:N | mps | auto.",
            OUTPUT,
            metavar="DEVICE",
            envvar="ACTGRAD_DEVICE",
            shown="cpu",
            choices=("cpu", "cuda", "mps", "auto"),
        ),
        Option(
            "dtype",
            ("--dtype",),
            " | ".join(DTYPES) + ".",
            OUTPUT,
            metavar="DTYPE",
            envvar="ACTGRAD_DTYPE",
            shown="float32",
            choices=DTYPES,
        ),
        Option(
            "output_format",
            ("--format", "-f"),
            "auto (table on a terminal, plain in a pipe) | table | plain | json.",
            OUTPUT,
            metavar="FORMAT",
            default="auto",
            choices=FORMATS,
        ),
        Option("as_json", ("--json",), "Same as --format json (strict JSON).", OUTPUT, "flag"),
        Option(
            "quiet",
            ("--quiet", "-q"),
            "No notes on stderr or under a table (JSON keeps them); numbers and --check stay.",
            OUTPUT,
            "flag",
        ),
        Option(
            "header",
            ("--header",),
            "Plain output: the column names (tab-separated) as the first line.",
            OUTPUT,
            "flag",
        ),
        Option(
            "precision",
            ("--precision",),
            "Significant digits (default: shortest text that round-trips the dtype).",
            OUTPUT,
            metavar="N",
        ),
        Option(
            "max_elements",
            ("--max-elements",),
            "Refuse inputs, Jacobians or Hessians with more elements than N.",
            OUTPUT,
            metavar="N",
            envvar="ACTGRAD_MAX_ELEMENTS",
            shown="134217728 = 2^27",
        ),
    ]


def function_options(spec: FunctionSpec) -> list[Option]:
    """Every option of a function's command, in the order its help lists them."""
    dim = [param_option(p) for p in spec.params if p.name == "dim"]
    return [
        *_inputs(spec),
        *_derivatives(spec),
        *(param_option(p) for p in spec.params if p.name != "dim"),
        *dim,
        *_shared_tail(spec.stochastic),
    ]


def expr_options() -> list[Option]:
    """Every option of ``actgrad expr``."""
    return [
        Option(
            "var",
            ("--var",),
            f"A variable: NAME=VALUES, VALUES as {VALUES_HELP}. Repeat for more.",
            INPUTS,
            "values",
            "NAME=VALUES",
        ),
        _tensor("x", ("--x", "-x"), "Shorthand for --var x=VALUES."),
        Option(
            "grad",
            ("--grad", "-g"),
            "Derivatives w.r.t. every variable; --grad w,x for some.",
            DERIVATIVES,
            "flag",
        ),
        _wrt("The variables to differentiate (same as --grad NAMES)."),
        Option(
            "order",
            ("--order",),
            "Derivatives up to order N (elementwise; 2 gives a Hessian of a scalar).",
            DERIVATIVES,
            metavar="N",
        ),
        Option(
            "symbolic",
            ("--symbolic",),
            "Also give each derivative as a formula (sympy).",
            DERIVATIVES,
            "flag",
        ),
        _cotangent(False),
        *_shared_tail(False),
    ]


def entry(word: str) -> FunctionSpec | None:
    """The edge where a command's name becomes what travels: its entry (None: "expr"); an
    unknown name is the user's error, with the nearest name."""
    return None if word == "expr" else registry.get(word)


def options_of(spec: FunctionSpec | None) -> list[Option]:
    """The option table of ``spec``'s command (None: expr's)."""
    return expr_options() if spec is None else function_options(spec)


def activation_param_options() -> list[Option]:
    """One option for each parameter of the elementwise activations (plot takes them all)."""
    seen: dict[str, Param] = {}
    for spec in registry.specs():
        if spec.elementwise:
            for param in spec.params:
                seen.setdefault(param.name, param)
    return [param_option(p) for p in seen.values()]


def defaults(table: Iterable[Option], environ: Mapping[str, str]) -> dict[str, Any]:
    """The parsed options of a command given nothing: each default, or its variable's value."""
    return {o.key: (o.envvar and environ.get(o.envvar)) or o.initial for o in table}


def dtype_list(text: str) -> list[str]:
    """--dtypes LIST: float64 first, then each dtype named once."""
    return dtype_names(text, first=("float64",))


MAX_DEVICES = 4  # --devices: results kept side by side
# the defaults of batch's and the server's own options (app.py's Typer options show them)
BATCH_WINDOW = 65536  # lines coalesced at a time
MAX_LINE_BYTES = 1 << 20  # a longer batch line is that line's error
SERVER_IDLE = 15 * 60  # seconds without a request before the server exits (0: never)
SERVER_WORKERS = 32  # requests answered at once; past it a client is answered "busy"


def device_list(text: str) -> list[str]:
    """--devices LIST: each device name checked (not yet looked for: that needs torch), once
    each, at most MAX_DEVICES."""
    names = [d.strip().lower() for d in text.split(",") if d.strip()]
    if not names:
        raise BadParameter("--devices is empty", "e.g. --devices cpu,cuda")
    for name in names:
        device_dtype(name, None)
    names = list(dict.fromkeys(names))
    if len(names) > MAX_DEVICES:
        raise BadParameter(
            f"--devices names {len(names)} devices", f"give at most {MAX_DEVICES} at once"
        )
    return names


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [w.strip() for w in text.split(",") if w.strip()]


def _positional_values(spec: FunctionSpec, options: dict[str, Any]) -> dict[str, Any]:
    """``actgrad sigmoid 0.5`` is ``actgrad sigmoid --x 0.5`` (values are parsed as --x's)."""
    values = list(options.get("values") or ())
    if not values:
        return options
    shown = " ".join(values)
    if spec.reduces:
        raise BadParameter(
            f"{spec.command} takes its inputs by name, not as positional values ({shown})",
            f"e.g. {spec.example}",
        )
    if options.get("t_x"):
        together = ",".join([*options["t_x"], *values])
        raise BadParameter(
            f"values given both with --x and after it ({shown})",
            f"give them once: --x {together} "
            f"(or actgrad {spec.command} {' '.join([*options['t_x'], *values])})"
            if all(":" not in v and "[" not in v for v in [*options["t_x"], *values])
            else "give them once, with --x or positionally",
        )
    return {**options, "t_x": values}


def _with_trust(request: Request, options: Mapping[str, Any]) -> Request:
    """The request with --exact and --ulps N (which only --check reads) applied; an option
    that would not act is refused, never ignored."""
    ulps = options.get("ulps")
    checked = options.get("check") or options.get("report") is not None
    if options.get("devices"):
        device_list(options["devices"])  # its form, at once
        if options.get("dtypes"):
            raise BadParameter(
                "--devices and --dtypes each put results side by side",
                "use one of them (--dtype picks the dtype of --devices)",
            )
        if options.get("report") is not None:
            raise BadParameter("--report covers one device", "drop --devices, or use --device")
        checked = True  # each device's numbers are judged against the true value
    if options.get("dtypes") and (checked or options.get("exact")):
        given = "--exact" if options.get("exact") and not checked else "--check"
        raise BadParameter(
            f"{given} judges one dtype against the true value; --dtypes compares each with "
            "torch's float64",
            f"run {given} once per dtype (--dtype float16 {given}), or drop it",
        )
    if ulps is not None:
        if not checked:
            raise BadParameter("--ulps sets --check's limit", "add --check, or drop --ulps")
        ulps = parse_int(ulps, "--ulps", 0, 1 << 62)
    if not options.get("exact") and ulps is None:
        return request
    return replace(request, exact=bool(options.get("exact")), ulps=ulps)


def function_request(
    spec: FunctionSpec,
    options: Mapping[str, Any],
    read_stdin: Callable[[], Any],
    streamed: bool = False,
) -> Request:
    """The parsed options of a function's command as a validated Request."""
    options = _positional_values(spec, dict(options))
    params = {p.name: options[f"p_{p.name}"] for p in spec.params}
    inputs = {k[2:]: v for k, v in options.items() if k.startswith("t_") and v}
    request = build_request(
        spec,
        inputs,
        params,
        wrt=_names(options.get("wrt")),
        broadcast=options.get("broadcast", False),
        # as in expr: --wrt (what to differentiate) and --index (which output's) ask for it
        grad=options["grad"] or bool(options.get("wrt")) or options.get("index") is not None,
        order=options["order"],
        index=options.get("index"),
        device=options["device"],
        dtype=options["dtype"],
        seed=options.get("seed"),
        max_elements=options["max_elements"],
        read_stdin=read_stdin,
        check=options["check"],
        streamed=streamed,
        cotangent=options.get("cotangent"),
    )
    return _with_trust(request, options)


def expr_request(
    options: Mapping[str, Any], read_stdin: Callable[[], Any], streamed: bool = False
) -> Request:
    """The parsed options of ``actgrad expr`` as a validated Request."""
    request = build_expr_request(
        options["expression"],
        options["var"] or [],
        options["t_x"],
        grad=options["grad"],
        wrt=_names(options["wrt"]),
        order=options["order"],
        device=options["device"],
        dtype=options["dtype"],
        max_elements=options["max_elements"],
        symbolic=options["symbolic"],
        read_stdin=read_stdin,
        check=options["check"],
        streamed=streamed,
        cotangent=options.get("cotangent"),
    )
    return _with_trust(request, options)


def request_of(
    spec: FunctionSpec | None,
    options: Mapping[str, Any],
    read_stdin: Callable[[], Any],
    streamed: bool = False,
    max_elements: int | None = None,
) -> Request:
    """The Request of a command's parsed options (``spec``: the function's entry, None for
    expr);
    ``max_elements``: a cap the options' own may lower but not raise (batch's)."""
    if max_elements is not None:
        own = options.get("max_elements")
        cap = max_elements if own is None else min(parse_cap(own), max_elements)
        options = {**options, "max_elements": cap}
    if spec is None:
        return expr_request(options, read_stdin, streamed)
    return function_request(spec, options, read_stdin, streamed)


def no_stdin() -> str:
    """A line of a stream cannot read the stream."""
    raise BadInput("a batch line cannot read stdin", "give the values inline")
