"""Writing to stdout: format choice, quiet exit on a closed pipe."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import typer
from actgrad.cli.exits import ExitStatus
from actgrad.core.command_options import FORMATS
from actgrad.core.errors import BadParameter


def resolve_format(fmt: str, as_json: bool, formats: tuple[str, ...] = FORMATS) -> str:
    """The concrete format: ``auto`` is a table on a terminal and plain lines in a pipe."""
    fmt = fmt.strip().lower()
    if fmt not in formats:
        raise BadParameter(f"unknown format {fmt!r}", f"use one of {', '.join(formats)}")
    if as_json:
        if fmt not in ("auto", "json"):
            raise BadParameter(f"--json conflicts with --format {fmt}", "give only one of them")
        return "json"
    if fmt == "auto":
        return "table" if sys.stdout.isatty() else "plain"
    return fmt


def discard_stdout() -> None:
    """Point stdout at /dev/null, so that nothing still buffered fails again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _closed_pipe() -> None:
    """stdout's reader went away (``| head``): stop quietly, as Unix tools do."""
    discard_stdout()
    raise typer.Exit(ExitStatus.OK)


class ClosedStdout:
    """Stands in for sys.stdout when file descriptor 1 is closed (``>&-``): a write fails
    with EBADF like any other unwritable stdout, which the error boundary reports."""

    encoding = "utf-8"

    def write(self, data: str) -> int:
        import errno

        raise OSError(errno.EBADF, "standard output is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        import errno

        raise OSError(errno.EBADF, "standard output is closed")


def write(data: str | bytes) -> None:
    try:
        if isinstance(data, bytes):
            buffer = getattr(sys.stdout, "buffer", None)
            if buffer is None:
                sys.stdout.write(data.decode())
            else:
                sys.stdout.flush()
                buffer.write(data)
        else:
            sys.stdout.write(data)
        sys.stdout.flush()
    except BrokenPipeError:
        _closed_pipe()


MIN_WIDTH, FALLBACK_WIDTH = 20, 80  # COLUMNS=0 or a tiny terminal: lay tables out at 80


def width() -> int:
    """The columns a table is laid out for: the terminal's (or COLUMNS), 80 when tiny."""
    columns = shutil.get_terminal_size((FALLBACK_WIDTH, 24)).columns
    return columns if columns >= MIN_WIDTH else FALLBACK_WIDTH


def print_rich(renderable: Any) -> None:
    from rich.console import Console

    console = Console(highlight=False, width=width())
    with console.capture() as captured:
        console.print(renderable)
    # rich leaves the space it wrapped a line at: no line ends in spaces
    write("\n".join(line.rstrip(" ") for line in captured.get().split("\n")))


def steps(items: list, label: str) -> Any:
    """Iterate over ``items`` with a progress bar on stderr when stderr is a terminal."""
    if len(items) < 2 or not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import track

    yield from track(items, description=label, console=Console(stderr=True), transient=True)
