"""Errors in ulps: one ulp of a dtype at a number, numbers rounded to a dtype, and torch's
error against the true value (numpy only: --check, accuracy and the notes share it)."""

from __future__ import annotations

import numpy as np

from ..exact.reference import Truth
from ..functions.arithmetic import round_array, ulp

in_dtype = round_array  # the name the accuracy code reads


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
