"""The options of every command, as data, and what their values mean, checked.

One table per command: a function's (generated from its spec), ``expr``'s, and batch's,
plot's, accuracy's and the server's; the REPL's :settings stand for the evaluating options.
The command line builds its Typer options from them (cli/commands.py), a JSON line takes its
keys from them (:mod:`json_line`), and :func:`request_of` and the validators here check the
parsed values of either, so a JSON line, a command line, a batch line and a REPL line accept
exactly the same things.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import BadInput, BadParameter
from .functions import registry
from .functions.spec import FunctionSpec, Param
from .parse.options import DTYPES, device_name, dtype_name, dtype_names, parse_cap, parse_int
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
    panel: str | None  # its help panel (None: "Options")
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
        device_name(name, " in --devices")
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


# ----------------------------------------------------------------------------------------------
# the commands that are not one evaluation: batch, server, plot, accuracy (their tables, then
# what their values mean, checked)

FILE_TYPES = (".png", ".svg", ".pdf")  # an image plot and accuracy write, by its name's end
MAX_WIDTH, MAX_HEIGHT = 1000, 500  # a terminal canvas, in characters
MAX_JOBS = 4096


def _cap(help: str) -> Option:
    return Option(
        "max_elements",
        ("--max-elements",),
        help,
        None,
        metavar="N",
        envvar="ACTGRAD_MAX_ELEMENTS",
    )


def batch_options() -> list[Option]:
    return [
        Option("fail_fast", ("--fail-fast",), "Stop at the first failure.", None, "flag"),
        Option(
            "window", ("--window",), "Lines coalesced at a time.", None, metavar="N",
            default=str(BATCH_WINDOW),
        ),
        Option(
            "max_line_bytes", ("--max-line-bytes",), "Longer lines are errors.", None,
            metavar="N", default=str(MAX_LINE_BYTES),
        ),
        _cap("Element cap for each line (default 2^27)."),
        Option("quiet", ("--quiet", "-q"), "No summary line on stderr.", None, "flag"),
    ]  # fmt: skip


@dataclass(frozen=True)
class BatchSettings:
    window: int
    max_line_bytes: int
    max_elements: int


def batch_settings(options: Mapping[str, Any]) -> BatchSettings:
    """batch's options, checked."""
    return BatchSettings(
        parse_int(options["window"], "--window", 1, 1 << 20),
        parse_int(options["max_line_bytes"], "--max-line-bytes", 64, 1 << 30),
        parse_cap(options["max_elements"]),
    )


def server_options() -> list[Option]:
    return [
        Option(
            "foreground", ("--foreground",), "start: serve in this process, not detached.",
            None, "flag",
        ),
        Option(
            "idle", ("--idle",), "start: exit after this long without a request (0: never).",
            None, metavar="SECONDS", default=str(SERVER_IDLE),
        ),
        Option(
            "workers", ("--workers",),
            "start: requests answered at once; more run in their own process.", None,
            metavar="N", default=str(SERVER_WORKERS),
        ),
        Option("as_json", ("--json",), "status: as strict JSON.", None, "flag"),
    ]  # fmt: skip


SERVER_ACTIONS = ("start", "stop", "status")


def server_settings(action: str, options: Mapping[str, Any]) -> tuple[float, int]:
    """(idle seconds, workers) of ``actgrad server ACTION``, checked."""
    from .parse.inputs import parse_number

    if action not in SERVER_ACTIONS:
        raise BadParameter(f"unknown server action {action!r}", "use start, stop or status")
    idle = options["idle"]
    seconds = parse_number(idle, "--idle")
    if not 0 <= seconds < 1e9:
        raise BadParameter(f"--idle {idle} is out of range", "give seconds, 0 for never")
    return seconds, parse_int(options["workers"], "--workers", 1, 1024)


