"""--report: an issue-ready report of --check's worst finding, whose reproducer (torch only, run
in a fresh Python) gives torch's number bit for bit; nothing flagged says so and exits 0."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import mpmath
import numpy as np
import pytest
from actgrad.core.accuracy.report import stable_value
from actgrad.core.functions import registry

from tests.test_new_user import cli


def _code(report: str) -> str:
    found = re.search(r"```python\n(.*?)```", report, re.S)
    assert found, report
    return found.group(1)


def _table(report: str, row: str) -> str:
    found = re.search(rf"^\| {re.escape(row)} \| `([^`]*)` \|$", report, re.M)
    assert found, report
    return found.group(1)


def _run(code: str) -> tuple[int, str]:
    """The reproducer in a fresh, isolated Python: (exit status, what it printed)."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout + done.stderr


def _printed(output: str, label: str) -> float:
    found = re.search(rf"^{label}:\s+(\S+)$", output, re.M)
    assert found, output
    return float(found.group(1))


def _bits(v: float) -> bytes:
    return np.float64(v).tobytes()


def test_the_issue_example_reproduces_torchs_zero_and_the_true_value():
    done = cli(
        "sigmoid", "--x", "37.42994775023705", "--grad", "--dtype", "float64", "--check",
        "--report",
    )  # fmt: skip
    assert done.exit_code == 1  # a finding fails, as --check does
    report = done.stdout
    assert report.startswith(
        "# torch.sigmoid backward loses a representable float64 derivative at "
        "x = 37.42994775023705\n"
    )
    assert _table(report, "true value, 20 digits").startswith("5.55111512312577547")
    assert "σ(x)·σ(−x)" in report  # the registry's stable form
    assert "PyTorch version:" in report and "torch CPU capability:" in report
    code = _code(report)
    assert [line for line in code.splitlines() if "import" in line] == ["import torch"]
    status, output = _run(code)
    assert status == 1 and "AssertionError" in output  # it asserts against the true value
    assert _printed(output, "torch") == 0.0
    assert _printed(output, "expected") == 5.551115123125775e-17


# each: a finding of another shape; the reproducer must give torch's number bit for bit
FINDINGS = {
    "first derivative, float32": "tanh --x -9.0109 --grad --dtype float32",
    "second derivative": "silu --x 40 --order 2 --dtype float64",
    "a loss": "binary-cross-entropy-with-logits --pred 40 --target 1 --grad --dtype float64",
    "a function along a dim": "softmax --x [[0,40,80],[1,2,3]] --dim 0 --grad --dtype float32",
    "an expression's derivative": "expr 'log(1 + exp(x))' --x 40 --order 2 --dtype float64",
    "torch's vectorized kernel": "gelu --x 2.8247172832489014 --dtype float32 --ulps 0",
    "bfloat16": "sigmoid --x 7 --grad --dtype bfloat16",
}
# the default run keeps a first derivative and a Jacobian entry; the rest run with --slow ones
SLOW = {
    "torch's vectorized kernel",
    "bfloat16",
    "a loss",
    "second derivative",
    "an expression's derivative",
}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in FINDINGS],
)
def test_a_reproducer_gives_torchs_number_bit_for_bit(name):
    args = shlex.split(FINDINGS[name])
    done = cli(*args, "--report")
    assert done.exit_code == 1, done.output
    report = done.stdout
    assert "the reproducer gives torch's number bit for bit" in report
    status, output = _run(_code(report))
    assert status == 1, output  # the assertion against the true value fails
    torch_said = float(_table(report, "torch"))
    assert _bits(_printed(output, "torch")) == _bits(torch_said)
    true = float(_table(report, "true value, rounded to float64"))
    assert _printed(output, "expected") == true
    # and the number is actgrad's own result for the request, not only the report's word
    # (JSON writes each number as the shortest digits of its dtype: read back in the dtype)
    dtype = {"float16": np.float16, "float32": np.float32, "bfloat16": np.float32}.get(
        args[args.index("--dtype") + 1], np.float64
    )
    numbers = _numbers(json.loads(cli(*args, "--check", "--json").stdout))  # --ulps is --check's
    assert any(_bits(float(dtype(v))) == _bits(torch_said) for v in numbers)


