"""Every benchmark's short form in one run, each ratio beside its target, a line per miss.

    python benchmarks/run.py --quick     # under a few minutes on a 2-core machine

Run it idle and with another process busy (``python -c "while True: pass" &``) after any
change to evaluation, and put its output in the closing note: no performance regression
lands unseen. Each benchmark prints ``MISS …`` for a target it missed; the summary repeats
them and the exit status is 1 when there is any.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("startup.py", "server.py", "batch.py", "truth.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the short forms (the default)")
    parser.add_argument("--only", default="", help="comma-separated names, e.g. batch,server")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not args.only or b.removesuffix(".py") in args.only]
    misses: list[str] = []
    started = time.perf_counter()
    for name in chosen:
        print(f"== {name} --quick", flush=True)
        begin = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(HERE / name), "--quick"],
            text=True,
            capture_output=True,
            timeout=900,
        )
        sys.stdout.write(proc.stdout)
        if proc.returncode not in (0, 1):
            misses.append(f"{name}: exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
        misses += [
            f"{name}: {line[5:]}" for line in proc.stdout.splitlines() if line.startswith("MISS ")
        ]
        print(f"   ({time.perf_counter() - begin:.0f} s)")
    print(
        f"== {len(chosen)} benchmarks in {time.perf_counter() - started:.0f} s: "
        f"{len(misses)} target(s) missed"
    )
    for miss in misses:
        print(f"MISS {miss}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
