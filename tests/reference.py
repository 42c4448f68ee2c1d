"""Independent float64 references (numpy/scipy) for every registry entry.

POINTWISE[name] = (value(x, **params), derivative(x, **params)) on numpy arrays.
ALONG_DIM[name] = (value(x, **params), jacobian(x, **params)) for one 1-D slice.
These are written from the formulas, never from actgrad or torch.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, special

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
K = np.sqrt(2 / np.pi)


def _where(cond, a, b):
    return np.where(cond, a, b).astype(np.float64)


def _nan(x, y):
    """NaN in, NaN out (numpy's comparisons would otherwise pick a branch)."""
    return np.where(np.isnan(x), np.nan, y)


def _gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(K * (x + 0.044715 * x**3)))
    return x * special.ndtr(x)


def _gelu_d(x, approximate="none"):
    if approximate == "tanh":
        inner = K * (x + 0.044715 * x**3)
        t = np.tanh(inner)
        tail = _where(np.isinf(x), 0.0, 0.5 * x * (1 - t**2) * K * (1 + 3 * 0.044715 * x**2))
        return 0.5 * (1 + t) + tail
    return special.ndtr(x) + _where(np.isinf(x), 0.0, x * np.exp(-(x**2) / 2) / np.sqrt(2 * np.pi))


def _softplus(x, beta=1.0, threshold=20.0):
    return _where(beta * x > threshold, x, np.logaddexp(0, beta * x) / beta)


def _mish(x):
    return x * np.tanh(np.logaddexp(0, x))


def _mish_d(x):
    t = np.tanh(np.logaddexp(0, x))
    return t + _where(np.isinf(x), 0.0, x * special.expit(x) * (1 - t**2))


def _leaky(x, slope):
    return _where(x > 0, x, slope * x)


def _leaky_d(x, slope):
    return _where(x > 0, 1.0, slope)


POINTWISE = {
    "relu": (lambda x: np.maximum(x, 0), lambda x: _where(x > 0, 1.0, 0.0)),
    "relu6": (lambda x: np.clip(x, 0, 6), lambda x: _where((x > 0) & (x < 6), 1.0, 0.0)),
    "leaky_relu": (
        lambda x, negative_slope=0.01: _leaky(x, negative_slope),
        lambda x, negative_slope=0.01: _leaky_d(x, negative_slope),
    ),
    "prelu": (
        lambda x, weight=0.25: _leaky(x, weight),
        lambda x, weight=0.25: _leaky_d(x, weight),
    ),
    "rrelu": (
        lambda x, lower=1 / 8, upper=1 / 3, training=False: _leaky(x, (lower + upper) / 2),
        lambda x, lower=1 / 8, upper=1 / 3, training=False: _leaky_d(x, (lower + upper) / 2),
    ),
    "elu": (
        lambda x, alpha=1.0: _where(x > 0, x, alpha * np.expm1(x)),
        lambda x, alpha=1.0: _where(x > 0, 1.0, alpha * np.exp(x)),
    ),
    "celu": (
        lambda x, alpha=1.0: np.maximum(0, x) + np.minimum(0, alpha * np.expm1(x / alpha)),
        lambda x, alpha=1.0: _where(x > 0, 1.0, np.exp(x / alpha)),
    ),
    "selu": (
        lambda x: SELU_SCALE * _where(x > 0, x, SELU_ALPHA * np.expm1(x)),
        lambda x: SELU_SCALE * _where(x > 0, 1.0, SELU_ALPHA * np.exp(x)),
    ),
    "gelu": (_gelu, _gelu_d),
    "silu": (
        lambda x: x * special.expit(x),
        lambda x: special.expit(x) * (1 + _where(np.isinf(x), 0.0, x * special.expit(-x))),
    ),
    "mish": (_mish, _mish_d),
    "sigmoid": (special.expit, lambda x: special.expit(x) * special.expit(-x)),
    "logsigmoid": (lambda x: -np.logaddexp(0, -x), lambda x: special.expit(-x)),
    "hardsigmoid": (
        lambda x: np.clip(x / 6 + 0.5, 0, 1),
        lambda x: _where((x > -3) & (x < 3), 1 / 6, 0.0),
    ),
    "tanh": (np.tanh, lambda x: 1 / np.cosh(x) ** 2),
    "hardtanh": (
        lambda x, min_val=-1.0, max_val=1.0: np.clip(x, min_val, max_val),
        lambda x, min_val=-1.0, max_val=1.0: _where((x > min_val) & (x < max_val), 1.0, 0.0),
    ),
    "softsign": (lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2),
    "softplus": (
        _softplus,
        lambda x, beta=1.0, threshold=20.0: _where(
            beta * x > threshold, 1.0, special.expit(beta * x)
        ),
    ),
    "hardswish": (
        lambda x: x * np.clip(x + 3, 0, 6) / 6,
        lambda x: _where(x < -3, 0.0, _where(x > 3, 1.0, (2 * x + 3) / 6)),
    ),
    "hardshrink": (
        lambda x, lambd=0.5: _nan(x, _where(np.abs(x) > lambd, x, 0.0)),
        lambda x, lambd=0.5: _where(np.abs(x) > lambd, 1.0, 0.0),
    ),
    "softshrink": (
        lambda x, lambd=0.5: _nan(
            x, _where(x > lambd, x - lambd, _where(x < -lambd, x + lambd, 0.0))
        ),
        lambda x, lambd=0.5: _where(np.abs(x) > lambd, 1.0, 0.0),
    ),
    "tanhshrink": (lambda x: x - np.tanh(x), lambda x: np.tanh(x) ** 2),
    "threshold": (
        lambda x, threshold, value: _nan(x, _where(x > threshold, x, value)),
        lambda x, threshold, value: _where(x > threshold, 1.0, 0.0),
    ),
}


