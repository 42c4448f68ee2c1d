"""`actgrad repl`: the calculator as an interactive session (readline: history kept across
sessions, tab completion of functions, options and their choices).

A line is a command line (`sigmoid 0.5 --grad`, `actgrad` optional), an assignment of a named
value (`x = -1:1:5`, usable as `--x x` or in expressions), a bare expression (`x*sigmoid(x)`,
run as `expr` with the named values it uses), `ans` (the last result) or a :setting. Errors
print their one line and the session goes on; Ctrl-C cancels an evaluation, not the session.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.command_options import REPL_SETTINGS, choices, expr_options, options_of, setting
from ..core.errors import ActgradError, BadInput, BadParameter
from ..core.functions import registry
from ..core.parse.expr import CONSTANTS, callable_names
from ..core.parse.inputs import parse_values
from ..core.parse.options import DEFAULT_MAX_ELEMENTS
from . import commands
from .exits import interrupted, report
from .output import resolve_format

PROMPT = "actgrad> "
ASSIGNMENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*(.*)$")
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
COMMANDS = ("expr", "plot", "accuracy", "list", "explain", "help", "batch")
SETTINGS = (":format", ":dtype", ":device", ":precision", ":vars", ":settings", ":help", ":quit")
# options after which a word is never a named value (a flag, a setting, a count): the
# evaluating commands' own, from core's table
_SHARED = frozenset(f for o in options_of(None) if o.kind != "values" for f in o.flags)
HELP = """\
  sigmoid 0.5 --grad           any command line (actgrad optional)
  x = -1:1:5                   a named value: relu x --grad, relu --x x, x*sigmoid(x)
  x*sigmoid(x)                 a bare expression is expr, with the named values it uses
  ans                          the last result again; also a value: relu ans
  :format table|plain|json     :dtype float64   :device cpu   :precision 6 (or off)
  :vars  :settings  :help  :quit (or Ctrl-D)   Ctrl-C cancels an evaluation