@pytest.mark.parametrize("name", ["y", "lambda", "torch", "print", "t1", "g", "seed", "actual"])
def test_a_variable_named_as_python_or_the_script_names_things_reproduces(name):
    """A variable's name never collides with Python's (lambda, print), the script's own (y,
    t1, g, seed, actual) or torch: the script runs to its assertion and gives torch's 0."""
    done = cli("expr", f"sigmoid({name})", "--var", f"{name}=40", "--grad", "--dtype", "float64",
               "--report")  # fmt: skip
    assert done.exit_code == 1, done.output
    report = done.stdout
    assert "the reproducer gives torch's number bit for bit" in report
    status, output = _run(_code(report))
    assert status == 1 and "AssertionError: torch gives 0.0" in output, output
    assert _printed(output, "torch") == 0.0 == float(_table(report, "torch"))


def test_bit_for_bit_only_after_the_script_ran_to_its_end(monkeypatch):
    from actgrad.core.accuracy import reproducer

    assert reproducer.run("actual = 1.0\nassert actual == 2\n")[0] == 1.0  # its own assertion
    assert reproducer.run("actual = 1.0\nprint = None\nprint('x')\n")[0] is None


def _numbers(data) -> list[float]:
    if isinstance(data, dict):
        return [v for k, x in data.items() if k not in ("inputs", "params") for v in _numbers(x)]
    if isinstance(data, list):
        return [v for x in data for v in _numbers(x)]
    if isinstance(data, float | int) and not isinstance(data, bool):
        return [float(data)]
    if data in ("inf", "-inf", "nan", "Infinity", "-Infinity", "NaN"):  # JSON has no inf
        return [float(data.replace("inity", ""))]
    return []


def test_vectorized_kernel_reports_say_why_the_input_is_many_copies():
    done = cli("gelu", "--x", "2.8247172832489014", "--dtype", "float32", "--ulps", "0", "--report")
    assert "64 copies of the point" in done.stdout
    assert "torch.full((64,)" in _code(done.stdout)


def test_nothing_flagged_says_so_and_exits_0():
    done = cli("sigmoid", "0.5", "--grad", "--report")
    assert done.exit_code == 0
    assert done.stdout == ""
    assert "nothing to report" in done.stderr


def test_a_dtypes_own_rounding_is_no_finding():
    """mse of 1e20 is 5e39: float32's inf is its correct rounding, not torch's error (the
    Hessian is judged by its true value too). --check fails on it, and --report has nothing
    to report."""
    args = ["mse", "--pred", "[1e20, 1]", "--target", "[0,0]", "--order", "2", "--dtype", "float32"]
    done = cli(*args, "--report")
    assert done.exit_code == 1 and done.stdout == ""
    assert "nothing to report" in done.stderr and "own rounding" in done.stderr
    check = json.loads(cli(*args, "--check", "--json").stdout)["check"]
    assert check["reference"] == "mpmath" and not check["reference_missing"]
    assert {f["path"] for f in check["flags"]} == {"value"}  # the Hessian holds


def test_a_report_file_keeps_the_result_on_stdout(tmp_path):
    target = tmp_path / "finding.md"
    done = cli("sigmoid", "--x", "40", "--grad", "--dtype", "float64", "--report", str(target))
    assert done.exit_code == 1
    assert done.stdout == "1.0\t0.0\n"  # the result (σ(40), σ′(40)), as without --report
    assert target.read_text().startswith("# torch.sigmoid backward loses")
    assert f"wrote {target}" in done.stderr


REPORT_ARGS = ("sigmoid", "--x", "40", "--grad", "--dtype", "float64", "--report")


