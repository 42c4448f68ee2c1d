"""The Typer application: `actgrad FUNCTION …`, `list`, `explain`, and the error boundary."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ..core import __version__, command_options
from ..core.errors import BadParameter, UnknownFunction
from ..core.functions import registry
from ..core.schema import JSON_FORMAT
from . import commands, describe
from .commands import (
    add_function_commands,
    grad_names,
    make_expr_command,
    options_first,
)
from .exits import ExitStatus, interrupted
from .output import FORMATS, print_rich, resolve_format, write
from .status import status_for


def _plain_metavars(command: Any) -> None:
    """Usage lines name a required argument as NAME, not Typer's {NAME}."""
    for param in command.params:
        if getattr(param, "param_type_name", "") == "argument" and param.required:
            name = param.metavar or (param.name or "").upper()
            param.make_metavar = lambda ctx=None, usage=False, _name=name: _name


def help_alias(argv: list[str]) -> list[str]:
    """``actgrad help [COMMAND]`` is ``actgrad [COMMAND] --help``."""
    if argv[:1] == ["help"]:
        return [*argv[1:2], "--help"]
    return argv


def help_command(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="COMMAND",
            help="A function or command.",
            autocompletion=lambda incomplete: _complete_function(incomplete),
        ),
    ] = None,
) -> None:
    """Help for a command: actgrad help sigmoid is actgrad sigmoid --help."""
    # the command line rewrites `help NAME` first (help_alias); this serves other callers
    group = ctx.parent.command if ctx.parent is not None else None
    target = group.get_command(ctx.parent, name) if group is not None and name else group
    if target is None:
        raise UnknownFunction(f"unknown command {name!r}", "run 'actgrad list' for functions")
    sub = target.context_class(target, info_name=name or "actgrad", parent=ctx.parent)
    write(target.get_help(sub) + "\n")


