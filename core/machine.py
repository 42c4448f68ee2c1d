"""The machine torch computes on, as far as its numbers depend on it: torch's version and
build, the CPU model and the CPU capability torch dispatches its kernels for (AVX2 and
AVX-512 kernels can round differently). Measured facts say where they were measured."""

from __future__ import annotations

import functools
import platform


@functools.cache
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@functools.cache
def identity(device: str = "cpu") -> dict[str, str]:
    """What computes on ``device`` (a resolved name: cpu, cuda:N, mps). The CPU: {"torch":
    version and build, "cpu": model, "capability": torch's CPU kernels}; a GPU also names
    itself: {"device": "cuda", "gpu": name, "capability": sm_XY, "cuda": version, …}."""
    import torch

    build = torch.version.git_version[:12] if torch.version.git_version else "unknown"
    out = {"torch": f"{torch.__version__} (git {build})", "cpu": cpu_model()}
    kind = torch.device(device).type
    if kind == "cpu":
        return {**out, "capability": torch.backends.cpu.get_cpu_capability()}
    if kind == "cuda":
        props = torch.cuda.get_device_properties(torch.device(device))
        return {
            **out,
            "device": "cuda",
            "gpu": props.name,
            "capability": f"sm_{props.major}{props.minor}",
            "cuda": str(torch.version.cuda or torch.version.hip or "unknown"),
        }
    return {**out, "device": kind}


def device_of(measured: dict[str, str]) -> str:
    """The kind of device a measurement was made on: cpu, cuda, mps."""
    return measured.get("device", "cpu")


def words(machine: dict[str, str]) -> str:
    """A machine in a few words: "torch 2.13.0+cpu (git …) on Intel(R) Xeon(R) … (AVX512)",
    "torch 2.11.0+cu130 (git …) on NVIDIA H200 (CUDA 13.0, sm_90)"."""
    if "gpu" in machine:
        return (
            f"torch {machine['torch']} on {machine['gpu']} "
            f"(CUDA {machine['cuda']}, {machine['capability']})"
        )
    if device_of(machine) != "cpu":
        return f"torch {machine['torch']} on {device_of(machine)} ({machine['cpu']})"
    return f"torch {machine['torch']} on {machine['cpu']} ({machine['capability']})"


def same(measured: dict[str, str], device: str = "cpu") -> bool:
    """True when ``device`` of this machine is the one ``measured`` describes."""
    return measured == identity(device)
