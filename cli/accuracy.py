"""``actgrad accuracy NAME… | --all``: torch's error against the true value over a range, per
dtype and derivative order, as a table, plain lines, JSON or an error-curve plot."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson

from ..core import command_options, machine
from ..core.accuracy import plan, sweeps
from ..core.accuracy.sweeps import short, span
from ..core.command_options import Drawing, drawing
from ..core.errors import BadParameter
from ..core.parse.options import parse_cap
from ..core.words import shortest
from .output import print_rich, resolve_format, width, write

MAX_SHOWN_REGIONS = 3
QUIET_SECONDS = 3.0  # a sweep estimated to take longer says so first


def quantity_name(quantity: str) -> str:
    """``value``, ``grad`` → ``f′``, ``grad2`` → ``f″``, …, ``jacobian`` → ``Jacobian``."""
    if quantity == "value":
        return "value"
    if quantity == "jacobian":
        return "Jacobian"
    k = 1 if quantity == "grad" else int(quantity[4:])
    return {1: "f′", 2: "f″", 3: "f‴", 4: "f⁗"}[k]


def lost_text(row: sweeps.Row) -> str:
    """Where every digit is lost."""
    if not row.lost:
        return "—"
    parts = [span(r) for r in row.lost[:MAX_SHOWN_REGIONS]]
    more = len(row.lost) - MAX_SHOWN_REGIONS
    return ", ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def over_text(row: sweeps.Row) -> str:
    """How many points exceed the threshold, and between which x."""
    if not row.regions:
        return "—"
    points = sum(r["points"] for r in row.regions)
    low, high = row.regions[0], row.regions[-1]
    if points == 1:
        return f"1/{row.points} at {span(low)}"
    return f"{points}/{row.points} in [{short(low['from'], 4)}, {short(high['to'], 4)}]"


def _flags(row: sweeps.Row) -> str:
    names = {
        "nan": "NaN",
        "inf": "inf",
        "zero": "zero",
        "sign": "sign",
        "not_zero": "not 0",
        "unjudged": "not judged",
    }
    found = [f"{row.counts[k]:,} {label}" for k, label in names.items() if row.counts.get(k)]
    return ", ".join(found) or "—"


LEFT_OUT_FIRST = ("median", "worst x", "wrong", "quantity")  # when a table is too narrow


def _cells(
    rows: list[sweeps.Row], limit: float | None, one: bool
) -> tuple[list[str], list[list[str]]]:
    """The table's headers and each row's cells (a function column when it has several)."""
    headers = [
        "dtype",
        "quantity",
        "max ulp",
        "median",
        "worst x",
        "> N ulp" if limit is None else f"> {limit:g} ulp",
        "all digits lost",
        "wrong",
    ]
    if not one:
        headers.insert(0, "function")
    body = []
    for row in rows:
        worst = "—" if row.worst is None else shortest(row.worst["x"], row.dtype)
        cells = [
            row.dtype,
            quantity_name(row.quantity),
            short(row.max_ulp),
            short(row.median_ulp, 2),
            worst,
            over_text(row),
            lost_text(row),
            _flags(row),
        ]
        if not one:
            cells.insert(0, row.spec.command)
        body.append(cells)
    return headers, body


def table(
    rows: list[sweeps.Row],
    limit: float | None,
    grid: sweeps.Grid,
    width: int = 80,
    dtypes: list[str] | None = None,
    device: str = "cpu",
) -> Any:
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    names = list(dict.fromkeys(r.function for r in rows))
    one = len(names) == 1
    headers, body = _cells(rows, limit, one)
    least, compact, per_column, kept = _layout(headers, body, width)
    table = Table(
        title=rows[0].spec.command if one and rows else None,
        box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD,
        padding=(0, 1, 0, 0) if compact else (0, 1),
    )
    # the widths are chosen here, not by Rich, whose proportional collapse can leave a table
    # wider than the terminal (and cropped) although every column's longest word would fit
    natural = [max(len(t) for t in [headers[c], *(cells[c] for cells in body)]) for c in kept]
    widths = fitted_widths(
        natural,
        [least[c] for c in kept],
        width - per_column * len(kept) - 1,
    )
    needed = sum(widths) + per_column * len(kept) + 1
    if needed > width:  # not even the longest words fit: wider than the terminal, never cut
        table.width = needed  # (and printed at that width: the terminal wraps its lines)
    for c, w in zip(kept, widths, strict=True):
        table.add_column(
            headers[c],
            justify="left" if headers[c] in ("function", "dtype") else "right",
            width=w,
        )
    for cells in body:
        table.add_row(*(cells[c] for c in kept))
    caption = _caption(limit, grid, dtypes, device)
    if len(kept) < len(headers):
        left_out = ", ".join(h for c, h in enumerate(headers) if c not in kept)
        caption += f". Left out at this width: {left_out} (--format plain has every column)"
    group = Group(table, Text(caption, style="dim"))
    group.width = max(needed, width)  # what print_rich gives it
    return group


def _layout(
    headers: list[str], body: list[list[str]], width: int
) -> tuple[list[int], bool, int, list[int]]:
    """(each column's longest word, compact, what a column takes besides its text, the
    columns kept): lines break between words, never inside one, so each column is as wide as
    its longest word; when they do not fit, the table drops its borders (a compact table pads
    one side and draws its borders as spaces), then its least needed columns."""
    least = [
        max((len(w) for t in [h, *(cells[c] for cells in body)] for w in t.split()), default=1)
        for c, h in enumerate(headers)
    ]
    compact = sum(least) + 3 * len(least) + 1 > width
    per_column = 2 if compact else 3
    kept = list(range(len(headers)))
    for name in LEFT_OUT_FIRST:
        if sum(least[c] for c in kept) + per_column * len(kept) + 1 <= width or not compact:
            break
        kept.remove(headers.index(name))
    return least, compact, per_column, kept


def _caption(limit: float | None, grid: sweeps.Grid, dtypes: list[str] | None, device: str) -> str:
    return (
        f"{_measurer(device)} against the true value (arbitrary precision), "
        f"in ulps of each dtype, over {sweeps.grid_words(grid, dtypes)}. > N ulp: points (and "
        "where) more than "
        f"{_limits(limit)} off; all digits lost: relative error ≥ 1; wrong: NaN or inf "
        "where the truth is finite, zero where it is not, the wrong sign, not 0 where "
        "it is"
    )


def _measurer(device: str) -> str:
    """Who computed torch's numbers, as a caption says it: "torch 2.13.0", and on a device
    other than the CPU, which one ("torch … on NVIDIA H200 (CUDA 13.0, sm_90)")."""
    if device == "cpu":
        return f"torch {sweeps.torch_version()}"
    return machine.words(machine.identity(device))


def fitted_widths(natural: list[int], least: list[int], room: int) -> list[int]:
    """Column widths that fit ``room``: each as wide as its text, then the widest ones
    narrowed a character at a time, never below their longest word."""
    widths = list(natural)
    while sum(widths) > room:
        shrinkable = [i for i, w in enumerate(widths) if w > least[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _limits(limit: float | None) -> str:
    if limit is not None:
        return f"{limit:g} ulps"
    return "64 ulps (float64, float32) or 4 (float16, bfloat16)"


def _plain(rows: list[sweeps.Row], limit: float | None, header: bool) -> str:
    lines = []
    if header:
        lines.append(
            "function\tdtype\tquantity\tmax_ulp\tmedian_ulp\tworst_x\tover\tall_digits_lost\twrong"
        )
    for row in rows:
        worst = "nan" if row.worst is None else shortest(row.worst["x"], row.dtype)
        lines.append(
            "\t".join(
                [
                    row.function,
                    row.dtype,
                    row.quantity,
                    short(row.max_ulp, 6),
                    short(row.median_ulp, 6),
                    worst,
                    over_text(row),
                    lost_text(row),
                    _flags(row),
                ]
            )
        )
    return "".join(line + "\n" for line in lines)


def _curves(rows: list[sweeps.Row]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """log10(1 + ulps) per row, on the rows' common x (sorted); a row on other points (an
    exhaustive sweep's other dtype) carries its own "x"."""
    xs = rows[0].x
    order = np.argsort(xs, kind="stable")
    curves = []
    functions = len({row.function for row in rows})
    quantities = list(dict.fromkeys(row.quantity for row in rows))
    for row in rows:
        own = np.argsort(row.x, kind="stable")
        ys = np.log10(1 + np.nan_to_num(row.ulps[own], nan=0.0, posinf=1e300))
        label = f"{row.spec.command} {quantity_name(row.quantity)}"
        curve = {
            "name": f"{label} {row.dtype}",
            "y": np.minimum(ys, 300),
            # a colour per dtype (and function), a line style per quantity: f′ dashed
            "group": row.dtype if functions == 1 else f"{row.function} {row.dtype}",
            "style": quantities.index(row.quantity),
        }
        if row.x.shape != xs.shape or not np.array_equal(row.x, xs):
            curve["x"] = row.x[own]
        curves.append(curve)
    return xs[order], curves