def _drawing_options(output: str) -> list[Option]:
    """The options plot and accuracy share: where and how large a drawing is."""
    return [
        Option("output", ("--output", "-o"), output, None, metavar="FILE"),
        Option("size", ("--size",), "Image size in pixels.", None, metavar="WxH",
               default="800x500"),
        Option("width", ("--width",), "Terminal plot width (10-1000).", None, metavar="N"),
        Option("height", ("--height",), "Terminal plot height (4-500).", None, metavar="N"),
    ]  # fmt: skip


def plot_options() -> list[Option]:
    return [
        Option("x", ("--x", "-x"), "Points (default -10:10:1000).", None, metavar="VALUES"),
        Option("grad", ("--grad", "-g"), "Add the derivatives.", None, "flag"),
        Option(
            "param", ("--param",), "A parameter, for every function that has it.", None,
            "values", "NAME=VALUE",
        ),
        *_drawing_options("Write .png, .svg or .pdf (needs actgrad[plot])."),
        Option("terminal", ("--terminal",), "Draw even when piped.", None, "flag"),
        Option("as_json", ("--json",), "The sampled points as JSON.", None, "flag"),
        Option(
            "dtype", ("--dtype",), "float32 | float64 | float16 | bfloat16 (default float32).",
            None, metavar="DTYPE", envvar="ACTGRAD_DTYPE",
        ),
        _cap("Element cap for the curves together (default 2^27)."),
        *activation_param_options(),
    ]  # fmt: skip


def accuracy_options() -> list[Option]:
    return [
        Option("all", ("--all",), "Every function with a sweep (the standard grid).", None,
               "flag"),
        Option(
            "x", ("--x", "-x"),
            "Points (default: the standard grid; plots: -40:40:2001); with --exhaustive "
            "LOW:HIGH, the bounds.", None, metavar="VALUES",
        ),
        Option(
            "exhaustive", ("--exhaustive",),
            "Every finite input of each dtype: 63,488 in float16, 65,280 in bfloat16 (the "
            "default dtypes here), 4,278,190,080 in float32 (elementwise functions; in "
            "shards, on every core, resumable); float64 needs --x LOW:HIGH.", None, "flag",
        ),
        Option(
            "jobs", ("--jobs", "-j"), "Processes of a sharded sweep (default: every core).",
            None, metavar="N",
        ),
        Option(
            "scheduler", ("--scheduler",),
            "Run a sharded sweep's shards on a Dask cluster (tcp://HOST:8786; needs "
            "actgrad[cluster]).", None, metavar="ADDRESS",
        ),
        Option(
            "checkpoint", ("--checkpoint",),
            "Where a sharded sweep keeps its finished shards (default: the user's cache); "
            "the same command resumes from it.", None, metavar="FILE",
        ),
        Option(
            "dtypes", ("--dtypes",),
            "Dtypes to measure (default float64,float32,float16,bfloat16).", None,
            metavar="LIST",
        ),
        Option(
            "device", ("--device",),
            "Whose kernels to measure: cpu | cuda | cuda:N | mps | auto (default cpu).", None,
            metavar="DEVICE",
        ),
        Option("order", ("--order",), "Derivatives up to N (default 2; 0: values).", None,
               metavar="N"),
        Option(
            "ulps", ("--ulps",),
            "Report the regions more than N ulps off (64; 4 in half precision).", None,
            metavar="N",
        ),
        Option("plot", ("--plot",), "Draw the error curves in the terminal.", None, "flag"),
        *_drawing_options(
            "Write the error curves to .png, .svg or .pdf (needs actgrad[plot])."
        ),
        Option(
            "output_format", ("--format", "-f"), "auto | table | plain | json.", None,
            metavar="FORMAT", default="auto",
        ),
        Option("as_json", ("--json",), "Same as --format json.", None, "flag"),
        Option("header", ("--header",), "Plain output: column names.", None, "flag"),
        Option(
            "max_points", ("--max-points",), "Reference-evaluation budget (default 10^6 points).",
            None, metavar="N",
        ),
        _cap("Element cap of each evaluation (default 2^27)."),
        *activation_param_options(),
    ]  # fmt: skip


