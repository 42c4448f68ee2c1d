"""One Typer command per registry entry, generated from its FunctionSpec.

Every command shares the same input, derivative, device and output options; each function
parameter becomes an option spelled as in torch with hyphens (``--negative-slope``).
Values arrive as raw strings and are validated by actgrad.core, so the command line and
batch mode accept exactly the same things.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Annotated, Any

import typer
from actgrad.cli.exits import ExitStatus
from actgrad.cli.output import FORMATS, print_rich, resolve_format, steps, width, write
from actgrad.core import evaluate, registry
from actgrad.core.errors import BadParameter
from actgrad.core.options import DTYPES, parse_int
from actgrad.core.request import build_expr_request, build_request, enforce_cost

INPUTS = "Inputs"
DERIVATIVES = "Derivatives"
PARAMETERS = "Function parameters"
OUTPUT = "Output and device"


def _complete(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    return lambda incomplete: [c for c in choices if c.startswith(incomplete)]


def _option(name: str, annotation: Any, default: Any, option: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[annotation, option],
    )


def _wrt(help: str) -> inspect.Parameter:
    """--wrt NAMES: the inputs or variables to differentiate."""
    return _option(
        "wrt",
        str | None,
        None,
        typer.Option("--wrt", metavar="NAMES", rich_help_panel=DERIVATIVES, help=help),
    )


VALUES_HELP = "0.5 | -1,0,2 | start:stop:count | JSON array [[1,2],[3,4]] | - (stdin)"


def _tensor_option(name: str, names: tuple[str, ...], help: str) -> inspect.Parameter:
    return _option(
        f"t_{name}",
        list[str] | None,
        None,
        typer.Option(*names, metavar="VALUES", rich_help_panel=INPUTS, help=help),
    )


def _inputs(spec: registry.FunctionSpec) -> list[inspect.Parameter]:
    if spec.kind == "activation":
        help = f"Input: {VALUES_HELP}. Repeat to concatenate."
        return [_tensor_option("x", ("--x", "-x"), help)]
    params = [
        _tensor_option(t.name, t.options, f"{t.help[0].upper()}{t.help[1:]}.") for t in spec.inputs
    ]
    if spec.model:
        params += [
            _tensor_option("x", ("--x",), "Model input x, pred = x·w (default 1)."),
            _tensor_option("w", ("--w",), "Model weight w, pred = x·w (target --y defaults to 1)."),
        ]
    return params


def _derivatives(spec: registry.FunctionSpec) -> list[inspect.Parameter]:
    loss = spec.kind != "activation"
    what = {"loss": "loss", "norm": "norm"}.get(spec.kind, "output")
    if loss:
        first = (
            "First derivative w.r.t. each input given (torch.autograd.grad; per element "
            "with --reduction none)."
        )
        order = f"0-2; 2: the Hessian of the {what}."
    elif spec.pointwise:
        first, order = "First derivative (torch.autograd.grad).", "Derivatives up to order N (0-4)."
    else:
        first = "The Jacobian along --dim (torch.autograd.grad of every output)."
        order = "0-2; 2 with --index: the Hessian of output I."
    params = [
        _option(
            "grad",
            bool,
            False,
            typer.Option("--grad", "-g", rich_help_panel=DERIVATIVES, help=first),
        ),
        _option(
            "order",
            str | None,
            None,
            typer.Option("--order", metavar="N", rich_help_panel=DERIVATIVES, help=order),
        ),
        _cotangent_option(),
    ]
    if loss:
        names = [t.name for t in spec.inputs if t.grad != "never"]
        example = "w,x" if spec.model else ",".join(names[:2])
        params.append(_wrt(f"Differentiate only with respect to these inputs, e.g. {example}."))
        if spec.aligned:
            params.append(
                _option(
                    "broadcast",
                    bool,
                    False,
                    typer.Option(
                        "--broadcast",
                        rich_help_panel=INPUTS,
                        help="Let inputs of different shapes broadcast (otherwise an error).",
                    ),
                )
            )
    elif not spec.pointwise:
        params.append(
            _option(
                "index",
                str | None,
                None,
                typer.Option(
                    "--index",
                    metavar="I",
                    rich_help_panel=DERIVATIVES,
                    help="Gradient of output I only (a Jacobian row): grad(y[I], x).",
                ),
            )
        )
    return params


COTANGENT_HELP = (
    "v for the vector-Jacobian product vᵀJ: what y.backward(v) leaves in x.grad (--grad is "
    "torch.autograd.grad; --index I is v one-hot at I). VALUES shaped like the output."
)


def _cotangent_option() -> inspect.Parameter:
    return _option(
        "cotangent",
        list[str] | None,
        None,
        typer.Option(
            "--cotangent",
            "--vjp",
            "--backward",
            metavar="VALUES",
            rich_help_panel=DERIVATIVES,
            help=COTANGENT_HELP,
        ),
    )


def _param_option(param: registry.Param) -> inspect.Parameter:
    name = f"p_{param.name}"
    if param.kind == "bool":
        flag = param.option
        return _option(
            name,
            bool | None,
            None,
            typer.Option(
                f"{flag}/--no-{flag[2:]}",
                help=param.help,
                rich_help_panel=PARAMETERS,
                show_default=str(param.default).lower(),
            ),
        )
    extra: dict[str, Any] = {}
    if param.choices:
        extra["autocompletion"] = _complete(param.choices)
    return _option(
        name,
        str | None,
        None,
        typer.Option(
            param.option,
            help=(param.help + (f" ({'|'.join(param.choices)})" if param.choices else "")),
            metavar=param.kind.upper() if not param.choices else "CHOICE",
            show_default="required" if param.required else str(param.default),
            rich_help_panel=PARAMETERS,
            **extra,
        ),
    )


def _shared_tail(stochastic: bool) -> list[inspect.Parameter]:
    params = []
    if stochastic:
        params.append(
            _option(
                "seed",
                str | None,
                None,
                typer.Option(
                    "--seed",
                    metavar="N",
                    rich_help_panel=PARAMETERS,
                    help="Random seed for reproducible draws (random and echoed if omitted).",
                ),
            )
        )
    params += [
        _option(
            "dtypes",
            str | None,
            None,
            typer.Option(
                "--dtypes",
                metavar="LIST",
                rich_help_panel=OUTPUT,
                help="The same evaluation in each dtype (e.g. float32,float16), beside float64.",
            ),
        ),
        _option(
            "check",
            bool,
            False,
            typer.Option(
                "--check",
                rich_help_panel=OUTPUT,
                help="Can the numbers be trusted? Error against the true value (arbitrary "
                "precision) in ulps, flags, finite differences; exit 1 when a number fails.",
            ),
        ),
        _option(
            "exact",
            bool,
            False,
            typer.Option(
                "--exact",
                rich_help_panel=OUTPUT,
                help="Also the true value of every number (arbitrary precision, decimal digits).",
            ),
        ),
        _option(
            "ulps",
            str | None,
            None,
            typer.Option(
                "--ulps",
                metavar="N",
                rich_help_panel=OUTPUT,
                show_default="64; 4 in float16, bfloat16",
                help="--check: flag a number more than N ulps of its dtype from the true value.",
            ),
        ),
        _option(
            "device",
            str | None,
            None,
            typer.Option(
                "--device",
                metavar="DEVICE",
                envvar="ACTGRAD_DEVICE",
                show_default="cpu",
                rich_help_panel=OUTPUT,
                help="cpu | cuda | cuda:N | mps | auto.",
                autocompletion=_complete(("cpu", "cuda", "mps", "auto")),
            ),
        ),
        _option(
            "dtype",
            str | None,
            None,
            typer.Option(
                "--dtype",
                metavar="DTYPE",
                envvar="ACTGRAD_DTYPE",
                show_default="float32",
                rich_help_panel=OUTPUT,
                help=" | ".join(DTYPES) + ".",
                autocompletion=_complete(DTYPES),
            ),
        ),
        _option(
            "output_format",
            str,
            "auto",
            typer.Option(
                "--format",
                "-f",
                metavar="FORMAT",
                rich_help_panel=OUTPUT,
                autocompletion=_complete(FORMATS),
                help="auto (table on a terminal, plain in a pipe) | table | plain | json.",
            ),
        ),
        _option(
            "as_json",
            bool,
            False,
            typer.Option(
                "--json",
                rich_help_panel=OUTPUT,
                help="Same as --format json (strict JSON).",
            ),
        ),
        _option(
            "header",
            bool,
            False,
            typer.Option(
                "--header",
                rich_help_panel=OUTPUT,
                help="Plain output: the column names (tab-separated) as the first line.",
            ),
        ),
        _option(
            "precision",
            str | None,
            None,
            typer.Option(
                "--precision",
                metavar="N",
                rich_help_panel=OUTPUT,
                help="Significant digits (default: shortest text that round-trips the dtype).",
            ),
        ),
        _option(
            "max_elements",
            str | None,
            None,
            typer.Option(
                "--max-elements",
                metavar="N",
                envvar="ACTGRAD_MAX_ELEMENTS",
                rich_help_panel=OUTPUT,
                show_default="134217728 = 2^27",
                help="Refuse inputs, Jacobians or Hessians with more elements than N.",
            ),
        ),
    ]
    return params


def _stdin() -> Iterator[str]:
    """stdin in chunks, looked up at call time (tests replace sys.stdin): the parser streams
    it, so an endless pipe meets the element cap, not the memory's end."""
    while chunk := sys.stdin.read(1 << 20):
        yield chunk


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [w.strip() for w in text.split(",") if w.strip()]


