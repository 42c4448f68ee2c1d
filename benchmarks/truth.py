"""The truth: what --check costs, how fast accuracy sweeps, the fast tier's points/s against
torch's own evaluation and against the exact tier alone, a sharded float32 sweep, and the
Taylor-series derivatives against mpmath's own numeric differentiation.

    python benchmarks/truth.py            # a minute or two
    python benchmarks/truth.py --report   # also time tools/accuracy_report.py --check
    python benchmarks/truth.py --device cuda   # torch's points/s and a sweep there, beside the CPU

Machines here are shared and noisy: every comparison runs both sides interleaved, in this
script, and prints medians and their ratio.
"""

from __future__ import annotations

import argparse
import math
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
    subprocess.run(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
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


IN_PROCESS = """
import time
from actgrad.core import evaluate
from actgrad.core.request import build_request
plain = build_request("sigmoid", {"x": ["0.5"]}, {}, grad=True)
checked = build_request("sigmoid", {"x": ["0.5"]}, {}, grad=True, check=True)
evaluate(plain)  # torch imported and warm
t0 = time.perf_counter(); evaluate(plain); t1 = time.perf_counter()
evaluate(checked); t2 = time.perf_counter()
evaluate(checked); t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


SWEEP_BEFORE = 3.53  # s: accuracy sigmoid on 2001 points before the bounded reference (issue 19)


def check_in_process(runs: int) -> float:
    """What --check adds after start-up, in a fresh process each time (the first --check
    imports mpmath): median of ``runs``."""
    first, again, base = [], [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", IN_PROCESS], env=ENV, capture_output=True, text=True, check=True
        ).stdout.split()
        b, c1, c2 = map(float, out)
        base.append(b)
        first.append(c1)
        again.append(c2)
    b, f, a = (statistics.median(v) * 1e3 for v in (base, first, again))
    print(
        f"in process, after start-up (median of {runs}): sigmoid --x 0.5 --grad {b:.1f} ms; "
        f"with --check {f:.0f} ms the first time (mpmath's import included), {a:.0f} ms "
        "after (budget: 10 ms)"
    )
    return a


def sweep() -> float:
    from actgrad.core.accuracy import sweeps
    from actgrad.core.exact import truth
    from actgrad.core.functions import registry

    spec = registry.get("sigmoid")
    start = time.perf_counter()
    rows = list(sweeps.sweep(spec, "-40:40:2001", list(sweeps.DTYPES), 2))
    took = time.perf_counter() - start
    print(
        f"accuracy sigmoid, 2001 points, 4 dtypes, order 2 (cold cache): {took:.2f} s, "
        f"{len(rows)} rows"
    )
    start = time.perf_counter()
    list(sweeps.sweep(spec, "-40:40:2001", list(sweeps.DTYPES), 2))
    print(f"  the same again (the reference cached): {time.perf_counter() - start:.2f} s")
    truth._CACHE.clear()
    return took


def against_mp_diff(points: int) -> None:
    """f, f′, f″ of gelu at the same points: Taylor series (two precisions, as the reference
    converges) against mpmath's numeric mp.diff at the same two precisions."""
    import numpy as np
    from actgrad.core.exact import reference, truth
    from actgrad.core.functions import registry
    from mpmath import mp

    xs = np.linspace(-7.3, 7.9, points).tolist()
    params = {"approximate": "none"}

    def gelu(x):
        return x * mp.erfc(-x / mp.sqrt(2)) / 2

    spec = registry.get("gelu")
    ours, theirs = [], []
    for _ in range(3):
        truth._CACHE.clear()
        start = time.perf_counter()
        for x in xs:
            truth.point(spec, params, x, 2)
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


FAST_TARGET = 1e7  # decided points/s per core the fast tier aims at (issue 31)


RUNS = 5  # runs of each side in fast_tier, the best kept


def fast_tier(
    names: list[str], orders: list[int], points: int, exact_points: int, device: str = "cpu"
) -> list[str]:
    """The truth's points/s on one core, fast tier first (with what it leaves to the exact
    tier), beside torch's own evaluation of the same points (value and derivatives) and the
    exact tier alone (the reference before the fast tier): the ratios, and a MISS per
    function and order under FAST_TARGET."""
    import numpy as np
    import torch
    from actgrad.core.evaluator.engine import torch_result
    from actgrad.core.exact import truth
    from actgrad.core.request import build_request

    torch.set_num_threads(1)
    misses = []
    where = "" if device == "cpu" else f", torch on {device}"
    print(
        f"truth on one core, {points:,} float32 points over [-40, 40] (torch.linspace){where}; "
        f"the best of {RUNS} runs of each, interleaved; exact tier alone on {exact_points:,} "
        "of them"
    )
    print(
        f"{'function':10} order {'torch':>9} {'truth':>9} {'ratio':>6} {'exact':>7} "
        f"{'speed-up':>8} {'exact share':>11}"
    )
    for name in names:
        for order in orders:
            req = build_request(
                name,
                {"x": [f"-40:40:{points}"]},
                {},
                order=order,
                device=device,
                max_elements=None,
            )
            small = build_request(
                name, {"x": [f"-40:40:{exact_points}"]}, {}, order=order, max_elements=None
            )
            torch_result(req)  # warm
            own = took = math.inf
            for _ in range(RUNS):  # interleaved, the best of each kept (the machine is shared
                start = time.perf_counter()  # and noisy; the truth's first run also builds
                result = torch_result(req)  # the program's form once)
                own = min(own, time.perf_counter() - start)
                truth._CACHE.clear()
                start = time.perf_counter()
                found, _ = truth.truths(
                    result, req.program, limit=None, seconds=None, limits=(64.0,)
                )
                took = min(took, time.perf_counter() - start)
            fast = sum(int(np.sum(t.fast)) for t in found.values() if t.fast is not None)
            numbers = sum(t.hi.size for t in found.values())
            saved, truth._fast = truth._fast, lambda *a: None
            try:
                truth._CACHE.clear()
                few = torch_result(small)
                start = time.perf_counter()
                truth.truths(few, small.program, limit=None, seconds=None)
                exact = exact_points / (time.perf_counter() - start)
            finally:
                truth._fast = saved
            rate = points / took
            print(
                f"{name:10} {order:5} {points / own:9.3g} {rate:9.3g} {took / own:6.1f} "
                f"{exact:7.3g} {rate / exact:8.0f}x {1 - fast / numbers:11.2%}"
            )
            if rate < FAST_TARGET:
                misses.append(
                    f"truth of {name} order {order}: {rate:.3g} points/s < {FAST_TARGET:g}"
                )
    return misses


def shards(jobs: int, device: str = "cpu") -> float:
    """accuracy --exhaustive over a small float32 range in shards, in ``jobs`` processes."""
    argv = [sys.executable, "-m", "actgrad", "accuracy", "sigmoid", "--exhaustive"]
    argv += ["--dtypes", "float32", "--order", "1", "--x", "4:5", "--jobs", str(jobs), "--json"]
    took = timed([*argv, "--device", device])
    print(
        f"accuracy sigmoid --exhaustive --dtypes float32 --x 4:5 (2,097,153 inputs), "
        f"--jobs {jobs}, --device {device}: {took:.1f} s, {2_097_153 / took:,.0f} inputs/s"
    )
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--quick", action="store_true", help="the short form (benchmarks/run.py)")
    parser.add_argument(
        "--device", help="torch's side and a sweep on this device (cuda) beside the CPU's"
    )
    args = parser.parse_args()
    if args.device:
        from actgrad.core.errors import ActgradError
        from actgrad.core.evaluator.engine import resolved

        try:
            device = resolved(args.device)
        except ActgradError as exc:
            parser.error(str(exc))
        for where in dict.fromkeys(("cpu", device)):  # the CPU, then the device, in one run
            fast_tier(["sigmoid", "tanh", "gelu"], [1], 1 << 21, 1000, where)
            shards(len(os.sched_getaffinity(0)), where)
        return 0
    if args.quick:
        after = check_in_process(3)
        misses = (
            [f"--check on a scalar after start-up: {after:.1f} ms > 10 ms"] if after > 10 else []
        )
        took = sweep()
        if took > 2 * SWEEP_BEFORE:
            misses.append(f"accuracy sigmoid: {took:.2f} s > 2x {SWEEP_BEFORE} s")
        misses += fast_tier(["sigmoid", "tanh"], [1], 1 << 20, 1000)
        shards(2)
        for miss in misses:
            print(f"MISS {miss}")
        return 1 if misses else 0
    check_overhead(args.runs)
    check_in_process(args.runs)
    sweep()
    against_mp_diff(300)
    misses = fast_tier(
        ["sigmoid", "tanh", "gelu", "silu", "mish", "softplus", "elu", "relu"],
        [0, 1, 2],
        1 << 21,
        2000,
    )
    shards(1)
    shards(2)
    for miss in misses:
        print(f"MISS {miss}")
    if args.report:
        took = timed([sys.executable, str(ROOT / "tools" / "accuracy_report.py"), "--check"])
        print(f"the whole report (tools/accuracy_report.py --check): {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
