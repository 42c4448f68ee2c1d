"""`actgrad plot NAME|EXPR …`: functions (and derivatives) over a range, drawn in the terminal
with plotille, written to an image file with matplotlib, or given as JSON points."""

from __future__ import annotations

import math
import shutil
import sys
from typing import Any

import numpy as np
import orjson

from ..core import cost, evaluate
from ..core.command_options import drawing
from ..core.errors import BadParameter, EvaluationFailed, UnknownFunction
from ..core.functions import registry
from ..core.parse.expr import CONSTANTS, NAME
from ..core.request import build_expr_request, build_request
from ..core.schema import JSON_FORMAT
from ..core.words import counted
from . import files
from .output import steps, write

DEFAULT_RANGE = "-10:10:1000"


def series(
    items: list[str],
    x: str,
    grad: bool,
    params: dict[str, str],
    dtype: str | None,
    max_elements: int | None,
) -> tuple[np.ndarray, list[dict[str, Any]], str]:
    """Sample each function or expression at the points of ``x``: (x, [{name, params, y,
    dy}], dtype). Every curve is validated, and the plot's cost checked, before the first is
    evaluated."""
    entries = [registry.find(item) for item in items]  # None: an expression (or unknown)
    _check_params(entries, params)
    requests = _requests(items, entries, x, grad, params, dtype, max_elements)
    xs: np.ndarray | None = None
    dtype = ""
    out = []
    for item, req in steps(list(zip(items, requests, strict=True)), "evaluating"):
        result = evaluate(req)
        xs, dtype = result.inputs["x"].reshape(-1), result.dtype
        entry: dict[str, Any] = {"name": item, "params": dict(result.params)}
        entry["y"] = result.value.reshape(-1)
        if grad:
            entry["dy"] = result.derivatives[1]["x"].reshape(-1)
        out.append(entry)
    assert xs is not None
    return xs, out, dtype


def _requests(
    items: list[str],
    entries: list[registry.FunctionSpec | None],
    x: str,
    grad: bool,
    params: dict[str, str],
    dtype: str | None,
    max_elements: int | None,
) -> list[Any]:
    """The request of each curve, validated, and the curves' memory together within the cap."""
    out = []
    held = 0  # elements of the curves kept for drawing
    for item, spec in zip(items, entries, strict=True):
        if spec is not None and spec.elementwise:
            own = {k: v for k, v in params.items() if k in spec.param_names}
            seed = "0" if spec.stochastic else None
            req = build_request(
                spec,
                {"x": [x]},
                own,
                grad=grad,
                dtype=dtype,
                seed=seed,
                max_elements=max_elements,
            )
        elif spec is not None:
            raise BadParameter(
                f"{item} is not elementwise: it has no curve over x",
                "plot elementwise functions or expressions in x",
            )
        elif NAME.fullmatch(item.strip()) and item.strip() not in ("x", *CONSTANTS):
            guess = registry.suggest(item)
            raise UnknownFunction(
                f"unknown function {item!r}: plot draws elementwise functions and expressions in x",
                f"did you mean '{guess}'?" if guess else "run 'actgrad list' to see them",
            )
        else:
            req = _curve_request(item, x, grad, dtype, max_elements)
            program = req.program
            if not program.elementwise or program.shape != req.inputs["x"].shape:
                raise BadParameter(f"{item!r} is not elementwise in x", "plot f(x) per point")
        held += req.inputs["x"].numel * (2 + grad)
        cost.enforce(cost.tensor(held, 8, "the plot's curves"), req.max_elements)
        out.append(req)
    return out


def _curve_request(
    item: str, x: str, grad: bool, dtype: str | None, max_elements: int | None
) -> Any:
    """An expression's curve: a function of x alone (plot has no other variables)."""
    from ..core.parse.expr import ExprError

    try:
        return build_expr_request(
            item,
            x=[x],
            grad=grad,
            wrt=["x"] if grad else None,
            dtype=dtype,
            max_elements=max_elements,
        )
    except ExprError as exc:
        if not exc.unknown:
            raise
        raise BadParameter(
            f"unknown name {exc.unknown!r} in {item!r}: a plot's curves are functions of x alone",
            "write it in x (e.g. 'x*2'), or evaluate it with actgrad expr ... --var "
            f"{exc.unknown}=VALUES",
        ) from None


def points_json(xs: np.ndarray, curves: list[dict[str, Any]], dtype: str) -> bytes:
    """The sampled points, with what they were computed in: the dtype and each curve's
    parameters (an expression's: its text)."""
    data = {"format": JSON_FORMAT, "dtype": dtype, "x": xs, "series": curves}
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)