class ActgradGroup(TyperGroup):
    """Accepts torch spellings and aliases (leaky_relu, swish), suggests the nearest name,
    and is the one place exceptions become exit codes and one-line messages."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            canonical = registry.resolve(cmd_name)
            if canonical is not None:
                command = super().get_command(ctx, canonical.replace("_", "-"))
        if command is not None:
            _plain_metavars(command)
        return command

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The commands with their help lines, then the functions by kind, by name only (their
        formulas: actgrad list; each function's options: actgrad NAME --help)."""
        functions = {s.command for s in registry.specs()}
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if name not in functions and command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 16)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
        groups = {
            "Activations": [s.command for s in registry.specs() if s.elementwise],
            "Along a dim": [s.command for s in registry.specs() if s.along_dim],
            "Losses and the norm": [s.command for s in registry.specs() if s.reduces],
        }
        if not any(n in functions for n in self.list_commands(ctx)):
            return
        with formatter.section("Functions (formulas: actgrad list)"):
            import textwrap

            indent = " " * formatter.current_indent
            for title, names in groups.items():  # never broken inside a name (layer-norm)
                lines = textwrap.wrap(
                    f"{title}: {' '.join(names)}",
                    width=max(formatter.width - formatter.current_indent, 20),
                    break_on_hyphens=False,
                    subsequent_indent="  ",
                )
                formatter.write("".join(f"{indent}{line}\n" for line in lines))

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            commands = [*self.commands, *registry.names_and_aliases()]
            import difflib

            close = difflib.get_close_matches(name.lower().replace("_", "-"), commands, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "run 'actgrad list' for functions"
            raise UnknownFunction(f"unknown command {name!r}", hint)
        return super().resolve_command(ctx, args)

    def _options_first(self, argv: list[str], command: str | None) -> list[str]:
        """Leading-dash values and expressions of a command go after ``--`` (root options
        such as --version and --help are left alone)."""
        found = self.get_command(None, command) if command else None
        if found is None or "--help" in argv or "-h" in argv:
            return argv
        at = argv.index(command)
        return [*argv[: at + 1], *options_first(found, argv[at + 1 :])]

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = help_alias(list(sys.argv[1:] if args is None else args))
        commands.INVOKED[:] = argv  # as typed: --report's "found with" line
        command = next((a for a in argv if not a.startswith("-")), None)
        if command == "expr":
            argv = grad_names(argv)
        argv = self._options_first(argv, command)
        try:
            rv = super().main(argv, prog_name or "actgrad", complete_var, False, **extra)
            code = rv if isinstance(rv, int) else ExitStatus.OK
            if code == ExitStatus.INTERRUPTED:  # Typer turned KeyboardInterrupt into Exit(130)
                interrupted()
        except BaseException as exc:  # the error boundary: never a traceback
            if isinstance(exc, SystemExit):
                raise
            code = status_for(exc, command if self.get_command(None, command or "") else None)
        if standalone_mode:
            sys.exit(int(code))
        return int(code)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            torch_version = version("torch")
        except PackageNotFoundError:
            torch_version = "not installed"
        write(f"actgrad {__version__} (torch {torch_version}, python {sys.version.split()[0]})\n")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Activations, losses and their derivatives, computed by torch autograd."""


FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        help="auto | table | plain | json (list: also markdown).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Same as --format json.")]


def list_functions(output_format: FormatOption = "auto", as_json: JsonOption = False) -> None:
    """Every function: aliases, kind, formula and parameters with their defaults."""
    fmt = resolve_format(output_format, as_json, (*FORMATS, "markdown"))
    if fmt == "json":
        import orjson

        specs = [describe.spec_dict(s) for s in registry.specs()]
        data = {"format": JSON_FORMAT, "functions": specs}
        write(orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE))
    elif fmt == "markdown":
        write(describe.list_markdown())
    elif fmt == "plain":
        write(describe.list_plain())
    else:
        print_rich(describe.list_table(shutil.get_terminal_size().columns))


def _complete_function(incomplete: str) -> list[str]:
    return [n for n in registry.names_and_aliases() if n.startswith(incomplete)]


def explain(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME", help="Function name or alias.", autocompletion=_complete_function
        ),
    ],
    output_format: FormatOption = "auto",
    as_json: JsonOption = False,
) -> None:
    """Formula, derivative, domain and range, parameters, kinks and an example."""
    spec = registry.get(name)
    fmt = resolve_format(output_format, as_json)
    if fmt == "json":
        import orjson

        data = {"format": JSON_FORMAT, **describe.spec_dict(spec)}
        write(orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE))
    elif fmt == "plain":
        write(describe.explain_plain(spec))
    else:
        print_rich(describe.explain_table(spec))


def _batch(source: str, **options: Any) -> None:
    from .batch import run_batch

    given = command_options.batch_settings(options)
    code = run_batch(
        source,
        options["fail_fast"],
        given.window,
        given.max_line_bytes,
        given.max_elements,
        options["quiet"],
    )
    raise typer.Exit(code)


def _accuracy(items: list[str] | None, **options: Any) -> None:
    from .accuracy import run_accuracy  # mpmath, torch

    options["function_params"] = command_options.function_params(options)
    run_accuracy(items or [], options)


def _plot(items: list[str] | None, **options: Any) -> None:
    from .plot import run_plot

    options["function_params"] = command_options.function_params(options)
    run_plot(items or [], options)


def _server(action: str, **options: Any) -> None:
    from . import server as warm

    seconds, workers = command_options.server_settings(action, options)
    if action == "start":
        foreground = options["foreground"]
        raise typer.Exit(warm.start(seconds, foreground, workers, main, prepare, named_files))
    if action == "stop":
        raise typer.Exit(warm.stop())
    raise typer.Exit(warm.status(options["as_json"]))


def batch_command() -> Any:
    source = commands.argument(
        "source", "FILE", "JSON Lines or command lines; - for stdin.", default="-"
    )
    doc = """Many requests in one process: one JSON result per input line, in order.

    A line is a JSON object ({"fn": "sigmoid", "x": 0.5, "grad": true, "id": 1}, or
    {"expr": "x*sigmoid(x)", "vars": {"x": [0, 1]}, "grad": true}) or a command line
    (sigmoid --x 0.5 --grad); blank lines are skipped (each line's "line" is its number in
    the input). Exit 0 when every line succeeded, 1 when any failed."""
    return commands.table_command(_batch, [source], command_options.batch_options(), "batch", doc)


def accuracy_command() -> Any:
    items = commands.argument(
        "items", "NAME...", "Functions to sweep (or --all).", None, True, _complete_function
    )
    doc = """Torch's error against the true value (arbitrary precision) over a range, per dtype.

    Example: actgrad accuracy sigmoid --x -40:40:2001 (max and median ulps, worst point, the
    regions where digits are lost, for the value and derivatives in each dtype)."""
    return commands.table_command(
        _accuracy, [items], command_options.accuracy_options(), "accuracy", doc
    )


def plot_command() -> Any:
    items = commands.argument(
        "items",
        "NAME|EXPR...",
        "Elementwise functions or expressions in x.",
        None,
        True,
        _complete_function,
    )
    doc = """Plot functions and their derivatives: in the terminal, to an image, or as JSON points.

    Example: actgrad plot sigmoid tanh (the tutorial's figure); piped, the points as JSON."""
    return commands.table_command(_plot, [items], command_options.plot_options(), "plot", doc)


def server_command() -> Any:
    action = commands.argument("action", "start|stop|status", "What to do with the server.")
    doc = """A warm server that answers every later command without importing torch again.

    With a server running, each actgrad command is forwarded to it (set ACTGRAD_SERVER=off
    to never use one); ACTGRAD_SERVER=auto starts one on first use. A command runs in its
    own process whenever the server could not run it exactly as that process would."""
    return commands.table_command(
        _server, [action], command_options.server_options(), "server", doc
    )


def repl() -> None:
    """An interactive session: command lines, named values, bare expressions, :settings.

    actgrad> sigmoid 0.5 --grad      actgrad> x = -1:1:5      actgrad> relu x --grad
    actgrad> x*sigmoid(x)            actgrad> :format json    actgrad> ans
    :help lists the rest; Ctrl-D or :quit ends the session."""
    from .repl import session

    raise typer.Exit(session(run, prepare))


def schema(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="DOCUMENT",
            help="result | batch-line | error | plot | accuracy | list | explain | server-status.",
            autocompletion=lambda incomplete: [
                n for n in _schema_names() if n.startswith(incomplete)
            ],
        ),
    ] = None,
) -> None:
    """The JSON Schema (draft 2020-12) of a JSON document actgrad writes.

    Every document carries "format": N, which goes up only when a field is removed, renamed
    or changes its meaning. Without DOCUMENT: the names, one per line."""
    from ..core.schema import DOCUMENTS
    from ..core.schema import schema as document_schema

    if name is None:
        write("".join(f"{n}\n" for n in DOCUMENTS))
        return
    if name not in DOCUMENTS:
        raise BadParameter(
            f"no JSON document named {name!r}", f"use one of: {', '.join(DOCUMENTS)}"
        )
    import orjson

    write(
        orjson.dumps(document_schema(name), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    )


def _schema_names() -> list[str]:
    from ..core.schema import DOCUMENTS

    return list(DOCUMENTS)


def make_app(specs: list[registry.FunctionSpec], listing: bool = False) -> typer.Typer:
    """The application with ``list``, ``explain`` and one command per spec (``listing``: the
    function commands as names and help lines only, for the root --help)."""
    app = typer.Typer(
        cls=ActgradGroup,
        name="actgrad",
        no_args_is_help=True,
        # help uses the terminal's width (Click stops at 80 columns by default)
        context_settings={
            "help_option_names": ["-h", "--help"],
            "max_content_width": shutil.get_terminal_size().columns,
        },
        pretty_exceptions_enable=False,
        # plain Click help: typer's rich help imports rich.markdown and pygments (~170 ms)
        rich_markup_mode=None,
    )
    app.callback(help=_root.__doc__ + "\n\nExample: actgrad sigmoid --x 0.5 --grad")(_root)
    for name, fn in (
        ("list", list_functions),
        ("explain", explain),
        ("expr", make_expr_command()),
        ("batch", batch_command()),
        ("plot", plot_command()),
        ("accuracy", accuracy_command()),
        ("server", server_command()),
        ("repl", repl),
        ("schema", schema),
        ("help", help_command),
    ):
        app.command(name, short_help=(fn.__doc__ or "").strip().splitlines()[0])(fn)
    add_function_commands(app, specs, listing)
    return app


def __getattr__(name: str) -> Any:
    """``app``, the full application, is built on first use (tests, completion, help)."""
    if name == "app":
        globals()["app"] = make_app(registry.specs())
        return globals()["app"]
    raise AttributeError(name)


_COMMANDS: dict[tuple[str, ...] | str, Any] = {}  # Click commands built by prepare()


def prepare() -> None:
    """Build the Click command of every application run() may pick, once, for a process
    that answers many commands (the server, the REPL)."""
    _COMMANDS["all"] = typer.main.get_command(make_app(registry.specs()))
    _COMMANDS["listing"] = typer.main.get_command(make_app(registry.specs(), listing=True))
    _COMMANDS["none"] = typer.main.get_command(make_app([]))
    for spec in registry.specs():
        _COMMANDS[spec.name] = typer.main.get_command(make_app([spec]))


def _command(key: str, specs: list[registry.FunctionSpec], listing: bool = False) -> Any:
    found = _COMMANDS.get(key)
    return found if found is not None else typer.main.get_command(make_app(specs, listing))


def run(argv: list[str]) -> int:
    """Run one command line in this process; its exit status (the REPL and the server's
    workers call this; a function command builds only its own command: Typer converts every
    registered command's options on start-up)."""
    argv = help_alias(list(argv))
    first = next((a for a in argv if not a.startswith("-")), None)
    spec = _named(first)
    if spec is not None:
        command = _command(spec.name, [spec])
    elif any(k.endswith("_COMPLETE") for k in os.environ):
        command = _command("all", registry.specs())  # completion knows every command's options
    elif first is None and (not argv or any(a in ("-h", "--help") for a in argv)):
        command = _command("listing", registry.specs(), True)  # the root help lists them all
    else:  # --version, list, explain, expr, plot, batch, server, repl, help, or unknown
        command = _command("none", [])
    return command.main(argv, standalone_mode=False)


def _named(word: str | None) -> registry.FunctionSpec | None:
    """The entry a command line's first word names (None: another command, or none): the
    command line's edge, where a name becomes what travels."""
    return registry.find(word) if word else None


FILE_PARAMETERS = {"report": "w", "output": "w", "source": "r"}  # --report FILE, batch FILE …
UNPARSED = "(a command line that does not parse)"


def named_files(argv: list[str]) -> list[tuple[str, str]]:
    """The paths a command line would open by name and how ("r" or "w"): --report FILE,
    plot's and accuracy's --output, batch FILE (completion's install writes a shell's start-up
    file), parsed as the command parses them. A server's worker has a file to read opened by
    its caller, and leaves a command that writes one to its caller's process."""
    if any(a.startswith(("--install-completion", "--show-completion")) for a in argv):
        return [("(the shell's start-up file)", "w")]
    argv = help_alias(list(argv))
    name = next((a for a in argv if not a.startswith("-")), None)
    if name is None or "--" in argv[: argv.index(name)]:
        return []
    spec = _named(name)
    command = _command(spec.name, [spec]) if spec else _command("none", [])
    group_context = command.make_context("actgrad", [], resilient_parsing=True)
    found = command.get_command(group_context, name)
    if found is None:
        return []
    args = argv[argv.index(name) + 1 :]
    args = options_first(found, grad_names(["expr", *args])[1:] if name == "expr" else args)
    try:
        context = found.make_context(name, args, parent=group_context, resilient_parsing=True)
    except Exception:  # what the command would refuse: it runs here and says so
        return [(UNPARSED, "w")]
    values = [(context.params.get(key), mode) for key, mode in FILE_PARAMETERS.items()]
    return [(v, mode) for v, mode in values if isinstance(v, str) and v not in ("", "-")]


def main() -> None:
    """Console-script entry point (behind cli.entry, which forwards to a server first)."""
    sys.argv[1:] = help_alias(sys.argv[1:])
    if any(k.endswith("_COMPLETE") for k in os.environ):  # Click's completion exits itself
        spec = _named(next((a for a in sys.argv[1:] if not a.startswith("-")), None))
        make_app([spec] if spec else registry.specs())()
    sys.exit(run(sys.argv[1:]))
