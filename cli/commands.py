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

from ..core import command_options, evaluate
from ..core.command_options import (
    VALUES_HELP,
    Option,
    device_list,
    dtype_list,
    expr_options,
    expr_request,
    function_options,
    function_request,
)
from ..core.errors import BadParameter
from ..core.functions import registry
from ..core.request import enforce_cost
from .exits import ExitStatus
from .output import print_rich, resolve_format, steps, width, write


def _complete(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    return lambda incomplete: [c for c in choices if c.startswith(incomplete)]


def _parameter(option: Option) -> inspect.Parameter:
    """The Typer option of one entry of core's option table."""
    extra: dict[str, Any] = {}
    if option.choices:
        extra["autocompletion"] = _complete(option.choices)
    if option.envvar:
        extra["envvar"] = option.envvar
    if option.shown is not None:
        extra["show_default"] = option.shown
    flags = option.flags
    annotation = {"flag": bool, "switch": bool | None, "values": list[str] | None}.get(
        option.kind, str | None if option.default is None else str
    )
    if option.kind == "switch":
        flags = tuple(f"{f}/--no-{f[2:]}" for f in flags)
    return inspect.Parameter(
        option.key,
        inspect.Parameter.KEYWORD_ONLY,
        default=option.initial,
        annotation=Annotated[
            annotation,
            typer.Option(
                *flags,
                metavar=option.metavar,
                rich_help_panel=option.panel,
                help=option.help,
                **extra,
            ),
        ],
    )


def _stdin() -> Iterator[str]:
    """stdin in chunks, looked up at call time (tests replace sys.stdin): the parser streams
    it, so an endless pipe meets the element cap, not the memory's end. On a terminal: a
    prompt, and one Ctrl-D ends the numbers (a read that returned would wait for another)."""
    if sys.stdin.isatty():
        sys.stderr.write("actgrad: reading numbers from the terminal; end them with Ctrl-D\n")
        yield sys.stdin.read()
        return
    while chunk := sys.stdin.read(1 << 20):
        yield chunk


INVOKED: list[str] = []  # this invocation's arguments as given (the app sets them): --report
RESULT_HOOKS: list[Callable[[Any], None]] = []  # each is called with every result (REPL's ans)


def _emit(request: Any, options: dict[str, Any]) -> None:
    """core.evaluate → renderer → stdout, in the format asked for."""
    fmt = resolve_format(options["output_format"], options["as_json"])
    if options.get("header") and fmt == "json":
        raise BadParameter(
            "--header names plain output's columns; JSON names every number",
            "drop --header, or use --format plain",
        )
    precision = options["precision"]
    digits = command_options.digits(precision)
    if options.get("report") is not None:
        _emit_report(replace(request, check=True), options, fmt, digits)
        return
    if options.get("dtypes"):
        _emit_dtypes(
            request,
            dtype_list(options["dtypes"]),
            fmt,
            digits,
            options["header"],
            options.get("quiet", False),
        )
        return
    if options.get("devices"):
        _emit_devices(
            request,
            device_list(options["devices"]),
            fmt,
            digits,
            options["header"],
            options.get("quiet", False),
        )
        return
    result = evaluate(request)
    for hook in RESULT_HOOKS:
        hook(result)
    show(result, fmt, digits, options.get("header", False), options.get("quiet", False))


def _emit_report(request: Any, options: dict[str, Any], fmt: str, digits: int | None) -> None:
    """--report [FILE]: --check, then the worst finding as Markdown on stdout (nothing else
    there) or in FILE (the result on stdout as usual). Exit 1 when something is flagged, as
    --check; nothing flagged: said on stderr, no report, exit 0."""
    import shlex

    from ..core.accuracy.report import report
    from . import files

    target = options["report"]
    if options.get("dtypes"):
        raise BadParameter("--report covers one dtype", "drop --dtypes (run once per dtype)")
    if target == "-" and fmt == "json":
        raise BadParameter(
            "--report writes Markdown on stdout, not JSON",
            "drop --json, or give --report FILE (the JSON result stays on stdout)",
        )
    if target != "-":
        files.check_writable(target)
    result = evaluate(request)
    found = report(request, result, "actgrad " + shlex.join(INVOKED))
    if not found.flagged:
        sys.stderr.write(f"actgrad: --report: {found.text}\n")
        if target != "-":
            show(result, fmt, digits, options.get("header", False), options.get("quiet", False))
        elif not result.check["ok"]:  # flagged against torch's float64 alone: --check fails
            raise typer.Exit(ExitStatus.ERROR)
        return
    if target == "-":
        write(found.text)
    else:
        files.write_text(target, found.text)
        sys.stderr.write(f"actgrad: wrote {target}: {found.text.splitlines()[0][2:]}\n")
    if not found.reproduced:
        sys.stderr.write(
            "actgrad: note: the reproducer does not give torch's number on this machine "
            "(the report says what it gives)\n"
        )
    if target != "-":
        show(result, fmt, digits, options.get("header", False), options.get("quiet", False))
    raise typer.Exit(ExitStatus.ERROR)  # a finding fails, as --check does


def show(
    result: Any, fmt: str, digits: int | None = None, header: bool = False, quiet: bool = False
) -> None:
    """A result on stdout in ``fmt`` (table, plain or json), its notes beside plain data
    (``quiet``: none, except in JSON, which is data)."""
    from . import render  # numpy: not on the --help path

    if quiet and fmt != "json":
        result = replace(result, notes=[])
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


def evaluate_dtypes(
    request: Any, dtypes: list[str], each: Callable = lambda items, label: items
) -> tuple[dict[str, Any], dict]:
    """One request in several dtypes (``each`` walks them: a progress bar, or plainly), and
    their comparison against float64."""
    from ..core.accuracy.check import compare_dtypes  # torch

    enforce_cost(request, dtypes)
    results = {d: evaluate(replace(request, dtype=d, check=False)) for d in each(dtypes, "dtypes")}
    return results, compare_dtypes(results)


def _emit_dtypes(
    request: Any,
    dtypes: list[str],
    fmt: str,
    digits: int | None,
    header: bool = False,
    quiet: bool = False,
) -> None:
    """One request in several dtypes, side by side, with errors against float64."""
    from . import render  # numpy: not on the --help path

    results, comparison = evaluate_dtypes(request, dtypes, steps)
    if quiet and fmt != "json":
        results = {d: replace(r, notes=[]) for d, r in results.items()}
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


def evaluate_devices(
    request: Any, devices: list[str], each: Callable = lambda items, label: items
) -> dict[str, Any]:
    """One request on several devices, each judged against the true value (--check), keyed
    by the device as torch names it (auto and cuda resolved: cuda:0); a device named twice
    that way, or one this machine lacks, is refused before anything runs."""
    from ..core.evaluator.engine import resolved  # torch

    names: dict[str, str] = {}
    for given in devices:
        name = resolved(given, " in --devices")
        if name in names:
            raise BadParameter(
                f"--devices names {name} twice ({names[name]} and {given})",
                "name each device once",
            )
        names[name] = given
    checked = replace(request, check=True)
    enforce_cost(checked, (), len(names))
    return {d: evaluate(replace(checked, device=d)) for d in each(list(names), "devices")}


def _emit_devices(
    request: Any,
    devices: list[str],
    fmt: str,
    digits: int | None,
    header: bool = False,
    quiet: bool = False,
) -> None:
    """One request on several devices, side by side, each with its --check report; exit 1
    when a device's check fails, as --check does."""
    from . import render  # numpy: not on the --help path

    results = evaluate_devices(request, devices, steps)
    if quiet and fmt != "json":
        results = {d: replace(r, notes=[]) for d, r in results.items()}
    if fmt == "json":
        write(render.render_devices_json(results, digits))
    elif fmt == "plain":
        for chunk in render.render_dtypes_plain(results, digits, header):
            write(chunk)
        lines = []
        for device, result in results.items():
            lines += [f"{device}: {line}" for line in render.check_lines(result)]
            lines += [f"note: {device}: {n}" for n in result.notes]
        _to_stderr(lines)
    else:
        print_rich(render.render_devices_table(results, digits, width()))
    if not all(r.check["ok"] for r in results.values()):
        raise typer.Exit(ExitStatus.ERROR)  # a failed check fails, as --check alone does


def _to_stderr(lines: list[str]) -> None:
    """A report beside plain data (--check, notes): on stderr, so stdout keeps only data."""
    for line in lines:
        sys.stderr.write(" ".join(line.split()) + "\n")


def run(spec: registry.FunctionSpec, options: dict[str, Any]) -> None:
    """Options → request → core.evaluate → renderer → stdout."""
    fmt = resolve_format(options["output_format"], options["as_json"])  # usage errors first
    _emit(function_request(spec, options, _stdin, streamed=fmt != "json"), options)


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


ATTACHED_VALUES = re.compile(r"[-+0-9.eE,:\[\] ]+|[-+]?(?:inf|nan)", re.ASCII | re.IGNORECASE)


def _short_with_value(arg: str, takes_value: dict[str, bool]) -> bool:
    """``-x0.5``: a short option with its value attached (POSIX). For -x the value must look
    like VALUES, so that an expression such as -x^2 stays an expression."""
    if len(arg) < 3 or arg.startswith("--") or not takes_value.get(arg[:2]):
        return False
    return arg[:2] != "-x" or ATTACHED_VALUES.fullmatch(arg[2:]) is not None


OPTIONAL_VALUE = ("--report",)  # options whose value may be left out (then "-": stdout)
# a word that reads as VALUES (a number, a list, a range, a JSON array): never a FILE
VALUES = re.compile(r"^[-+]?(inf|nan)$|^[-+.\d\[\]:,eE\s]+$", re.IGNORECASE)


def options_first(command: Any, args: list[str]) -> list[str]:
    """``args`` for ``command`` with its options first and its positional arguments after
    ``--``: Click would read a value such as ``-0.5`` or an expression such as ``-x^2`` as an
    option. An unknown ``--long`` option stays an option, for Click to name it."""
    takes_value = _takes_value(command)
    options: list[str] = []
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            positional += args[i + 1 :]
            break
        has_value = i + 1 < len(args) and args[i + 1].split("=", 1)[0] not in takes_value
        long = arg.startswith("--")
        if arg in OPTIONAL_VALUE:  # --report [FILE]: a FILE is a next word that is no number
            given = has_value and not VALUES.match(args[i + 1])
            options.append(f"{arg}={args[i + 1] if given else '-'}")
            i += 2 if given else 1
            continue
        taken = _option_words(args, i, takes_value, has_value, long)
        if taken:
            options += taken
        else:  # a value, an expression, or a short option left without its value: -x
            positional.append(arg)
        i += max(len(taken), 1)
    return [*options, "--", *positional] if positional else options


def _takes_value(command: Any) -> dict[str, bool]:
    """{option spelling: whether it takes a value} of a Click command."""
    takes_value: dict[str, bool] = {}
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option":
            for name in (*param.opts, *param.secondary_opts):
                takes_value[name] = not param.is_flag and not param.count
    return takes_value


def _option_words(
    args: list[str], i: int, takes_value: dict[str, bool], has_value: bool, long: bool
) -> list[str]:
    """The words of the option at ``args[i]`` (with its value when it takes the next word),
    or [] where ``args[i]`` is a positional word."""
    arg = args[i]
    name = arg.split("=", 1)[0]
    if _short_with_value(arg, takes_value):  # -x0.5, -fjson: a short option and its value
        return [arg]
    if name in takes_value and (not takes_value[name] or "=" in arg or has_value or long):
        if takes_value[name] and "=" not in arg and has_value:
            return [arg, args[i + 1]]
        return [arg]
    if long and name not in takes_value:  # an unknown --long: Click names it
        return [arg]
    return []


def _signed(
    fn: Callable[..., None], parameters: list[inspect.Parameter], name: str, doc: str | None
) -> Callable[..., None]:
    """``fn`` with the signature Typer reads its command's options from."""
    fn.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    fn.__annotations__ = {p.name: p.annotation for p in parameters}
    fn.__name__ = name
    fn.__doc__ = doc
    return fn


def make_command(spec: registry.FunctionSpec) -> Callable[..., None]:
    """A function whose signature Typer turns into the command for ``spec``: its options
    are core's option table for the function (core/command_options.py)."""
    values = inspect.Parameter(
        "values",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            list[str] | None,
            typer.Argument(
                metavar="[VALUES]...",
                show_default=False,
                help="The input, as --x takes it: actgrad sigmoid 0.5 is --x 0.5."
                if not spec.reduces
                else "Not taken: give the inputs by name (see below).",
            ),
        ],
    )

    def command(**options: Any) -> None:
        run(spec, options)

    doc = (
        f"{spec.summary[0].upper()}{spec.summary[1:]}: {spec.formula}.\n\nExample: {spec.example}"
        + (f"\n\nVALUES: {VALUES_HELP}." if spec.reduces else "")
    )
    parameters = [values, *map(_parameter, function_options(spec))]
    return _signed(command, parameters, spec.name, doc)


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


