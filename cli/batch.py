"""`actgrad batch`: JSON Lines in, JSON Lines out, one result per input line, in order.

Each line is a JSON request (keys mirror the command-line options) or a command line
(`sigmoid --x 0.5 --grad`) parsed by the same Typer command. Lines are read in windows; scalar
requests for one elementwise function are coalesced into one tensor
(actgrad.core.evaluator.batch); a window is answered, in input order, as soon as it is full or
no more input is waiting.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import shlex
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import typer
from typer._click.exceptions import ClickException

from .. import core
from ..core.accuracy.notes import judge, judge_rows
from ..core.command_options import device_list, dtype_list, entry, no_stdin, request_of
from ..core.errors import ActgradError, BadInput, BadParameter
from ..core.evaluator.batch import GroupKey, evaluate_group, scalar_key
from ..core.functions.spec import FunctionSpec
from ..core.json_line import fast_command_line, json_options
from ..core.schema import JSON_FORMAT
from ..core.words import counted
from . import files
from .commands import (
    add_function_commands,
    evaluate_devices,
    evaluate_dtypes,
    grad_names,
    make_expr_command,
    options_first,
)
from .exits import ExitStatus
from .output import write
from .render import render_json, render_json_rows

READ_BYTES = 1 << 16
BOM = b"\xef\xbb\xbf"
FAST_KEYS = frozenset({"fn", "x", "grad", "order", "dtype", "device", "params", "id"})
SIGNATURE = ("fn", "params", "grad", "order", "dtype", "device")  # a fast line's group, but x
UNGIVEN = (None, (), False, 0, "", "")  # … and what each is when the line leaves it out (null
# is given: the general path says what is wrong with it)


class LineTooLong(Exception):
    pass


class LineReader:
    """Lines (without their newline) from a binary stream, each at most ``limit`` bytes, a read
    at a time: longer ones are skipped and reported as LineTooLong. ``waiting()`` says,
    without blocking, whether more input can be had at once."""

    def __init__(self, stream: Any, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.eof = False
        try:
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None
        self.consumed = 0

    def _read(self) -> bytes:
        return os.read(self.fd, READ_BYTES) if self.fd is not None else self.stream.read(READ_BYTES)

    def waiting(self) -> bool:
        if self.eof or self.fd is None:
            return True
        return bool(select.select([self.fd], [], [], 0)[0])

    def chunks(self) -> Iterator[list[bytes | LineTooLong]]:
        """The complete lines of each read (a list, possibly empty), in order."""
        pending = b""
        skipping = False
        limit = self.limit
        while True:
            chunk = self._read()
            if not chunk:
                self.eof = True
                self.consumed += len(pending)
                if skipping:
                    yield [LineTooLong()]
                elif pending:
                    yield [pending]
                return
            buffer = pending + chunk
            parts = buffer.split(b"\n")
            pending = parts.pop()
            self.consumed += len(buffer) - len(pending)
            if skipping or len(buffer) >= limit:  # a line may be too long: look at each
                parts = [
                    LineTooLong() if (skipping and not n) or len(part) >= limit else part
                    for n, part in enumerate(parts)
                ]
                if parts:
                    skipping = False
            if len(pending) >= limit:  # drop it, and report the line when it ends
                self.consumed += len(pending)
                pending = b""
                skipping = True
            yield parts


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _make_context(command: Any, name: str, args: list[str]) -> Any:
    try:
        return command.make_context(name, options_first(command, args))
    except ClickException as exc:
        raise BadParameter(exc.format_message(), f"see 'actgrad {name} --help'") from None


def _request(spec: FunctionSpec | None, options: dict[str, Any], max_elements: int) -> Any:
    """The Request of a batch line's parsed options (a JSON object's or a command line's),
    built by core as the command line's is; its element cap is at most batch's own. What only
    shapes a command's output (every answer is a JSON line) is refused, never ignored."""
    shaping = {
        "--format": options.get("output_format") not in (None, "auto", "json"),
        "--header": bool(options.get("header")),
        "--precision": options.get("precision") is not None,
    }
    for flag, given in shaping.items():
        if given:
            raise BadParameter(
                f"{flag} shapes a command's output; batch answers every line in full JSON",
                f"drop {flag} from the line",
            )
    request = request_of(spec, options, no_stdin, max_elements=max_elements)
    if options.get("dtypes"):
        return Compare(request, dtype_list(options["dtypes"]))
    if options.get("devices"):
        return Sides(request, device_list(options["devices"]))
    return request


