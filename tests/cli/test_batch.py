"""actgrad batch: one strict JSON line per input line, errors in place, coalescing invisible."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import orjson
import pytest
from actgrad.cli.app import app
from actgrad.cli.batch import json_request
from actgrad.cli.render import render_json
from actgrad.core import evaluate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

runner = CliRunner()
ENV = {k: v for k, v in os.environ.items() if not k.startswith("ACTGRAD_")}
FUNCTIONS = [
    "sigmoid",
    "tanh",
    "relu",
    "gelu",
    "silu",
    "softplus",
    "elu",
    "leaky-relu",
    "mish",
    "hardtanh",
    "relu6",
    "threshold",
    "hardswish",
    "softsign",
    "logsigmoid",
]


def batch(text: str | bytes, *args: str):
    data = text.encode() if isinstance(text, str) else text
    return runner.invoke(app, ["batch", *args], input=data)


def answers(stdout: str) -> list[dict]:
    return [orjson.loads(line) for line in stdout.splitlines()]


def alone(request: dict) -> dict:
    """The same request evaluated by itself (no coalescing)."""
    return orjson.loads(render_json(evaluate(json_request(request, 2**27))))


def test_issue_examples():
    out = batch("".join(f"sigmoid --x {x} --grad\n" for x in (0, 0.5, 1)))
    assert out.exit_code == 0
    results = answers(out.stdout)
    assert [r["line"] for r in results] == [1, 2, 3]
    single = orjson.loads(runner.invoke(app, ["sigmoid", "--x", "0.5", "--grad", "--json"]).stdout)
    assert results[1]["result"] == single
    assert "3 requests, 3 ok, 0 failed" in out.stderr
    tutorial = answers(batch('{"fn": "mse", "w": 3, "grad": true, "id": "tutorial"}\n').stdout)
    assert tutorial[0]["id"] == "tutorial"
    assert (tutorial[0]["result"]["value"], tutorial[0]["result"]["grad"]) == (4.0, {"w": 4.0})
    expr = answers(batch('{"expr": "x*sigmoid(x)", "vars": {"x": [0, 1]}, "grad": true}').stdout)
    assert expr[0]["result"]["grad"]["x"][0] == 0.5


def test_json_requests_mirror_the_command_line():
    pairs = [
        (
            {"fn": "leaky_relu", "x": -2, "negative_slope": 0.1, "grad": True, "dtype": "float64"},
            ["leaky-relu", "--x", "-2", "--negative-slope", "0.1", "--grad", "--dtype", "float64"],
        ),
        (
            {"fn": "softmax", "x": [0.1, 0.5, 0.9], "grad": True, "index": 1},
            ["softmax", "--x", "0.1,0.5,0.9", "--grad", "--index", "1"],
        ),
        (
            {
                "fn": "mse",
                "pred": [1, 2, 3, 4],
                "target": [0, 0, 0, 0],
                "reduction": "sum",
                "grad": True,
            },
            ["mse", "--pred", "1,2,3,4", "--target", "0,0,0,0", "--reduction", "sum", "--grad"],
        ),
        ({"fn": "tanh", "x": "-1:1:5", "order": 2}, ["tanh", "--x", "-1:1:5", "--order", "2"]),
        (
            {"expr": "(1 - w*x)**2", "vars": {"w": 3, "x": 1}, "grad": ["w"]},
            ["expr", "(1 - w*x)**2", "--var", "w=3", "--var", "x=1", "--grad", "w"],
        ),
    ]
    out = batch("".join(orjson.dumps(r).decode() + "\n" for r, _ in pairs))
    assert out.exit_code == 0, out.stdout
    for (_, args), got in zip(pairs, answers(out.stdout), strict=True):
        single = orjson.loads(runner.invoke(app, [*args, "--json"]).stdout)
        assert got["result"] == single, args


def test_fail_fast_and_exit_codes():
    text = '{"fn":"sigmoid","x":1}\nnonsense --x 1\n{"fn":"sigmoid","x":2}\n'
    full = batch(text)
    assert full.exit_code == 1 and len(answers(full.stdout)) == 3
    fast = batch(text, "--fail-fast")
    assert fast.exit_code == 1
    assert [a["line"] for a in answers(fast.stdout)] == [1, 2]
    assert "2 requests, 1 ok, 1 failed" in fast.stderr
    missing = runner.invoke(app, ["batch", "/nonexistent/requests.jsonl"])
    assert missing.exit_code == 2 and missing.stdout == ""
    assert runner.invoke(app, ["batch", "--window", "0"], input=b"").exit_code == 2


GARBAGE = [
    b'{"fn": "sigmoid", "x": 0.5',  # truncated JSON
    b'{"fn": "sigmoid", "x": "\xff\xfe"}',  # invalid UTF-8
    b"",  # a blank line
    b'{"fn": "sigmoid", "x": NaN}',  # not JSON
    b'{"fn": "sigmoid", "x": ' + b"9" * 5000 + b"}",  # a 5,000-digit integer
    b"[" * 100_000 + b"]" * 100_000,  # 100,000 nested brackets
    b'{"fn": "sigmoid", "x": [' + b"1," * (1 << 20) + b"1]}",  # a 2 MiB line
    b'{"fn": 3, "x": 1}',  # wrong types
    b'{"fn": "sigmoid", "x": true}',
    b'{"fn": "sigmoid", "x": {"a": 1}}',
    b'{"fn": "sigmod", "x": 1}',  # an unknown function
    b'{"fn": "sigmoid", "x": "0:1:100000000000"}',  # a huge linspace
    b'{"expr": "__import__(\'os\').system(\'touch F\')", "vars": {"x": 1}}',  # an attack
    b'{"expr": "x" , "vars": {"x": 1}, "unknown": 1}',
    b"sigmoid --x abc",
    b'sigmoid --x "unclosed',
    b"[1, 2, 3]",
]


@pytest.mark.slow
def test_ten_thousand_lines_with_garbage(tmp_path):
    rng = random.Random(7)
    lines: list[bytes] = []
    bad: set[int] = set()
    for number in range(1, 10_001):
        if rng.random() < 0.05:
            lines.append(GARBAGE[number % len(GARBAGE)])
            bad.add(number)
            continue
        kind = rng.random()
        if kind < 0.6:
            request = {
                "fn": rng.choice(FUNCTIONS),
                "x": round(rng.uniform(-8, 8), 3),
                "grad": rng.random() < 0.8,
            }
            if request["fn"] == "threshold":
                request["params"] = {"threshold": 0.5, "value": -1}
            lines.append(orjson.dumps(request))
        elif kind < 0.8:
            lines.append(f"tanh --x {rng.uniform(-3, 3):.4f} --grad".encode())
        elif kind < 0.9:
            lines.append(
                orjson.dumps(
                    {"fn": "relu", "x": rng.choice([0, -1, 1, 0.5]), "grad": True, "id": number}
                )
            )
        else:
            lines.append(
                orjson.dumps({"expr": "x*sigmoid(x)", "vars": {"x": rng.random()}, "grad": True})
            )
    lines[0] = b"\xef\xbb\xbf" + orjson.dumps({"fn": "sigmoid", "x": 1, "grad": True})  # BOM
    bad.discard(1)
    path = tmp_path / "requests.jsonl"
    body = b"".join(line + (b"\r\n" if i % 3 == 0 else b"\n") for i, line in enumerate(lines))
    path.write_bytes(body)
    proc = subprocess.run(
        [sys.executable, "-m", "actgrad.cli", "batch", str(path)],
        capture_output=True,
        env=ENV,
        timeout=600,
    )
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr
    blank = {n for n in bad if lines[n - 1] == b""}  # skipped, as JSON Lines readers do
    out = proc.stdout.splitlines()
    assert len(out) == 10_000 - len(blank)
    results = [orjson.loads(line) for line in out]  # strict JSON: orjson refuses NaN
    assert [r["line"] for r in results] == [n for n in range(1, 10_001) if n not in blank]
    failed = {r["line"] for r in results if not r["ok"]}
    assert failed == bad - blank
    for r in results:
        assert r["ok"] == ("result" in r) and r["ok"] != ("error" in r)
    answered, failures = 10_000 - len(blank), len(bad - blank)
    summary = f"{answered:,} requests, {answered - failures:,} ok, {failures:,} failed"
    assert summary in proc.stderr.decode()
    sample = [r for r in results if r["ok"]][::97]
    for r in sample:
        raw = lines[r["line"] - 1].removeprefix(b"\xef\xbb\xbf")
        if raw.startswith(b"{"):
            assert r["result"] == alone(orjson.loads(raw))
        else:
            args = raw.decode().split()
            assert r["result"] == orjson.loads(runner.invoke(app, [*args, "--json"]).stdout)


def test_closed_pipe_ends_quietly(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"fn": "sigmoid", "x": 0.5, "grad": true}\n' * 200_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "actgrad.cli", "batch", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    with proc:
        head = [proc.stdout.readline() for _ in range(5)]
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0
    assert all(orjson.loads(line)["ok"] for line in head)
    assert "Traceback" not in stderr


scalar_requests = st.fixed_dictionaries(
    {
        "fn": st.sampled_from(FUNCTIONS),
        "x": st.one_of(
            st.floats(-30, 30, allow_nan=False),
            st.sampled_from([0.0, -3.0, 3.0, 0.5, -0.5, 6.0, 1e-8, 88.0, 1e5]),
        ),
        "grad": st.booleans(),
    },
    optional={
        "order": st.integers(0, 2),
        "dtype": st.sampled_from(["float32", "float64", "float16", "bfloat16"]),
    },
)


@settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(scalar_requests, min_size=1, max_size=60))
def test_coalesced_equals_one_by_one(requests):
    for request in requests:
        if request["fn"] == "threshold":
            request["params"] = {"threshold": 0.5, "value": -1}
    out = batch("".join(orjson.dumps(r).decode() + "\n" for r in requests))
    for request, got in zip(requests, answers(out.stdout), strict=True):
        assert got["ok"], got
        assert got["result"] == alone(request), request


def test_limits_per_line():
    out = batch('{"fn": "sigmoid", "x": [1, 2, 3]}\n', "--max-elements", "2")
    assert answers(out.stdout)[0]["error"]["code"] == "too_large"
    long = batch('{"fn": "sigmoid", "x": 1}\n' + "x" * 5000 + "\n", "--max-line-bytes", "1000")
    codes = [a.get("error", {}).get("code") for a in answers(long.stdout)]
    assert codes == [None, "line_too_long"]


@pytest.mark.parametrize("window", ["1", "3", "4096"])
def test_window_size_does_not_change_answers(window):
    text = "".join(f'{{"fn": "tanh", "x": {i / 7}, "grad": true}}\n' for i in range(10))
    assert answers(batch(text, "--window", window).stdout) == answers(batch(text).stdout)


def test_answers_each_line_while_the_writer_waits():
    """A program that writes one request and waits for its answer is not kept waiting."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "actgrad.cli", "batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    with proc:
        for x in (0.5, 1.5):
            proc.stdin.write(orjson.dumps({"fn": "sigmoid", "x": x}) + b"\n")
            proc.stdin.flush()
            answer = orjson.loads(proc.stdout.readline())
            assert answer["ok"] and answer["result"]["inputs"]["x"] == x
        proc.stdin.close()
        proc.stderr.read()
        assert proc.wait(timeout=60) == 0


