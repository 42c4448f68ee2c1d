"""Writing to stdout: format choice, quiet exit on a closed pipe."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import typer

from ..core.command_options import FORMATS, format_name
from ..core.errors import BadParameter
from .exits import ExitStatus


def resolve_format(fmt: str, as_json: bool, formats: tuple[str, ...] = FORMATS) -> str:
    """The concrete format: ``auto`` is a table on a terminal and plain lines in a pipe."""
    fmt = format_name(fmt, formats)
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


# What an encoding that cannot hold actgrad's symbols gets instead (PYTHONIOENCODING=latin-1,
# LC_ALL=C): words and ASCII, so that nothing is lost to "?" where a word says it.
ASCII_FALLBACKS = {
    "σ": "sigma",
    "α": "alpha",
    "β": "beta",
    "γ": "gamma",
    "δ": "delta",
    "ε": "eps",
    "μ": "mu",
    "π": "pi",
    "φ": "phi",
    "Φ": "Phi",
    "Π": "prod",
    "Σ": "sum",
    "·": "*",
    "×": "x",
    "−": "-",
    "—": "--",
    "–": "-",
    "‖": "||",
    "•": "*",
    "…": "...",
    "′": "'",
    "″": "''",
    "‴": "'''",
    "⁗": "''''",
    "→": "->",
    "↦": "|->",
    "∂": "d",
    "∈": " in ",
    "∉": " not in ",
    "√": "sqrt",
    "∞": "inf",
    "∪": "U",
    "≈": "~",
    "≠": "!=",
    "≤": "<=",
    "≥": ">=",
    "⊗": "(x)",
    "⋮": ":",
    "±": "+-",
    "½": "1/2",
    "ℓ": "l",
    "ℝ": "R",
    "\u0302": "^",
}


def _ascii(ch: str) -> str:
    import unicodedata

    if ch in ASCII_FALLBACKS:
        return ASCII_FALLBACKS[ch]
    if "\u2500" <= ch <= "\u257f":  # box drawing (tables)
        name = unicodedata.name(ch, "")
        if "HORIZONTAL" in name and "VERTICAL" not in name:
            return "-"
        return "|" if "VERTICAL" in name and "HORIZONTAL" not in name else "+"
    if "\u2800" <= ch <= "\u28ff":  # braille dots (terminal plots)
        return " " if ch == "\u2800" else "*"
    if "\u2580" <= ch <= "\u259f":  # block elements
        return "#"
    plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
    return plain or "?"


def _fallback(error: UnicodeError) -> tuple[str, int]:
    """A run of characters the encoding cannot hold, as ASCII: superscripts after one ^ (eˣ
    is e^x, x⁻¹ is x^-1), subscripts after one _, the rest by :func:`_ascii`."""
    import unicodedata

    if not isinstance(error, UnicodeEncodeError):
        raise error
    out, mode = [], ""
    for ch in error.object[error.start : error.end]:
        tag = unicodedata.decomposition(ch).split(" ", 1)[0]
        now = {"<super>": "^", "<sub>": "_"}.get(tag, "")
        if now and now != mode:
            out.append(now)
        mode = now
        out.append(_ascii(ch))
    return "".join(out), error.end


def ascii_fallbacks() -> None:
    """Let stdout and stderr write what their encoding cannot hold as ASCII words (σ′ is
    sigma', a table's box is +-|) instead of failing with UnicodeEncodeError."""
    import codecs

    codecs.register_error("actgrad-ascii", _fallback)
    codecs.register(_ascii_codec)
    plain = _c_locale()
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            continue
        if plain and name.startswith("utf"):  # Python's UTF-8 mode, not the user's choice
            name = "ascii"
        if name.startswith("utf") or not hasattr(stream, "reconfigure"):
            continue
        # ASCII under another name: Click re-wraps a stream it calls ASCII as UTF-8
        encoding = "actgrad-ascii" if name == "ascii" else encoding
        stream.reconfigure(encoding=encoding, errors="actgrad-ascii")


def _c_locale() -> bool:
    """Whether the user set the C (POSIX) locale (LC_ALL=C): ASCII, as the README says,
    although Python then writes UTF-8 (its UTF-8 mode); PYTHONUTF8 or PYTHONIOENCODING set
    by the user keep what they ask for."""
    environ = os.environ
    if environ.get("PYTHONIOENCODING") or environ.get("PYTHONUTF8"):
        return False
    for name in ("LC_ALL", "LC_CTYPE", "LANG"):
        value = environ.get(name)
        if value:
            return value in ("C", "POSIX")
    return False


def _ascii_codec(name: str) -> Any:
    """ASCII, named so that no library takes the stream for a misconfigured one."""
    if name not in ("actgrad-ascii", "actgrad_ascii"):
        return None
    import codecs
    import encodings.ascii as ascii_codec

    return codecs.CodecInfo(
        name="actgrad-ascii",
        encode=ascii_codec.Codec.encode,
        decode=ascii_codec.Codec.decode,
        incrementalencoder=ascii_codec.IncrementalEncoder,
        incrementaldecoder=ascii_codec.IncrementalDecoder,
        streamreader=ascii_codec.StreamReader,
        streamwriter=ascii_codec.StreamWriter,
    )


class ClosedStdin:
    """Stands in for sys.stdin when file descriptor 0 is closed (``<&-``): whatever reads it
    (--x -, batch, the REPL) ends with one usage error instead of a crash."""

    encoding = "utf-8"
    errors = "strict"
    closed = False

    def _closed(self, *args: object) -> str:
        from ..core.errors import BadInput

        raise BadInput(
            "standard input is closed (started with <&-)",
            "give the values inline, or pipe or redirect them in",
        )

    read = readline = readlines = _closed
    __iter__ = __next__ = _closed

    @property
    def buffer(self) -> ClosedStdin:
        return self

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        import errno

        raise OSError(errno.EBADF, "standard input is closed")


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


def print_rich(renderable: Any, at_least: int = 0) -> None:
    """A rich renderable on stdout at the terminal's width (``at_least``: wider, for what
    cannot be narrowed without cutting a number: the terminal wraps its lines instead)."""
    from rich.console import Console

    console = Console(highlight=False, width=max(width(), at_least))
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
