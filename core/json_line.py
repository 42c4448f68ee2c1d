"""A JSON request (a batch line such as ``{"fn": "sigmoid", "x": 0.5, "grad": true}``) as the
parsed options of its command, validated by the same code as the command line.

Its keys are the command's own options (:mod:`command_options`): ``"x"`` is --x,
``"negative_slope"`` --negative-slope, ``"check"`` --check; ``"params"`` and ``"vars"`` group
function parameters and an expression's variables; ``"grad": ["w", "x"]`` is --grad --wrt w,x.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

import orjson

from .command_options import Option, defaults, entry, options_of
from .errors import BadInput, BadParameter
from .functions import registry
from .functions.spec import FunctionSpec

# The JSON types each key takes where the type alone decides (inputs and function parameters
# are checked where they are parsed); anything else is that line's error, with an example.
KEY_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "fn": ((str,), '"fn": "sigmoid"'),
    "expr": ((str,), '"expr": "x*sigmoid(x)"'),
    "vars": ((dict,), '"vars": {"x": [0, 1]}'),
    "grad": ((bool, str, list), '"grad": true, or "grad": ["w", "x"]'),
    "wrt": ((str, list), '"wrt": ["w", "x"]'),
    "order": ((int, str), '"order": 2'),
    "index": ((int, str), '"index": 1'),
    "dim": ((int, str), '"dim": -1'),
    "dtype": ((str,), '"dtype": "float64"'),
    "device": ((str,), '"device": "cpu"'),
    "params": ((dict,), '"params": {"negative_slope": 0.1}'),
    "seed": ((int, str), '"seed": 0'),
    "broadcast": ((bool,), '"broadcast": true'),
    "symbolic": ((bool,), '"symbolic": true'),
}
POSITIONAL = {"values": None, "expression": None}


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 40 else text[:37] + "..."


def _got(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_types(data: dict) -> None:
    for key, (types, example) in KEY_TYPES.items():
        if key not in data:
            continue
        value = data[key]
        wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        if wrong or (isinstance(value, list) and not all(isinstance(v, str) for v in value)):
            raise BadParameter(
                f"{key!r} cannot be {_got(value)} ({_short(value)})", f"e.g. {example}"
            )


def values_text(value: Any, name: str) -> str:
    """A JSON value for a tensor input as the text the command line would take."""
    if isinstance(value, bool) or value is None or isinstance(value, dict):
        raise BadInput(
            f"{name} must be a number, a list of numbers or a string",
            'e.g. "x": 0.5, "x": [1, 2], "x": "-10:10:100"',
        )
    if isinstance(value, int | float):
        try:
            return repr(float(value))
        except OverflowError:
            raise BadInput(f"{name} is too large for float64", "give a smaller number") from None
    if isinstance(value, str):
        if value.strip() == "-":
            raise BadInput(f"{name} cannot read stdin in batch mode", "give the values inline")
        return value
    return orjson.dumps(value).decode()


def _text(value: Any, key: str) -> str:
    """A JSON value of a plain option (--order, --dtypes, --wrt, …) as its text."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value) if isinstance(value, int) else repr(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise BadParameter(
        f"{key!r} cannot be {_got(value)} ({_short(value)})",
        f"see actgrad --help for --{key.replace('_', '-')}",
    )


def _value(option: Option, key: str, value: Any) -> Any:
    """A JSON value as the command line's option would hold it."""
    if option.kind == "flag":
        if type(value) is not bool:
            raise BadParameter(
                f"{key!r} cannot be {_got(value)} ({_short(value)})", f'e.g. "{key}": true'
            )
        return value
    if option.key.startswith("p_"):
        return value  # a function parameter: resolve_params checks its type and range
    if option.kind == "values":
        return (values_text(value, key),)
    return _text(value, key)


_KEYS: dict[FunctionSpec | None, dict[str, Option]] = {}


def json_keys(spec: FunctionSpec | None) -> dict[str, Option]:
    """{JSON key: option} of ``spec``'s command (None: expr's): each long spelling
    (``negative_slope``, ``vjp``) and each option's own name (``output_format``)."""
    found = _KEYS.get(spec)
    if found is None:
        found = {}
        for option in options_of(spec):
            if option.key == "var":  # JSON's "vars"
                continue
            for key in option.long_names:
                found[key] = option
            found.setdefault(option.name, option)
        _KEYS[spec] = found
    return found