def run_accuracy(items: list[str], options: dict[str, Any]) -> None:
    given = plan.settings(items, options)
    options["device"] = given["device"]
    draw = drawing(options)
    output = draw.output
    fmt = resolve_format(options["output_format"], options["as_json"])
    specs, dtypes, order, limit = given["specs"], given["dtypes"], given["order"], given["limit"]
    if plan.sharded(specs, dtypes, options, given["budget"]):
        if output or options["plot"]:
            raise BadParameter(
                "a sweep in shards keeps no point to draw (every float32 is 4,278,190,080)",
                "drop --plot/--output, or give --x LOW:HIGH within --max-points",
            )
        grid = (
            sweeps.Exhaustive(*sweeps.parse_bounds(options["x"]))
            if options["x"] is not None
            else sweeps.Exhaustive()
        )
        started = time.perf_counter()
        rows = _run_sharded(specs, grid, dtypes, order, given["params"], limit, options)
        _write_rows(rows, options, fmt, grid, dtypes, order, limit, time.perf_counter() - started)
        return
    sweep = plan.plan(given, options, plotting=bool(output or options["plot"]))
    seconds = sweep.estimate()
    if seconds > QUIET_SECONDS:
        sys.stderr.write(
            f"actgrad: accuracy: {sweep.points:,} reference evaluations, about "
            f"{seconds:.0f} s (Ctrl-C stops)\n"
        )
    _run(sweep)
    if output or options["plot"]:
        _draw(sweep.rows, options, draw, isinstance(sweep.grid, sweeps.Exhaustive))
        return
    _write_rows(
        sweep.rows,
        options,
        fmt,
        sweep.grid,
        dtypes,
        order,
        limit,
        sweep.seconds,
        sweep.size_of_grid,
    )


