"""Truth on every device: accuracy takes --device and names what measured it, notes never
present the CPU's measurement as another device's. The tests that need CUDA run where torch
sees a CUDA device and are skipped with that reason otherwise (no fake devices)."""

from __future__ import annotations

import jsonschema
import numpy as np
import orjson
import pytest
import torch
from actgrad.cli.app import app
from actgrad.core import machine
from actgrad.core.accuracy import generated_accuracy, notes
from actgrad.core.functions import registry
from actgrad.core.schema import ACCURACY
from typer.testing import CliRunner

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device (torch sees none here)")


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.mark.skipif(CUDA, reason="this machine has CUDA: the refusal is for one without")
@pytest.mark.parametrize("extra", [[], ["--exhaustive", "--dtypes", "float32"], ["--plot"]])
def test_accuracy_on_an_absent_device_is_one_line_and_exit_2(extra):
    got = invoke("accuracy", "sigmoid", "--device", "cuda", *extra)
    assert got.exit_code == 2
    assert got.stdout == ""
    lines = got.stderr.splitlines()
    assert len(lines) == 1 and "device 'cuda' is not available" in lines[0], lines
    assert "--device cpu" in lines[0]


def test_accuracy_refuses_a_device_that_is_no_device():
    got = invoke("accuracy", "sigmoid", "--device", "gpu0")
    assert got.exit_code == 2 and got.stdout == ""
    assert "unknown device 'gpu0'" in got.stderr


@pytest.mark.parametrize("device", ["cpu", "auto", None])
def test_every_accuracy_json_names_its_device_and_machine(device):
    args = ["accuracy", "sigmoid", "--x", "-2:2:9", "--dtypes", "float32", "--order", "1"]
    got = invoke(*args, *(["--device", device] if device else []), "--json")
    assert got.exit_code == 0, got.stderr
    data = orjson.loads(got.stdout)
    jsonschema.validate(data, ACCURACY)
    expected = "cuda:0" if device == "auto" and CUDA else "cpu"
    assert data["device"] == expected
    assert data["machine"]["torch"].startswith(torch.__version__)
    if expected == "cpu":
        assert data["machine"]["cpu"] == machine.cpu_model()
        assert data["machine"]["capability"] == torch.backends.cpu.get_cpu_capability()
    else:
        assert data["machine"]["gpu"] == torch.cuda.get_device_name(0)


def test_an_exhaustive_sweep_names_its_device():
    args = ["accuracy", "tanh", "--exhaustive", "--dtypes", "bfloat16", "--x", "1:2"]
    got = invoke(*args, "--order", "1", "--json")
    assert got.exit_code == 0, got.stderr
    data = orjson.loads(got.stdout)
    jsonschema.validate(data, ACCURACY)
    assert data["device"] == "cpu" and data["machine"] == machine.identity("cpu")


def _in_a_cpu_region() -> tuple[registry.FunctionSpec, str, np.ndarray]:
    """A function, dtype and inputs inside a region the (CPU's) report measured."""
    for name, by_dtype in generated_accuracy.REGIONS.items():
        spec = registry.get(name)
        if generated_accuracy.PARAMS.get(name) != {} or not spec.pointwise:
            continue
        for dtype, quantities in by_dtype.items():
            for runs in quantities.values():
                for low, high, _, _ in runs:
                    if np.isfinite(low) and np.isfinite(high):
                        return spec, dtype, np.linspace(low, high, 300)
    raise AssertionError("the report has no finite region")


def test_notes_on_another_device_never_cite_the_cpus_measurement():
    """Where the CPU's report has a region at the inputs, a result computed on CUDA says that
    its device is not measured and how to measure it there, and names no region as its own."""
    spec, dtype, x = _in_a_cpu_region()
    on_cpu = notes.accuracy_notes(spec, {}, dtype, 2, x, "cpu")
    assert on_cpu and all("measured against the true value" in n for n in on_cpu)
    on_cuda = notes.accuracy_notes(spec, {}, dtype, 2, x, "cuda:0")
    assert len(on_cuda) == 1, on_cuda
    note = on_cuda[0]
    assert "on cuda is not measured" in note
    assert f"actgrad accuracy {spec.command} --device cuda" in note
    assert "ulps off for" not in note and "loses every digit" not in note
    assert not notes.accuracy_notes(spec, {}, dtype, 2, x[:0], "cuda:0")  # nothing there