def _softmax(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


def _softmax_j(x):
    p = _softmax(x)
    return np.diag(p) - np.outer(p, p)


def _glu(x):
    a, b = np.split(x, 2)
    return a * special.expit(b)


def _glu_j(x):
    a, b = np.split(x, 2)
    s = special.expit(b)
    return np.hstack([np.diag(s), np.diag(a * s * (1 - s))])


def _norm(x, p):
    return np.sum(np.abs(x) ** p) ** (1 / p)


def _normalize(x, p=2.0, eps=1e-12):
    return x / max(_norm(x, p), eps)


def _normalize_j(x, p=2.0, eps=1e-12):
    n = _norm(x, p)
    if n <= eps:
        return np.eye(len(x)) / eps
    dn = np.abs(x) ** (p - 1) * np.sign(x) * n ** (1 - p)
    return np.eye(len(x)) / n - np.outer(x, dn) / n**2


def _layer_norm(x, eps=1e-5, weight=1.0, bias=0.0, dim=-1):
    d = x - x.mean()
    return weight * d / np.sqrt(np.mean(d * d) + eps) + bias


def _layer_norm_j(x, eps=1e-5, weight=1.0, bias=0.0, dim=-1):
    n = len(x)
    d = x - x.mean()
    s = np.sqrt(np.mean(d * d) + eps)
    xh = d / s
    return weight / s * (np.eye(n) - 1 / n - np.outer(xh, xh) / n)


def _group_norm(x, num_groups, eps=1e-5, weight=1.0, bias=0.0, dim=-1):
    groups = np.split(np.asarray(x, dtype=np.float64), num_groups)
    return np.concatenate([_layer_norm(g, eps, weight, bias) for g in groups])


def _group_norm_j(x, num_groups, eps=1e-5, weight=1.0, bias=0.0, dim=-1):
    groups = np.split(np.asarray(x, dtype=np.float64), num_groups)
    return linalg.block_diag(*[_layer_norm_j(g, eps, weight, bias) for g in groups])


def _rms_norm(x, eps=None, weight=1.0, dim=-1):
    eps = np.finfo(np.float64).eps if eps is None else eps  # torch's default: the dtype's
    return weight * x / np.sqrt(np.mean(x * x) + eps)


def _rms_norm_j(x, eps=None, weight=1.0, dim=-1):
    eps = np.finfo(np.float64).eps if eps is None else eps
    n = len(x)
    r2 = np.mean(x * x) + eps
    return weight / np.sqrt(r2) * (np.eye(n) - np.outer(x, x) / (n * r2))


ALONG_DIM = {
    "softmax": (_softmax, _softmax_j),
    "log_softmax": (
        lambda x: x - special.logsumexp(x),
        lambda x: np.eye(len(x)) - np.outer(np.ones(len(x)), _softmax(x)),
    ),
    "softmin": (lambda x: _softmax(-x), lambda x: -_softmax_j(-x)),
    "glu": (_glu, _glu_j),
    "normalize": (_normalize, _normalize_j),
    "layer_norm": (_layer_norm, _layer_norm_j),
    "group_norm": (_group_norm, _group_norm_j),
    "rms_norm": (_rms_norm, _rms_norm_j),
}


def gumbel_softmax(x, gumbels, tau=1.0, hard=False):
    """Value and Jacobian of gumbel_softmax for given Gumbel noise."""
    y = _softmax((x + gumbels) / tau)
    jac = (np.diag(y) - np.outer(y, y)) / tau
    if hard:
        y = np.eye(len(x))[np.argmax(y)]
    return y, jac