MIX = [
    "sigmoid",
    "tanh",
    "relu",
    "gelu",
    "silu",
    "softplus",
    "elu",
    "leaky-relu",
    "mish",
    "softsign",
    "logsigmoid",
    "hardswish",
    "selu",
    "celu",
    "relu6",
    "hardtanh",
]


def test_rows_with_notes_are_byte_identical_to_one_offs_and_none_is_evaluated_again(monkeypatch):
    """Kinks, tails in measured regions, nan, ±inf, an overflow on the cast, float16, torch's
    scalar code giving other numbers: each row's answer is the one-off's, byte for byte, and
    no row of a group is evaluated again."""
    from actgrad.cli import batch as batch_module

    alone = []
    original = batch_module.Batch.prepare_alone

    def counted(self, line):
        alone.append(line.number)
        return original(self, line)

    monkeypatch.setattr(batch_module.Batch, "prepare_alone", counted)
    rng = random.Random(20)
    requests = []
    for i in range(600):
        fn = rng.choice(MIX)
        x = rng.choice(
            [
                0.0,
                3.0,
                -3.0,
                6.0,
                20.0,
                -20.0,
                1e-8,
                88.0,
                1e5,
                rng.uniform(-30, 30),
                rng.uniform(-30, 30),
                rng.uniform(-1, 1),
            ]
        )
        request = {"fn": fn, "x": x, "grad": True, "id": i}
        request["dtype"] = rng.choice(["float32", "float64", "float16", "bfloat16"])
        if rng.random() < 0.2:
            request["order"] = 2
        requests.append(request)
    requests += [
        {"fn": "sigmoid", "x": "nan", "grad": True},
        {"fn": "tanh", "x": 1e39},
        {"fn": "relu", "x": "inf", "grad": True},
    ]
    out = batch("".join(orjson.dumps(r).decode() + "\n" for r in requests))
    lines = out.stdout_bytes.split(b"\n")[:-1]
    assert len(lines) == len(requests)
    for request, line in zip(requests, lines, strict=True):
        try:
            expected = render_json(evaluate(json_request(request, 2**27)))[:-1]
        except Exception as exc:  # refused alone (no CPU kernel, 1e39 in --x): refused here
            assert b'"ok":false' in line and exc.code.encode() in line, (request, line)
            continue
        body = line[line.index(b'"result":') + len(b'"result":') : -1]
        assert body == expected, request
    fast = [i + 1 for i, r in enumerate(requests) if isinstance(r["x"], float)]
    assert not set(alone) & set(fast), "rows of coalesced groups were evaluated again"
    # the rows whose note batch builds from the group's arrays were among those compared
    assert b"torch's scalar code gives" in out.stdout_bytes