def json_request(data: dict, max_elements: int) -> Any:
    """A JSON request object as a Request (a Compare with "dtypes", Sides with "devices")."""
    return _request(*json_options(data), max_elements)


@dataclass(frozen=True)
class Compare:
    """A line with --dtypes: its request in each dtype, side by side (the command line's JSON)."""

    request: Any
    dtypes: list[str]

    @property
    def inputs(self) -> dict:
        return self.request.inputs

    def answer(self) -> bytes:
        from .render import render_dtypes_json

        return render_dtypes_json(*evaluate_dtypes(self.request, self.dtypes), None)


@dataclass(frozen=True)
class Sides:
    """A line with --devices: its request on each device, side by side, each judged against
    the true value (the command line's JSON)."""

    request: Any
    devices: list[str]

    @property
    def inputs(self) -> dict:
        return self.request.inputs

    def answer(self) -> bytes:
        from .render import render_devices_json

        return render_devices_json(evaluate_devices(self.request, self.devices), None)


_COMMANDS: dict[FunctionSpec | None, Any] = {}


def _command(spec: FunctionSpec | None) -> Any:
    """The Typer (Click) command that the command line would run for ``spec`` (None: expr)."""
    if spec not in _COMMANDS:
        app = typer.Typer()
        if spec is None:
            app.command("expr")(make_expr_command())
        else:
            add_function_commands(app, [spec])
        app.callback()(lambda: None)  # a group, even with one command
        group = typer.main.get_command(app)
        key = "expr" if spec is None else spec.command
        _COMMANDS[spec] = group.commands[key]  # type: ignore[attr-defined]
    return _COMMANDS[spec]


def cli_request(line: str, max_elements: int) -> Any:
    """A command line (`sigmoid --x 0.5 --grad`) parsed by the command's own options."""
    try:
        args = shlex.split(line)
    except ValueError as exc:
        raise BadInput(f"cannot split the line: {exc}", "check its quotes") from None
    if args and args[0] == "actgrad":
        args = args[1:]
    if not args:
        raise BadInput("empty command", "e.g. sigmoid --x 0.5 --grad")
    if any(a in ("-h", "--help", "--version", "-V") for a in args):
        raise BadParameter("--help and --version do not apply to batch lines", "drop them")
    name = args[0]
    spec = entry(name)
    if spec is None:
        args = grad_names(args)
    ctx = _make_context(_command(spec), name, args[1:])
    if ctx.params.get("report") is not None:
        raise BadParameter(
            "a batch line cannot write a report", f"run it as a command: actgrad {name} … --report"
        )
    return _request(spec, dict(ctx.params), max_elements)


def _id(value: Any) -> bytes:
    """A line's "id" as JSON text (an int by %d: orjson.dumps allocates a large buffer per
    call, which costs microseconds a line once thousands of answers are held)."""
    if value is None:
        return b"null"
    return b"%d" % value if type(value) is int else orjson.dumps(value)


@dataclass(slots=True)
class Line:
    number: int
    id: bytes = b"null"
    output: bytes | None = None  # a finished answer (an error, or a result)
    request: Any = None  # a Request to evaluate alone
    data: dict | None = None  # a fast request's JSON (to evaluate alone if it must)
    ok: bool = False


def _error(line: Line, code: str, message: str) -> None:
    line.output = (
        orjson.dumps(
            {
                "format": JSON_FORMAT,
                "line": line.number,
                "id": orjson.loads(line.id),
                "ok": False,
                "error": {"code": code, "message": " ".join(message.split())},
            }
        )
        + b"\n"
    )


OK = b'{"format":%d,"line":%%d,"id":%%s,"ok":true,"result":%%s}\n' % JSON_FORMAT


