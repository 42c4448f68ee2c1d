"""Every loss of torch.nn.functional (torch 2.13) and the vector norm, as registry entries.

Tensor inputs are named as users think of them (pred, target, x1, x2, anchor, …); ``call``
maps them onto torch's positional arguments. ``shapes`` checks run before torch is imported,
``lint`` checks values (targets outside the loss's domain) and returns notes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import BadInput
from ..words import counted_are
from .spec import FunctionSpec, Param, TensorInput

INDEX = (-(1 << 31), (1 << 31) - 1)  # a class index (ignore_index, blank): any int32

REDUCTIONS = ("none", "mean", "sum")
REDUCTION = Param(
    "reduction", "choice", "mean", "combine per-element losses: none, mean or sum", REDUCTIONS
)
PRED = TensorInput("pred", "prediction: the loss's input", aliases=("input",))
TARGET = TensorInput("target", "target (label)", aliases=("y",), grad="optional")
FIXED_TARGET = TensorInput("target", "target (label)", aliases=("y",), grad="never")
WEIGHT = TensorInput("weight", "rescaling weight", grad="never", required=False)
CLASS_WEIGHT = TensorInput(
    "weight", "weight of each class (C values)", grad="never", required=False
)
INDEX_TARGET = TensorInput(
    "target", "class index per sample (whole numbers)", aliases=("y",), kind="index", grad="never"
)


def _bad(message: str, hint: str) -> BadInput:
    return BadInput(message, hint)


def _outside(t: Any, low: float, high: float) -> bool:
    return bool(((t < low) | (t > high)).any())


def _unit_target(name: str = "target"):
    def lint(t: Mapping[str, Any], p: Mapping[str, Any]) -> list[str]:
        if _outside(t[name], 0, 1):
            raise _bad(f"--{name} must lie in [0, 1] (probabilities)", "give values from 0 to 1")
        return []

    return lint


def _logits_lint(t: Mapping[str, Any], p: Mapping[str, Any]) -> list[str]:
    """bce-with-logits: the target in [0, 1], and a note where the logits are large enough
    that σ(pred) first, then binary_cross_entropy, would lose the loss (|pred| > 16: σ rounds
    to 0 or 1 in float32)."""
    _unit_target()(t, p)
    pred = t["pred"].detach()
    largest = float(pred.abs().max()) if pred.numel() else 0.0
    if largest > 16:
        return [
            f"stable for large |logits| (here up to {largest:.6g}): binary_cross_entropy of "
            "sigmoid(pred) would clamp its logs at -100 there"
        ]
    return []


def _plus_minus_one(t: Mapping[str, Any], p: Mapping[str, Any]) -> list[str]:
    target = t["target"]
    if bool(((target != 1) & (target != -1)).any()):
        raise _bad("--target must be 1 or -1 for this loss", "use 1 (similar) or -1 (dissimilar)")
    return []


def _classes(pred_shape: tuple[int, ...]) -> int:
    return pred_shape[0] if len(pred_shape) == 1 else pred_shape[1]


def _class_index_lint(t: Mapping[str, Any], p: Mapping[str, Any]) -> list[str]:
    target, pred = t["target"], t["pred"]
    if target.dtype.is_floating_point:  # cross_entropy's probability targets
        if _outside(target, 0, 1):
            raise _bad("probability targets must lie in [0, 1]", "or give class indices")
        return []
    classes = _classes(tuple(pred.shape))
    ignore = p.get("ignore_index", None)
    used = target if ignore is None else target[target != ignore]
    if used.numel() and (int(used.min()) < 0 or int(used.max()) >= classes):
        raise _bad(
            f"class index out of range: pred has {classes} classes (0 to {classes - 1})",
            "give indices from 0 to C-1"
            + (f", or {ignore} to ignore" if ignore is not None else ""),
        )
    return []


def _class_shapes(target_name: str = "target", allow_probabilities: bool = False):
    def shapes(s: Mapping[str, tuple[int, ...]], p: Mapping[str, Any]) -> None:
        pred, target = s["pred"], s.get(target_name)
        if len(pred) == 0:
            raise _bad("--pred needs one score per class, e.g. --pred 2,1,0.1", "give a list")
        if target is None:
            return
        if allow_probabilities and target == pred:
            return
        expected = () if len(pred) == 1 else (pred[0], *pred[2:])
        if target != expected:
            more = " or probabilities shaped like --pred" if allow_probabilities else ""
            raise _bad(
                f"--{target_name} has shape {list(target)}; pred {list(pred)} needs class "
                f"indices of shape {list(expected)}{more}",
                "one index per sample: a number for a 1-D pred, a list for a 2-D pred",
            )
        weight = s.get("weight")
        if weight is not None and weight != (_classes(pred),):
            raise _bad(f"--weight needs one value per class ({_classes(pred)})", "fix --weight")

    return shapes


def _multilabel_shapes(s: Mapping[str, tuple[int, ...]], p: Mapping[str, Any]) -> None:
    """multilabel_soft_margin: pred (C) or (N, C), a weight of C values."""
    pred = s["pred"]
    if len(pred) not in (1, 2):
        raise _bad(
            f"--pred has shape {list(pred)}: it needs one score per class, (C) or (N, C)",
            "e.g. --pred 0.5,-1,2 --target 1,0,1",
        )
    weight = s.get("weight")
    if weight is not None and weight != (pred[-1],):
        raise _bad(f"--weight needs one value per class ({pred[-1]})", "fix --weight")


def _pairs_shapes(*names: str, per_sample: str | None = "target"):
    """Inputs of shape (D) or (N, D), equal; optional ±1 target of shape () or (N)."""

    def shapes(s: Mapping[str, tuple[int, ...]], p: Mapping[str, Any]) -> None:
        first = s[names[0]]
        for name in names:
            if s[name] != first or len(first) not in (1, 2):
                raise _bad(
                    f"{', '.join('--' + n for n in names)} must share one shape (D) or (N, D); "
                    f"got {', '.join(str(list(s[n])) for n in names)}",
                    "give vectors of equal length (or matrices with equal rows)",
                )
        if per_sample and per_sample in s and s[per_sample] != first[:-1]:
            raise _bad(
                f"--{per_sample} needs shape {list(first[:-1])} (one per sample)",
                "a single 1 or -1 for vectors, a list for matrices",
            )

    return shapes


def _kl_lint(t: Mapping[str, Any], p: Mapping[str, Any]) -> list[str]:
    pred = t["pred"]
    if not p["log_target"] and _outside(t["target"], 0, math.inf):
        raise _bad("kl_div's --target must be probabilities (≥ 0)", "or pass --log-target")
    rows = pred.reshape(-1, pred.shape[-1]) if pred.ndim else pred.reshape(1, 1)
    if bool((pred > 0).any()):
        if not _outside(pred, 0, 1) and bool(((rows.sum(dim=-1) - 1).abs() < 1e-3).all()):
            raise _bad(
                "kl_div's --pred looks like probabilities, but it takes log-probabilities",
                "pass log(p), e.g. the output of log_softmax",
            )
        return ["kl_div's --pred has positive entries: log-probabilities are ≤ 0"]
    notes = []
    mass = rows.double().exp().sum(dim=-1)
    if bool(((mass - 1).abs() > 1e-3).any()):
        notes.append(
            f"exp(--pred) sums to {float(mass.max()):.6g} along the last dim, not 1: these "
            "log-probabilities do not normalize, so the value is not a KL divergence (it can "
            "be negative)"
        )
    if p["reduction"] == "batchmean":
        size = pred.shape[0] if pred.ndim else 1
        if pred.ndim <= 1:
            notes.append(
                f"reduction=batchmean divides the sum by the size of dim 0, here {size}: a 1-D "
                "input is one distribution, whose KL divergence is reduction=sum"
            )
        else:
            notes.append(
                f"reduction=batchmean divides the sum by the batch size {size}: the "
                "mean KL divergence per distribution (row)"
            )
    elif p["reduction"] == "mean":
        notes.append(
            "reduction=mean divides by the element count, not the batch size: use batchmean "
            "(rows) or sum (one distribution) for a KL divergence"
        )
    return notes


def _gaussian_lint(t: Mapping[str, Any], p: Mapping[str, Any]) -> list[str]:
    if bool((t["var"] < 0).any()):
        raise _bad("--var must be non-negative (a variance)", "give variances ≥ 0")
    return []


def _poisson_lint(t: Mapping[str, Any], p: Mapping[str, Any]) -> list[str]:
    if not p["log_input"] and bool((t["pred"] < 0).any()):
        raise _bad("with --no-log-input, --pred is a rate (≥ 0)", "or use --log-input")
    negative = int((t["target"] < 0).sum())
    if negative:  # torch accepts them; the loss is then no Poisson likelihood
        return [
            f"{counted_are(negative, 'target')} negative: a Poisson target is a count (≥ 0); torch "
            "evaluates the formula anyway, but it is no longer a likelihood"
        ]
    return []


def _bce_lint(t: Mapping[str, Any], p: Mapping[str, Any]) -> list[str]:
    if _outside(t["pred"], 0, 1):
        raise _bad(
            "binary_cross_entropy takes probabilities in [0, 1] as --pred",
            "for logits use bce-with-logits",
        )
    return _unit_target()(t, p)


def _multilabel_margin_shapes(s: Mapping[str, tuple[int, ...]], p: Mapping[str, Any]) -> None:
    if s["target"] != s["pred"] or len(s["pred"]) not in (1, 2):
        raise _bad(
            "multilabel_margin needs --pred and --target of one shape (C) or (N, C)",
            "target: class indices, ended by -1 (e.g. --pred 0.1,0.2,0.4,0.8 --target 3,0,-1,1)",
        )


def _multilabel_margin_lint(t: Mapping[str, Any], p: Mapping[str, Any]) -> list[str]:
    classes = t["pred"].shape[-1]
    if _outside(t["target"], -1, classes - 1):
        raise _bad(f"--target holds class indices 0 to {classes - 1}, ended by -1", "fix them")
    return []


def _ctc_shapes(s: Mapping[str, tuple[int, ...]], p: Mapping[str, Any]) -> None:
    log_probs = s["log_probs"]
    if len(log_probs) not in (2, 3):
        raise _bad(
            "--log-probs must be (T, C) or (T, N, C): time steps × classes",
            "give a JSON array, e.g. [[-1.2,-0.4],[-0.9,-0.5]]",
        )
    batch = () if len(log_probs) == 2 else (log_probs[1],)
    for name in ("input_lengths", "target_lengths"):
        if name in s and s[name] != batch:
            raise _bad(f"--{name.replace('_', '-')} needs shape {list(batch)}", "one per sample")
    targets = s.get("targets")
    if targets is not None and len(targets) != len(batch) + 1 and (targets or batch):
        raise _bad("--targets must be (S) or (N, S) class indices", "one row per sample")


def _ctc_lengths(T, t) -> None:
    """ctc_loss's lengths default to every time step and every target given."""
    if t["targets"].ndim == 0:
        t["targets"] = t["targets"].reshape(1)
    log_probs, targets = t["log_probs"], t["targets"]
    batch = () if log_probs.ndim == 2 else (log_probs.shape[1],)
    if "input_lengths" not in t:
        t["input_lengths"] = T.full(batch, log_probs.shape[0], dtype=T.int64)
    if "target_lengths" not in t:
        t["target_lengths"] = T.full(batch, targets.shape[-1], dtype=T.int64)


