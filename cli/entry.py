"""The console-script entry point: kept tiny so that an interrupt while the application and
its libraries load still ends with one line and exit code 130, never a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from actgrad.cli.app import main as run

        run()
    except KeyboardInterrupt:
        sys.stderr.write("actgrad: interrupted\n")
        sys.exit(130)
