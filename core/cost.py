"""The cost model: a request's largest tensor, peak memory and derivative work, estimated from
shapes alone before torch allocates anything (no torch here).

Three budgets follow from the element cap (``--max-elements``, default 2^27):

- elements: no tensor the request builds (an input, a broadcast intermediate, a Jacobian, a
  Hessian) has more than ``cap`` elements;
- memory: the estimated peak, every tensor and the result's text counted, stays under
  ``MEMORY_FACTOR × 8 bytes × cap`` (4 GiB at the default cap), and at least ``MEMORY_FLOOR``;
- work: Jacobians and Hessians built one autograd pass per row or column cost
  ``passes × elements per pass``; that stays under ``WORK_FACTOR × cap`` element operations.

The estimates are deliberately generous upper bounds (the test suite measures real peaks
against them); a request over any budget is refused with exit 2 naming what to shrink.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .errors import TooLarge

MEMORY_FACTOR = 4
MEMORY_FLOOR = 64 << 20
WORK_FACTOR = 8
WORK_FLOOR = 10**7
ITEMSIZE = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}
TEXT_BYTES = 26  # one number as text with its separator (float64's longest is 24 characters)
GRAPH_FACTOR = 6  # tensors autograd keeps per element of the largest intermediate (fwd + bwd)
ROW_BYTES = 128  # orjson's bookkeeping per innermost row of a numpy array
ARRAY_BYTES = 8  # each result array is also copied to float64 on its way to text or a check
STREAM_NUMBERS = 16_384 * 16  # plain lines are formatted 16,384 rows (≤ 16 columns) at a time
STR_BYTES = 128  # a number in a chunk of plain lines: its str, its share of the row and the chunk
MAX_FD_ELEMENTS = 512  # --check: finite differences one element at a time up to this many
# what building a Jacobian or Hessian a row at a time keeps besides the matrix (vmap's and
# autograd's buffers; measured: about 4 MiB for a small one, written in any format)
MATRIX_BYTES = 6 << 20


@dataclass(frozen=True)
class Cost:
    """What a request will build: its largest tensor, the bytes of its tensors, the numbers
    of its result (and their innermost rows), and repeated-pass work."""

    elements: int = 0
    bytes: int = 0
    work: int = 0
    what: str = "the request"  # the part that dominates the largest tensor
    work_what: str = ""  # the derivative whose passes make up the work
    numbers: int = 0  # numbers in the result
    rows: int = 0  # innermost rows of the result's arrays

    def __add__(self, other: Cost) -> Cost:
        bigger = self if self.elements >= other.elements else other
        busier = self if self.work >= other.work else other
        return Cost(
            bigger.elements,
            self.bytes + other.bytes,
            self.work + other.work,
            bigger.what,
            busier.work_what,
            self.numbers + other.numbers,
            self.rows + other.rows,
        )

    def times(self, copies: int) -> Cost:
        return Cost(
            self.elements,
            self.bytes * copies,
            self.work * copies,
            self.what,
            self.work_what,
            self.numbers * copies,
            self.rows * copies,
        )

    def peak(self, whole_text: bool) -> int:
        """Peak bytes: the tensors, a float64 copy of every result number, and its text:
        the whole of it when serialized at once (JSON), a chunk at a time when streamed."""
        if whole_text:
            text = self.numbers * TEXT_BYTES + self.rows * ROW_BYTES
        else:
            text = min(self.numbers, STREAM_NUMBERS) * STR_BYTES
        return self.bytes + self.numbers * ARRAY_BYTES + text


def tensor(numel: int, itemsize: int, what: str, copies: int = 1) -> Cost:
    return Cost(numel, numel * itemsize * copies, 0, what)


def passes(count: int, per_pass: int, what: str) -> Cost:
    """``count`` autograd passes over ``per_pass`` elements each (rows or columns)."""
    return Cost(0, 0, count * per_pass, work_what=what)


def result(*shape: int, copies: int = 1) -> Cost:
    """A result array of ``shape`` (``copies`` of it): its numbers and innermost rows (the JSON
    writer keeps some bookkeeping per row: a shape ending in 1 has a row per number)."""
    numbers = math.prod(shape)
    rows = numbers // shape[-1] if shape and shape[-1] else 1
    return Cost(numbers=copies * numbers, rows=copies * rows)


def total(parts: Iterable[Cost]) -> Cost:
    out = Cost()
    for part in parts:
        out = out + part
    return out


def memory_budget(cap: int) -> int:
    return max(MEMORY_FACTOR * 8 * cap, MEMORY_FLOOR)


def work_budget(cap: int) -> int:
    return max(WORK_FACTOR * cap, WORK_FLOOR)


def human_bytes(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1024
    raise AssertionError


SHRINK = "give fewer points (smaller inputs), or raise the cap with --max-elements N"


def enforce(cost: Cost, cap: int, whole_text: bool = True) -> None:
    """Refuse ``cost`` (TooLarge, exit 2) when it is over any budget of ``cap``."""
    if cost.elements > cap:
        raise TooLarge(
            f"{cost.what} would have {cost.elements:,} elements "
            f"({human_bytes(cost.elements * 8)} in float64), over the cap of {cap:,}",
            SHRINK,
        )
    peak = cost.peak(whole_text)
    if peak > memory_budget(cap):
        raise TooLarge(
            f"this request would use about {human_bytes(peak)} of memory, over the budget "
            f"of {human_bytes(memory_budget(cap))} ({MEMORY_FACTOR} × 8 bytes × the cap of "
            f"{cap:,} elements); its largest part is {cost.what} ({cost.elements:,} elements)",
            SHRINK,
        )
    if cost.work > work_budget(cap):
        raise TooLarge(
            f"{cost.work_what} would take about {cost.work:.2g} element operations (one autograd "
            f"pass per row or column), over the budget of {work_budget(cap):.2g} "
            f"({WORK_FACTOR} × the cap of {cap:,})",
            "differentiate fewer elements (a smaller input, or --index I for one row), "
            "or raise the cap with --max-elements N",
        )


def broadcast_shape(shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...] | None:
    """numpy's broadcasting rule, or None when the shapes do not broadcast."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        sizes = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0} - {1}
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def broadcast_numel(shapes: Sequence[tuple[int, ...]]) -> int:
    """Elements of the shapes broadcast together (the largest one where they do not)."""
    shape = broadcast_shape(shapes)
    if shape is None:
        return max((math.prod(s) for s in shapes), default=1)
    return math.prod(shape)