def test_a_small_request_runs_on_one_thread_a_large_one_on_torchs():
    import torch
    from actgrad.core.evaluator import engine
    from actgrad.core.evaluator.engine import PARALLEL_ELEMENTS, threads_for

    threads_for(1)
    evaluate(json_request({"fn": "sigmoid", "x": 0.5, "grad": True}, 2**27))
    assert torch.get_num_threads() == 1
    evaluate(json_request({"fn": "sigmoid", "x": f"0:1:{PARALLEL_ELEMENTS * 2}"}, 2**27))
    assert torch.get_num_threads() == engine.torch_threads()


def test_a_window_closes_on_the_bytes_it_holds(monkeypatch):
    """1 MB ids: a window holds about WINDOW_BYTES of lines, not 4096 of them."""
    from actgrad.cli import batch as batch_module

    monkeypatch.setattr(batch_module, "WINDOW_BYTES", 1 << 21)
    sizes = []
    original = batch_module.Stream.flush

    def flush(self, window):
        sizes.append(len(window.slots))
        return original(self, window)

    monkeypatch.setattr(batch_module.Stream, "flush", flush)
    pad = "a" * 500_000
    text = "".join(
        orjson.dumps({"fn": "sigmoid", "x": 0.5, "id": pad}).decode() + "\n" for _ in range(20)
    )
    out = batch(text)
    assert out.exit_code == 0 and len(out.stdout_bytes.split(b"\n")) == 21
    assert max(sizes) <= 5, sizes  # 2 MiB of 0.5 MB lines


