"""actgrad's derivative routine against torch's own tools, for the forms it computes.

    python benchmarks/derivatives.py

For each form, the time of :func:`actgrad.core.evaluator.derivatives.differentiate` (reverse
passes, a row or column at a time) beside torch.func (jacrev, hessian, vmap of grad) and
torch.autograd.functional (vectorize=True), measured side by side in one run (best of 5), and
whether the numbers are bit-identical to actgrad's (else the largest difference in ulps).
This is the measurement the choice of routine rests on; it is not a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from actgrad.core.evaluator.derivatives import differentiate
from actgrad.core.program import Program


def best(fn: Callable[[], torch.Tensor], runs: int = 5) -> tuple[float, torch.Tensor]:
    out = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def ulps(a: torch.Tensor, b: torch.Tensor) -> str:
    a, b = a.detach().double().numpy(), b.detach().double().numpy()
    if np.array_equal(a, b):
        return "identical"
    spacing = np.abs(np.spacing(np.maximum(np.abs(a), np.abs(b)).astype(np.float32)))
    return f"max {np.max(np.abs(a - b) / spacing):.1f} ulps"


def row(name: str, ours: tuple[float, torch.Tensor], others: dict[str, tuple]) -> None:
    t0, ref = ours
    print(f"  {name}")
    print(f"    {'actgrad (rows/columns)':34s} {t0 * 1e3:9.2f} ms")
    for label, (t, out) in others.items():
        print(f"    {label:34s} {t * 1e3:9.2f} ms  {t / t0:6.2f}x  {ulps(ref, out)}")


def main() -> None:
    torch.manual_seed(0)
    print("derivative forms, float32 on the CPU, best of 5 (ratios: torch's tool / actgrad)")
    along = Program((), ("x",), False, dim=-1)
    for n in (16, 256, 1024):
        x = torch.randn(n)

        def ours(x=x) -> torch.Tensor:
            leaf = x.detach().requires_grad_(True)
            return differentiate(along, F.softmax(leaf, -1), {"x": leaf}, 1)[1]["x"]  # the Jacobian

        row(
            f"softmax Jacobian, n = {n}",
            best(ours),
            {
                "torch.func.jacrev": best(
                    lambda x=x: torch.func.jacrev(lambda t: F.softmax(t, -1))(x)
                ),
                "autograd.functional (vectorize)": best(
                    lambda x=x: torch.autograd.functional.jacobian(
                        lambda t: F.softmax(t, -1), x, vectorize=True
                    )
                ),
            },
        )
    scalar = Program((), ("x",), False)

    def f(t: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(t) * torch.tanh(t)).sum()

    for n in (16, 256):
        x = torch.randn(n)

        def ours_h(x=x) -> torch.Tensor:
            leaf = x.detach().requires_grad_(True)
            return differentiate(scalar, f(leaf), {"x": leaf}, 2)[0][2]["x"]

        row(
            f"Hessian of sum(sigmoid(x)·tanh(x)), n = {n}",
            best(ours_h),
            {
                "torch.func.hessian": best(lambda x=x: torch.func.hessian(f)(x)),
                "autograd.functional (vectorize)": best(
                    lambda x=x: torch.autograd.functional.hessian(f, x, vectorize=True)
                ),
            },
        )
    pointwise = Program((), ("x",), True)
    x = torch.randn(1_000_000)

    def ours_e() -> torch.Tensor:
        leaf = x.detach().requires_grad_(True)
        return differentiate(pointwise, F.gelu(leaf), {"x": leaf}, 2)[0][2]["x"]

    g2 = torch.func.vmap(torch.func.grad(torch.func.grad(F.gelu)))
    row(
        "gelu'' elementwise, 1e6 points (whole tensor)",
        best(ours_e),
        {
            "torch.func.vmap(grad(grad))": best(lambda: g2(x)),
        },
    )


if __name__ == "__main__":
    main()
