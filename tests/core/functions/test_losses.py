"""Every loss (and the vector norm) against hand-written float64 references, per reduction;
gradients against finite differences of the references; gradcheck; the issue's examples; lint."""

from __future__ import annotations

import numpy as np
import pytest
import reference_losses as ref
import torch
from actgrad.cli.app import app
from actgrad.core import evaluate
from actgrad.core.errors import BadParameter
from actgrad.core.functions import registry
from actgrad.core.request import build_request
from conftest import text
from typer.testing import CliRunner

RNG = np.random.default_rng(20261126)
F64 = {"rtol": 1e-7, "atol": 1e-7}


def normal(*shape):
    return RNG.normal(size=shape)


def log_softmax(z):
    return z - ref.logsumexp(z, axis=-1, keepdims=True)


def signs(*shape):
    return np.where(RNG.random(shape) < 0.5, -1.0, 1.0)


Z = normal(3, 4)
P = normal(5)
T = normal(5)
LOGP_TC = log_softmax(normal(6, 2, 4))
CASES = [
    ("l1_loss", {"pred": P, "target": T}, {}),
    ("l1_loss", {"pred": P, "target": T, "weight": RNG.random(5)}, {}),
    ("mse_loss", {"pred": P, "target": T}, {}),
    ("mse_loss", {"pred": P, "target": T, "weight": RNG.random(5)}, {}),
    ("huber_loss", {"pred": P, "target": T, "weight": RNG.random(5)}, {"delta": 0.7}),
    ("smooth_l1_loss", {"pred": P, "target": T}, {"beta": 0.5}),
    ("smooth_l1_loss", {"pred": P, "target": T}, {"beta": 0.0}),
    (
        "binary_cross_entropy",
        {"pred": RNG.uniform(0.05, 0.95, 5), "target": RNG.random(5), "weight": RNG.random(5)},
        {},
    ),
    ("binary_cross_entropy_with_logits", {"pred": P, "target": RNG.random(5)}, {}),
    (
        "binary_cross_entropy_with_logits",
        {"pred": Z, "target": RNG.random((3, 4)), "pos_weight": RNG.random(4) + 0.5},
        {},
    ),
    ("cross_entropy", {"pred": Z, "target": np.array([0, 3, 1])}, {}),
    (
        "cross_entropy",
        {"pred": Z, "target": np.array([2, -100, 1]), "weight": RNG.random(4) + 0.1},
        {},
    ),
    ("cross_entropy", {"pred": Z, "target": np.array([0, 3, 1])}, {"label_smoothing": 0.1}),
    ("cross_entropy", {"pred": Z, "target": np.exp(log_softmax(normal(3, 4)))}, {}),
    ("cross_entropy", {"pred": np.array([2.0, 1.0, 0.1]), "target": np.array(0.0)}, {}),
    (
        "nll_loss",
        {"pred": log_softmax(Z), "target": np.array([1, 1, 2]), "weight": RNG.random(4) + 0.1},
        {},
    ),
    ("kl_div", {"pred": log_softmax(Z), "target": np.exp(log_softmax(normal(3, 4)))}, {}),
    ("kl_div", {"pred": log_softmax(Z), "target": log_softmax(normal(3, 4))}, {"log_target": True}),
    ("poisson_nll_loss", {"pred": P, "target": RNG.poisson(2, 5).astype(float)}, {}),
    (
        "poisson_nll_loss",
        {"pred": RNG.uniform(0.5, 3, 5), "target": RNG.uniform(0, 4, 5)},
        {"log_input": False, "full": True},
    ),
    ("gaussian_nll_loss", {"pred": P, "target": T, "var": RNG.uniform(0.5, 2, 5)}, {}),
    ("gaussian_nll_loss", {"pred": P, "target": T, "var": RNG.uniform(0.5, 2, 5)}, {"full": True}),
    ("hinge_embedding_loss", {"pred": np.abs(P), "target": signs(5)}, {"margin": 1.5}),
    ("soft_margin_loss", {"pred": P, "target": signs(5)}, {}),
    (
        "multilabel_soft_margin_loss",
        {"pred": Z, "target": (RNG.random((3, 4)) < 0.5) + 0.0, "weight": RNG.random(4)},
        {},
    ),
    (
        "multilabel_margin_loss",
        {"pred": Z, "target": np.array([[3, 0, -1, 1], [1, 2, 3, -1], [-1, 0, 0, 0]])},
        {},
    ),
    ("multi_margin_loss", {"pred": Z, "target": np.array([0, 3, 1])}, {}),
    (
        "multi_margin_loss",
        {"pred": Z, "target": np.array([2, 0, 1]), "weight": RNG.random(4)},
        {"p": 2, "margin": 0.5},
    ),
    ("margin_ranking_loss", {"x1": P, "x2": T, "target": signs(5)}, {"margin": 0.1}),
    (
        "cosine_embedding_loss",
        {"x1": Z, "x2": normal(3, 4), "target": np.array([1.0, -1, -1])},
        {"margin": -0.2},
    ),
    (
        "triplet_margin_loss",
        {"anchor": Z, "positive": normal(3, 4), "negative": normal(3, 4)},
        {"margin": 2.0},
    ),
    (
        "triplet_margin_loss",
        {"anchor": Z, "positive": normal(3, 4), "negative": normal(3, 4)},
        {"p": 1.0, "swap": True, "margin": 2.0},
    ),
    (
        "ctc_loss",
        {
            "log_probs": LOGP_TC,
            "targets": np.array([[1, 2], [3, 3]]),
            "input_lengths": np.array([6, 5]),
            "target_lengths": np.array([2, 1]),
        },
        {},
    ),
    ("ctc_loss", {"log_probs": LOGP_TC[:, 0, :], "targets": np.array([1, 2, 2])}, {}),
    ("vector_norm", {"x": P}, {}),
    ("vector_norm", {"x": Z}, {"ord": 1.0}),
    ("vector_norm", {"x": P}, {"ord": 3.0}),
    ("vector_norm", {"x": P}, {"ord": np.inf}),
    ("vector_norm", {"pred": P, "target": T}, {}),
    ("cosine_similarity", {"x1": P, "x2": T}, {}),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)]