def inputs(shapes: Mapping[str, tuple[int, ...]], itemsize: int) -> Cost:
    """Parsed buffers (float64), the float64 tensor, the cast, and their echo in the result."""
    return total(
        tensor(math.prod(s), 8 * 2 + itemsize, f"--{n}") + result(*s) for n, s in shapes.items()
    )


def activation(
    shape: tuple[int, ...],
    itemsize: int,
    order: int,
    pointwise: bool,
    dim_size: int,
    out_size: int,
    index: int | None,
) -> Cost:
    """An activation: elementwise (value and derivatives, chunked), or along a dim (the
    Jacobian one row per output, or one output's gradient and Hessian)."""
    n = max(math.prod(shape), 1)
    parts = [inputs({"x": shape}, itemsize)]
    if pointwise:
        # the padded chunks, then each column concatenated: two copies of every column
        parts.append(tensor(n, itemsize, "the values and derivatives", copies=2 * (1 + order)))
        parts.append(result(*shape, copies=2 + order))
        return total(parts)
    batch = n // max(dim_size, 1)
    parts.append(tensor(n, itemsize, "the value", copies=GRAPH_FACTOR))
    parts.append(result(*shape, copies=2))
    if order and index is None:
        jac = batch * out_size * dim_size
        parts += [
            tensor(jac, itemsize, "the Jacobian", copies=2),
            Cost(bytes=MATRIX_BYTES),
            result(batch * out_size, dim_size),
            passes(out_size, GRAPH_FACTOR * n, "the Jacobian"),
        ]
    elif order:
        parts.append(result(*shape))
        if order > 1:
            hess = batch * dim_size * dim_size
            parts += [
                tensor(hess, itemsize, "the Hessian", copies=2),
                Cost(bytes=MATRIX_BYTES),
                result(batch * dim_size, dim_size),
                passes(dim_size, GRAPH_FACTOR * n, "the Hessian"),
            ]
    return total(parts)


def derivatives(
    value_shape: tuple[int, ...],
    leaves: Mapping[str, tuple[int, ...]],
    order: int,
    graph: int,
    itemsize: int,
    per_element: Mapping[str, bool],
    columns: bool = True,
) -> Cost:
    """The derivatives of a loss or expression with respect to each leaf.

    ``graph``: elements autograd touches in one pass; ``per_element[name]``: the derivative
    is one number per element of the leaf (elementwise, or independent samples); ``columns``:
    a Jacobian may be built one forward (jvp) pass per leaf element when that is fewer."""
    value = math.prod(value_shape)
    parts = []
    for name, shape in leaves.items():
        size = math.prod(shape)
        if value_shape == ():
            parts.append(result(*shape, copies=order if size == 1 else 1))
            if order > 1 and shape != ():
                parts += [
                    tensor(size * size, itemsize, f"the Hessian for {name}", copies=2),
                    Cost(bytes=MATRIX_BYTES),
                    result(*shape, *shape),
                    passes(size, graph, f"the Hessian for {name}"),
                ]
        elif per_element[name]:
            parts.append(result(*shape, copies=order))
        else:
            what = f"the Jacobian for {name}"
            count = min(value, size) if columns else value
            parts += [
                tensor(value * size, itemsize, what, copies=2),
                Cost(bytes=MATRIX_BYTES),
                result(*value_shape, *shape),
                passes(count, graph, what),
            ]
    return total(parts)


def repeated(single: Cost, reference: Cost, numbers: int, copies: int, fd_passes: int) -> Cost:
    """--check or --dtypes: ``single`` (the request as asked) and a float64 evaluation like
    ``reference`` one after another, ``copies`` results of ``numbers`` numbers held at once
    (one per dtype, or the finite-difference columns), float64 error arrays, and
    ``fd_passes`` finite-difference evaluations (one per perturbed element)."""
    held = Cost(0, (copies + 4) * numbers * 8)  # held results, and the errors' temporaries
    work = passes(fd_passes, reference.elements * GRAPH_FACTOR, "--check's finite differences")
    return single + reference + held + work