RESULT_HOOKS: list[Callable[[Any], None]] = []  # each is called with every result (REPL's ans)


def _emit(request: Any, options: dict[str, Any]) -> None:
    """core.evaluate → renderer → stdout, in the format asked for."""
    fmt = resolve_format(options["output_format"], options["as_json"])
    precision = options["precision"]
    digits = None if precision is None else parse_int(precision, "--precision", 1, 17)
    if options.get("dtypes"):
        _emit_dtypes(request, dtype_list(options["dtypes"]), fmt, digits, options["header"])
        return
    result = evaluate(request)
    for hook in RESULT_HOOKS:
        hook(result)
    show(result, fmt, digits, options.get("header", False))


def show(result: Any, fmt: str, digits: int | None = None, header: bool = False) -> None:
    """A result on stdout in ``fmt`` (table, plain or json), its notes beside plain data."""
    from actgrad.cli import render  # numpy: not on the --help path

    if fmt == "json":
        write(render.render_json(result, digits))
    elif fmt == "plain":
        for chunk in render.render_plain(result, digits, header):
            write(chunk)
        _to_stderr([*render.check_lines(result), *(f"note: {n}" for n in result.notes)])
    else:
        print_rich(render.render_table(result, digits, width()))
    if result.check is not None and not result.check["ok"]:
        raise typer.Exit(ExitStatus.ERROR)  # a failed check fails, as gradcheck raises


