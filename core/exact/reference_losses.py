"""Ground truth for the losses and the vector norm: value and gradient in arbitrary precision.

Each loss's exact form is its entry's ``exact`` (core/functions/losses.py), written with the
operations here (:data:`OPS`) from its definition in torch's documentation (reductions, weights,
ignore_index, label smoothing, torch's clamps: BCE's log ≥ −100, the eps of distances) over
numpy arrays of :class:`taylor.Taylor`; a gradient is one forward pass per input element,
seeded with derivative 1 there. Where a hinge or clamp meets its edge exactly, the gradient is
torch's: ``clamp_min`` passes it at equality, ``|d|′(0) = 0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..functions.arithmetic import ARITHMETIC
from . import interval as mp
from . import taylor
from .interval import mpf
from .reference import NoReference, pnorm
from .taylor import Taylor

MAX_WORK = 200_000  # seeded passes × elements: beyond this, no reference (it would take long)
LOG_FLOOR = -100  # binary_cross_entropy clamps each log at −100 (aten/src/ATen/native/Loss.cpp)
# … and its backward divides by max(p·(1 − p), EPSILON), EPSILON the float 1e-12f even in
# float64 (Loss.cpp: ``static const float EPSILON = 1e-12;``): 9.999999960041972e-13
BCE_EPS = float(np.float32(1e-12))
# its double backward divides by (p + eps)²(1 − p + eps)², eps = 1e-12 (a double), instead
# (binary_cross_entropy_double_backward, torch/csrc/autograd/FunctionsManual.cpp)
BCE_DOUBLE_EPS = 1e-12
COSINE_EPS = BCE_EPS  # cosine_embedding_loss adds the same float EPSILON (Loss.cpp)


def _map(fn: Callable[..., Any], *arrays: Any) -> np.ndarray:
    """``fn`` elementwise over broadcast arrays of Jets (an object array, even for 0-d)."""
    out = np.frompyfunc(fn, len(arrays), 1)(*arrays)
    return np.asarray(out, dtype=object)


def total(arr: np.ndarray) -> Taylor:
    """The sum of an array of Jets."""
    items = list(np.asarray(arr, dtype=object).reshape(-1))
    out = items[0]
    for item in items[1:]:
        out = out + item
    return out


def _reduce(loss: np.ndarray, reduction: str, divisor: Any = None) -> Any:
    if reduction == "none":
        return loss
    summed = total(loss)
    if reduction == "sum":
        return summed
    return summed / (loss.size if divisor is None else divisor)


def _clamp_min0(z: Taylor) -> Taylor:
    """max(z, 0) with torch's clamp_min gradient: passed at z = 0."""
    return z if z.v >= 0 else z * 0


def _weighted(
    loss: np.ndarray, a: Mapping[str, np.ndarray], p: Mapping[str, Any], by_weight: bool
) -> Any:
    """Optional elementwise weight; a weighted mean divides by the weights' sum (l1, mse) or
    by the element count (huber)."""
    if "weight" not in a:
        return _reduce(loss, p["reduction"])
    w = a["weight"]
    loss = loss * w
    divisor = total(np.broadcast_to(w, np.shape(loss))) if by_weight else None
    return _reduce(loss, p["reduction"], divisor)


def _diff(a: Mapping[str, np.ndarray]) -> np.ndarray:
    return a["pred"] - a["target"]


def _kernel_abs(z: Taylor, p: Mapping[str, Any]) -> Any:
    """|pred − target| as the kernel has it: the difference rounded in its arithmetic."""
    return mp.rounded(abs(z.v), p.get(ARITHMETIC, "float64"))


def _huber(z: Taylor, delta: Any, p: Mapping[str, Any]) -> Taylor:
    """½d² below delta, delta·(d − ½delta) from it on: torch's test ``|d| < delta`` on the
    difference as its kernel rounds it (huber_kernel, cpu/BinaryOpsKernel.cpp)."""
    d = taylor.absolute(z)
    return d * d / 2 if _kernel_abs(z, p) < delta else (d - delta / 2) * delta


def _smooth_l1(z: Taylor, beta: Any, p: Mapping[str, Any]) -> Taylor:
    d = taylor.absolute(z)
    if beta == 0:
        return d
    return d * d / (2 * beta) if _kernel_abs(z, p) < beta else d - beta / 2