def test_a_group_that_fails_as_a_whole_is_answered_row_by_row(monkeypatch):
    """Its rows keep their ids and line numbers, and each gets the one-off's answer."""
    from actgrad.cli import batch as batch_module

    def broken(key, xs):
        if key.function == "tanh":
            raise RuntimeError("this group failed")
        return original(key, xs)

    original = batch_module.evaluate_group
    monkeypatch.setattr(batch_module, "evaluate_group", broken)
    requests = [
        {"fn": fn, "x": i / 3, "grad": True, "id": f"r{i}"}
        for i, fn in enumerate(["tanh", "sigmoid", "tanh", "relu", "tanh"])
    ]
    got = answers(batch("".join(orjson.dumps(r).decode() + "\n" for r in requests)).stdout)
    assert [g["line"] for g in got] == [1, 2, 3, 4, 5]
    assert [g["id"] for g in got] == [r["id"] for r in requests]
    assert [g["result"] for g in got] == [alone(r) for r in requests]


def test_long_lines_across_reads(monkeypatch):
    """Lines longer than the limit are errors wherever the reads split them; the lines around
    them are answered."""
    from actgrad.cli import batch as batch_module

    monkeypatch.setattr(batch_module, "READ_BYTES", 100)
    good = '{"fn": "sigmoid", "x": 0.5}\n'
    text = good + "y" * 250 + "\n" + good + "z" * 99 + "\n" + "w" * 1000 + "\n" + good + "v" * 300
    got = answers(batch(text, "--max-line-bytes", "100").stdout)
    codes = [g.get("error", {}).get("code") for g in got]
    assert codes == [
        None,
        "line_too_long",
        None,
        "unknown_function",
        "line_too_long",
        None,
        "line_too_long",
    ]
    assert [g["line"] for g in got] == list(range(1, 8))


