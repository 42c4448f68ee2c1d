"""Promises kept at the edges: a cost model for every allocation (refused before work, or run
under a measured memory bound), a batch stream that never stops, bounded --symbolic, and
output errors that are the user's environment, not bugs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import orjson
import pytest
from actgrad.cli.app import app
from actgrad.core import cost
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("ACTGRAD_")}


def invoke(*args: str, input: str | bytes | None = None, env: dict | None = None):
    return runner.invoke(app, list(args), input=input, env=env)


def refused(*args: str, needle: str = "", input: str | None = None) -> str:
    out = invoke(*args, input=input)
    assert out.exit_code == 2, (out.stdout, out.stderr)
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("actgrad: error: "), out.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


def column(n: int) -> str:
    return json.dumps([[i / n] for i in range(n)])


# --- the cost model, finding by finding -------------------------------------------------


def test_broadcast_loss_of_the_model_is_capped():
    line = refused(
        "mse",
        "--x",
        "[[1],[2],[3],[4],[5],[6]]",
        "--w",
        "1,2,3,4,5,6",
        "--max-elements",
        "10",
        needle="36 elements",
    )
    assert "cap of 10" in line


@pytest.mark.parametrize(
    "args",
    [
        ["l2", "--pred", "-", "--target", "0:1:32768", "--broadcast"],
        ["mse", "--pred", "-", "--target", "0:1:32768", "--broadcast"],
        ["bce", "--pred", "-", "--target", "0:1:32768", "--broadcast"],
        ["expr", "mse_loss(a, b)", "--var", "a=-", "--var", "b=0:1:32768"],
        ["expr", "sum(a*b)", "--var", "a=-", "--var", "b=0:1:32768"],
    ],
)
def test_broadcast_intermediates_are_refused_before_work(args):
    """A 32768-row column against a 32768-point range would make 1.07e9 elements."""
    line = refused(*args, input=column(32768), needle="1,073,741,824 elements")
    assert "--max-elements" in line


def test_jacobian_of_a_broadcast_scalar_is_one_pass_and_exact():
    """mse --w 3 --x 0:1:32000 --reduction none --grad: d/dw (x·w − y)² = 2(x·w − y)·x for
    each of 32,000 elements (was 32,000 backward passes, 30 s and 3.7 GB)."""
    out = invoke(
        "mse",
        "--w",
        "3",
        "--x",
        "0:1:32000",
        "--y",
        "0",
        "--reduction",
        "none",
        "--grad",
        "--json",
        "--dtype",
        "float64",
    )
    assert out.exit_code == 0, out.stderr
    data = orjson.loads(out.stdout)
    x = np.linspace(0, 1, 32000)
    np.testing.assert_allclose(data["jacobian"]["w"], 2 * (3 * x) * x, rtol=1e-15, atol=0)
    np.testing.assert_allclose(data["grad"]["x"], 2 * (3 * x) * 3, rtol=1e-15, atol=0)


def test_jacobian_of_a_broadcast_variable_in_an_expression():
    out = invoke(
        "expr",
        "x*z",
        "--var",
        "x=2",
        "--var",
        "z=0:1:32000",
        "--grad",
        "x",
        "--json",
        "--dtype",
        "float64",
    )
    assert out.exit_code == 0, out.stderr
    data = orjson.loads(out.stdout)
    np.testing.assert_array_equal(data["jacobian"]["x"], data["inputs"]["z"])  # d(x·z)/dx = z


def test_jacobian_of_a_broadcast_row_is_block_diagonal():
    """pred = x·w with x a column (6×1) and w a row (6): ∂ℓᵢⱼ/∂w_k = 2(xᵢw_j − 1)·xᵢ·[j = k]."""
    x, w = np.arange(1, 7, dtype=np.float64)[:, None], np.linspace(-1, 1, 6)
    out = invoke(
        "mse",
        "--x",
        json.dumps(x.tolist()),
        "--w",
        ",".join(repr(float(v)) for v in w),
        "--reduction",
        "none",
        "--grad",
        "--broadcast",
        "--json",
        "--dtype",
        "float64",
    )
    assert out.exit_code == 0, out.stderr
    got = np.array(orjson.loads(out.stdout)["jacobian"]["w"])
    want = np.zeros((6, 6, 6))
    for j in range(6):
        want[:, j, j] = 2 * (x[:, 0] * w[j] - 1) * x[:, 0]
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


def test_jacobian_columns_agree_with_rows_where_there_is_no_double_backward():
    """Columns (a Jacobian-vector product per input element) agree with rows; hardsigmoid
    has no double backward, so its Jacobian falls back to one row per output."""
    import torch
    from actgrad.core.evaluator.derivatives import jacobian_of, jacobian_rows

    torch.manual_seed(0)
    a = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    for value in (
        torch.nn.functional.cosine_similarity(a, b.expand(4, 3), dim=-1),
        torch.nn.functional.hardsigmoid(a * b),
    ):
        for leaf in (a, b):
            np.testing.assert_allclose(
                jacobian_of(value, leaf).detach().numpy(),
                jacobian_rows(value, leaf).detach().numpy(),
                rtol=1e-14,
                atol=1e-16,
            )


def _row_by_row(value, leaf):
    """The Jacobian the plain way: one torch.autograd.grad per output element."""
    import torch

    flat = value.reshape(-1)
    rows = [torch.autograd.grad(flat[i], leaf, retain_graph=True)[0] for i in range(flat.numel())]
    return torch.stack(rows).reshape((*value.shape, *leaf.shape))


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_jacobians_in_blocks_are_bit_identical_to_one_pass_per_row(monkeypatch, batched, dtype):
    """Rows are taken a block at a time (a batched backward pass); with or without torch's
    batching (the fallback: a pass per row), every Jacobian, per-slice Jacobian and Hessian is
    bit for bit the one of a separate torch.autograd.grad per output element."""
    import torch
    import torch.nn.functional as F
    from actgrad.core.evaluator import derivatives

    if not batched:
        real = torch.autograd.grad

        def no_batching(*args, **kwargs):
            if kwargs.get("is_grads_batched"):
                raise RuntimeError("no batching rule")
            return real(*args, **kwargs)

        monkeypatch.setattr(torch.autograd, "grad", no_batching)
    monkeypatch.setattr(derivatives, "BLOCK", 40)  # several blocks, a short last one
    torch.manual_seed(1)
    dt = getattr(torch, dtype)
    x = (torch.randn(3, 8, dtype=dt) * 3).requires_grad_(True)
    for fn in (F.softmax, F.log_softmax, F.softmin, F.glu, F.normalize):
        y = fn(x, dim=-1)
        got = derivatives.jacobian_per_slice(y, x, -1)  # (3, m, 8): one Jacobian per row of x
        full = _row_by_row(y, x)  # (3, m, 3, 8)
        want = torch.stack([full[r, :, r, :] for r in range(3)])
        assert torch.equal(got, want), fn.__name__
        assert torch.equal(derivatives.jacobian_rows(y, x), full), fn.__name__
    g = torch.autograd.grad((torch.sigmoid(x) * torch.tanh(x)).sum(), x, create_graph=True)[0]
    assert torch.equal(derivatives.jacobian_rows(g, x), _row_by_row(g, x))  # a Hessian
    w = torch.tensor(0.7, dtype=dt, requires_grad=True)
    value = torch.tanh(w * x)  # a broadcast scalar: by columns
    assert torch.equal(derivatives.jacobian_of(value, w), _row_by_row(value, w))


def test_hessian_with_quadratic_work_is_refused_naming_the_work():
    line = refused(
        "expr",
        "sum(sigmoid(x*y))",
        "--var",
        "x=-",
        "--var",
        "y=0:1:2000",
        "--grad",
        "x",
        "--order",
        "2",
        input=column(2000),
        needle="the Hessian for x",
    )
    assert "element operations" in line


def test_dense_jacobian_of_many_outputs_is_refused_by_its_work():
    """softmax's Jacobian of 20,000 points: 4e8 elements (over the cap) and 20,000 passes."""
    refused("softmax", "--x", "0:1:20000", "--grad", needle="the Jacobian")