def run(name, inputs, params=None, **options):
    raw = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (params or {}).items()}
    options.setdefault("dtype", "float64")
    return evaluate(build_request(name, {k: [text(v)] for k, v in inputs.items()}, raw, **options))


def reference(name, inputs, params, reduction):
    fn = getattr(ref, name)
    out = fn(**inputs, **{k: v for k, v in params.items() if k != "reduction"})
    if registry.get(name).kind == "norm":  # no reduction: the value itself
        return out
    unreduced, divisor, *lengths = out
    pred = inputs.get("pred", inputs.get("log_probs"))
    return ref.reduce(name, unreduced, divisor, reduction, pred, lengths[0] if lengths else None)


def reductions(name):
    spec = registry.get(name)
    return spec.param("reduction").choices if spec.params[0].name == "reduction" else (None,)


def test_every_torch_loss_is_registered():
    losses = {n for n in dir(torch.nn.functional) if n.endswith("_loss")} | {
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "cross_entropy",
        "kl_div",
    }
    losses.discard("triplet_margin_with_distance_loss")  # takes a Python callable: not a CLI
    assert {s.name for s in registry.specs() if s.kind == "loss"} == losses


def test_every_loss_entry_holds_its_exact_form():
    """A loss is one entry: its arbitrary-precision form is the entry's own ``exact``."""
    for spec in registry.specs():
        if spec.kind != "activation":
            assert spec.exact is not None, spec.name


@pytest.mark.parametrize(("name", "inputs", "params"), CASES, ids=IDS)
def test_values_match_reference_for_every_reduction(name, inputs, params):
    for reduction in reductions(name):
        extra = {} if reduction is None else {"reduction": reduction}
        result = run(name, inputs, {**params, **extra})
        expected = reference(name, inputs, params, reduction)
        np.testing.assert_allclose(result.value, expected, **F64, err_msg=str(reduction))


def _differentiable(name, inputs):
    spec = registry.get(name)
    return [
        n
        for n in inputs
        if spec.tensor_input(n).grad != "never"
        and not (name == "binary_cross_entropy" and n == "target")
        and not (name == "kl_div" and n == "target")
    ]