def make_expr_command() -> Callable[..., None]:
    """``actgrad expr EXPRESSION --var NAME=VALUES … [--grad [NAMES]] [--symbolic]``."""
    expression = inspect.Parameter(
        "expression",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=Annotated[
            str,
            typer.Argument(metavar="EXPRESSION", help='e.g. "x*sigmoid(x)" or "(1 - w*x)**2".'),
        ],
    )

    def command(**options: Any) -> None:
        fmt = resolve_format(options["output_format"], options["as_json"])
        _emit(expr_request(options, _stdin, streamed=fmt != "json"), options)

    doc = (
        "A math expression over activations, differentiated by autograd.\n\n"
        "Numbers, variables, + - * / ** ^, calls of every function (keyword arguments for "
        "their parameters), exp log log1p expm1 sqrt abs sin cos tan erf min max maximum "
        "minimum clamp sum mean norm, and pi, e.\n\n"
        'Example: actgrad expr "(1 - w*x)**2" --var w=3 --var x=1 --grad w'
    )
    return _signed(command, [expression, *map(_parameter, expr_options())], "expr", doc)


def argument(
    name: str,
    metavar: str,
    help: str,
    default: Any = inspect.Parameter.empty,
    many: bool = False,
    complete: Callable[[str], list[str]] | None = None,
) -> inspect.Parameter:
    """A positional argument of a command built from a table (``many``: NAME...)."""
    extra = {"autocompletion": complete} if complete else {}
    annotation = list[str] | None if many else str
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[annotation, typer.Argument(metavar=metavar, help=help, **extra)],
    )


def table_command(
    run: Callable[..., None],
    arguments: list[inspect.Parameter],
    table: list[Option],
    name: str,
    doc: str | None,
) -> Callable[..., None]:
    """The command ``name`` with ``arguments`` and the options of one of core's tables
    (core/command_options.py): ``run`` gets each by its key."""

    def command(**options: Any) -> None:
        run(**options)

    return _signed(command, [*arguments, *map(_parameter, table)], name, doc)
