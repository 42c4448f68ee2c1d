"""How numbers are written in messages (notes, --check lines, errors, summaries): one rule.

- a count: digits with thousands separators, and the noun in the singular for one
  (``1 request``, ``2,048 requests``);
- a measured value (ulps, relative errors, differences): 4 significant digits
  (``0.6663 ulp``, ``1.69e-12``, ``1.789e+08 ulp``);
- an input or a value of a function: the shortest text that reads back as the same float64
  (``16.64``, ``0.1``), never more digits than the number holds.
"""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 request``, ``2,048 requests``."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def counted_are(n: int, noun: str) -> str:
    """``1 input is``, ``3 inputs are``."""
    return f"{counted(n, noun)} {'is' if n == 1 else 'are'}"


def measured(x: float) -> str:
    """A measured error or size: 4 significant digits (``0.6663``, ``1.69e-12``)."""
    return f"{x:.4g}"


def shortest(x: float, dtype: str = "float64") -> str:
    """An input or value as the shortest text that reads back as the same number of its dtype
    (16.64 for float32's 16.639999389648438; bfloat16 as float32)."""
    import numpy as np

    kind = {"float16": np.float16, "float32": np.float32, "bfloat16": np.float32}.get(dtype)
    return repr(float(x)) if kind is None else str(kind(x))
