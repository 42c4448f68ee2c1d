"""Strict parsing of tensor inputs: numbers, comma lists, ranges, JSON arrays and stdin.

Nothing here imports torch or numpy: values are kept as compact ``array('d')`` buffers or as
unmaterialized ranges, and the element count is known (and checked against the cap) before
anything large is allocated.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..errors import BadInput, TooLarge

NUMBER_HELP = "numbers are ASCII decimals such as 0.5, -2, 1e-3, nan, inf or -inf"
MAX_TOKEN_CHARS = 400
MAX_NDIM = 8

_NUMBER = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)",
    re.IGNORECASE | re.ASCII,
)
_COUNT = re.compile(r"[0-9]+", re.ASCII)


def parse_number(token: str, where: str) -> float:
    """Parse one strict ASCII number; ``where`` names the option for the error message."""
    text = token.strip(" \t\r\n")
    if len(text) > MAX_TOKEN_CHARS:
        raise BadInput(
            f"number in {where} is {len(text)} characters long",
            f"the limit is {MAX_TOKEN_CHARS}; float64 needs at most 17 significant digits",
        )
    if not _NUMBER.fullmatch(text):
        shown = text if len(text) <= 40 else text[:37] + "..."
        if not text:
            raise BadInput(f"empty number in {where}", f"remove the stray comma; {NUMBER_HELP}")
        raise BadInput(f"bad number {shown!r} in {where}", NUMBER_HELP)
    value = float(text)
    if math.isinf(value) and "inf" not in text.lower():
        raise BadInput(
            f"number {text!r} in {where} overflows float64",
            "write inf or -inf if you mean infinity",
        )
    return value


@dataclass(frozen=True)
class Linspace:
    """``start:stop:count``, materialized later as torch.linspace(start, stop, count)."""

    start: float
    stop: float
    count: int


Piece = array | Linspace


@dataclass(frozen=True)
class Values:
    """A parsed tensor input: flat pieces in row-major order and the tensor's shape.

    ``shape == ()`` means a scalar was given (and results are scalars too).
    """

    pieces: tuple[Piece, ...]
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def flat(self) -> list[float]:
        """All values as float64 in a Python list, for tests (a range here is start + i·step;
        the numbers torch is given are torch.linspace's own: engine.materialize)."""
        out: list[float] = []
        for piece in self.pieces:
            if isinstance(piece, Linspace):
                out.extend(_linspace_list(piece))
            else:
                out.extend(piece)
        return out

    @classmethod
    def of(cls, data: float | Sequence[float], shape: tuple[int, ...] | None = None) -> Values:
        """Build Values from Python numbers (used by tests and programmatic callers)."""
        if isinstance(data, int | float):
            return cls((array("d", [float(data)]),), ())
        buf = array("d", (float(v) for v in data))
        return cls((buf,), shape if shape is not None else (len(buf),))


def _linspace_list(piece: Linspace) -> list[float]:
    if piece.count == 1:
        return [piece.start]
    step = (piece.stop - piece.start) / (piece.count - 1)
    return [piece.start + i * step for i in range(piece.count)]


def _check_cap(count: int, where: str, max_elements: int) -> None:
    if count > max_elements:
        raise TooLarge(
            f"{where} has {count:,} elements, over the cap of {max_elements:,}",
            "give fewer points, or raise the cap with --max-elements N or ACTGRAD_MAX_ELEMENTS",
        )


def _parse_range(text: str, where: str, max_elements: int) -> Linspace:
    parts = text.split(":")
    if len(parts) != 3:
        raise BadInput(
            f"bad range {text!r} in {where}",
            "write start:stop:count, e.g. -10:10:1000 (count points from start to stop inclusive)",
        )
    start = parse_number(parts[0], f"{where} range start")
    stop = parse_number(parts[1], f"{where} range stop")
    count_text = parts[2].strip()
    if _COUNT.fullmatch(count_text) and len(count_text) > 12:  # more points than any cap
        shown = count_text if len(count_text) <= 24 else count_text[:21] + "..."
        raise TooLarge(
            f"{where} range {parts[0].strip()}:{parts[1].strip()}:{shown} has {shown} points, "
            f"over the cap of {max_elements:,}",
            "give fewer points, or raise the cap with --max-elements N or ACTGRAD_MAX_ELEMENTS",
        )
    if not _COUNT.fullmatch(count_text):
        raise BadInput(
            f"bad count {count_text!r} in range {text!r} of {where}",
            "the count is a positive whole number, e.g. -10:10:1000",
        )
    count = int(count_text)
    if count < 1:
        raise BadInput(f"range {text!r} in {where} has no points", "use a count of 1 or more")
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise BadInput(
            f"range {text!r} in {where} has a non-finite end", "give finite start and stop"
        )
    _check_cap(count, where, max_elements)
    return Linspace(start, stop, count)


def _json_shape(data: object, where: str, depth: int = 0) -> tuple[int, ...]:
    if isinstance(data, list):
        if depth >= MAX_NDIM:
            raise BadInput(f"array in {where} is nested deeper than {MAX_NDIM}", "flatten it")
        if not data:
            raise BadInput(f"empty array in {where}", "give at least one number")
        shapes = {_json_shape(item, where, depth + 1) for item in data}
        if len(shapes) != 1:
            raise BadInput(
                f"ragged array in {where}",
                "every row must have the same length, e.g. [[1,2],[3,4]]",
            )
        return (len(data), *shapes.pop())
    if isinstance(data, bool) or not isinstance(data, int | float | str):
        raise BadInput(f"array in {where} holds {type(data).__name__} {data!r}", NUMBER_HELP)
    return ()


def _json_flatten(data: object, where: str, out: array) -> None:
    # Called only after _json_shape validated the nesting, so recursion depth <= MAX_NDIM.
    if isinstance(data, list):
        for item in data:
            _json_flatten(item, where, out)
    elif isinstance(data, str):
        out.append(parse_number(data, where))
    else:
        out.append(float(data))


def _parse_json(text: str, where: str, max_elements: int) -> Values:
    import orjson

    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadInput(
            f"bad JSON array in {where}: {exc}",
            'write a JSON array of numbers, e.g. [[1,2],[3,4]] (nan/inf as strings: "nan")',
        ) from None
    shape = _json_shape(data, where)
    if not shape:
        raise BadInput(f"JSON in {where} is not an array", "write e.g. [1,2,3]")
    _check_cap(math.prod(shape), where, max_elements)
    out = array("d")
    _json_flatten(data, where, out)
    return Values((out,), shape)


def _parse_tokens(tokens: Iterable[str], where: str, max_elements: int) -> array:
    out = array("d")
    for i, token in enumerate(tokens, 1):
        if i > max_elements:
            _check_cap(i, where, max_elements)
        try:
            out.append(parse_number(token, where))
        except BadInput as exc:
            raise BadInput(f"{exc.message} (item {i})", exc.hint) from None
    return out


_JSON_TOKEN = re.compile(r'[\[\],]|"[^"]*"|[^\s\[\],"]+|"[^"]*$|\S', re.ASCII)


def _json_tokens(chunks: Iterable[str], where: str) -> Iterable[str]:
    """The tokens of JSON text arriving in chunks: brackets, commas, strings, and numbers
    (or any other word, for the parser to name); a token is never longer than a number."""
    carry = ""
    for chunk in chunks:
        text = carry + chunk
        carry = ""
        for match in _JSON_TOKEN.finditer(text):
            token = match.group()
            if match.end() == len(text) and token not in "[],":  # it may go on
                carry = token
                break
            yield token
        if len(carry) > MAX_TOKEN_CHARS:  # refused as it streams in
            raise _too_long(where)
    if carry:
        yield carry


def _too_long(where: str) -> BadInput:
    return BadInput(
        f"a number in {where} runs over {MAX_TOKEN_CHARS} characters without a separator",
        "separate numbers with spaces, commas or newlines; float64 needs at most 17 digits",
    )


class _JsonArray:
    """One JSON array from stdin, parsed token by token as it streams in: 8 bytes a number,
    refused at the element cap, a bad token or a ragged row before the rest is read."""

    HINT = 'write a JSON array of numbers, e.g. [[1,2],[3,4]] (nan/inf as strings: "nan")'

    def __init__(self, where: str, max_elements: int) -> None:
        self.where, self.max_elements = where, max_elements
        self.out = array("d")
        self.counts: list[int] = []  # items so far in each open list, outermost first
        self.lengths: dict[int, int] = {}  # the length of every list at each depth
        self.leaf: int | None = None  # the depth the numbers are at
        self.value_next, self.closed = True, False

    def bad(self, what: str) -> BadInput:
        return BadInput(f"bad JSON array in {self.where}: {what}", self.HINT)

    def ragged(self) -> BadInput:
        return BadInput(
            f"ragged array in {self.where}",
            "every row must have the same length, e.g. [[1,2],[3,4]]",
        )

    def take(self, token: str) -> None:
        if self.closed:
            raise self.bad(f"text after the array ({token!r})")
        if token in ",]":
            if not self.counts or (self.value_next and (token == "," or self.counts[-1])):
                raise self.bad(f"unexpected '{token}'")
        elif not self.value_next:
            raise self.bad(f"a ',' is missing before {token!r}")
        if token == "[":
            self.open()
        elif token == "]":
            self.close()
        elif token == ",":
            self.value_next = True
        else:
            self.number(token)

    def open(self) -> None:
        depth = len(self.counts)
        if depth >= MAX_NDIM:
            raise BadInput(f"array in {self.where} is nested deeper than {MAX_NDIM}", "flatten it")
        if self.leaf is not None and depth >= self.leaf:
            raise self.ragged()
        if self.counts:
            self.counts[-1] += 1
        self.counts.append(0)

    def close(self) -> None:
        n = self.counts.pop()
        if n == 0:
            raise BadInput(f"empty array in {self.where}", "give at least one number")
        if self.lengths.setdefault(len(self.counts), n) != n:
            raise self.ragged()
        self.value_next, self.closed = False, not self.counts

    def number(self, token: str) -> None:
        depth = len(self.counts)
        if self.leaf is not None and depth != self.leaf:
            raise self.ragged()
        self.leaf = depth
        self.counts[-1] += 1
        quoted = len(token) > 1 and token[0] == token[-1] == '"'
        if not quoted and not _NUMBER.fullmatch(token):
            raise BadInput(f"array in {self.where} holds {token[:40]!r}", NUMBER_HELP)
        self.out.append(parse_number(token[1:-1] if quoted else token, self.where))
        _check_cap(len(self.out), self.where, self.max_elements)
        self.value_next = False

    def values(self) -> Values:
        if not self.closed:
            raise self.bad("it ends before its ']'")
        return Values((self.out,), tuple(self.lengths[d] for d in range(len(self.lengths))))


def _parse_json_stream(chunks: Iterable[str], where: str, max_elements: int) -> Values:
    parsed = _JsonArray(where, max_elements)
    for token in _json_tokens(chunks, where):
        parsed.take(token)
    return parsed.values()


def _parse_stdin(source: str | Iterable[str], where: str, max_elements: int) -> Values:
    """Numbers separated by whitespace, commas or newlines, parsed as the text streams in
    (memory: 8 bytes a number, never the whole text), or one JSON array of bounded size."""
    chunks = iter([source] if isinstance(source, str) else source)
    head = ""
    for chunk in chunks:
        head += chunk
        if head.strip():
            break
    if not head.strip():
        raise BadInput(
            f"stdin for {where.removesuffix(' (stdin)')} is empty",
            "pipe numbers in, e.g. echo 1 2 3 | actgrad tanh --x -",
        )
    if head.lstrip().startswith("["):
        return _parse_json_stream(_chain(head, chunks), where, max_elements)

    def tokens() -> Iterable[str]:
        carry = ""
        for chunk in _chain(head, chunks):
            pieces = re.split(r"[\s,]+", carry + chunk)
            carry = pieces.pop()
            if len(carry) > MAX_TOKEN_CHARS:  # a token without end: refused as it streams in
                raise _too_long(where)
            yield from (p for p in pieces if p)
        if carry:
            yield carry

    flat = _parse_tokens(tokens(), where, max_elements)
    return Values((flat,), (len(flat),) if len(flat) != 1 else ())


def _chain(first: str, rest: Iterable[str]) -> Iterable[str]:
    yield first
    yield from rest


def parse_values(
    specs: Sequence[str],
    where: str = "--x",
    *,
    max_elements: int,
    read_stdin: Callable[[], str | Iterable[str]] | None = None,
) -> Values:
    """Parse the strings given for one tensor option (the option may be repeated).

    Each string is a number, a comma list, ``start:stop:count``, a JSON array, or ``-`` for
    stdin (whitespace, newline or comma separated numbers, or one JSON array).
    """
    if not specs:
        raise BadInput(f"no values for {where}", f"give {where} VALUES, e.g. {where} 0.5")
    pieces: list[Piece] = []
    total = 0
    stdin_used = False
    for spec in specs:
        text = spec.strip()
        if text == "-":
            if stdin_used:
                raise BadInput(f"{where} reads stdin twice", "give '-' once")
            stdin_used = True
            if read_stdin is None:
                raise BadInput(f"{where} - needs stdin, which is not available here", "pass values")
            parsed = _parse_stdin(read_stdin(), f"{where} (stdin)", max_elements)
        elif text.startswith("["):
            parsed = _parse_json(text, where, max_elements)
        elif ":" in text:
            rng = _parse_range(text, where, max_elements)
            parsed = Values((rng,), (rng.count,))
        elif "," in text:
            flat = _parse_tokens(text.split(","), where, max_elements)
            parsed = Values((flat,), (len(flat),))
        else:
            parsed = Values((array("d", [parse_number(text, where)]),), ())
        if len(specs) > 1 and len(parsed.shape) > 1:
            raise BadInput(
                f"{where} mixes a nested array with other values",
                "give a matrix as one JSON array, or only flat lists when repeating the option",
            )
        pieces.extend(parsed.pieces)
        total += parsed.numel
        _check_cap(total, where, max_elements)
        if len(specs) == 1:
            return parsed
    return Values(tuple(pieces), (total,))
