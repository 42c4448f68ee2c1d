"""Sweep every finite float32 input of the main activations at order 1 and keep each result in
docs/float32/NAME.json, which tools/accuracy_report.py renders into docs/accuracy.md.

    python tools/float32_sweeps.py sigmoid tanh        # about 14 minutes each on 2 cores
    python tools/accuracy_report.py                      # then the report

Each sweep is `actgrad accuracy NAME --exhaustive --dtypes float32 --order 1 --json` on every
core (resumable: a killed run started again continues from its checkpoint); the JSON names the
machine that measured it, and its wall time is kept beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "float32"
FUNCTIONS = ("sigmoid", "tanh", "gelu", "silu")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(FUNCTIONS))
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        argv = [sys.executable, "-m", "actgrad", "accuracy", name, "--exhaustive"]
        argv += ["--dtypes", "float32", "--order", "1", "--jobs", str(args.jobs), "--json"]
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        took = time.perf_counter() - start
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            return done.returncode
        data = json.loads(done.stdout)
        data["wall_seconds"] = round(took, 1)
        data["jobs"] = args.jobs
        (OUT / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
        sys.stderr.write(f"{name}: {took:.0f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
