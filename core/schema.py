"""The contract for scripts: every JSON document actgrad writes, as a JSON Schema (draft
2020-12), and the format number each document carries.

``"format": JSON_FORMAT`` is in every document (a result, a batch line, plot, accuracy, list,
explain, the server's status). It goes up when a field is removed or renamed or changes its
meaning; a new field does not change it (the schemas here grow with it). ``actgrad schema
NAME`` prints one schema; tests validate the README's examples and batch lines against them.
"""

from __future__ import annotations

from typing import Any

JSON_FORMAT = 1
DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE = "https://actgrad.dev/schema/"  # the schemas' names; nothing is fetched from there

FORMAT = {"const": JSON_FORMAT, "description": "the version of this document's fields"}
NUMBER = {
    "type": ["number", "null"],
    "description": "a float (null: NaN, inf or -inf; the document's nonfinite lists where)",
}
NUMBERS = {"anyOf": [NUMBER, {"type": "array", "items": {"$ref": "#/$defs/numbers"}}]}
BY_INPUT = {"type": "object", "additionalProperties": {"$ref": "#/$defs/numbers"}}
STRINGS = {"type": "array", "items": {"type": "string"}}
PARAMS = {
    "type": "object",
    "description": "the function's parameters as used (an expression's: its text)",
    "additionalProperties": {"type": ["number", "string", "boolean", "null", "array"]},
}
NOTES = {**STRINGS, "description": "what the numbers alone do not say (kinks, overflow, ...)"}
NONFINITE = {**STRINGS, "description": "paths of the fields holding NaN or ±inf"}

# What an evaluation reports beside its value: derivatives of each order, a Jacobian, vᵀJ.
DERIVATIVES = {
    "grad": {**BY_INPUT, "description": "first derivative w.r.t. each input"},
    "jacobian": {**BY_INPUT, "description": "∂y_i/∂x_j along --dim, per input"},
    "cotangent": {"$ref": "#/$defs/numbers"},
}
HIGHER = {"^grad[2-4]$": {**BY_INPUT, "description": "the derivative of that order"}}

RESULT: dict[str, Any] = {
    "type": "object",
    "description": "one evaluation: `actgrad FUNCTION ... --json`, `actgrad expr ... --json`",
    "required": [
        "format",
        "function",
        "params",
        "dtype",
        "device",
        "torch",
        "inputs",
        "value",
        "nonfinite",
        "notes",
    ],
    "properties": {
        "format": FORMAT,
        "function": {"type": "string", "description": "torch's name, or expr"},
        "params": PARAMS,
        "dtype": {"enum": ["float32", "float64", "float16", "bfloat16"]},
        "device": {"type": "string"},
        "torch": {"type": "string", "description": "torch's version"},
        "inputs": BY_INPUT,
        "value": {"$ref": "#/$defs/numbers"},
        "index": {"type": ["integer", "array"], "description": "--index I: the output row"},
        **DERIVATIVES,
        "symbolic": {"type": "object", "additionalProperties": {"type": "string"}},
        "nonfinite": NONFINITE,
        "notes": NOTES,
        "exact": {
            "type": "object",
            "description": "--exact: each number's true value, in decimal digits",
        },
        "check": {
            "type": "object",
            "description": "--check: errors against the true values, flags, finite differences",
            "required": ["ok"],
            "properties": {"ok": {"type": "boolean"}, "flags": {"type": "array"}},
        },
    },
    "patternProperties": HIGHER,
    "additionalProperties": False,
}

