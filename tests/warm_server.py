"""A real `actgrad server` process for the tests, and the commands run against it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ACTGRAD = str(Path(sys.executable).with_name("actgrad"))
DROP = ("COLUMNS", "LINES", "FORCE_COLOR")
BASE = {k: v for k, v in os.environ.items() if not k.startswith("ACTGRAD_") and k not in DROP}


def environment(runtime: Path, **extra: str) -> dict[str, str]:
    return {**BASE, "XDG_RUNTIME_DIR": str(runtime), "NO_COLOR": "1", **extra}


def status(env: dict, actgrad: str = ACTGRAD) -> dict | None:
    proc = subprocess.run(
        [actgrad, "server", "status", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def wait(predicate, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def socket_path(runtime: Path) -> Path:
    from actgrad.cli import client

    return runtime / "actgrad" / client.socket_name()


class Server:
    """``actgrad server start --foreground`` in its own session, started in ``cwd``."""

    def __init__(
        self, runtime: Path, *args: str, cwd: Path | None = None, env: dict | None = None
    ) -> None:
        self.runtime = runtime
        self.env = environment(runtime)
        self.proc = subprocess.Popen(
            [ACTGRAD, "server", "start", "--foreground", "--idle", "120", *args],
            env={**self.env, **(env or {})},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        up = wait(lambda: status(self.env) is not None or self.proc.poll() is not None)
        if not up or self.proc.poll() is not None:  # a server that did not start: closed
            said = self.proc.stderr.read() if self.proc.poll() is not None else b""
            self.stop()  # (its pipe left open would fail a later test: a ResourceWarning)
            raise AssertionError(f"the server did not start: {said!r}")

    def served(self) -> int:
        return status(self.env)["served"]

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc.stderr.close()


def run(args, env, input=None, shell=False, cwd=None):
    """(exit code, stdout, stderr), batch's elapsed time on stderr normalized."""
    command = args if shell else [ACTGRAD, *args]
    proc = subprocess.run(
        command,
        env=env,
        input=input,
        capture_output=True,
        timeout=120,
        shell=shell,
        executable="/bin/bash" if shell else None,
        cwd=cwd,
    )
    return proc.returncode, proc.stdout, re.sub(rb"\d+\.\d+ s\n", b"T s\n", proc.stderr)


def both(server: Server, args, input=None, shell=False, cwd=None, env=None):
    """The command in-process and with the server running: (in-process, through the server,
    whether the server answered it)."""
    env = {**server.env, **(env or {})}
    if shell:
        args = args.format(a=ACTGRAD)
    here = run(args, {**env, "ACTGRAD_SERVER": "off"}, input, shell, cwd)
    before = server.served()
    there = run(args, env, input, shell, cwd)
    return here, there, server.served() > before


def worker_reading(server: Server, pipe_ino: int) -> int:
    """The pid of the server's worker whose stdin is the pipe ``pipe_ino`` (0: none yet)."""
    for pid in server.children():
        try:
            if os.stat(f"/proc/{pid}/fd/0").st_ino == pipe_ino:
                return pid
        except OSError:
            continue
    return 0


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has finished)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Waiting:
    """A command reading stdin from a pipe the test holds: with a server, its worker waits."""

    def __init__(
        self, server: Server, args: tuple[str, ...] = ("tanh", "--x", "-"), env: dict | None = None
    ) -> None:
        read, self.stdin = os.pipe()
        self.proc = subprocess.Popen(
            [ACTGRAD, *args],
            env=env or server.env,
            stdin=read,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        os.close(read)
        self.server = server

    def worker(self) -> int:
        """The server's worker running it, once there is one (asserted)."""
        ino = os.fstat(self.stdin).st_ino
        assert wait(lambda: worker_reading(self.server, ino) != 0)
        return worker_reading(self.server, ino)

    def finish(self, data: bytes | None = None) -> tuple[bytes, bytes]:
        """Its stdout and stderr, after ``data`` (if any) and the end of its input."""
        if data is not None:
            os.write(self.stdin, data)
        os.close(self.stdin)
        return self.proc.communicate(timeout=120)
