"""The Python API (actgrad.evaluate, actgrad.accuracy): the README's examples run as doctests,
numbers against independent references (math, numpy in float64), errors raised as the
command line states them, and importing actgrad stays free of torch."""

from __future__ import annotations

import doctest
import json
import math
import subprocess
import sys
from pathlib import Path

import actgrad
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_examples_run_as_written(monkeypatch):
    monkeypatch.setenv("ACTGRAD_SERVER", "off")
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- python-api:start -->")[1].split("<!-- python-api:end -->")[0]
    test = doctest.DocTestParser().get_doctest(block, {}, "README", "README.md", 0)
    assert len(test.examples) >= 10
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize("x", [-3.0, -0.5, 0.0, 2.0])
def test_values_and_derivatives_match_math(x):
    r = actgrad.evaluate("sigmoid", x=x, order=2, dtype="float64")
    s = _sigmoid(x)
    assert float(r.value) == pytest.approx(s, rel=1e-15)
    assert float(r.grad["x"]) == pytest.approx(s * (1 - s), rel=1e-14)
    assert float(r.derivative(2)["x"]) == pytest.approx(s * (1 - s) * (1 - 2 * s), abs=1e-15)


def test_inputs_take_lists_arrays_tensors_and_text_alike():
    import torch

    want = np.tanh(np.array([-1.0, 0.0, 2.0]))
    for given in ([-1, 0, 2], np.array([-1.0, 0.0, 2.0]), torch.tensor([-1.0, 0.0, 2.0]), "-1,0,2"):
        r = actgrad.evaluate("tanh", x=given, dtype="float64")
        np.testing.assert_allclose(r.value, want, rtol=1e-15)


def test_losses_parameters_and_expressions():
    r = actgrad.evaluate("mse", w=3, grad=True)  # (x·w − y)² with x = y = 1
    assert float(r.value) == 4.0 and float(r.grad["w"]) == 4.0
    r = actgrad.evaluate("leaky_relu", x=[-2, 3], negative_slope=0.25, grad=True)
    np.testing.assert_array_equal(r.value, [-0.5, 3.0])
    np.testing.assert_array_equal(r.grad["x"], [0.25, 1.0])
    r = actgrad.evaluate("x*y + sin(x)", x=0.5, y=[1, 2], grad=True, dtype="float64")
    np.testing.assert_allclose(r.value, 0.5 * np.array([1, 2]) + math.sin(0.5), rtol=1e-15)
    np.testing.assert_allclose(r.grad["y"], [0.5, 0.5])


def test_a_jacobian_against_numpy():
    x = np.array([0.5, -1.0, 2.0])
    p = np.exp(x) / np.exp(x).sum()
    r = actgrad.evaluate("softmax", x=x, grad=True, dtype="float64")
    np.testing.assert_allclose(r.jacobian["x"], np.diag(p) - np.outer(p, p), atol=1e-15)


def test_check_and_json_are_the_command_lines():
    r = actgrad.evaluate("sigmoid", x=[-3, 0.5], grad=True, check=True)
    assert r.check is not None and r.check["ok"] is True
    data = json.loads(r.to_json())
    assert data["function"] == "sigmoid" and data["grad"]["x"] == pytest.approx(
        r.grad["x"].tolist()
    )
    assert "check" in data


def test_results_show_as_the_command_lines_table():
    r = actgrad.evaluate("sigmoid", x=0.5, grad=True)
    text = str(r)
    assert "sigmoid" in text and "0.62245935" in text and "0.23500371" in text
    assert "<table" in r._repr_html_() or "<pre" in r._repr_html_()
    assert hasattr(r, "__rich__")
    assert "sigmoid" in repr(r)


def test_accuracy_rows_json_and_table():
    a = actgrad.accuracy("sigmoid", dtypes="float16", order=1, x="-2:2:41")
    assert [row["quantity"] for row in a.rows] == ["value", "grad"]
    assert all(row["points"] == 41 for row in a.rows)
    assert json.loads(a.to_json())["dtypes"] == ["float16"]
    assert "float16" in str(a)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: actgrad.evaluate("sigmoidd", x=1), "did you mean 'sigmoid'"),
        (lambda: actgrad.evaluate("sigmoid", x=1, foo=2), "sigmoid takes no keyword foo="),
        (lambda: actgrad.evaluate("sigmoid", x=1, format="json"), "returns the numbers"),
        (lambda: actgrad.evaluate("sigmoid", x=1, dtypes="float16,float32"), "once per dtype"),
        (lambda: actgrad.evaluate("sigmoid", x="abc"), "bad number 'abc'"),
        (lambda: actgrad.evaluate("sigmoid", x=1, order=9), "order"),
        (lambda: actgrad.evaluate(3, x=1), "not int"),
        (lambda: actgrad.accuracy("sigmoid", dtypes="float8"), "unknown dtype"),
        (lambda: actgrad.accuracy("sigmoid", exhaustive=True, dtypes="float32"), "shards"),
    ],
)
def test_bad_input_raises_the_command_lines_error(call, words):
    with pytest.raises(actgrad.ActgradError) as raised:
        call()
    assert words in f"{raised.value.message} {raised.value.hint}"


def test_an_unknown_keyword_lists_what_evaluate_takes():
    """Not the command line's output options (a library returns the numbers)."""
    with pytest.raises(actgrad.ActgradError) as raised:
        actgrad.evaluate("leaky_relu", x=1, slope=0.2)
    hint = raised.value.hint
    assert "negative_slope" in hint and "grad" in hint
    assert not {"as_json", "format", "header", "dtypes", "quiet"} & set(hint[10:].split(", "))


def test_importing_actgrad_imports_neither_torch_nor_the_api():
    code = "import sys, actgrad; print('torch' in sys.modules, 'actgrad.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_module_docstring_example_runs(monkeypatch):
    monkeypatch.setenv("ACTGRAD_SERVER", "off")
    from actgrad import api

    assert doctest.testmod(api, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0