def test_every_option_of_the_command_line_works_in_a_json_line():
    """--check, --exact, --dtypes, --ulps, --cotangent, … as JSON keys: the same result as the
    command line's, and batch's element cap still holds for a line that asks for more."""
    pairs = [
        (
            {"fn": "sigmoid", "x": 20, "grad": True, "dtype": "float64", "check": True},
            ["sigmoid", "--x", "20", "--grad", "--dtype", "float64", "--check"],
        ),
        (
            {"fn": "tanh", "x": [0.5, 3], "grad": True, "exact": True},
            ["tanh", "--x", "0.5,3", "--grad", "--exact"],
        ),
        (
            {"fn": "gelu", "x": 1.5, "dtypes": ["bfloat16", "float16"], "approximate": "tanh"},
            ["gelu", "--x", "1.5", "--dtypes", "bfloat16,float16", "--approximate", "tanh"],
        ),
        (
            {"fn": "softmax", "x": [1, 2, 3], "vjp": [1, 0, 0]},
            ["softmax", "--x", "1,2,3", "--vjp", "1,0,0"],
        ),
        (
            {"fn": "sigmoid", "x": 30, "grad": True, "check": True, "ulps": 2**40},
            ["sigmoid", "--x", "30", "--grad", "--check", "--ulps", str(2**40)],
        ),
        (
            {"expr": "x*w", "vars": {"w": 2}, "x": [1, 2], "wrt": "x", "grad": True, "exact": True},
            ["expr", "x*w", "--var", "w=2", "--x", "1,2", "--grad", "--wrt", "x", "--exact"],
        ),
    ]
    out = batch("".join(orjson.dumps(r).decode() + "\n" for r, _ in pairs))
    for (request, args), got in zip(pairs, answers(out.stdout), strict=True):
        single = runner.invoke(app, [*args, "--json"])
        assert got["ok"], (request, got)
        assert got["result"] == orjson.loads(single.stdout), args
    capped = answers(
        batch(
            '{"fn": "sigmoid", "x": [1, 2, 3], "max_elements": 1000}\n', "--max-elements", "2"
        ).stdout
    )
    assert capped[0]["error"]["code"] == "too_large"
    also = answers(batch("sigmoid --x 1,2,3 --max-elements 1000\n", "--max-elements", "2").stdout)
    assert also[0]["error"]["code"] == "too_large"


