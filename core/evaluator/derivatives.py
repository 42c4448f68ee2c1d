"""Every derivative form, for any program's value and leaves, with torch autograd: elementwise
orders, gradients and Hessians of a scalar, Jacobians (per slice along a dim, or whole, by rows
or by columns), one output's gradient (``--index``) and the vector-Jacobian product."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from ..program import Program, derivative_form

Derivatives = dict[int, dict[str, torch.Tensor]]


def differentiate(
    program: Program,
    value: torch.Tensor,
    leaves: dict[str, torch.Tensor],
    order: int,
    index: int | None = None,
    direction: torch.Tensor | None = None,
    graph: int = 0,
) -> tuple[Derivatives, dict[str, torch.Tensor]]:
    """(derivatives[k][leaf], jacobian[leaf]) of ``value`` up to ``order``, in the form the
    program and the shapes call for:

    - ``direction`` v given: vᵀJ for every leaf, as ``value.backward(v)`` fills ``leaf.grad``;
    - a function along ``program.dim``: its Jacobian per slice, or with ``index`` the gradient
      of that output (and, at order 2, its Hessian);
    - an elementwise program and a leaf of the value's shape, or a scalar value: derivatives
      1…order by repeated differentiation (a scalar's second derivative with respect to a
      vector is its Hessian);
    - a separable program (a loss with reduction none) and a leaf at least as large as the
      value: the gradient of the sum, each element's own derivative;
    - otherwise the whole Jacobian.

    ``graph``: elements of the largest tensor in value's graph (a broadcast inside), which
    each row of a batched backward pass holds once more."""
    derivatives: Derivatives = {}
    jacobian: dict[str, torch.Tensor] = {}
    if not order or not leaves:
        return derivatives, jacobian
    if direction is not None:
        return {1: {n: _grad(value, leaf, direction=direction) for n, leaf in leaves.items()}}, {}
    for name, leaf in leaves.items():
        form = derivative_form(program, tuple(value.shape), tuple(leaf.shape), index)
        if form == "slice-jacobian":
            jacobian[name] = jacobian_per_slice(value, leaf, program.dim, graph)
        elif form == "slice-index":
            g = _grad(value.movedim(program.dim, -1)[..., index], leaf, order > 1)
            derivatives[1] = {name: g}
            if order > 1:
                derivatives[2] = {name: jacobian_per_slice(g, leaf, program.dim, graph)}
        elif form == "orders":
            out = value
            for k in range(1, order + 1):
                if k == 2 and value.ndim == 0 and leaf.ndim:  # a scalar's Hessian
                    derivatives.setdefault(2, {})[name] = jacobian_rows(out, leaf, graph)
                    break
                out = _grad(out, leaf, create_graph=k < order)
                derivatives.setdefault(k, {})[name] = out
        elif form == "sum":
            derivatives.setdefault(1, {})[name] = _grad(value, leaf)
        else:  # a broadcast input (the model's w, x in x*z): every element's derivative
            jacobian[name] = jacobian_of(value, leaf, graph)
    return derivatives, jacobian


def _grad(
    out: torch.Tensor,
    x: torch.Tensor,
    create_graph: bool = False,
    direction: torch.Tensor | None = None,
) -> torch.Tensor:
    """d out.sum() / dx, or vᵀ d out / dx with ``direction`` v (as out.backward(v) fills
    x.grad); zeros where out does not depend on x (e.g. relu' differentiated)."""
    if not out.requires_grad:
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(
        out.sum() if direction is None else out,
        x,
        direction,
        create_graph=create_graph,
        retain_graph=True,
        allow_unused=True,
        materialize_grads=True,
    )
    return g


BLOCK = 1 << 17  # seed numbers per batched backward pass: bounds a block's extra memory


def _rows_by_seeds(
    out: torch.Tensor,
    x: torch.Tensor,
    count: int,
    seed: Callable[[torch.Tensor, int], None],
    graph: int = 0,
) -> torch.Tensor:
    """Rows ``d (sᵢ · out) / d x`` for i < count, shape (count, *x.shape), where ``seed(block,
    start)`` writes the one-hot seeds sᵢ of rows start… into ``block`` (shape (rows, *out.shape)).

    A block of rows is one batched backward pass (torch.autograd.grad with is_grads_batched:
    vmap over the backward graph, as torch.autograd.functional.jacobian(vectorize=True) does);
    it is bit-identical to one pass per row, which remains where torch has no batching rule.
    Blocks are written into one preallocated tensor, so the heap does not fragment."""
    rows = torch.zeros((count, *x.shape), dtype=x.dtype, device=x.device)
    if not out.requires_grad:
        return rows
    size = max(1, min(count, BLOCK // max(1, out.numel() + x.numel(), graph)))
    for start in range(0, count, size):
        stop = min(count, start + size)
        seeds = torch.zeros((stop - start, *out.shape), dtype=out.dtype, device=out.device)
        seed(seeds, start)
        rows[start:stop] = _batched(out, x, seeds)
    return rows


def _batched(out: torch.Tensor, x: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    try:
        with warnings.catch_warnings():  # vmap's slow fallback for an op is still exact
            warnings.filterwarnings("ignore", message=".*performance drop.*")
            (g,) = torch.autograd.grad(
                out,
                x,
                seeds,
                retain_graph=True,
                is_grads_batched=True,
                allow_unused=True,
                materialize_grads=True,
            )
        return g.expand(seeds.shape[0], *x.shape)  # an unused x: one zero row for all
    except RuntimeError:  # no batching rule for some op: a pass per row
        return torch.stack([_grad(out, x, direction=s) for s in seeds])


def _one_hot(block: torch.Tensor, start: int) -> None:
    """Seeds for rows start… of the Jacobian of out.reshape(-1)."""
    flat = block.view(block.shape[0], -1)
    rows = torch.arange(block.shape[0], device=block.device)
    flat[rows, rows + start] = 1


def jacobian_per_slice(
    out: torch.Tensor, x: torch.Tensor, dim: int, graph: int = 0
) -> torch.Tensor:
    """Per slice along ``dim``: the Jacobian d out[..., i] / d x[..., j], shape (..., m, n)."""
    at = dim % out.ndim

    def seed(block: torch.Tensor, start: int) -> None:  # output i of every slice
        rows = torch.arange(block.shape[0], device=block.device)
        block.movedim(1 + at, -1)[rows, ..., rows + start] = 1

    rows = _rows_by_seeds(out, x, out.shape[at], seed, graph)  # (m, *x.shape)
    return rows.movedim(1 + dim % x.ndim, -1).movedim(0, -2)


def jacobian_rows(value: torch.Tensor, leaf: torch.Tensor, graph: int = 0) -> torch.Tensor:
    """The full Jacobian d value / d leaf, a reverse pass per output element (in blocks)."""
    rows = _rows_by_seeds(value, leaf, value.numel(), _one_hot, graph)
    return rows.reshape((*value.shape, *leaf.shape))


def _jacobian_columns(value: torch.Tensor, leaf: torch.Tensor, graph: int = 0) -> torch.Tensor:
    """d value / d leaf a column at a time: a Jacobian-vector product per leaf element, taken
    as the derivative of the vector-Jacobian product u ↦ uᵀJ with respect to u."""
    u = torch.zeros_like(value, requires_grad=True)
    (vjp,) = torch.autograd.grad(
        value,
        leaf,
        u,
        create_graph=True,
        retain_graph=True,
        allow_unused=True,
        materialize_grads=True,
    )
    columns = _rows_by_seeds(vjp, u, leaf.numel(), _one_hot, graph)  # (leaf, *value.shape)
    return columns.reshape(leaf.numel(), -1).T.reshape((*value.shape, *leaf.shape))


def jacobian_of(value: torch.Tensor, leaf: torch.Tensor, graph: int = 0) -> torch.Tensor:
    """The full Jacobian d value / d leaf, shape value.shape + leaf.shape, in as few autograd
    passes as it takes: one reverse pass per output element, or one forward (Jacobian-vector)
    pass per leaf element where the leaf is smaller (a broadcast scalar takes one pass)."""
    if leaf.numel() < value.numel() and value.requires_grad:
        try:
            return _jacobian_columns(value, leaf, graph)
        except RuntimeError:  # no double backward through some op: one row per output
            pass
    return jacobian_rows(value, leaf, graph)