@pytest.mark.parametrize("command", ["report", "plot"])
def test_output_files_never_follow_another_users_link(tmp_path, command):
    shared = tmp_path / "shared"  # a /tmp: sticky, open to all
    shared.mkdir()
    shared.chmod(0o1777)
    victim = tmp_path / "victim"
    victim.write_text("theirs\n")
    link = shared / ("r.md" if command == "report" else "p.png")
    link.symlink_to(victim)
    other = os.geteuid() + 4242  # another user's link (as root; else one's own is not theirs)
    try:
        os.lchown(link, other, other)
    except PermissionError:
        pytest.skip("making another user's link needs root")
    args = [*REPORT_ARGS, str(link)] if command == "report" else ["plot", "relu", "-o", str(link)]
    done = cli(*args)
    assert done.exit_code == 2 and "symbolic link of another user's" in done.stderr
    assert done.stdout == "" and "Traceback" not in done.output
    assert victim.read_text() == "theirs\n" and link.is_symlink()
    assert sorted(p.name for p in shared.iterdir()) == [link.name]  # nothing left beside it


def test_a_report_replaces_its_file_whole_and_follows_ones_own_link(tmp_path):
    target = tmp_path / "r.md"
    target.write_text("old\n")
    mine = tmp_path / "mine.md"
    mine.symlink_to(target)
    done = cli(*REPORT_ARGS, str(mine))
    assert done.exit_code == 1, done.output
    assert mine.is_symlink() and target.read_text().startswith("# torch.sigmoid backward")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.md", "r.md"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_number_after_a_bare_report_is_an_input_not_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = cli("sigmoid", "--grad", "--dtype", "float64", "--report", "37.42994775023705")
    assert done.stdout.startswith("# torch.sigmoid backward")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["sigmoid", "40", "--grad", "--dtypes", "float32", "--report"], "one dtype"),
        (["sigmoid", "40", "--grad", "--report", "/nonexistent/dir/r.md"], "cannot write"),
        (["gumbel-softmax", "--x", "[1,2]", "--report"], "random"),
        (["sigmoid", "40", "--grad", "--report", "--json"], "not JSON"),
    ],
)
def test_what_a_report_cannot_do_is_a_usage_error(args, says):
    done = cli(*args)
    assert done.exit_code == 2, done.output
    assert done.stdout == ""
    assert says in done.stderr and "Traceback" not in done.output


def test_a_batch_line_cannot_ask_for_a_report():
    line = '{"fn": "sigmoid", "x": 40, "grad": true, "report": true}\n'
    done = cli("batch", input=line)
    assert "cannot write a report" in done.stdout


def _true_derivative(name: str, order: int, x: float, params: dict) -> float:
    """mpmath at 400 digits, from the textbook formulas (not actgrad's reference)."""
    with mpmath.workdps(400):  # tanh(−80) is −1 + 1e−69: the digits below that count
        forms = {
            "sigmoid": lambda t: 1 / (1 + mpmath.exp(-t)),
            "logsigmoid": lambda t: -mpmath.log1p(mpmath.exp(-t)),
            "tanh": mpmath.tanh,
            "silu": lambda t: t / (1 + mpmath.exp(-t)),
            "softplus": lambda t: mpmath.log1p(mpmath.exp(params["beta"] * t)) / params["beta"],
        }
        return float(mpmath.diff(forms[name], mpmath.mpf(x), order))


POINTS = [-700.0, -80.0, -37.5, -20.0, -5.0, -0.5, 0.3, 2.0, 9.0, 19.0]


@pytest.mark.parametrize(
    ("name", "order"),
    [(s.name, k) for s in registry.specs() for k in s.stable],
)
def test_stable_formulas_keep_every_digit(name, order):
    spec = registry.get(name)
    params = spec.defaults()
    _, source = spec.stable[order]
    for x in POINTS:
        true = _true_derivative(name, order, x, params)
        if abs(true) < 1e-300:  # below float64's normal numbers: nothing to keep
            continue
        got = stable_value(spec, params, x, "float64", source)
        ulp = np.spacing(abs(true))
        assert abs(got - true) <= 16 * ulp, (name, order, x, got, true)
