"""Files a command opens by name: --report FILE, --output (plot, accuracy), batch FILE.

A file is written as a new file beside the target, renamed into place once whole: never
through a symbolic link another user made (a link of yours or root's, such as /dev/stdout, is
followed), and a reader never sees half a report. A device or a pipe (/dev/null, a fifo) is
written as it is.

A server's worker never opens a path: the caller may be confined in ways the server cannot see
(Landlock, seccomp, AppArmor, SELinux, a private mount). The caller opens a file to read and
hands the worker its descriptor (``HANDED``); a command line that writes a file runs in the
caller's own process (:func:`cli.app.named_files` tells the worker which).
``IN_WORKER`` makes a missed case fail loudly instead of writing with the server's rights.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from typing import IO

from ..core.errors import BadInput

IN_WORKER = False  # set in a server's worker before it runs a forwarded command
HANDED: dict[str, int] = {}  # in a worker: the files to read its caller opened, by their path
HINT = "give a writable path"


class OpenedInWorker(RuntimeError):
    """A forwarded command tried to open a path: a bug (cli.app.named_files missed it)."""


def _guard(path: str) -> None:
    if IN_WORKER:
        raise OpenedInWorker(f"a server's worker opened {path!r}")


def _unavailable(path: str, exc: OSError, verb: str = "write", hint: str = HINT) -> BadInput:
    if isinstance(exc, FileNotFoundError) and not os.path.isabs(path):
        try:
            os.getcwd()
        except FileNotFoundError:
            return BadInput(
                f"cannot {verb} {path!r}: the working directory was deleted",
                "give an absolute path",
            )
    return BadInput(f"cannot {verb} {path!r}: {exc.strerror}", hint)


def _trusted(path: str) -> str:
    """``path`` with its links followed where they are yours or root's; BadInput at a link
    another user made (writing through it would write where they chose)."""
    mine = os.geteuid()
    for _ in range(40):  # the kernel's own limit on links in a row
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return path
        except OSError as exc:  # a folder that may not be searched: said where it is opened
            raise _unavailable(path, exc) from None
        if not stat.S_ISLNK(st.st_mode):
            return path
        if st.st_uid not in (mine, 0):
            raise BadInput(
                f"{path!r} is a symbolic link of another user's (uid {st.st_uid}); "
                "not written through it",
                "give another path, or remove the link",
            )
        path = os.path.join(os.path.dirname(path), os.readlink(path))
    raise BadInput(f"cannot write {path!r}: too many levels of symbolic links", HINT)


def check_writable(path: str) -> None:
    """BadInput now, before any work, when ``path`` cannot be written."""
    _guard(path)
    target = _trusted(path)
    folder = os.path.dirname(target) or "."
    try:
        os.stat(folder)
    except OSError as exc:
        raise _unavailable(path, exc) from None
    if os.path.isdir(target):
        raise BadInput(f"cannot write {path!r}: it is a directory", HINT)
    if not os.access(folder, os.W_OK) and not os.path.exists(target):
        raise BadInput(f"cannot write {path!r}: permission denied", HINT)


def write(path: str, fill: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` with ``fill(stream)``: a new file beside it renamed into place (mode
    0666 less the umask), or, for a device or a pipe, that file itself."""
    _guard(path)
    target = _trusted(path)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.stat(target).st_mode) and not os.path.isdir(target):
            try:
                with open(target, "wb") as stream:
                    fill(stream)
            except OSError as exc:
                raise _unavailable(path, exc) from None
            return
    import tempfile

    folder, name = os.path.split(target)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder or ".")
    except OSError as exc:
        raise _unavailable(path, exc) from None
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)
        with os.fdopen(fd, "wb") as stream:
            fill(stream)
        os.replace(temporary, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise _unavailable(path, exc) from None
        raise


def write_text(path: str, text: str) -> None:
    write(path, lambda stream: stream.write(text.encode("utf-8")))


def open_for_reading(path: str) -> IO[bytes]:
    """``path`` opened to read (batch FILE); BadInput when it cannot be. In a server's worker
    the caller opened it (confined as it is) and handed over the descriptor."""
    if path in HANDED:
        return os.fdopen(HANDED.pop(path), "rb")
    _guard(path)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise _unavailable(path, exc, "read", "check the path") from None