def dtype_list(text: str) -> list[str]:
    names = ["float64", *(d.strip().lower() for d in text.split(",") if d.strip())]
    for name in names:
        if name not in DTYPES:
            raise BadParameter(f"unknown dtype {name!r} in --dtypes", f"use {', '.join(DTYPES)}")
    return list(dict.fromkeys(names))


def evaluate_dtypes(
    request: Any, dtypes: list[str], each: Callable = lambda items, label: items
) -> tuple[dict[str, Any], dict]:
    """One request in several dtypes (``each`` walks them: a progress bar, or plainly), and
    their comparison against float64."""
    from actgrad.core.check import compare_dtypes  # torch

    enforce_cost(request, dtypes)
    results = {d: evaluate(replace(request, dtype=d, check=False)) for d in each(dtypes, "dtypes")}
    return results, compare_dtypes(results)


def _emit_dtypes(
    request: Any, dtypes: list[str], fmt: str, digits: int | None, header: bool = False
) -> None:
    """One request in several dtypes, side by side, with errors against float64."""
    from actgrad.cli import render  # numpy: not on the --help path

    results, comparison = evaluate_dtypes(request, dtypes, steps)
    if fmt == "json":
        write(render.render_dtypes_json(results, comparison, digits))
    elif fmt == "plain":
        for chunk in render.render_dtypes_plain(results, digits, header):
            write(chunk)
        shared = results["float64"].notes  # then what only some dtype adds, named
        extra = [f"note: {d}: {n}" for d, r in results.items() for n in r.notes if n not in shared]
        _to_stderr([*(f"note: {n}" for n in shared), *extra])
    else:
        print_rich(render.render_dtypes_table(results, comparison, digits, width()))


def _to_stderr(lines: list[str]) -> None:
    """A report beside plain data (--check, notes): on stderr, so stdout keeps only data."""
    for line in lines:
        sys.stderr.write(" ".join(line.split()) + "\n")


def run(spec: registry.FunctionSpec, options: dict[str, Any]) -> None:
    """Options → request → core.evaluate → renderer → stdout."""
    fmt = resolve_format(options["output_format"], options["as_json"])  # usage errors first
    _emit(request_from_options(spec, options, streamed=fmt != "json"), options)


