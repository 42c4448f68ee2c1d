"""`a:b:n` is torch.linspace(a, b, n, dtype=D) bit for bit in every dtype D (the tutorial's
sigmoid grid, accuracy's standard grid), a range that overflows its dtype is refused, and an
ulp is the dtype's spacing in the true value's binade, the same for both signs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from actgrad.core.accuracy import sweeps
from actgrad.core.accuracy.ulps import ulp, ulp_errors
from actgrad.core.exact.reference import Truth

ACTGRAD = str(Path(sys.executable).with_name("actgrad"))
DTYPES = ("float64", "float32", "float16", "bfloat16")


def actgrad(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ACTGRAD, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_tutorials_grid_is_torch_linspace_bit_for_bit(dtype):
    """The tutorial plots sigmoid over torch.linspace(-10, 10, 1000): the same x and σ(x)."""
    proc = actgrad("sigmoid", "--x", "-10:10:1000", "--dtype", dtype, "--json")
    out = json.loads(proc.stdout)
    dt = getattr(torch, dtype)
    x = torch.linspace(-10, 10, 1000, dtype=dt)
    assert torch.equal(torch.tensor(out["inputs"]["x"], dtype=dt), x)
    assert torch.equal(torch.tensor(out["value"], dtype=dt), torch.sigmoid(x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_accuracy_grid_is_what_it_says(dtype):
    xs = sweeps.grid_values(sweeps.STANDARD, dtype=dtype)
    linear = torch.linspace(-40, 40, 2001, dtype=getattr(torch, dtype)).double().numpy()
    assert np.array_equal(xs[:2001], linear)
    row = next(sweeps.sweep(sweeps.registry.get("softmax"), "-10:10:7", [dtype], 0))
    assert np.array_equal(
        np.sort(row.x), torch.linspace(-10, 10, 7, dtype=getattr(torch, dtype)).double().numpy()
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--x", "-1e308:1e308:5", "--dtype", "float64"], "overflows float64"),
        (["--x", "-6e4:6e4:5", "--dtype", "float16"], "overflows float16"),
        (["--x", "0:1e5:3", "--dtype", "float16"], "float16 cannot hold"),
        (["--x", "-3e38:3e38:3", "--dtype", "float32"], "overflows float32"),
        (["--x", "0:1e39:3", "--dtype", "bfloat16"], "bfloat16 cannot hold"),
    ],
)
def test_a_range_that_overflows_its_dtype_is_refused(args, words):
    proc = actgrad("sigmoid", *args)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert words in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


BITS = {"float64": (53, -1022), "float32": (24, -126), "float16": (11, -14), "bfloat16": (8, -126)}


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_ulp_is_the_spacing_in_the_binade_for_both_signs(dtype):
    precision, lowest = BITS[dtype]
    for e in (0, -1, 3, lowest, lowest + 1):
        for value in (2.0**e, 1.5 * 2.0**e, 2.0 ** (e + 1) * (1 - 2.0**-precision)):
            expected = 2.0 ** (max(math.frexp(value)[1] - 1, lowest) - precision + 1)
            assert ulp(np.array([value, -value]), dtype).tolist() == [expected, expected]
    subnormal = 2.0 ** (lowest - precision + 1)
    assert ulp(np.array([0.0, subnormal, -3 * subnormal]), dtype).tolist() == [subnormal] * 3


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_ulp_of_every_float64_is_its_binades_spacing(dtype):
    """Over float64 numbers of every bit pattern (subnormals, inf and NaN among them), in
    arrays of any shape: math.frexp's binade, one Python number at a time."""
    precision, lowest = BITS[dtype]
    rng = np.random.default_rng(7)
    values = rng.integers(0, 2**64 - 1, 20_000, dtype=np.uint64).view(np.float64)
    values = np.concatenate([values, [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324]])
    expected = [
        2.0 ** (max(math.frexp(v if math.isfinite(v) else 0.0)[1] - 1, lowest) - precision + 1)
        if v != 0
        else 2.0 ** (lowest - precision + 1)
        for v in values.tolist()
    ]
    assert ulp(values, dtype).tolist() == expected
    assert ulp(values.reshape(-1, 2), dtype).reshape(-1).tolist() == expected


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("true", [-1.0, -0.5, -(2.0**-14), 0.75, -0.75])
def test_one_ulp_off_is_one_ulp_below_and_above_a_power_of_two(dtype, true):
    """A number one spacing of the true value's binade away measures 1 ulp, either sign."""
    step = ulp(np.array([true]), dtype)[0]
    got = (
        np.array([true + step, true - step])
        if abs(true) not in (1.0, 0.5, 2.0**-14)
        else (np.array([true - math.copysign(step, true)]))
    )
    err, _ = ulp_errors(got, Truth(np.full(got.shape, true), np.zeros(got.shape)), dtype)
    assert err.tolist() == [1.0] * got.size