def _bce(p: Taylor, t: Taylor) -> Taylor:
    """−(t·log p + (1 − t)·log(1 − p)), each log clamped at −100; torch's derivative in p is
    its backward's (p − t)/max(p(1 − p), EPSILON), in t the difference of the clamped logs
    (binary_cross_entropy_backward, Loss.cpp), and higher orders are theirs differentiated."""
    lp = max(mp.log(p.v), LOG_FLOOR) if p.v > 0 else mpf(LOG_FLOOR)
    lq = max(mp.log1p(-p.v), LOG_FLOOR) if p.v < 1 else mpf(LOG_FLOOR)
    value = -(t.v * lp + (1 - t.v) * lq)
    if len(p.c) == 1:
        return Taylor([value])
    if len(p.c) > 3:
        raise NoReference("binary_cross_entropy has derivatives to order 2 in torch")
    q = p.v * (1 - p.v)
    dp = [(p.v - t.v) / max(q, mpf(BCE_EPS))]
    if len(p.c) == 3:  # torch's double backward: its own eps, not the derivative of the clamp
        e = mpf(BCE_DOUBLE_EPS)
        d_p = (p.v * p.v - 2 * p.v * t.v + t.v) / ((p.v + e) ** 2 * (1 - p.v + e) ** 2)
        d_t = -1 / max(q, mpf(BCE_EPS))
        dp.append(d_p * p.c[1] + d_t * t.c[1])
    ps = p.trunc(len(p.c) - 1)
    dlogs = _clamped_log(ps, ps) - _clamped_log(1 - ps, ps)
    return _integral(value, Taylor(dp) * _slope(p) - dlogs * _slope(t))


def _clamped_log(u: Taylor, p: Taylor) -> Taylor:
    """log u, or the constant −100 where torch's clamp holds it (no derivative there)."""
    if u.v > 0 and mp.log(u.v) > LOG_FLOOR:
        return taylor.log(u)
    return p.const(LOG_FLOOR)


def _slope(u: Taylor) -> Taylor:
    """du/dh as a series one order shorter."""
    return Taylor([u.c[k] * k for k in range(1, len(u.c))])


def _integral(value: Any, slope: Taylor) -> Taylor:
    """The series whose value is ``value`` and whose derivative is ``slope``."""
    return Taylor([value, *(c / (k + 1) for k, c in enumerate(slope.c))])