def _ok(line: Line, result_json: bytes) -> None:
    line.output = OK % (line.number, line.id, result_json)
    line.ok = True


class Window:
    """The lines read and not yet written, from line number ``first`` on. A slot holds a fast
    line's (id as JSON, line) until its group answers it, then the answer (bytes: a
    success); any other line has a Line. ``groups`` maps a group key to its slots and their x."""

    __slots__ = ("bytes", "elements", "first", "groups", "lines", "slots")

    def __init__(self, first: int, lines: int) -> None:
        self.first = first
        self.lines = lines  # at most this many lines
        self.slots: list[Any] = []
        self.groups: dict[tuple, tuple[list[int], list[Any]]] = {}
        self.elements = 0  # numbers held beyond one a line
        self.bytes = 0

    def room(self) -> int:
        """Lines it can still take."""
        held = len(self.slots)
        return max(0, min(self.lines - held, WINDOW_ELEMENTS - held - self.elements))

    def full(self) -> bool:
        return self.room() == 0 or self.bytes >= WINDOW_BYTES


class Batch:
    """Parse, coalesce, evaluate and answer lines, a window at a time."""

    def __init__(self, max_elements: int) -> None:
        self.max_elements = max_elements
        self.answered = 0
        self.blank = 0  # blank lines: skipped, not answered
        self.alone = 0  # rows of coalesced groups evaluated on their own (a warning, a failure)
        self.fast_cache: dict[tuple, Any] = {}
        self.dtype = _env("ACTGRAD_DTYPE") or "float32"
        self.device = _env("ACTGRAD_DEVICE") or "cpu"

    def parse(self, number: int, raw: bytes | LineTooLong, limit: int) -> tuple[Line, Any]:
        """A Line, and a fast (group key, x) when the request can be coalesced. Whatever goes
        wrong with one line is that line's error."""
        try:
            if type(raw) is bytes and raw[-1:] == b"}" and raw[:1] == b"{" and number > 1:
                data = orjson.loads(raw)  # the common line: one JSON object, nothing around it
                line = Line(number, _id(data.get("id")))
                fast = self._fast(data)
                if fast is not None:
                    line.data = data
                    return line, fast
            elif type(raw) is bytes and raw[:1] != b"{":  # a command line: as its JSON request
                data = fast_command_line(raw.decode("utf-8"))
                fast = None if data is None else self._fast(data)
                if fast is not None:
                    line = Line(number)
                    line.data = data
                    return line, fast
        except Exception:  # (bad JSON, an unhashable value, …): the general path says what
            pass
        try:
            return self._parse(number, raw, limit)
        except Exception as exc:
            line = Line(number)
            _error(line, *_unexpected(exc))
            return line, None

    def _parse(self, number: int, raw: bytes | LineTooLong, limit: int) -> tuple[Line, Any]:
        line = Line(number)
        if isinstance(raw, LineTooLong):
            _error(line, "line_too_long", f"line is over {limit:,} bytes; split the request")
            return line, None
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw or raw.isspace():  # skipped, as JSON Lines readers do (its number counts)
            line.ok, line.output = True, b""
            self.blank += 1
            return line, None
        if raw[:1] != b"{" and raw.lstrip()[:1] != b"{":
            try:
                text = raw.decode("utf-8")
                line.request = cli_request(text, self.max_elements)
            except UnicodeDecodeError:
                _error(line, "bad_encoding", "line is not valid UTF-8")
            except ActgradError as exc:
                _error(line, exc.code, str(exc))
            return line, None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            _error(line, "bad_json", f"not a JSON object: {exc}")
            return line, None
        if not isinstance(data, dict):
            _error(line, "bad_json", "a request is a JSON object")
            return line, None
        line.id = _id(data.get("id"))
        fast = self._fast(data)
        if fast is not None:
            line.data = data
            return line, fast
        try:
            line.request = json_request(data, self.max_elements)
        except ActgradError as exc:
            _error(line, exc.code, str(exc))
        return line, None

    def _fast(self, data: dict) -> Any:
        """((function, params, dtype, device, order), x) for a scalar request of a
        coalescible function, else None (then the line takes the general path). What a
        line's keys resolve to is remembered: one lookup a line."""
        if not data.keys() <= FAST_KEYS:
            return None
        x = data.get("x")
        kind = type(x)
        if kind is not float and (kind is not int or abs(x) > 2**53):
            return None
        signature = tuple(map(data.get, SIGNATURE, UNGIVEN))
        try:
            key = self.fast_cache[signature]
        except KeyError:
            key = self.fast_cache[signature] = self._key(signature)
        except TypeError:  # params, a dict: as sorted pairs (other unhashable values: slow)
            params = signature[1]
            if type(params) is not dict:
                return None
            signature = (signature[0], tuple(sorted(params.items())), *signature[2:])
            try:
                key = self.fast_cache[signature]
            except KeyError:
                key = self.fast_cache[signature] = self._key(signature)
            except TypeError:
                return None
        return None if key is None else (key, float(x))

    def _key(self, signature: tuple) -> tuple | None:
        """The group key of a fast line's signature, or None when it takes the general path."""
        return scalar_key(*signature, self.dtype, self.device)

    def take(self, window: Window, chunk: list, start: int, limit: int) -> int:
        """Parse lines of ``chunk`` from ``start`` into ``window`` until it is full or the
        chunk ends; returns the index of the first line not taken. A fast line (a scalar
        request of a coalescible function whose signature was seen before) costs a JSON
        parse and one lookup; any other line takes :meth:`parse`."""
        slots, groups, cache = window.slots, window.groups, self.fast_cache
        loads, fast_keys, put = orjson.loads, FAST_KEYS, slots.append
        end = min(len(chunk), start + window.room())
        size = window.bytes
        i = start
        while i < end:
            raw = chunk[i]
            i += 1
            if type(raw) is bytes:
                size += len(raw)
                if raw[:1] == b"{" and raw[-1:] == b"}":
                    try:
                        data = loads(raw)
                        if data.keys() <= fast_keys:
                            x = data.get("x")
                            kind = type(x)
                            if kind is float or (kind is int and -(2**53) <= x <= 2**53):
                                get = data.get
                                key = cache[
                                    (
                                        get("fn"),
                                        get("params", ()),
                                        get("grad", False),
                                        get("order", 0),
                                        get("dtype", ""),
                                        get("device", ""),
                                    )
                                ]
                                if key is not None:
                                    members = groups.get(key)
                                    if members is None:
                                        members = groups[key] = ([], [])
                                    members[0].append(len(slots))
                                    members[1].append(x)
                                    put((_id(data.get("id")), raw))
                                    if size >= WINDOW_BYTES:
                                        break
                                    continue
                    except Exception:  # a signature not seen yet, bad JSON, …: the general path
                        pass
            line, fast = self.parse(window.first + len(slots), raw, limit)
            if fast is None:
                put(line)
                if line.request is not None:
                    window.elements += _held(line) - 1
                    end = min(end, i + window.room())
            else:
                members = groups.get(fast[0])
                if members is None:
                    members = groups[fast[0]] = ([], [])
                members[0].append(len(slots))
                members[1].append(fast[1])
                put((line.id, raw))
            if size >= WINDOW_BYTES:
                break
        window.bytes = size
        return i

    def answer_groups(self, window: Window) -> None:
        """Evaluate each coalesced group as one program and write its rows' answers into their
        slots; rows that must be evaluated alone (or a group that failed as a whole) get a Line
        with their request, for :meth:`answer_alone`."""
        slots, first = window.slots, window.first
        for fields, (positions, xs) in window.groups.items():
            try:
                group = evaluate_group(GroupKey(*fields), xs, judge, judge_rows)
                texts = render_json_rows(group.result)
                own = _own_texts(group)
            except Exception:
                for pos in positions:
                    slots[pos] = self._alone(first + pos, slots[pos])
                continue
            for row in np.flatnonzero(group.alone).tolist():
                slots[positions[row]] = self._alone(first + positions[row], slots[positions[row]])
            for row, text in own.items():
                texts[row] = text
            for pos, text in zip(positions, texts, strict=True):
                pending = slots[pos]
                if type(pending) is tuple:
                    slots[pos] = OK % (first + pos, pending[0], text)
        window.groups = {}

    def _alone(self, number: int, pending: tuple[bytes, bytes]) -> Line:
        line = Line(number, pending[0], data=orjson.loads(pending[1]))
        self.prepare_alone(line)
        return line

    def prepare_alone(self, line: Line) -> None:
        self.alone += 1
        try:
            line.request = json_request(line.data, self.max_elements)
        except Exception as exc:
            _error(line, *_unexpected(exc))

    def answer_alone(self, line: Line) -> None:
        """Evaluate a line's request on its own: anything it raises is that line's error."""
        try:
            request = line.request
            answer = (
                request.answer()
                if type(request) in (Compare, Sides)
                else render_json(core.evaluate(request))
            )
            _ok(line, answer[:-1])
        except Exception as exc:
            _error(line, *_unexpected(exc))
        finally:
            line.request = None


