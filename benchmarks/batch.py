"""Batch throughput against a hand-written loop of torch calls, and memory on a long stream.

    python benchmarks/batch.py [--requests N] [--stream M]

1. N scalar requests (default 20,000) over a mix of elementwise activations with --grad:
   requests per second of `actgrad batch` (in process, output to /dev/null, torch already
   imported) and of a Python loop doing torch.tensor, the function, torch.autograd.grad and
   .item() one request at a time, with the ratio; plus the end-to-end wall time of the
   `actgrad batch FILE` process.
2. Peak resident memory of `actgrad batch` answering M (default 1,000,000) streamed requests,
   next to M/10, to show that it stays flat.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

FUNCTIONS = ["sigmoid", "tanh", "relu", "gelu", "silu", "softplus", "elu", "leaky_relu", "mish",
             "softsign"]  # fmt: skip


def requests(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [
        {"fn": rng.choice(FUNCTIONS), "x": round(rng.uniform(-6, 6), 6), "grad": True, "id": i}
        for i in range(n)
    ]


def loop(reqs: list[dict]) -> float:
    import torch
    import torch.nn.functional as F

    start = time.perf_counter()
    for r in reqs:
        x = torch.tensor(r["x"], requires_grad=True)
        y = getattr(F, r["fn"])(x)
        (g,) = torch.autograd.grad(y, x)
        _ = (y.item(), g.item())
    return time.perf_counter() - start


def in_process(path: Path) -> float:
    from actgrad.cli.batch import run_batch

    saved_out, saved_err = sys.stdout, sys.stderr
    with open(os.devnull, "w") as sink:
        sys.stdout, sys.stderr = sink, io.StringIO()
        try:
            start = time.perf_counter()
            code = run_batch(str(path), False, 4096, 1 << 20, 2**27)
            elapsed = time.perf_counter() - start
        finally:
            sys.stdout, sys.stderr = saved_out, saved_err
    assert code == 0, "every request should succeed"
    return elapsed


def peak_rss_mb(count: int) -> float:
    """Max RSS of an actgrad batch process fed `count` generated requests through a pipe."""
    gen = (
        "import sys, orjson\n"
        f"for i in range({count}):\n"
        "    sys.stdout.buffer.write(orjson.dumps({'fn': 'sigmoid', 'x': (i % 997) / 97.0,"
        " 'grad': True}) + b'\\n')\n"
    )
    script = (
        "import resource, subprocess, sys\n"
        f"g = subprocess.Popen([sys.executable, '-c', {gen!r}], stdout=subprocess.PIPE)\n"
        "b = subprocess.run([sys.executable, '-m', 'actgrad.cli', 'batch'], stdin=g.stdout,"
        " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "g.wait()\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--stream", type=int, default=1_000_000)
    args = parser.parse_args()
    reqs = requests(args.requests)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requests.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in reqs))
        import torch  # noqa: F401 - both sides start with torch imported

        in_process(path)  # warm up
        ours = min(in_process(path) for _ in range(3))
        theirs = min(loop(reqs) for _ in range(3))
        start = time.perf_counter()
        command = [sys.executable, "-m", "actgrad.cli", "batch", str(path)]
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        wall = time.perf_counter() - start
    n = args.requests
    print(f"{n:,} scalar requests with --grad over {len(FUNCTIONS)} activations (best of 3)")
    print(f"  actgrad batch (in process)   {n / ours:12,.0f} requests/s")
    print(f"  hand-written torch loop      {n / theirs:12,.0f} requests/s")
    print(f"  ratio batch / loop           {theirs / ours:12.1f}x")
    print(f"  actgrad batch FILE process   {wall:12.2f} s wall, start-up included")
    small = max(args.stream // 10, 1)
    print(f"peak RSS of actgrad batch on a stream: {small:,} requests {peak_rss_mb(small):.0f} MB,"
          f" {args.stream:,} requests {peak_rss_mb(args.stream):.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
