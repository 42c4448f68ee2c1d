"""Every activation of torch.nn.functional (torch 2.13) as a registry entry.

Each entry reads top to bottom: formula, derivative, parameters with torch's defaults, kinks
(points where the derivative is a convention; ``torch`` is the value autograd returns there).
"""

from __future__ import annotations

import math

from ..errors import BadParameter
from .spec import FunctionSpec, Kink, Param, Region

# the self-normalizing constants, to 32 digits (the exact form takes the text, torch the float)
SELU_ALPHA_TEXT = "1.6732632423543772848170429916717"
SELU_SCALE_TEXT = "1.0507009873554804934193349852946"
SELU_ALPHA, SELU_SCALE = float(SELU_ALPHA_TEXT), float(SELU_SCALE_TEXT)
R = "ℝ"
ACT = "aten/src/ATen/native/cpu/Activation.cpp"  # torch's CPU activation kernels

DIM = Param("dim", "int", -1, "dimension the function works along (torch: a required choice)")
# the normalizations' affine parameters, one number each where torch takes a tensor
WEIGHT = Param("weight", "float", 1.0, "one shared scale (torch: a tensor; filled with this)")
BIAS = Param("bias", "float", 0.0, "one shared shift (torch: a tensor; filled with this)")


def _gelu_derivative(T, x, p):
    if p["approximate"] == "tanh":
        k = math.sqrt(2 / math.pi)
        t = T.tanh(k * (x + 0.044715 * x**3))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * k * (1 + 3 * 0.044715 * x**2)
    return 0.5 * (1 + T.erf(x / math.sqrt(2))) + x * T.exp(-(x**2) / 2) / math.sqrt(2 * math.pi)


def _gelu_symbolic(S, x, p):
    if p["approximate"] == "none":
        return x * (1 + S.erf(x / S.sqrt(2))) / 2
    return x * (1 + S.tanh(S.sqrt(2 / S.pi) * (x + S.Float(0.044715) * x**3))) / 2


def _last_dims(fn, x, p, bias=None):
    """torch's layer_norm or rms_norm over ``p["dim"]`` (moved last and back), its weight and
    bias tensors filled with the one number given (None where they are torch's defaults)."""
    t = x.movedim(p["dim"], -1)
    n = t.shape[-1]
    weight = None if p["weight"] == 1 else t.new_full((n,), p["weight"])
    extra = () if bias is None else (None if bias == 0 else t.new_full((n,), bias),)
    return fn(t, (n,), weight, *extra, eps=p["eps"]).movedim(-1, p["dim"])


def _groups(F, x, p):
    """torch's group_norm on each slice along ``p["dim"]``, as one sample's channels (the
    slices are its batch: an (N, C) input with dim −1 is torch's own call)."""
    t = x.movedim(p["dim"], -1)
    n = t.shape[-1]
    rows = t.reshape(-1, n)
    weight = None if p["weight"] == 1 else t.new_full((n,), p["weight"])
    bias = None if p["bias"] == 0 else t.new_full((n,), p["bias"])
    out = F.group_norm(rows, p["num_groups"], weight, bias, eps=p["eps"])
    return out.reshape(t.shape).movedim(-1, p["dim"])


def _divides_the_dim(shapes, p):
    shape = shapes["x"]
    n, groups = shape[p["dim"]], p["num_groups"]
    if n % groups:
        raise BadParameter(
            f"--num-groups {groups} does not divide the {n} values along dim {p['dim']}",
            f"give a number of groups that divides {n}, e.g. --num-groups 1",
        )
    if n == groups and math.prod(shape) == n:  # torch's own refusal, said before it
        raise BadParameter(
            f"--num-groups {groups} leaves one value per group, and torch refuses a group of "
            "one value in a single sample (its variance is 0)",
            f"use fewer groups than {n}, e.g. --num-groups 1",
        )


def _mish_derivative(T, x, p):
    t = T.tanh(T.nn.functional.softplus(x))
    return t + x * T.sigmoid(x) * (1 - t**2)


def _slope_kink(slope: float) -> list[Kink]:
    """A kink at 0 between slope ``slope`` (left, torch's choice at 0) and 1 (right)."""
    return [] if slope == 1 else [Kink(0.0, slope, slope, 1.0, sides="=L")]


def _elu_kinks(slope: float, scale: float = 1.0) -> list[Kink]:
    """elu's and selu's kinks at 0: f′ takes the left branch (alpha·scale, or scale
    where they agree), f″ and up the right one (0), as torch's backward and double backward
    do."""
    sides = ("=L" if slope != scale else "==") + "RRR"
    first = [] if slope == scale else [Kink(0.0, slope, slope, scale, sides=sides)]
    return [*first, Kink(0.0, 0.0, slope, 0.0, order=2, sides=sides)]


def _softplus_gap(p) -> str:
    """How far the formula is from x past the threshold: log(1 + e^−threshold)/beta."""
    t = p["threshold"]
    if t >= 0:
        return f"log(1 + e^−{t:g})/beta"
    return f"{(-t + math.log1p(math.exp(-abs(t)))) / abs(p['beta']):.3g}"


