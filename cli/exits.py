"""Exit statuses, and the one line each way of ending says on stderr: the lowest layer of the
command line, light enough for the console script's first instructions."""

from __future__ import annotations

import os
import sys
from enum import IntEnum


class ExitStatus(IntEnum):
    """Every exit status actgrad ends with (DESIGN.md)."""

    OK = 0
    ERROR = 1  # evaluation failed, a check failed, a batch line failed, an internal error
    USAGE = 2  # usage error or bad input
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    TERMINATED = 143  # SIGTERM ended a batch stream


INTERRUPTED_LINE = "actgrad: interrupted\n"


def report(message: str) -> None:
    """The one stderr line of an error."""
    sys.stderr.write(f"actgrad: error: {' '.join(message.split())}\n")
    sys.stderr.flush()


def interrupted() -> ExitStatus:
    """Say that Ctrl-C ended what was running; its exit status."""
    try:
        sys.stderr.write(INTERRUPTED_LINE)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # stderr closed or gone
        pass
    return ExitStatus.INTERRUPTED


def internal_error(exc: BaseException) -> ExitStatus:
    """Say that a bug ended what was running (ACTGRAD_DEBUG=1: the traceback instead)."""
    if os.environ.get("ACTGRAD_DEBUG"):
        raise exc
    report(
        f"internal error: {type(exc).__name__}: {exc} "
        "(please report it; ACTGRAD_DEBUG=1 shows the traceback)"
    )
    return ExitStatus.ERROR
