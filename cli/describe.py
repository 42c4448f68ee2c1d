"""`list` and `explain`: the registry as tables, lines, JSON or Markdown (no torch)."""

from __future__ import annotations

from typing import Any

from ..core.accuracy import generated_accuracy
from ..core.functions import registry
from ..core.machine import device_of, words
from ..core.parse.options import default_ulps


def _param_text(param: registry.Param) -> str:
    """A parameter's default as it is typed: --alpha=1.0, --no-training, --log-input."""
    if param.kind == "bool":
        return param.option if param.default else f"--no-{param.option[2:]}"
    default = "required" if param.required else param.default
    return f"{param.option}={default}"


def spec_dict(spec: registry.FunctionSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "command": spec.command,
        "aliases": list(spec.aliases),
        "kind": spec.kind,
        "summary": spec.summary,
        "formula": spec.formula,
        "derivative": spec.derivative,
        "domain": spec.domain,
        "range": spec.range,
        "pointwise": spec.pointwise,
        "stochastic": spec.stochastic,
        "inputs": [
            {
                "name": t.name,
                "options": list(t.options),
                "kind": t.kind,
                "grad": t.grad,
                "required": t.required,
                "help": t.help,
            }
            for t in spec.inputs
        ],
        "model": spec.model,
        "worked_example": spec.worked_example,
        "params": [
            {
                "name": p.name,
                "option": p.option,
                "type": p.kind,
                "default": p.default,
                "required": p.required,
                "choices": list(p.choices),
                "help": p.help,
            }
            for p in spec.params
        ],
        "kinks": [kink_dict(k) for k in default_kinks(spec)],
        "notes": list(spec.notes),
        "limits": list(spec.limits),
        "accuracy": generated_accuracy.REGIONS.get(spec.name, {}),
        "example": spec.example,
    }


def default_kinks(spec: registry.FunctionSpec) -> list[registry.Kink]:
    """Kinks for the default parameters; a required parameter stands for itself by name."""
    params = {p.name: p.name if p.required else p.default for p in spec.params}
    return spec.kinks(params)


def kink_dict(kink: registry.Kink) -> dict[str, Any]:
    return {
        "at": kink.at,
        "torch": kink.torch,
        "left": kink.left,
        "right": kink.right,
        "jump": kink.jump,
        "order": kink.order,
        "sides": {
            str(order): {"L": "left", "R": "right", "0": "0"}[c]
            for order, c in enumerate(kink.sides)
            if c != "="
        },
        "alternatives": {form: value for form, value in kink.alternatives},
    }


def kink_text(spec: registry.FunctionSpec, kink: registry.Kink) -> str:
    return kink.text(spec.name)


def list_rows() -> list[tuple[str, str, str, str, str]]:
    return [
        (
            spec.command,
            ", ".join(a for a in spec.aliases) or "",
            spec.kind if spec.pointwise or spec.reduces else "activation (along dim)",
            spec.formula,
            " ".join(_param_text(p) for p in spec.params),
        )
        for spec in registry.specs()
    ]


LIST_HEADERS = ("function", "aliases", "kind", "formula", "parameters")