def test_a_small_result_on_another_device_is_judged_live():
    """Up to LIVE_POINTS inputs on a device the report did not measure: the live reference
    judges that device's own numbers, whatever machine the report was measured on."""
    assert notes.judged_live(3, "cuda:0")
    assert not notes.judged_live(notes.LIVE_POINTS + 1, "cuda:0")
    assert notes.judged_live(3, "cpu") == (not machine.same(generated_accuracy.MACHINE))


def test_a_gpu_machine_in_words_names_the_gpu_not_the_cpu():
    gpu = {
        "torch": "2.11.0+cu130 (git abc)",
        "cpu": "AMD EPYC",
        "device": "cuda",
        "gpu": "NVIDIA H200",
        "capability": "sm_90",
        "cuda": "13.0",
    }
    assert machine.words(gpu) == "torch 2.11.0+cu130 (git abc) on NVIDIA H200 (CUDA 13.0, sm_90)"
    assert machine.device_of(gpu) == "cuda"
    assert machine.device_of(generated_accuracy.MACHINE) == "cpu"
    assert not machine.same(gpu, "cpu")  # a GPU's measurement is never the CPU's


@needs_cuda
def test_accuracy_on_cuda_measures_cudas_kernels():
    args = ["accuracy", "sigmoid", "--x", "-8:8:201", "--dtypes", "float32,float16"]
    got = invoke(*args, "--order", "1", "--device", "cuda", "--json")
    assert got.exit_code == 0, got.stderr
    data = orjson.loads(got.stdout)
    assert data["device"].startswith("cuda") and data["machine"]["device"] == "cuda"
    assert {r["dtype"] for r in data["rows"]} == {"float32", "float16"}


