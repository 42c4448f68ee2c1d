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

# how a parameter is stored: "dtype" (scalar_t) or "opmath" (float for the 16-bit dtypes);
# a list by derivative order where the kernels differ: "opmath,dtype" is the forward kernel's
# way at order 0 and the backward's from order 1 on, "opmath,opmath,dtype" the double
# backward's (a composite of dtype tensors) from order 2 on
STORAGES = ("dtype", "opmath")

# the key of a stored parameter set that names the arithmetic its branch tests are decided in
# (an entry may give its own list by order under this key; the default is opmath throughout)
ARITHMETIC = "_opmath"
DTYPE = "_dtype"  # … and the dtype itself (a double backward's composite works in it)


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
    storage: Mapping[str, str], params: Mapping[str, Any], dtype: str, order: int = 0
) -> dict[str, Any]:
    """``params`` as the kernel of derivative ``order`` holds them in ``dtype`` (0: the forward
    kernel), with the arithmetic its branches are decided in (``params[ARITHMETIC]``)."""
    out = dict(params)
    for name, how in storage.items():
        value = out.get(name)
        if name in (ARITHMETIC, DTYPE) or isinstance(value, bool):
            continue
        if not isinstance(value, float | int):
            continue
        out[name] = round_to(float(value), _pick(how, order, dtype))
    out[ARITHMETIC] = _pick(storage.get(ARITHMETIC, "opmath"), order, dtype)
    out[DTYPE] = dtype
    return out


def _pick(how: str, order: int, dtype: str) -> str:
    ways = how.split(",")
    way = ways[min(order, len(ways) - 1)]
    if way not in STORAGES:
        raise ValueError(f"a parameter is stored as one of {STORAGES}, not {way!r}")
    return dtype if way == "dtype" else opmath(dtype)


def orders_differ(storage: Mapping[str, str]) -> bool:
    """Whether the kernels of different derivative orders store something differently."""
    return any("," in how for how in storage.values())


# (explicit significand bits, smallest normal exponent) of each dtype
FORMATS = {
    "float64": (52, -1022),
    "float32": (23, -126),
    "float16": (10, -14),
    "bfloat16": (7, -126),
}


def ulp(values: np.ndarray, dtype: str) -> np.ndarray:
    """One ulp of ``dtype`` at each value: the spacing of the dtype's numbers in the value's
    binade, [2^e, 2^(e+1)) for |value| in it (a power of two: the spacing above it), the same
    for both signs; the subnormal spacing below the smallest normal number (and at 0)."""
    bits, lowest = FORMATS[dtype]
    if dtype != "float64" and np.ndim(values):  # every spacing a normal float64: built
        raw = np.asarray(values, dtype=np.float64).view(np.int64)  # from the exponent's bits
        exponent = (raw >> 52) & 0x7FF  # biased; 0 for 0 and subnormals, 0x7FF past finite
        exponent[exponent == 0x7FF] = 1022  # inf and NaN: as below (frexp of 0 gives 0)
        np.maximum(exponent, lowest + 1023, out=exponent)
        exponent -= bits
        return (exponent << 52).view(np.float64)
    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        _, exponent = np.frexp(np.where(np.isfinite(magnitude), magnitude, 0.0))
    exponent = np.where(magnitude == 0, lowest + 1, exponent)  # frexp(0) is (0, 0)
    return np.ldexp(1.0, np.maximum(exponent - 1, lowest) - bits)


def round_array(values: np.ndarray, dtype: str) -> np.ndarray:
    """float64 values rounded to ``dtype`` (to nearest, ties to even), back as float64."""
    if dtype == "float64":
        return values.astype(np.float64)
    if dtype != "bfloat16":
        with np.errstate(over="ignore"):
            return values.astype(getattr(np, dtype)).astype(np.float64)
    with np.errstate(over="ignore"):
        bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
    out = rounded.view(np.float32).astype(np.float64)
    return np.where(np.isnan(values), np.nan, out)
