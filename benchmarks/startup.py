"""Startup and one-off evaluation time, against the obvious alternatives, in one run.

    python benchmarks/startup.py [--runs N]

Prints the median wall time of each command over N interleaved runs and ratios against
(a) `python -c pass` for the paths that must not import torch, and (b) the bare
`python -c "import torch; ..."` one-liner that computes the same value and gradient.
The machine is shared and noisy: compare the ratios, not the lone times.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ONE_LINER = (
    "import torch; x = torch.tensor(0.5, requires_grad=True); y = torch.sigmoid(x); "
    "y.backward(); print(y.item(), x.grad.item())"
)


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr.decode()}")
    return elapsed


def medians(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for cmd in commands.values():  # warm the file cache once
        timed(cmd)
    for _ in range(runs):
        for name, cmd in commands.items():  # interleaved, so noise hits all alike
            times[name].append(timed(cmd))
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="the short form (benchmarks/run.py)")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    misses = []
    beside = Path(sys.executable).with_name("actgrad")  # not a shim (pyenv) in front of it
    actgrad = str(beside) if beside.exists() else shutil.which("actgrad")
    if actgrad is None:
        sys.exit("install actgrad first (pip install -e .)")
    python = sys.executable

    light = {
        "python -c pass": [python, "-c", "pass"],
        "actgrad --help": [actgrad, "--help"],
        "actgrad --version": [actgrad, "--version"],
        "actgrad list": [actgrad, "list"],
        "actgrad explain sigmoid": [actgrad, "explain", "sigmoid"],
    }
    result = medians(light, runs)
    base = result["python -c pass"]
    print(f"no-torch paths, median of {runs} runs (budget: well under 0.3 s each)")
    for name, t in result.items():
        print(f"  {name:26s} {t:6.3f} s   {t / base:4.2f}x python -c pass")
        if t > 0.3:
            misses.append(f"{name}: {t:.3f} s > 0.3 s")

    heavy = {
        "python -c 'import torch; ...'": [python, "-c", ONE_LINER],
        "actgrad sigmoid --x 0.5 --grad --json": [
            actgrad,
            "sigmoid",
            "--x",
            "0.5",
            "--grad",
            "--json",
        ],
    }
    result = medians(heavy, runs)
    bare, ours = result.values()
    print(f"one-off evaluation, median of {runs} runs (budget: at most 1.10x)")
    for name, t in result.items():
        print(f"  {name:40s} {t:6.3f} s")
    print(f"  ratio actgrad / one-liner: {ours / bare:.3f}x")
    if ours > 1.1 * bare:
        misses.append(f"one-off: {ours / bare:.3f}x the one-liner > 1.10x")
    for miss in misses:
        print(f"MISS {miss}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