def _bce_logits(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    pw = a.get("pos_weight", np.asarray(Taylor([mpf(1), mpf(0)]), dtype=object))

    def one(x: Taylor, t: Taylor, w: Taylor) -> Taylor:  # w·t·softplus(−x) + (1 − t)·softplus(x)
        return w * t * taylor.softplus(-x) + (1 - t) * taylor.softplus(x)

    return _weighted(_map(one, a["pred"], a["target"], pw), a, p, False)


def _rows(x: np.ndarray) -> list[np.ndarray]:
    """(N, C) as N rows; (C,) as one."""
    if x.ndim == 1:
        return [x]
    if x.ndim == 2:
        return list(x)
    raise NoReference("the loss reference covers (C) and (N, C) inputs")


def _log_softmax(row: np.ndarray) -> list[Taylor]:
    top = max(j.v for j in row)
    lse = taylor.log(total(np.asarray([taylor.exp(j - top) for j in row], dtype=object))) + top
    return [j - lse for j in row]


def _class_loss(a: Mapping[str, np.ndarray], p: Mapping[str, Any], log_probs: bool) -> Any:
    """cross_entropy (log_softmax first) and nll_loss over (C) or (N, C)."""
    x, target = a["pred"], a["target"]
    rows = _rows(x)
    classes = len(rows[0])
    weight = a.get("weight")
    w = [weight.reshape(-1)[c] if weight is not None else mpf(1) for c in range(classes)]
    eps = mpf(p.get("label_smoothing", 0.0))
    lsm = [_log_softmax(r) if not log_probs else list(r) for r in rows]
    target_values = np.asarray(target, dtype=object).reshape(-1)
    probabilities = not log_probs and target.shape == x.shape
    losses, divisor = [], mpf(0)
    for n, row in enumerate(lsm):
        if probabilities:
            t = [target_values[n * classes + c] for c in range(classes)]
            t = [tc * (1 - eps) + eps / classes for tc in t]
            losses.append(
                -total(np.asarray([w[c] * t[c] * row[c] for c in range(classes)], dtype=object))
            )
            continue
        y = int(_value(target_values[n]))
        if y == p["ignore_index"]:
            losses.append(row[0] * 0)
            continue
        nll = -(row[y] * w[y])
        if eps:
            smooth = -total(np.asarray([w[c] * row[c] for c in range(classes)], dtype=object))
            nll = nll * (1 - eps) + smooth * (eps / classes)
        losses.append(nll)
        divisor = divisor + _value(w[y])
    loss = _per_sample(losses, x.ndim == 2)
    if p["reduction"] == "mean" and not probabilities:
        return _reduce(loss, "mean", divisor)
    return _reduce(loss, p["reduction"])


def _per_sample(losses: list[Taylor], batched: bool) -> np.ndarray:
    """One loss per sample as an array: (N,) for a batch, 0-d for a single sample."""
    loss = np.empty(len(losses), dtype=object)
    loss[:] = losses
    return loss if batched else loss.reshape(())


def _value(item: Any) -> Any:
    return item.v if isinstance(item, Taylor) else item


def _kl_div(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    def one(x: Taylor, t: Taylor) -> Taylor:
        if p["log_target"]:
            return taylor.exp(t) * (t - x)
        if t.v == 0:  # t·log t is 0 at t = 0 (torch's xlogy)
            return x * 0
        return t * (taylor.log(t) - x)

    loss = _map(one, a["pred"], a["target"])
    if p["reduction"] == "batchmean":
        return total(loss) / (loss.shape[0] if loss.ndim else 1)
    return _reduce(loss, p["reduction"])


def _poisson(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    def one(x: Taylor, t: Taylor) -> Taylor:
        out = taylor.exp(x) - t * x if p["log_input"] else x - t * taylor.log(x + p["eps"])
        if p["full"] and t.v > 1:  # Stirling's term t·log t − t + ½·log(2πt)
            out = out + t * taylor.log(t) - t + taylor.log(t * (2 * mp.pi)) / 2
        return out

    return _reduce(_map(one, a["pred"], a["target"]), p["reduction"])


def _gaussian(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    var = a["var"]
    if var.shape != a["pred"].shape and var.size != 1:
        raise NoReference("the gaussian_nll reference covers var shaped like pred, or a scalar")

    def one(x: Taylor, t: Taylor, v: Taylor) -> Taylor:
        if v.v < p["eps"]:  # clamped without changing the gradient, as torch does
            v = Taylor([mpf(p["eps"]), *v.c[1:]])
        out = (taylor.log(v) + (x - t) * (x - t) / v) / 2
        return out + mp.log(2 * mp.pi) / 2 if p["full"] else out

    return _reduce(_map(one, a["pred"], a["target"], var), p["reduction"])


def _hinge_embedding(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    def one(x: Taylor, t: Taylor) -> Taylor:
        out = x * 0
        if t.v != 1:
            out = out + _clamp_min0(p["margin"] - x)
        if t.v != -1:
            out = out + x
        return out

    return _reduce(_map(one, a["pred"], a["target"]), p["reduction"])


def _multilabel_soft_margin(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    rows, targets = _rows(a["pred"]), _rows(a["target"])
    weight = a.get("weight")
    losses = []
    for row, t in zip(rows, targets, strict=True):
        terms = [
            t[c] * taylor.softplus(-row[c]) + (1 - t[c]) * taylor.softplus(row[c])
            for c in range(len(row))
        ]
        if weight is not None:
            terms = [term * weight.reshape(-1)[c] for c, term in enumerate(terms)]
        losses.append(total(np.asarray(terms, dtype=object)) / len(row))
    return _reduce(_per_sample(losses, a["pred"].ndim == 2), p["reduction"])


def _multi_margin(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    rows = _rows(a["pred"])
    targets = np.asarray(a["target"], dtype=object).reshape(-1)
    weight = a.get("weight")
    losses = []
    for row, y in zip(rows, targets, strict=True):
        y = int(_value(y))
        terms = []
        for i in range(len(row)):
            z = row[i] - row[y] + p["margin"]
            if i == y or z.v <= 0:
                continue
            term = z if p["p"] == 1 else z * z
            terms.append(term * weight.reshape(-1)[y] if weight is not None else term)
        summed = total(np.asarray(terms, dtype=object)) if terms else row[0] * 0
        losses.append(summed / len(row))
    return _reduce(_per_sample(losses, a["pred"].ndim == 2), p["reduction"])


def _multilabel_margin(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    """Σ over the sample's targets j (indices up to the first −1) and the other classes i of
    max(0, 1 − (x[j] − x[i])), over C (torch's kernel: no gradient where the hinge is 0)."""
    rows = _rows(a["pred"])
    targets = _rows(np.asarray(a["target"], dtype=object))
    losses = []
    for row, t in zip(rows, targets, strict=True):
        chosen = []
        for y in (int(_value(v)) for v in t):
            if y < 0:
                break
            chosen.append(y)
        terms = []
        for j in chosen:
            for i in range(len(row)):
                z = 1 - (row[j] - row[i])
                if i not in chosen and z.v > 0:
                    terms.append(z)
        summed = total(np.asarray(terms, dtype=object)) if terms else row[0] * 0
        losses.append(summed / len(row))
    return _reduce(_per_sample(losses, a["pred"].ndim == 2), p["reduction"])


def _ctc_layout(
    a: Mapping[str, np.ndarray], p: Mapping[str, Any]
) -> list[tuple[int, int, list[int]]]:
    """Per sample: (time steps used, its index in the batch, its target classes)."""
    lp = a["log_probs"]
    batched = np.ndim(lp) == 3
    count = np.shape(lp)[1] if batched else 1
    steps = np.shape(lp)[0]
    targets = np.asarray(a["targets"], dtype=object).reshape(count, -1)
    out = []
    for n in range(count):
        row = [int(_value(v)) for v in targets[n]]
        t_in = a.get("input_lengths")
        t_len = a.get("target_lengths")
        used = (
            int(_value(np.asarray(t_in, dtype=object).reshape(-1)[n]))
            if t_in is not None
            else steps
        )
        length = (
            int(_value(np.asarray(t_len, dtype=object).reshape(-1)[n]))
            if t_len is not None
            else len(row)
        )
        out.append((used, n, row[:length]))
    return out


def _ctc_sample(
    y: Callable[[int, int], Taylor], steps: int, target: list[int], blank: int, zero: Taylor
) -> Taylor:
    """−log Σ over alignments of Π_t y_t(π_t), by the forward recursion in linear space (mpmath
    numbers do not underflow)."""
    labels = [blank]
    for c in target:
        labels += [c, blank]
    alpha = [zero] * len(labels)
    alpha[0] = y(0, labels[0])
    if len(labels) > 1:
        alpha[1] = y(0, labels[1])
    for t in range(1, steps):
        new = []
        for s_, label in enumerate(labels):
            acc = alpha[s_]
            if s_ >= 1:
                acc = acc + alpha[s_ - 1]
            if s_ >= 2 and label != blank and label != labels[s_ - 2]:
                acc = acc + alpha[s_ - 2]
            new.append(acc * y(t, label))
        alpha = new
    total_ = alpha[-1] + (alpha[-2] if len(labels) > 1 else zero)
    if total_.v == 0:
        return Taylor([mpf("inf"), *[mpf("nan")] * (len(zero.c) - 1)])
    return -taylor.log(total_)


def _ctc(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    lp = a["log_probs"]
    batched = np.ndim(lp) == 3
    zero = np.asarray(lp, dtype=object).reshape(-1)[0] * 0
    losses = []
    for used, n, target in _ctc_layout(a, p):

        def y(t: int, c: int, n: int = n) -> Taylor:
            return taylor.exp(lp[t, n, c] if batched else lp[t, c])

        loss = _ctc_sample(y, used, target, p["blank"], zero)
        if p["zero_infinity"] and loss.v == mpf("inf"):
            loss = zero
        losses.append(loss / max(len(target), 1) if p["reduction"] == "mean" else loss)
    per = _per_sample(losses, batched)
    if p["reduction"] == "mean":
        return total(per) / len(losses)
    return _reduce(per, p["reduction"])


def ctc_posterior(
    inputs: Mapping[str, np.ndarray], p: Mapping[str, Any], k: int, value_size: int
) -> tuple[int, Any] | None:
    """torch's ctc gradient is with respect to the logits behind log_softmax: y − γ, where the
    partial derivative in log_probs is −γ. For element k of log_probs: (the value element it
    belongs to, the scale of its y = exp(log_prob) term), or None where torch gives 0."""
    lp = np.asarray(inputs["log_probs"], dtype=np.float64)
    batched = lp.ndim == 3
    classes = lp.shape[-1]
    t, rest = divmod(k, lp.shape[1] * classes if batched else classes)
    n = rest // classes if batched else 0
    a = {name: np.asarray(v, dtype=object) for name, v in inputs.items()}
    used, _, target = _ctc_layout({**a, "log_probs": lp}, p)[n]
    repeats = sum(1 for i in range(1, len(target)) if target[i] == target[i - 1])
    if t >= used or (p["zero_infinity"] and used < len(target) + repeats):
        return None  # beyond the sample's length, or a zeroed impossible alignment
    scale = mpf(1)
    if p["reduction"] == "mean":
        scale = mpf(1) / (max(len(target), 1) * (lp.shape[1] if batched else 1))
    return (n if value_size > 1 else 0), scale


def _margin_ranking(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    def one(x1: Taylor, x2: Taylor, t: Taylor) -> Taylor:
        return _clamp_min0(-t * (x1 - x2) + p["margin"])

    return _reduce(_map(one, a["x1"], a["x2"], a["target"]), p["reduction"])


def _dot(u: np.ndarray, v: np.ndarray) -> Taylor:
    return total(u * v)


def _cosine_embedding(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    x1, x2 = _rows(a["x1"]), _rows(a["x2"])
    targets = np.asarray(a["target"], dtype=object).reshape(-1)
    if len(targets) == 1 and len(x1) > 1:
        targets = np.repeat(targets, len(x1))
    losses = []
    for u, v, t in zip(x1, x2, targets, strict=True):
        cos = _dot(u, v) / taylor.sqrt((_dot(u, u) + COSINE_EPS) * (_dot(v, v) + COSINE_EPS))
        losses.append(1 - cos if _value(t) == 1 else _clamp_min0(cos - p["margin"]))
    return _reduce(_per_sample(losses, a["x1"].ndim == 2), p["reduction"])


def _cosine_similarity(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    """Σ (x1/max(‖x1‖, eps))·(x2/max(‖x2‖, eps)) along dim: torch normalizes each first."""
    x1, x2 = np.broadcast_arrays(a["x1"], a["x2"])
    u, v = (np.moveaxis(np.asarray(t, dtype=object), p["dim"], -1) for t in (x1, x2))
    out = np.empty(u.shape[:-1], dtype=object)
    for at in np.ndindex(out.shape):
        n1, n2 = (pnorm(t[at], 2.0) for t in (u, v))
        n1, n2 = (n if n.v >= p["eps"] else n.const(p["eps"]) for n in (n1, n2))
        out[at] = total(u[at] / n1 * (v[at] / n2))
    return out


def _triplet(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    order = float(p["p"])
    if not (math.isfinite(order) and order >= 1):
        raise NoReference("the triplet reference covers finite p ≥ 1")
    anchors, positives, negatives = (_rows(a[k]) for k in ("anchor", "positive", "negative"))
    losses = []
    for u, v, w in zip(anchors, positives, negatives, strict=True):
        d_pos = pnorm(u - v + p["eps"], order)  # pairwise_distance adds eps to the difference
        d_neg = pnorm(u - w + p["eps"], order)
        if p["swap"]:
            d_swap = pnorm(v - w + p["eps"], order)
            d_neg = d_swap if d_swap.v < d_neg.v else d_neg
        losses.append(_clamp_min0(d_pos - d_neg + p["margin"]))
    return _reduce(_per_sample(losses, a["anchor"].ndim == 2), p["reduction"])


def _vector_norm(a: Mapping[str, np.ndarray], p: Mapping[str, Any]) -> Any:
    v = a["x"] if "x" in a else a["target"] - a["pred"]
    order = float(p["ord"])
    items = list(v.reshape(-1))
    if math.isinf(order):
        mags = [abs(i.v) for i in items]
        best = max(mags) if order > 0 else min(mags)
        ties = [k for k, m in enumerate(mags) if m == best]
        if len(ties) > 1:  # torch splits the gradient between ties: no single formula
            raise NoReference("the ±inf-norm reference needs one largest (smallest) element")
        return taylor.absolute(items[ties[0]])
    if order == 0:
        return items[0] * 0 + sum(1 for i in items if i.v != 0)
    if order < 1:
        raise NoReference("the vector_norm reference covers ord ≥ 1, 0 and ±inf")
    return pnorm(v, order)


# The operations a loss's ``exact`` form is written with (its entry in core/functions/losses.py).
OPS = SimpleNamespace(
    mpf=mpf,
    absolute=taylor.absolute,
    softplus=taylor.softplus,
    tanh_softplus=taylor.tanh_softplus,
    map=_map,
    diff=_diff,
    reduce=_reduce,
    weighted=_weighted,
    huber=_huber,
    smooth_l1=_smooth_l1,
    bce=_bce,
    bce_logits=_bce_logits,
    class_loss=_class_loss,
    kl_div=_kl_div,
    poisson=_poisson,
    gaussian=_gaussian,
    hinge_embedding=_hinge_embedding,
    multilabel_soft_margin=_multilabel_soft_margin,
    multi_margin=_multi_margin,
    multilabel_margin=_multilabel_margin,
    margin_ranking=_margin_ranking,
    cosine_embedding=_cosine_embedding,
    triplet=_triplet,
    vector_norm=_vector_norm,
    cosine_similarity=_cosine_similarity,
    ctc=_ctc,
)