def _numeric_grad(name, inputs, params, reduction, wrt, h=1e-6):
    if name == "ctc_loss":  # torch differentiates through the log_softmax that made log_probs

        def through_log_softmax(name, values, params, reduction):
            return reference(name, {**values, wrt: log_softmax(values[wrt])}, params, reduction)

        return _numeric(through_log_softmax, name, inputs, params, reduction, wrt, h)
    return _numeric(reference, name, inputs, params, reduction, wrt, h)


def _numeric(fn, name, inputs, params, reduction, wrt, h):
    base = {k: np.array(v, dtype=np.float64) for k, v in inputs.items()}
    grad = np.zeros_like(base[wrt])
    for idx in np.ndindex(base[wrt].shape):
        up, down = dict(base), dict(base)
        up[wrt] = base[wrt].copy()
        down[wrt] = base[wrt].copy()
        up[wrt][idx] += h
        down[wrt][idx] -= h
        grad[idx] = (fn(name, up, params, reduction) - fn(name, down, params, reduction)) / (2 * h)
    return grad


@pytest.mark.parametrize(("name", "inputs", "params"), CASES, ids=IDS)
def test_gradients_match_finite_differences_of_the_reference(name, inputs, params):
    wrt = _differentiable(name, inputs)
    for reduction in {r for r in reductions(name) if r != "none"}:
        extra = {} if reduction is None else {"reduction": reduction}
        result = run(name, inputs, {**params, **extra}, grad=True, wrt=wrt)
        for n in wrt:
            expected = _numeric_grad(name, inputs, params, reduction, n)
            np.testing.assert_allclose(
                result.derivatives[1][n], expected, rtol=1e-5, atol=1e-7, err_msg=f"{reduction} {n}"
            )


@pytest.mark.parametrize(
    ("name", "inputs", "params"),
    [c for c in CASES if registry.get(c[0]).kind != "norm"],
    ids=[i for i, c in zip(IDS, CASES, strict=True) if registry.get(c[0]).kind != "norm"],
)
def test_reduction_none_gives_per_element_derivatives(name, inputs, params):
    wrt = _differentiable(name, inputs)
    result = run(name, inputs, {**params, "reduction": "none"}, grad=True, wrt=wrt)
    summed = run(name, inputs, {**params, "reduction": "sum"}, grad=True, wrt=wrt)
    for n in wrt:  # losses of independent elements: d sum / d input = each element's own
        np.testing.assert_allclose(result.derivatives[1][n], summed.derivatives[1][n], **F64)
    assert any("reduction=none" in note for note in result.notes)


@pytest.mark.parametrize(("name", "inputs", "params"), CASES, ids=IDS)
def test_gradcheck(name, inputs, params):
    spec = registry.get(name)
    wrt = _differentiable(name, inputs)
    full = {**spec.defaults(), **params}
    if name == "kl_div":
        full["reduction"] = "batchmean"  # mean warns that it is not the KL divergence
    index_like = {t.name for t in spec.inputs if t.kind == "index"}
    if name == "cross_entropy" and np.shape(inputs["target"]) != np.shape(inputs["pred"]):
        index_like.add("target")

    def tensor(n, v):
        dtype = torch.int64 if n in index_like else torch.float64
        return torch.tensor(np.asarray(v), dtype=dtype)

    fixed = {n: tensor(n, v) for n, v in inputs.items() if n not in wrt}
    if name == "ctc_loss":
        batch = () if inputs["log_probs"].ndim == 2 else (inputs["log_probs"].shape[1],)
        fixed.setdefault("input_lengths", torch.full(batch, inputs["log_probs"].shape[0]))
        fixed.setdefault("target_lengths", torch.full(batch, np.shape(inputs["targets"])[-1]))
    leaves = tuple(tensor(n, inputs[n]).requires_grad_() for n in wrt)

    def fn(*args):
        given = dict(zip(wrt, args, strict=True))
        if name == "ctc_loss":  # see the registry note: torch's gradient is in the logits
            given = {n: torch.log_softmax(v, dim=-1) for n, v in given.items()}
        return spec.call(torch.nn.functional, {**fixed, **given}, full)

    assert torch.autograd.gradcheck(fn, leaves)
    if spec.max_order >= 2:
        assert torch.autograd.gradgradcheck(fn, leaves)


def test_hessian_of_mse_is_2_over_n():
    result = run("mse_loss", {"pred": P, "target": T}, order=2)
    np.testing.assert_allclose(result.derivatives[2]["pred"], 2 * np.eye(5) / 5, **F64)


