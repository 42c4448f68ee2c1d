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
    {"PYTHONIOENCODING": "latin-1"},
    {"PYTHONIOENCODING": "ascii"},
    {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""},
]


@pytest.mark.parametrize("env", ENCODINGS, ids=["latin-1", "ascii", "C-locale"])
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