def _ctc_lint(t: Mapping[str, Any], p: Mapping[str, Any]) -> list[str]:
    log_probs, targets, lengths = t["log_probs"], t["targets"], t["target_lengths"]
    classes = log_probs.shape[-1]
    if _outside(t["input_lengths"], 0, log_probs.shape[0]):
        raise _bad("--input-lengths exceed the number of time steps", "fix --input-lengths")
    if _outside(lengths, 0, targets.shape[-1]):
        raise _bad("--target-lengths exceed the targets given", "fix --target-lengths")
    if targets.ndim == 2:  # (N, S): torch reads row n up to its length; the rest is padding
        positions = targets.new_tensor(list(range(targets.shape[-1])))
        used = targets[positions < lengths.reshape(-1, 1)]
    else:
        used = targets[: int(lengths.sum())]
    if _outside(used, 0, classes - 1) or bool((used == p["blank"]).any()):
        raise _bad(
            f"--targets must be classes 0 to {classes - 1} other than the blank ({p['blank']}) "
            "within each target length (padding beyond it is ignored, as torch does)",
            "fix --targets or --blank",
        )
    return []


def _norm_shapes(s: Mapping[str, tuple[int, ...]], p: Mapping[str, Any]) -> None:
    direct = "x" in s
    pair = "pred" in s and "target" in s
    if direct == pair or ("pred" in s) != ("target" in s):
        raise _bad(
            "l2 takes --x, or --pred and --target (the norm of target − pred)",
            "e.g. actgrad l2 --x 3,4 or actgrad l2 --pred 0,0 --target 3,4",
        )


