"""Hand-written float64 references (numpy) for every loss and the vector norm.

Each reference returns the unreduced loss (per element or per sample) and the divisor that
reduction="mean" uses; :func:`reduce` applies a reduction. Written from the formulas in
torch's documentation, never from actgrad.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def log_sigmoid(z):
    return -np.logaddexp(0, -z)


def _w(weight, like):
    return np.ones_like(like) if weight is None else np.asarray(weight, dtype=np.float64)


def l1_loss(pred, target, weight=None):
    # torch: a weighted mean divides by the sum of the weights
    divisor = None if weight is None else np.sum(weight)
    return np.abs(pred - target) * _w(weight, pred), divisor


def mse_loss(pred, target, weight=None):
    divisor = None if weight is None else np.sum(weight)
    return (pred - target) ** 2 * _w(weight, pred), divisor


def huber_loss(pred, target, weight=None, delta=1.0):
    # torch: a weighted mean divides by the element count (unlike l1 and mse)
    d = np.abs(pred - target)
    return np.where(d < delta, 0.5 * d**2, delta * (d - 0.5 * delta)) * _w(weight, pred), None


def smooth_l1_loss(pred, target, beta=1.0):
    d = np.abs(pred - target)
    if beta == 0:
        return d, None
    return np.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta), None


def binary_cross_entropy(pred, target, weight=None):
    logp = np.maximum(np.log(pred), -100)
    log1p = np.maximum(np.log(1 - pred), -100)
    return -_w(weight, pred) * (target * logp + (1 - target) * log1p), None


def binary_cross_entropy_with_logits(pred, target, weight=None, pos_weight=None):
    pw = 1.0 if pos_weight is None else np.asarray(pos_weight)
    loss = -(pw * target * log_sigmoid(pred) + (1 - target) * log_sigmoid(-pred))
    return _w(weight, pred) * loss, None


def _rows(pred):
    return pred.reshape(1, -1) if pred.ndim == 1 else pred


def cross_entropy(pred, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    z = _rows(pred)
    classes = z.shape[1]
    logp = z - logsumexp(z, axis=1, keepdims=True)
    w = np.ones(classes) if weight is None else np.asarray(weight)
    if np.shape(target) == np.shape(pred):  # probabilities
        t = _rows(np.asarray(target, dtype=np.float64))
        t = (1 - label_smoothing) * t + label_smoothing / classes
        loss = -(w * t * logp).sum(axis=1)
        return loss.reshape(np.shape(pred)[:-1]), None
    idx = np.atleast_1d(np.asarray(target, dtype=np.int64))
    keep = idx != ignore_index
    safe = np.where(keep, idx, 0)
    nll = -w[safe] * logp[np.arange(len(idx)), safe] * keep
    smooth = -(w * logp).sum(axis=1) / classes * keep
    loss = (1 - label_smoothing) * nll + label_smoothing * smooth
    return loss.reshape(np.shape(target)), (w[safe] * keep).sum()


def nll_loss(pred, target, weight=None, ignore_index=-100):
    z = _rows(pred)
    w = np.ones(z.shape[1]) if weight is None else np.asarray(weight)
    idx = np.atleast_1d(np.asarray(target, dtype=np.int64))
    keep = idx != ignore_index
    safe = np.where(keep, idx, 0)
    loss = -w[safe] * z[np.arange(len(idx)), safe] * keep
    return loss.reshape(np.shape(target)), (w[safe] * keep).sum()


def kl_div(pred, target, log_target=False):
    if log_target:
        return np.exp(target) * (target - pred), None
    with np.errstate(divide="ignore", invalid="ignore"):
        tlogt = np.where(target > 0, target * np.log(np.where(target > 0, target, 1)), 0.0)
    return tlogt - target * pred, None


def poisson_nll_loss(pred, target, log_input=True, full=False, eps=1e-8):
    loss = np.exp(pred) - target * pred if log_input else pred - target * np.log(pred + eps)
    if full:
        safe = np.where(target > 1, target, 2.0)
        stirling = safe * np.log(safe) - safe + 0.5 * np.log(2 * np.pi * safe)
        loss = loss + np.where(target > 1, stirling, 0.0)
    return loss, None


def gaussian_nll_loss(pred, target, var, full=False, eps=1e-6):
    v = np.maximum(var, eps)
    loss = 0.5 * (np.log(v) + (pred - target) ** 2 / v)
    return loss + (0.5 * np.log(2 * np.pi) if full else 0.0), None


def hinge_embedding_loss(pred, target, margin=1.0):
    return np.where(target == 1, pred, np.maximum(0, margin - pred)), None


def soft_margin_loss(pred, target):
    return np.logaddexp(0, -target * pred), None


def multilabel_soft_margin_loss(pred, target, weight=None):
    z, t = _rows(pred), _rows(target)
    w = np.ones(z.shape[1]) if weight is None else np.asarray(weight)
    loss = -(w * (t * log_sigmoid(z) + (1 - t) * log_sigmoid(-z))).mean(axis=1)
    return loss.reshape(np.shape(pred)[:-1]), None


def multilabel_margin_loss(pred, target):
    z, t = _rows(pred), _rows(np.asarray(target, dtype=np.int64))
    out = []
    for row, labels in zip(z, t, strict=True):
        chosen = []
        for c in labels:
            if c < 0:
                break
            chosen.append(c)
        others = [i for i in range(len(row)) if i not in chosen]
        out.append(sum(max(0.0, 1 - (row[j] - row[i])) for j in chosen for i in others) / len(row))
    return np.array(out).reshape(np.shape(pred)[:-1]), None


def multi_margin_loss(pred, target, p=1, margin=1.0, weight=None):
    z = _rows(pred)
    idx = np.atleast_1d(np.asarray(target, dtype=np.int64))
    w = np.ones(z.shape[1]) if weight is None else np.asarray(weight)
    out = []
    for row, y in zip(z, idx, strict=True):
        hinge = np.maximum(0, margin - row[y] + row) ** p * w[y]
        out.append((hinge.sum() - hinge[y]) / len(row))
    return np.array(out).reshape(np.shape(target)), None


def margin_ranking_loss(x1, x2, target, margin=0.0):
    return np.maximum(0, -target * (x1 - x2) + margin), None


def cosine_embedding_loss(x1, x2, target, margin=0.0):
    eps = 1e-12
    cos = (x1 * x2).sum(-1) / np.sqrt(((x1**2).sum(-1) + eps) * ((x2**2).sum(-1) + eps))
    return np.where(target == 1, 1 - cos, np.maximum(0, cos - margin)), None


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False):
    def dist(u, v):
        return (np.abs(u - v + eps) ** p).sum(-1) ** (1 / p)

    d_ap, d_an = dist(anchor, positive), dist(anchor, negative)
    if swap:
        d_an = np.minimum(d_an, dist(positive, negative))
    return np.maximum(d_ap - d_an + margin, 0), None


def _ctc_one(log_probs, target, steps, length):
    """-log p(target | log_probs) by the CTC forward algorithm (blank = 0), in log space."""
    labels = [0]
    for c in target[:length]:
        labels += [int(c), 0]
    alpha = np.full(len(labels), -np.inf)
    alpha[0] = log_probs[0, 0]
    if len(labels) > 1:
        alpha[1] = log_probs[0, labels[1]]
    for t in range(1, steps):
        new = np.full_like(alpha, -np.inf)
        for s, label in enumerate(labels):
            terms = [alpha[s]]
            if s >= 1:
                terms.append(alpha[s - 1])
            if s >= 2 and label != 0 and label != labels[s - 2]:
                terms.append(alpha[s - 2])
            new[s] = logsumexp(terms) + log_probs[t, label]
        alpha = new
    return -logsumexp(alpha[-2:] if len(labels) > 1 else alpha[-1:])


def ctc_loss(log_probs, targets, input_lengths=None, target_lengths=None):
    batched = log_probs.ndim == 3
    lp = log_probs if batched else log_probs[:, None, :]
    tg = np.atleast_2d(np.asarray(targets, dtype=np.int64))
    n = lp.shape[1]
    il = np.full(n, lp.shape[0]) if input_lengths is None else np.atleast_1d(input_lengths)
    tl = np.full(n, tg.shape[1]) if target_lengths is None else np.atleast_1d(target_lengths)
    loss = np.array([_ctc_one(lp[:, b, :], tg[b], int(il[b]), int(tl[b])) for b in range(n)])
    return (loss if batched else loss[0]), None, tl


def cosine_similarity(x1, x2, dim=-1, eps=1e-8):
    n1 = np.maximum(np.sqrt((x1**2).sum(dim, keepdims=True)), eps)
    n2 = np.maximum(np.sqrt((x2**2).sum(dim, keepdims=True)), eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def vector_norm(x=None, pred=None, target=None, ord=2.0):
    v = x if x is not None else target - pred
    a = np.abs(v).reshape(-1)
    if ord == np.inf:
        return a.max()
    if ord == -np.inf:
        return a.min()
    if ord == 0:
        return float((a != 0).sum())
    return (a**ord).sum() ** (1 / ord)


def reduce(name: str, unreduced, divisor, reduction: str, pred=None, target_lengths=None):
    """torch's reductions: none, sum, mean (weighted for ce/nll), batchmean (kl_div)."""
    if reduction == "none":
        return unreduced
    if reduction == "sum":
        return np.sum(unreduced)
    if reduction == "batchmean":
        return np.sum(unreduced) / (np.shape(pred)[0] if np.ndim(pred) else 1)
    if name == "ctc_loss":
        return np.mean(np.atleast_1d(unreduced) / np.maximum(target_lengths, 1))
    if divisor is not None:
        return np.sum(unreduced) / divisor
    return np.mean(unreduced)
