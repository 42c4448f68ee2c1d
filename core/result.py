"""The plain result object every renderer consumes, and its DESIGN.md JSON shape."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from .schema import JSON_FORMAT

MAX_NONFINITE_PATHS = 10_000
CHUNK = 1 << 20


def element_path(prefix: str, shape: tuple[int, ...], flat: int) -> str:
    """The JSON path of element ``flat`` (row-major) of an array of ``shape`` under
    ``prefix``: ``grad.x`` for a scalar, ``jacobian.x[1][2]`` in a matrix. Every path in a
    result (nonfinite, flags, kinks) is written so: a script finds the number it names."""
    if not shape:
        return prefix
    return prefix + "".join(f"[{k}]" for k in np.unravel_index(int(flat), shape))


@dataclass
class Result:
    function: str
    params: dict[str, Any]
    dtype: str
    device: str
    torch: str
    inputs: dict[str, np.ndarray]
    value: np.ndarray
    pointwise: bool
    scalar: bool
    # derivatives[k][name]: the k-th derivative w.r.t. input ``name`` (elementwise for
    # pointwise functions; of output ``index`` for functions along a dim)
    derivatives: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    jacobian: dict[str, np.ndarray] = field(default_factory=dict)
    index: int | None = None
    notes: list[str] = field(default_factory=list)
    kind: str = "activation"  # or "loss", "norm", "expr": rendered by input

    @property
    def activation(self) -> bool:
        """An activation's result (x, its value and derivatives by element or slice); else a
        loss's, a norm's or an expression's (named inputs, derivatives by input)."""
        return self.kind == "activation"

    symbolic: dict[str, str] = field(default_factory=dict)  # expr --symbolic: d/dv as text
    check: dict[str, Any] | None = None  # --check: actgrad.core.accuracy.check's report
    cotangent: np.ndarray | None = None  # --cotangent v: grad holds vᵀJ, as y.backward(v)
    # --exact: the arbitrary-precision truth of each field ("value", "grad.x", …) as decimal
    # strings shaped like it; "missing": why a field (or all) has none
    exact: dict[str, Any] | None = None
    spec: Any = field(default=None, repr=False, compare=False)  # the entry (None: expr)

    @property
    def order(self) -> int:
        return max(self.derivatives, default=1 if self.jacobian else 0)

    def arrays(self) -> list[tuple[str, np.ndarray]]:
        """Every numeric field with its JSON path prefix, in output order."""
        out = [(f"inputs.{k}", v) for k, v in self.inputs.items()]
        if self.cotangent is not None:
            out.append(("cotangent", self.cotangent))
        out.append(("value", self.value))
        for k, grads in sorted(self.derivatives.items()):
            key = "grad" if k == 1 else f"grad{k}"
            out.extend((f"{key}.{name}", g) for name, g in grads.items())
        out.extend((f"jacobian.{name}", j) for name, j in self.jacobian.items())
        return out

    def nonfinite(self) -> list[str]:
        """JSON paths of NaN and ±inf entries (``grad.x[3]``), at most MAX_NONFINITE_PATHS."""
        paths: list[str] = []
        for prefix, arr in self.arrays():
            if arr.ndim == 0:
                if not np.isfinite(arr):
                    paths.append(prefix)
                continue
            flat = arr.reshape(-1)
            for start in range(0, flat.size, CHUNK):  # a chunk at a time: bounded memory
                if len(paths) > MAX_NONFINITE_PATHS:
                    return paths
                found = np.flatnonzero(~np.isfinite(flat[start : start + CHUNK])) + start
                for i in found[: MAX_NONFINITE_PATHS - len(paths) + 1]:
                    paths.append(element_path(prefix, arr.shape, i))
        return paths

    def to_json(self) -> str:
        """DESIGN.md's JSON result, one line, as ``--json`` writes it."""
        return json_bytes(self.to_dict()).decode()

    def to_dict(
        self,
        number: Callable[[str, np.ndarray], Any] | None = None,
        nonfinite: list[str] | None = None,
    ) -> dict[str, Any]:
        """DESIGN.md's JSON result, numbers as numpy arrays/scalars (NaN, inf kept), or as
        ``number(path, array)`` gives them (a writer's placeholders); ``nonfinite``, when the
        caller knows it, spares the search."""
        plain = number or (lambda path, arr: _plain(arr))
        paths = self.nonfinite() if nonfinite is None else nonfinite
        notes = list(self.notes)
        if len(paths) > MAX_NONFINITE_PATHS:
            paths = paths[:MAX_NONFINITE_PATHS]
            notes.append(f"nonfinite lists the first {MAX_NONFINITE_PATHS:,} paths only")
        out: dict[str, Any] = {
            "format": JSON_FORMAT,
            "function": self.function,
            "params": {k: _param(v) for k, v in self.params.items()},
            "dtype": self.dtype,
            "device": self.device,
            "torch": self.torch,
            "inputs": {k: plain(f"inputs.{k}", v) for k, v in self.inputs.items()},
            "value": plain("value", self.value),
        }
        if self.index is not None:
            out["index"] = self.index
        if self.cotangent is not None:
            out["cotangent"] = plain("cotangent", self.cotangent)
        for k, grads in sorted(self.derivatives.items()):
            key = "grad" if k == 1 else f"grad{k}"
            out[key] = {n: plain(f"{key}.{n}", g) for n, g in grads.items()}
        if self.jacobian:
            out["jacobian"] = {n: plain(f"jacobian.{n}", j) for n, j in self.jacobian.items()}
        if self.symbolic:
            out["symbolic"] = self.symbolic
        out["nonfinite"] = paths
        out["notes"] = notes
        if self.exact is not None:
            out["exact"] = _nested(self.exact)
        if self.check is not None:
            out["check"] = self.check
        return out


def json_bytes(data: dict[str, Any], newline: bool = False) -> bytes:
    """A result's dict as DESIGN.md's JSON (numpy arrays as lists; NaN and ±inf as null,
    which the result's ``nonfinite`` paths name)."""
    option = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_APPEND_NEWLINE if newline else 0)
    return orjson.dumps(data, option=option)


def _nested(exact: dict[str, Any]) -> dict[str, Any]:
    """{"value": …, "grad.x": …} as the result nests them: {"value": …, "grad": {"x": …}}."""
    out: dict[str, Any] = {}
    for path, texts in exact.items():
        data = texts.tolist() if isinstance(texts, np.ndarray) else texts
        if "." in path:
            key, name = path.split(".", 1)
            out.setdefault(key, {})[name] = data
        else:
            out[path] = data
    return out


def _plain(arr: np.ndarray) -> Any:
    return arr[()] if arr.ndim == 0 else np.ascontiguousarray(arr)


def _param(value: Any) -> Any:
    """A parameter as JSON reads it back: inf, -inf and nan as the strings the options take."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value
