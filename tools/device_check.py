"""Evaluate every registry entry on an accelerator and compare it with the CPU.

    python tools/device_check.py [--device cuda]

For each function (default parameters), dtype and derivative kind, the accelerator's value and
derivatives must agree with the CPU's within torch.testing's default tolerances for the dtype
(float16/bfloat16 differences are reported, since CPU and GPU kernels round differently).
Stochastic functions are only checked to run (their random streams differ by device).
Then the command line is run with --device cuda, auto and an absent ordinal.
Exit status 1 if a float64 or float32 comparison fails or a command misbehaves.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys

import numpy as np
import orjson
from actgrad.core import evaluate
from actgrad.core.accuracy.sweeps import own_params
from actgrad.core.functions import registry
from actgrad.core.request import build_request

TOL = {
    "float64": (1e-7, 1e-7),
    "float32": (1.3e-6, 1e-5),
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
}
X = "[[-3.3,-1,-0.25,0],[0.001,0.25,1.5707963,501]]"


def arrays(result) -> dict[str, np.ndarray]:
    out = {"value": result.value}
    for k, grads in result.derivatives.items():
        out[f"grad{k}"] = grads["x"]
    out.update({f"jacobian.{k}": v for k, v in result.jacobian.items()})
    return out


def compare(spec, dtype: str, device: str, options: dict) -> list[str]:
    def run(dev: str):
        seed = 0 if spec.stochastic else None
        params = own_params(spec, None) or None
        req = build_request(
            spec.name, {"x": [X]}, params, device=dev, dtype=dtype, seed=seed, **options
        )
        return evaluate(req)

    ours = run(device)
    if spec.stochastic:
        return []
    cpu = run("cpu")
    rtol, atol = TOL[dtype]
    problems = []
    for key, ref in arrays(cpu).items():
        got = arrays(ours)[key].astype(np.float64)
        ref = ref.astype(np.float64)
        if not np.allclose(got, ref, rtol=rtol, atol=atol, equal_nan=True):
            worst = np.nanmax(np.abs(got - ref))
            problems.append(f"{spec.name} {dtype} {options} {key}: max |diff| {worst:.3g}")
    return problems


def numbers(data: dict) -> dict[str, np.ndarray]:
    keys = ["value", *(k for k in data if k.startswith(("grad", "jacobian")))]
    out = {}
    for key in keys:
        part = data[key]
        for name, arr in part.items() if isinstance(part, dict) else [("", part)]:
            out[f"{key}.{name}"] = np.array(arr, dtype=np.float64)  # None (nan/inf) -> nan
    return out


def compare_example(spec, dtype: str, device: str) -> list[str]:
    """The registry example on the device against the CPU, through the command line."""
    from actgrad.cli.app import app
    from typer.testing import CliRunner

    args = [*shlex.split(spec.example)[1:], "--dtype", dtype, "--json", "--seed", "0"]
    if not spec.stochastic:
        args = args[:-2]
    runs = {}
    for dev in ("cpu", device):
        result = CliRunner().invoke(app, [*args, "--device", dev])
        if result.exit_code != 0:
            refused = "kernel" in result.stderr and dev == "cpu"
            return [] if refused else [f"{spec.name} {dtype} on {dev}: {result.stderr.strip()}"]
        runs[dev] = numbers(orjson.loads(result.stdout))
    if spec.stochastic:
        return []
    rtol, atol = TOL[dtype]
    return [
        f"{spec.name} {dtype} example {key}: max |diff| {np.nanmax(np.abs(got - ref)):.3g}"
        for key, ref in runs["cpu"].items()
        if not np.allclose(got := runs[device][key], ref, rtol=rtol, atol=atol, equal_nan=True)
    ]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "actgrad.cli", *args], capture_output=True, text=True, timeout=300
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    device = parser.parse_args().device
    failed = False
    checked = 0
    for spec in registry.specs():
        for dtype in TOL:
            checked += 1
            for line in compare_example(spec, dtype, device):
                print(("FAIL " if dtype in ("float64", "float32") else "note ") + line)
                failed |= dtype in ("float64", "float32")
        if spec.kind != "activation":
            continue
        kinds = (
            [{"order": "2" if spec.max_order >= 2 else "1"}]
            if spec.pointwise
            else [{"grad": True}, {"index": "1", "order": "2"}]
        )
        for dtype in TOL:
            for options in kinds:
                checked += 1
                for line in compare(spec, dtype, device, options):
                    print(("FAIL " if dtype in ("float64", "float32") else "note ") + line)
                    failed |= dtype in ("float64", "float32")
    print(f"{checked} device-vs-cpu comparisons; failures: {failed}")

    ok = cli("sigmoid", "--x", "0.5", "--grad", "--device", device, "--json")
    data = orjson.loads(ok.stdout) if ok.returncode == 0 else {}
    print("cli cuda:", ok.returncode, data.get("device"), data.get("value"), data.get("grad"))
    auto = cli("softmax", "--x", "0.1,0.5,0.9", "--grad", "--device", "auto", "--json")
    print("cli auto:", auto.returncode, orjson.loads(auto.stdout)["device"] if auto.stdout else "")
    absent = cli("sigmoid", "--x", "1", "--device", "cuda:63")
    print("cli cuda:63:", absent.returncode, absent.stderr.strip())
    big = cli("tanh", "--x", "-10:10:10000000", "--grad", "--device", device, "--format", "plain")
    print("cli 1e7 points on", device, ":", big.returncode, len(big.stdout.splitlines()), "lines")
    failed |= not (ok.returncode == 0 and data.get("device", "").startswith("cuda"))
    failed |= auto.returncode != 0 or absent.returncode != 2 or big.returncode != 0
    failed |= absent.stderr.count("\n") != 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