@dataclass(frozen=True)
class Drawing:
    """Where a plot goes and how large: an image file (``output``, ``size`` in pixels) or the
    terminal (``width`` × ``height`` characters; None: the terminal's size)."""

    output: str | None
    size: tuple[int, int]
    width: int | None
    height: int | None


def drawing(options: Mapping[str, Any]) -> Drawing:
    """plot's and accuracy's drawing options, checked."""
    output = options["output"]
    if output and not output.lower().endswith(FILE_TYPES):
        raise BadParameter(
            f"cannot tell the image type of {output!r}", "end the name with .png, .svg or .pdf"
        )
    return Drawing(
        output or None,
        image_size(options["size"]),
        _canvas("--width", options["width"], 10, MAX_WIDTH),
        _canvas("--height", options["height"], 4, MAX_HEIGHT),
    )


def image_size(text: str) -> tuple[int, int]:
    """--size WxH in pixels."""
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit()):
        raise BadParameter(f"bad --size {text!r}", "write WIDTHxHEIGHT in pixels, e.g. 800x500")
    w, h = int(width), int(height)
    if not (16 <= w <= 8000 and 16 <= h <= 8000):
        raise BadParameter(f"--size {text} is out of range", "use 16 to 8000 pixels a side")
    return w, h


def _canvas(option: str, value: Any, low: int, high: int) -> int | None:
    if value is None:
        return None
    hint = f"use {low} to {high} characters (default: the terminal size)"
    try:
        n = int(str(value).strip())
    except ValueError:
        raise BadParameter(f"{option} {value} is not a whole number", hint) from None
    if not low <= n <= high:
        raise BadParameter(f"{option} {value} is out of range", hint)
    return n


def function_params(options: Mapping[str, Any]) -> dict[str, str]:
    """The function parameters plot and accuracy were given (``p_NAME`` options, then each
    --param NAME=VALUE), by name."""
    params = {k[2:]: v for k, v in options.items() if k.startswith("p_") and v is not None}
    for item in options.get("param") or []:
        key, eq, value = item.partition("=")
        if not eq:
            raise BadParameter(f"bad --param {item!r}", "write NAME=VALUE, e.g. alpha=2")
        params[key.strip().replace("-", "_")] = value.strip()
    return params


def jobs(text: str | None, cores: int) -> int:
    """--jobs N (default: ``cores``)."""
    return parse_int(text, "--jobs", 1, MAX_JOBS) if text else cores


def format_name(text: str, formats: tuple[str, ...] = FORMATS) -> str:
    """--format FORMAT (one of ``formats``)."""
    name = text.strip().lower()
    if name not in formats:
        raise BadParameter(f"unknown format {name!r}", f"use one of {', '.join(formats)}")
    return name


def digits(text: Any, option: str = "--precision") -> int | None:
    """--precision N: significant digits (None: the shortest round-trip)."""
    return None if text is None else parse_int(text, option, 1, 17)


# the REPL's :settings: each stands for an option of the evaluating commands, checked as it is
REPL_SETTINGS = {
    ":format": "output_format",
    ":dtype": "dtype",
    ":device": "device",
    ":precision": "precision",
}


def setting(name: str, text: str) -> str | int | None:
    """A :setting's value, checked as the option it stands for (None: back to the default)."""
    text = text.strip()
    if name == ":precision":
        return None if text in ("", "off", "full") else digits(text, name)
    if name == ":format":
        return None if text in ("", "auto") else format_name(text)
    if not text:
        raise BadParameter(
            f"{name} needs a value", f"e.g. {name} {choices(REPL_SETTINGS[name])[0]}"
        )
    if name == ":dtype":
        return dtype_name(text)
    return device_name(text, "")


def choices(key: str) -> tuple[str, ...]:
    """What completion offers for the evaluating commands' option ``key``."""
    return next(o.choices for o in _shared_tail(False) if o.key == key)