def list_markdown() -> str:
    """The README's function table."""
    lines = ["| " + " | ".join(LIST_HEADERS) + " |", "|" + "---|" * len(LIST_HEADERS)]
    for row in list_rows():
        cells = [
            f"`{row[0]}`",
            row[1],
            row[2],
            row[3].replace("|", "\\|"),
            " ".join(f"`{p}`" for p in row[4].split()) if row[4] else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def list_plain() -> str:
    return "".join("\t".join(row) + "\n" for row in list_rows())


WIDE_LIST = 100  # columns from which `list` is a table; narrower, a block per function
LIST_TITLE = "actgrad functions (actgrad explain NAME for details)"


def list_table(width: int) -> Any:
    """`actgrad list` laid out for ``width``: a table of name, kind and formula (parameters on
    a second line) when wide; a block per function when narrow. Nothing is cut: words wrap."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    rows = list_rows()
    if width >= WIDE_LIST:
        table = Table()
        table.add_column("function", no_wrap=True)
        table.add_column("kind", no_wrap=True)
        table.add_column("formula and parameters", ratio=1)
        for name, aliases, kind, formula, params in rows:
            label = Text(name)
            if aliases:
                label.append(f"\n{aliases}", style="dim")
            body = Text(formula)  # literal text: formulas hold [ ] that rich would parse
            if params:
                body.append(f"\n{params}", style="dim")
            table.add_row(label, Text(kind), body)
        return Group(Text(LIST_TITLE), table)
    blocks: list[Any] = [Text(LIST_TITLE + "\n")]
    for name, aliases, kind, formula, params in rows:
        head = Text(name, style="bold")
        head.append(f"  {kind}" + (f"  (also {aliases})" if aliases else ""), style="dim")
        blocks.append(head)
        blocks.append(Padding(Text(formula), (0, 0, 0, 2)))  # wrapped lines keep the indent
        if params:
            blocks.append(Padding(Text(params, style="dim"), (0, 0, 0, 2)))
    return Group(*blocks)


def _grad_text(spec: registry.FunctionSpec) -> str:
    """How --grad (torch.autograd.grad) and --cotangent (y.backward(v)) differ here."""
    backward = "--cotangent V gives vᵀJ, what y.backward(v) leaves in x.grad"
    if spec.reduces:
        return (
            "--grad gives ∂ℓ/∂input (torch.autograd.grad; per element with --reduction none); "
            f"{backward} for a loss that is not a scalar (--reduction none)"
        )
    if spec.pointwise:
        return (
            f"--grad gives f'(xᵢ) per element (torch.autograd.grad of y.sum()); {backward} (v·f')"
        )
    return (
        f"--grad gives the full Jacobian ∂yᵢ/∂xⱼ (torch.autograd.grad of every output); "
        f"--index I its row I; {backward}"
    )


def explain_lines(spec: registry.FunctionSpec) -> list[tuple[str, str]]:
    fields = [
        ("name", spec.command + (f" (torch: {spec.name})" if spec.command != spec.name else "")),
        ("summary", spec.summary),
        ("formula", spec.formula),
        ("derivative", spec.derivative),
        ("domain", spec.domain),
        ("range", spec.range),
        ("kind", _kind_text(spec)),
        ("grad vs backward", _grad_text(spec)),
    ]
    fields += _input_fields(spec)
    if spec.aliases:
        fields.append(("aliases", ", ".join(spec.aliases)))
    fields += _param_fields(spec)
    fields += _kink_fields(spec)
    fields.extend(("note", n) for n in spec.notes)
    fields.extend(("limit", n) for n in spec.limits)
    fields.extend(("dtype note", f"{k}: {v}") for k, v in spec.dtype_notes.items())
    fields.extend(("accuracy", line) for line in accuracy_lines(spec))
    if spec.worked_example:
        fields.append(("worked example", spec.worked_example))
    fields.append(("example", spec.example))
    return fields


def _input_fields(spec: registry.FunctionSpec) -> list[tuple[str, str]]:
    if not spec.reduces:
        return []
    fields = []
    for t in spec.inputs:
        need = "required" if t.required else "optional"
        fields.append(("input", f"{', '.join(t.options)} ({need}): {t.help}"))
    if spec.model:
        fields.append(("input", "--x, --w: the tutorial's model pred = x·w (x = 1, y = 1)"))
    return fields


def _param_fields(spec: registry.FunctionSpec) -> list[tuple[str, str]]:
    fields = []
    for p in spec.params:
        if p.kind == "bool":
            typed = f"{p.option}/--no-{p.option[2:]} (default {_param_text(p)})"
            fields.append(("param", f"{typed}: {p.help}"))
            continue
        default = "required" if p.required else p.default
        fields.append(("param", f"{p.option} {p.kind} = {default}: {p.help}"))
    if spec.stochastic:
        fields.append(("param", "--seed N: random seed for reproducible draws"))
    return fields


def _kink_fields(spec: registry.FunctionSpec) -> list[tuple[str, str]]:
    kinks = default_kinks(spec)
    fields = [("kink", kink_text(spec, k)) for k in kinks]
    shown = set()
    for k in kinks:  # each kink point once: the branch torch takes at every order
        if k.sides.strip("=") and (k.at, k.sides) not in shown:
            shown.add((k.at, k.sides))
            fields.append(("by order", k.convention(spec.name)))
    if not kinks and not spec.reduces:
        fields.append(("kinks", "none (differentiable everywhere for the default parameters)"))
    return fields


QUANTITIES = {"value": "value", "grad": "f′", "grad2": "f″"}


def accuracy_lines(spec: registry.FunctionSpec) -> list[str]:
    """Where the accuracy report measured torch losing every digit (or over its threshold)."""
    measured = generated_accuracy.REGIONS.get(spec.name, {})
    out = []
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        for quantity, runs in measured.get(dtype, {}).items():
            lost = [words for _, _, every, words in runs if every]
            over = [words for _, _, every, words in runs if not every]
            what = (
                f"every digit lost for {', '.join(lost[:3])}"
                if lost
                else f"over {default_ulps(dtype)} ulps off for {', '.join(over[:3])}"
            )
            out.append(f"{dtype} {QUANTITIES.get(quantity, quantity)}: {what}")
    if spec.name in generated_accuracy.PARAMS:
        params = generated_accuracy.PARAMS[spec.name]
        at = f" (with {', '.join(f'{k}={v}' for k, v in params.items())})" if params else ""
        out.append(
            f"measured against the true value on the standard grid{at} with "
            f"{words(generated_accuracy.MACHINE)}; actgrad accuracy {spec.command} "
            "measures it on this machine, over any range"
        )
        if device_of(generated_accuracy.MACHINE) == "cpu":
            out.append(
                "these are the CPU's kernels; a GPU's round differently and are not measured "
                f"here: actgrad accuracy {spec.command} --device cuda measures them there"
            )
    return out


def _kind_text(spec: registry.FunctionSpec) -> str:
    if spec.kind == "loss":
        return "loss (scalar unless --reduction none; --grad differentiates each input given)"
    if spec.kind == "norm":
        return "norm (a scalar; --grad gives its gradient)"
    return "elementwise" if spec.pointwise else "along a dim (the derivative is a Jacobian)"


def explain_plain(spec: registry.FunctionSpec) -> str:
    return "".join(f"{key}: {value}\n" for key, value in explain_lines(spec))


def explain_table(spec: registry.FunctionSpec) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"{spec.command}: {spec.summary}"), show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in explain_lines(spec):
        table.add_row(key, Text(value))
    return table
