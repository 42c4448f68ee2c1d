"""One Typer command per registry entry, generated from its FunctionSpec.

Every command shares the same input, derivative, device and output options; each function
parameter becomes an option spelled as in torch with hyphens (``--negative-slope``).
Values arrive as raw strings and are validated by actgrad.core, so the command line and
batch mode accept exactly the same things.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from actgrad.cli.output import FORMATS, print_rich, resolve_format, write
from actgrad.core import registry
from actgrad.core.request import DTYPES, build_request, parse_int

INPUTS = "Inputs"
DERIVATIVES = "Derivatives"
PARAMETERS = "Function parameters"
OUTPUT = "Output and device"


def _complete(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    return lambda incomplete: [c for c in choices if c.startswith(incomplete)]


def _option(name: str, annotation: Any, default: Any, option: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[annotation, option],
    )


def _shared_head(spec: registry.FunctionSpec) -> list[inspect.Parameter]:
    params = [
        _option(
            "x",
            list[str] | None,
            None,
            typer.Option(
                "--x",
                "-x",
                metavar="VALUES",
                rich_help_panel=INPUTS,
                help=(
                    "Input: 0.5 | -1,0,2 | start:stop:count | JSON array [[1,2],[3,4]] | - (stdin)."
                    " Repeat to concatenate."
                ),
            ),
        ),
        _option(
            "grad",
            bool,
            False,
            typer.Option(
                "--grad",
                "-g",
                rich_help_panel=DERIVATIVES,
                help="First derivative"
                + ("." if spec.pointwise else ": the Jacobian along --dim."),
            ),
        ),
        _option(
            "order",
            str | None,
            None,
            typer.Option(
                "--order",
                metavar="N",
                rich_help_panel=DERIVATIVES,
                help="Derivatives up to order N (1-4)."
                if spec.pointwise
                else "2 with --index: the Hessian of output I.",
            ),
        ),
    ]
    if not spec.pointwise:
        params.append(
            _option(
                "index",
                str | None,
                None,
                typer.Option(
                    "--index",
                    metavar="I",
                    rich_help_panel=DERIVATIVES,
                    help=("Gradient of output I only (a Jacobian row): grad(y[I], x)."),
                ),
            )
        )
    return params


def _param_option(param: registry.Param) -> inspect.Parameter:
    name = f"p_{param.name}"
    if param.kind == "bool":
        flag = param.option
        return _option(
            name,
            bool | None,
            None,
            typer.Option(
                f"{flag}/--no-{flag[2:]}",
                help=param.help,
                rich_help_panel=PARAMETERS,
                show_default=str(param.default).lower(),
            ),
        )
    extra: dict[str, Any] = {}
    if param.choices:
        extra["autocompletion"] = _complete(param.choices)
    return _option(
        name,
        str | None,
        None,
        typer.Option(
            param.option,
            help=(param.help + (f" ({'|'.join(param.choices)})" if param.choices else "")),
            metavar=param.kind.upper() if not param.choices else "CHOICE",
            show_default="required" if param.required else str(param.default),
            rich_help_panel=PARAMETERS,
            **extra,
        ),
    )


def _shared_tail(spec: registry.FunctionSpec) -> list[inspect.Parameter]:
    params = []
    if spec.stochastic:
        params.append(
            _option(
                "seed",
                str | None,
                None,
                typer.Option(
                    "--seed",
                    metavar="N",
                    rich_help_panel=PARAMETERS,
                    help="Random seed for reproducible draws (random and echoed if omitted).",
                ),
            )
        )
    params += [
        _option(
            "device",
            str | None,
            None,
            typer.Option(
                "--device",
                metavar="DEVICE",
                envvar="ACTGRAD_DEVICE",
                show_default="cpu",
                rich_help_panel=OUTPUT,
                help="cpu | cuda | cuda:N | mps | auto.",
                autocompletion=_complete(("cpu", "cuda", "mps", "auto")),
            ),
        ),
        _option(
            "dtype",
            str | None,
            None,
            typer.Option(
                "--dtype",
                metavar="DTYPE",
                envvar="ACTGRAD_DTYPE",
                show_default="float32",
                rich_help_panel=OUTPUT,
                help=" | ".join(DTYPES) + ".",
                autocompletion=_complete(DTYPES),
            ),
        ),
        _option(
            "output_format",
            str,
            "auto",
            typer.Option(
                "--format",
                "-f",
                metavar="FORMAT",
                rich_help_panel=OUTPUT,
                autocompletion=_complete(FORMATS),
                help="auto (table on a terminal, plain in a pipe) | table | plain | json.",
            ),
        ),
        _option(
            "as_json",
            bool,
            False,
            typer.Option(
                "--json",
                rich_help_panel=OUTPUT,
                help="Same as --format json (strict JSON).",
            ),
        ),
        _option(
            "precision",
            str | None,
            None,
            typer.Option(
                "--precision",
                metavar="N",
                rich_help_panel=OUTPUT,
                help="Significant digits (default: shortest text that round-trips the dtype).",
            ),
        ),
        _option(
            "max_elements",
            str | None,
            None,
            typer.Option(
                "--max-elements",
                metavar="N",
                envvar="ACTGRAD_MAX_ELEMENTS",
                rich_help_panel=OUTPUT,
                show_default="134217728 = 2^27",
                help="Refuse inputs, Jacobians or Hessians with more elements than N.",
            ),
        ),
    ]
    return params


def run(spec: registry.FunctionSpec, options: dict[str, Any]) -> None:
    """Options → request → core.evaluate → renderer → stdout."""
    fmt = resolve_format(options["output_format"], options["as_json"])
    precision = options["precision"]
    digits = None if precision is None else parse_int(precision, "--precision", 1, 17)
    params = {p.name: options[f"p_{p.name}"] for p in spec.params}
    request = build_request(
        spec.name,
        {"x": options["x"] or []},
        params,
        grad=options["grad"],
        order=options["order"],
        index=options.get("index"),
        device=options["device"],
        dtype=options["dtype"],
        seed=options.get("seed"),
        max_elements=options["max_elements"],
        read_stdin=sys.stdin.read,
    )
    from actgrad.cli import render
    from actgrad.core import evaluate

    result = evaluate(request)
    if fmt == "json":
        write(render.render_json(result, digits))
    elif fmt == "plain":
        for chunk in render.render_plain(result, digits):
            write(chunk)
    else:
        print_rich(render.render_table(result, digits))


def make_command(spec: registry.FunctionSpec) -> Callable[..., None]:
    """A function whose signature Typer turns into the command for ``spec``."""
    parameters = [
        *_shared_head(spec),
        *(_param_option(p) for p in spec.params if p.name != "dim"),
        *(
            [
                _option(
                    "p_dim",
                    str | None,
                    None,
                    typer.Option(
                        "--dim",
                        metavar="INT",
                        show_default="-1",
                        rich_help_panel=DERIVATIVES,
                        help="Dimension the function works along (echoed in the output).",
                    ),
                )
            ]
            if any(p.name == "dim" for p in spec.params)
            else []
        ),
        *_shared_tail(spec),
    ]

    def command(**options: Any) -> None:
        run(spec, options)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__name__ = spec.name
    command.__doc__ = (
        f"{spec.summary[0].upper()}{spec.summary[1:]}: {spec.formula}.\n\nExample: {spec.example}"
    )
    return command


def add_function_commands(app: typer.Typer, specs: list[registry.FunctionSpec]) -> None:
    for spec in specs:
        command = make_command(spec)
        app.command(spec.command, help=command.__doc__, rich_help_panel="Activations")(command)
