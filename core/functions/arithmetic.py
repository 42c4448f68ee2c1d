"""How a parameter reaches torch's kernel, and in what arithmetic the kernel decides a branch.

torch casts a Python number to the tensor's dtype (``lambd.to<scalar_t>()``) or to its *opmath*
type (float for float16 and bfloat16, which CPU kernels compute in float) before the kernel
sees it, and compares ``β·x`` with ``threshold`` after rounding the product in that arithmetic.
The truth is the exact value of what torch was asked, at the numbers torch really received:
an entry says how each parameter is stored (:attr:`FunctionSpec.stored`), and the reference
takes :func:`stored_params` instead of the numbers as typed. No torch here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

OPMATH = {"float16": "float32", "bfloat16": "float32", "float32": "float32", "float64": "float64"}
EPSILON = {"float32": 2.0**-23, "float64": 2.0**-52}  # std::numeric_limits<opmath_t>::epsilon()

# how a parameter is stored: "dtype" (scalar_t), "opmath" (float for the 16-bit dtypes), or
# "opmath,dtype": the forward kernel stores it one way and the backward kernel the other
STORAGES = ("dtype", "opmath", "opmath,dtype", "dtype,opmath")

# the keys a stored parameter set carries besides the entry's own: the arithmetic of branches
ARITHMETIC = "_opmath"


def round_to(value: float, dtype: str) -> float:
    """``value`` (a float64) as torch's ``Scalar.to<T>()`` stores it in ``dtype``: float32
    rounds once; float16 and bfloat16 through float first (c10::Half(float(v)),
    c10::BFloat16(float(v))), each to nearest, ties to even."""
    if dtype == "float64" or not math.isfinite(value):
        return float(value)
    with np.errstate(over="ignore"):
        single = np.float32(value)
        if dtype == "float32":
            return float(single)
        if dtype == "float16":
            return float(np.float16(single))
    bits = int(single.view(np.uint32))  # bfloat16: the upper half of float's bits, to even
    if math.isnan(float(single)):
        return float(single)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return float(np.uint32(bits).view(np.float32))


def opmath(dtype: str) -> str:
    """The type torch's CPU kernels compute ``dtype`` in."""
    return OPMATH[dtype]


def stored_params(
    storage: Mapping[str, str], params: Mapping[str, Any], dtype: str, backward: bool = False
) -> dict[str, Any]:
    """``params`` as the forward (or, ``backward``, the backward) kernel holds them in
    ``dtype``, with the arithmetic its branches are decided in (``params[ARITHMETIC]``)."""
    out = dict(params)
    for name, how in storage.items():
        value = out.get(name)
        if not isinstance(value, float | int) or isinstance(value, bool):
            continue
        side = how.split(",")[-1 if backward else 0]
        out[name] = round_to(float(value), dtype if side == "dtype" else opmath(dtype))
    out[ARITHMETIC] = opmath(dtype)
    return out


def splits(storage: Mapping[str, str]) -> bool:
    """Whether the forward and backward kernels store some parameter differently."""
    return any("," in how for how in storage.values())