def _own_texts(group: Any) -> dict[int, bytes]:
    """The answers of the rows with something of their own: finite rows that share their notes
    are written by one template (as the group's are), a non-finite row by itself."""
    shared: dict[int, tuple[list[str], list[int]]] = {}
    out: dict[int, bytes] = {}
    for row, notes in group.notes.items():
        if group.finite[row]:
            shared.setdefault(id(notes), (notes, []))[1].append(row)
        else:
            out[row] = render_json(group.rows([row], notes))[:-1]
    for notes, rows in shared.values():
        texts = (
            render_json_rows(group.rows(rows, notes))
            if len(rows) > 1
            else [render_json(group.rows(rows, notes))[:-1]]
        )
        out.update(zip(rows, texts, strict=True))
    return out


def _unexpected(exc: BaseException) -> tuple[str, str]:
    """(code, message) of any exception raised while answering one line."""
    if isinstance(exc, ActgradError):
        return exc.code, str(exc)
    if isinstance(exc, MemoryError):
        return "out_of_memory", "ran out of memory; give fewer points or a lower --max-elements"
    return "internal_error", f"{type(exc).__name__}: {exc}"


WINDOW_ELEMENTS = 1 << 20  # a window also closes once its parsed inputs hold this many numbers
WINDOW_BYTES = 1 << 25  # … or its lines this many bytes (each is held about three times:
# the line parsed, its id, its answer)
WRITE_BYTES = 1 << 16  # answers are written in chunks of about this size, and before any
# line that is evaluated alone (so finished answers never wait behind a long evaluation)


