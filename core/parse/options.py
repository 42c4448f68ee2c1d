"""Scalar options and function parameters, parsed strictly from strings (argv) or JSON values:
whole numbers, booleans, the element cap, device and dtype names, and each function's
parameters against its spec. No torch."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ..errors import BadParameter
from ..functions.spec import FunctionSpec, Param
from .inputs import parse_number

DEFAULT_MAX_ELEMENTS = 2**27
MAX_ORDER = 4
DTYPES = ("float32", "float64", "float16", "bfloat16")
DEVICE_PATTERN = re.compile(r"cpu|cuda|cuda:[0-9]{1,3}|mps|auto", re.ASCII)
_INT = re.compile(r"[+-]?[0-9]{1,19}", re.ASCII)
_DIGITS = re.compile(r"[+-]?[0-9]+", re.ASCII)
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_int(raw: object, option: str, low: int | None = None, high: int | None = None) -> int:
    """Strictly parse a whole number given for ``option`` and check its bounds."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise BadParameter(f"{option} must be a whole number, not {raw!r}", f"e.g. {option} 2")
    span = f"from {low:,} to {high:,}" if high is not None else f"at least {low:,}"
    if isinstance(raw, str):
        text = raw.strip()
        if _DIGITS.fullmatch(text) and not _INT.fullmatch(text):  # more digits than int64
            shown = text if len(text) <= 24 else text[:21] + "..."
            big = "too large" if not text.startswith("-") else "too far below zero"
            raise BadParameter(f"{option} {shown} is {big}", f"use a value {span}")
        if not _INT.fullmatch(text):
            raise BadParameter(f"{option} must be a whole number, not {raw!r}", f"e.g. {option} 2")
        raw = int(text)
    if (low is not None and raw < low) or (high is not None and raw > high):
        raise BadParameter(f"{option} {raw:,} is out of range", f"use a value {span}")
    return raw


def parse_cap(raw: object) -> int:
    """The element cap: --max-elements, ACTGRAD_MAX_ELEMENTS, or the default 2^27."""
    return DEFAULT_MAX_ELEMENTS if raw is None else parse_int(raw, "--max-elements", 1, 2**40)


def parse_bool(raw: object, option: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise BadParameter(f"{option} must be true or false, not {raw!r}", f"write {option} true")


def resolve_params(spec: FunctionSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    known = {p.name for p in spec.params}
    for name in raw:
        if name not in known:
            options = ", ".join(p.option for p in spec.params) or "none"
            raise BadParameter(
                f"{spec.command} has no parameter {name!r}", f"its parameters are: {options}"
            )
    out: dict[str, Any] = {}
    for param in spec.params:
        value = raw.get(param.name)
        if value is None:
            if param.required:
                raise BadParameter(
                    f"{spec.command} needs {param.option}",
                    f"give it, e.g. {spec.example or param.option + ' 0'}",
                )
            out[param.name] = param.default
            continue
        out[param.name] = _param_value(param, value)
    problem = spec.validate(out)
    if problem:
        raise BadParameter(f"{spec.command}: {problem}", f"see 'actgrad explain {spec.command}'")
    return out


def _param_value(param: Param, value: Any) -> Any:
    """One given parameter value, parsed strictly as its kind."""
    if param.kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise BadParameter(
                f"{param.option} must be a number, not {value!r}"[:120],
                f"e.g. {param.option} 0.5",
            )
        num = parse_number(value, param.option) if isinstance(value, str) else float(value)
        if not math.isfinite(num) and (param.finite or math.isnan(num)):
            raise BadParameter(f"{param.option} must be finite, not {num}", "give a number")
        return num
    if param.kind == "int":
        return parse_int(value, param.option, *param.span)
    if param.kind == "bool":
        return parse_bool(value, param.option)
    if not isinstance(value, str) or value not in param.choices:  # a choice
        raise BadParameter(
            f"{param.option} must be one of {', '.join(param.choices)}, not {value!r}",
            f"e.g. {param.option} {param.choices[-1]}",
        )
    return value


DTYPE_MAX = {
    "float64": 1.7976931348623157e308,
    "float32": 3.4028234663852886e38,
    "float16": 65504.0,
    "bfloat16": 3.3895313892515355e38,
}  # torch.finfo(d).max
DTYPE_EPS = {
    "float64": 2.220446049250313e-16,
    "float32": 1.1920928955078125e-07,
    "float16": 0.0009765625,
    "bfloat16": 0.0078125,
}  # torch.finfo(d).eps: an eps left to torch (rms_norm's None) is this


def check_params_fit(spec: FunctionSpec, params: Mapping[str, Any], dtype: str) -> None:
    """torch converts float parameters to the evaluation dtype: one that overflows it is a
    usage error here, not a failure inside torch."""
    for param in spec.params:
        value = params.get(param.name)
        if (
            param.kind == "float"
            and param.finite
            and value is not None
            and (abs(value) > DTYPE_MAX[dtype])
        ):
            raise BadParameter(
                f"{param.option} {value:g} overflows {dtype} (largest {DTYPE_MAX[dtype]:.4g})",
                "give a smaller value, or --dtype float64",
            )


def device_name(device: object, where: str = " (from --device or ACTGRAD_DEVICE)") -> str:
    """A device's name checked (not looked for: that needs torch); ``where`` says where the
    name came from, as the error tells."""
    dev = "cpu" if device is None else str(device).strip().lower()
    if not DEVICE_PATTERN.fullmatch(dev):
        raise BadParameter(
            f"unknown device {device!r}{where}", "use cpu, cuda, cuda:N, mps or auto"
        )
    return dev


def device_dtype(device: object, dtype: object) -> tuple[str, str]:
    dt = "float32" if dtype is None else dtype_name(dtype, " (from --dtype or ACTGRAD_DTYPE)")
    return device_name(device), dt


def dtype_name(given: Any, where: str = "") -> str:
    """One dtype's name, checked: the one home of the dtype names every option and setting
    takes (``where``: whence it came, for the error)."""
    name = str(given).strip().lower()
    if name not in DTYPES:
        raise BadParameter(f"unknown dtype {given!r}{where}", f"use one of {', '.join(DTYPES)}")
    return name


def dtype_names(text: str, first: tuple[str, ...] = ()) -> list[str]:
    """--dtypes LIST: ``first``, then each dtype named, once each."""
    names = [*first, *(dtype_name(d, " in --dtypes") for d in text.split(",") if d.strip())]
    if len(names) == len(first):
        raise BadParameter("--dtypes is empty", "e.g. --dtypes float32,float16")
    return list(dict.fromkeys(names))


# --check flags a number more than this many ulps of its dtype off: 6 of float64's 53 bits or
# float32's 24 lost; 2 of half precision's 11 (float16) or 8 (bfloat16)
DEFAULT_ULPS = {"float64": 64, "float32": 64, "float16": 4, "bfloat16": 4}


def default_ulps(dtype: str) -> int:
    """--check's default threshold for ``dtype`` (--ulps N overrides it)."""
    return DEFAULT_ULPS.get(dtype, 64)
