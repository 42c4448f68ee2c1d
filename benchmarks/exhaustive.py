"""``accuracy --exhaustive``: every finite float16 and bfloat16 input, orders 0-2.

For each dtype and order: the whole sweep from a cold reference cache, the reference's share
of it (the same points through the reference alone, cold), and the same sweep again with the
cache warm from the first (what a second run in one process, or another dtype sharing points,
pays): the ratio warm/cold is the cache's worth.

    python benchmarks/exhaustive.py [--function sigmoid] [--orders 0,1,2]
"""

from __future__ import annotations

import argparse
import time

from actgrad.core.accuracy import sweeps
from actgrad.core.exact import truth
from actgrad.core.functions import registry


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--function", default="sigmoid")
    parser.add_argument("--orders", default="0,1,2")
    parser.add_argument("--dtypes", default="float16,bfloat16")
    args = parser.parse_args()
    spec = registry.get(args.function)
    grid = sweeps.Exhaustive()
    params = spec.defaults()
    columns = ("order", "inputs", "sweep s", "reference", "warm/cold")
    print(f"{'dtype':9} " + " ".join(f"{c:>9}" for c in columns))
    for dtype in args.dtypes.split(","):
        xs = grid.values(dtype)
        for order in (int(o) for o in args.orders.split(",")):
            truth._CACHE.clear()
            cold = _timed(lambda: list(sweeps.sweep(spec, grid, [dtype], order)))  # noqa: B023
            warm = _timed(lambda: list(sweeps.sweep(spec, grid, [dtype], order)))  # noqa: B023
            truth._CACHE.clear()
            alone = _timed(lambda: truth.elementwise(spec, params, xs, order))  # noqa: B023
            print(
                f"{dtype:9} {order:9} {xs.size:9,} {cold:9.1f} {alone / cold:9.0%} "
                f"{warm / cold:9.2f}"
            )


if __name__ == "__main__":
    main()