def _write_rows(
    rows: list[sweeps.Row],
    options: dict[str, Any],
    fmt: str,
    grid: sweeps.Grid,
    dtypes: list[str],
    order: int,
    limit: float | None,
    took: float,
    size_of_grid: int | None = None,
) -> None:
    """The rows as JSON, plain lines or a table."""
    if fmt == "json":
        data = plan.result_dict(
            rows, grid, dtypes, order, limit, took, options["device"], size_of_grid
        )
        write(orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY))
    elif fmt == "plain":
        write(_plain(rows, limit, options["header"]))
    else:
        shown = table(rows, limit, grid, width(), dtypes, options["device"])
        print_rich(shown, shown.width)


def _run_sharded(
    specs: list[Any],
    grid: sweeps.Exhaustive,
    dtypes: list[str],
    order: int,
    params: dict[str, Any],
    limit: float | None,
    options: dict[str, Any],
) -> list[sweeps.Row]:
    """Every input in shards, on this machine's cores or a Dask cluster, each finished shard
    kept in a checkpoint that the same command resumes from."""
    import os
    from pathlib import Path

    from ..core.accuracy import exhaustive

    if "float64" in dtypes and options["x"] is None:
        raise BadParameter(
            f"--exhaustive over float64 is {grid.count('float64'):,} inputs",
            "give --x LOW:HIGH, or sweep --dtypes float32,float16,bfloat16",
        )
    jobs = command_options.jobs(options["jobs"], len(os.sched_getaffinity(0)))
    scheduler = options["scheduler"]
    cap = parse_cap(options["max_elements"])
    shard = min(exhaustive.SHARD, cap)
    todo = exhaustive.tasks(specs, grid, dtypes, order, params, limit, shard, options["device"])
    if not todo:
        raise BadParameter(
            f"no {' or '.join(dtypes)} number lies in --x {options['x']}", "widen it"
        )
    ident = exhaustive.identity(todo)
    given = options["checkpoint"]
    path = Path(given) if given else exhaustive.checkpoint_path(ident)
    done = exhaustive.resume(path, ident)
    left = [t for t in todo if t.index not in done]
    inputs = sum(t.points for t in left)
    client = exhaustive.connect(scheduler) if scheduler and left else None
    if left:
        where = f"on the cluster at {scheduler}" if scheduler else f"in {jobs} processes"
        about = ""
        if not scheduler:
            estimate = exhaustive.seconds(left) / min(jobs, len(left)) + STARTUP_SECONDS
            about = f", about {plan.duration(estimate)}"
        resumed = f" (resuming: {len(done):,} of {len(todo):,} shards done)" if done else ""
        sys.stderr.write(
            f"actgrad: accuracy: {inputs:,} inputs in {len(left):,} shards {where}{about}"
            f"{resumed}; checkpoint {path} (Ctrl-C stops; the same command resumes)\n"
        )
    keep = exhaustive.Checkpoint(path, ident, fresh=not done)
    finished = False
    try:
        with _progress(inputs) as advance:

            def on_done(task: Any, tallies: dict[str, Any]) -> None:
                done[task.index] = tallies
                keep.add(task.index, tallies)
                advance(task.points)

            if client is not None:
                exhaustive.run_cluster(left, client, on_done)
            else:
                exhaustive.run_local(left, jobs, on_done)
        finished = True
    except KeyboardInterrupt:
        sys.stderr.write(
            f"actgrad: accuracy: stopped with {len(done):,} of {len(todo):,} shards done, kept "
            f"in {path}; the same command resumes\n"
        )
        raise
    finally:
        keep.close(finished)
    return exhaustive.rows(todo, done)


