"""What a function is, as data: its parameters, tensor inputs, kinks, regions and notes.

A :class:`FunctionSpec` holds everything the command line, ``explain``, the cost model and the
evaluator need to know about one function; :mod:`activations` and :mod:`losses` are lists of
them, and :mod:`registry` looks them up by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Param:
    """One keyword parameter of the torch function, exposed as ``--<name-with-hyphens>``."""

    name: str
    kind: str  # "float" | "int" | "bool" | "choice" | "tensor"
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    required: bool = False
    finite: bool = True  # False: inf and -inf are allowed (vector_norm's ord)
    span: tuple[int, int] = (-64, 63)  # an int's allowed values (a dim's, by default)

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class TensorInput:
    """A tensor argument, given as ``--<name>`` VALUES (number, list, range, JSON, stdin).

    ``kind``: "float"; "index" (whole numbers, passed as int64); "target" (class indices, or
    probabilities when shaped like the prediction: cross_entropy).
    ``grad``: "default" (differentiated when given), "optional" (only with --wrt), "never".
    """

    name: str
    help: str
    aliases: tuple[str, ...] = ()
    kind: str = "float"
    grad: str = "default"
    required: bool = True

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def options(self) -> tuple[str, ...]:
        return (self.option, *("--" + a.replace("_", "-") for a in self.aliases))


X = TensorInput("x", "input")


PRIMES = ("", "′", "″", "‴", "⁗")


@dataclass(frozen=True)
class Kink:
    """A point where a derivative is a convention: torch's value and the one-sided ones.

    ``jump`` marks a discontinuity of the function itself (threshold, hardshrink); ``order``
    is the derivative whose value is the convention (2: f′ is continuous, f″ jumps). ``torch``
    is the value in float64; other dtypes give it rounded to their precision.
    """

    at: float
    torch: float
    left: float
    right: float
    jump: bool = False
    # how other common formulations of the same function differ here (checked by the tests)
    alternatives: tuple[tuple[str, float], ...] = ()
    order: int = 1
    # torch's value here at each order from 0 on: "L" the left branch's, "R" the right
    # branch's, "0" zero (neither), "=" the two agree; the reference takes it at every order
    sides: str = ""

    def side(self, order: int) -> str:
        """torch's choice at ``order`` ("=" past the orders written)."""
        return self.sides[order] if order < len(self.sides) else "="

    @property
    def prime(self) -> str:
        return "'" * self.order

    def convention(self, name: str) -> str:
        """Where the one-sided values differ, the branch torch takes at each order: ``elu at
        0: f′ from the left, f″ f‴ f⁗ from the right``."""
        words = {"L": "from the left", "R": "from the right", "0": "0"}
        by: dict[str, list[str]] = {}
        for k, c in enumerate(self.sides):
            if c in words:
                by.setdefault(words[c], []).append("f" + PRIMES[k])
        at = self.at if isinstance(self.at, str) else f"{self.at:.10g}"
        return f"{name} at {at}: " + ", ".join(f"{' '.join(fs)} {w}" for w, fs in by.items())

    def text(self, name: str) -> str:
        """``name'(at) uses torch's convention …``: the words every kink note shares."""
        derivative = "derivative" if self.order == 1 else "second derivative"
        at = self.at if isinstance(self.at, str) else f"{self.at:.10g}"  # a parameter's name
        out = (
            f"{name}{self.prime}({at}) uses torch's convention {self.torch:.10g} "
            f"(left {derivative} {self.left:.10g}, right {derivative} {self.right:.10g})"
        )
        if self.jump:
            out += "; the function itself jumps there"
        if self.alternatives:
            out += "; other formulations differ: " + ", ".join(
                f"{form} gives {value:.10g}" for form, value in self.alternatives
            )
        return out


@dataclass(frozen=True)
class Region:
    """Inputs where torch computes the function differently from its formula (softplus past
    its threshold): ``mask(T, x)`` marks them, ``note`` says so (``{count}``: "3 inputs")."""

    mask: Callable[[Any, Any], Any]
    note: str