"""


@dataclass
class Session:
    run: Callable[[list[str]], int]
    values: dict[str, str] = field(default_factory=dict)
    fmt: str | None = None
    precision: int | None = None
    last: Any = None

    def keep(self, result: Any) -> None:
        self.last = result

    def line(self, text: str) -> bool:
        """Answer one line; False ends the session."""
        text = text.strip()
        if not text:
            return True
        if text in ("quit", "exit") and text not in self.values:
            return False  # what people type to leave, as :quit
        try:
            if text.startswith(":"):
                return self.setting(text)
            assigned = ASSIGNMENT.match(text)
            if assigned and assigned.group(1) not in callable_names():
                self.assign(assigned.group(1), assigned.group(2))
            elif text == "ans":
                self.show_last()
            else:
                self.command(self.argv(text))
        except ActgradError as exc:
            report(str(exc))
        return True

    def setting(self, text: str) -> bool:
        name, _, value = text.partition(" ")
        value = value.strip()
        if name in (":quit", ":q", ":exit"):
            return False
        if name == ":help":
            sys.stdout.write(HELP)
        elif name == ":vars":
            for key, held in self.values.items():
                sys.stdout.write(f"{key} = {held}\n")
        elif name == ":settings":
            sys.stdout.write(
                f"format {self.fmt or 'auto'}, dtype "
                f"{os.environ.get('ACTGRAD_DTYPE', 'float32')}, device "
                f"{os.environ.get('ACTGRAD_DEVICE', 'cpu')}, precision "
                f"{self.precision or 'full'}\n"
            )
        elif name in REPL_SETTINGS:
            checked = setting(name, value)
            if name == ":format":
                self.fmt = checked
            elif name == ":precision":
                self.precision = checked
            else:  # a setting the commands read from the environment, as they read it
                os.environ[f"ACTGRAD_{name[1:].upper()}"] = str(checked)
        else:
            raise BadParameter(f"unknown setting {name}", "see :help")
        return True

    def assign(self, name: str, value: str) -> None:
        if name in CONSTANTS:
            raise BadInput(f"{name} is a constant", "choose another name")
        if value.strip() == "ans":
            value = self.last_values()
        parse_values([value], name, max_elements=DEFAULT_MAX_ELEMENTS)  # refused here if bad
        self.values[name] = value

    def last_values(self) -> str:
        if self.last is None:
            raise BadInput("no result yet: ans is the last result", "evaluate something first")
        import orjson

        return orjson.dumps(self.last.value.tolist()).decode()

    def show_last(self) -> None:
        if self.last is None:
            raise BadInput("no result yet: ans is the last result", "evaluate something first")
        fmt = resolve_format(self.fmt or "auto", False)
        commands.show(self.last, fmt, self.precision)

    def argv(self, text: str) -> list[str]:
        """The command line a session line stands for."""
        if not _is_command(text):  # a bare expression, maybe with expr's options after it
            expression, options = _split_options(text)
            self.check_names(expression)
            try:
                rest = shlex.split(options)
            except ValueError as exc:
                raise BadInput(f"cannot split the line: {exc}", "check its quotes") from None
            given = {a.split("=", 1)[0] for a in rest[1:] if "=" in a} | (
                {"x"} if {"--x", "-x"} & set(rest) else set()
            )
            return ["expr", expression, *rest, *self.variables(expression, given)]
        try:
            args = shlex.split(text)
        except ValueError as exc:
            raise BadInput(f"cannot split the line: {exc}", "check its quotes") from None
        if args[:1] == ["actgrad"]:
            args = args[1:]
        if not args:
            return args
        if args[0] in ("repl", "server"):
            raise BadParameter(f"{args[0]} is not available inside the session", "use a shell")
        if args[0] == "expr":
            given = {b.split("=", 1)[0] for a, b in itertools.pairwise(args) if a == "--var"}
            if {"--x", "-x"} & set(args):
                given.add("x")
            expression = next((a for a in args[1:] if not a.startswith("-")), "")
            return [*args, *self.variables(expression, given)]
        return [args[0], *self.substitute(args[1:])]

    def check_names(self, expression: str) -> None:
        """Refuse a name the session has no value for, saying how one is given here."""
        known = {*callable_names(), *CONSTANTS, *self.values}
        if self.last is not None:
            known.add("ans")
        for word in dict.fromkeys(TOKEN.findall(expression)):
            if word not in known and not _in_number(expression, word):
                raise BadInput(
                    f"unknown name {word!r}",
                    f"give it a value first, e.g. {word} = 0.5 (:vars lists the values)",
                )

    def variables(self, expression: str, given: set[str]) -> list[str]:
        """--var NAME=VALUES for every named value the expression uses."""
        out: list[str] = []
        for word in dict.fromkeys(TOKEN.findall(expression)):
            if word in given:
                continue
            if word == "ans" and self.last is not None:
                out += ["--var", f"ans={self.last_values()}"]
            elif word in self.values:
                out += ["--var", f"{word}={self.values[word]}"]
        return out

    def substitute(self, args: list[str]) -> list[str]:
        """A named value (or ans) where a command takes values: positionally or after an
        input option."""
        out = []
        for i, arg in enumerate(args):
            previous = args[i - 1] if i else ""
            takes_values = not previous.startswith("--") or previous not in _SHARED
            if arg == "ans" and takes_values:
                out.append(self.last_values())
            elif arg in self.values and takes_values:
                out.append(self.values[arg])
            else:
                out.append(arg)
        return out

    def command(self, argv: list[str]) -> None:
        name = argv[0] if argv else ""
        evaluates = registry.find(name) is not None or name == "expr"
        formats = evaluates or name in ("list", "explain")
        if formats and self.fmt and not {"--format", "-f", "--json"} & set(argv):
            argv = [*argv, "--format", self.fmt]
        if evaluates and self.precision and "--precision" not in argv:
            argv = [*argv, "--precision", str(self.precision)]
        with contextlib.suppress(SystemExit):
            self.run(argv)
        sys.stdout.flush()


@functools.cache
def _expr_options() -> re.Pattern:
    """Where expr's first option starts in a line (a space, then one of its flags)."""
    flags = sorted({f for o in expr_options() for f in o.flags}, key=len, reverse=True)
    alternatives = "|".join(map(re.escape, flags))
    return re.compile(rf"\s(?=(?:{alternatives})(?:[\s=]|$))")