STARTUP_SECONDS = 3.0  # a worker process's start (torch's import)


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    """advance(n) for a rich progress bar of ``total`` inputs on stderr (when a terminal)."""
    if not sys.stderr.isatty() or not total:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("inputs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("sweep", total=total)
        yield lambda n: bar.advance(task, n)


def _draw(rows: list[sweeps.Row], options: dict[str, Any], draw: Drawing, exhaustive: bool) -> None:
    """The error curves in the terminal, or as an image (--output)."""
    import os

    from .plot import image, terminal

    if not rows:
        raise BadParameter("nothing to plot", "no function in the sweep has a reference")
    xs_sorted, curves = _curves(rows)
    scale = "symlog" if exhaustive else "linear"
    if draw.output:
        names = ", ".join(dict.fromkeys(r.spec.command for r in rows))
        image(
            draw.output,
            xs_sorted,
            curves,
            draw.size,
            title=f"{_measurer(options['device'])} against the true value: {names}",
            ylabel="log10(1 + error in ulps)",
            x_scale=scale,
        )
        sys.stderr.write(f"actgrad: wrote {draw.output}\n")
        return
    color = "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    write(terminal(xs_sorted, curves, draw.width, draw.height, color, scale))
    write(
        "y: log10(1 + error in ulps) of each dtype: 0 is exact, ~16 is float64's every "
        "digit, ~7 float32's, ~3 float16's and bfloat16's"
        + ("; x on a symmetric log scale\n" if exhaustive else "\n")
    )


def _run(sweep: plan.Plan) -> None:
    """The sweep's rows, with a progress bar on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        sweep.run()
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("reference", total=sweep.points)

        def progress(spec: Any) -> Callable[[int], None]:
            bar.update(task, description=spec.command)
            return lambda n: bar.advance(task, n)

        sweep.run(progress)
