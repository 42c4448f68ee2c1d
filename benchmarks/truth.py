"""The arbitrary-precision reference: what --check costs, how fast accuracy sweeps, and the
Taylor-series derivatives against mpmath's own numeric differentiation.

    python benchmarks/truth.py            # a minute or two
    python benchmarks/truth.py --report   # also time tools/accuracy_report.py --check

Machines here are shared and noisy: every comparison runs both sides interleaved, in this
script, and prints medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "ACTGRAD_SERVER": "off"}


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)  # fmt: skip
    return time.perf_counter() - start


def check_overhead(runs: int) -> None:
    plain = [sys.executable, "-m", "actgrad", "sigmoid", "--x", "0.5", "--grad"]
    checked = [*plain, "--check"]
    exact = [*plain, "--exact"]
    times: dict[str, list[float]] = {"plain": [], "--check": [], "--exact": []}
    for _ in range(runs):  # interleaved
        times["plain"].append(timed(plain))
        times["--check"].append(timed(checked))
        times["--exact"].append(timed(exact))
    base = statistics.median(times["plain"])
    print(f"one-off `sigmoid --x 0.5 --grad`, median of {runs}: {base:.3f} s")
    for name in ("--check", "--exact"):
        m = statistics.median(times[name])
        print(f"  with {name}: {m:.3f} s, {m - base:+.3f} s ({m / base:.2f}x)")


def sweep() -> None:
    from actgrad.core import accuracy, reference, registry

    spec = registry.get("sigmoid")
    start = time.perf_counter()
    rows = list(accuracy.sweep(spec, "-40:40:2001", list(accuracy.DTYPES), 2))
    took = time.perf_counter() - start
    print(f"accuracy sigmoid, 2001 points, 4 dtypes, order 2 (cold cache): {took:.2f} s, "
          f"{len(rows)} rows")  # fmt: skip
    start = time.perf_counter()
    list(accuracy.sweep(spec, "-40:40:2001", list(accuracy.DTYPES), 2))
    print(f"  the same again (the reference cached): {time.perf_counter() - start:.2f} s")
    reference._CACHE.clear()


def against_mp_diff(points: int) -> None:
    """f, f′, f″ of gelu at the same points: Taylor series (two precisions, as the reference
    converges) against mpmath's numeric mp.diff at the same two precisions."""
    import numpy as np
    from actgrad.core import reference
    from mpmath import mp

    xs = np.linspace(-7.3, 7.9, points).tolist()
    params = {"approximate": "none"}

    def gelu(x):
        return x * mp.erfc(-x / mp.sqrt(2)) / 2

    ours, theirs = [], []
    for _ in range(3):
        reference._CACHE.clear()
        start = time.perf_counter()
        for x in xs:
            reference.point("gelu", params, x, 2)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        for x in xs:
            for bits in (reference.START_BITS, 2 * reference.START_BITS):
                with mp.workprec(bits):
                    [mp.diff(gelu, mp.mpf(x), k) for k in range(3)]
        theirs.append(time.perf_counter() - start)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(
        f"gelu f, f′, f″ at {points} points: Taylor series {a * 1e6 / points:.0f} µs/point, "
        f"mp.diff {b * 1e6 / points:.0f} µs/point ({b / a:.1f}x slower)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    check_overhead(args.runs)
    sweep()
    against_mp_diff(300)
    if args.report:
        took = timed([sys.executable, str(ROOT / "tools" / "accuracy_report.py"), "--check"])
        print(f"the whole report (tools/accuracy_report.py --check): {took:.0f} s")


if __name__ == "__main__":
    main()
