"""core/command_options.py is the one home of every command's options: the Typer command
line, a JSON line and a REPL line all take them from its tables, and its builders and
validators check what they parse."""

from __future__ import annotations

import pytest
from actgrad.cli.batch import _command, json_request
from actgrad.core import command_options
from actgrad.core.command_options import defaults, dtype_list, entry, options_of
from actgrad.core.errors import BadInput, BadParameter
from actgrad.core.functions import registry
from actgrad.core.json_line import json_keys, json_options

NAMES = ["expr", *(s.name for s in registry.specs())]


@pytest.mark.parametrize("name", NAMES)
def test_the_command_lines_options_are_the_core_table(name):
    """Every option of the Typer command comes from the table, in its order, with its
    spellings (nothing added by hand in cli/)."""
    table = options_of(entry(name))
    params = [p for p in _command(entry(name)).params if p.param_type_name == "option"]
    assert [p.name for p in params] == [o.key for o in table]
    for param, option in zip(params, table, strict=True):
        spelled = {f.split("/")[0] for f in option.flags}
        assert set(param.opts) == spelled, option.key
        assert param.envvar == option.envvar


@pytest.mark.parametrize("name", NAMES)
def test_every_option_is_a_json_key(name):
    keys = json_keys(entry(name))
    for option in options_of(entry(name)):
        if option.key != "var":  # JSON's "vars"
            assert option.name in keys and all(k in keys for k in option.long_names)


def test_a_json_line_and_a_command_line_give_the_same_request():
    from actgrad.cli.batch import cli_request

    for line, data in [
        (
            "leaky-relu --x 1,-2 --negative-slope 0.2 --order 2 --dtype float64",
            {
                "fn": "leaky_relu",
                "x": [1, -2],
                "negative_slope": 0.2,
                "order": 2,
                "dtype": "float64",
            },
        ),
        ("mse --w 3 --grad --wrt w", {"fn": "mse", "w": 3, "grad": ["w"]}),
        (
            "expr 'x*sigmoid(x)' --var x=0.5 --grad",
            {"expr": "x*sigmoid(x)", "vars": {"x": 0.5}, "grad": True},
        ),
        (
            "sigmoid --x 0.5 --check --ulps 8 --exact",
            {"fn": "sigmoid", "x": 0.5, "check": True, "ulps": 8, "exact": True},
        ),
    ]:
        a, b = cli_request(line, 2**27), json_request(data, 2**27)
        assert (a.function, a.params, a.order, a.dtype, a.wrt, a.check, a.exact, a.ulps) == (
            b.function,
            b.params,
            b.order,
            b.dtype,
            b.wrt,
            b.check,
            b.exact,
            b.ulps,
        ), line
        assert {k: (v.shape, v.flat()) for k, v in a.inputs.items()} == {
            k: (v.shape, v.flat()) for k, v in b.inputs.items()
        }


def test_defaults_read_the_environment_as_the_command_line_does():
    table = options_of(entry("sigmoid"))
    got = defaults(table, {"ACTGRAD_DTYPE": "float64", "ACTGRAD_DEVICE": ""})
    assert got["dtype"] == "float64" and got["device"] is None and got["grad"] is False
    assert got["output_format"] == "auto"


def test_json_values_are_refused_with_the_key_and_an_example():
    with pytest.raises(BadParameter, match="'grad' cannot be int"):
        json_options({"fn": "sigmoid", "x": 1, "grad": 1})
    with pytest.raises(BadParameter, match="has no parameter 'slope'"):
        json_options({"fn": "leaky_relu", "x": 1, "params": {"slope": 1}})
    with pytest.raises(BadInput, match="must be a number, a list of numbers or a string"):
        json_options({"fn": "sigmoid", "x": None})
    with pytest.raises(BadParameter, match="unknown dtype 'float8'"):
        dtype_list("float8")


TABLES = {
    "batch": command_options.batch_options,
    "plot": command_options.plot_options,
    "accuracy": command_options.accuracy_options,
    "server": command_options.server_options,
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_commands_options_are_a_core_table(name):
    """batch, plot, accuracy and server take their options from core's table as the function
    commands do: the Typer command's options are the table's, in its order, with its flags."""
    import typer
    from actgrad.cli.app import app

    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    params = [p for p in command.params if p.param_type_name == "option"]
    table = TABLES[name]()
    assert [p.name for p in params] == [o.key for o in table]
    for param, option in zip(params, table, strict=True):
        assert set(param.opts) == {f.split("/")[0] for f in option.flags}, option.key


@pytest.mark.parametrize(
    "args, needle",
    [
        (["server", "start", "--workers", "many"], "--workers"),
        (["server", "start", "--workers", "0"], "--workers"),
        (["server", "start", "--idle", "-1"], "--idle"),
        (["server", "restart"], "server action"),
        (["batch", "--window", "0"], "--window"),
        (["batch", "--max-line-bytes", "1"], "--max-line-bytes"),
        (["plot", "sigmoid", "--width", "wide"], "--width"),
        (["plot", "sigmoid", "--height", "1"], "--height"),
        (["plot", "sigmoid", "--param", "alpha"], "--param"),
        (["accuracy", "sigmoid", "--size", "1x1"], "--size"),
        (["accuracy", "sigmoid", "--output", "curves.txt"], "image type"),
    ],
)
def test_the_other_commands_refuse_bad_options_in_one_line(args, needle, tmp_path):
    """Checked by core's validators: exit 2, one line naming the option, nothing on stdout."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ACTGRAD_SERVER": "off"}
    done = subprocess.run(
        [sys.executable, "-m", "actgrad", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and needle in done.stderr, done.stderr


@pytest.mark.parametrize(
    "name, text, value",
    [
        (":format", "JSON", "json"),
        (":format", "auto", None),
        (":dtype", "float64", "float64"),
        (":device", "CUDA:1", "cuda:1"),
        (":precision", "6", 6),
        (":precision", "off", None),
    ],
)
def test_repl_settings_are_checked_as_their_options(name, text, value):
    assert command_options.setting(name, text) == value


@pytest.mark.parametrize(
    "name, text", [(":format", "yaml"), (":dtype", "int8"), (":device", "tpu"), (":device", "")]
)
def test_repl_settings_refuse_what_the_option_refuses(name, text):
    with pytest.raises(BadParameter):
        command_options.setting(name, text)


def test_an_entry_is_its_own_identity_and_crosses_processes_by_name():
    import pickle

    spec = registry.get("leaky-relu")
    assert pickle.loads(pickle.dumps(spec)) is spec
    assert {spec: 1}[registry.find("leaky_relu")] == 1
    assert registry.find("no_such") is None
