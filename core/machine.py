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
def identity() -> dict[str, str]:
    """{"torch": version and build, "cpu": model, "capability": torch's CPU kernels}."""
    import torch

    build = torch.version.git_version[:12] if torch.version.git_version else "unknown"
    return {
        "torch": f"{torch.__version__} (git {build})",
        "cpu": cpu_model(),
        "capability": torch.backends.cpu.get_cpu_capability(),
    }


def words(machine: dict[str, str]) -> str:
    """A machine in a few words: "torch 2.13.0+cpu (git …) on Intel(R) Xeon(R) … (AVX512)"."""
    return f"torch {machine['torch']} on {machine['cpu']} ({machine['capability']})"


def same(measured: dict[str, str]) -> bool:
    """True when this machine is the one ``measured`` describes."""
    return measured == identity()