@pytest.mark.parametrize("name", ["sigmoid", "leaky_relu", "mse_loss", "softmax", "rrelu", "expr"])
def test_json_keys_are_the_command_lines_option_table(name):
    """Every long option of the command is a JSON key (no 'unknown key'); a key it lacks is
    refused, naming the keys there are."""
    from actgrad.cli.batch import _command
    from actgrad.core.command_options import entry
    from actgrad.core.json_line import json_keys

    keys = json_keys(entry(name))
    for param in _command(entry(name)).params:
        for opt in param.opts:
            if opt.startswith("--") and param.name not in ("var",):
                assert opt[2:].replace("-", "_") in keys, opt
    head = {"expr": "x"} if name == "expr" else {"fn": name}
    got = answers(batch(orjson.dumps({**head, "x": 1, "nonsense": 1}).decode() + "\n").stdout)
    message = got[0]["error"]["message"]
    assert "unknown key 'nonsense'" in message and "check" in message and "dtypes" in message


def test_a_null_dtype_or_device_is_that_lines_error_on_every_path():
    """The fast path takes only what the general one accepts: null is not 'left out'."""
    lines = [
        '{"fn":"sigmoid","x":1}',
        '{"fn":"sigmoid","x":1,"dtype":null}',
        '{"fn":"sigmoid","x":1,"device":null}',
        '{"fn":"sigmoid","x":[1],"dtype":null}',
    ]
    got = answers(batch("\n".join(lines * 2) + "\n").stdout)
    assert [g["ok"] for g in got] == [True, False, False, False] * 2
    assert "'dtype' cannot be null" in got[5]["error"]["message"]


def test_command_lines_answer_as_the_command_itself():
    """A plain command line takes batch's fast path (no Click context a line); its answer is
    the command's own --json, byte for byte in its numbers, across functions, parameters,
    dtypes, orders, spellings and the numbers that tend to break things."""
    rng = random.Random(29)
    spellings = [
        "{fn} --x {x}",
        "{fn} {x} --grad",
        "{fn} -x {x} -g --dtype float64",
        "{fn} --x={x} --order 2 --dtype float16",
        "actgrad {fn} --x {x} --grad --dtype bfloat16",
    ]
    numbers = ["0", "-0", "0.5", "-2", "1e-300", "3", "-3", "6", "20", "1e30", "+1.5", ".5"]
    lines = [
        rng.choice(spellings).format(fn=rng.choice(FUNCTIONS), x=rng.choice(numbers))
        for _ in range(120)
    ]
    lines += [
        "leaky-relu --x -2 --negative-slope 0.1 --grad",
        "gelu --x 1 --approximate=tanh --order 2",
        "rrelu --x -1 --no-training --grad --seed 3",
        "hardtanh --x 0.7 --min-val -0.1 --max-val 0.7 --grad",
        "elu --x -1 --alpha=2 --grad --order 3",
        "threshold --x 0.1 --threshold 0.1 --value 5 --grad",
        "softplus --x 10 --beta 0.1 --threshold 1 --grad --dtype float64",
    ]
    done = batch("\n".join(lines) + "\n")
    for line, answer in zip(lines, answers(done.stdout), strict=True):
        args = line.split()[1:] if line.startswith("actgrad ") else line.split()
        own = runner.invoke(app, [*args, "--json"], env=ENV)
        if own.exit_code == 2:  # threshold without its parameters: the same error on its line
            assert not answer["ok"] and answer["error"]["message"] in own.stderr, line
            continue
        assert own.exit_code == 0, (line, own.output)
        assert answer["ok"] and answer["result"] == orjson.loads(own.stdout), line


def test_a_command_line_asking_for_a_report_is_refused_on_its_line():
    done = batch("sigmoid --x 40 --grad --report\nsigmoid --x 40 --grad --report r.md\n")
    for answer in answers(done.stdout):
        assert not answer["ok"] and "cannot write a report" in answer["error"]["message"]
    assert done.exit_code == 1


@pytest.mark.parametrize(
    "line",
    [
        '{"fn": "sigmoid", "x": 1, "precision": 3}',
        '{"fn": "sigmoid", "x": 1, "header": true}',
        '{"fn": "sigmoid", "x": 1, "format": "table"}',
        "sigmoid --x 1 --header",
        "sigmoid --x 1 --precision 3",
    ],
)
def test_an_option_that_only_shapes_output_is_refused_on_its_line(line):
    (answer,) = answers(batch(line + "\n").stdout)
    assert not answer["ok"] and "shapes a command's output" in answer["error"]["message"]
