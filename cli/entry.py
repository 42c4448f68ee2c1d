"""The console-script entry point: kept tiny so that an interrupt while the application and
its libraries load still ends with one line and exit code 130, never a traceback."""

from __future__ import annotations

import os
import sys


def main() -> None:
    if sys.stdout is None:  # started with file descriptor 1 closed (>&-)
        from actgrad.cli.output import ClosedStdout

        sys.stdout = ClosedStdout()  # type: ignore[assignment]
    try:
        from actgrad.cli.app import main as run

        run()
    except KeyboardInterrupt:
        sys.stderr.write("actgrad: interrupted\n")
        sys.exit(130)
    except Exception as exc:  # a bug while building the app: still one line, no traceback
        if os.environ.get("ACTGRAD_DEBUG"):
            raise
        sys.stderr.write(f"actgrad: error: internal error: {type(exc).__name__}: {exc}\n")
        sys.exit(1)


if __name__ == "__main__":  # python -m actgrad.cli.entry
    main()
