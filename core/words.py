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


def measured(x: float) -> str:
    """A measured error or size: 4 significant digits (``0.6663``, ``1.69e-12``)."""
    return f"{x:.4g}"


def shortest(x: float) -> str:
    """An input or value as the shortest text that reads back as the same float64."""
    return repr(float(x))
