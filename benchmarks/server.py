"""The warm server against the alternatives, measured side by side in one run.

    python benchmarks/server.py [--runs 11] [--loop 100] [--requests 10000]

1. Median wall time of one-off commands through a running server, beside the torch one-liner
   (`python -c "import torch; …"`) and the same command in-process (ACTGRAD_SERVER=off).
2. A shell loop of N one-off calls with and without the server.
3. The cost of looking for a server when none runs: --help with ACTGRAD_SERVER unset (it
   looks) against ACTGRAD_SERVER=off (it does not).
4. The server's resident memory before and after M mixed requests.
Commands are interleaved, so the machine's noise hits every side alike.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ONE_LINER = (
    "import torch; x = torch.tensor(0.5, requires_grad=True); y = torch.sigmoid(x); "
    "(g,) = torch.autograd.grad(y, x); print(y.item(), g.item())"
)


def timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    return time.perf_counter() - start


def medians(commands: dict[str, tuple[list[str], dict]], runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (command, env) in commands.items():
            times[name].append(timed(command, env))
    return {name: statistics.median(ts) for name, ts in times.items()}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--loop", type=int, default=100)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="the short form (benchmarks/run.py)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.loop, args.requests = 3, 10, 300
    misses = []
    beside = Path(sys.executable).with_name("actgrad")
    actgrad = str(beside) if beside.exists() else shutil.which("actgrad")
    if actgrad is None:
        sys.exit("install actgrad first (pip install .)")
    runtime = tempfile.mkdtemp(prefix="actgrad-bench-")
    base = {k: v for k, v in os.environ.items() if not k.startswith("ACTGRAD_")}
    warm = {**base, "XDG_RUNTIME_DIR": runtime}
    cold = {**warm, "ACTGRAD_SERVER": "off"}
    none = {**base, "XDG_RUNTIME_DIR": tempfile.mkdtemp(prefix="actgrad-none-")}
    py = sys.executable
    one = [actgrad, "sigmoid", "--x", "0.5", "--grad"]

    looked = medians(
        {
            "--help, looking for a server (none runs)": ([actgrad, "--help"], none),
            "--help, ACTGRAD_SERVER=off": ([actgrad, "--help"], cold),
        },
        args.runs,
    )
    server = subprocess.Popen(
        [actgrad, "server", "start", "--foreground", "--idle", "0"],
        env=warm,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while subprocess.run(
            [actgrad, "server", "status"], env=warm, capture_output=True
        ).returncode:
            time.sleep(0.1)
        result = medians(
            {
                "actgrad sigmoid --x 0.5 --grad (server)": (one, warm),
                "actgrad --help (server)": ([actgrad, "--help"], warm),
                "actgrad list (server)": ([actgrad, "list"], warm),
                "actgrad explain sigmoid (server)": ([actgrad, "explain", "sigmoid"], warm),
                "python -c 'import torch; ...'": ([py, "-c", ONE_LINER], base),
                "actgrad sigmoid --x 0.5 --grad (in-process)": (one, cold),
            },
            args.runs,
        )
        print(f"one-off commands, median of {args.runs} runs (budget: <= 0.10 s, >= 15x)")
        bare = result["python -c 'import torch; ...'"]
        for name, t in result.items():
            print(f"  {name:46s} {t:6.3f} s   one-liner / this: {bare / t:5.1f}x")
        served = result["actgrad sigmoid --x 0.5 --grad (server)"]
        if served > 0.1 or bare / served < 15:
            misses.append(
                f"one-off through the server: {served:.3f} s, {bare / served:.1f}x "
                "(budget: <= 0.10 s, >= 15x)"
            )
        loop = f"for i in $(seq {args.loop}); do {actgrad} sigmoid --x 0.$i --grad; done"
        with_server = timed(["bash", "-c", loop], warm)
        without = timed(["bash", "-c", loop], cold)
        print(
            f"shell loop of {args.loop} one-off calls: {with_server:.2f} s with the server, "
            f"{without:.2f} s without: {without / with_server:.1f}x"
        )
        print("looking for a server when none runs (--help, median):")
        for name, t in looked.items():
            print(f"  {name:46s} {t:6.3f} s")
        first, second = looked.values()
        print(f"  difference {1000 * (first - second):+.1f} ms")
        memory(server.pid, warm, args.requests)
    finally:
        subprocess.run([actgrad, "server", "stop"], env=warm, capture_output=True)
        server.wait(timeout=60)
    for miss in misses:
        print(f"MISS {miss}")
    return 1 if misses else 0


def memory(pid: int, env: dict, count: int) -> None:
    """The server's RSS before and after ``count`` mixed requests (through the client, in
    this process: the loop measures the server, not Python start-ups)."""
    os.environ.update({"XDG_RUNTIME_DIR": env["XDG_RUNTIME_DIR"]})
    from actgrad.cli import client

    mix = [
        ["sigmoid", "--x", "0.5", "--grad"],
        ["mse", "--w", "3", "--order", "2"],
        ["expr", "x*sigmoid(x)", "--var", "x=-1:1:50", "--grad"],
        ["softmax", "--x", "0.1,0.5,0.9", "--grad"],
        ["sigmoid", "--x", "abc"],
        ["explain", "gelu"],
        ["tanh", "--x", "-3:3:1000", "--json"],
    ]
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1), os.dup(2)
    before = rss_kib(pid)
    start = time.perf_counter()
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        for i in range(count):
            client.forward(mix[i % len(mix)], auto=False)
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
    elapsed = time.perf_counter() - start
    after = rss_kib(pid)
    print(
        f"server RSS: {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after {count:,} "
        f"mixed requests ({100 * (after - before) / before:+.1f}%); "
        f"{count / elapsed:.0f} requests/s from one client"
    )


if __name__ == "__main__":
    sys.exit(main())