@dataclass(frozen=True, eq=False)
class FunctionSpec:
    """One function's entry. An entry is its own identity (one per name: equal only to itself,
    hashed as itself), and crosses processes by name (a shard, a batch worker)."""

    name: str  # torch.nn.functional spelling, e.g. "leaky_relu"
    kind: str  # "activation" (losses and norms come later)
    summary: str
    formula: str
    derivative: str
    domain: str
    range: str
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    pointwise: bool = True  # False: along a dim, the derivative is a Jacobian
    stochastic: bool = False
    max_order: int = 4  # highest derivative torch's autograd provides (losses: 2, a Hessian)
    inputs: tuple[TensorInput, ...] = (X,)
    # losses: accept the tutorial's model, pred = x·w with x = 1 and target y = 1 by default
    model: bool = False
    # shapes(shapes, params): raise BadInput for inputs that cannot fit (checked before torch)
    shapes: Callable[[Mapping[str, tuple[int, ...]], Params], None] = field(
        default=lambda s, p: None
    )
    # lint(tensors, params): raise BadInput for values outside the domain; return notes
    lint: Callable[[Mapping[str, Any], Params], list[str]] = field(default=lambda t, p: [])
    worked_example: str = ""
    # derivative_fn(torch, x, params): the closed-form derivative, for --check (elementwise)
    derivative_fn: Callable[..., Any] | None = None
    # exact(R, x, params): the function in arbitrary precision over Taylor series, written
    # with core.reference's operations R (R.sigmoid, R.ramp, R.clip, R.mpf, …): --check's
    # and --exact's truth, every derivative order from one formula. A loss's is
    # exact(R, inputs, params) over arrays of Taylor series, with core.reference_losses' R
    exact: Callable[..., Any] | None = None
    # symbolic(S, x, params): the closed form in sympy S, for expr --symbolic
    symbolic: Callable[..., Any] | None = None
    halves: bool = False  # the output has half the input's size along the dim (glu)
    # complete(T, tensors): fills inputs that default from the others (ctc's lengths)
    complete: Callable[..., None] = field(default=lambda T, t: None)
    # why finite differences do not measure torch's derivative here (--check skips them)
    no_finite_differences: str = ""
    mean_note: str = ""  # what reduction=mean divides by, where it is not the element count
    weighted_mean_note: str = ""  # … when a --weight is given or a target ignored
    # work(shapes): elements the loss works over beyond its broadcast inputs (ctc's lattice)
    work: Callable[[Mapping[str, tuple[int, ...]]], int] = field(default=lambda s: 0)
    # the input whose gradient torch gives with respect to the logits behind log_softmax
    # (ctc's log_probs: y − γ, not the partial derivative −γ)
    logits_gradient: str = ""
    # inputs that must share the prediction's shape (a scalar broadcasts; else --broadcast)
    aligned: tuple[str, ...] = ()
    # dtypes torch has no CPU kernel for, given the params (refused with exit 2 on the CPU)
    no_cpu_kernel: Callable[[Params], tuple[str, ...]] = field(default=lambda p: ())
    # call(F, x, params) -> tensor; None means torch.nn.functional.<name>(x, **params)
    call: Callable[..., Any] | None = None
    kinks: Callable[[Params], list[Kink]] = field(default=lambda p: [])
    # validate(params): what is wrong with these parameter values, or None
    validate: Callable[[Params], str | None] = field(default=lambda p: None)
    example: str = ""
    notes: tuple[str, ...] = ()
    dtype_notes: Mapping[str, str] = field(default_factory=dict)
    dtype_notes_need_grad: bool = True  # the dtype notes speak of derivatives only
    limits: tuple[str, ...] = ()  # what torch cannot do here: explain says it, results do not
    regions: Callable[[Params], list[Region]] = field(default=lambda p: [])
    # param_notes(params): what these parameter values mean for every result (gumbel's hard)
    param_notes: Callable[[Params], list[str]] = field(default=lambda p: [])
    # stable forms of derivatives that torch's formula loses to cancellation, for --report:
    # {order: (the formula in words, the same as torch source over x and the parameters)}
    stable: Mapping[int, tuple[str, str]] = field(default_factory=dict)
    # how each parameter reaches torch's kernel: "dtype" (scalar_t), "opmath" (float for the
    # 16-bit dtypes), "opmath,dtype" (forward, backward kernels): arithmetic.stored_params
    stored: Mapping[str, str] = field(default_factory=dict)
    # where torch's kernel is, whose storage, branch tests and constants the exact form follows
    source: str = ""
    # a one-input sweep (actgrad accuracy): the inputs it holds fixed and the parameters torch
    # has no default for, as options take them ({"target": "0"}, {"num_groups": "1"}); a loss
    # without one has no sweep
    sweep: Mapping[str, str] = field(default_factory=dict)
    sweep_slice: str = "0"  # a function along a dim is swept over the slices [this, x]
    # parameter sets besides the defaults (and the sweep's) that the tests exercise, as
    # PyTorch's OpInfo keeps sample inputs on its entries
    samples: tuple[Mapping[str, Any], ...] = ()

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _entry, (self.name,)

    def standing_notes(self, dtype: str, order: int) -> list[str]:
        """The notes every result of this function carries in ``dtype`` at ``order``."""
        notes = list(self.notes)
        if dtype in self.dtype_notes and (order or not self.dtype_notes_need_grad):
            notes.append(self.dtype_notes[dtype])
        return notes

    @property
    def reduces(self) -> bool:
        """A loss or a norm: named inputs reduced to a value (derivatives by input, --wrt, the
        tutorial's model); not an activation. The one test of an entry's kind: the rest of
        the program asks this, :attr:`elementwise` or :attr:`along_dim`."""
        return self.kind != "activation"

    @property
    def elementwise(self) -> bool:
        """An activation applied to each element on its own (its derivative is elementwise)."""
        return not self.reduces and self.pointwise

    @property
    def along_dim(self) -> bool:
        """An activation along a dim (softmax, glu, layer_norm): its derivative is a Jacobian."""
        return not self.reduces and not self.pointwise

    @property
    def command(self) -> str:
        return self.name.replace("_", "-")

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def tensor_input(self, name: str) -> TensorInput | None:
        return next((t for t in self.inputs if t.name == name), None)


# every registered entry by its name (core.functions.registry fills it)
REGISTERED: dict[str, FunctionSpec] = {}


def _entry(name: str) -> FunctionSpec:
    """The registered entry called ``name`` (unpickling: an entry travels by its name)."""
    return REGISTERED[name]