@needs_cuda
def test_a_cuda_result_carries_no_cpu_measurement():
    spec, dtype, x = _in_a_cpu_region()
    xs = ",".join(repr(float(v)) for v in x[:: max(1, x.size // 40)])
    got = invoke(spec.command, "--x", xs, "--grad", "--dtype", dtype, "--device", "cuda", "--json")
    assert got.exit_code == 0, got.stderr
    said = " ".join(orjson.loads(got.stdout)["notes"])
    assert machine.words(generated_accuracy.MACHINE) not in said


def _script(report: str) -> str:
    return report.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize(
    ("args", "made"),
    [
        pytest.param(  # a process per reproducer, the whole range's (about 20 s)
            ["softmax", "--x", "-40:40:401", "--grad", "--dtype", "float16"],
            "torch.linspace",
            marks=pytest.mark.slow,
        ),
        (["mish", "--x", "-40:40:8001", "--grad"], None),  # elementwise: the point alone
    ],
)
def test_a_reproducer_of_a_range_is_short_and_bit_for_bit(args, made):
    """A range a:b:n is torch.linspace in the script, made as actgrad makes it; an elementwise
    finding carries its point (or its lanes); never more than a few lines of literals. The
    report says the script gave torch's number bit for bit here."""
    got = invoke(*args, "--report")
    assert got.exit_code in (0, 1), got.stderr
    script = _script(got.stdout)
    assert len(script) < 1500, script
    assert "bit for bit" in got.stdout
    if made:
        assert made in script
    assert max(len(line) for line in script.splitlines()) < 200


@needs_cuda
def test_a_cuda_report_is_short_and_runs_on_cuda():
    got = invoke("mish", "--x", "-40:40:8001", "--grad", "--report", "--device", "cuda")
    assert got.exit_code in (0, 1), got.stderr
    script = _script(got.stdout)
    assert len(script) < 1500 and 'device="cuda' in script


def test_devices_side_by_side_each_judged_by_the_truth():
    """--devices: each device's numbers and its own --check report (the truth), in the result
    schema; exit 1 when a device's numbers fail the check, as --check alone."""
    from actgrad.core.schema import schema

    got = invoke("sigmoid", "--x", "0.5,-2", "--grad", "--devices", "cpu", "--json")
    assert got.exit_code == 0, got.stderr
    data = orjson.loads(got.stdout)
    jsonschema.validate(data, schema("result"))
    cpu = data["devices"]["cpu"]
    assert cpu["check"]["ok"] is True and cpu["check"]["tiers"]["fast"] == 4
    assert cpu["value"][0] == pytest.approx(1 / (1 + np.exp(-0.5)), rel=1e-7)
    plain = invoke("sigmoid", "--x", "0.5", "--grad", "--devices", "cpu", "-f", "plain")
    assert plain.stdout.split("\t")[0] == "0.5"
    assert "cpu: check: float32 value vs the true value" in plain.stderr


def test_devices_fail_like_check_where_a_device_is_off():
    # mish′ at -1.19 in float32 on the CPU: hundreds of ulps off (torch's vectorized kernel)
    got = invoke("mish", "--x", "-1.19", "--grad", "--devices", "cpu", "--json")
    data = orjson.loads(got.stdout)
    ulps = data["devices"]["cpu"]["check"]["dtype_error"]["grad.x"]["max_ulp"]
    assert (got.exit_code == 1) == (ulps > 64)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--devices", "cpu,auto"] if not CUDA else ["--devices", "cuda,cuda:0"], "twice"),
        (["--devices", "cpu", "--dtypes", "float16"], "--devices and --dtypes"),
        (["--devices", "cpu", "--report"], "--report covers one device"),
        (["--devices", ","], "--devices is empty"),
        (["--devices", "cpu,tpu"], "unknown device 'tpu' in --devices;"),
        (["--devices", "cpu,cuda:0,cuda:1,cuda:2,cuda:3"], "at most 4"),
    ],
)
def test_devices_refusals_are_one_line_and_exit_2(args, said):
    got = invoke("sigmoid", "--x", "0.5", *args)
    assert got.exit_code == 2 and got.stdout == ""
    assert said in got.stderr and len(got.stderr.splitlines()) == 1, got.stderr


def test_an_unknown_device_is_named_where_it_came_from():
    """accuracy reads no ACTGRAD_DEVICE: its error names --device alone."""
    got = invoke("accuracy", "sigmoid", "--device", "tpu")
    assert got.exit_code == 2 and got.stdout == ""
    assert "unknown device 'tpu' (from --device);" in got.stderr, got.stderr
    got = invoke("sigmoid", "--x", "1", "--device", "tpu")
    assert "unknown device 'tpu' (from --device or ACTGRAD_DEVICE);" in got.stderr


@pytest.mark.skipif(CUDA, reason="this machine has CUDA: the refusal is for one without")
def test_devices_with_an_absent_device_are_refused_before_anything_runs():
    got = invoke("sigmoid", "--x", "0.5", "--devices", "cpu,cuda")
    assert got.exit_code == 2 and got.stdout == ""
    assert "device 'cuda' is not available" in got.stderr


def test_a_batch_line_takes_devices():
    lines = '{"fn": "sigmoid", "x": [0.5], "grad": true, "devices": "cpu"}\n'
    lines += "sigmoid --x 0.5 --devices cpu\n"
    got = CliRunner().invoke(app, ["batch"], input=lines, catch_exceptions=False)
    answers = [orjson.loads(line) for line in got.stdout.splitlines()]
    assert [a["ok"] for a in answers] == [True, True]
    assert all("check" in a["result"]["devices"]["cpu"] for a in answers)


@needs_cuda
def test_devices_cpu_and_cuda_side_by_side():
    got = invoke("gelu", "--x", "-40:40:801", "--grad", "--devices", "cpu,cuda", "--json")
    assert got.exit_code in (0, 1), got.stderr
    data = orjson.loads(got.stdout)
    assert set(data["devices"]) == {"cpu", f"cuda:{torch.cuda.current_device()}"}
    for side in data["devices"].values():
        assert "dtype_error" in side["check"]


def test_the_gpu_section_generator_runs_here_as_a_dry_run(tmp_path):
    """tools/cuda_accuracy.py is what a GPU runs for docs/accuracy.md's CUDA section: here on
    the CPU (--device cpu, which needs --out: the docs never get a CPU run as a GPU's), its
    JSON names the machine and every phase, and the report renders it."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    tool = root / "tools" / "cuda_accuracy.py"
    refused = subprocess.run([sys.executable, str(tool), "--device", "cpu"], capture_output=True)
    assert refused.returncode == 2 and b"--out" in refused.stderr
    out = tmp_path / "dry.json"
    args = ["--device", "cpu", "--quick", "--out", str(out), "--minutes", "1", "--jobs", "1"]
    done = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert data["device"] == "cpu" and data["machine"] == machine.identity("cpu")
    assert set(data["phases"]) == {"standard", "every 16-bit", "every float32"}
    grids = {r["grid"] for r in data["rows"]}
    assert {"standard", "every 16-bit"} <= grids
    sixteen = [r for r in data["rows"] if r["grid"] == "every 16-bit"]
    assert {r["points"] for r in sixteen if r["dtype"] == "float16"} == {63488}
    assert all(r["differs_from_cpu"] == 0 for r in data["rows"] if r["grid"] != "every float32")
    sys.path.insert(0, str(root / "tools"))
    import accuracy_report

    lines = accuracy_report.device_lines(data)
    assert any(line.startswith("| sigmoid | f′ |") for line in lines)
    assert any("every 16-bit" in line for line in lines)
