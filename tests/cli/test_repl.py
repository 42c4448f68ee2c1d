"""`actgrad repl` driven through a pseudo-terminal, as a user would type."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import signal
import sys
import time
from pathlib import Path

import pytest

ACTGRAD = str(Path(sys.executable).with_name("actgrad"))


class Terminal:
    """actgrad repl on a pseudo-terminal that is its controlling terminal (so Ctrl-C typed
    there is a SIGINT, as at a real one)."""

    def __init__(self, state: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACTGRAD_")}
        env.update(XDG_STATE_HOME=str(state), TERM="xterm", COLUMNS="100", NO_COLOR="1")
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.execve(ACTGRAD, [ACTGRAD, "repl"], env)
        self.seen = b""

    def expect(self, pattern: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern.encode())
        while not regex.search(self.seen):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not in {self.seen[-2000:]!r}")
            import select

            if select.select([self.fd], [], [], left)[0]:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"ended before {pattern!r}: {self.seen[-2000:]!r}")
                self.seen += chunk
        found = regex.search(self.seen)
        text = self.seen[: found.end()].decode(errors="replace")
        self.seen = self.seen[found.end() :]
        return text

    def line(self, text: str) -> None:
        os.write(self.fd, text.encode() + b"\r")

    def close(self) -> int:
        with contextlib.suppress(OSError):
            os.write(self.fd, b"\x04")  # Ctrl-D
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:
                os.read(self.fd, 65536)
            except OSError:
                time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError("the session did not end on Ctrl-D")


PROMPT = r"actgrad> "


@pytest.fixture
def term(tmp_path):
    session = Terminal(tmp_path)
    session.expect(PROMPT)
    yield session
    if session.pid:
        try:
            os.kill(session.pid, 0)
        except OSError:
            return
        session.close()


def test_commands_values_expressions_and_ans(term, tmp_path):
    term.line("sigmoid 0.5 --grad")
    assert "0.23500371" in term.expect(PROMPT)
    term.line("x = -1:1:5")
    term.expect(PROMPT)
    term.line("relu x --grad")
    out = term.expect(PROMPT)
    assert "relu'(x)" in out and "-0.5" in out
    term.line("x*sigmoid(x)")  # a bare expression: expr with the named value
    assert "-0.26894143" in term.expect(PROMPT)
    term.line(":format json")
    term.expect(PROMPT)
    term.line("ans")
    assert '"expression":"x*sigmoid(x)"' in term.expect(PROMPT)
    term.line("tanh ans")  # the last result's values as an input
    assert '"function":"tanh"' in term.expect(PROMPT)
    term.line("sigmoid --x abc")  # an error is one line, and the session goes on
    out = term.expect(PROMPT)
    assert "actgrad: error: bad number 'abc'" in out
    term.line(":dtype float64")
    term.expect(PROMPT)
    term.line("sigmoid 1")
    assert "0.7310585786300049" in term.expect(PROMPT)
    assert term.close() == 0
    history = (tmp_path / "actgrad" / "history").read_text()
    assert "sigmoid 0.5 --grad" in history and "x*sigmoid(x)" in history


def test_ctrl_c_cancels_the_evaluation_not_the_session(term):
    term.line("sigmoid --x -")  # reads the terminal until Ctrl-D, or until Ctrl-C
    time.sleep(1)
    os.write(term.fd, b"\x03")
    assert "actgrad: interrupted" in term.expect(PROMPT)
    os.write(term.fd, b"\x03")  # at the prompt: a fresh line
    term.expect(PROMPT)
    term.line("tanh 1")
    assert "0.7615942" in term.expect(PROMPT)
    assert term.close() == 0


def test_tab_completes_function_names(term):
    os.write(term.fd, b"sigm\t")
    term.expect("sigmoid")
    term.line(" 0.5")
    assert "0.62245935" in term.expect(PROMPT)
    assert term.close() == 0