COMPARISON: dict[str, Any] = {
    "type": "object",
    "description": "`--dtypes LIST --json`: one evaluation in each dtype beside float64",
    "required": ["format", "function", "params", "device", "torch", "inputs", "dtypes"],
    "properties": {
        "format": FORMAT,
        "function": {"type": "string"},
        "params": PARAMS,
        "device": {"type": "string"},
        "torch": {"type": "string"},
        "inputs": BY_INPUT,
        "dtypes": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["value", "nonfinite", "notes"],
                "properties": {
                    "value": {"$ref": "#/$defs/numbers"},
                    **DERIVATIVES,
                    "nonfinite": NONFINITE,
                    "notes": NOTES,
                    "error": {"type": "object", "description": "errors against float64"},
                    "flags": {"type": "array"},
                },
                "patternProperties": HIGHER,
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

SIDES: dict[str, Any] = {
    "type": "object",
    "description": "`--devices LIST --json`: one evaluation on each device, each judged "
    "against the true value",
    "required": ["format", "function", "params", "dtype", "torch", "inputs", "devices"],
    "properties": {
        "format": FORMAT,
        "function": {"type": "string"},
        "params": PARAMS,
        "dtype": {"enum": ["float32", "float64", "float16", "bfloat16"]},
        "torch": {"type": "string"},
        "inputs": BY_INPUT,
        "devices": {
            "type": "object",
            "description": "by the device as torch names it (cpu, cuda:0)",
            "additionalProperties": {
                "type": "object",
                "required": ["value", "nonfinite", "notes", "check"],
                "properties": {
                    "value": {"$ref": "#/$defs/numbers"},
                    **DERIVATIVES,
                    "nonfinite": NONFINITE,
                    "notes": NOTES,
                    "exact": RESULT["properties"]["exact"],
                    "check": RESULT["properties"]["check"],
                },
                "patternProperties": HIGHER,
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

ERROR: dict[str, Any] = {
    "type": "object",
    "description": "why a batch line has no result",
    "required": ["code", "message"],
    "properties": {
        "code": {
            "type": "string",
            "description": "bad_input, bad_parameter, too_large, bad_expression, ...",
        },
        "message": {"type": "string", "description": "one line: the problem; the fix"},
    },
    "additionalProperties": False,
}

BATCH_LINE: dict[str, Any] = {
    "type": "object",
    "description": "one output line of `actgrad batch`, for the input line `line`",
    "required": ["format", "line", "id", "ok"],
    "properties": {
        "format": FORMAT,
        "line": {"type": "integer", "minimum": 1, "description": "its input line's number"},
        "id": {"description": "the request's own id, as given (null without one)"},
        "ok": {"type": "boolean"},
        "result": {
            "anyOf": [
                {"$ref": "#/$defs/result"},
                {"$ref": "#/$defs/comparison"},
                {"$ref": "#/$defs/sides"},
            ]
        },
        "error": {"$ref": "#/$defs/error"},
    },
    "oneOf": [
        {"properties": {"ok": {"const": True}}, "required": ["result"]},
        {"properties": {"ok": {"const": False}}, "required": ["error"]},
    ],
    "additionalProperties": False,
}

PLOT: dict[str, Any] = {
    "type": "object",
    "description": "`actgrad plot ... --json` (or piped): the sampled points of each curve",
    "required": ["format", "dtype", "x", "series"],
    "properties": {
        "format": FORMAT,
        "dtype": {"type": "string"},
        "x": {"type": "array", "items": NUMBER},
        "series": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "params", "y"],
                "properties": {
                    "name": {"type": "string"},
                    "params": PARAMS,
                    "y": {"type": "array", "items": NUMBER},
                    "dy": {"type": "array", "items": NUMBER},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

REGION = {
    "type": "object",
    "required": ["from", "to", "points", "max_ulp"],
    "properties": {
        "from": NUMBER,
        "to": NUMBER,
        "points": {"type": "integer"},
        "max_ulp": NUMBER,
        "low_end": {"type": "boolean"},
        "high_end": {"type": "boolean"},
    },
    "additionalProperties": False,
}

ACCURACY: dict[str, Any] = {
    "type": "object",
    "description": "`actgrad accuracy ... --json`: torch's error over a range, per dtype",
    "required": [
        "format",
        "torch",
        "device",
        "machine",
        "grid",
        "points",
        "dtypes",
        "order",
        "rows",
    ],
    "properties": {
        "format": FORMAT,
        "torch": {"type": "string"},
        "grid": {
            "type": "string",
            "description": "the --x text, standard, or exhaustive[:LOW:HIGH] (--exhaustive)",
        },
        "points": {"type": "integer", "description": "points of the grid (the most of a dtype)"},
        "inputs": {
            "type": "object",
            "description": "--exhaustive: how many inputs each dtype has",
            "additionalProperties": {"type": "integer"},
        },
        "dtypes": STRINGS,
        "order": {"type": "integer"},
        "ulps": {"type": ["integer", "null"]},
        "seconds": {"type": "number"},
        "device": {
            "type": "string",
            "description": "the device whose kernels were measured, as torch names it: cpu, "
            "cuda:0, mps",
        },
        "machine": {
            "type": "object",
            "description": "what measured it: torch's version and build, the CPU, its "
            "capability (torch's CPU kernels; a GPU's: sm_XY), and on a GPU its name (gpu), "
            "CUDA version (cuda) and device",
            "additionalProperties": {"type": "string"},
        },
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["function", "dtype", "quantity", "max_ulp", "worst", "regions"],
                "properties": {
                    "function": {"type": "string"},
                    "params": PARAMS,
                    "dtype": {"type": "string"},
                    "quantity": {"type": "string"},
                    "ulps": {"type": "integer"},
                    "points": {"type": "integer"},
                    "max_ulp": NUMBER,
                    "median_ulp": NUMBER,
                    "worst": {"type": ["object", "null"]},
                    "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "regions": {"type": "array", "items": REGION},
                    "all_digits_lost": {"type": "array", "items": REGION},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

FUNCTION: dict[str, Any] = {
    "type": "object",
    "description": "one registry entry, as `explain NAME --json` and `list --json` give it",
    "required": ["name", "command", "aliases", "kind", "formula", "derivative", "params"],
    "properties": {
        "name": {"type": "string"},
        "command": {"type": "string"},
        "aliases": STRINGS,
        "kind": {"enum": ["activation", "loss", "norm"]},
        "params": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "option", "type", "default"],
            },
        },
        "kinks": {"type": "array", "items": {"type": "object"}},
        "example": {"type": "string"},
    },
}

LIST: dict[str, Any] = {
    "type": "object",
    "description": "`actgrad list --json`: every function",
    "required": ["format", "functions"],
    "properties": {
        "format": FORMAT,
        "functions": {"type": "array", "items": {"$ref": "#/$defs/function"}},
    },
    "additionalProperties": False,
}

EXPLAIN: dict[str, Any] = {
    "description": "`actgrad explain NAME --json`: one function",
    "allOf": [{"$ref": "#/$defs/function"}],
    "required": ["format"],
    "properties": {"format": FORMAT},
}

SERVER_STATUS: dict[str, Any] = {
    "type": "object",
    "description": "`actgrad server status --json`",
    "required": ["format"],
    "properties": {"format": FORMAT},
}

DEFS: dict[str, Any] = {
    "numbers": NUMBERS,
    "result": RESULT,
    "comparison": COMPARISON,
    "sides": SIDES,
    "error": ERROR,
    "function": FUNCTION,
}

# name -> (the schema's root, what it describes)
DOCUMENTS: dict[str, dict[str, Any]] = {
    "result": {
        "anyOf": [
            {"$ref": "#/$defs/result"},
            {"$ref": "#/$defs/comparison"},
            {"$ref": "#/$defs/sides"},
        ]
    },
    "batch-line": BATCH_LINE,
    "error": {"$ref": "#/$defs/error"},
    "plot": PLOT,
    "accuracy": ACCURACY,
    "list": LIST,
    "explain": EXPLAIN,
    "server-status": SERVER_STATUS,
}


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of the document ``name`` (one of :data:`DOCUMENTS`), whole: its own
    definitions included, so that it validates with nothing else."""
    root = DOCUMENTS[name]
    titles = {
        "result": "an evaluation's result (or a --dtypes comparison, or --devices side by side)",
        "batch-line": "a line of actgrad batch's output",
        "error": "the error of a failed batch line",
    }
    return {
        "$schema": DIALECT,
        "$id": f"{BASE}{JSON_FORMAT}/{name}.json",
        "title": f"actgrad {name}" + (f": {titles[name]}" if name in titles else ""),
        **root,
        "$defs": DEFS,
    }