def _softplus_threshold(p) -> Kink:
    """At beta·x = threshold torch switches from the formula (f′ = σ(threshold) on the left,
    and at the point itself) to x (f′ = 1, f″ = 0 on the right). Written so that no threshold
    overflows: σ(t) and log(1 + e^−t) in their stable forms."""
    t = p["threshold"]
    z = math.exp(min(t, 709.0))  # torch's backward there: z/(z + 1), z = e^t (1 past e^709)
    torch_value = z / (z + 1) if t <= 709 else 1.0
    left = (1 / (1 + 1 / z) if t <= 709 else 1.0) if z > 0 else 0.0
    e = math.exp(-abs(t))
    gap = (max(-t, 0.0) + math.log1p(e)) / p["beta"]  # f jumps by this much: marked
    return Kink(t / p["beta"], torch_value, left, 1.0, jump=gap > 1e-3, sides="LLRRR")
    # f″ and up: the double backward masks with a strict <


def _positive(name: str, strict: bool = True):
    def check(p):
        bad = p[name] <= 0 if strict else p[name] < 0
        return f"{name} must be {'positive' if strict else 'non-negative'}" if bad else None

    return check


SPECS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "relu",
        "activation",
        "rectified linear unit",
        "relu(x) = max(0, x)",
        "relu'(x) = 1 if x > 0 else 0",
        R,
        "[0, ∞)",
        derivative_fn=lambda T, x, p: (x > 0).to(x.dtype),
        kinks=lambda p: [
            Kink(
                0.0,
                0.0,
                0.0,
                1.0,
                alternatives=(
                    ("maximum(x, 0)", 0.5),
                    ("(x + abs(x))/2", 0.5),
                    ("clamp(x, min=0)", 1.0),
                    ("x*(x > 0)", 0.0),
                ),
                sides="=L",
            )
        ],
        exact=lambda R, x, p: R.ramp(x, 0),
        symbolic=lambda S, x, p: S.Max(0, x),
        example="actgrad relu --x -1,0,2 --grad",
    ),
    FunctionSpec(
        "relu6",
        "activation",
        "relu clipped at 6",
        "relu6(x) = min(max(0, x), 6)",
        "relu6'(x) = 1 if 0 < x < 6 else 0",
        R,
        "[0, 6]",
        derivative_fn=lambda T, x, p: ((x > 0) & (x < 6)).to(x.dtype),
        kinks=lambda p: [
            Kink(0.0, 0.0, 0.0, 1.0, alternatives=(("clamp(x, 0, 6)", 1.0),), sides="=L"),
            Kink(6.0, 0.0, 1.0, 0.0, alternatives=(("clamp(x, 0, 6)", 1.0),), sides="=R"),
        ],
        exact=lambda R, x, p: R.clip(x, 0, 6),
        symbolic=lambda S, x, p: S.Min(S.Max(x, 0), 6),
        example="actgrad relu6 --x 0,3,6,7 --grad",
    ),
    FunctionSpec(
        "leaky_relu",
        "activation",
        "relu with a small slope for negative inputs",
        "leaky_relu(x) = x if x > 0 else negative_slope·x",
        "leaky_relu'(x) = 1 if x > 0 else negative_slope",
        R,
        "ℝ (for negative_slope > 0)",
        derivative_fn=lambda T, x, p: T.where(x > 0, 1.0, p["negative_slope"]).to(x.dtype),
        params=(Param("negative_slope", "float", 0.01, "slope for x ≤ 0"),),
        kinks=lambda p: _slope_kink(p["negative_slope"]),
        exact=lambda R, x, p: R.ramp(x, R.mpf(p["negative_slope"])),
        symbolic=lambda S, x, p: S.Piecewise((x, x > 0), (p["negative_slope"] * x, True)),
        stored={"negative_slope": "opmath"},
        source=f"{ACT} (leaky_relu_kernel)",
        example="actgrad leaky-relu --x -2 --negative-slope 0.1 --grad --dtype float64",
        samples=({"negative_slope": 0.2}, {"negative_slope": -0.5}),
    ),
    FunctionSpec(
        "prelu",
        "activation",
        "leaky relu with a learned slope (one shared weight, nn.PReLU's default)",
        "prelu(x) = x if x > 0 else weight·x",
        "prelu'(x) = 1 if x > 0 else weight",
        R,
        "ℝ (for weight > 0)",
        derivative_fn=lambda T, x, p: T.where(x > 0, 1.0, p["weight"]).to(x.dtype),
        params=(Param("weight", "float", 0.25, "slope for x ≤ 0 (nn.PReLU's initial 0.25)"),),
        call=lambda F, x, p: F.prelu(x, x.new_tensor([p["weight"]])),
        kinks=lambda p: _slope_kink(p["weight"]),
        exact=lambda R, x, p: R.ramp(x, R.mpf(p["weight"])),
        stored={"weight": "dtype"},
        source="aten/src/ATen/native/Activation.cpp (prelu: the weight is a tensor of the dtype)",
        example="actgrad prelu --x -1,0,1 --weight 0.25 --grad",
        samples=({"weight": 0.1},),
    ),
    FunctionSpec(
        "rrelu",
        "activation",
        "randomized leaky relu: random slopes in training, their mean in evaluation",
        "rrelu(x) = x if x ≥ 0 else a·x; a ~ U(lower, upper) in training, else (lower + upper)/2",
        "rrelu'(x) = 1 if x > 0 else a",
        R,
        R,
        params=(
            Param("lower", "float", 1 / 8, "lower bound of the slope"),
            Param("upper", "float", 1 / 3, "upper bound of the slope"),
            Param("training", "bool", False, "draw a random slope per element"),
        ),
        stochastic=True,
        no_cpu_kernel=lambda p: ("float16",) if p["training"] else (),
        kinks=lambda p: [] if p["training"] else _slope_kink((p["lower"] + p["upper"]) / 2),
        validate=lambda p: "lower must not exceed upper" if p["lower"] > p["upper"] else None,
        exact=lambda R, x, p: R.rrelu(x, p),
        source=(
            "aten/src/ATen/native/RReLU.cpp (evaluation: leaky_relu with slope (lower + upper)/2)"
        ),
        example="actgrad rrelu --x -1,-2,3 --training --seed 0 --grad",
        samples=({"lower": 0.1, "upper": 0.3},),
    ),
    FunctionSpec(
        "elu",
        "activation",
        "exponential linear unit",
        "elu(x) = x if x > 0 else alpha·(eˣ − 1)",
        "elu'(x) = 1 if x > 0 else alpha·eˣ",
        R,
        "(−alpha, ∞)",
        derivative_fn=lambda T, x, p: T.where(x > 0, 1.0, p["alpha"] * T.exp(x)),
        params=(Param("alpha", "float", 1.0, "saturation value for negative inputs"),),
        kinks=lambda p: _elu_kinks(p["alpha"]),
        exact=lambda R, x, p: R.elu(x, R.mpf(p["alpha"])),
        symbolic=lambda S, x, p: S.Piecewise((x, x > 0), (p["alpha"] * (S.exp(x) - 1), True)),
        stored={"alpha": "opmath"},
        source=f"{ACT} (elu_kernel, elu_backward_kernel)",
        example="actgrad elu --x -1,0,1 --grad",
        samples=({"alpha": 2.0}, {"alpha": 0.5}),
    ),
    FunctionSpec(
        "celu",
        "activation",
        "continuously differentiable elu",
        "celu(x) = max(0, x) + min(0, alpha·(e^(x/alpha) − 1))",
        "celu'(x) = 1 if x > 0 else e^(x/alpha)",
        R,
        "(−alpha, ∞)",
        derivative_fn=lambda T, x, p: T.where(x > 0, 1.0, T.exp(x / p["alpha"])),
        params=(Param("alpha", "float", 1.0, "saturation value for negative inputs (≠ 0)"),),
        validate=lambda p: "alpha must not be 0" if p["alpha"] == 0 else None,
        kinks=lambda p: [Kink(0.0, 0.0, 1 / p["alpha"], 0.0, order=2, sides="==RRR")],
        exact=lambda R, x, p: R.celu(x, p["alpha"], p),
        source=f"{ACT} (elu_kernel: celu's input_scale 1/alpha)",
        example="actgrad celu --x -1,0,1 --alpha 2 --grad",
        samples=({"alpha": 2.0},),
    ),
    FunctionSpec(
        "selu",
        "activation",
        "scaled elu with the self-normalizing constants",
        "selu(x) = scale·(max(0, x) + min(0, α·(eˣ − 1))), α ≈ 1.6733, scale ≈ 1.0507",
        "selu'(x) = scale if x > 0 else scale·α·eˣ",
        R,
        "(−scale·α, ∞)",
        derivative_fn=lambda T, x, p: SELU_SCALE * T.where(x > 0, 1.0, SELU_ALPHA * T.exp(x)),
        kinks=lambda p: _elu_kinks(SELU_SCALE * SELU_ALPHA, SELU_SCALE),
        exact=lambda R, x, p: R.elu(x, R.constant(R.SELU_ALPHA, p), R.constant(R.SELU_SCALE, p)),
        source=f"{ACT} (selu is elu_kernel with SELU_ALPHA, SELU_SCALE)",
        example="actgrad selu --x -1,0,1 --grad",
    ),
    FunctionSpec(
        "gelu",
        "activation",
        "Gaussian error linear unit",
        "gelu(x) = x·Φ(x); tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))",
        "gelu'(x) = Φ(x) + x·φ(x); tanh: 0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 0.134145·x²)"
        " with t = tanh(√(2/π)·(x + 0.044715·x³))",
        R,
        "[≈ −0.17, ∞)",
        derivative_fn=_gelu_derivative,
        params=(
            Param(
                "approximate",
                "choice",
                "none",
                "exact erf form or tanh approximation",
                ("none", "tanh"),
            ),
        ),
        exact=lambda R, x, p: R.gelu(x, p),
        symbolic=_gelu_symbolic,
        source=f"{ACT} (GeluKernelImpl: kBeta, kKappa in the kernel's arithmetic)",
        example="actgrad gelu --x 1 --approximate tanh --order 2",
        samples=({"approximate": "tanh"},),
    ),
    FunctionSpec(
        "silu",
        "activation",
        "sigmoid-weighted linear unit (swish)",
        "silu(x) = x·σ(x)",
        "silu'(x) = σ(x)·(1 + x·(1 − σ(x)))",
        R,
        "[≈ −0.278, ∞)",
        derivative_fn=lambda T, x, p: T.sigmoid(x) * (1 + x * (1 - T.sigmoid(x))),
        aliases=("swish",),
        exact=lambda R, x, p: x * R.sigmoid(x),
        stable={
            1: ("silu′(x) = σ(x)·(1 + x·σ(−x))", "torch.sigmoid(x) * (1 + x * torch.sigmoid(-x))"),
            2: (
                "silu″(x) = σ(x)·σ(−x)·(2 − x·tanh(x/2))",
                "torch.sigmoid(x) * torch.sigmoid(-x) * (2 - x * torch.tanh(x / 2))",
            ),
        },
        symbolic=lambda S, x, p: x / (1 + S.exp(-x)),
        example="actgrad silu --x 1 --grad",
    ),
    FunctionSpec(
        "mish",
        "activation",
        "self-regularized non-monotonic activation",
        "mish(x) = x·tanh(softplus(x))",
        "mish'(x) = tanh(softplus(x)) + x·σ(x)·(1 − tanh²(softplus(x)))",
        R,
        "[≈ −0.309, ∞)",
        derivative_fn=_mish_derivative,
        exact=lambda R, x, p: x * R.tanh_softplus(x),
        symbolic=lambda S, x, p: x * S.tanh(S.log(1 + S.exp(x))),
        example="actgrad mish --x 1 --grad",
    ),
    FunctionSpec(
        "sigmoid",
        "activation",
        "logistic sigmoid",
        "σ(x) = 1 / (1 + e^(−x))",
        "σ'(x) = σ(x)·(1 − σ(x))",
        R,
        "(0, 1)",
        derivative_fn=lambda T, x, p: T.sigmoid(x) * (1 - T.sigmoid(x)),
        exact=lambda R, x, p: R.sigmoid(x),
        stable={
            1: ("σ′(x) = σ(x)·σ(−x)", "torch.sigmoid(x) * torch.sigmoid(-x)"),
            2: (
                "σ″(x) = −σ(x)·σ(−x)·tanh(x/2)",
                "-torch.sigmoid(x) * torch.sigmoid(-x) * torch.tanh(x / 2)",
            ),
        },
        symbolic=lambda S, x, p: 1 / (1 + S.exp(-x)),
        example="actgrad sigmoid --x 0.5 --grad",
    ),
    FunctionSpec(
        "logsigmoid",
        "activation",
        "log of the sigmoid, computed stably",
        "logsigmoid(x) = log σ(x) = −softplus(−x)",
        "logsigmoid'(x) = 1 − σ(x) = σ(−x)",
        R,
        "(−∞, 0)",
        derivative_fn=lambda T, x, p: T.sigmoid(-x),
        exact=lambda R, x, p: -R.softplus(-x),
        stable={
            1: ("logsigmoid′(x) = σ(−x)", "torch.sigmoid(-x)"),
            2: ("logsigmoid″(x) = −σ(x)·σ(−x)", "-torch.sigmoid(x) * torch.sigmoid(-x)"),
        },
        symbolic=lambda S, x, p: -S.log(1 + S.exp(-x)),
        example="actgrad logsigmoid --x -100,0,100 --grad",
    ),
    FunctionSpec(
        "hardsigmoid",
        "activation",
        "piecewise-linear sigmoid",
        "hardsigmoid(x) = 0 if x ≤ −3, 1 if x ≥ 3, else x/6 + 1/2",
        "hardsigmoid'(x) = 1/6 if −3 < x < 3 else 0",
        R,
        "[0, 1]",
        derivative_fn=lambda T, x, p: ((x > -3) & (x < 3)).to(x.dtype) / 6,
        kinks=lambda p: [
            Kink(-3.0, 0.0, 0.0, 1 / 6, sides="=L"),
            Kink(3.0, 0.0, 1 / 6, 0.0, sides="=R"),
        ],
        max_order=1,
        exact=lambda R, x, p: R.hardsigmoid(x),
        example="actgrad hardsigmoid --x -3,0,3 --grad",
        limits=("torch implements no derivative of hardsigmoid_backward: --order 2+ is refused",),
        dtype_notes={
            "float64": "in float64 torch's hardsigmoid' is 0.1666666716337204 (float32's 1/6, "
            "widened), not 1/6 = 0.16666666666666666: 3e-8 relative error in every derivative",
        },
    ),
    FunctionSpec(
        "tanh",
        "activation",
        "hyperbolic tangent",
        "tanh(x) = (eˣ − e^(−x)) / (eˣ + e^(−x)) = 2σ(2x) − 1",
        "tanh'(x) = 1 − tanh²(x)",
        R,
        "(−1, 1)",
        derivative_fn=lambda T, x, p: 1 - T.tanh(x) ** 2,
        exact=lambda R, x, p: R.tanh(x),
        stable={
            1: ("tanh′(x) = 4·σ(2x)·σ(−2x)", "4 * torch.sigmoid(2 * x) * torch.sigmoid(-2 * x)"),
            2: (
                "tanh″(x) = −8·tanh(x)·σ(2x)·σ(−2x)",
                "-8 * torch.tanh(x) * torch.sigmoid(2 * x) * torch.sigmoid(-2 * x)",
            ),
        },
        symbolic=lambda S, x, p: S.tanh(x),
        example="actgrad tanh --x -10:10:1000 --grad --json",
    ),
    FunctionSpec(
        "hardtanh",
        "activation",
        "tanh clipped to a linear piece",
        "hardtanh(x) = min(max(x, min_val), max_val)",
        "hardtanh'(x) = 1 if min_val < x < max_val else 0",
        R,
        "[min_val, max_val]",
        derivative_fn=lambda T, x, p: ((x > p["min_val"]) & (x < p["max_val"])).to(x.dtype),
        params=(
            Param("min_val", "float", -1.0, "lower end of the linear region"),
            Param("max_val", "float", 1.0, "upper end of the linear region"),
        ),
        kinks=lambda p: [
            Kink(
                p["min_val"],
                0.0,
                0.0,
                1.0,
                sides="=L",
                alternatives=(("clamp(x, min_val, max_val)", 1.0),),
            ),
            Kink(
                p["max_val"],
                0.0,
                1.0,
                0.0,
                sides="=R",
                alternatives=(("clamp(x, min_val, max_val)", 1.0),),
            ),
        ],
        validate=lambda p: (
            "max_val must not be lower than min_val" if p["max_val"] < p["min_val"] else None
        ),
        exact=lambda R, x, p: R.clip(x, R.mpf(p["min_val"]), R.mpf(p["max_val"])),
        symbolic=lambda S, x, p: S.Min(S.Max(x, p["min_val"]), p["max_val"]),
        stored={"min_val": "opmath", "max_val": "opmath"},
        source=(
            "aten/src/ATen/native/cpu/UnaryOpsKernel.cpp (clamp), "
            "aten/src/ATen/native/cpu/Activation.cpp (hardtanh_backward_kernel)"
        ),
        example="actgrad hardtanh --x -2,0,2 --min-val -1 --max-val 1 --grad",
        samples=({"min_val": -2.0, "max_val": 0.5},),
    ),
    FunctionSpec(
        "softsign",
        "activation",
        "x over 1 + |x|",
        "softsign(x) = x / (1 + |x|)",
        "softsign'(x) = 1 / (1 + |x|)²",
        R,
        "(−1, 1)",
        derivative_fn=lambda T, x, p: 1 / (1 + x.abs()) ** 2,
        kinks=lambda p: [Kink(0.0, -0.0, 2.0, -2.0, order=2, sides="==000")],  # |x|″ = 0
        exact=lambda R, x, p: R.softsign(x),
        symbolic=lambda S, x, p: x / (1 + S.Abs(x)),
        example="actgrad softsign --x 1 --grad",
    ),
    FunctionSpec(
        "softplus",
        "activation",
        "smooth relu",
        "softplus(x) = (1/beta)·log(1 + e^(beta·x)); x itself where beta·x > threshold",
        "softplus'(x) = σ(beta·x); 1 where beta·x > threshold",
        R,
        "(0, ∞)",
        derivative_fn=lambda T, x, p: T.where(
            p["beta"] * x > p["threshold"], 1.0, T.sigmoid(p["beta"] * x)
        ),
        params=(
            Param("beta", "float", 1.0, "sharpness"),
            Param("threshold", "float", 20.0, "where beta·x > threshold the function is x"),
        ),
        validate=lambda p: (
            "beta must not be 0 (softplus divides by it)" if p["beta"] == 0 else None
        ),
        kinks=lambda p: [_softplus_threshold(p)] if p["beta"] else [],  # a beta the dtype flushes
        regions=lambda p: [
            Region(
                lambda T, x: p["beta"] * x > p["threshold"],
                f"beta·x > threshold ({p['threshold']:g}) at {{count}}: there torch "
                "returns x itself, with derivative 1 and second derivative 0, for numerical "
                f"stability (the formula differs by at most {_softplus_gap(p)})",
            )
        ],
        exact=lambda R, x, p: R.softplus_beta(x, p["beta"], p["threshold"], p),
        stable={
            1: ("softplus′(x) = σ(βx) below the threshold", "torch.sigmoid(beta * x)"),
            2: (
                "softplus″(x) = β·σ(βx)·σ(−βx) below the threshold",
                "beta * torch.sigmoid(beta * x) * torch.sigmoid(-beta * x)",
            ),
        },
        symbolic=lambda S, x, p: S.log(1 + S.exp(p["beta"] * x)) / p["beta"],
        stored={"beta": "opmath", "threshold": "opmath"},
        source=(
            f"{ACT} (softplus_kernel, softplus_backward_kernel: β·x > threshold in the kernel's "
            "arithmetic)"
        ),
        example="actgrad softplus --x 1 --grad",
        samples=({"beta": 2.0, "threshold": 5.0},),
    ),
    FunctionSpec(
        "hardswish",
        "activation",
        "piecewise-quadratic swish (MobileNetV3)",
        "hardswish(x) = 0 if x ≤ −3, x if x ≥ 3, else x·(x + 3)/6",
        "hardswish'(x) = 0 if x < −3, 1 if x > 3, (2x + 3)/6 if −3 < x < 3; at ±3 see the kinks",
        R,
        "[−0.375, ∞)",
        derivative_fn=lambda T, x, p: T.where(x < -3, 0.0, T.where(x > 3, 1.0, (2 * x + 3) / 6)),
        kinks=lambda p: [
            Kink(-3.0, 0.0, 0.0, -0.5, sides="=LL"),
            Kink(3.0, 1.0, 1.5, 1.0, sides="=RR"),
        ],
        exact=lambda R, x, p: R.hardswish(x),
        example="actgrad hardswish --x -3,0,3 --grad",
    ),
    FunctionSpec(
        "hardshrink",
        "activation",
        "zero inside [−lambd, lambd], identity outside",
        "hardshrink(x) = x if |x| > lambd else 0",
        "hardshrink'(x) = 1 if |x| > lambd else 0",
        R,
        "{0} ∪ (−∞, −lambd) ∪ (lambd, ∞)",
        derivative_fn=lambda T, x, p: (x.abs() > p["lambd"]).to(x.dtype),
        params=(Param("lambd", "float", 0.5, "half-width of the zero region (≥ 0)"),),
        kinks=lambda p: [
            Kink(-p["lambd"], 0.0, 1.0, 0.0, jump=p["lambd"] != 0, sides="RR"),
            Kink(p["lambd"], 0.0, 0.0, 1.0, jump=p["lambd"] != 0, sides="LL"),
        ],
        validate=_positive("lambd", strict=False),
        exact=lambda R, x, p: R.hardshrink(x, p["lambd"]),
        stored={"lambd": "dtype"},
        source=f"{ACT} (hardshrink_kernel, shrink_backward_kernel: lambd.to<scalar_t>())",
        example="actgrad hardshrink --x -1,-0.5,0,0.5,1 --grad",
        samples=({"lambd": 1.0},),
    ),
    FunctionSpec(
        "softshrink",
        "activation",
        "shrink towards zero by lambd",
        "softshrink(x) = x − lambd if x > lambd, x + lambd if x < −lambd, else 0",
        "softshrink'(x) = 1 if |x| > lambd else 0",
        R,
        R,
        derivative_fn=lambda T, x, p: (x.abs() > p["lambd"]).to(x.dtype),
        params=(Param("lambd", "float", 0.5, "shrinkage amount (≥ 0)"),),
        kinks=lambda p: [
            Kink(-p["lambd"], 0.0, 1.0, 0.0, sides="=R"),
            Kink(p["lambd"], 0.0, 0.0, 1.0, sides="=L"),
        ],
        validate=_positive("lambd", strict=False),
        exact=lambda R, x, p: R.softshrink(x, R.mpf(p["lambd"])),
        stored={"lambd": "opmath,dtype"},
        source=(
            f"{ACT} (softshrink_kernel in float for the 16-bit dtypes; shrink_backward_kernel with "
            "lambd.to<scalar_t>())"
        ),
        example="actgrad softshrink --x -1,-0.5,0,0.5,1 --grad",
        samples=({"lambd": 1.0},),
    ),
    FunctionSpec(
        "tanhshrink",
        "activation",
        "x minus tanh(x)",
        "tanhshrink(x) = x − tanh(x)",
        "tanhshrink'(x) = tanh²(x)",
        R,
        R,
        derivative_fn=lambda T, x, p: T.tanh(x) ** 2,
        exact=lambda R, x, p: R.tanhshrink(x),
        symbolic=lambda S, x, p: x - S.tanh(x),
        example="actgrad tanhshrink --x 1 --grad",
    ),
    FunctionSpec(
        "threshold",
        "activation",
        "x above a threshold, a constant value otherwise",
        "threshold(x) = x if x > threshold else value",
        "threshold'(x) = 1 if x > threshold else 0",
        R,
        "{value} ∪ (threshold, ∞)",
        derivative_fn=lambda T, x, p: (x > p["threshold"]).to(x.dtype),
        params=(
            Param(
                "threshold", "float", None, "the threshold (torch has no default)", required=True
            ),
            Param(
                "value",
                "float",
                None,
                "value at and below it (torch has no default)",
                required=True,
            ),
        ),
        kinks=lambda p: [
            Kink(p["threshold"], 0.0, 0.0, 1.0, jump=p["threshold"] != p["value"], sides="LL")
        ],
        exact=lambda R, x, p: R.threshold(x, p["threshold"], p["value"]),
        stored={"threshold": "opmath", "value": "opmath"},
        source=f"{ACT} (threshold_kernel)",
        example="actgrad threshold --x 0,1,2 --threshold 1 --value -1 --grad",
        sweep={"threshold": "1", "value": "-1"},
    ),
    FunctionSpec(
        "softmax",
        "activation",
        "normalized exponentials along a dim",
        "softmax(x)ᵢ = pᵢ = e^(xᵢ) / Σⱼ e^(xⱼ)",
        "∂pᵢ/∂xⱼ = pᵢ·(δᵢⱼ − pⱼ), i.e. J = diag(p) − p·pᵀ",
        "ℝⁿ",
        "the probability simplex (pᵢ > 0, Σ pᵢ = 1)",
        params=(DIM,),
        pointwise=False,
        exact=lambda R, x, p: R.softmax(x, 1),
        example="actgrad softmax --x 0.1,0.5,0.9 --grad",
    ),
    FunctionSpec(
        "log_softmax",
        "activation",
        "log of softmax, computed stably",
        "log_softmax(x)ᵢ = xᵢ − log Σⱼ e^(xⱼ)",
        "∂yᵢ/∂xⱼ = δᵢⱼ − pⱼ with p = softmax(x), i.e. J = I − 1·pᵀ",
        "ℝⁿ",
        "(−∞, 0]ⁿ",
        params=(DIM,),
        pointwise=False,
        exact=lambda R, x, p: R.log_softmax(x),
        example="actgrad log-softmax --x 0.1,0.5,0.9 --grad",
    ),
    FunctionSpec(
        "softmin",
        "activation",
        "softmax of the negated input",
        "softmin(x)ᵢ = qᵢ = e^(−xᵢ) / Σⱼ e^(−xⱼ)",
        "∂qᵢ/∂xⱼ = −qᵢ·(δᵢⱼ − qⱼ), i.e. J = q·qᵀ − diag(q)",
        "ℝⁿ",
        "the probability simplex",
        params=(DIM,),
        pointwise=False,
        exact=lambda R, x, p: R.softmax(x, -1),
        example="actgrad softmin --x 0.1,0.5,0.9 --grad",
    ),
    FunctionSpec(
        "glu",
        "activation",
        "gated linear unit: first half times sigmoid of the second half",
        "glu(x) = a ⊗ σ(b), where x = [a, b] is split in halves along dim",
        "∂yᵢ/∂aⱼ = δᵢⱼ·σ(bᵢ); ∂yᵢ/∂bⱼ = δᵢⱼ·aᵢ·σ(bᵢ)·(1 − σ(bᵢ))",
        "ℝ²ⁿ (even size along dim)",
        "ℝⁿ",
        params=(DIM,),
        pointwise=False,
        exact=lambda R, x, p: R.glu(x),
        halves=True,
        example="actgrad glu --x 1,2,0,-1 --grad",
        sweep_slice="1",
    ),
    FunctionSpec(
        "gumbel_softmax",
        "activation",
        "softmax of logits plus Gumbel noise (differentiable sampling)",
        "y = softmax((x + g)/tau), gᵢ ~ Gumbel(0, 1); hard: one_hot(argmax y) with y's gradient",
        "∂yᵢ/∂xⱼ = yᵢ·(δᵢⱼ − yⱼ)/tau (straight-through: the same when hard)",
        "ℝⁿ",
        "the probability simplex (one-hot vectors when hard)",
        params=(
            Param("tau", "float", 1.0, "temperature (> 0)"),
            Param("hard", "bool", False, "return one-hot samples with straight-through gradients"),
            DIM,
        ),
        pointwise=False,
        stochastic=True,
        validate=_positive("tau"),
        param_notes=lambda p: (
            ["hard=True: the value is one-hot; the derivative is the soft one"] if p["hard"] else []
        ),
        example="actgrad gumbel-softmax --x 1,2,3 --tau 0.5 --seed 0 --grad",
    ),
    FunctionSpec(
        "normalize",
        "activation",
        "divide by the p-norm along a dim",
        "normalize(x) = x / max(‖x‖_p, eps)",
        "p = 2: ∂yᵢ/∂xⱼ = (δᵢⱼ − yᵢ·yⱼ) / ‖x‖₂ (while ‖x‖₂ > eps)",
        "ℝⁿ",
        "the unit p-sphere (or a smaller vector when ‖x‖_p ≤ eps)",
        params=(
            Param("p", "float", 2.0, "exponent of the norm"),
            DIM,
            Param("eps", "float", 1e-12, "lower bound of the divisor"),
        ),
        pointwise=False,
        exact=lambda R, x, p: R.normalize(x, float(p["p"]), float(p["eps"])),
        stored={"eps": "dtype"},
        source="torch/nn/functional.py (normalize: the norm clamp_min(eps) in the dtype)",
        example="actgrad normalize --x 3,4 --grad",
        notes=("torch's own default is dim=1; actgrad uses dim=-1 so that 1-D inputs work",),
        samples=({"p": 1.0}, {"p": 3.0}),
    ),
    FunctionSpec(
        "layer_norm",
        "activation",
        "layer normalization along a dim (transformers' LayerNorm)",
        "layer_norm(x)ᵢ = weight·(xᵢ − μ)/√(σ² + eps) + bias, μ and σ² (biased) over the dim",
        "∂yᵢ/∂xⱼ = weight/√(σ² + eps)·(δᵢⱼ − 1/n − x̂ᵢ·x̂ⱼ/n), x̂ = (x − μ)/√(σ² + eps)",
        "ℝⁿ",
        "weight·(mean 0, variance below 1) + bias",
        params=(
            DIM,
            Param("eps", "float", 1e-5, "added to the variance (torch's 1e-5)"),
            WEIGHT,
            BIAS,
        ),
        pointwise=False,
        call=lambda F, x, p: _last_dims(F.layer_norm, x, p, p["bias"]),
        validate=lambda p: "eps must be non-negative" if p["eps"] < 0 else None,
        exact=lambda R, x, p: R.layer_norm(x, p["eps"], p["weight"], p["bias"]),
        stored={"eps": "opmath", "weight": "dtype", "bias": "dtype"},
        source="aten/src/ATen/native/cpu/layer_norm_kernel.cpp (eps as opmath_t)",
        example="actgrad layer-norm --x 1,2,3,4 --grad",
        notes=(
            "normalized_shape is the size of the dim (torch normalizes the last dims; --dim "
            "moves another one there and back)",
        ),
        limits=("weight and bias are one number each, not a tensor per element",),
        samples=({"eps": 0.5, "weight": 2.0, "bias": -1.0},),
    ),
    FunctionSpec(
        "group_norm",
        "activation",
        "group normalization along a dim (GroupNorm): the channels in groups, each normalized",
        "group_norm(x)ᵢ = weight·(xᵢ − μ)/√(σ² + eps) + bias, μ and σ² (biased) over xᵢ's "
        "group: num_groups equal runs of the dim",
        "within a group of m: ∂yᵢ/∂xⱼ = weight/√(σ² + eps)·(δᵢⱼ − 1/m − x̂ᵢ·x̂ⱼ/m); 0 across groups",
        "ℝⁿ, n a multiple of num_groups",
        "weight·(each group: mean 0, variance below 1) + bias",
        params=(
            Param(
                "num_groups",
                "int",
                None,
                "groups the dim's values are split into (torch has no default)",
                required=True,
                span=(-(1 << 31), (1 << 31) - 1),  # 0 and below: its validate says why
            ),
            DIM,
            Param("eps", "float", 1e-5, "added to each group's variance (torch's 1e-5)"),
            WEIGHT,
            BIAS,
        ),
        pointwise=False,
        call=_groups,
        shapes=_divides_the_dim,
        validate=lambda p: (
            "num_groups must be positive"
            if p["num_groups"] < 1
            else "eps must be non-negative"
            if p["eps"] < 0
            else None
        ),
        exact=lambda R, x, p: R.group_norm(x, p["num_groups"], p["eps"], p["weight"], p["bias"]),
        stored={"eps": "opmath", "weight": "dtype", "bias": "dtype"},
        source="aten/src/ATen/native/cpu/group_norm_kernel.cpp (eps as opmath_t)",
        example="actgrad group-norm --x 1,2,3,4,5,9 --num-groups 2 --grad",
        notes=(
            "each slice along the dim is one sample's channels (torch's (N, C) input with dim "
            "-1); the groups are num_groups equal runs of it",
        ),
        limits=(
            "weight and bias are one number each, not a tensor per channel",
            "an (N, C, H, W) input's spatial values are not pooled into the groups: each slice "
            "along the dim is normalized on its own",
        ),
        sweep={"num_groups": "1"},
        samples=({"num_groups": 2}, {"eps": 0.5, "weight": 2.0, "bias": -1.0}),
    ),
    FunctionSpec(
        "rms_norm",
        "activation",
        "root-mean-square normalization along a dim (LLaMA's RMSNorm)",
        "rms_norm(x)ᵢ = weight·xᵢ/√(mean(x²) + eps) over the dim",
        "∂yᵢ/∂xⱼ = weight/r·(δᵢⱼ − xᵢ·xⱼ/(n·r²)), r = √(mean(x²) + eps)",
        "ℝⁿ",
        "weight·(root mean square below 1)",
        params=(
            DIM,
            Param("eps", "float", None, "added to the mean square (torch: the dtype's epsilon)"),
            WEIGHT,
        ),
        pointwise=False,
        call=lambda F, x, p: _last_dims(F.rms_norm, x, p),
        validate=lambda p: "eps must be non-negative" if (p["eps"] or 0) < 0 else None,
        exact=lambda R, x, p: R.rms_norm(x, p["eps"], p["weight"], p),
        stored={"eps": "opmath", "weight": "dtype"},
        source=(
            "aten/src/ATen/native/layer_norm.cpp (rms_norm: eps, or "
            "std::numeric_limits<opmath_t>::epsilon())"
        ),
        example="actgrad rms-norm --x 1,2,3,4 --grad",
        notes=(
            "normalized_shape is the size of the dim (torch normalizes the last dims; --dim "
            "moves another one there and back); without --eps, eps is the dtype's machine "
            "epsilon, as in torch",
        ),
        limits=("weight is one number, not a tensor per element",),
        samples=({"eps": 1e-3, "weight": -0.5},),
    ),
)
