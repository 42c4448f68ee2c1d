"""accuracy --exhaustive in shards (core/accuracy/exhaustive.py): a sweep of every input cut
into shards gives what the sweep in one piece gives (the same maxima, counts and worst
points; the median to its histogram's bin), whatever runs the shards and in whatever order;
a killed sweep resumes from its checkpoint to the same result; Ctrl-C stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from actgrad.core.accuracy import exhaustive, sweeps
from actgrad.core.functions import registry

ENV = {**os.environ, "ACTGRAD_SERVER": "off"}


def _sweep(name: str, low: float, high: float, dtype: str, order: int = 1, shard: int = 1 << 11):
    spec = registry.get(name)
    grid = sweeps.Exhaustive(low, high)
    todo = exhaustive.tasks([spec], grid, [dtype], order, {}, None, shard=shard)
    return spec, grid, todo


def _run(todo, jobs=1, reverse=False):
    done = {}
    order = todo[::-1] if reverse else todo
    exhaustive.run_local(order, jobs, lambda t, r: done.__setitem__(t.index, r))
    return exhaustive.rows(todo, done)


@pytest.mark.parametrize(
    ("name", "low", "high", "dtype"),
    [
        ("sigmoid", 4.0, 4.05, "float32"),
        ("tanh", 1e-3, 1.004e-3, "float32"),
        ("tanhshrink", -1e-30, 1e-30, "bfloat16"),
        ("gelu", -6.0, -5.95, "float32"),
        ("silu", -40.0, 40.0, "bfloat16"),
        ("softplus", -60.0, 60.0, "float16"),
    ],
)
def test_shards_give_what_the_whole_sweep_gives(name, low, high, dtype):
    spec, grid, todo = _sweep(name, low, high, dtype)
    assert len(todo) > 1
    whole = {r.quantity: r for r in sweeps.sweep(spec, grid, [dtype], 1, max_elements=None)}
    for row in _run(todo):
        ref = whole[row.quantity]
        assert row.points == ref.points
        assert row.max_ulp == ref.max_ulp
        assert row.worst == ref.worst
        assert {k: row.counts[k] for k in ref.counts} == ref.counts
        assert row.counts["unjudged"] == 0
        if ref.median_ulp is not None:
            step = 1 / exhaustive.FINE if ref.median_ulp < 4 else ref.median_ulp * 2e-3
            assert abs(row.median_ulp - ref.median_ulp) <= step
        # the regions cover the same inputs (the shards' may be merged to MAX_REGIONS)
        assert sum(r["points"] for r in row.regions) == sum(r["points"] for r in ref.regions)
        if ref.regions:
            assert row.regions[0]["from"] == ref.regions[0]["from"]
            assert row.regions[-1]["to"] == ref.regions[-1]["to"]


def test_the_result_does_not_depend_on_what_ran_the_shards_or_in_what_order():
    _, _, todo = _sweep("sigmoid", 6.0, 6.05, "float32")
    one = [r.to_dict() for r in _run(todo, jobs=1)]
    assert [r.to_dict() for r in _run(todo, jobs=1, reverse=True)] == one
    assert [r.to_dict() for r in _run(todo, jobs=2)] == one


def test_regions_are_capped_by_merging_across_the_smallest_gaps():
    rng = np.random.default_rng(3)
    first = np.sort(rng.choice(1_000_000, 500, replace=False)) * 10
    last = first + rng.integers(0, 5, first.size)
    n = last - first + 1
    worst = rng.uniform(65, 1000, first.size)
    out = exhaustive._grouped(first, last, first * 1.0, last * 1.0, n, worst)
    assert len(out) == exhaustive.MAX_REGIONS
    assert sum(r[4] for r in out) == n.sum()
    assert out[0][0] == first[0] and out[-1][1] == last[-1]
    assert max(r[5] for r in out) == worst.max()
    gaps = np.sort(first[1:] - last[:-1])[::-1]
    kept = [out[k + 1][0] - out[k][1] for k in range(len(out) - 1)]
    assert sorted(kept, reverse=True) == list(gaps[: exhaustive.MAX_REGIONS - 1])


def test_a_killed_sweep_resumes_from_its_checkpoint_to_the_same_result(tmp_path):
    _, _, todo = _sweep("tanh", 2.0, 2.02, "float32")
    ident = exhaustive.identity(todo)
    path = tmp_path / "sweep.jsonl"
    keep = exhaustive.Checkpoint(path, ident, fresh=True)
    whole = {}
    for t in todo:
        whole[t.index] = exhaustive.run_task(t)
        keep.add(t.index, whole[t.index])
    keep.close(False)
    lines = path.read_bytes().splitlines()
    cut = len(lines) // 2
    path.write_bytes(b"\n".join(lines[:cut]) + b"\n" + lines[cut][: len(lines[cut]) // 2])
    done = exhaustive.resume(path, ident)
    assert len(done) == cut - 1  # the identity line, and the line cut short is dropped
    left = [t for t in todo if t.index not in done]
    exhaustive.run_local(left, 1, lambda t, r: done.__setitem__(t.index, r))
    assert [r.to_dict() for r in exhaustive.rows(todo, done)] == [
        r.to_dict() for r in exhaustive.rows(todo, whole)
    ]
    other = exhaustive.identity(_sweep("tanh", 2.0, 2.03, "float32")[2])
    assert exhaustive.resume(path, other) == {}  # another sweep's checkpoint is not used


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "actgrad", "accuracy", *args],
        capture_output=True,
        text=True,
        env={**ENV, **kw.pop("env", {})},
        timeout=300,
        **kw,
    )


def test_the_command_line_sweeps_in_shards_and_names_the_machine(tmp_path):
    done = _cli(
        "sigmoid",
        "--exhaustive",
        "--dtypes",
        "float32",
        "--x",
        "7:7.01",
        "--order",
        "1",
        "--jobs",
        "1",
        "--json",
        env={"XDG_CACHE_HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["inputs"] == {"float32": 20972} and data["machine"]["cpu"]
    rows = {r["quantity"]: r for r in data["rows"]}
    assert rows["grad"]["counts"]["fast_tier"] == 20972
    assert "shards in 1 processes" in done.stderr and "checkpoint" in done.stderr
    assert not list(tmp_path.rglob("*.jsonl"))  # a finished sweep leaves no checkpoint


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exhaustive", "--dtypes", "float32", "--plot"], "keeps no point to draw"),
        (["--exhaustive", "--dtypes", "float64"], "18,437,736,874,454,810,624 inputs"),
        (["--exhaustive", "--dtypes", "float32,float64"], "give --x LOW:HIGH"),
        (["--exhaustive", "--dtypes", "float32", "--jobs", "0"], "--jobs"),
    ],
)
def test_sharded_sweeps_refuse_what_they_cannot_do(args, message):
    done = _cli("sigmoid", *args)
    assert done.returncode == 2 and done.stdout == ""
    assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_ctrl_c_stops_a_sweep_and_keeps_its_checkpoint(tmp_path):
    path = tmp_path / "sweep.jsonl"
    argv = ["sigmoid", "--exhaustive", "--dtypes", "float32", "--x", "1:100", "--order", "1"]
    argv += ["--jobs", "2", "--checkpoint", str(path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "actgrad", "accuracy", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and len(path.read_bytes().splitlines()) > 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and out == ""
    assert "the same command resumes" in err and err.endswith("actgrad: interrupted\n")
    assert "Traceback" not in err
    kept = len(path.read_bytes().splitlines())
    done = _cli(*argv[:-4], "--jobs", "2", "--checkpoint", str(path))
    assert done.returncode == 0, done.stderr
    assert f"resuming: {kept - 1}" in done.stderr


@pytest.mark.slow
def test_a_dask_cluster_gives_the_local_result_bit_for_bit(tmp_path):
    """A local Dask cluster (a scheduler and two worker processes) runs the command line's
    shards; the rows are the local run's, bit for bit."""
    import distributed

    argv = ["sigmoid", "--exhaustive", "--dtypes", "float32,bfloat16", "--x", "5:5.05"]
    argv += ["--order", "1", "--json"]
    # (not the working directory: a worker started there would take its actgrad/ folder of
    # checkpoints for a package)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    local = _cli(*argv, "--jobs", "1", env=env)
    assert local.returncode == 0, local.stderr
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = _cli(*argv, "--scheduler", cluster.scheduler_address, env=env)
    assert remote.returncode == 0, remote.stderr
    assert f"on the cluster at {cluster.scheduler_address}" in remote.stderr
    assert json.loads(remote.stdout)["rows"] == json.loads(local.stdout)["rows"]


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("nowhere", "is not a scheduler's address"),
        ("tcp://localhost:0", "is not a scheduler's address"),
        ("host:99999", "is not a scheduler's address"),
        ("127.0.0.1:1", "cannot reach 127.0.0.1:1"),
    ],
)
def test_a_scheduler_that_is_not_there_is_one_line_and_exit_2(address, says):
    """A malformed or unreachable --scheduler is a usage error at once (Dask itself would
    retry for its whole timeout), never an internal error."""
    from actgrad.cli.app import app
    from typer.testing import CliRunner

    argv = ["accuracy", "relu", "--exhaustive", "--x", "1:1.01", "--dtypes", "float16"]
    result = CliRunner().invoke(app, [*argv, "--scheduler", address])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr


def test_the_tallys_quick_paths_give_what_the_general_ones_give():
    """The tally's common case (every number finite, no NaN error) takes fewer passes: its
    errors, flags and histogram bins are those of the general path, which the same numbers
    take beside one NaN, inf or non-finite truth; the bins are the histogram's definition
    (1/1024 of an ulp below 4 ulps, 512 per doubling above, inf and NaN in the last)."""
    from actgrad.core.accuracy.ulps import errors, in_dtype
    from actgrad.core.exact.reference import Truth

    rng = np.random.default_rng(17)
    n = 20_000
    hi = rng.standard_normal(n) * 10.0 ** rng.integers(-46, 39, n)
    hi[rng.random(n) < 0.05] = 0.0
    lo = hi * rng.uniform(-1e-17, 1e-17, n)
    got = in_dtype(hi, "float32") * (1 + rng.choice([0, 1e-7, -3e-7, 0.5, -2.0], n))
    got[rng.random(n) < 0.05] = 0.0
    for odd in (np.nan, np.inf, -np.inf):
        for where in ("got", "truth"):
            g = np.append(got, odd if where == "got" else 1.0)
            h = np.append(hi, odd if where == "truth" else 1.0)
            l_ = np.append(lo, 0.0)
            general, _ = errors(g, h, l_, in_dtype(h, "float32"), "float32")
            quick, _ = errors(got, hi, lo, in_dtype(hi, "float32"), "float32")
            assert np.array_equal(general[:n], quick, equal_nan=True)
            e1, c1, l1 = sweeps.point_errors(g, Truth(h, l_), "float32", 64.0)
            e2, c2, l2 = sweeps.point_errors(got, Truth(hi, lo), "float32", 64.0)
            assert np.array_equal(l1[:n], l2) and np.array_equal(e1[:n], e2, equal_nan=True)
            last = {k: int(v) for k, v in sweeps.point_errors(
                g[n:], Truth(h[n:], l_[n:]), "float32", 64.0)[1].items()}  # fmt: skip
            assert {k: c2[k] + last[k] for k in c2} == c1
    err = np.concatenate([rng.uniform(0, 5, n), 10 ** rng.uniform(-20, 80, n)])
    err = np.concatenate([err, [0.0, 4.0, np.nextafter(4.0, 0), np.inf, np.nan, 2.0**204]])
    with np.errstate(all="ignore"):
        fine = np.floor(err * exhaustive.FINE)
        octave = np.floor(np.log2(np.maximum(err, 4.0) / 4) * exhaustive.OCTAVE)
        coarse = np.minimum(4 * exhaustive.FINE + octave, exhaustive._TOP)
    want = np.where(np.isfinite(err), np.where(err < 4, fine, coarse), exhaustive._TOP)
    assert np.array_equal(exhaustive._bins(err), want.astype(np.int64))