def request_from_options(
    spec: registry.FunctionSpec,
    options: dict[str, Any],
    read_stdin: Any = None,
    streamed: bool = False,
) -> Any:
    """The parsed options of a function command as a Request (also used by batch)."""
    options = _positional_values(spec, options)
    params = {p.name: options[f"p_{p.name}"] for p in spec.params}
    inputs = {k[2:]: v for k, v in options.items() if k.startswith("t_") and v}
    request = build_request(
        spec.name,
        inputs,
        params,
        wrt=_names(options.get("wrt")),
        broadcast=options.get("broadcast", False),
        grad=options["grad"],
        order=options["order"],
        index=options.get("index"),
        device=options["device"],
        dtype=options["dtype"],
        seed=options.get("seed"),
        max_elements=options["max_elements"],
        read_stdin=read_stdin or _stdin,
        check=options["check"],
        streamed=streamed,
        cotangent=options.get("cotangent"),
    )
    return with_trust(request, options)


def with_trust(request: Any, options: dict[str, Any]) -> Any:
    """The request with --exact and --ulps N (which only --check reads) applied."""
    ulps = options.get("ulps")
    if ulps is not None:
        ulps = parse_int(ulps, "--ulps", 0, 1 << 62)
    if not options.get("exact") and ulps is None:
        return request
    return replace(request, exact=bool(options.get("exact")), ulps=ulps)


# --grad w,x: variable names, comma-separated
NAMES_LIST = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:,[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)


def grad_names(argv: list[str]) -> list[str]:
    """``expr … --grad w,x`` means ``--grad --wrt w,x`` (Typer options take no optional value)."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        names_follow = i + 1 < len(argv) and NAMES_LIST.fullmatch(argv[i + 1])
        expression_elsewhere = i + 2 < len(argv) or any(not a.startswith("-") for a in argv[1:i])
        if arg in ("--grad", "-g") and names_follow and expression_elsewhere:
            out.append("--wrt")
    return out


def options_first(command: Any, args: list[str]) -> list[str]:
    """``args`` for ``command`` with its options first and its positional arguments after
    ``--``: Click would read a value such as ``-0.5`` or an expression such as ``-x^2`` as an
    option. An unknown ``--long`` option stays an option, for Click to name it."""
    takes_value: dict[str, bool] = {}
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option":
            for name in (*param.opts, *param.secondary_opts):
                takes_value[name] = not param.is_flag and not param.count
    options: list[str] = []
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        if arg == "--":
            positional += args[i + 1 :]
            break
        has_value = i + 1 < len(args) and args[i + 1].split("=", 1)[0] not in takes_value
        long = arg.startswith("--")
        if name in takes_value and (not takes_value[name] or "=" in arg or has_value or long):
            options.append(arg)
            if takes_value[name] and "=" not in arg and has_value:
                options.append(args[i + 1])
                i += 1
        elif arg.startswith("--") and name not in takes_value:
            options.append(arg)
        else:  # a value, an expression, or a short option left without its value: -x
            positional.append(arg)
        i += 1
    return [*options, "--", *positional] if positional else options


def _positional_values(spec: registry.FunctionSpec, options: dict[str, Any]) -> dict[str, Any]:
    """``actgrad sigmoid 0.5`` is ``actgrad sigmoid --x 0.5`` (values are parsed as --x's)."""
    values = list(options.get("values") or ())
    if not values:
        return options
    shown = " ".join(values)
    if spec.kind != "activation":
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


def make_command(spec: registry.FunctionSpec) -> Callable[..., None]:
    """A function whose signature Typer turns into the command for ``spec``."""
    parameters = [
        _option(
            "values",
            list[str] | None,
            None,
            typer.Argument(
                metavar="[VALUES]...",
                show_default=False,
                help="The input, as --x takes it: actgrad sigmoid 0.5 is --x 0.5."
                if spec.kind == "activation"
                else "Not taken: give the inputs by name (see below).",
            ),
        ),
        *_inputs(spec),
        *_derivatives(spec),
        *(_param_option(p) for p in spec.params if p.name != "dim"),
        *(
            [
                _option(
                    "p_dim",
                    str | None,
                    None,
                    typer.Option(
                        "--dim",
                        metavar="INT",
                        show_default="-1",
                        rich_help_panel=DERIVATIVES,
                        help="Dimension the function works along (echoed in the output).",
                    ),
                )
            ]
            if any(p.name == "dim" for p in spec.params)
            else []
        ),
        *_shared_tail(spec.stochastic),
    ]

    def command(**options: Any) -> None:
        run(spec, options)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__name__ = spec.name
    command.__doc__ = (
        f"{spec.summary[0].upper()}{spec.summary[1:]}: {spec.formula}.\n\nExample: {spec.example}"
        + (f"\n\nVALUES: {VALUES_HELP}." if spec.kind != "activation" else "")
    )
    return command


def short_help(spec: registry.FunctionSpec) -> str:
    """The root help's line for a function: its whole formula and the aliases people type."""
    aliases = f"  [also: {', '.join(a.replace('_', '-') for a in spec.aliases)}]"
    return spec.formula + (aliases if spec.aliases else "")


def add_function_commands(
    app: typer.Typer, specs: list[registry.FunctionSpec], listing: bool = False
) -> None:
    """One command per spec; ``listing``: names and help lines only (the root --help, which
    then need not convert every command's options)."""
    for spec in specs:
        command = make_command(spec) if not listing else _listed(spec)
        app.command(spec.command, help=command.__doc__, short_help=short_help(spec))(command)


def _listed(spec: registry.FunctionSpec) -> Callable[[], None]:
    def command() -> None:
        raise AssertionError("a listing-only command is never run")

    command.__doc__ = spec.summary
    command.__name__ = spec.name
    return command


def expr_request_from_options(
    options: dict[str, Any], read_stdin: Any = None, streamed: bool = False
) -> Any:

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
        read_stdin=read_stdin or _stdin,
        check=options["check"],
        streamed=streamed,
        cotangent=options.get("cotangent"),
    )
    return with_trust(request, options)


