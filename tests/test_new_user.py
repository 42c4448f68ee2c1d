"""What a new user meets, through the command line: ordinary inputs give a value or one usage
line (a closed stdin, an encoding without σ), hints name options that exist where you are, help
promises only what works, and scripts get a JSON contract."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ACTGRAD = str(Path(sys.executable).with_name("actgrad"))
ENV = {k: v for k, v in os.environ.items() if not k.startswith("ACTGRAD_")}


def shell(line: str, **env: str) -> subprocess.CompletedProcess:
    """``actgrad …`` run by bash as a user types it (redirections included)."""
    return subprocess.run(
        ["bash", "-c", line.replace("actgrad", ACTGRAD, 1)],
        capture_output=True,
        env={**ENV, "COLUMNS": "80", **env},
        timeout=120,
    )


@pytest.mark.parametrize(
    "line", ["actgrad sigmoid --x - <&-", "actgrad batch <&-", "actgrad repl <&-"]
)
def test_a_closed_stdin_is_a_usage_error(line):
    done = shell(line)
    assert done.returncode == 2, done.stderr
    assert done.stdout == b""
    assert done.stderr.decode() == (
        "actgrad: error: standard input is closed (started with <&-); give the values inline, "
        "or pipe or redirect them in\n"
    )


ENCODINGS = [
    pytest.param({"PYTHONIOENCODING": "latin-1"}, id="latin-1"),
    pytest.param({"PYTHONIOENCODING": "ascii"}, id="ascii", marks=pytest.mark.slow),
    pytest.param(
        {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""},
        id="C-locale",
    ),
]


@pytest.mark.parametrize("env", ENCODINGS)
@pytest.mark.parametrize(
    "line",
    [
        "actgrad explain sigmoid",
        "actgrad list",
        "actgrad sigmoid --x 1,2 --grad --format table",
        "actgrad sigmoid --x 1 --grad --header",
        "actgrad softmax --x 1,2 --grad --check --format table",
        "actgrad --help",
        "actgrad elu --x -1 --grad --order 2",
    ],
)
def test_an_encoding_without_the_symbols_gets_ascii(env, line):
    done = shell(line, **env)
    assert done.returncode == 0, done.stderr
    assert b"UnicodeEncodeError" not in done.stderr and b"internal error" not in done.stderr
    if env.get("PYTHONIOENCODING") == "ascii" or env.get("LC_ALL") == "C":
        assert max(done.stdout + done.stderr, default=0) < 128  # plain ASCII throughout
    if "explain" in line:
        assert b"sigma'(x) = sigma(x)" in done.stdout


def _feed(args: list[str], chunk: bytes, first: bytes = b"", total: int = 256 << 20) -> tuple:
    """Run ``actgrad args`` writing ``first`` then ``chunk`` repeatedly to its stdin, up to
    ``total`` bytes or until it stops reading; (bytes it took, exit code, stderr)."""
    done = subprocess.Popen(
        [ACTGRAD, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    written = 0
    try:
        done.stdin.write(first)
        while written < total:
            done.stdin.write(chunk)
            written += len(chunk)
        done.stdin.close()
    except BrokenPipeError:
        pass
    _, err = done.communicate(timeout=120)
    return written, done.returncode, err.decode()


@pytest.mark.parametrize(
    ("first", "chunk", "needle"),
    [
        (b"[", b"0.1," * (1 << 18), "over the cap of 1,000"),  # a JSON array
        (b"", b"0.1 " * (1 << 18), "over the cap of 1,000"),  # numbers and spaces
        (b"", b"1" * (1 << 20), "runs over 400 characters without a separator"),  # one token
        (b"[", b"1" * (1 << 20), "runs over 400 characters without a separator"),
    ],
    ids=["json", "spaces", "token", "json-token"],
)
def test_stdin_is_refused_as_it_streams_in_not_after(first, chunk, needle):
    """256 MiB offered on stdin to a cap of 1,000 elements: refused after reading a few MiB
    (never parsed whole), with the reason."""
    taken, code, err = _feed(["sigmoid", "--x", "-", "--max-elements", "1000"], chunk, first)
    assert code == 2 and needle in err, err
    assert taken < 32 << 20, taken


LARGE_JACOBIANS = [("softmax", 447), ("softmax", 513)] + [
    pytest.param(name, n, marks=pytest.mark.slow)
    for name in ("softmax", "log-softmax", "softmin", "normalize")
    for n in (447, 480, 512, 513, 600)
    if (name, n) not in (("softmax", 447), ("softmax", 513))
]


@pytest.mark.parametrize(("name", "n"), LARGE_JACOBIANS)
def test_check_beside_a_large_jacobian_skips_finite_differences_on_one_rule(name, n):
    """Past what the finite differences can afford (the element limit or the work budget),
    --check still checks against the exact values and says why the differences are skipped."""
    import orjson
    from actgrad.cli.app import app
    from typer.testing import CliRunner

    done = CliRunner().invoke(app, [name, "--x", f"0:1:{n}", "--grad", "--check", "--json"])
    assert done.exit_code == 0, done.stderr
    check = orjson.loads(done.stdout)["check"]
    assert "skipped" in check["finite_differences"]
    assert check["ok"]