# curves told apart without colour: one mark each (then letters), never one mark for two
MARKS = ("•", "+", "x", "o", "*", "#", "@", "%", "&", "$", "=", "~", "^", "?", "!", "<", ">")
MARKS += tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def axis_limits(values: np.ndarray) -> tuple[float, float]:
    """The data's range padded by 5% on each side and rounded outward to a tenth of its order
    of magnitude, so every extreme is drawn inside the canvas."""
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    span = high - low or max(abs(high), 1.0)
    low, high = low - 0.05 * span, high + 0.05 * span
    step = 10 ** math.floor(math.log10(span)) / 10
    return math.floor(low / step) * step, math.ceil(high / step) * step


def tick_format(low: float, high: float, ticks: int) -> Any:
    """Tick labels with as many decimals as neighbouring ticks need, no more."""
    delta = (high - low) / max(ticks, 1)
    decimals = max(0, 1 - math.floor(math.log10(delta))) if delta > 0 else 2

    def label(value: float, _next: float) -> str:
        text = f"{value:.{decimals}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text

    return label


def symlog(xs: np.ndarray, tiny: float) -> np.ndarray:
    """x on a symmetric log scale: sign(x)·log10(1 + |x|/tiny) (0 at 0, ±0.3 at ±tiny)."""
    return np.sign(xs) * np.log10(1 + np.abs(xs) / tiny)


def _smallest(xs: list[np.ndarray]) -> float:
    nonzero = [np.abs(x[(x != 0) & np.isfinite(x)]) for x in xs]
    found = [float(n.min()) for n in nonzero if n.size]
    return min(found) if found else 1.0


def terminal(
    xs: np.ndarray,
    curves: list[dict[str, Any]],
    width: int | None,
    height: int | None,
    color: bool,
    x_scale: str = "linear",
) -> str:
    """A braille plot with axes and a legend, sized to the terminal unless told; without
    colour each curve has its own mark. A curve with its own "x" is drawn on it; x_scale
    "symlog" spreads x from the smallest number to the largest (labels in x itself)."""
    import plotille

    columns, lines = shutil.get_terminal_size((100, 30))
    fig = plotille.Figure()
    fig.width = width or max(20, columns - 20)
    fig.height = height or max(8, min(lines - 8, 25))
    fig.color_mode = "names"
    fig.with_colors = color
    own = [c.get("x", xs).astype(np.float64) for c in curves]
    if x_scale == "symlog":
        tiny = _smallest(own)
        own = [symlog(x, tiny) for x in own]
    xs = np.concatenate(own) if own else xs.astype(np.float64)
    left, right = float(xs.min()), float(xs.max())
    if left == right:  # a single point: give the axis some width around it
        left, right = left - max(abs(left), 1.0), right + max(abs(right), 1.0)
    fig.set_x_limits(left, right)
    finite = [
        c[k][np.isfinite(c[k])].astype(np.float64) for c in curves for k in ("y", "dy") if k in c
    ]
    low, high = axis_limits(np.concatenate(finite) if finite else np.zeros(0))
    fig.set_y_limits(low, high)
    fig.y_ticks_fkt = tick_format(low, high, fig.height)
    fig.x_ticks_fkt = tick_format(left, right, max(fig.width // 10, 1))
    if x_scale == "symlog":
        fig.x_ticks_fkt = lambda u, _next: f"{np.sign(u) * tiny * (10 ** abs(u) - 1):.0e}"
    palette = ["blue", "red", "green", "magenta", "cyan", "yellow", "white"]
    series = [(c["name"], c["y"], x) for c, x in zip(curves, own, strict=True)]
    series += [
        (f"d/dx {c['name']}", c["dy"], x) for c, x in zip(curves, own, strict=True) if "dy" in c
    ]
    for i, (name, ys, x) in enumerate(series):
        shown = np.isfinite(ys)  # ±inf and nan have no place on the axis: left out, said
        fig.plot(
            x[shown],
            ys[shown].astype(np.float64),
            label=name,
            lc=palette[i % len(palette)],
            marker=None if color else MARKS[i % len(MARKS)],
        )
    return fig.show(legend=True) + "\n"


LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))


def _colors(count: int) -> list[Any]:
    """``count`` distinct colours: tab10 up to 10, tab20 up to 20, then hues evenly spaced
    (called by :func:`image` once matplotlib is known to be there)."""
    try:
        import matplotlib
    except ImportError:  # the optional extra: image() says how to install it
        return [f"C{i}" for i in range(count)]
    if count <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(count)]
    if count <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(count)]
    return [matplotlib.colormaps["hsv"](i / count) for i in range(count)]


