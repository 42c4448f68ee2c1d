"""The command line in-process: exit codes, stdout, the one stderr line, JSON shape."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest
import torch
from actgrad.cli.app import app
from actgrad.core.functions import registry
from typer.testing import CliRunner

runner = CliRunner()


def invoke(*args: str, input: str | None = None, env: dict | None = None):
    return runner.invoke(app, list(args), input=input, env=env)


def ok(*args: str, **kwargs) -> str:
    result = invoke(*args, **kwargs)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert all(line.startswith("note: ") for line in result.stderr.splitlines()), result.stderr
    return result.stdout


def as_json(*args: str, **kwargs) -> dict:
    return orjson.loads(ok(*args, "--json", **kwargs))


def fails(*args: str, code: int = 2, **kwargs) -> str:
    result = invoke(*args, **kwargs)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("actgrad: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def f32(value: float) -> float:
    return float(np.float32(value))


# --- the examples -------------------------------------------------------------------


def test_sigmoid_json_follows_design():
    data = as_json("sigmoid", "--x", "0.5", "--grad")
    assert list(data) == [
        "format",  # the JSON contract's version (actgrad schema result)
        "function",
        "params",
        "dtype",
        "device",
        "torch",
        "inputs",
        "value",
        "grad",
        "nonfinite",
        "notes",
    ]
    s = 1 / (1 + math.exp(-0.5))
    assert data["function"] == "sigmoid"
    assert data["params"] == {}
    assert (data["dtype"], data["device"], data["torch"]) == ("float32", "cpu", torch.__version__)
    assert data["inputs"] == {"x": 0.5}
    assert data["value"] == pytest.approx(s, rel=1e-7)
    assert data["grad"]["x"] == pytest.approx(s * (1 - s), rel=1e-7)
    assert (data["nonfinite"], data["notes"]) == ([], [])


def test_sigmoid_json_digits_round_trip_float32():
    data = as_json("sigmoid", "--x", "0.5", "--grad")
    expected = torch.sigmoid(torch.tensor(0.5))
    assert np.float32(data["value"]) == expected.numpy()
    assert str(data["value"]) == "0.62245935"  # shortest float32 text


def test_tanh_range_json():
    data = as_json("tanh", "--x", "-10:10:1000", "--grad")
    x = np.float32(data["inputs"]["x"]).astype(np.float64)  # torch.linspace in float32
    assert len(x) == 1000 and np.allclose(x, np.linspace(-10, 10, 1000), atol=1e-6)
    np.testing.assert_allclose(data["value"], np.tanh(x), atol=2e-7)
    np.testing.assert_allclose(data["grad"]["x"], 1 - np.tanh(x) ** 2, atol=2e-6)


def test_relu_kink_note():
    data = as_json("relu", "--x", "-1,0,2", "--grad")
    assert data["value"] == [0, 0, 2]
    assert data["grad"]["x"] == [0, 0, 1]
    assert len(data["notes"]) == 1
    assert "relu'(0) uses torch's convention 0" in data["notes"][0]


def test_softmax_jacobian():
    data = as_json("softmax", "--x", "0.1,0.5,0.9", "--grad")
    p = np.exp([0.1, 0.5, 0.9]) / np.exp([0.1, 0.5, 0.9]).sum()
    np.testing.assert_allclose(data["jacobian"]["x"], np.diag(p) - np.outer(p, p), atol=1e-7)
    assert data["params"] == {"dim": -1}
    assert "grad" not in data


def test_softmax_index_matches_autograd_grad():
    data = as_json("softmax", "--x", "0.1,0.5,0.9", "--grad", "--index", "1")
    x = torch.tensor([0.1, 0.5, 0.9], requires_grad=True)
    p = torch.softmax(x, dim=-1)
    (expected,) = torch.autograd.grad(p[1], x)
    assert data["index"] == 1
    np.testing.assert_array_equal(np.float32(data["grad"]["x"]), expected.numpy())


def test_gelu_tanh_second_order():
    data = as_json("gelu", "--x", "1", "--approximate", "tanh", "--order", "2")
    assert data["params"] == {"approximate": "tanh"}
    k = math.sqrt(2 / math.pi)
    u = k * (1 + 0.044715)
    t = math.tanh(u)
    du = k * (1 + 3 * 0.044715)
    d1 = 0.5 * (1 + t) + 0.5 * (1 - t**2) * du
    d2 = (1 - t**2) * du + 0.5 * (-2 * t * (1 - t**2) * du**2 + (1 - t**2) * k * 6 * 0.044715)
    assert data["value"] == pytest.approx(0.5 * (1 + t), rel=1e-6)
    assert data["grad"]["x"] == pytest.approx(d1, rel=1e-6)
    assert data["grad2"]["x"] == pytest.approx(d2, rel=1e-5)


def test_leaky_relu_float64():
    data = as_json(
        "leaky-relu", "--x", "-2", "--negative-slope", "0.1", "--grad", "--dtype", "float64"
    )
    assert (data["value"], data["grad"]["x"], data["dtype"]) == (-0.2, 0.1, "float64")
    assert data["params"] == {"negative_slope": 0.1}


def test_plain_output_when_piped():
    assert ok("sigmoid", "--x", "0.5") == "0.62245935\n"
    assert ok("sigmoid", "--x", "0.5", "--grad") == "0.62245935\t0.23500371\n"
    lines = ok("relu", "--x", "-1,0,2", "--grad").splitlines()
    assert lines == ["-1.0\t0.0\t0.0", "0.0\t0.0\t0.0", "2.0\t2.0\t1.0"]


def test_plain_jacobian_lines():
    lines = ok("softmax", "--x", "0.1,0.5,0.9", "--grad").splitlines()
    assert len(lines) == 3
    assert all(len(line.split("\t")) == 2 + 3 for line in lines)


def test_list_and_explain():
    lines = ok("list").splitlines()
    assert [line.split("\t")[0] for line in lines] == [s.command for s in registry.specs()]
    specs = orjson.loads(ok("list", "--json"))["functions"]
    assert {s["name"] for s in specs} == {s.name for s in registry.specs()}
    text = ok("explain", "softplus")
    for field in ("formula:", "derivative:", "range:", "param: --beta", "example:", "kink:"):
        assert field in text
    assert "kinks: none" in ok("explain", "sigmoid")
    relu = orjson.loads(ok("explain", "relu", "--json"))
    assert relu["kinks"][0] | {"alternatives": {}} == {
        "at": 0.0,
        "torch": 0.0,
        "left": 0.0,
        "right": 1.0,
        "jump": False,
        "order": 1,
        "alternatives": {},
        "sides": {"1": "left"},
    }
    assert "threshold'(threshold) uses torch's convention" in ok("explain", "threshold")


# --- inputs ---------------------------------------------------------------------------------


def test_input_forms():
    assert as_json("relu", "--x", "1", "--x", "2,3")["value"] == [1, 2, 3]
    assert as_json("relu", "--x", "[[1,-2],[3,-4]]")["value"] == [[1, 0], [3, 0]]
    assert as_json("relu", "--x", "-", input="1 -2\n3,4\n")["value"] == [1, 0, 3, 4]
    assert as_json("relu", "--x", "-", input="[[1,2]]")["value"] == [[1, 2]]
    assert as_json("relu", "--x", "0:1:3")["value"] == [0, 0.5, 1]
    assert as_json("relu", "--x", "[1]")["value"] == [1]  # a list in, a list out


def test_names_and_aliases():
    for name in ("leaky_relu", "leaky-relu", "LEAKY-RELU"):
        assert as_json(name, "--x", "-1")["function"] == "leaky_relu"
    assert as_json("swish", "--x", "1")["function"] == "silu"


def test_nonfinite_is_null_with_paths():
    data = as_json("sigmoid", "--x", "nan,inf,1", "--grad")
    assert data["value"][:2] == [None, 1.0]
    assert {"inputs.x[0]", "inputs.x[1]", "value[0]", "grad.x[0]"} <= set(data["nonfinite"])
    assert "value[1]" not in data["nonfinite"]
    assert any("nan" in note for note in data["notes"])
    plain = ok("sigmoid", "--x", "nan,-inf").splitlines()
    assert plain == ["nan\tnan", "-inf\t0.0"]


def test_overflow_in_low_precision_is_noted():
    data = as_json("sigmoid", "--x", "1e5", "--dtype", "float16")
    assert data["inputs"]["x"] is None
    assert any("overflows float16" in note for note in data["notes"])


def test_precision_and_formats():
    assert ok("sigmoid", "--x", "0.5", "--precision", "3") == "0.622\n"
    assert as_json("sigmoid", "--x", "0.5", "--precision", "3")["value"] == 0.622
    assert ok("sigmoid", "--x", "0.5", "--format", "json").startswith("{")


def test_environment_defaults():
    assert as_json("relu", "--x", "1", env={"ACTGRAD_DTYPE": "float64"})["dtype"] == "float64"
    assert as_json("relu", "--x", "1", env={"ACTGRAD_DEVICE": "cpu"})["device"] == "cpu"
    fails("relu", "--x", "1,2,3", env={"ACTGRAD_MAX_ELEMENTS": "2"})


def test_seed_is_echoed_and_reproducible():
    first = as_json("gumbel-softmax", "--x", "1,2,3", "--seed", "5")
    assert first["params"]["seed"] == 5
    assert as_json("gumbel-softmax", "--x", "1,2,3", "--seed", "5")["value"] == first["value"]
    random = as_json("gumbel-softmax", "--x", "1,2,3")
    assert isinstance(random["params"]["seed"], int)


# --- table ----------------------------------------------------------------------------------


def test_table_shows_formula_params_dtype_device_and_notes():
    text = ok("relu", "--x", "-1,0,2", "--grad", "--format", "table", env={"COLUMNS": "120"})
    for part in ("relu(x) = max(0, x)", "float32", "cpu", "relu'(x)", "note: relu'(0)"):
        assert part in text


def test_table_long_input_shows_head_and_tail():
    text = ok("tanh", "--x", "0:1:1000", "--format", "table", env={"COLUMNS": "120"})
    assert "⋮" in text and "0.0" in text and "1.0" in text
    assert text.count("\n") < 40


@pytest.mark.parametrize(
    ("env", "colored"),
    [({"NO_COLOR": "1"}, False), ({"FORCE_COLOR": "1"}, True), ({"TERM": "dumb"}, False)],
)
def test_color_environment(env, colored):
    text = ok("relu", "--x", "0", "--grad", "--format", "table", env=env)
    assert ("\x1b[" in text) == colored


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["sigmoid", "--x", "abc"], "bad number 'abc'"),
        (["sigmoid", "--x", "1,,2"], "empty number"),
        (["sigmoid", "--x", "1:2"], "start:stop:count"),
        (["sigmoid", "--x", "1:2:0"], "no points"),
        (["sigmoid", "--x", "[1,[2]]"], "ragged"),
        (["sigmoid", "--x", "[]"], "empty array"),
        (["sigmoid", "--x", "[1,true]"], "bool"),
        (["sigmoid", "--x", "1e999"], "overflows"),
        (["sigmoid", "--x", "１"], "bad number"),
        (["sigmoid", "--x", "1_000"], "bad number"),
        (["sigmoid"], "needs an input"),
        (["sigmoid", "--x", "1", "--order", "5"], "--order 5 is out of range"),
        (["sigmoid", "--x", "1", "--order", "two"], "whole number"),
        (["hardsigmoid", "--x", "1", "--order", "2"], "no derivative of order 2"),
        (["sigmoid", "--x", "1", "--index", "0"], "--index picks one output"),
        (["softmax", "--x", "1,2", "--index", "2"], "out of range"),
        (["softmax", "--x", "1,2", "--order", "2"], "--index I --order 2"),
        (["softmax", "--x", "1,2", "--dim", "1"], "--dim 1 is out of range"),
        (["glu", "--x", "1,2,3"], "odd size"),
        (["threshold", "--x", "1"], "needs --threshold"),
        (["gelu", "--x", "1", "--approximate", "fast"], "none, tanh"),
        (["gumbel-softmax", "--x", "1,2", "--tau", "0"], "tau must be positive"),
        (["hardtanh", "--x", "1", "--min-val", "2", "--max-val", "1"], "max_val"),
        (["leaky-relu", "--x", "1", "--negative-slope", "nan"], "finite"),
        (["sigmoid", "--x", "1", "--seed", "3"], "No such option: --seed"),
        (["sigmoid", "--x", "1", "--dtype", "float8"], "unknown dtype"),
        (["sigmoid", "--x", "1", "--device", "tpu"], "unknown device"),
        (["sigmoid", "--x", "1", "--precision", "0"], "--precision 0"),
        (["sigmoid", "--x", "1", "--format", "xml"], "unknown format"),
        (["sigmoid", "--x", "1", "--format", "plain", "--json"], "conflicts"),
        (["sigmod", "--x", "1"], "did you mean 'sigmoid'"),
        (["sigmoid", "--y", "1"], "No such option"),
        (["explain", "sofplus"], "did you mean 'softplus'"),
        (["sigmoid", "--x", "-", "--x", "-"], "stdin twice"),
    ],
)
def test_bad_input_exit_2_one_line(args, needle):
    assert needle in fails(*args, input="1")


def test_unavailable_device_names_the_build():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")  # the GPU check runs on the device machine
    line = fails("sigmoid", "--x", "1", "--device", "cuda")
    assert torch.__version__ in line and "--device cpu" in line


def test_element_cap_is_checked_before_allocating():
    line = fails("sigmoid", "--x", "0:1:200000000")
    assert "cap of 134,217,728" in line and "--max-elements" in line
    assert "over the cap" in fails("sigmoid", "--x", "1,2,3", "--max-elements", "2")
    assert "Jacobian" in fails("softmax", "--x", "0:1:20000", "--grad")
    assert as_json("relu", "--x", "0:1:5", "--max-elements", "5")["value"][-1] == 1


def test_version():
    assert ok("--version").startswith("actgrad 0.1.0 (torch ")


def test_table_text_is_literal_not_markup():
    text = ok("glu", "--x", "1,2,0,-1", "--grad", "--format", "table", env={"COLUMNS": "160"})
    assert "x = [a, b]" in text and "∂y[i]/∂x[0]" in text
    assert "x = [a, b]" in ok("explain", "glu", "--format", "table", env={"COLUMNS": "160"})
    assert "x = [a, b]" in ok("list", "--format", "table", env={"COLUMNS": "200"})


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_every_example_runs_in_every_dtype_or_is_refused(dtype):
    """Each registry example evaluates, or (where torch lacks a CPU kernel) exits 2."""
    import shlex

    for spec in registry.specs():
        args = [*shlex.split(spec.example)[1:], "--dtype", dtype, "--json"]
        result = invoke(*args)
        if dtype in spec.no_cpu_kernel(spec.defaults() | {"training": "--training" in args}):
            assert result.exit_code == 2 and "no " + dtype + " kernel" in result.stderr
        else:
            assert result.exit_code == 0, (spec.name, result.stderr)
            assert orjson.loads(result.stdout)["dtype"] == dtype


# --- losses -----------------------------------------------------------------------------------


def test_loss_examples_on_the_command_line():
    assert ok("mse", "--w", "3") == "4.0\n"
    data = as_json("mse", "--w", "3", "--grad")
    assert (data["value"], data["grad"]) == (4.0, {"w": 4.0})
    assert data["params"] == {"reduction": "mean"}
    assert ok("mse", "--pred", "1,2,3,4", "--target", "0,0,0,0", "--grad") == (
        "7.5\n0.5\t1.0\t1.5\t2.0\n"
    )
    assert (
        ok("mse", "--pred", "1,2,3,4", "--target", "0,0,0,0", "--reduction", "sum", "--grad")
        == "30.0\n2.0\t4.0\t6.0\t8.0\n"
    )
    assert ok("l2", "--x", "3,4", "--grad") == "5.0\n0.6\t0.8\n"
    assert ok("l2", "--pred", "0,0", "--target", "3,4", "--grad") == "5.0\n-0.6\t-0.8\n"
    ce = as_json("cross-entropy", "--pred", "2,1,0.1", "--target", "0", "--grad")
    assert ce["inputs"]["target"] == 0 and ce["value"] == pytest.approx(0.41702995)
    assert as_json("ce", "--pred", "2,1,0.1", "--target", "0.7,0.2,0.1")["value"] == (
        pytest.approx(0.8070299)
    )
    assert ok("bce-with-logits", "--pred", "-200", "--target", "1") == "200.0\n"
    kl = as_json(
        "kl-div", "--pred", "-1.2,-0.9,-1.2", "--target", "0.3,0.4,0.3", "--reduction", "batchmean"
    )
    assert kl["params"] == {"reduction": "batchmean", "log_target": False}


def test_loss_aliases_and_inputs():
    assert as_json("mse-loss", "--input", "1", "--y", "0")["value"] == 1.0
    assert as_json("mse_loss", "--w", "2", "--x", "3", "--grad", "--wrt", "x")["grad"] == {
        "x": 20.0
    }
    plain = ok("mse", "--pred", "1,2", "--target", "0,0", "--reduction", "none", "--grad")
    assert plain == "1.0\t0.0\t1.0\t2.0\n2.0\t0.0\t4.0\t4.0\n"  # pred, target, loss, ∂ℓ/∂pred


def test_loss_errors_are_one_line():
    assert "shape mismatch" in fails("mse", "--pred", "1,2,3", "--target", "1,2")
    assert "bce-with-logits" in fails("bce", "--pred", "3", "--target", "1")
    assert "out of range" in fails("ce", "--pred", "1,2,3", "--target", "5")
    assert "cannot be differentiated" in fails("mse", "--w", "3", "--grad", "--wrt", "pred")
    assert "needs --pred" in fails("mse")
    assert "No such option: --w" in fails("sigmoid", "--x", "1", "--w", "2")


def test_loss_table():
    text = ok(
        "mse",
        "--pred",
        "1,2,3,4",
        "--target",
        "0,0,0,0",
        "--grad",
        "--format",
        "table",
        env={"COLUMNS": "120"},
    )
    for part in ("∂ℓ/∂pred", "loss = 7.5", "reduction=mean", "by 4"):
        assert part in text
    model = ok("mse", "--w", "3", "--order", "2", "--format", "table", env={"COLUMNS": "120"})
    assert "∂ℓ/∂w = 4.0" in model and "∂²ℓ/∂w² = 2.0" in model
