"""Measure torch on a GPU against the true value and beside the CPU: the data of docs/accuracy.md's
CUDA section, in one run of at most --minutes (10 by default) on one GPU.

    python tools/cuda_accuracy.py         # with CUDA: docs/cuda/accuracy.json
    python tools/accuracy_report.py       # then the report (its CUDA section)
    python tools/cuda_accuracy.py --device cpu --quick --out /tmp/dry.json   # a dry run

In order, each phase only where the time left allows it (the JSON says which ran):
1. the standard sweep (every function accuracy sweeps, every dtype, orders 0-2), torch on the
   device, and per quantity the inputs where its bits differ from the CPU's;
2. every finite float16 and bfloat16 input of the main activations, order 1, likewise;
3. every finite float32 input of sigmoid, tanh, gelu and silu, order 1 (in shards on every
   core), as long as the estimate fits in what is left.
The JSON names the GPU (name, CUDA version, sm_XY), torch's build and the CPU compared with.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import orjson
from actgrad.core import machine
from actgrad.core.accuracy import exhaustive, sweeps
from actgrad.core.evaluator.engine import resolved
from actgrad.core.functions import registry

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "cuda" / "accuracy.json"
MAIN = ("sigmoid", "tanh", "gelu", "silu", "mish", "softplus", "elu", "logsigmoid", "tanhshrink")
FLOAT32 = ("sigmoid", "tanh", "gelu", "silu")
QUICK = {"functions": ("sigmoid", "gelu"), "grid": "-8:8:201", "float32": ("sigmoid",)}


def rows_of(
    spec: registry.FunctionSpec,
    grid: sweeps.Grid,
    dtypes: list[str],
    order: int,
    device: str,
    label: str,
) -> list[dict]:
    """The sweep's rows on ``device``, each with the inputs where it differs from the CPU."""
    differs = sweeps.device_differences(spec, grid, dtypes, order, device)
    out = []
    for row in sweeps.sweep(spec, grid, dtypes, order, device=device):
        data = row.to_dict()
        data["grid"] = label
        data["differs_from_cpu"] = differs.get((row.dtype, row.quantity))
        out.append(data)
    return out


def float32_rows(names: tuple[str, ...], device: str, jobs: int, left: float) -> list[dict]:
    """Every finite float32 input of ``names`` at order 1, a function at a time while its
    estimate fits in ``left`` seconds; (no per-input CPU comparison: 4.3e9 inputs)."""
    out = []
    for name in names:
        spec = registry.get(name)
        grid = sweeps.Exhaustive()
        todo = exhaustive.tasks([spec], grid, ["float32"], 1, {}, None, device=device)
        began = time.perf_counter()
        estimate = exhaustive.seconds(todo) / max(1, min(jobs, len(todo)))
        if estimate > left:
            sys.stderr.write(f"float32 {name}: about {estimate:.0f} s, over the {left:.0f} s\n")
            break
        done: dict[int, dict] = {}

        def keep(task: exhaustive.Task, tallies: dict, done: dict[int, dict] = done) -> None:
            done[task.index] = tallies

        exhaustive.run_local(todo, jobs, keep)
        for row in exhaustive.rows(todo, done):
            data = row.to_dict()
            data["grid"] = "every float32"
            data["differs_from_cpu"] = None
            out.append(data)
        left -= time.perf_counter() - began
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--quick", action="store_true", help="a few functions, a small grid")
    parser.add_argument("--out", type=Path, default=None, help=f"default {OUT.relative_to(ROOT)}")
    args = parser.parse_args()
    device = resolved(args.device)
    if device == "cpu" and args.out is None:
        parser.error("the CPU is what docs/accuracy.md already measures: give --out for a dry run")
    out = args.out or OUT
    started = time.perf_counter()
    deadline = started + args.minutes * 60 - 20  # the JSON's writing, the interpreter's exit

    def left() -> float:
        return deadline - time.perf_counter()

    names = QUICK["functions"] if args.quick else None
    specs = sweeps.functions(list(names), False) if names else sweeps.functions([], True)
    grid = QUICK["grid"] if args.quick else sweeps.STANDARD
    rows: list[dict] = []
    phases: dict[str, str] = {}
    for spec in specs:
        if left() < 0:
            break
        rows += rows_of(spec, grid, list(sweeps.DTYPES), 2, device, "standard")
    phases["standard"] = "complete" if left() >= 0 else "cut short by the time limit"
    main_names = QUICK["functions"] if args.quick else MAIN
    sixteen = sweeps.Exhaustive()
    for name in main_names:
        if left() < 0:
            break
        spec = registry.get(name)
        rows += rows_of(spec, sixteen, ["float16", "bfloat16"], 1, device, "every 16-bit")
    phases["every 16-bit"] = "complete" if left() >= 0 else "cut short by the time limit"
    names32 = QUICK["float32"] if args.quick else FLOAT32
    found = float32_rows(names32, device, args.jobs, left()) if left() > 0 else []
    rows += found
    done32 = sorted({r["function"] for r in found})
    phases["every float32"] = ", ".join(done32) if done32 else "none (no time left)"
    data = {
        "format": 1,
        "device": device,
        "machine": machine.identity(device),
        "cpu": machine.identity("cpu"),
        "grid": grid,
        "phases": phases,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_INDENT_2))
    sys.stderr.write(f"wrote {out} in {data['seconds']:.0f} s: {phases}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
