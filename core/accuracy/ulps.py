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
    return errors(got, true.hi, true.lo, in_dtype(true.hi, dtype), dtype)


def errors(
    got: np.ndarray, hi: np.ndarray, lo: np.ndarray, td: np.ndarray, dtype: str
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ulp_errors` of float64 ``got`` against the truth ``hi`` + ``lo`` and its
    rounding ``td`` (computed once by a caller that needs them again)."""
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(td)
        if np.ndim(got) and got.shape == hi.shape and finite.all() and np.isfinite(got).all():
            err = np.subtract(got, hi)  # fewer passes: what the general one gives there
            err -= lo
            np.abs(err, out=err)
            err /= ulp(hi, dtype)
            zero = np.flatnonzero(td == 0)
            if zero.size:  # see below
                err.reshape(-1)[zero] = np.where(got.reshape(-1)[zero] == 0, 0.0, np.nan)
            return err, td
        spacing = ulp(np.where(finite, hi, 0.0), dtype)  # in the true value's binade
        err = np.abs((got - hi) - lo) / spacing
        err = np.where(np.isfinite(got), err, np.inf)
        err = np.where(~finite & (got == td), 0.0, err)  # both the same infinity
        err = np.where(~finite & np.isfinite(got), np.inf, err)
    # 0 in this dtype (exactly, or below its smallest number): no ulps to speak of there; a
    # finite result that is not 0 is flagged instead, NaN or inf is infinitely far
    at_zero = np.where(got == 0, 0.0, np.where(np.isfinite(got), np.nan, np.inf))
    err = np.where(td == 0, at_zero, err)
    return np.where(np.isnan(hi), np.nan, err), td


def lost(got: np.ndarray, true: Truth, dtype: str) -> np.ndarray:
    """Where every digit is lost: NaN or inf where the truth is finite, a relative error of 1
    or more where the dtype can hold the truth, the wrong sign, or not 0 where the truth is."""
    got, hi = got.astype(np.float64), true.hi
    td = in_dtype(hi, dtype)
    with np.errstate(all="ignore"):  # inf and nan are values here
        wrong_sign = np.sign(got) * np.sign(td) < 0
    return lost_with(got, hi, td, wrong_sign)


def lost_with(
    got: np.ndarray, hi: np.ndarray, td: np.ndarray, wrong_sign: np.ndarray, finite: bool = False
) -> np.ndarray:
    """:func:`lost` of float64 ``got`` given the truth's rounding ``td`` and where the signs
    differ (``finite``: every ``got`` is finite, as the caller found)."""
    zero = td == 0
    with np.errstate(all="ignore"):  # inf and nan are values here
        rel = np.abs(got - hi)
        rel /= np.abs(hi)
    out = rel >= 1
    out &= ~zero
    out |= wrong_sign
    zero &= got != 0
    out |= zero
    if not finite:
        out |= ~np.isfinite(got) & np.isfinite(hi)
    return out
