"""Errors in ulps: one ulp of a dtype at a number, numbers rounded to a dtype, and torch's
error against the true value (numpy only: --check, accuracy and the notes share it)."""

from __future__ import annotations

import numpy as np

from ..exact.reference import Truth

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
    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        _, exponent = np.frexp(np.where(np.isfinite(magnitude), magnitude, 0.0))
    exponent = np.where(magnitude == 0, lowest + 1, exponent)  # frexp(0) is (0, 0)
    return np.ldexp(1.0, np.maximum(exponent - 1, lowest) - bits)


def in_dtype(values: np.ndarray, dtype: str) -> np.ndarray:
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


def ulp_errors(got: np.ndarray, true: Truth, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(error in ulps of ``dtype`` at the true value, the true value rounded to ``dtype``):
    NaN where the truth is NaN, inf where the truth is finite and ``got`` is not."""
    got = got.astype(np.float64)
    td = in_dtype(true.hi, dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(td)
        spacing = ulp(np.where(finite, true.hi, 0.0), dtype)  # in the true value's binade
        err = np.abs((got - true.hi) - true.lo) / spacing
        err = np.where(np.isfinite(got), err, np.inf)
        err = np.where(~finite & (got == td), 0.0, err)  # both the same infinity
        err = np.where(~finite & np.isfinite(got), np.inf, err)
    # 0 in this dtype (exactly, or below its smallest number): no ulps to speak of there; a
    # finite result that is not 0 is flagged instead, NaN or inf is infinitely far
    at_zero = np.where(got == 0, 0.0, np.where(np.isfinite(got), np.nan, np.inf))
    err = np.where(td == 0, at_zero, err)
    return np.where(np.isnan(true.hi), np.nan, err), td


def lost(got: np.ndarray, true: Truth, dtype: str) -> np.ndarray:
    """Where every digit is lost: NaN or inf where the truth is finite, a relative error of 1
    or more where the dtype can hold the truth, the wrong sign, or not 0 where the truth is."""
    got, hi = got.astype(np.float64), true.hi
    td = in_dtype(hi, dtype)
    zero = td == 0
    with np.errstate(all="ignore"):  # inf and nan are values here
        rel = np.abs(got - hi) / np.abs(hi)
        wrong_sign = np.sign(got) * np.sign(td) < 0
    return (
        (~np.isfinite(got) & np.isfinite(hi))
        | ((rel >= 1) & ~zero)
        | wrong_sign
        | (zero & (got != 0))
    )
