"""The warm server: answers identical to in-process ones, isolation, failure modes (its
security: test_server_security.py)."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import threading
import time

import pytest
from warm_server import (
    ACTGRAD,
    Server,
    Waiting,
    environment,
    run,
    socket_path,
    status,
    wait,
)

pytestmark = pytest.mark.slow  # processes and a server: python -m pytest -q -m slow

CORPUS = [
    (["sigmoid", "--x", "0.5", "--grad"], None),
    (["tanh", "--x", "-10:10:1000", "--grad", "--json"], None),
    (["relu", "--x", "-1,0,2", "--grad", "--format", "table"], None),
    (["softmax", "--x", "0.1,0.5,0.9", "--index", "1", "--order", "2"], None),
    (["sigmoid", "--x", "10", "--grad", "--dtype", "float16"], None),
    (["mse", "--w", "3", "--order", "2", "--json"], None),
    (["expr", "x*sigmoid(x)", "--var", "x=1", "--grad", "--symbolic"], None),
    (["sigmoid", "--x", "20", "--grad", "--check"], None),
    (["softplus", "--x", "0,10,100", "--grad", "--dtypes", "float64,float16"], None),
    (["plot", "sigmoid", "tanh", "--width", "60", "--height", "15"], None),
    (["list"], None),
    (["explain", "softplus"], None),
    (["--help"], None),
    (["--version"], None),
    (["sigmoid", "--x", "abc"], None),
    (["sigmod", "--x", "1"], None),
    (["softmax", "--x", "0:1:20000", "--grad"], None),
    (["expr", "x*", "--var", "x=1"], None),
    (["tanh", "--x", "-"], b"0.1 0.2\n-3\n"),
    (["batch"], b'{"fn": "sigmoid", "x": 0.5, "grad": true}\nnope\n{"fn": "mse", "w": 3}\n'),
]
SHELL = [
    "ACTGRAD_DTYPE=float64 {a} sigmoid --x 1 --grad",
    "{a} tanh --x -10:10:200000 | head -2",
    "{a} sigmoid --x 0:1:1000 > /dev/full",
    "cd / && {a} plot sigmoid --x -1:1:5 --json",
]


def test_corpus_is_identical_in_process_and_through_the_server(server):
    """stdout, stderr and exit code of each command, in-process (ACTGRAD_SERVER=off) and
    forwarded; the server's count shows each was really forwarded."""
    before = server.served()
    off = {**server.env, "ACTGRAD_SERVER": "off"}
    for args, data in CORPUS:
        here = run(args, off, data)
        there = run(args, server.env, data)
        assert here == there, args
    for line in SHELL:
        here = run(line.format(a=ACTGRAD), off, shell=True)
        there = run(line.format(a=ACTGRAD), server.env, shell=True)
        assert here == there, line
    assert server.served() - before == len(CORPUS) + len(SHELL)


def test_batch_file_is_opened_by_the_caller_and_answered_by_the_server(server, tmp_path):
    (tmp_path / "in.jsonl").write_text('{"fn": "sigmoid", "x": 0.5}\nsigmoid --x 1 --grad\n')
    off = {**server.env, "ACTGRAD_SERVER": "off"}
    before = server.served()
    here = run(["batch", "in.jsonl"], off, cwd=tmp_path)
    there = run(["batch", "in.jsonl"], server.env, cwd=tmp_path)
    assert here == there and here[0] == 0 and here[1].count(b"\n") == 2
    assert server.served() == before + 1
    missing = run(["batch", "missing.jsonl"], off, cwd=tmp_path)  # as in-process, either way
    assert missing[0] == 2 and b"cannot read" in missing[2]
    assert run(["batch", "missing.jsonl"], server.env, cwd=tmp_path) == missing


def test_a_terminal_gets_a_table_through_the_server(server):
    """isatty and the terminal's size come with the client's own descriptors."""
    import pty

    def on_terminal(env):
        main, sub = pty.openpty()
        os.set_blocking(main, True)
        proc = subprocess.Popen(
            [ACTGRAD, "relu", "--x", "-1,2"],
            env={**env, "COLUMNS": "70"},
            stdin=sub,
            stdout=sub,
            stderr=sub,
        )
        os.close(sub)
        out = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(main)
        return proc.wait(timeout=60), out

    here = on_terminal({**server.env, "ACTGRAD_SERVER": "off"})
    there = on_terminal(server.env)
    assert here == there and b"\xe2\x94\x83" in here[1]  # a rich table's border


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_twenty_clients_at_once_and_a_slow_one_blocks_nobody(server):
    """A request that waits (on its stdin, held open) does not hold up twenty others, each of
    which gets its own right answer."""
    slow = Waiting(server)
    answers: dict[int, tuple] = {}

    def one(i: int) -> None:
        x = -5 + i / 2
        answers[i] = (x, run(["sigmoid", "--x", repr(x), "--dtype", "float64"], server.env))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(answers) == 20
    for x, (code, out, err) in answers.values():
        assert code == 0, err
        assert float(out) == pytest.approx(_sigmoid(x), rel=1e-15)
    assert slow.proc.poll() is None  # still waiting for its input
    out, _ = slow.finish(b"0.5\n")
    assert slow.proc.returncode == 0 and out == b"0.46211717\n"  # tanh(0.5)