def _split_options(text: str) -> tuple[str, str]:
    """(expression, its options) of a bare expression line: ``tanh(y) --grad`` is tanh(y)
    with --grad (only expr's own options start them: ``x --y`` stays x minus −y)."""
    found = _expr_options().search(text)
    return (text, "") if found is None else (text[: found.start()], text[found.start() :])


def _in_number(expression: str, word: str) -> bool:
    """``e`` in 1e-3 is part of a number, not a name."""
    return all(
        expression[m.start() - 1 : m.start()].isdigit()
        or expression[m.start() - 1 : m.start()] == "."
        for m in re.finditer(rf"(?<![A-Za-z_]){re.escape(word)}(?![A-Za-z0-9_])", expression)
    )


def _is_command(text: str) -> bool:
    """A command line (a command or function name, then its arguments), not an expression:
    `relu x --grad`, `softmax -1 2`, `list`; but `x*2`, `sigmoid(x)`, `x + 1`, `x`."""
    first = TOKEN.match(text)
    if first is None:  # a number, '(' or '-' first
        return False
    word, rest = first.group(), text[first.end() :]
    known = word in (*COMMANDS, "actgrad", "repl", "server") or registry.find(word) is not None
    if not rest.strip():
        return known
    if not rest[0].isspace():
        return False
    after = rest.lstrip()
    return after[0] not in "+-*/^),=" or after.startswith("--") or (after[0] == "-" and known)


def history_file() -> str:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(state, "actgrad", "history")


class Completer:
    """Tab completion: commands and functions first, then a command's options, then an
    option's choices; named values and :settings."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.matches: list[str] = []

    def candidates(self, line: str, word: str) -> list[str]:
        before = line[: len(line) - len(word)].split()
        if not before:
            names = [*COMMANDS, *registry.names_and_aliases(), *self.session.values, "ans"]
            return [*SETTINGS, *names] if word.startswith(":") or not word else names
        if before[0] in REPL_SETTINGS:
            return list(choices(REPL_SETTINGS[before[0]]))
        spec = registry.find(before[0])
        if spec is None and before[0] != "expr":
            return [*self.session.values, "ans"]
        table = options_of(spec)  # the command's own options, from core's one table
        offered = {f: o.choices for o in table for f in o.flags if o.choices}
        offered |= {f: ("true", "false") for o in table if o.kind == "switch" for f in o.flags}
        if before[-1] in offered:
            return list(offered[before[-1]])
        return [*(o.flags[0] for o in table), *self.session.values]

    def __call__(self, word: str, state: int) -> str | None:
        if state == 0:
            import readline

            line = readline.get_line_buffer()[: readline.get_endidx()]
            found = self.candidates(line, word)
            self.matches = sorted({c for c in found if c.startswith(word)})
        return self.matches[state] if state < len(self.matches) else None


def session(run: Callable[[list[str]], int], prepare: Callable[[], None]) -> int:
    """Read, evaluate, print until :quit or Ctrl-D; exit status 0."""
    try:
        import readline
    except ImportError:  # no line editing on this platform: a plain prompt still works
        readline = None  # type: ignore[assignment]
    current = Session(run)
    history = history_file()
    if readline is not None:
        readline.set_completer(Completer(current))
        readline.set_completer_delims(" \t\n=,()")
        binding = (
            "bind ^I rl_complete" if "libedit" in (readline.__doc__ or "") else "tab: complete"
        )
        readline.parse_and_bind(binding)
        readline.set_history_length(1000)
        with contextlib.suppress(OSError):
            readline.read_history_file(history)
    commands.RESULT_HOOKS.append(current.keep)
    interactive = sys.stdin.isatty()
    if interactive:
        sys.stdout.write("actgrad repl: :help for help, Ctrl-D to leave\n")
    prepare()
    try:
        while True:
            try:
                text = input(PROMPT if interactive else "")
            except KeyboardInterrupt:
                sys.stdout.write("\n")
                continue
            except EOFError:
                if interactive:
                    sys.stdout.write("\n")
                break
            try:
                if not current.line(text):
                    break
            except KeyboardInterrupt:  # between evaluations: the session goes on
                interrupted()
    finally:
        commands.RESULT_HOOKS.remove(current.keep)
        if readline is not None:
            try:
                os.makedirs(os.path.dirname(history), mode=0o700, exist_ok=True)
                readline.write_history_file(history)
            except OSError:
                pass
    return 0
