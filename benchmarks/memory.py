"""Peak memory of the worst request the cost model accepts, for each kind, at a cap.

    python benchmarks/memory.py [--cap N] [--kinds a,b,...]

For each kind of request, the largest size the cost model accepts at the cap (found by
bisection on the estimate, which imports no torch) is run as a real `actgrad` process; its
peak resident memory (the kernel's maxrss of the child) is printed beside the estimate, the
memory budget (4 × 8 bytes × the cap) and the cap's bytes (8 bytes × the cap), and the ratio of
peak to the cap's bytes. The goal: no accepted request goes far past 4× the cap's bytes.
A scalar request (`actgrad sigmoid --x 0.5`) is measured too, as the floor every run pays.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from actgrad.core import cost
from actgrad.core.errors import TooLarge
from actgrad.core.request import build_expr_request, build_request, enforce_cost, total_cost

Kind = tuple[Callable[[int], list[str]], Callable[[int, int], object], str]


def _column(n: int, path: str) -> str:
    with open(path, "w") as f:
        json.dump([[i / n] for i in range(n)], f)
    return path


KINDS: dict[str, Kind] = {
    "elementwise-json": (
        lambda n: ["tanh", "--x", f"-5:5:{n}", "--order", "4", "--json"],
        lambda n, cap: build_request("tanh", {"x": [f"-5:5:{n}"]}, order=4, max_elements=cap),
        "tanh, value and 4 derivatives, JSON",
    ),
    "elementwise-plain": (
        lambda n: ["tanh", "--x", f"-5:5:{n}", "--grad", "--format", "plain"],
        lambda n, cap: build_request(
            "tanh", {"x": [f"-5:5:{n}"]}, grad=True, max_elements=cap, streamed=True
        ),
        "tanh and tanh', plain lines",
    ),
    "jacobian": (
        lambda n: ["softmax", "--x", f"0:1:{n}", "--grad", "--json"],
        lambda n, cap: build_request("softmax", {"x": [f"0:1:{n}"]}, grad=True, max_elements=cap),
        "softmax's Jacobian, JSON",
    ),
    "broadcast-loss": (
        lambda n: [
            "mse",
            "--pred",
            "-",
            "--target",
            f"0:1:{n}",
            "--broadcast",
            "--grad",
            "--json",
        ],
        lambda n, cap: build_request(
            "mse",
            {"pred": [json.dumps([[0.5]] * n)], "target": [f"0:1:{n}"]},
            grad=True,
            broadcast=True,
            max_elements=cap,
        ),
        "mse of an n×1 column against n points (n² broadcast), gradient, JSON",
    ),
    "model-jacobian": (
        lambda n: [
            "mse",
            "--w",
            "3",
            "--x",
            f"0:1:{n}",
            "--y",
            "0",
            "--reduction",
            "none",
            "--grad",
            "--json",
        ],
        lambda n, cap: build_request(
            "mse",
            {"w": ["3"], "x": [f"0:1:{n}"], "target": ["0"]},
            {"reduction": "none"},
            grad=True,
            max_elements=cap,
        ),
        "mse --reduction none, Jacobian w.r.t. the broadcast w, JSON",
    ),
    "expr-hessian": (
        lambda n: [
            "expr",
            "sum(sigmoid(x*y))",
            "--var",
            "x=-",
            "--var",
            "y=0:1:100",
            "--grad",
            "x",
            "--order",
            "2",
            "--json",
        ],
        lambda n, cap: build_expr_request(
            "sum(sigmoid(x*y))",
            [f"x={json.dumps([[0.5]] * n)}", "y=0:1:100"],
            wrt=["x"],
            order=2,
            max_elements=cap,
        ),
        "Hessian of sum(sigmoid(x·y)), x an n×1 column, JSON",
    ),
    "check": (
        lambda n: ["sigmoid", "--x", f"-5:5:{n}", "--grad", "--check", "--format", "plain"],
        lambda n, cap: build_request(
            "sigmoid", {"x": [f"-5:5:{n}"]}, grad=True, check=True, max_elements=cap, streamed=True
        ),
        "sigmoid --grad --check, plain",
    ),
    "dtypes": (
        lambda n: [
            "sigmoid",
            "--x",
            f"-5:5:{n}",
            "--order",
            "2",
            "--dtypes",
            "float32,float16,bfloat16",
            "--format",
            "plain",
        ],
        lambda n, cap: _dtypes(n, cap),
        "sigmoid --order 2 --dtypes float32,float16,bfloat16, plain",
    ),
}


def _dtypes(n: int, cap: int) -> object:
    req = build_request("sigmoid", {"x": [f"-5:5:{n}"]}, order=2, max_elements=cap, streamed=True)
    enforce_cost(req, ["float64", "float32", "float16", "bfloat16"])
    return req


def largest_accepted(build: Callable[[int, int], object], cap: int) -> int:
    """The largest n the cost model accepts (bisection; sizes grow by at most doubling)."""
    low, high = 1, 2
    while True:
        try:
            build(high, cap)
        except TooLarge:
            break
        low, high = high, high * 2
        if high > 1 << 40:
            return low
    while high - low > max(1, low // 200):
        mid = (low + high) // 2
        try:
            build(mid, cap)
            low = mid
        except TooLarge:
            high = mid
    return low


def peak_rss(argv: list[str], env: dict[str, str]) -> tuple[int, float, int]:
    """(maxrss in bytes, wall seconds, exit code) of one child process (os.wait4's rusage)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss * 1024, time.perf_counter() - start, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=int, default=2**27)
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTGRAD_")}
    env["ACTGRAD_MAX_ELEMENTS"] = str(args.cap)
    cap_bytes = 8 * args.cap
    print(
        f"cap {args.cap:,} elements = {cost.human_bytes(cap_bytes)} in float64; memory budget "
        f"{cost.human_bytes(cost.memory_budget(args.cap))}"
    )
    floor, _, _ = peak_rss([sys.executable, "-m", "actgrad.cli", "sigmoid", "--x", "0.5"], env)
    print(f"floor: actgrad sigmoid --x 0.5 peaks at {cost.human_bytes(floor)}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.kinds.split(","):
            argv_of, build, what = KINDS[name]
            n = largest_accepted(build, args.cap)
            request = build(n, args.cap)
            whole = not getattr(request, "streamed", False)
            dtypes = ["float64", "float32", "float16", "bfloat16"] if name == "dtypes" else []
            expected = total_cost(request, dtypes).peak(whole)
            argv = [sys.executable, "-m", "actgrad.cli", *argv_of(n)]
            if "-" in argv or "x=-" in argv:  # an n×1 column, as a JSON array on stdin
                path = _column(n, os.path.join(tmp, "column.json"))
                argv = ["sh", "-c", 'exec "$@" < "$0"', path, *argv]
            peak, wall, code = peak_rss(argv, env)
            above = peak - floor
            print(
                f"{name:18} n={n:>11,}  peak {cost.human_bytes(peak):>10}, "
                f"{cost.human_bytes(above):>10} above the floor (estimate "
                f"{cost.human_bytes(expected):>10}): {above / cap_bytes:4.2f}x the cap's "
                f"bytes  {wall:6.1f} s  exit {code}  ({what})"
            )


if __name__ == "__main__":
    main()
