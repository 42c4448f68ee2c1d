"""Renderers: pure functions of a Result (plus the format options) to text."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ..core.cost import STREAM_NUMBERS
from ..core.result import Result, json_bytes
from ..core.schema import JSON_FORMAT
from ..core.words import counted, measured, shortest
from .numbers import NUMPY, round_to, texts

HEAD_ROWS = 10  # long inputs show this many rows at each end in a table
MAX_TABLE_COLUMNS = 10
PRIMES = {1: "'", 2: "''", 3: "⁽³⁾", 4: "⁽⁴⁾"}


def render_json(result: Result, precision: int | None = None) -> bytes:
    """The JSON result (DESIGN.md), one line."""
    data = result.to_dict()
    if precision is not None:
        data = _rounded(data, precision)
    return json_bytes(data, newline=True)


def render_json_rows(result: Result) -> list[bytes]:
    """The JSON result of each row of a stacked result, without the newline: row i of every
    array is request i's scalar, and the object is the one :func:`render_json` writes for
    that request alone (rows with a non-finite number are the caller's to evaluate alone).
    The object is written once, with a placeholder per number, and each row fills them in."""
    arrays = dict(result.arrays())
    slots = {path: orjson.Fragment(b"\0%d\0" % i) for i, path in enumerate(arrays)}
    template = orjson.dumps(result.to_dict(lambda path, arr: slots[path], nonfinite=[]))
    parts = template.split(b"\0")  # text, slot, text, slot, ..., text
    columns = [_texts(arr) for arr in arrays.values()]
    row = b"%s".join(text.replace(b"%", b"%%") for text in parts[0::2])
    filled = [columns[int(slot)] for slot in parts[1::2]]
    return [row % numbers for numbers in zip(*filled, strict=True)]


def _texts(arr: np.ndarray) -> list[bytes]:
    """Each number of a 1-D array as orjson writes it (as a scalar alone it is the same)."""
    src = arr if arr.dtype in (np.float32, np.float64, np.float16) else arr.astype(np.float32)
    return orjson.dumps(src, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")


def _rounded(data: Any, precision: int) -> Any:
    if isinstance(data, dict):
        return {
            k: v if k in ("params", "index") else _rounded(v, precision) for k, v in data.items()
        }
    if isinstance(data, np.ndarray | np.floating):
        out = round_to(data, precision)
        return out[()] if out.ndim == 0 else out
    return data


@dataclass
class Columns:
    """A result as rows: one header and one 1-D array per column, a label per row."""

    headers: list[str]
    columns: list[np.ndarray]
    label: Callable[[int], str]

    @property
    def rows(self) -> int:
        return len(self.columns[0])


def _labels(shape: tuple[int, ...]) -> Callable[[int], str]:
    if len(shape) <= 1:
        return str
    return lambda i: ",".join(str(int(k)) for k in np.unravel_index(i, shape))


def _slices(arr: np.ndarray, dim: int) -> np.ndarray:
    """(batch, size) view: one row per slice along ``dim``."""
    moved = np.moveaxis(arr, dim, -1)
    return moved.reshape(-1, moved.shape[-1])


def columns(result: Result) -> Columns:
    name = result.function
    x = result.inputs["x"]
    if result.pointwise:
        headers = ["x", f"{name}(x)"]
        cols = [x.reshape(-1), result.value.reshape(-1)]
        for k, grads in sorted(result.derivatives.items()):
            weighted = "v·" if result.cotangent is not None else ""
            headers.append(f"{weighted}{name}{PRIMES[k]}(x)")
            cols.append(grads["x"].reshape(-1))
        exact = result.exact or {}
        for path, header in (
            ("value", f"{name}(x)"),
            *(
                (f"{'grad' if k == 1 else f'grad{k}'}.x", f"{name}{PRIMES[k]}(x)")
                for k in sorted(result.derivatives)
            ),
        ):
            if path in exact:
                headers.append(f"exact {header}")
                cols.append(np.asarray(exact[path], dtype=object).reshape(-1))
        return Columns(headers, cols, _labels(x.shape))
    dim = result.params["dim"]
    xs, ys = _slices(x, dim), _slices(result.value, dim)
    batch, n = xs.shape
    m = ys.shape[1]

    def labels(size: int) -> Callable[[int], str]:
        return str if batch == 1 else lambda r: f"{r // size},{r % size}"

    if result.index is not None or result.cotangent is not None:
        idx = result.index
        headers, cols = ["x"], [xs.reshape(-1)]
        if m == n:
            headers.append("y")
            cols.append(ys.reshape(-1))
        headers.append(f"∂y[{idx}]/∂x" if idx is not None else "vᵀJ")
        cols.append(_slices(result.derivatives[1]["x"], dim).reshape(-1))
        if 2 in result.derivatives:
            hess = result.derivatives[2]["x"].reshape(-1, n)
            headers.extend(f"∂²y[{idx}]/∂x∂x[{j}]" for j in range(n))
            cols.extend(hess[:, j] for j in range(n))
        return Columns(headers, cols, labels(n))
    headers, cols = ([], []) if m != n else (["x"], [xs.reshape(-1)])
    headers.append("y")
    cols.append(ys.reshape(-1))
    if result.jacobian:
        jac = result.jacobian["x"].reshape(-1, n)
        headers.extend(f"∂y[i]/∂x[{j}]" for j in range(n))
        cols.extend(jac[:, j] for j in range(n))
    return Columns(headers, cols, labels(m))


PLAIN_CHUNK_ROWS = 16_384


SYMBOLS = {"loss": ("loss", "ℓ"), "norm": ("norm", "‖v‖"), "expr": ("f", "f")}
POWERS = {1: "", 2: "²", 3: "³", 4: "⁴"}


def loss_items(result: Result) -> list[tuple[str, np.ndarray]]:
    """A loss's, norm's or expression's quantities, labelled, in output order."""
    label, symbol = SYMBOLS[result.kind]
    items = [(name, arr) for name, arr in result.inputs.items()]
    items.append((label, result.value))
    for k, grads in sorted(result.derivatives.items()):
        power = POWERS[k]
        weighted = "vᵀ" if result.cotangent is not None else ""
        items += [(f"{weighted}∂{power}{symbol}/∂{n}{power}", g) for n, g in grads.items()]
    items += [(f"∂{symbol}ᵢ/∂{n}", j) for n, j in result.jacobian.items()]
    return items


def exact_lines(result: Result) -> list[str]:
    """--exact for results that are not one row per point: ``exact PATH: digits …``."""
    if result.exact is None or (result.activation and result.pointwise):
        return []
    out = []
    for path, digits in result.exact.items():
        if path == "missing":  # said in the notes
            continue
        flat = np.asarray(digits, dtype=object).reshape(-1).tolist()
        out.append(f"exact {path}: {' '.join(str(d) for d in flat)}")
    return out


def _lines(arr: np.ndarray, precision: int | None) -> str:
    """An array as tab-separated lines that keep its shape: a line per row of its last
    dimension (a scalar or a vector is one line)."""
    rows = arr.reshape(-1, arr.shape[-1]) if arr.ndim >= 2 else arr.reshape(1, -1)
    return "".join(line + "\n" for line in _cells(rows, precision))


def _loss_plain(result: Result, precision: int | None, header: bool) -> Iterator[str]:
    items = loss_items(result)
    derivatives = items[len(result.inputs) + 1 :]
    label = items[len(result.inputs)][0]
    formulas = "".join(f"d/d{n}\t{f}\n" for n, f in result.symbolic.items())
    if result.scalar:
        yield from _scalar_loss_plain([(label, result.value), *derivatives], precision, header)
    else:
        yield from _rows_plain(result, label, derivatives, precision, header)
    yield formulas


def _scalar_loss_plain(
    blocks: list[tuple[str, np.ndarray]], precision: int | None, header: bool
) -> Iterator[str]:
    """A scalar loss: one line of numbers, or (a gradient with a shape) a block per quantity,
    a line per row of it."""
    if all(a.ndim == 0 for _, a in blocks):
        names = "\t".join(name for name, _ in blocks) + "\n" if header else ""
        yield names + "\t".join(texts(a, precision)[0] for _, a in blocks) + "\n"
        return
    for name, arr in blocks:
        yield (f"{name}\n" if header else "") + _lines(arr, precision)


def _rows_plain(
    result: Result,
    label: str,
    derivatives: list[tuple[str, np.ndarray]],
    precision: int | None,
    header: bool,
) -> Iterator[str]:
    """A loss per sample (or an expression over points): a line per value, its inputs and
    derivatives beside it, a chunk of lines at a time."""
    rows = result.value.size
    points = [(n, a.reshape(rows, 1)) for n, a in result.inputs.items() if a.size == rows]
    # a derivative with no row per value (vᵀJ for a scalar variable) is a block of its own
    apart = [(n, a) for n, a in derivatives if a.size < rows or a.size % rows]
    alone = {n for n, _ in apart}
    cols = [
        *points,
        (label, result.value.reshape(rows, 1)),
        *((n, a.reshape(rows, -1)) for n, a in derivatives if n not in alone),
    ]
    if header:
        yield (
            "\t".join(
                n if c.shape[1] == 1 else "\t".join(f"{n}[{j}]" for j in range(c.shape[1]))
                for n, c in cols
            )
            + "\n"
        )
    width = sum(c.shape[1] for _, c in cols)
    chunk = max(1, min(PLAIN_CHUNK_ROWS, STREAM_NUMBERS // width))
    for start in range(0, rows, chunk):
        cells = [_cells(c[start : start + chunk], precision) for _, c in cols]
        yield "".join("\t".join(row) + "\n" for row in zip(*cells, strict=True))
    for name, arr in apart:
        yield (f"{name}\n" if header else "") + _lines(arr, precision)


def _cells(block: np.ndarray, precision: int | None) -> list[str]:
    """One tab-joined cell per row of a (rows, k) block, formatted in one call."""
    items = texts(block, precision)
    width = block.shape[1]
    if width == 1:
        return items
    return ["\t".join(items[i : i + width]) for i in range(0, len(items), width)]


def render_plain(
    result: Result, precision: int | None = None, header: bool = False
) -> Iterator[str]:
    """Tab-separated lines, no decoration: one per point (x, value, derivatives); with
    ``header``, the column names first.

    Yields chunks of lines, so a large result is never formatted all at once."""
    if not result.activation:
        yield from _loss_plain(result, precision, header)
    else:
        table = columns(result)
        skip = 1 if result.scalar else 0
        if header:
            yield "\t".join(table.headers[skip:]) + "\n"
        yield from _plain_rows(table.columns[skip:], precision)
    yield "".join(line + "\n" for line in exact_lines(result))


def _plain_rows(cols: list[np.ndarray], precision: int | None) -> Iterator[str]:
    """Equal-length 1-D columns as tab-separated lines, formatted a chunk at a time: at most
    PLAIN_CHUNK_ROWS rows and STREAM_NUMBERS numbers (a Jacobian's row is thousands)."""
    rows = max(1, min(PLAIN_CHUNK_ROWS, STREAM_NUMBERS // max(len(cols), 1)))
    for start in range(0, len(cols[0]), rows):
        formatted = [texts(c[start : start + rows], precision) for c in cols]
        yield "".join("\t".join(row) + "\n" for row in zip(*formatted, strict=True))


def _loss_columns(result: Result) -> tuple[Columns | None, list[str]]:
    """Quantities with one value per row become columns; the rest become text lines."""
    items = loss_items(result)
    rows = max(arr.size for _, arr in items)
    shaped = next(arr.shape for _, arr in items if arr.size == rows)
    in_columns = [(n, a) for n, a in items if a.size == rows and rows > 1]
    lines = [
        f"{name} = {_compact(arr)}" for name, arr in items if not (arr.size == rows and rows > 1)
    ]
    lines += [f"d/d{name} = {formula}" for name, formula in result.symbolic.items()]
    if not in_columns:
        return None, lines
    table = Columns(
        [n for n, _ in in_columns], [a.reshape(-1) for _, a in in_columns], _labels(shaped)
    )
    return table, lines


def _compact(arr: np.ndarray, limit: int = 12) -> str:
    items = texts(arr.reshape(-1)[:limit])
    body = ", ".join(items) + (", …" if arr.size > limit else "")
    return body if arr.ndim == 0 else f"[{body}] (shape {list(arr.shape)})"


def _caption(result: Result) -> str:
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    parts = [f"params: {params}" if params else "no params", result.dtype, result.device]
    if result.index is not None:
        parts.append(f"index={result.index}")
    return " · ".join([*parts, f"torch {result.torch}"])


def _pick(count: int, k: int, priority: list[int] | None) -> list[int]:
    """The columns a table of ``count`` shows with room for ``k`` besides the label: from
    the middle out, or the first ``k`` of ``priority`` in their order and one "…" (-1) for
    the rest, at the end."""
    data = list(range(1, count))
    if k >= len(data):
        return [0, *data]
    if priority is None:
        return [0, *data[: (k + 1) // 2], -1, *data[len(data) - k // 2 :]]
    kept = set(priority[:k])
    return [0, *(c for c in data if c in kept), -1]


def fitted_table(
    headers: list[str],
    cells: Callable[[int], list[str]],
    present: list[bool],
    width: int,
    priority: list[int] | None = None,
) -> tuple[Any, list[int]]:
    """A table of as many columns as fit ``width`` whole: numbers are never cut. Columns
    beyond the first MAX_TABLE_COLUMNS, or beyond the width, give way from the middle to one
    "…" column (column 0, the row label, always stays); with ``priority`` (the columns, most
    important first), the least important give way instead, to one "…" at the end.
    ``cells(c)`` gives column c's texts for the rows that are ``present`` (the others are a
    "⋮" gap). Returns the table and the columns shown (-1 for a gap)."""
    from rich.table import Table
    from rich.text import Text

    texts_of: dict[int, list[str]] = {}

    def need(c: int) -> int:  # the column's width with its padding and border
        if c < 0:
            return 4
        if c not in texts_of:
            texts_of[c] = cells(c)
        return max(len(headers[c]), *(len(t) for t in texts_of[c])) + 3

    def pick(k: int) -> list[int]:
        return _pick(len(headers), k, priority)

    k = min(len(headers) - 1, MAX_TABLE_COLUMNS)
    shown = pick(k)
    while k > 1 and sum(need(c) for c in shown) + 1 > width:
        k -= 1
        shown = pick(k)
    table = Table()
    for c in shown:
        header = Text("…" if c < 0 else headers[c])
        table.add_column(header, justify="right", overflow="fold", style="dim" if c == 0 else None)
    for c in shown:
        if c >= 0:
            need(c)
    position = 0
    for here in present:
        if not here:
            table.add_row(*("⋮" for _ in shown))
            continue
        table.add_row(*("…" if c < 0 else texts_of[c][position] for c in shown))
        position += 1
    return table, shown


def _exact_priority(headers: list[str], inputs: int) -> list[int] | None:
    """With --exact columns: the inputs, then each quantity from the highest derivative
    down, its exact column beside it (what --exact is asked for: torch's number and the
    true one side by side); None without them (the columns give way from the middle)."""
    exact = {h.removeprefix("exact "): c for c, h in enumerate(headers) if h.startswith("exact ")}
    if not exact:
        return None
    out = list(range(1, 1 + inputs))
    for c in range(len(headers) - 1, inputs, -1):
        if not headers[c].startswith("exact ") and c not in out:
            out.append(c)
            if headers[c] in exact:
                out.append(exact[headers[c]])
    return out + [c for c in range(1, len(headers)) if c not in out]


def _quantity_priority(headers: list[str], inputs: int) -> list[int]:
    """--dtypes columns ("grad.x float16"): the inputs, then the last quantity (the highest
    derivative) in every dtype, then the one before, and so on."""
    quantities = list(dict.fromkeys(h.rsplit(" ", 1)[0] for h in headers[1 + inputs :]))
    out = list(range(1, 1 + inputs))
    for quantity in reversed(quantities):
        out += [c for c, h in enumerate(headers) if c > inputs and h.rsplit(" ", 1)[0] == quantity]
    return out


def _title(result: Result) -> str:
    if result.spec is None:
        return f"expr: {result.params['expression']}"
    return f"{result.spec.command}: {result.spec.formula}"


def render_table(result: Result, precision: int | None = None, width: int = 80) -> Any:
    """A rich renderable: the formula, the values and derivatives, parameters and notes,
    laid out for ``width`` columns."""
    from rich.console import Group
    from rich.text import Text

    title = _title(result)
    lines: list[str] = []
    if result.activation:
        data = columns(result)
    else:
        data, lines = _loss_columns(result)
    if data is None:
        parts: list[Any] = [Text(title, style="bold")]
        parts += [Text(line) for line in [*lines, *exact_lines(result)]]
        parts.append(Text(_caption(result), style="dim"))
        parts += [Text(line, style="cyan") for line in check_lines(result)]
        parts.extend(Text(f"note: {note}", style="yellow") for note in result.notes)
        return Group(*parts)
    rows = list(range(data.rows))
    if len(rows) > 2 * HEAD_ROWS + 1:
        rows = [*rows[:HEAD_ROWS], -1, *rows[-HEAD_ROWS:]]
    picked = np.array([r for r in rows if r >= 0])
    table, show_cols = fitted_table(
        ["i", *data.headers],
        lambda c: (
            [data.label(int(r)) for r in picked]
            if c == 0
            else texts(data.columns[c - 1][picked], precision)
        ),
        [r >= 0 for r in rows],
        width,
        _exact_priority(["i", *data.headers], len(result.inputs)),
    )
    parts = [
        Text(title),
        table,
        *(Text(line) for line in [*lines, *exact_lines(result)]),
        Text(_caption(result), style="dim"),
    ]
    parts += [Text(line, style="cyan") for line in check_lines(result)]
    if len(rows) < data.rows or sum(c > 0 for c in show_cols) < len(data.headers):
        parts.append(
            Text(
                f"showing part of {data.rows} rows × {len(data.headers)} columns; "
                "use --format plain or --json for all",
                style="dim",
            )
        )
    parts += _notes_and_nonfinite(result)
    return Group(*parts)


def _notes_and_nonfinite(result: Result) -> list[Any]:
    from rich.text import Text

    parts = [Text(f"note: {note}", style="yellow") for note in result.notes]
    nonfinite = result.nonfinite()
    if nonfinite:
        more = " …" if len(nonfinite) > 8 else ""
        parts.append(Text(f"non-finite: {', '.join(nonfinite[:8])}{more}", style="yellow"))
    return parts


def _g(value: float | None) -> str:
    """A measured error (ulps, abs, rel, a floor): 4 significant digits (core.words)."""
    return "n/a" if value is None else measured(value)


def _v(value: float | None, dtype: str = "float64") -> str:
    """A number torch or the reference gave (an input, got, true): the shortest digits that
    read back as the same number of ``dtype`` (core.words)."""
    return "n/a" if value is None else shortest(value, dtype)


def check_lines(result: Result) -> list[str]:
    """The --check report as lines of text."""
    report = result.check
    if report is None:
        return []
    lines = [*_second_opinion_lines(report), *_reference_lines(report)]
    dtype = report["dtype"]
    lines += [_error_line(path, err, dtype) for path, err in report["dtype_error"].items()]
    lines += [_flag_line(flag, report) for flag in report["flags"]]
    lines.append("check: " + _verdict(report))
    return lines


def _second_opinion_lines(report: dict) -> list[str]:
    """Finite differences and the closed form against autograd (second opinions)."""
    lines = []
    second = " (a second opinion: the true value decides)" if report.get("decided") else ""
    fd = report["finite_differences"]
    if "skipped" in fd:
        lines.append(f"check: finite differences skipped ({fd['skipped']})")
    else:
        verdict = "ok" if fd["ok"] else f"differ at {', '.join(fd['failures'])}{second}"
        kinks = (
            f"; kinks (one-sided derivatives differ) at {', '.join(fd['kinks'])}"
            if fd["kinks"]
            else ""
        )
        floor = f"the finite-difference floor (|derivative| ≤ {_g(fd['floor'])})"
        if fd["max_rel"] is None:
            rel = f"max rel: every derivative is below {floor}, where no relative error holds"
        else:
            rel = f"max rel {_g(fd['max_rel'])}"
            if fd["below_floor"]:
                rel += f" ({fd['below_floor']} below {floor} not counted)"
        lines.append(
            f"check: autograd vs central differences in float64: max abs {_g(fd['max_abs'])}, "
            f"{rel}: {verdict}{kinks}"
        )
    closed = report["closed_form"]
    if closed is not None:
        verdict = "ok" if closed["ok"] else f"differ{second}"
        lines.append(
            f"check: autograd vs the closed-form derivative: max abs "
            f"{_g(closed['max_abs'])}: {verdict}"
        )
    return lines


def _reference_lines(report: dict) -> list[str]:
    """Which tier gave the true values, and what the reference left unsettled or lacks."""
    lines = []
    tiers = report.get("tiers") or {}
    if tiers.get("fast"):
        lines.append(
            f"check: true values: {counted(tiers['fast'], 'number')} by the fast tier (float64 "
            f"bounds), {tiers['exact']:,} by the arbitrary-precision tier"
        )
    for path in report.get("reference_unsettled", []):
        count = report.get("unsettled_points", {}).get(path, 0)
        lines.append(
            f"check: the true value of {path} did not settle within the reference's "
            f"precision and time budget at {counted(count, 'point')}: not judged"
        )
    for reason in report.get("reference_missing", []):
        lines.append(
            f"check: no arbitrary-precision reference: {reason}; compared with float64 (not a "
            "verdict)"
        )
    return lines


def _error_line(path: str, err: dict, dtype: str) -> str:
    """One field's error: against the true value (its worst point), or against float64."""
    if err.get("against") == "float64":
        return (
            f"check: {dtype} vs float64, {path}: max abs {_g(err['max_abs'])}, "
            f"max rel {_g(err['max_rel'])}, max {_g(err['max_ulp'])} ulp"
        )
    line = (
        f"check: {dtype} {path} vs the true value: max {_g(err['max_ulp'])} ulp, "
        f"median {_g(err['median_ulp'])}, max rel {_g(err['max_rel'])}"
    )
    worst = err.get("worst")
    if worst and worst["index"]:
        at = (
            f"x = {_v(worst['x'], dtype)}"
            if "x" in worst
            else f"[{','.join(map(str, worst['index']))}]"
        )
        line += f"; worst at {at}: got {_v(worst['got'], dtype)}, true {_v(worst['true'])}"
    return line


def _flag_line(flag: dict, report: dict) -> str:
    dtype = report["dtype"]
    kind = flag["flag"].replace("_", "-")
    if kind == "not-zero":
        return (
            f"check: not zero at {flag['path']}: got {_v(flag['got'], dtype)}; the true value "
            f"is 0 in {report['dtype']}"
        )
    line = (
        f"check: {kind} at {flag['path']}: got {_v(flag['got'], dtype)}, true value "
        f"{_v(flag['true'])}"
    )
    if kind == "inaccurate":
        line += f" ({_g(flag['ulps'])} ulps > {report['ulps']})"
    return line


def _verdict(report: dict) -> str:
    """ok only on the truth: a flag fails, and so does a number no true value judged."""
    if report["ok"]:
        return "ok"
    if report["flags"]:
        return "see above: not every number holds"
    return (
        f"not judged: {counted(report.get('not_judged', 0), 'number')} without a true value "
        "(see above); a check passes only on the truth"
    )


def _quantities(result: Result) -> list[tuple[str, np.ndarray]]:
    return [(p, a) for p, a in result.arrays() if not p.startswith("inputs.")]


def render_dtypes_json(
    results: dict[str, Result], comparison: dict, precision: int | None
) -> bytes:
    first = results["float64"]
    data: dict[str, Any] = {
        "format": JSON_FORMAT,
        "function": first.function,
        "params": first.params,
        "device": first.device,
        "torch": first.torch,
        "inputs": {k: v for k, v in first.to_dict()["inputs"].items()},
        "dtypes": {},
    }
    for dtype, result in results.items():
        full = result.to_dict()
        entry = {
            k: v
            for k, v in full.items()
            if k in ("value", "nonfinite", "notes") or k.startswith(("grad", "jacobian"))
        }
        entry.update(comparison.get(dtype, {}))
        data["dtypes"][dtype] = entry
    if precision is not None:
        data = _rounded(data, precision)
    return orjson.dumps(data, option=NUMPY | orjson.OPT_APPEND_NEWLINE)


def render_dtypes_plain(
    results: dict[str, Result], precision: int | None, header: bool = False
) -> Iterator[str]:
    """One line per point: the inputs, then each quantity in each dtype or device (with
    ``header``, the column names first: ``value float16``, ``grad.x cuda:0``, …)."""
    first = next(iter(results.values()))
    rows = max(a.size for _, a in first.arrays())
    named = [(n, a.reshape(-1)) for n, a in first.inputs.items() if a.size == rows]
    for path, _ in _quantities(first):
        named += [
            (f"{path} {d}", dict(_quantities(r))[path].reshape(-1)) for d, r in results.items()
        ]
    named = [(n, c) for n, c in named if c.size == rows]
    if header:
        yield "\t".join(n for n, _ in named) + "\n"
    yield from _plain_rows([c for _, c in named], precision)


def render_dtypes_table(
    results: dict[str, Result], comparison: dict, precision: int | None, width: int = 80
) -> Any:
    lines = []
    for dtype, report in comparison.items():
        for path, err in report["error"].items():
            lines.append(
                f"{dtype} vs float64, {path}: max abs {_g(err['max_abs'])}, max rel "
                f"{_g(err['max_rel'])}, max {_g(err['max_ulp'])} ulp"
            )
        for flag in report["flags"]:
            lines.append(
                f"{dtype}: {flag['flag'].replace('_', '-')} at {flag['path']}: got "
                f"{_v(flag['got'], dtype)}, float64 gives {_v(flag['true'])}"
            )
    return _side_by_side(results, precision, width, lines)


def render_devices_table(results: dict[str, Result], precision: int | None, width: int = 80) -> Any:
    """Each device's numbers side by side; under them each device's error against the true
    value (its --check report) and its notes."""
    lines = []
    for device, result in results.items():
        lines += [f"{device}: {line}" for line in check_lines(result)]
        lines += [f"{device}: note: {n}" for n in result.notes]
    return _side_by_side(results, precision, width, lines)


def render_devices_json(results: dict[str, Result], precision: int | None) -> bytes:
    """One request on several devices: what they share once, then per device its numbers,
    notes and --check report."""
    first = next(iter(results.values()))
    data: dict[str, Any] = {
        "format": JSON_FORMAT,
        "function": first.function,
        "params": first.params,
        "dtype": first.dtype,
        "torch": first.torch,
        "inputs": {k: v for k, v in first.to_dict()["inputs"].items()},
        "devices": {},
    }
    for device, result in results.items():
        full = result.to_dict()
        data["devices"][device] = {
            k: v
            for k, v in full.items()
            if k in ("value", "nonfinite", "notes", "check", "exact")
            or k.startswith(("grad", "jacobian"))
        }
    if precision is not None:
        data = _rounded(data, precision)
    return orjson.dumps(data, option=NUMPY | orjson.OPT_APPEND_NEWLINE)


def _side_by_side(
    results: dict[str, Result], precision: int | None, width: int, lines: list[str]
) -> Any:
    """The results' numbers in columns (``value float16``, ``grad.x cuda:0``), ``lines``
    under them."""
    from rich.console import Group
    from rich.text import Text

    first = next(iter(results.values()))
    rows = max(a.size for _, a in first.arrays())
    headers, arrays = ["i"], [np.arange(rows)]
    for name, arr in first.inputs.items():
        if arr.size == rows:
            headers.append(name)
            arrays.append(arr.reshape(-1))
    for path, _ in _quantities(first):
        for dtype, result in results.items():
            arr = dict(_quantities(result))[path]
            if arr.size == rows:
                headers.append(f"{path} {dtype}")
                arrays.append(arr.reshape(-1))
    shown = (
        range(rows)
        if rows <= 2 * HEAD_ROWS
        else [*range(HEAD_ROWS), -1, *range(rows - HEAD_ROWS, rows)]
    )
    picked = np.array([r for r in shown if r >= 0])
    table, columns_shown = fitted_table(
        headers,
        lambda c: [str(r) for r in picked] if c == 0 else texts(arrays[c][picked], precision),
        [r >= 0 for r in shown],
        width,
        _quantity_priority(headers, len(headers) - 1 - sum(" " in h for h in headers[1:])),
    )
    title = Text(f"{first.function} in {', '.join(results)}")
    if sum(c > 0 for c in columns_shown) < len(headers) - 1:
        lines.append("showing part of the columns; use --format plain or --json for all")
    return Group(title, table, *(Text(line, style="cyan") for line in lines))
