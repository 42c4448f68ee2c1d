"""The process boundary: what stands between a command and the process that runs it, in the
console script and in each of the server's workers alike. An interrupt while the application
and its libraries load is one line and exit code 130, a bug is one line and exit code 1, never
a traceback; a closed stdout and a deleted working directory behave as for any Unix tool."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from .exits import internal_error, interrupted

T = TypeVar("T")


def guarded(call: Callable[[], T]) -> T:
    """``call()``; an interrupt or a bug in it ends the process with one line."""
    try:
        return call()
    except KeyboardInterrupt:
        sys.exit(interrupted())
    except Exception as exc:
        sys.exit(internal_error(exc))


def run_here(main: Callable[[], None]) -> None:
    """Run the application's ``main`` (which reads sys.argv) in this process: an interrupt
    while its streams are set up and its modules load ends as one during the run does."""
    guarded(lambda: _prepared(main))


def _prepared(main: Callable[[], None]) -> None:
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not ignored (nohup, &)
        signal.signal(signal.SIGINT, _interrupt)
    if sys.stdout is None:  # started with file descriptor 1 closed (>&-)
        from .output import ClosedStdout

        sys.stdout = ClosedStdout()  # type: ignore[assignment]
    from .output import ascii_fallbacks

    ascii_fallbacks()  # an encoding that cannot hold σ, ′ or a table's box gets ASCII
    if sys.stdin is None:  # … or 0 (<&-)
        from .output import ClosedStdin

        sys.stdin = ClosedStdin()  # type: ignore[assignment]
    try:
        os.getcwd()
    except FileNotFoundError:  # a deleted working directory
        sys.meta_path.insert(0, LoadFromRoot("torch"))
    main()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C raises KeyboardInterrupt, as Python's own handler does, except inside a module's
    load: there it is put off and sent again 50 ms later until the load is over. Raised in a
    library's initialisation (torch's runs Python from C++), it can abort the process or leave
    CPython's exit by SIGINT armed under our exit status 130."""
    f = frame
    while f is not None:
        if f.f_code.co_filename.startswith("<frozen importlib"):
            import threading  # here: not on the console script's first instructions

            again = threading.Timer(0.05, os.kill, (os.getpid(), signum))
            again.daemon = True
            again.start()
            return
        f = f.f_back
    raise KeyboardInterrupt


class LoadFromRoot:
    """Runs a package's top-level module in / and returns to the working directory: torch's
    MKL cannot load its libraries from a deleted working directory ("Intel oneMKL FATAL
    ERROR: Cannot load libtorch_cpu.so"), yet a command that reads no path there can run."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, name: str, path: object, target: object = None) -> object:
        if name != self.name:
            return None
        sys.meta_path.remove(self)
        from importlib.util import find_spec

        spec = find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _InRoot(spec.loader)
        return spec


class _InRoot:
    def __init__(self, loader: object) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> object:  # the rest of the loader's interface
        return getattr(self.loader, name)

    def create_module(self, spec: object) -> object:
        return self.loader.create_module(spec)

    def exec_module(self, module: object) -> None:
        here = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.chdir("/")
            self.loader.exec_module(module)
        finally:
            os.fchdir(here)
            os.close(here)