def _norm_input(t: Mapping[str, Any]) -> Any:
    return t["x"] if "x" in t else t["target"] - t["pred"]


def _vector_norm(F: Any, t: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
    import torch  # the registry is torch-free until a function is called

    return torch.linalg.vector_norm(_norm_input(t), p["ord"])


def _norm_lint(t: Mapping[str, Any], p: Mapping[str, Any]) -> list[str]:
    if bool((_norm_input(t) == 0).all()):
        return ["at the origin the norm has no gradient; torch returns 0, a subgradient"]
    return []


def _l1_lint(t: Mapping[str, Any], p: Mapping[str, Any]) -> list[str]:
    if bool((t["pred"] == t["target"]).any()):
        return [
            "l1'(0) uses torch's convention sign(0) = 0 where pred = target "
            "(left derivative −1, right derivative 1)"
        ]
    return []


def _ctc_lattice(shapes: Mapping[str, tuple[int, ...]]) -> int:
    """The alignment lattice: time × batch × (2·target length + 1)."""
    steps, targets = shapes["log_probs"], shapes["targets"]
    batch = steps[1] if len(steps) == 3 else 1
    return steps[0] * batch * (2 * (targets[-1] if targets else 1) + 1)


SPECS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "l1_loss",
        "loss",
        "mean absolute error",
        "ℓᵢ = |predᵢ − targetᵢ| (times --weight), then reduced (mean by default)",
        "∂ℓᵢ/∂predᵢ = sign(predᵢ − targetᵢ) (torch: 0 where pred = target)",
        "pred, target ∈ ℝ",
        "[0, ∞)",
        params=(REDUCTION,),
        aliases=("l1",),
        inputs=(PRED, TARGET, WEIGHT),
        aligned=("pred", "target", "weight"),
        model=True,
        max_order=2,
        call=lambda F, t, p: F.l1_loss(t["pred"], t["target"], weight=t.get("weight"), **p),
        lint=_l1_lint,
        example="actgrad l1 --pred 1,2,3 --target 0,2,5 --grad",
        exact=lambda R, a, p: R.weighted(R.map(R.absolute, R.diff(a)), a, p, True),
        weighted_mean_note=(
            "reduction=mean divides the weighted sum, and every derivative, by the weights' sum"
        ),
        sweep={"target": "0"},
    ),
    FunctionSpec(
        "mse_loss",
        "loss",
        "mean squared error",
        "ℓᵢ = (predᵢ − targetᵢ)² (times --weight), then reduced (mean by default)",
        "∂ℓᵢ/∂predᵢ = 2(predᵢ − targetᵢ); model pred = x·w: ∂ℓ/∂w = 2(x·w − y)·x",
        "pred, target ∈ ℝ",
        "[0, ∞)",
        params=(REDUCTION,),
        aliases=("mse",),
        inputs=(PRED, TARGET, WEIGHT),
        aligned=("pred", "target", "weight"),
        model=True,
        max_order=2,
        call=lambda F, t, p: F.mse_loss(t["pred"], t["target"], weight=t.get("weight"), **p),
        example="actgrad mse --w 3 --grad",
        worked_example=(
            "the tutorial's model: pred = x·w with x = 1, label y = 1 and w = 3 gives "
            "ℓ = (x·w − y)² = (3 − 1)² = 4 and ∂ℓ/∂w = 2(x·w − y)·x = 4 "
            "(actgrad mse --w 3 --grad)"
        ),
        exact=lambda R, a, p: R.weighted(R.map(lambda z: z * z, R.diff(a)), a, p, True),
        weighted_mean_note=(
            "reduction=mean divides the weighted sum, and every derivative, by the weights' sum"
        ),
        sweep={"target": "0"},
    ),
    FunctionSpec(
        "huber_loss",
        "loss",
        "quadratic near the target, linear beyond delta",
        "ℓᵢ = ½dᵢ² if |dᵢ| < delta else delta·(|dᵢ| − ½delta), dᵢ = predᵢ − targetᵢ",
        "∂ℓᵢ/∂predᵢ = dᵢ if |dᵢ| < delta else delta·sign(dᵢ)",
        "pred, target ∈ ℝ",
        "[0, ∞)",
        params=(REDUCTION, Param("delta", "float", 1.0, "where quadratic turns linear (> 0)")),
        aliases=("huber",),
        inputs=(PRED, TARGET, WEIGHT),
        aligned=("pred", "target", "weight"),
        model=True,
        max_order=2,
        validate=lambda p: "delta must be positive" if p["delta"] <= 0 else None,
        call=lambda F, t, p: F.huber_loss(t["pred"], t["target"], weight=t.get("weight"), **p),
        example="actgrad huber --pred 0.5,3 --target 0,0 --delta 1 --grad",
        notes=(
            "with --weight, torch's mean divides by the element count; l1 and mse divide by the "
            "sum of the weights",
        ),
        exact=lambda R, a, p: R.weighted(
            R.map(lambda z: R.huber(z, R.mpf(p["delta"]), p), R.diff(a)), a, p, False
        ),
        # the switch |d| < delta is seen only by the second derivative, whose composite
        # double backward works in the dtype: d and delta there (huber_double_backward)
        stored={"delta": "dtype", "_opmath": "dtype"},
        source="torch/csrc/autograd/FunctionsManual.cpp (huber_double_backward)",
        sweep={"target": "0"},
    ),
    FunctionSpec(
        "smooth_l1_loss",
        "loss",
        "huber divided by beta: quadratic below beta, l1 beyond",
        "ℓᵢ = ½dᵢ²/beta if |dᵢ| < beta else |dᵢ| − ½beta, dᵢ = predᵢ − targetᵢ",
        "∂ℓᵢ/∂predᵢ = dᵢ/beta if |dᵢ| < beta else sign(dᵢ)",
        "pred, target ∈ ℝ",
        "[0, ∞)",
        params=(REDUCTION, Param("beta", "float", 1.0, "where quadratic turns linear (≥ 0)")),
        aliases=("smooth-l1",),
        inputs=(PRED, TARGET),
        aligned=("pred", "target"),
        model=True,
        max_order=2,
        validate=lambda p: "beta must not be negative" if p["beta"] < 0 else None,
        call=lambda F, t, p: F.smooth_l1_loss(t["pred"], t["target"], **p),
        example="actgrad smooth-l1 --pred 0.5,3 --target 0,0 --grad",
        exact=lambda R, a, p: R.reduce(
            R.map(lambda z: R.smooth_l1(z, R.mpf(p["beta"]), p), R.diff(a)), p["reduction"]
        ),
        stored={"beta": "dtype", "_opmath": "dtype"},  # as huber's: its double backward's
        source="torch/csrc/autograd/FunctionsManual.cpp (smooth_l1_loss_double_backward)",
        sweep={"target": "0"},
    ),
    FunctionSpec(
        "binary_cross_entropy",
        "loss",
        "cross entropy of probabilities against 0/1 targets",
        "ℓᵢ = −wᵢ·(tᵢ·log pᵢ + (1 − tᵢ)·log(1 − pᵢ)), logs clamped at −100",
        "∂ℓᵢ/∂pᵢ = wᵢ·(pᵢ − tᵢ) / (pᵢ·(1 − pᵢ))",
        "pred ∈ [0, 1], target ∈ [0, 1]",
        "[0, 100·w]",
        params=(REDUCTION,),
        aliases=("bce",),
        inputs=(PRED, FIXED_TARGET, WEIGHT),
        aligned=("pred", "target", "weight"),
        model=True,
        max_order=2,
        lint=_bce_lint,
        call=lambda F, t, p: F.binary_cross_entropy(
            t["pred"], t["target"], weight=t.get("weight"), **p
        ),
        example="actgrad bce --pred 0.9,0.2 --target 1,0 --grad",
        exact=lambda R, a, p: R.weighted(R.map(R.bce, a["pred"], a["target"]), a, p, False),
    ),
    FunctionSpec(
        "binary_cross_entropy_with_logits",
        "loss",
        "binary cross entropy of logits, computed stably",
        "ℓᵢ = −wᵢ·(pos_weight·tᵢ·log σ(zᵢ) + (1 − tᵢ)·log(1 − σ(zᵢ)))",
        "∂ℓᵢ/∂zᵢ = wᵢ·((pos_weight·tᵢ + 1 − tᵢ)·σ(zᵢ) − pos_weight·tᵢ)"
        " (σ(z) − t when pos_weight = 1)",
        "pred ∈ ℝ (logits), target ∈ [0, 1]",
        "[0, ∞)",
        params=(REDUCTION,),
        aliases=("bce-with-logits", "bce_logits"),
        inputs=(
            PRED,
            TARGET,
            WEIGHT,
            TensorInput(
                "pos_weight",
                "weight of positive examples (per class)",
                grad="never",
                required=False,
            ),
        ),
        aligned=("pred", "target", "weight"),
        model=True,
        max_order=2,
        lint=_logits_lint,
        call=lambda F, t, p: F.binary_cross_entropy_with_logits(
            t["pred"], t["target"], weight=t.get("weight"), pos_weight=t.get("pos_weight"), **p
        ),
        example="actgrad bce-with-logits --pred -200 --target 1",
        exact=lambda R, a, p: R.bce_logits(a, p),
        sweep={"target": "1"},
    ),
    FunctionSpec(
        "cross_entropy",
        "loss",
        "softmax cross entropy of logits against class indices or probabilities",
        "ℓ = −w_c·log softmax(z)_c for class c; probabilities t: ℓ = −Σⱼ tⱼ·log softmax(z)ⱼ"
        " (label_smoothing ε mixes in the uniform target)",
        "∂ℓ/∂z = softmax(z) − onehot(c) (times w_c); probabilities: softmax(z)·Σt − t",
        "pred ∈ ℝᶜ or ℝᴺˣᶜ (logits)",
        "[0, ∞)",
        params=(
            REDUCTION,
            Param("ignore_index", "int", -100, "class index that contributes nothing", span=INDEX),
            Param("label_smoothing", "float", 0.0, "ε in [0, 1]: mix the target with uniform"),
        ),
        aliases=("ce",),
        inputs=(
            PRED,
            TensorInput(
                "target",
                "class index (or indices), or probabilities shaped like pred",
                aliases=("y",),
                kind="target",
                grad="never",
            ),
            CLASS_WEIGHT,
        ),
        max_order=2,
        shapes=_class_shapes(allow_probabilities=True),
        lint=_class_index_lint,
        validate=lambda p: (
            "label_smoothing must lie in [0, 1]" if not 0 <= p["label_smoothing"] <= 1 else None
        ),
        call=lambda F, t, p: F.cross_entropy(t["pred"], t["target"], weight=t.get("weight"), **p),
        example="actgrad cross-entropy --pred 2,1,0.1 --target 0 --grad",
        exact=lambda R, a, p: R.class_loss(a, p, False),
        weighted_mean_note=(
            "reduction=mean divides the sum, and every derivative, by the total weight of "
            "the counted targets (ignore_index excluded)"
        ),
    ),
    FunctionSpec(
        "nll_loss",
        "loss",
        "negative log likelihood of log-probabilities",
        "ℓ = −w_c·z_c for class c (z: log-probabilities, e.g. from log_softmax)",
        "∂ℓ/∂z_j = −w_c if j = c else 0",
        "pred ∈ ℝᶜ or ℝᴺˣᶜ (log-probabilities)",
        "ℝ",
        params=(
            REDUCTION,
            Param("ignore_index", "int", -100, "class index that contributes nothing", span=INDEX),
        ),
        aliases=("nll",),
        inputs=(PRED, INDEX_TARGET, CLASS_WEIGHT),
        max_order=2,
        shapes=_class_shapes(),
        lint=_class_index_lint,
        call=lambda F, t, p: F.nll_loss(t["pred"], t["target"], weight=t.get("weight"), **p),
        example="actgrad nll --pred -0.4,-1.4,-2.3 --target 0 --grad",
        exact=lambda R, a, p: R.class_loss(a, p, True),
        weighted_mean_note=(
            "reduction=mean divides the sum, and every derivative, by the total weight of "
            "the counted targets (ignore_index excluded)"
        ),
    ),
    FunctionSpec(
        "kl_div",
        "loss",
        "Kullback-Leibler divergence of log-probabilities from a target",
        "ℓᵢ = tᵢ·(log tᵢ − zᵢ) (z: log-probabilities; log_target: e^(tᵢ)·(tᵢ − zᵢ))",
        "∂ℓᵢ/∂zᵢ = −tᵢ (log_target: −e^(tᵢ))",
        "pred: log-probabilities; target: probabilities (or log-probabilities)",
        "[0, ∞) summed over a distribution",
        params=(
            Param(
                "reduction",
                "choice",
                "mean",
                "none, mean, sum or batchmean (the KL value)",
                (*REDUCTIONS, "batchmean"),
            ),
            Param("log_target", "bool", False, "the target is given as log-probabilities"),
        ),
        aliases=("kl", "kl-divergence"),
        inputs=(PRED, TARGET),
        aligned=("pred", "target"),
        max_order=2,
        lint=_kl_lint,
        call=lambda F, t, p: F.kl_div(t["pred"], t["target"], **p),
        example="actgrad kl-div --pred -1.3862944,-0.6931472,-1.3862944 --target 0.3,0.4,0.3 "
        "--reduction sum",
        exact=lambda R, a, p: R.kl_div(a, p),
    ),
    FunctionSpec(
        "poisson_nll_loss",
        "loss",
        "negative log likelihood of a Poisson count",
        "ℓᵢ = e^(zᵢ) − tᵢ·zᵢ (log_input); pᵢ − tᵢ·log(pᵢ + eps) otherwise; full adds "
        "tᵢ·log tᵢ − tᵢ + ½·log(2π·tᵢ) for tᵢ > 1",
        "∂ℓᵢ/∂zᵢ = e^(zᵢ) − tᵢ (log_input); 1 − tᵢ/(pᵢ + eps) otherwise",
        "pred ∈ ℝ (log rate) or ≥ 0 (rate); target ≥ 0 (counts)",
        "ℝ",
        params=(
            REDUCTION,
            Param("log_input", "bool", True, "pred is the log of the rate"),
            Param("full", "bool", False, "add the Stirling term"),
            Param("eps", "float", 1e-8, "keeps log away from 0 when log_input is off"),
        ),
        aliases=("poisson-nll",),
        inputs=(PRED, TARGET),
        aligned=("pred", "target"),
        model=True,
        max_order=2,
        lint=_poisson_lint,
        call=lambda F, t, p: F.poisson_nll_loss(t["pred"], t["target"], **p),
        example="actgrad poisson-nll --pred 0.5,1 --target 2,0 --grad",
        exact=lambda R, a, p: R.poisson(a, p),
        sweep={"target": "2"},
    ),
    FunctionSpec(
        "gaussian_nll_loss",
        "loss",
        "negative log likelihood of a Gaussian with predicted mean and variance",
        "ℓᵢ = ½·(log max(varᵢ, eps) + (predᵢ − tᵢ)² / max(varᵢ, eps)) (+ ½·log 2π if full)",
        "∂ℓᵢ/∂predᵢ = (predᵢ − tᵢ)/varᵢ; ∂ℓᵢ/∂varᵢ = ½·(1/varᵢ − (predᵢ − tᵢ)²/varᵢ²)",
        "pred, target ∈ ℝ; var ≥ 0",
        "ℝ",
        params=(
            REDUCTION,
            Param("full", "bool", False, "add the constant ½·log 2π"),
            Param("eps", "float", 1e-6, "lower clamp of var"),
        ),
        aliases=("gaussian-nll",),
        inputs=(
            PRED,
            TARGET,
            TensorInput("var", "predicted variance (≥ 0)", grad="optional"),
        ),
        aligned=("pred", "target", "var"),
        max_order=2,
        lint=_gaussian_lint,
        call=lambda F, t, p: F.gaussian_nll_loss(t["pred"], t["target"], t["var"], **p),
        example="actgrad gaussian-nll --pred 0,1 --target 0.5,0.5 --var 1,2 --grad",
        exact=lambda R, a, p: R.gaussian(a, p),
        sweep={"target": "0", "var": "1"},
    ),
    FunctionSpec(
        "hinge_embedding_loss",
        "loss",
        "distance-style hinge: x for similar pairs, max(0, margin − x) for dissimilar",
        "ℓᵢ = xᵢ if tᵢ = 1; max(0, margin − xᵢ) if tᵢ = −1",
        "∂ℓᵢ/∂xᵢ = 1 if tᵢ = 1; −1 if tᵢ = −1 and xᵢ < margin; else 0",
        "pred ∈ ℝ (distances); target ∈ {1, −1}",
        "[0, ∞) for distances",
        params=(REDUCTION, Param("margin", "float", 1.0, "margin for dissimilar pairs")),
        aliases=("hinge-embedding",),
        inputs=(PRED, FIXED_TARGET),
        aligned=("pred", "target"),
        model=True,
        max_order=2,
        lint=_plus_minus_one,
        call=lambda F, t, p: F.hinge_embedding_loss(t["pred"], t["target"], **p),
        example="actgrad hinge-embedding --pred 0.3,2 --target 1,-1 --grad",
        exact=lambda R, a, p: R.hinge_embedding(a, p),
        sweep={"target": "-1"},
    ),
    FunctionSpec(
        "soft_margin_loss",
        "loss",
        "logistic loss of ±1 labels",
        "ℓᵢ = log(1 + e^(−tᵢ·xᵢ))",
        "∂ℓᵢ/∂xᵢ = −tᵢ·σ(−tᵢ·xᵢ)",
        "pred ∈ ℝ; target ∈ {1, −1}",
        "(0, ∞)",
        params=(REDUCTION,),
        aliases=("soft-margin",),
        inputs=(PRED, FIXED_TARGET),
        aligned=("pred", "target"),
        model=True,
        max_order=2,
        lint=_plus_minus_one,
        call=lambda F, t, p: F.soft_margin_loss(t["pred"], t["target"], **p),
        example="actgrad soft-margin --pred 0.5,-2 --target 1,1 --grad",
        exact=lambda R, a, p: R.reduce(
            R.map(lambda x, t: R.softplus(-(x * t)), a["pred"], a["target"]), p["reduction"]
        ),
        sweep={"target": "1"},
    ),
    FunctionSpec(
        "multilabel_soft_margin_loss",
        "loss",
        "one-vs-all logistic loss for multi-label targets",
        "ℓₙ = −(1/C)·Σⱼ wⱼ·(tⱼ·log σ(xⱼ) + (1 − tⱼ)·log σ(−xⱼ))",
        "∂ℓₙ/∂xⱼ = wⱼ·(σ(xⱼ) − tⱼ)/C",
        "pred ∈ ℝᶜ or ℝᴺˣᶜ; target ∈ [0, 1], same shape",
        "(0, ∞)",
        params=(REDUCTION,),
        aliases=("multilabel-soft-margin",),
        inputs=(PRED, TARGET, CLASS_WEIGHT),
        aligned=("pred", "target"),
        max_order=2,
        lint=_unit_target(),
        shapes=_multilabel_shapes,
        call=lambda F, t, p: F.multilabel_soft_margin_loss(
            t["pred"], t["target"], weight=t.get("weight"), **p
        ),
        example="actgrad multilabel-soft-margin --pred 0.5,-1,2 --target 1,0,1 --grad",
        exact=lambda R, a, p: R.multilabel_soft_margin(a, p),
    ),
    FunctionSpec(
        "multilabel_margin_loss",
        "loss",
        "multi-class multi-label hinge loss",
        "ℓ = Σ_{j ∈ targets} Σ_{i ∉ targets} max(0, 1 − (x_j − x_i)) / C; targets end at the "
        "first −1",
        "∂ℓ/∂x_i = (number of active hinges against i)/C; ∂ℓ/∂x_j = −(active hinges of j)/C",
        "pred ∈ ℝᶜ or ℝᴺˣᶜ; target: class indices shaped like pred, padded with −1",
        "[0, ∞)",
        params=(REDUCTION,),
        aliases=("multilabel-margin",),
        inputs=(
            PRED,
            TensorInput(
                "target", "class indices, ended by -1", aliases=("y",), kind="index", grad="never"
            ),
        ),
        no_cpu_kernel=lambda p: ("float16", "bfloat16"),
        max_order=1,
        notes=("torch implements no second derivative of multilabel_margin_loss",),
        shapes=_multilabel_margin_shapes,
        lint=_multilabel_margin_lint,
        call=lambda F, t, p: F.multilabel_margin_loss(t["pred"], t["target"], **p),
        example="actgrad multilabel-margin --pred 0.1,0.2,0.4,0.8 --target 3,0,-1,1 --grad",
        exact=lambda R, a, p: R.multilabel_margin(a, p),
    ),
    FunctionSpec(
        "multi_margin_loss",
        "loss",
        "multi-class hinge loss",
        "ℓ = Σ_{i ≠ y} w_y·max(0, margin − x_y + x_i)^p / C",
        "∂ℓ/∂x_i = w_y·p·max(0, margin − x_y + x_i)^(p−1)/C (i ≠ y); ∂ℓ/∂x_y = −Σ of those",
        "pred ∈ ℝᶜ or ℝᴺˣᶜ; target: class index per sample",
        "[0, ∞)",
        params=(
            REDUCTION,
            Param("p", "int", 1, "exponent of the hinge: 1 or 2"),
            Param("margin", "float", 1.0, "margin"),
        ),
        aliases=("multi-margin",),
        inputs=(PRED, INDEX_TARGET, CLASS_WEIGHT),
        no_cpu_kernel=lambda p: ("float16", "bfloat16"),
        max_order=1,
        notes=("torch implements no second derivative of multi_margin_loss",),
        shapes=_class_shapes(),
        lint=_class_index_lint,
        call=lambda F, t, p: F.multi_margin_loss(
            t["pred"], t["target"], weight=t.get("weight"), **p
        ),
        validate=lambda p: "p must be 1 or 2" if p["p"] not in (1, 2) else None,
        example="actgrad multi-margin --pred 0.1,0.2,0.4,0.8 --target 3 --grad",
        exact=lambda R, a, p: R.multi_margin(a, p),
    ),
    FunctionSpec(
        "margin_ranking_loss",
        "loss",
        "ranking hinge: x1 should exceed x2 when target is 1",
        "ℓᵢ = max(0, −tᵢ·(x1ᵢ − x2ᵢ) + margin)",
        "∂ℓᵢ/∂x1ᵢ = −tᵢ, ∂ℓᵢ/∂x2ᵢ = tᵢ where the hinge is active, else 0",
        "x1, x2 ∈ ℝ; target ∈ {1, −1}",
        "[0, ∞)",
        params=(REDUCTION, Param("margin", "float", 0.0, "margin")),
        aliases=("margin-ranking",),
        inputs=(
            TensorInput("x1", "first score (torch: input1)"),
            TensorInput("x2", "second score (torch: input2)"),
            FIXED_TARGET,
        ),
        aligned=("x1", "x2", "target"),
        max_order=2,
        lint=_plus_minus_one,
        call=lambda F, t, p: F.margin_ranking_loss(t["x1"], t["x2"], t["target"], **p),
        example="actgrad margin-ranking --x1 0.8,0.2 --x2 0.5,0.6 --target 1,1 --grad",
        exact=lambda R, a, p: R.margin_ranking(a, p),
    ),
    FunctionSpec(
        "cosine_embedding_loss",
        "loss",
        "cosine similarity loss for pairs of vectors",
        "ℓ = 1 − cos(x1, x2) if t = 1; max(0, cos(x1, x2) − margin) if t = −1",
        "∂cos/∂x1 = x2/(‖x1‖‖x2‖) − cos·x1/‖x1‖² (negated for t = 1)",
        "x1, x2 ∈ ℝᴰ or ℝᴺˣᴰ; target ∈ {1, −1} per pair",
        "[0, 2]",
        params=(REDUCTION, Param("margin", "float", 0.0, "margin in [−1, 1]")),
        aliases=("cosine-embedding",),
        inputs=(
            TensorInput("x1", "first vector(s) (torch: input1)"),
            TensorInput("x2", "second vector(s) (torch: input2)"),
            FIXED_TARGET,
        ),
        max_order=2,
        shapes=_pairs_shapes("x1", "x2"),
        lint=_plus_minus_one,
        call=lambda F, t, p: F.cosine_embedding_loss(t["x1"], t["x2"], t["target"], **p),
        example="actgrad cosine-embedding --x1 1,0 --x2 1,1 --target 1 --grad",
        exact=lambda R, a, p: R.cosine_embedding(a, p),
    ),
    FunctionSpec(
        "triplet_margin_loss",
        "loss",
        "anchor closer to the positive than to the negative by a margin",
        "ℓ = max(d(a, p) − d(a, n) + margin, 0), d(u, v) = ‖u − v + eps‖_p"
        " (swap: d(a, n) becomes min(d(a, n), d(p, n)))",
        "∂ℓ/∂a = ∂d(a, p)/∂a − ∂d(a, n)/∂a where the hinge is active, else 0",
        "anchor, positive, negative ∈ ℝᴰ or ℝᴺˣᴰ",
        "[0, ∞)",
        params=(
            REDUCTION,
            Param("margin", "float", 1.0, "margin (> 0)"),
            Param("p", "float", 2.0, "norm degree of the distance"),
            Param("eps", "float", 1e-6, "added to differences for stability"),
            Param("swap", "bool", False, "use the distance swap"),
        ),
        aliases=("triplet-margin", "triplet"),
        inputs=(
            TensorInput("anchor", "anchor vector(s)"),
            TensorInput("positive", "positive vector(s)"),
            TensorInput("negative", "negative vector(s)"),
        ),
        max_order=2,
        shapes=_pairs_shapes("anchor", "positive", "negative", per_sample=None),
        validate=lambda p: "margin must be positive" if p["margin"] <= 0 else None,
        call=lambda F, t, p: F.triplet_margin_loss(t["anchor"], t["positive"], t["negative"], **p),
        example="actgrad triplet --anchor 0,0 --positive 1,0 --negative 0,1.5 --grad",
        exact=lambda R, a, p: R.triplet(a, p),
    ),
    FunctionSpec(
        "ctc_loss",
        "loss",
        "connectionist temporal classification",
        "ℓ = −log Σ_π Π_t y_t(π_t), summed over alignments π of the target (blanks between);"
        " mean divides each sample by its target length",
        "torch returns y_t(k) − γ_t(k) (posterior minus alignment occupancy): the gradient with"
        " respect to the logits behind log_softmax; the partial derivative in log_probs is −γ_t(k)",
        "log_probs: (T, C) or (T, N, C) log-probabilities; targets: class indices ≠ blank",
        "[0, ∞]",
        params=(
            REDUCTION,
            Param("blank", "int", 0, "index of the blank class", span=(0, INDEX[1])),
            Param("zero_infinity", "bool", False, "zero infinite losses and their gradients"),
        ),
        aliases=("ctc",),
        inputs=(
            TensorInput("log_probs", "log-probabilities (T, C) or (T, N, C)"),
            TensorInput("targets", "target classes (S) or (N, S)", kind="index", grad="never"),
            TensorInput(
                "input_lengths",
                "time steps used per sample (default: all)",
                kind="index",
                grad="never",
                required=False,
            ),
            TensorInput(
                "target_lengths",
                "target length per sample (default: all)",
                kind="index",
                grad="never",
                required=False,
            ),
        ),
        no_cpu_kernel=lambda p: ("float16", "bfloat16"),
        max_order=1,
        shapes=_ctc_shapes,
        lint=_ctc_lint,
        call=lambda F, t, p: F.ctc_loss(
            t["log_probs"], t["targets"], t["input_lengths"], t["target_lengths"], **p
        ),
        complete=_ctc_lengths,
        no_finite_differences=(
            "torch's ctc gradient is y − γ, not the partial derivative that they measure"
        ),
        mean_note="reduction=mean divides each sample's loss by its target length, then averages",
        example="actgrad ctc --log-probs '[[-0.7,-0.7],[-0.7,-0.7]]' --targets 1 --grad",
        notes=(
            "torch's ctc_loss gradient is taken with respect to the logits that log_softmax "
            "turned into --log-probs (y − γ), not the partial derivative in log_probs (−γ); "
            "the two agree once back-propagated through log_softmax",
        ),
        limits=("torch's ctc_loss has no second derivative: --order 2 is refused",),
        exact=lambda R, a, p: R.ctc(a, p),
        work=_ctc_lattice,
        logits_gradient="log_probs",
    ),
    FunctionSpec(
        "cosine_similarity",
        "norm",
        "cosine of the angle between x1 and x2 along a dim",
        "cos(x1, x2) = Σ (x1/max(‖x1‖, eps))·(x2/max(‖x2‖, eps)) along dim",
        "∂cos/∂x1 = x2/(‖x1‖‖x2‖) − cos·x1/‖x1‖² (while both norms exceed eps)",
        "x1, x2 ∈ ℝᴰ or ℝᴺˣᴰ (broadcast)",
        "[−1, 1]",
        params=(
            Param("dim", "int", -1, "dimension the cosine is taken along (torch: 1)"),
            Param("eps", "float", 1e-8, "lower bound of each norm"),
        ),
        aliases=("cosine-sim",),
        inputs=(
            TensorInput("x1", "first vector(s)"),
            TensorInput("x2", "second vector(s)"),
        ),
        aligned=("x1", "x2"),
        max_order=2,
        stored={"eps": "opmath"},
        source="aten/src/ATen/native/Distance.cpp (cosine_similarity: each norm clamp_min(eps))",
        call=lambda F, t, p: F.cosine_similarity(t["x1"], t["x2"], **p),
        example="actgrad cosine-similarity --x1 1,0 --x2 1,1 --grad",
        limits=(
            "where a norm is below eps torch clamps it in place without autograd: its "
            "gradient there is not the derivative of its value (torch's gradcheck fails)",
        ),
        exact=lambda R, a, p: R.cosine_similarity(a, p),
    ),
    FunctionSpec(
        "vector_norm",
        "norm",
        "the L2 norm (any p-norm with --ord), of --x or of target − pred",
        "‖v‖_ord = (Σᵢ |vᵢ|^ord)^(1/ord) with v = x or v = target − pred (ord = inf: max |vᵢ|)",
        "∂‖v‖₂/∂v = v/‖v‖₂ (0 at v = 0, a subgradient); ord p: sign(v)·|v|^(p−1)/‖v‖_p^(p−1)",
        "ℝⁿ",
        "[0, ∞)",
        params=(Param("ord", "float", 2.0, "order of the norm (inf, -inf allowed)", finite=False),),
        aliases=("l2", "norm"),
        inputs=(
            TensorInput("x", "the vector", required=False),
            TensorInput("pred", "prediction: the norm is of target − pred", required=False),
            TensorInput(
                "target", "target: the norm is of target − pred", grad="optional", required=False
            ),
        ),
        max_order=2,
        aligned=("pred", "target"),
        shapes=_norm_shapes,
        lint=_norm_lint,
        call=_vector_norm,
        example="actgrad l2 --x 3,4 --grad",
        exact=lambda R, a, p: R.vector_norm(a, p),
    ),
)