def test_environment_does_not_leak_between_requests(server):
    assert (
        run(["sigmoid", "--x", "1", "--json"], {**server.env, "ACTGRAD_DTYPE": "float64"})[1].count(
            b'"float64"'
        )
        == 1
    )
    assert b'"float32"' in run(["sigmoid", "--x", "1", "--json"], server.env)[1]


def test_a_parallel_op_in_a_worker_never_hangs_the_next_fork(server):
    """The server forks only from a process that never entered torch's thread pool."""
    code, out, _ = run(["expr", "sum(sigmoid(x))", "--var", "x=0:1:20000000"], server.env)
    assert code == 0 and float(out) > 0
    for _ in range(3):
        assert run(["tanh", "--x", "0:1:100000", "--format", "json"], server.env)[0] == 0


def test_a_killed_worker_is_one_line_and_the_server_survives(server):
    client = Waiting(server)
    os.kill(client.worker(), signal.SIGKILL)
    out, err = client.finish()
    assert client.proc.returncode != 0 and out == b""
    assert err.decode().count("\n") == 1 and "killed" in err.decode()
    assert run(["sigmoid", "--x", "0.5"], server.env)[:2] == (0, b"0.62245935\n")


@pytest.mark.parametrize("forwarded", [False, True])
def test_ctrl_c_exits_130_in_process_and_through_the_server(server, forwarded):
    env = server.env if forwarded else {**server.env, "ACTGRAD_SERVER": "off"}
    client = Waiting(server, env=env)
    if forwarded:
        client.worker()
    else:
        time.sleep(4)  # torch imported, the command waiting on stdin
    client.proc.send_signal(signal.SIGINT)
    # its input stays open until it ends: the interrupt, not the end of the input, ends it
    # (closing first races the relayed signal to the worker against the pipe's end)
    with contextlib.suppress(subprocess.TimeoutExpired):
        client.proc.wait(timeout=60)
    out, err = client.finish()
    assert (client.proc.returncode, out, err) == (130, b"", b"actgrad: interrupted\n")


def test_server_exits_after_its_idle_timeout(runtime):
    warm = Server(runtime, "--idle", "1")
    try:
        assert warm.proc.wait(timeout=60) == 0, warm.proc.stderr.read()
        assert not socket_path(runtime).exists()
    finally:
        warm.stop()


def test_auto_starts_a_server_that_later_commands_use(runtime):
    env = environment(runtime, ACTGRAD_SERVER="auto")
    assert run(["sigmoid", "--x", "0.5"], env)[:2] == (0, b"0.62245935\n")  # in-process
    assert wait(lambda: status(env) is not None)
    try:
        before = status(env)["served"]
        assert run(["sigmoid", "--x", "0.5"], env)[:2] == (0, b"0.62245935\n")
        assert status(env)["served"] == before + 1
    finally:
        run(["server", "stop"], env)
        assert wait(lambda: status(env) is None)


def test_a_dead_servers_socket_is_removed(runtime):
    import socket

    path = socket_path(runtime)
    path.parent.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()  # bound, never listening: what a killed server leaves
    env = environment(runtime)
    assert run(["sigmoid", "--x", "0.5"], env)[:2] == (0, b"0.62245935\n")
    assert not path.exists()


def test_an_unsafe_socket_directory_is_refused(runtime):
    folder = runtime / "actgrad"
    folder.mkdir(mode=0o755)
    env = environment(runtime)
    code, _, err = run(["server", "start", "--foreground"], env)
    assert code == 2 and b"mode 755" in err and err.count(b"\n") == 1
    assert b"chmod 700" in err  # it is yours: the fix is yours too
    code, out, err = run(["sigmoid", "--x", "0.5"], {**env, "ACTGRAD_SERVER": "auto"})
    assert (code, out) == (0, b"0.62245935\n") and b"not using a server" in err


def test_a_socket_directory_of_another_owner_is_refused(tmp_path, monkeypatch):
    from actgrad.cli import client

    folder = tmp_path / "d"
    folder.mkdir(mode=0o700)
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(folder).st_uid + 1)
    with pytest.raises(client.Unsafe, match="belongs to uid") as caught:
        client.open_directory(str(folder))
    assert "remove" not in caught.value.hint and "XDG_RUNTIME_DIR" in caught.value.hint


def test_a_server_of_another_version_is_not_used_and_auto_replaces_it(own_server, monkeypatch):
    from actgrad.cli import client

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(own_server.runtime))
    real = client.identity()
    monkeypatch.setattr(client, "identity", lambda: {**real, "actgrad": "0.0.0-other"})
    assert client.forward(["sigmoid", "--x", "1"], auto=False) is None  # runs in-process
    assert own_server.proc.poll() is None
    started = []
    monkeypatch.setattr(client, "start_background", lambda **kw: started.append(kw))
    assert client.forward(["sigmoid", "--x", "1"], auto=True) is None
    assert own_server.proc.wait(timeout=60) == 0 and started  # asked to stop, a new one started
