"""The console-script entry point: kept tiny so that an interrupt while the application and
its libraries load still ends with one line and exit code 130, never a traceback; and so that
a command forwarded to a running server (cli.client) imports nothing heavy."""

from __future__ import annotations

import sys

if __name__ == "__main__" and not sys.flags.safe_path:  # python -m actgrad.cli.entry
    sys.path[0] = "/dev/null"  # -m put the working directory first: import nothing from it

import os

from .boundary import guarded, run_here

LOCAL = ("server", "repl")  # commands that run here even with a server


def main() -> None:
    mode = os.environ.get("ACTGRAD_SERVER", "").strip().lower()
    argv = sys.argv[1:]
    if (
        mode not in ("off", "0", "no", "false", "never")
        and argv[:1]
        and argv[0] not in LOCAL
        and not any(k.endswith("_COMPLETE") for k in os.environ)
    ):
        code = guarded(lambda: _forward(argv, auto=mode == "auto"))
        if code is not None:
            sys.exit(code)
    run_here(_app)


def _forward(argv: list[str], auto: bool) -> int | None:
    from .client import forward

    return forward(argv, auto)


def _app() -> None:
    from .app import main as run

    run()


if __name__ == "__main__":  # python -m actgrad.cli.entry
    main()