@pytest.mark.parametrize(
    "args",
    [
        ["sigmoid", "--x", "0:1:20000000", "--check"],
        ["sigmoid", "--x", "0:1:20000000", "--order", "2", "--dtypes", "float32,float16,bfloat16"],
        ["tanh", "--x", "0:1:100000000", "--order", "4", "--json"],
    ],
)
def test_copies_of_check_dtypes_and_json_text_count(args):
    refused(*args, needle="of memory, over the budget of 4.0 GiB")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--width", "-5"], "--width -5 is out of range"),
        (["--width", "100000", "--height", "100000", "--terminal"], "--width 100000"),
        (["--height", "0"], "--height 0"),
        (["--size", "100000x100"], "--size"),
        (["--param", "bogus=0.3"], "no plotted function has a parameter 'bogus'"),
        (["--alpha", "2"], "no plotted function has a parameter 'alpha'"),
    ],
)
def test_plot_canvas_and_parameters(args, needle):
    refused("plot", "sigmoid", "--x", "0:1:5", *args, needle=needle)


def test_plot_curves_together_are_capped():
    refused(
        "plot",
        "sigmoid",
        "tanh",
        "relu",
        "--x",
        "0:1:1000",
        "--grad",
        "--max-elements",
        "5000",
        needle="the plot's curves",
    )


