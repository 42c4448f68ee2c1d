"""The one map from errors to exit codes and one-line messages on stderr."""

from __future__ import annotations

import re
import sys

from typer._click.exceptions import ClickException, NoArgsIsHelpError, NoSuchOption, UsageError

from ..core.errors import ActgradError
from .exits import ExitStatus, internal_error, interrupted, report

__all__ = ["ExitStatus", "report", "status_for"]


def status_for(exc: BaseException, command: str | None = None) -> ExitStatus:
    """Print the one stderr line for ``exc`` and return its exit status."""
    if isinstance(exc, ActgradError):
        report(str(exc))
        caret = getattr(exc, "caret", lambda: "")()
        if caret and sys.stderr.isatty():  # an expression error, on a terminal: show where
            sys.stderr.write(caret + "\n")
        return ExitStatus.USAGE if exc.usage else ExitStatus.ERROR
    if isinstance(exc, OSError) and exc.filename is None:  # stdout: full disk, closed, ...
        from .output import discard_stdout

        report(f"cannot write to standard output: {exc.strerror or exc}")
        discard_stdout()
        return ExitStatus.ERROR
    if isinstance(exc, ClickException):
        return _click_status(exc, command)
    if isinstance(exc, KeyboardInterrupt):
        return interrupted()
    return internal_error(exc)


def _click_status(exc: ClickException, command: str | None) -> ExitStatus:
    """A usage error Click found: help where no argument was given, the line naming the
    option otherwise (with actgrad's own words for --index and expr's variables)."""
    if isinstance(exc, NoArgsIsHelpError):
        if exc.ctx is not None:
            help_text = exc.ctx.get_help()  # rich help prints itself and returns ""
            if help_text:
                sys.stdout.write(help_text + "\n")
        return ExitStatus.USAGE
    if isinstance(exc, NoSuchOption) and exc.option_name == "--index" and command:
        report(
            f"--index picks one output of a function along a dim; {command} has no such "
            "option (elementwise functions and losses take --grad, or --cotangent V)"
        )
        return ExitStatus.USAGE
    if (
        isinstance(exc, NoSuchOption)
        and command == "expr"
        and re.fullmatch(r"--[A-Za-z_]\w*", exc.option_name)
    ):
        name = exc.option_name[2:]
        report(
            f"expr has no option {exc.option_name}; a variable is given with --var "
            f"{name}=VALUES (only x has its own --x)"
        )
        return ExitStatus.USAGE
    if isinstance(exc, UsageError):
        where = f"actgrad {command} --help" if command else "actgrad --help"
        report(f"{exc.format_message().rstrip('.')}; see '{where}'")
        return ExitStatus.USAGE
    report(exc.format_message())
    return ExitStatus(exc.exit_code) if exc.exit_code in (0, 1, 2) else ExitStatus.ERROR