class Terminated(Exception):
    """SIGTERM arrived while the stream waited for input."""


class Stream:
    """Answers a stream of lines in input order, writing each answer as soon as it and every
    earlier one are ready, and keeping only the current window in memory."""

    def __init__(self, batch: Batch, fail_fast: bool) -> None:
        self.batch = batch
        self.fail_fast = fail_fast
        self.failed = 0
        self.terminated = False
        self.waiting = False  # blocked reading input: SIGTERM may interrupt at once
        self.pending: list[bytes] = []
        self.size = 0

    def on_sigterm(self, signum: int, frame: Any) -> None:
        self.terminated = True
        if self.waiting:
            raise Terminated

    def drain(self) -> None:
        if self.pending:
            write(b"".join(self.pending))
            self.pending, self.size = [], 0

    def flush(self, window: Window) -> bool:
        """Answer and write a window, in input order; True when the stream must stop."""
        self.batch.answer_groups(window)
        pending, first = self.pending, window.first
        for pos, slot in enumerate(window.slots):
            if type(slot) is bytes:
                pending.append(slot)
                self.size += len(slot)
            else:
                if slot.output is None and slot.request is not None:
                    self.drain()
                    pending = self.pending
                    self.batch.answer_alone(slot)
                output = slot.output or b""
                pending.append(output)
                self.size += len(output)
                if not slot.ok:
                    self.failed += 1
                    if self.fail_fast:
                        return self._stop(first + pos)
            if self.terminated:
                return self._stop(first + pos)
            if self.size >= WRITE_BYTES:
                self.batch.answered = first + pos
                self.drain()
                pending = self.pending
        self.batch.answered = first + len(window.slots) - 1
        self.drain()
        return False

    def _stop(self, number: int) -> bool:
        self.batch.answered = number
        self.drain()
        return True


