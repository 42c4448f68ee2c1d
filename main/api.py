"""actgrad as a library: the command line's evaluations from Python, validated by the same
code, with the same errors (raised, not printed) and the same JSON.

    >>> import actgrad
    >>> r = actgrad.evaluate("sigmoid", x=0.5, grad=True)
    >>> float(r.value), float(r.grad["x"])
    (0.622459352016449, 0.23500370979309082)

A function's options are its command's, spelled as Python names (``negative_slope=0.1``,
``order=2``, ``dtype="float64"``, ``check=True``); an input takes a number, a list, a numpy
array or a tensor (its values), or the command line's text (``"-3:3:7"``). A first argument
that is not a function's name is an expression, and its other keywords name its variables:
``actgrad.evaluate("x*sigmoid(x)", x=[0, 1], grad=True)``.

Importing actgrad does not import torch; the first evaluation does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .core import ActgradError, BadInput
from .core.errors import BadParameter
from .core.functions import registry

__all__ = ["Accuracy", "ActgradError", "BadInput", "Result", "accuracy", "evaluate"]

# what only shapes a command's output: a library returns the numbers themselves
_OUTPUT_ONLY = {"format", "output_format", "json", "as_json", "header", "precision", "report"}
_ONE_AT_A_TIME = {"dtypes": "dtype", "devices": "device"}


def _plain(value: Any) -> Any:
    """A value as a JSON request holds it: arrays and tensors as (nested) lists."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        return value.tolist()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _is_function(name: str) -> bool:
    """Whether ``name`` names a function rather than writing an expression; an unknown name
    is the user's error (with the nearest name), as on the command line."""
    if registry.find(name) is not None:
        return True
    if name.replace("-", "_").isidentifier():
        raise registry.unknown(name)
    return False


def _request_data(what: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON request (a batch line) these arguments mean."""
    if not isinstance(what, str):
        raise BadParameter(
            f"evaluate takes a function's name or an expression, not {type(what).__name__}",
            'e.g. actgrad.evaluate("sigmoid", x=0.5, grad=True)',
        )
    for key in options:
        if key in _OUTPUT_ONLY:
            raise BadParameter(
                f"{key}= shapes the command line's output; evaluate returns the numbers",
                "drop it: Result.to_json() gives the JSON, print(result) the table",
            )
        if key in _ONE_AT_A_TIME:
            one = _ONE_AT_A_TIME[key]
            raise BadParameter(
                f"{key}= puts results side by side on the command line",
                f"call evaluate once per {one} ({one}=...)",
            )
    data = {k: _plain(v) for k, v in options.items()}
    from .core.json_line import json_keys

    if _is_function(what):
        _known_keywords(what, options, json_keys(registry.find(what)))
        return {"fn": what, **data}

    keys = json_keys(None)
    given = {k: v for k, v in data.items() if k in keys and k != "x"}
    variables = {k: v for k, v in data.items() if k not in given}
    if "vars" in variables:
        variables = {**variables.pop("vars"), **variables}
    return {"expr": what, **given, **({"vars": variables} if variables else {})}


def _known_keywords(name: str, options: Mapping[str, Any], keys: Mapping[str, Any]) -> None:
    """An unknown keyword is refused with the keywords evaluate takes for ``name`` (not the
    command line's output options, which the JSON request's own error would list)."""
    for key in options:
        if key not in keys and key != "params":
            usable = sorted(k for k in keys if k not in _OUTPUT_ONLY | {*_ONE_AT_A_TIME, "quiet"})
            raise BadParameter(f"{name} takes no keyword {key}=", f"keywords: {', '.join(usable)}")


def request(what: str, /, **options: Any) -> Any:
    """The validated request of :func:`evaluate`'s arguments, without evaluating it."""
    from .core.command_options import no_stdin, request_of
    from .core.json_line import json_options

    return request_of(*json_options(_request_data(what, options)), no_stdin)


def evaluate(what: str, /, **options: Any) -> Result:
    """torch's value of a function, loss or expression at the inputs given, and what was asked
    with it (derivatives: ``grad=True``, ``order=N``; the truth: ``check=True``,
    ``exact=True``). Bad input raises :class:`actgrad.BadInput` (``.message``, ``.hint``), as
    the command line prints it."""
    from . import core

    return Result(core.evaluate(request(what, **options)))


class Result:
    """One evaluation. ``value``, ``grad[name]``, ``derivative(k)[name]``, ``jacobian[name]``
    are numpy arrays (0-d for a scalar); ``check`` is the --check report (a dict) or None;
    ``to_json()`` is the command line's JSON; in a notebook or ``rich.print`` it is the
    command line's table."""

    def __init__(self, result: Any) -> None:
        self.raw = result  # actgrad.core.result.Result

    @property
    def value(self) -> np.ndarray:
        return self.raw.value

    @property
    def grad(self) -> dict[str, np.ndarray]:
        """The first derivatives (of a function along a dim with ``index``: that output's)."""
        return dict(self.raw.derivatives.get(1, {}))

    def derivative(self, order: int) -> dict[str, np.ndarray]:
        return dict(self.raw.derivatives.get(order, {}))

    @property
    def jacobian(self) -> dict[str, np.ndarray]:
        return dict(self.raw.jacobian)

    @property
    def check(self) -> dict[str, Any] | None:
        return self.raw.check

    @property
    def exact(self) -> dict[str, Any] | None:
        return self.raw.exact

    @property
    def notes(self) -> list[str]:
        return list(self.raw.notes)

    @property
    def inputs(self) -> dict[str, np.ndarray]:
        return dict(self.raw.inputs)

    @property
    def function(self) -> str:
        return self.raw.function

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.raw.params)

    @property
    def dtype(self) -> str:
        return self.raw.dtype

    @property
    def device(self) -> str:
        return self.raw.device

    def to_dict(self) -> dict[str, Any]:
        """DESIGN.md's JSON result as Python objects (numbers as numpy arrays)."""
        return self.raw.to_dict()

    def to_json(self) -> str:
        """DESIGN.md's JSON result, as `actgrad ... --json` writes it (one line)."""
        return self.raw.to_json()

    def __rich__(self) -> Any:
        from .cli.render import render_table

        return render_table(self.raw)

    def _repr_html_(self) -> str:  # a notebook without rich's extension
        return _html(self.__rich__())

    def __repr__(self) -> str:
        grads = ", ".join(f"grad[{n!r}]" for n in self.grad)
        more = f", {grads}" if grads else ""
        return f"<actgrad.Result {self.function} {self.dtype} on {self.device}: value{more}>"

    def __str__(self) -> str:
        return _text(self.__rich__())