# --- the tutorial and the issue's examples ---------------------------------------------------


def test_tutorial_model():
    result = run("mse", {"w": 3.0}, grad=True, dtype="float32")
    assert (result.value, result.derivatives[1]["w"]) == (4.0, 4.0)
    assert result.inputs["x"] == 1.0 and result.inputs["target"] == 1.0
    second = run("mse", {"w": 3.0}, order=2)
    assert second.derivatives[2]["w"] == 2.0  # d²/dw² (x·w − y)² = 2x²
    both = run("mse", {"w": 3.0, "x": 2.0, "y": 1.0}, grad=True)
    assert (both.derivatives[1]["w"], both.derivatives[1]["x"]) == (20.0, 30.0)
    only_x = run("mse", {"w": 3.0, "x": 2.0}, grad=True, wrt=["x"])
    assert list(only_x.derivatives[1]) == ["x"]


def test_model_with_reduction_none_gives_the_jacobian_of_w():
    result = run(
        "mse",
        {"x": [1.0, 2.0, 3.0], "w": 2.0, "y": [2.0, 4.0, 5.0]},
        {"reduction": "none"},
        grad=True,
    )
    np.testing.assert_allclose(result.value, [0, 0, 1])
    np.testing.assert_allclose(result.jacobian["w"], [0, 0, 6])  # 2(x·w − y)·x per element


def test_examples_of_the_issue():
    mse = run("mse", {"pred": [1, 2, 3, 4], "target": [0, 0, 0, 0]}, grad=True)
    assert mse.value == 7.5
    np.testing.assert_array_equal(mse.derivatives[1]["pred"], [0.5, 1, 1.5, 2])
    total = run(
        "mse", {"pred": [1, 2, 3, 4], "target": [0, 0, 0, 0]}, {"reduction": "sum"}, grad=True
    )
    assert total.value == 30
    np.testing.assert_array_equal(total.derivatives[1]["pred"], [2, 4, 6, 8])
    norm = run("l2", {"x": [3, 4]}, grad=True)
    assert norm.value == 5
    np.testing.assert_allclose(norm.derivatives[1]["x"], [0.6, 0.8], rtol=1e-15)
    diff = run("l2", {"pred": [0, 0], "target": [3, 4]}, grad=True)
    assert diff.value == 5
    np.testing.assert_allclose(diff.derivatives[1]["pred"], [-0.6, -0.8], rtol=1e-15)
    origin = run("l2", {"x": [0, 0]}, grad=True)
    assert origin.value == 0 and not origin.derivatives[1]["x"].any()
    assert any("subgradient" in n for n in origin.notes)
    z = np.array([2, 1, 0.1])
    logp = z - ref.logsumexp(z)
    ce = run("cross-entropy", {"pred": z, "target": 0}, grad=True)
    assert ce.value == pytest.approx(-logp[0], rel=1e-15)
    np.testing.assert_allclose(ce.derivatives[1]["pred"], np.exp(logp) - [1, 0, 0], **F64)
    soft = run("ce", {"pred": z, "target": [0.7, 0.2, 0.1]})
    assert soft.value == pytest.approx(-(np.array([0.7, 0.2, 0.1]) * logp).sum(), rel=1e-14)
    assert run("bce-with-logits", {"pred": -200, "target": 1}).value == 200
    kl = run(
        "kl", {"pred": [-1.2, -0.9, -1.2], "target": [0.3, 0.4, 0.3]}, {"reduction": "batchmean"}
    )
    t = np.array([0.3, 0.4, 0.3])
    assert kl.value == pytest.approx((t * (np.log(t) - [-1.2, -0.9, -1.2])).sum() / 3, rel=1e-14)