def test_memory_budget_is_four_times_the_caps_bytes_with_a_floor():
    assert cost.memory_budget(2**27) == 4 * 8 * 2**27
    assert cost.memory_budget(10) == cost.MEMORY_FLOOR


# --- measured memory: refused before allocating, or under the estimate and the budget ---

CAP = 1 << 21  # 2M elements: a budget of 64 MiB, small enough to measure against
SLACK = 24 << 20  # allocator and first-use overhead in a fresh child


@pytest.fixture(scope="module")
def probe():
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "memory_probe.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**ENV, "OMP_NUM_THREADS": "2"},
    )

    def measure(case: dict) -> dict:
        proc.stdin.write(json.dumps(case) + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    yield measure
    proc.stdin.close()
    proc.wait(timeout=60)
    proc.stdout.close()


def _shape_text(shape: str, n: int) -> str:
    if shape == "scalar":
        return "0.5"
    if shape == "column":
        return json.dumps([[0.1 + 0.8 * i / n] for i in range(n)])
    return f"0.1:0.9:{n}"


LOSSES = [
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "smooth_l1_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "poisson_nll_loss",
    "vector_norm",
]
EXPRESSIONS = [
    "mse_loss(a, b)",
    "sum(a*b)",
    "a*b",
    "sigmoid(a*b) - tanh(b)",
    "sum(sigmoid(a*b))",
    "huber_loss(a, b, reduction=none)",
]

sizes = st.sampled_from([1, 7, 100, 1000, 3000, 40_000, 600_000])
shapes = st.sampled_from(["scalar", "column", "row"])


@st.composite
def cases(draw) -> dict:
    """A small description of a request (shapes as (kind, size)); :func:`_request` builds it."""
    # a column is written as a JSON array, whose parsing alone holds ~200 bytes a row
    a, b = (
        (kind, min(n, 40_000) if kind == "column" else n)
        for kind, n in ((draw(shapes), draw(sizes)), (draw(shapes), draw(sizes)))
    )
    options = {"max_elements": CAP, "dtype": draw(st.sampled_from(["float32", "float64"]))}
    if draw(st.booleans()):
        options["grad"] = True
        if draw(st.booleans()):
            options["order"] = 2
    if draw(st.booleans()):
        return {
            "kind": "expr",
            "text": draw(st.sampled_from(EXPRESSIONS)),
            "a": a,
            "b": b,
            "options": options,
        }
    name = draw(st.sampled_from(LOSSES))
    options["broadcast"] = name != "vector_norm"
    model = draw(st.booleans()) and name != "vector_norm"  # the tutorial's pred = x·w
    reduction = draw(st.sampled_from(["none", "mean", "sum"]))
    params = {} if name == "vector_norm" else {"reduction": reduction}
    return {
        "kind": "fn",
        "name": name,
        "model": model,
        "a": a,
        "b": b,
        "params": params,
        "options": options,
    }


def _request(case: dict) -> dict:
    a, b = _shape_text(*case["a"]), _shape_text(*case["b"])
    if case["kind"] == "expr":
        return {**case, "vars": [f"a={a}", f"b={b}"]}
    inputs = (
        {"x": [a], "w": [b], "target": ["0.5"]} if case["model"] else {"pred": [a], "target": [b]}
    )
    return {**case, "inputs": inputs}


def _bounded(case: dict, answer: dict) -> None:
    assert answer["status"] in ("ok", "refused", "error"), (case, answer)
    if answer["status"] != "ok":  # refused before allocating anything of the request's size
        assert answer["peak"] < 16 << 20, (case, answer)
        return
    assert answer["peak"] <= answer["estimate"] + SLACK, (case, answer)
    assert answer["peak"] <= cost.memory_budget(CAP) + SLACK, (case, answer)


@pytest.mark.slow  # fuzzing: 40 random shapes, each measured in a process (about 9 s)
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=cases())
def test_random_shapes_are_refused_or_stay_under_the_measured_bound(probe, case):
    _bounded(case, probe(_request(case)))


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    "case",
    [
        {
            "kind": "fn",
            "name": "mse_loss",
            "inputs": {"pred": [_shape_text("column", 1400)], "target": ["0:1:1400"]},
            "params": {},
            "options": {"broadcast": True, "grad": True},
        },
        {
            "kind": "fn",
            "name": "mse_loss",
            "inputs": {"w": ["3"], "x": ["0:1:200000"], "target": ["0"]},
            "params": {"reduction": "none"},
            "options": {"grad": True},
        },
        {
            "kind": "expr",
            "text": "sum(sigmoid(x*y))",
            "vars": [f"x={_shape_text('column', 60)}", "y=0:1:300"],
            "options": {"wrt": ["x"], "order": 2},
        },
        {
            "kind": "fn",
            "name": "softmax",
            "inputs": {"x": ["0:1:2000"]},
            "params": {},
            "options": {"grad": True},
        },
        {
            "kind": "fn",
            "name": "tanh",
            "inputs": {"x": ["0:1:400000"]},
            "params": {},
            "options": {"order": 4},
        },
        {
            "kind": "fn",
            "name": "sigmoid",
            "inputs": {"x": ["0:1:500000"]},
            "params": {},
            "options": {"grad": True, "check": True},
        },
        {
            "kind": "expr",
            "text": "sigmoid(tanh(x)*gelu(x))*mish(x)",
            "vars": ["x=0:1:20000"],
            "options": {"order": 4},
        },
        {
            "kind": "expr",
            "text": "mish(" * 64 + "x" + ")" * 64,
            "vars": ["x=0:1:3000"],
            "options": {"order": 4},
        },
    ],
    ids=[
        "broadcast-mse",
        "model-jacobian",
        "expr-hessian",
        "softmax-jacobian",
        "tanh-order-4",
        "check",
        "expr-order-4",
        "mish-nested-64-order-4",
    ],
)
@pytest.mark.parametrize("fmt", ["json", "plain", "table"])
def test_worst_shapes_stay_under_their_estimate(probe, case, fmt):
    """Each kind's worst shape, written as JSON (whole), plain lines (a chunk at a time: a
    Jacobian's rows are thousands of numbers each) and a table."""
    streamed = fmt != "json"
    case = {**case, "format": fmt}
    case["options"] = {"max_elements": CAP * 4, "streamed": streamed, **case["options"]}
    answer = probe(case)
    assert answer["status"] == "ok", answer
    assert answer["peak"] <= answer["estimate"] + SLACK, (case, answer)