def json_options(data: dict) -> tuple[FunctionSpec | None, dict[str, Any]]:
    """(the function's entry or None for an expression, parsed options) of a JSON request
    object."""
    _check_types(data)
    if "expr" in data:
        given = "expr"
    else:
        given = data.get("fn")
        if not isinstance(given, str):
            raise BadParameter(
                'a request needs "fn" (a function name) or "expr"',
                'e.g. {"fn": "sigmoid", "x": 0.5, "grad": true}',
            )
    spec = entry(given)
    options = {**POSITIONAL, **defaults(options_of(spec), os.environ)}
    if spec is None:
        options["expression"] = data["expr"]
    table = json_keys(spec)
    for key, value in data.items():
        if key in ("fn", "expr", "id"):
            continue
        if key == "report":
            raise BadParameter(
                "a batch line cannot write a report",
                f"run it as a command: actgrad {given} … --report",
            )
        if key == "vars" and spec is None:
            options["var"] = [f"{k}={values_text(v, k)}" for k, v in value.items()]
        elif key == "params" and spec is not None:
            for k, v in value.items():
                option = table.get(k)
                if option is None or not option.key.startswith("p_"):
                    raise BadParameter(
                        f"{spec.command} has no parameter {k!r}",
                        f"see actgrad explain {given}",
                    )
                options[option.key] = v
        elif key == "grad" and isinstance(value, str | list):  # "grad": ["w", "x"]
            options["grad"], options["wrt"] = True, _text(value, key)
        else:
            option = table.get(key)
            if option is None:
                keys = ", ".join(sorted({*table, "id", *(() if spec else ("vars",))}))
                title = spec.command if spec else "an expression"
                raise BadParameter(f"unknown key {key!r} for {title}", f"keys: {keys}")
            options[option.key] = _value(option, key, value)
    return spec, options


# A command line as the JSON request it means, where it is a plain scalar request: the
# spellings of each function's options, from the same option table (batch's fast path; any
# other line is parsed by the command's own parser).
FAST_FIELDS = {"x": "x", "grad": "grad", "order": "order", "dtype": "dtype", "device": "device"}
FINITE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?", re.ASCII)
_SPELLINGS: dict[str, dict[str, tuple[str, str, Any]] | None] = {}


def _spellings(name: str) -> dict[str, tuple[str, str, Any]] | None:
    """{spelling: (field, name, value for a flag or switch)} of a function's command: the
    fields of a fast JSON request ("x", "grad", …, or "params" with the parameter's name)."""
    if name not in _SPELLINGS:
        spec = registry.find(name)
        if spec is None:
            _SPELLINGS[name] = None
            return None
        found: dict[str, tuple[str, str, Any]] = {}
        for option in options_of(spec):
            if option.key.startswith("p_"):
                field = "params"
            elif option.name in FAST_FIELDS or option.key == "t_x":
                field = FAST_FIELDS.get(option.name, "x")
            else:
                continue
            for flag in option.flags:
                value = True if option.kind in ("flag", "switch") else None
                found[flag] = (field, option.name, value)
                if option.kind == "switch" and flag.startswith("--"):
                    found["--no-" + flag[2:]] = (field, option.name, False)
        _SPELLINGS[name] = found
    return _SPELLINGS[name]


def fast_command_line(text: str) -> dict | None:
    """The JSON request a plain command line means (``sigmoid --x 0.5 --grad``: one finite
    number, a derivative order, dtype, device and parameters), or None: then the command's
    own parser reads it (quotes, ranges, lists, other options, anything it must refuse)."""
    if "'" in text or '"' in text or "\\" in text:
        return None
    args = text.split()
    if args[:1] == ["actgrad"]:
        args = args[1:]
    spellings = _spellings(args[0]) if args and args[0] != "expr" else None
    if spellings is None:
        return None
    data: dict[str, Any] = {"fn": args[0]}
    params: dict[str, Any] = {}
    i = 1
    while i < len(args):
        taken = _fast_option(args, i, spellings)
        if taken is None:
            return None
        (field, name, text), i = taken
        into = params if field == "params" else data
        key = name if field == "params" else field
        value = _fast_value(field, text)
        if value is None or key in into:
            return None
        into[key] = value
    if "x" not in data:
        return None
    if params:
        data["params"] = params
    return data


def _fast_option(
    args: list[str], i: int, spellings: dict[str, tuple[str, str, Any]]
) -> tuple[tuple[str, str, Any], int] | None:
    """((field, name, its text), the next word's index) of the option at ``args[i]``: a flag
    (its value fixed), an option with a value (attached after = or the next word), or a
    positional value of x; None where only the command's parser can say."""
    flag, eq, attached = args[i].partition("=")
    found = spellings.get(flag)
    if found is None:  # a positional value
        return ("x", "x", args[i]), i + 1
    value = found[2]
    if value is not None:  # a flag: --grad
        return None if eq else ((found[0], found[1], value), i + 1)
    if eq:
        return (found[0], found[1], attached), i + 1
    if i + 1 == len(args):
        return None
    return (found[0], found[1], args[i + 1]), i + 2


def _fast_value(field: str, value: Any) -> Any:
    """A fast request's field from its word (None: not a plain one)."""
    if field == "x":
        if not FINITE.fullmatch(value) or math.isinf(number := float(value)):
            return None
        return number
    if field == "order":
        return int(value) if value.isascii() and value.isdigit() and len(value) <= 2 else None
    return value