def _held(line: Line) -> int:
    """Numbers a parsed line holds until it is answered."""
    request = line.request
    return sum(v.numel for v in request.inputs.values()) if request is not None else 1


def run_batch(
    source: str,
    fail_fast: bool,
    window: int,
    max_line_bytes: int,
    max_elements: int,
    quiet: bool = False,
) -> int:
    """Answer every line of ``source`` ("-" for stdin); returns the exit status (143 when
    SIGTERM ended the stream: after the line being answered, every written line complete)."""
    if source == "-":
        stream, size = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin, None
    else:
        stream = files.open_for_reading(source)
        size = os.fstat(stream.fileno()).st_size
    reader = LineReader(stream, max_line_bytes)
    batch = Batch(max_elements)
    with _few_collections():
        return _run(source, stream, size, reader, batch, fail_fast, window, max_line_bytes, quiet)


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """The objects of start-up (torch's, the app's) left out of the cyclic collector, and its
    young generation collected less often: a window's lines, dicts and answers are freed by
    reference counting, and each collection otherwise walks all of torch's objects again."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _run(
    source: str,
    stream: Any,
    size: int | None,
    reader: LineReader,
    batch: Batch,
    fail_fast: bool,
    window_lines: int,
    max_line_bytes: int,
    quiet: bool = False,
) -> int:
    out = Stream(batch, fail_fast)
    start = time.perf_counter()
    progress = _progress(size)
    previous = _sigterm(out.on_sigterm)
    stop = False
    try:
        chunks = reader.chunks()
        take = batch.take
        window = Window(1, window_lines)
        while not stop:
            try:
                out.waiting = not reader.waiting()
                if out.terminated:  # SIGTERM came before the flag was up: do not wait
                    break
                chunk = next(chunks, None)
            except Terminated:
                break
            finally:
                out.waiting = False
            if chunk is None:
                break
            at = 0
            while at < len(chunk) and not stop:
                at = take(window, chunk, at, max_line_bytes)
                if window.full() or out.terminated:
                    stop, window = _flushed(out, window, progress, reader)
            if window.slots and not stop and not reader.waiting():
                stop, window = _flushed(out, window, progress, reader)
        if window.slots and not stop:
            stop = out.flush(window)
    finally:
        _sigterm(previous)
        if source != "-":
            stream.close()
        if progress:
            progress(None)
    return _ending(batch, out, time.perf_counter() - start, quiet)


def _flushed(out: Stream, window: Window, progress: Any, reader: LineReader) -> tuple[bool, Window]:
    """The window's answers written (whether to stop) and the next, empty window."""
    stop = out.flush(window)
    if progress:
        progress(reader.consumed)
    return stop, Window(window.first + len(window.slots), window.lines)


def _ending(batch: Batch, out: Stream, elapsed: float, quiet: bool) -> int:
    """The counts line on stderr (unless quiet) and the exit status."""
    answered, failed = batch.answered - batch.blank, out.failed
    counts = (
        f"{counted(answered, 'request')}, {answered - failed:,} ok, {failed:,} failed, "
        f"{elapsed:.2f} s"
    )
    if out.terminated:
        sys.stderr.write(f"actgrad: terminated: {counts}; every answer written is complete\n")
        return ExitStatus.TERMINATED
    if not quiet:
        sys.stderr.write(counts + "\n")
    return ExitStatus.ERROR if failed else ExitStatus.OK


def _sigterm(handler: Any) -> Any:
    """Install ``handler`` for SIGTERM (main thread only); returns the previous one."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    if handler is None:
        return None
    return signal.signal(signal.SIGTERM, handler)


def _progress(size: int | None):
    """A progress bar on stderr for a file read with stderr on a terminal; else None."""
    if size is None or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    task = bar.add_task("batch", total=size)
    bar.start()

    def update(done: int | None) -> None:
        if done is None:
            bar.stop()
        else:
            bar.update(task, completed=done)

    return update