# --- batch never stops -----------------------------------------------------------------


def batch(text: str | bytes, *args: str):
    return invoke("batch", *args, input=text.encode() if isinstance(text, str) else text)


def answers(stdout: str) -> list[dict]:
    """One JSON object a line: lines end at "\n" only (a string may hold U+0085 or U+2028,
    which str.splitlines would break at)."""
    return [orjson.loads(line) for line in stdout.split("\n") if line]


def test_a_parameter_of_the_wrong_json_type_is_that_lines_error():
    lines = [
        '{"fn":"sigmoid","x":0.5}',
        '{"fn":"leaky_relu","x":-1,"negative_slope":{"a":1}}',
        '{"fn":"sigmoid","x":1}',
    ]
    out = batch("\n".join(lines) + "\n")
    got = answers(out.stdout)
    assert out.exit_code == 1 and [a["ok"] for a in got] == [True, False, True]
    assert got[1]["error"]["code"] == "bad_parameter"
    assert "--negative-slope must be a number" in got[1]["error"]["message"]


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["sigmoid", "mse", "x*w", "0:1:3", "nan", "-"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
KEYS = [
    "fn",
    "expr",
    "vars",
    "x",
    "w",
    "y",
    "pred",
    "target",
    "grad",
    "wrt",
    "order",
    "index",
    "dim",
    "dtype",
    "device",
    "params",
    "seed",
    "broadcast",
    "symbolic",
    "id",
    "negative_slope",
    "alpha",
    "reduction",
    "approximate",
    "max_elements",
]
request = st.dictionaries(st.sampled_from(KEYS), JSON_VALUES, max_size=6).map(
    lambda d: {"fn": "sigmoid", **d} if "expr" not in d else d
)


@pytest.mark.slow  # fuzzing: 120 random batches (about 19 s)
@settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(lines=st.lists(request, min_size=1, max_size=5))
def test_random_json_lines_each_get_one_answer(lines):
    text = "".join(
        orjson.dumps(line, option=orjson.OPT_NON_STR_KEYS).decode() + "\n"
        for line in lines
        if _dumpable(line)
    )
    count = text.count("\n")
    out = batch(text)
    assert out.exit_code in (0, 1), (text, out.stderr)
    got = answers(out.stdout)
    assert [a["line"] for a in got] == list(range(1, count + 1)), text
    for answer in got:
        assert answer["ok"] or answer["error"]["code"] != "internal_error", (text, answer)


def _dumpable(value: object) -> bool:
    try:
        orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return False
    return True


def test_memory_error_in_one_line_is_that_lines_error(monkeypatch):
    import actgrad.core

    real = actgrad.core.evaluate

    def flaky(req):
        if req.inputs["x"].numel == 3:
            raise MemoryError
        return real(req)

    monkeypatch.setattr(actgrad.core, "evaluate", flaky)
    out = batch('{"fn":"tanh","x":[1,2,3]}\n{"fn":"tanh","x":[1,2]}\n')
    got = answers(out.stdout)
    assert [a["ok"] for a in got] == [False, True]
    assert got[0]["error"]["code"] == "out_of_memory"


def test_sigterm_ends_the_stream_after_the_current_line():
    proc = subprocess.Popen(
        [sys.executable, "-m", "actgrad.cli", "batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    with proc:
        proc.stdin.write(b'{"fn":"sigmoid","x":0.5}\n{"fn":"tanh","x":"0:1:5","grad":true}\n')
        proc.stdin.flush()
        first, second = proc.stdout.readline(), proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)  # the stream is idle, waiting for more input
        guard = threading.Timer(60, proc.kill)  # stdin stays open (no EOF): never hang here
        guard.start()
        rest, stderr = proc.stdout.read(), proc.stderr.read().decode()
        guard.cancel()
        assert proc.wait(timeout=60) == 143
    assert orjson.loads(first)["ok"] and orjson.loads(second)["ok"] and rest == b""
    assert stderr.count("\n") == 1 and stderr.startswith("actgrad: terminated: 2 requests")


# --- --symbolic is bounded -------------------------------------------------------------


def _nested(function: str, depth: int) -> str:
    return f"{function}(" * depth + "x" + ")" * depth


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        (_nested("elu", 5), "sympy took over"),
        (_nested("softplus", 60), "nested too deeply"),
    ],
)
def test_symbolic_past_its_budget_keeps_the_numbers(monkeypatch, expression, why):
    from actgrad.core.evaluator import symbolic

    monkeypatch.setattr(symbolic, "SYMBOLIC_SECONDS", 0.3)
    out = invoke("expr", expression, "--x", "1", "--grad", "--symbolic", "--json")
    assert out.exit_code == 0, out.stderr
    data = orjson.loads(out.stdout)
    assert "symbolic" not in data and isinstance(data["grad"]["x"], float)
    notes = " ".join(data["notes"])
    assert "--symbolic: no formula" in notes and (why in notes or "sympy took over" in notes)