def make_expr_command() -> Callable[..., None]:
    """``actgrad expr EXPRESSION --var NAME=VALUES … [--grad [NAMES]] [--symbolic]``."""
    parameters = [
        inspect.Parameter(
            "expression",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Annotated[
                str,
                typer.Argument(metavar="EXPRESSION", help='e.g. "x*sigmoid(x)" or "(1 - w*x)**2".'),
            ],
        ),
        _option(
            "var",
            list[str] | None,
            None,
            typer.Option(
                "--var",
                metavar="NAME=VALUES",
                rich_help_panel=INPUTS,
                help=f"A variable: NAME=VALUES, VALUES as {VALUES_HELP}. Repeat for more.",
            ),
        ),
        _tensor_option("x", ("--x", "-x"), "Shorthand for --var x=VALUES."),
        _option(
            "grad",
            bool,
            False,
            typer.Option(
                "--grad",
                "-g",
                rich_help_panel=DERIVATIVES,
                help="Derivatives w.r.t. every variable; --grad w,x for some.",
            ),
        ),
        _wrt("The variables to differentiate (same as --grad NAMES)."),
        _option(
            "order",
            str | None,
            None,
            typer.Option(
                "--order",
                metavar="N",
                rich_help_panel=DERIVATIVES,
                help="Derivatives up to order N (elementwise; 2 gives a Hessian of a scalar).",
            ),
        ),
        _option(
            "symbolic",
            bool,
            False,
            typer.Option(
                "--symbolic",
                rich_help_panel=DERIVATIVES,
                help="Also give each derivative as a formula (sympy).",
            ),
        ),
        _cotangent_option(),
        *_shared_tail(False),
    ]

    def command(**options: Any) -> None:
        fmt = resolve_format(options["output_format"], options["as_json"])
        _emit(expr_request_from_options(options, streamed=fmt != "json"), options)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__name__ = "expr"
    command.__doc__ = (
        "A math expression over activations, differentiated by autograd.\n\n"
        "Numbers, variables, + - * / ** ^, calls of every function (keyword arguments for "
        "their parameters), exp log log1p expm1 sqrt abs sin cos tan erf min max maximum "
        "minimum clamp sum mean norm, and pi, e.\n\n"
        'Example: actgrad expr "(1 - w*x)**2" --var w=3 --var x=1 --grad w'
    )
    return command


def with_function_params(fn: Callable[..., None]) -> Callable[..., None]:
    """``fn`` plus one option for each parameter of the elementwise activations
    (``--negative-slope``, ``--alpha``, …), as on the function commands."""
    seen: dict[str, registry.Param] = {}
    for spec in registry.specs():
        if spec.kind == "activation" and spec.pointwise:
            for param in spec.params:
                seen.setdefault(param.name, param)
    own = [
        p
        for p in inspect.signature(fn, eval_str=True).parameters.values()
        if p.kind is not p.VAR_KEYWORD
    ]
    extra = [_param_option(p) for p in seen.values()]

    def command(*args: Any, **options: Any) -> None:
        fn(*args, **options)

    command.__signature__ = inspect.Signature([*own, *extra])  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in [*own, *extra]}
    command.__name__ = fn.__name__
    command.__doc__ = fn.__doc__
    return command
