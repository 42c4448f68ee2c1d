"""accuracy --exhaustive: every finite input of float16 and bfloat16 (and of float32 or float64
between bounds), measured as accuracy measures a grid; what cannot be swept is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from actgrad.core.accuracy.sweeps import Exhaustive
from scipy.special import expit

from tests.test_new_user import cli


def _every(dtype: torch.dtype) -> np.ndarray:
    """Every finite number of a 16-bit dtype, from torch's own reading of each bit pattern."""
    patterns = torch.arange(-(1 << 15), 1 << 15, dtype=torch.int32).to(torch.int16)
    values = patterns.view(dtype).to(torch.float64).numpy()
    return np.sort(values[np.isfinite(values)], kind="stable")


@pytest.mark.parametrize(("dtype", "count"), [("float16", 63_488), ("bfloat16", 65_280)])
def test_every_finite_bit_pattern_once(dtype, count):
    values = Exhaustive().values(dtype)
    assert values.size == Exhaustive().count(dtype) == count
    expected = _every(getattr(torch, dtype))
    assert np.array_equal(values, expected)
    assert np.signbit(values).sum() == np.signbit(expected).sum()  # −0 and +0 both


def test_bounds_take_every_number_between_them():
    low, high = np.float32(1.0), np.float32(1.0001)
    first, last = low.view(np.int32), high.view(np.int32)
    if float(high) > 1.0001:  # rounded up to float32: the number below is the last
        last -= 1
    expected = np.arange(first, last + 1, dtype=np.int32).view(np.float32).astype(np.float64)
    assert np.array_equal(Exhaustive(1.0, 1.0001).values("float32"), expected)
    assert Exhaustive().count("float32") == (1 << 32) - (1 << 24)  # all but inf and NaN
    assert Exhaustive(-0.0, 0.0).values("bfloat16").tolist() == [0.0, 0.0]


@pytest.mark.slow
def test_bfloat16_sigmoid_derivative_every_input():
    """The issue's example: the zeros it counts are the zeros torch gives where the true σ′
    (σ(x)·σ(−x) in float64, scipy) rounds to a nonzero bfloat16."""
    done = cli("accuracy", "sigmoid", "--dtypes", "bfloat16", "--exhaustive", "--order", "1",
               "--json")  # fmt: skip
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["grid"] == "exhaustive" and data["inputs"] == {"bfloat16": 65_280}
    grad = next(r for r in data["rows"] if r["quantity"] == "grad")
    assert grad["points"] == 65_280
    x = torch.tensor(_every(torch.bfloat16), dtype=torch.bfloat16, requires_grad=True)
    (got,) = torch.autograd.grad(torch.sigmoid(x).sum(), x)
    xs = x.detach().double().numpy()
    true = expit(xs) * expit(-xs)
    true16 = torch.tensor(true).to(torch.bfloat16).double().numpy()
    zeros = int(((got.double().numpy() == 0) & (true16 != 0)).sum())
    assert grad["counts"]["zero"] == zeros > 400
    lost = [(r["from"], r["to"]) for r in grad["all_digits_lost"]]
    assert any(a <= 6.25 and b >= 80 for a, b in lost)  # σ(x) rounds to 1 from x = 6.25


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--dtypes", "float32", "--plot"], "keeps no point to draw"),
        (["--dtypes", "float64"], "give --x LOW:HIGH"),
        (["--max-elements", "1000"], "over the element cap"),
        (["--max-points", "1000"], "over the budget"),
        (["--dtypes", "float32", "--x", "0:1", "--output", "a.png"], "keeps no point to draw"),
        (["--x", "1"], "two bounds"),
        (["--x", "2:1"], "LOW ≤ HIGH"),
    ],
)
def test_what_cannot_be_swept_is_refused_with_its_size(args, says):
    done = cli("accuracy", "sigmoid", "--exhaustive", *args)
    assert done.exit_code == 2, done.output
    assert done.stdout == ""
    assert says in done.stderr


def test_float32_between_bounds():
    done = cli("accuracy", "tanh", "--exhaustive", "--dtypes", "float32", "--x", "1:1.0001",
               "--order", "0", "-f", "plain")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("tanh\tfloat32\tvalue\t")


@pytest.mark.slow
def test_curves_of_both_dtypes_as_an_image(tmp_path):
    target = tmp_path / "every.png"
    done = cli("accuracy", "sigmoid", "--exhaustive", "--order", "0", "--output", str(target))
    assert done.exit_code == 0, done.output
    assert target.read_bytes().startswith(b"\x89PNG")
    shown = cli("accuracy", "sigmoid", "--exhaustive", "--order", "0", "--plot", "--width", "60")
    assert "float16" in shown.stdout and "bfloat16" in shown.stdout


ACTGRAD = [sys.executable, "-m", "actgrad"]
EVERYTHING = ["--max-points", "100000000", "--max-elements", "1000000000"]


@pytest.mark.slow
def test_ctrl_c_stops_a_sweep():
    proc = subprocess.Popen(
        # every function's every 16-bit input: minutes
        [*ACTGRAD, "accuracy", "--all", "--exhaustive", *EVERYTHING],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    first = proc.stderr.readline()  # the estimate: the sweep has begun
    assert "Ctrl-C stops" in first, first
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = first + err
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