# --- lint --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "inputs", "params", "needle"),
    [
        ("mse", {"pred": [1, 2, 3], "target": [1, 2]}, {}, "shape mismatch"),
        ("mse", {"pred": [1, 2], "target": [[1, 2], [3, 4]]}, {}, "--broadcast"),
        ("bce", {"pred": [0.5, 1.5], "target": [1, 0]}, {}, "bce-with-logits"),
        ("bce", {"pred": [0.5, 0.5], "target": [2, 0]}, {}, "[0, 1]"),
        ("bce-with-logits", {"pred": [0.5], "target": [-1]}, {}, "[0, 1]"),
        ("ce", {"pred": [1, 2, 3], "target": 3}, {}, "class index out of range"),
        ("ce", {"pred": [1, 2, 3], "target": 1.5}, {}, "whole numbers"),
        ("ce", {"pred": [[1, 2, 3]], "target": [0, 1]}, {}, "needs class indices"),
        ("nll", {"pred": [-1, -2], "target": -1}, {}, "class index out of range"),
        ("kl", {"pred": [0.2, 0.3, 0.5], "target": [0.3, 0.4, 0.3]}, {}, "looks like prob"),
        ("kl", {"pred": [-1, -2], "target": [-0.5, 1]}, {}, "probabilities (≥ 0)"),
        ("gaussian-nll", {"pred": [1], "target": [0], "var": [-1]}, {}, "non-negative"),
        ("soft-margin", {"pred": [1], "target": [0]}, {}, "1 or -1"),
        ("multi-margin", {"pred": [1, 2], "target": 0}, {"p": 3}, "p must be 1 or 2"),
        ("l2", {"x": [1], "pred": [1], "target": [2]}, {}, "--x, or --pred and --target"),
        ("mse", {"x": [1]}, {}, "needs --w"),
        ("mse", {"w": [1], "pred": [1]}, {}, "not both"),
        ("mse", {"target": [1]}, {}, "needs --pred"),
        ("cosine-embedding", {"x1": [1, 0], "x2": [1, 1, 1], "target": 1}, {}, "share one shape"),
        ("ctc", {"log_probs": [[-0.7, -0.7]], "targets": [0]}, {}, "other than the blank"),
    ],
)
def test_lint_errors(name, inputs, params, needle):
    """Each lint case through the command line: exit 2, one line naming problem and fix."""
    args = [name, "--grad"]
    for key, value in inputs.items():
        args += ["--" + key.replace("_", "-"), text(value)]
    for key, value in params.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("actgrad: error: ")
    assert needle in result.stderr
    assert ";" in result.stderr  # the message carries a fix after the problem


def test_broadcast_on_purpose_and_notes():
    result = run("mse", {"pred": [1, 2], "target": [[1, 2], [3, 4]]}, grad=True, broadcast=True)
    assert result.value == pytest.approx(((np.array([[0, 0], [-2, -2]])) ** 2).mean())
    assert not any("torch warned" in n for n in result.notes)
    scalar_target = run("mse", {"pred": [1, 2], "target": 0}, grad=True)
    assert scalar_target.value == 2.5  # a scalar broadcasts without --broadcast
    kl = run("kl", {"pred": [0.2, -1], "target": [0.3, 0.7]})
    assert any("positive entries" in n for n in kl.notes)
    mean = run("mse", {"pred": [1, 2, 3, 4], "target": [0, 0, 0, 0]}, grad=True)
    assert any("by 4" in n for n in mean.notes)


def test_wrt_choices():
    with pytest.raises(BadParameter, match="cannot be differentiated"):
        run("bce", {"pred": [0.5], "target": [1]}, grad=True, wrt=["target"])
    with pytest.raises(BadParameter, match="cannot be differentiated"):
        run("mse", {"pred": [1], "target": [1]}, grad=True, wrt=["w"])
    target = run("mse", {"pred": [1.0], "target": [3.0]}, grad=True, wrt=["target"])
    assert target.derivatives[1]["target"] == [4.0]


def test_order_limits():
    with pytest.raises(BadParameter, match="reduction is none"):
        run("mse", {"pred": [1, 2], "target": [0, 0]}, {"reduction": "none"}, order=2)
    with pytest.raises(BadParameter, match="no derivative of order 2"):
        run("ctc", {"log_probs": [[-0.7, -0.7]], "targets": [1]}, order=2)


def test_ctc_gradient_is_in_the_logits_not_in_log_probs():
    """The registry note's claim: torch's ctc gradient is not ∂ℓ/∂log_probs."""
    name, inputs, params = CASES[IDS.index("ctc_loss-33")]
    result = run(name, inputs, params, grad=True)
    partial = _numeric(reference, name, inputs, params, "mean", "log_probs", 1e-6)
    assert not np.allclose(result.derivatives[1]["log_probs"], partial, atol=1e-3)
    assert any("log_softmax" in note for note in result.notes)
