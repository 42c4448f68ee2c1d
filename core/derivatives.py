"""Every derivative form, for any program's value and leaves, with torch autograd: elementwise
orders, gradients and Hessians of a scalar, Jacobians (per slice along a dim, or whole, by rows
or by columns), one output's gradient (``--index``) and the vector-Jacobian product."""

from __future__ import annotations

from typing import Any

import torch
from actgrad.core.program import Program

Derivatives = dict[int, dict[str, torch.Tensor]]


def differentiate(
    program: Program,
    value: torch.Tensor,
    leaves: dict[str, torch.Tensor],
    order: int,
    index: int | None = None,
    direction: torch.Tensor | None = None,
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
    - otherwise the whole Jacobian."""
    derivatives: Derivatives = {}
    jacobian: dict[str, torch.Tensor] = {}
    if not order or not leaves:
        return derivatives, jacobian
    if direction is not None:
        return {1: {n: _grad(value, leaf, direction=direction) for n, leaf in leaves.items()}}, {}
    if program.dim is not None:
        ((name, leaf),) = leaves.items()
        if index is None:
            jacobian[name] = _rows(value, leaf, program.dim)
            return derivatives, jacobian
        g = _grad(value.movedim(program.dim, -1)[..., index], leaf, order > 1)
        derivatives[1] = {name: g}
        if order > 1:
            derivatives[2] = {name: _rows(g, leaf, program.dim)}
        return derivatives, jacobian
    for name, leaf in leaves.items():
        if (program.elementwise and leaf.shape == value.shape) or value.ndim == 0:
            out = value
            for k in range(1, order + 1):
                if k == 2 and value.ndim == 0 and leaf.ndim:  # a scalar's Hessian
                    derivatives.setdefault(2, {})[name] = jacobian_rows(out, leaf)
                    break
                out = _grad(out, leaf, create_graph=k < order)
                derivatives.setdefault(k, {})[name] = out
        elif program.separable and leaf.numel() >= value.numel():
            derivatives.setdefault(1, {})[name] = _grad(value, leaf)
        else:  # a broadcast input (the model's w, x in x*z): every element's derivative
            jacobian[name] = jacobian_of(value, leaf)
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


def _rows(out: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
    """Per slice along ``dim``: the Jacobian d out[..., i] / d x[..., j], shape (..., m, n)."""
    moved = out.movedim(dim, -1)
    rows = _stacked(moved.shape[-1], lambda i: _grad(moved[..., i], x, False).movedim(dim, -1))
    return rows.movedim(0, -2)


def _stacked(count: int, row: Any) -> torch.Tensor:
    """torch.stack([row(0), …, row(count - 1)]) written into one preallocated tensor: each
    row's pass frees its temporaries before the next, so the heap does not fragment (a list
    of small rows between large temporaries held several times the result's memory)."""
    first = row(0)
    out = torch.empty((count, *first.shape), dtype=first.dtype, device=first.device)
    out[0] = first
    del first
    for i in range(1, count):
        out[i] = row(i)
    return out


def jacobian_rows(value: torch.Tensor, leaf: torch.Tensor, create_graph: bool = False):
    flat = value.reshape(-1)
    rows = _stacked(flat.numel(), lambda i: _grad(flat[i], leaf, create_graph))
    return rows.reshape((*value.shape, *leaf.shape))


def _jacobian_columns(value: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """d value / d leaf one column at a time: a Jacobian-vector product per leaf element,
    taken as the derivative of the vector-Jacobian product u ↦ uᵀJ with respect to u."""
    u = torch.zeros_like(value, requires_grad=True)
    (vjp,) = torch.autograd.grad(value, leaf, u, create_graph=True, retain_graph=True,
                                 allow_unused=True, materialize_grads=True)  # fmt: skip
    eye = torch.zeros(leaf.numel(), dtype=leaf.dtype, device=leaf.device)

    def column(j: int) -> torch.Tensor:
        eye.zero_()
        eye[j] = 1
        return _grad(vjp, u, direction=eye.reshape(leaf.shape)).reshape(-1)

    columns = _stacked(leaf.numel(), column)  # (leaf elements, value elements)
    return columns.T.reshape((*value.shape, *leaf.shape))


def jacobian_of(value: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """The full Jacobian d value / d leaf, shape value.shape + leaf.shape, in as few autograd
    passes as it takes: one reverse pass per output element, or one forward (Jacobian-vector)
    pass per leaf element where the leaf is smaller (a broadcast scalar takes one pass)."""
    if leaf.numel() < value.numel() and value.requires_grad:
        try:
            return _jacobian_columns(value, leaf)
        except RuntimeError:  # no double backward through some op: one row per output
            pass
    return jacobian_rows(value, leaf)