def _recorded(renderable: Any) -> Any:
    """A rich console (100 columns, writing nowhere) that printed ``renderable``."""
    import io

    from rich.console import Console

    console = Console(record=True, width=100, highlight=False, file=io.StringIO())
    console.print(renderable)
    return console


def _text(renderable: Any) -> str:
    text = _recorded(renderable).export_text()
    return "\n".join(line.rstrip() for line in text.splitlines())


def _html(renderable: Any) -> str:
    return _recorded(renderable).export_html(inline_styles=True)


class Accuracy:
    """A sweep: one row per function × dtype × quantity (``rows``: dicts as the command's
    JSON has them), ``to_json()`` the command's JSON, a table in a notebook."""

    def __init__(self, data: dict[str, Any], rows: list[Any], table: Any) -> None:
        self.data = data
        self._rows = rows
        self._table = table

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.data["rows"]

    def to_json(self) -> str:
        import orjson

        return orjson.dumps(self.data, option=orjson.OPT_SERIALIZE_NUMPY).decode()

    def __rich__(self) -> Any:
        return self._table(self._rows)

    def _repr_html_(self) -> str:
        return _html(self.__rich__())

    def __str__(self) -> str:
        return _text(self.__rich__())

    def __repr__(self) -> str:
        return f"<actgrad.Accuracy {len(self.rows)} rows>"


def accuracy(
    functions: str | Iterable[str],
    /,
    *,
    dtypes: str | Iterable[str] | None = None,
    order: int = 2,
    x: str | None = None,
    exhaustive: bool = False,
    ulps: int | None = None,
    device: str = "cpu",
    max_points: int | None = None,
    max_elements: int | None = None,
    **params: Any,
) -> Accuracy:
    """torch's error in ulps against the true value over a grid of inputs, per function, dtype
    and derivative order up to ``order``, as `actgrad accuracy` measures it (``x``: its --x
    forms; ``exhaustive=True``: every input of each dtype, within ``x``'s bounds)."""
    from .core.accuracy import plan

    names = [functions] if isinstance(functions, str) else list(functions)
    text = dtypes if dtypes is None or isinstance(dtypes, str) else ",".join(dtypes)
    options = {
        "dtypes": text,
        "order": order,
        "x": x,
        "exhaustive": exhaustive,
        "ulps": ulps,
        "device": device,
        "max_points": max_points,
        "max_elements": max_elements,
        "function_params": params,
    }
    given = plan.settings(names, options)
    if plan.sharded(given["specs"], given["dtypes"], options, given["budget"]):
        raise BadParameter(
            "a sweep over more inputs than max_points runs in shards, from the command line",
            "actgrad accuracy NAME --exhaustive --dtypes float32 (cores, a cluster, a "
            "checkpoint), or narrow x",
        )
    sweep = plan.plan(given, options)
    sweep.run()

    def table(rows: list[Any]) -> Any:
        from .cli.accuracy import table

        return table(rows, sweep.limit, sweep.grid, 100, sweep.dtypes, sweep.device)

    return Accuracy(sweep.to_dict(), sweep.rows, table)