@pytest.mark.parametrize("expression", ["x * ((9**1024)**1024)**16", "x*1e300**1024"])
def test_symbolic_huge_constants_are_floats_not_million_digit_integers(expression):
    out = invoke("expr", expression, "--x", "1", "--grad", "--symbolic", "--json")
    assert out.exit_code == 0, out.stderr
    formula = orjson.loads(out.stdout)["symbolic"]["x"]
    assert "e+" in formula and len(formula) < 40


# --- output and messages ---------------------------------------------------------------


@pytest.mark.parametrize("args", [["list"], ["--version"], ["sigmoid", "--x", "0.5"]])
@pytest.mark.parametrize("stdout", ["full", "closed"])
def test_unwritable_stdout_is_one_line_not_an_internal_error(args, stdout):
    if stdout == "full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    target = open("/dev/full", "w") if stdout == "full" else subprocess.DEVNULL  # noqa: SIM115
    code = "import sys, os; os.close(1); sys.stdout = None; " if stdout == "closed" else ""
    code += "from actgrad.cli.entry import main; sys.argv[1:] = " + repr(args) + "; main()"
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, os\n" + code],
        stdout=target,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        timeout=120,
    )
    if stdout == "full":
        target.close()
    reason = "No space left on device" if stdout == "full" else "standard output is closed"
    assert proc.stderr == f"actgrad: error: cannot write to standard output: {reason}\n"
    assert proc.returncode == 1


