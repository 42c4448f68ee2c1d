"""Random argument lists: the app answers with exit 0 or 2, never a traceback."""

from __future__ import annotations

import shlex

import pytest
from actgrad.cli.app import app
from actgrad.core.functions import registry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

COMMANDS = [*registry.names_and_aliases(), "list", "explain", "expr", "sigmod", "", "--help"]
OPTIONS = sorted(
    {
        "--x",
        "-x",
        "--grad",
        "--order",
        "--index",
        "--dim",
        "--dtype",
        "--device",
        "--format",
        "--json",
        "--precision",
        "--seed",
        "--max-elements",
        "--no-hard",
        "--hard",
        "--training",
        "--w",
        "--y",
        "--wrt",
        "--broadcast",
        "--reduction",
        "--var",
        "--symbolic",
    }
    | {p.option for spec in registry.specs() for p in spec.params}
    | {o for spec in registry.specs() for t in spec.inputs for o in t.options}
)
TOKENS = [
    "0",
    "0.5",
    "-1",
    "1e20",
    "-1e-300",
    "nan",
    "inf",
    "-inf",
    "1,2,3",
    "-1,0,2",
    "0:1:7",
    "-3:3:16",
    "[[1,2],[3,4]]",
    "[1,2,3,4]",
    "[]",
    "[[1],[2,3]]",
    "1,,2",
    "abc",
    "１",
    "0x1",
    "1e999",
    "float64",
    "float16",
    "bfloat16",
    "float8",
    "cpu",
    "cuda",
    "mps",
    "auto",
    "tanh",
    "w",
    "x,w",
    "pred",
    "target",
    "none",
    "sum",
    "batchmean",
    "-100",
    "[[-0.7,-0.7]]",
    "x=1,2",
    "w=3",
    "x*sigmoid(x)",
    "(1 - w*x)**2",
    "softmax(x)",
    "sum(x)",
    "x/0",
    "x^2",
    "none",
    "json",
    "plain",
    "table",
    "2",
    "4",
    "5",
    "-2",
    "17",
    "99999999999999999999",
    "",
    " ",
    "--",
    "-",
    "\x00",
    "é",
    "true",
    "3:1:2",
    "1:2:3:4",
    '["nan", 1]',
]

argument = st.one_of(st.sampled_from(OPTIONS), st.sampled_from(TOKENS), st.text(max_size=12))


@pytest.mark.slow
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(
    command=st.sampled_from(COMMANDS),
    x=st.one_of(
        st.just([]),
        st.tuples(st.sampled_from(["--x", "--w", "--pred"]), st.sampled_from(TOKENS)).map(list),
    ),
    rest=st.lists(argument, max_size=6),
)
def test_random_arguments_never_crash(command, x, rest):
    args = [command, *x, *rest] if command else [*x, *rest]
    result = CliRunner().invoke(app, args, input="1 2")
    assert result.exit_code in (0, 2), (args, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    if result.exit_code == 2 and not any(a in ("--help", "-h") for a in args):
        assert result.stdout == "" or "Usage" in result.stdout, args


# Every number a parameter can be given that tends to break formulas: zero of both signs, the
# smallest subnormal, the largest finite, infinities, nan, a negative, past exp's range.
EDGE_VALUES = ["0", "-0", "5e-324", "-5e-324", "1e308", "-1e308", "inf", "-inf", "nan", "-1"]
EDGE_VALUES += ["1e-300", "710", "-1e30", "99999999999"]
NUMERIC_PARAMS = [
    (spec, param)
    for spec in registry.specs()
    for param in spec.params
    if param.kind in ("float", "int")
]


def _never_an_internal_error(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1, 2), (args, result.stderr)
    assert "internal error" not in result.stderr, (args, result.stderr)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), (args, result.exception)
    if result.exit_code == 2:
        assert result.stdout == "" and result.stderr.count("\n") == 1, (args, result.stderr)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("spec", "param"), NUMERIC_PARAMS, ids=[f"{s.name}-{p.name}" for s, p in NUMERIC_PARAMS]
)
def test_every_parameter_at_its_edges_gives_a_value_or_a_usage_error(spec, param):
    """Each numeric parameter of each function at each edge value, on the function's own
    example, with a value, a derivative, a second one, --check and --exact: a value (exit 0,
    or 1 when --check flags), or one line and exit 2; never an internal error."""
    base = shlex.split(spec.example)[1:]
    for value in EDGE_VALUES:
        for extra in ([], ["--grad"], ["--order", "2"], ["--grad", "--check"], ["--exact"]):
            _never_an_internal_error([*base, f"{param.option}={value}", *extra])


@pytest.mark.parametrize(
    "args",
    [
        ["softplus", "--x", "0.5", "--threshold", "710", "--grad"],
        ["softplus", "--x", "0.5", "--threshold", "-1e30", "--grad"],
        ["softplus", "--x", "0.5", "--beta", "0"],
        ["multilabel-soft-margin", "--pred", "1", "--target", "1"],
        ["l1-loss", "--w", "3", "--order", "2"],  # a symbolic zero derivative
        ["l1-loss", "--pred", "1", "--target", "0", "--weight", "0", "--exact"],  # scalars
        ["accuracy", "relu", "--x", "1", "--dtypes", "float16"],  # a grid of one point
        ["accuracy", "relu", "--x", "[[1,2],[3,4]]", "--dtypes", "float16"],  # a matrix
        ["accuracy", "relu", "--exhaustive", "--dtypes", "float16", "--x", "1:1"],
        ["plot", "log(x)", "--x", "0:1:5", "--terminal"],  # -inf on the curve
        ["plot", "exp(x)", "--x", "0:100:5", "--terminal", "--grad"],  # +inf
    ],
)
def test_what_an_audit_found_is_a_value_or_a_usage_error(args):
    _never_an_internal_error(args)


# Each option of the commands that are not a function's (plot, accuracy and its exhaustive
# bounds, batch, schema, explain) at the edges of what it takes.
OPTION_EDGES = [*EDGE_VALUES, "", "1:1", "0:0:1", "-0:0", "inf:inf", "nan:1", "1:0", "[[1]]"]
OPTION_EDGES += ["a", "1e400", "-5:5:3", "3x3", "0x0", "float16", "1,1", "=", "--"]
COMMAND_BASES = {
    "plot": ["plot", "relu", "--terminal", "--width", "20", "--height", "5"],
    "accuracy": ["accuracy", "relu", "--x", "-1:1:5", "--dtypes", "float16", "--order", "1"],
    "exhaustive": ["accuracy", "relu", "--exhaustive", "--x", "1:1.01", "--dtypes", "float16"],
}


def _value_options(command: str) -> list[str]:
    import typer

    group = typer.main.get_command(app)
    found = group.get_command(None, command)
    return sorted(
        p.opts[0]
        for p in found.params
        if getattr(p, "param_type_name", "") == "option"
        and not p.is_flag
        and p.opts[0] not in ("--output", "-o")  # a file: the file tests
    )


OPTION_CASES = [
    (base, option)
    for base, command in (("plot", "plot"), ("accuracy", "accuracy"), ("exhaustive", "accuracy"))
    for option in _value_options(command)
]


@pytest.mark.slow
@pytest.mark.parametrize(("base", "option"), OPTION_CASES, ids=[f"{b}{o}" for b, o in OPTION_CASES])
def test_every_command_option_at_its_edges_gives_a_value_or_a_usage_error(base, option):
    for value in OPTION_EDGES:
        _never_an_internal_error([*COMMAND_BASES[base], f"{option}={value}"])
