"""The console-script entry point: kept tiny so that an interrupt while the application and
its libraries load still ends with one line and exit code 130, never a traceback; and so that
a command forwarded to a running server (cli.client) imports nothing heavy."""

from __future__ import annotations

import os
import sys

LOCAL = ("server", "repl")  # commands that run here even with a server


def main() -> None:
    mode = os.environ.get("ACTGRAD_SERVER", "").strip().lower()
    argv = sys.argv[1:]
    if (mode not in ("off", "0", "no", "false", "never") and argv[:1] and argv[0] not in LOCAL
            and not any(k.endswith("_COMPLETE") for k in os.environ)):  # fmt: skip
        try:
            from actgrad.cli.client import forward

            code = forward(argv, auto=mode == "auto")
        except KeyboardInterrupt:
            sys.stderr.write("actgrad: interrupted\n")
            sys.exit(130)
        if code is not None:
            sys.exit(code)
    run_here()


def run_here() -> None:
    """The command in this process."""
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