def test_table_with_zero_columns_still_prints():
    out = invoke("sigmoid", "--x", "1", "--format", "table", env={"TERM": "dumb", "COLUMNS": "0"})
    assert out.exit_code == 0 and "0.7310586" in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["elu", "--x", "-1", "--alpha", "1e308"],
        ["threshold", "--x", "1", "--threshold", "0", "--value", "1e39"],
        ["hardtanh", "--x", "1", "--max-val", "70000", "--dtype", "float16"],
        ["expr", "elu(x, alpha=1e300)", "--x", "-1"],
    ],
)
def test_parameter_overflowing_the_dtype_is_a_usage_error(args):
    refused(*args, needle="overflows")


def test_float64_takes_the_same_parameter():
    out = invoke("elu", "--x", "-1", "--alpha", "1e308", "--dtype", "float64", "--json")
    assert out.exit_code == 0
    assert orjson.loads(out.stdout)["value"] == pytest.approx(-(1 - np.exp(-1)) * 1e308)


@pytest.mark.parametrize("ord_text", ["inf", "-inf"])
def test_infinite_ord_echoes_as_given_and_reads_back(ord_text):
    out = invoke("l2", "--x", "3,-4", "--ord", ord_text, "--json")
    data = orjson.loads(out.stdout)
    assert data["params"] == {"ord": ord_text}
    again = answers(
        batch(orjson.dumps({"fn": "l2", "x": [3, -4], **data["params"]}).decode() + "\n").stdout
    )[0]
    assert again["result"]["value"] == data["value"] == (4.0 if ord_text == "inf" else 3.0)


@pytest.mark.slow
def test_random_command_lines_each_get_one_answer():
    """The argv fuzz of test_fuzz.py, as batch lines: one answer per line, never internal."""
    import shlex

    from test_fuzz import COMMANDS, OPTIONS, TOKENS

    @settings(
        max_examples=120,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        st.lists(
            st.lists(st.sampled_from([*COMMANDS, *OPTIONS, *TOKENS]), min_size=1, max_size=6),
            min_size=1,
            max_size=4,
        )
    )
    def check(argvs):
        lines = [" ".join(shlex.quote(a) for a in argv).replace("\n", " ") for argv in argvs]
        text = "".join(line + "\n" for line in lines)
        out = batch(text)
        assert out.exit_code in (0, 1), (text, out.stderr)
        got = answers(out.stdout)
        assert [a["line"] for a in got] == list(range(1, text.count("\n") + 1)), text
        for answer in got:
            assert answer["ok"] or answer["error"]["code"] != "internal_error", (text, answer)

    check()


def test_every_int_parameters_default_is_in_its_own_range():
    """Each entry's whole-number parameter takes its own default when given: torch's
    ignore_index −100 is a class index, not a dim (once refused as outside −64..63)."""
    from actgrad.core.functions import registry

    for spec in registry.REGISTRY.values():
        for p in spec.params:
            if p.kind == "int" and p.default is not None:
                assert p.span[0] <= p.default <= p.span[1], (spec.name, p.name)


def test_an_explicit_default_changes_nothing():
    args = ["cross_entropy", "--input", "1,2,3", "--target", "0", "--grad", "--json"]
    given = invoke(*args, "--ignore-index", "-100")
    assert given.exit_code == 0, given.output
    assert orjson.loads(given.stdout) == orjson.loads(invoke(*args).stdout)


def test_more_groups_than_a_dim_has_room_for_is_only_a_shape_error():
    x = ",".join(str(i) for i in range(128))
    done = invoke("group_norm", "--x", x, "--num-groups", "64", "--json")
    assert done.exit_code == 0, done.output
    refused("group_norm", "--x", x, "--num-groups", "0", needle="num_groups must be positive")