def _series(curves: list[dict[str, Any]]) -> list[tuple[str, np.ndarray]]:
    """(label, y) of every line: each curve, and its derivative after it."""
    out = []
    for curve in curves:
        out.append((curve["name"], curve["y"]))
        if "dy" in curve:
            out.append((f"d/dx {curve['name']}", curve["dy"]))
    return out


def series_styles(curves: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    """(colour, line style) of every line of :func:`_series`: a colour per ``group`` (a
    curve's own name by default), a style per ``style`` within it; a derivative is dashed in
    its function's colour."""
    groups = list(dict.fromkeys(c.get("group", c["name"]) for c in curves))
    colors = dict(zip(groups, _colors(len(groups)), strict=True))
    out = []
    for curve in curves:
        color = colors[curve.get("group", curve["name"])]
        out.append((color, LINESTYLES[curve.get("style", 0) % len(LINESTYLES)]))
        if "dy" in curve:
            out.append((color, "--"))
    return out


def image(
    path: str,
    xs: np.ndarray,
    curves: list[dict[str, Any]],
    size: tuple[int, int],
    title: str = "",
    ylabel: str = "y",
    x_scale: str = "linear",
) -> None:
    """The figure as PNG, SVG or PDF, with matplotlib (the optional extra actgrad[plot]).
    Every series is distinct: a colour for each curve's ``group`` (a function; its derivative
    shares it) and a line style for each ``style`` within it (the derivative: dashed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EvaluationFailed(
            "writing an image needs matplotlib, which is not installed",
            "pip install 'actgrad[plot]'",
        ) from None
    width, height = size
    fig, ax = plt.subplots(figsize=(width / 100, height / 100), dpi=100)
    own = [c.get("x", xs) for c in curves for _ in range(1 + ("dy" in c))]
    for (name, ys), (color, style), x in zip(
        _series(curves), series_styles(curves), own, strict=True
    ):
        ax.plot(x, ys, label=name, color=color, linestyle=style)
    if x_scale == "symlog":  # every number from the smallest to the largest
        ax.set_xscale("symlog", linthresh=_smallest(own))
    ax.axhline(0, color="0.8", linewidth=0.8)
    ax.axvline(0, color="0.8", linewidth=0.8)
    ax.set_xlabel("x")
    ax.set_ylabel(ylabel)
    ax.set_title(title or ", ".join(c["name"] for c in curves))
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    kind = path.rsplit(".", 1)[-1].lower()
    try:
        files.write(path, lambda stream: fig.savefig(stream, format=kind, dpi=100))
    finally:
        plt.close(fig)


def _check_params(entries: list[registry.FunctionSpec | None], params: dict[str, str]) -> None:
    """Every parameter given must belong to some plotted function."""
    known = {p for spec in entries if spec is not None for p in spec.param_names}
    for key in params:
        if key not in known:
            options = ", ".join(sorted("--" + k.replace("_", "-") for k in known)) or "none"
            raise BadParameter(
                f"no plotted function has a parameter {key!r}",
                f"parameters of these functions: {options}",
            )


def run_plot(items: list[str], options: dict[str, Any]) -> None:
    if not items:
        raise BadParameter("nothing to plot", "e.g. actgrad plot sigmoid tanh")
    draw = drawing(options)
    params = options["function_params"]
    xs, curves, dtype = series(
        items,
        options["x"] or DEFAULT_RANGE,
        options["grad"],
        params,
        options["dtype"],
        options["max_elements"],
    )
    if not np.isfinite(xs).all():  # a point with no place on the x axis
        raise BadParameter(
            "plot's points must be finite: --x has inf or nan (or a number past the dtype)",
            f"give finite points, e.g. --x {DEFAULT_RANGE}",
        )
    if draw.output:
        image(draw.output, xs, curves, draw.size)
        sys.stderr.write(f"actgrad: wrote {draw.output}\n")
        return
    if options["as_json"] or (not sys.stdout.isatty() and not options["terminal"]):
        write(points_json(xs, curves, dtype))
        return
    import os

    color = "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    write(terminal(xs, curves, draw.width, draw.height, color))
    for c in curves:
        for key, what in (("y", c["name"]), ("dy", f"d/dx {c['name']}")):
            left_out = int(np.sum(~np.isfinite(c[key]))) if key in c else 0
            if left_out:
                sys.stderr.write(
                    f"actgrad: note: {what} is infinite or nan at {counted(left_out, 'point')}, "
                    "not drawn (the points: --json)\n"
                )
