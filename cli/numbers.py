"""Numbers as text: shortest round-trip digits for the dtype, or a chosen precision."""

from __future__ import annotations

import numpy as np
import orjson

NUMPY = orjson.OPT_SERIALIZE_NUMPY


ROUND_CHUNK = 1 << 16


def round_to(arr: np.ndarray, precision: int) -> np.ndarray:
    """Round to ``precision`` significant digits (as float64, so JSON prints them short).

    Through text, a chunk at a time: the text of a whole large array would take ~100 bytes
    a number."""
    src = np.asarray(arr, dtype=np.float64)
    flat = src.reshape(-1)
    out = np.empty(flat.shape, dtype=np.float64)
    for start in range(0, flat.size, ROUND_CHUNK):
        part = flat[start : start + ROUND_CHUNK]
        out[start : start + ROUND_CHUNK] = np.char.mod(f"%.{precision}g", part).astype(np.float64)
    return out.reshape(src.shape)


def texts(arr: np.ndarray, precision: int | None = None) -> list[str]:
    """Every element of ``arr`` (row-major) as text: nan, inf and -inf spelled out.

    Without a precision, the shortest text that reads back to the same value in the
    array's dtype (orjson's float formatting; float16 as the exact value in float32 digits).
    """
    flat = np.ascontiguousarray(arr).reshape(-1)
    if not flat.size:
        return []
    if flat.dtype == object:  # already text (--exact's decimal digits)
        return [str(v) for v in flat.tolist()]
    if precision is not None:
        items = np.char.mod(f"%.{precision}g", flat.astype(np.float64)).tolist()
    else:
        exact = flat.dtype in (np.float32, np.float64) or np.issubdtype(flat.dtype, np.integer)
        src = flat if exact else flat.astype(np.float32)  # indices print as whole numbers
        items = orjson.dumps(src, option=NUMPY)[1:-1].decode().split(",")
    bad = np.flatnonzero(~np.isfinite(flat))
    for i in bad:
        v = flat[i]
        items[i] = "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return items


def text(value: np.ndarray, precision: int | None = None) -> str:
    return texts(np.asarray(value), precision)[0]
