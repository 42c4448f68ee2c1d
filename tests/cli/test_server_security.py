"""The warm server is as safe as running in-process: nothing imported from the directories
it was started or asked from, its socket directory made without following links, each
request run with the caller's own credentials, limits and environment (or in-process), and
no connection can crash, stall or outlive it. Each case runs the real command against a real
server process."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from warm_server import (
    ACTGRAD,
    Server,
    Waiting,
    alive,
    both,
    environment,
    run,
    socket_path,
    status,
    wait,
)

pytestmark = pytest.mark.slow  # processes and a server: python -m pytest -q -m slow

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="drops capabilities and mounts: needs root")
needs = {
    tool: pytest.mark.skipif(shutil.which(tool) is None, reason=f"needs {tool}")
    for tool in ("setpriv", "unshare")
}


# 1. Nothing is imported from the start directory or the client's directory.

PLANTED = (
    "plotille",
    "difflib",
    "typer",
    "rich",
    "numpy",
    "torch",
    "mpmath",
    "orjson",
    "json",
    "socket",
    "resource",
    "zlib",
    "actgrad",
)


def _plant(folder: Path, marks: Path, names: tuple[str, ...] = PLANTED) -> None:
    """A module (or package) for each name that records its import in ``marks``."""
    folder.mkdir(exist_ok=True)
    for name in names:
        code = f"open({str(marks)!r}, 'a').write({name!r} + ' from {folder.name}\\n')\n"
        if name == "actgrad":
            (folder / name).mkdir(exist_ok=True)
            (folder / name / "__init__.py").write_text(code)
        else:
            (folder / f"{name}.py").write_text(code)


@pytest.mark.parametrize(
    "how", ["server start", "auto", "-m actgrad", "-m actgrad.cli", "-m actgrad.cli.entry"]
)
def test_no_module_is_imported_from_the_start_or_the_client_directory(runtime, tmp_path, how):
    marks = tmp_path / "imported"
    start, here = tmp_path / "start", tmp_path / "here"
    # python -m finds the package it runs on the path before any code of ours runs (python -P
    # is the answer to a planted actgrad/ there); everything after that must not come from it
    names = tuple(n for n in PLANTED if n != "actgrad") if how.startswith("-m") else PLANTED
    _plant(start, marks, names)
    _plant(here, marks)
    env = environment(runtime)
    foreground = None
    if how == "auto":
        code, out, _ = run(["sigmoid", "--x", "0.5"], {**env, "ACTGRAD_SERVER": "auto"}, cwd=start)
        assert (code, out) == (0, b"0.62245935\n")  # in-process, a server on its way
    elif how.startswith("-m"):  # python -m … server start --foreground, in the planted folder
        module = how.split()[1]
        foreground = subprocess.Popen(
            [sys.executable, "-m", module, "server", "start", "--foreground", "--idle", "120"],
            env=env,
            cwd=start,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    else:
        assert run(["server", "start"], env, cwd=start)[0] == 0
    try:
        assert wait(lambda: status(env) is not None)
        before = status(env)["served"]
        commands = [
            ["plot", "sigmoid", "--terminal", "--width", "40", "--height", "10"],
            ["sigmod", "--x", "1"],
            ["sigmoid", "--x", "0.5", "--json"],
            ["explain", "gelu"],
            ["--help"],
            ["sigmoid", "--x", "1", "--exact"],
        ]
        for args in commands:
            assert run(args, env, cwd=here)[0] in (0, 2), args
        assert status(env)["served"] == before + len(commands)  # all answered by the server
    finally:
        run(["server", "stop"], env)
        wait(lambda: status(env) is None)
        if foreground is not None:
            foreground.wait(timeout=60)
    assert not marks.exists(), marks.read_text()


# 2. The socket directory is created and checked by descriptor, never through a link.


def test_creating_the_socket_directory_never_follows_a_swapped_link(tmp_path, monkeypatch):
    from actgrad.cli import server as warm
    from actgrad.core.errors import BadParameter

    target = tmp_path / "victim"
    target.mkdir(mode=0o755)
    target.chmod(0o755)
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(shared))
    folder = shared / f"actgrad-{os.getuid()}"
    stop = threading.Event()

    def swap() -> None:  # another user's loop: a link to the victim, then nothing, again
        while not stop.is_set():
            with contextlib.suppress(OSError):
                folder.symlink_to(target)
            try:
                if folder.is_symlink():
                    folder.unlink()
            except OSError:
                pass

    racer = threading.Thread(target=swap)
    racer.start()
    outcomes = {"made": 0, "refused": 0}
    try:
        for _ in range(400):
            try:
                fd, _ = warm.prepare_directory()
            except BadParameter as exc:
                assert "unsafe server directory" in str(exc) or "cannot create" in str(exc)
                outcomes["refused"] += 1
                continue
            st = os.fstat(fd)
            os.close(fd)
            assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
            assert (st.st_dev, st.st_ino) != (target.stat().st_dev, target.stat().st_ino)
            outcomes["made"] += 1
            if folder.is_dir() and not folder.is_symlink():
                folder.rmdir()
    finally:
        stop.set()
        racer.join()
    assert stat.S_IMODE(target.stat().st_mode) == 0o755  # never chmod-ed through the link
    assert outcomes["made"] and outcomes["refused"], outcomes  # the race was really run


# 3. A request runs with the caller's own credentials, limits and environment.

DROP_CAPS = "setpriv --inh-caps=-all --bounding-set=-all"


@needs_root
@needs["setpriv"]
def test_a_client_without_capabilities_cannot_use_the_servers(server, tmp_path):
    """Another user's 0600 file and 0700 directory stay closed to a root client that dropped
    its capabilities: the server (with them) leaves the command to the client."""
    nobody = 65534
    secret = tmp_path / "requests.txt"
    secret.write_text('{"fn": "sigmoid", "x": 1}\n')
    os.chown(secret, nobody, nobody)
    secret.chmod(0o600)
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    os.chown(closed, nobody, nobody)
    for line in (
        f"{DROP_CAPS} {{a}} batch {secret}",
        f"{DROP_CAPS} {{a}} plot sigmoid --x -1:1:5 --output {closed}/u.svg",
    ):
        here, there, forwarded = both(server, line, shell=True)
        assert here == there and here[0] == 2 and b"Permission denied" in here[2], line
        assert not forwarded, line
    assert not list(closed.iterdir())


def test_the_callers_umask_makes_the_files_mode(server, tmp_path):
    here, there, forwarded = both(
        server,
        "umask 077 && {a} plot sigmoid --x -1:1:5 --output u.svg && stat -c %a u.svg",
        shell=True,
        cwd=tmp_path,
    )
    assert forwarded
    assert here == there and here[1] == b"600\n"


@pytest.mark.parametrize(("limit", "sig"), [("-t 1", signal.SIGKILL), ("-S -t 1", signal.SIGXCPU)])
def test_the_callers_cpu_limit_ends_the_command(server, limit, sig):
    """`ulimit -t 1` (hard: SIGKILL; soft: SIGXCPU) ends a long command in-process; through
    the server the same way, with nothing more said."""
    line = f"ulimit {limit} && exec {ACTGRAD} accuracy --all"
    before = server.served()
    proc = subprocess.run(["bash", "-c", line], env=server.env, capture_output=True, timeout=300)
    assert server.served() == before + 1
    assert (proc.returncode, proc.stdout) == (-sig, b""), proc.stderr
    assert b"error" not in proc.stderr
    off = {**server.env, "ACTGRAD_SERVER": "off"}
    proc = subprocess.run(["bash", "-c", line], env=off, capture_output=True, timeout=300)
    assert (proc.returncode, proc.stdout) == (-sig, b"")


def test_the_callers_open_files_limit_is_its_own(server):
    here, there, forwarded = both(server, "ulimit -n 64 && {a} sigmoid --x 0.5 --grad", shell=True)
    assert forwarded and here == there
    line = 'ulimit -S -n 40 && {a} batch <<< \'{{"fn": "sigmoid", "x": 1}}\''
    here, there, forwarded = both(server, line, shell=True)
    assert forwarded and here == there


@needs_root
@needs["unshare"]
def test_a_client_in_another_mount_namespace_reads_its_own_files(server, tmp_path):
    """A tmpfs over the working directory, seen only inside `unshare -m`: the command reads
    and writes the namespace's files, not the host's."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "req.txt").write_text('{"fn": "sigmoid", "x": 0}\n')  # the host's file
    script = tmp_path / "inside.sh"
    script.write_text(
        f"mount -t tmpfs none {work} && cd {work} &&\n"
        """echo '{"fn": "tanh", "x": 0.5}' > req.txt &&\n"""
        f"{ACTGRAD} batch req.txt && {ACTGRAD} plot sigmoid --x -1:1:3 "
        "--output out.svg && ls\n"
    )
    here, there, forwarded = both(server, f"unshare -m bash {script}", shell=True)
    assert not forwarded
    assert here == there and here[0] == 0 and b"0.46211" in here[1], here
    assert sorted(p.name for p in work.iterdir()) == ["req.txt"]  # nothing reached the host


def test_every_variable_a_command_reads_is_the_callers(runtime):
    """Variables the server started with never reach a client's command: rich's
    TTY_COMPATIBLE would put colour codes into every client's table."""
    warm = Server(runtime, env={"TTY_COMPATIBLE": "1", "ACTGRAD_DTYPE": "float64"})
    try:
        for args in (
            ["relu", "--x", "-1,2", "--format", "table"],
            ["sigmoid", "--x", "1", "--json"],
        ):
            here, there, forwarded = both(warm, args)
            assert forwarded and here == there and b"\x1b[" not in there[1], args
        assert b'"float32"' in there[1]
    finally:
        warm.stop()


def test_a_client_started_with_other_startup_variables_runs_in_process(server):
    """OMP_NUM_THREADS and PYTHON* take effect when a process starts: the server cannot
    take them on, so the command runs in the client."""
    for extra in ({"OMP_NUM_THREADS": "1"}, {"PYTHONPATH": "."}):
        here, there, forwarded = both(server, ["sigmoid", "--x", "0.5"], env=extra)
        assert not forwarded and here == there == (0, b"0.62245935\n", b""), extra


# 4. No frame crashes the server; 5. no connection stalls it.


def _connect(runtime: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(socket_path(runtime)))
    return sock


def _frame(body: bytes) -> bytes:
    return struct.pack("!I", len(body)) + body


def _status_in_process(runtime: Path, monkeypatch) -> dict | None:
    from actgrad.cli import client

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    answer = client.request("status")
    return answer and answer.get("status")


def test_protocol_fuzz_never_stops_the_server(server, monkeypatch):
    import json

    rng = random.Random(18)
    identity = status(server.env)
    identity = {
        k: identity[k] for k in ("actgrad", "install", "prefix", "python", "torch", "protocol")
    }
    run_request = {
        "op": "run",
        "identity": identity,
        "argv": ["sigmoid"],
        "env": {},
        "stdio": {"0": None, "1": None, "2": None},
        "fds": [],
        "context": {},
        "caller": {"umask": 18, "rlimits": {}},
    }
    bodies = [
        b"[1]",
        b"1",
        b'"x"',
        b"null",
        b"{}",
        b"[" * 100_000,
        b'{"op": 1}',
        json.dumps({"op": "status", "identity": [1]}).encode(),
        json.dumps({"op": "run", "identity": identity}).encode(),
        json.dumps({**run_request, "argv": "sigmoid"}).encode(),
        json.dumps({**run_request, "env": {"A=B": "x"}}).encode(),
        json.dumps({**run_request, "fds": [7]}).encode(),
        json.dumps(run_request).encode(),  # no working directory sent
        json.dumps({**run_request, "stdio": {"0": {"encoding": "nope", "errors": "x"}}}).encode(),
        b"\xff\xfe",
    ]
    frames = [_frame(b) for b in bodies]
    frames += [
        b"\xff\xff\xff\xff" + b"x" * 1000,
        b"\x00\x00\x00\x10{",
        b"\x00",
        b"",
        _frame(b"{}") + _frame(b"{}"),
    ]
    frames += [rng.randbytes(rng.randrange(1, 300)) for _ in range(150)]
    for i, data in enumerate(frames):
        sock = _connect(server.runtime)
        with sock:
            if i % 3 == 0 and data:  # some with descriptors attached
                socket.send_fds(sock, [data], [0, 1])
            else:
                sock.sendall(data)
            if i % 2:
                sock.shutdown(socket.SHUT_WR)
                with contextlib.suppress(OSError):  # an answer, end of stream or a reset
                    sock.recv(1 << 16)
        assert server.proc.poll() is None, (i, data[:60])
        if i % 25 == 0:
            assert _status_in_process(server.runtime, monkeypatch) is not None, i
    assert _status_in_process(server.runtime, monkeypatch)["pid"] == server.proc.pid
    assert run(["sigmoid", "--x", "0.5"], server.env)[:2] == (0, b"0.62245935\n")


def test_held_connections_never_stall_another_client(runtime, monkeypatch):
    """Idle connections, a connection that sends a byte at a time forever (reconnecting
    whenever it is dropped), a frame announcing 4 GiB: a command and `status` still answer,
    through the server."""
    warm = Server(runtime)
    stop = threading.Event()
    held: list[socket.socket] = []

    def dribble() -> None:
        while not stop.is_set():
            try:
                with _connect(runtime) as sock:
                    sock.sendall(b"\x00\x00\x01")
                    while not stop.is_set():
                        sock.sendall(b" ")
                        time.sleep(0.2)
            except OSError:
                continue

    threads = [threading.Thread(target=dribble) for _ in range(2)]
    try:
        held = [_connect(runtime) for _ in range(8)]
        huge = _connect(runtime)
        huge.sendall(b"\xff\xff\xff\xff" + b"x" * 65536)
        held.append(huge)
        for t in threads:
            t.start()
        time.sleep(0.5)
        before = warm.served()
        for x in ("0.5", "1", "-2"):
            code, out, _ = run(["sigmoid", "--x", x, "--dtype", "float64"], warm.env)
            assert code == 0 and out
        assert warm.served() == before + 3
        assert _status_in_process(runtime, monkeypatch)["pid"] == warm.proc.pid
    finally:
        stop.set()
        for t in threads:
            t.join()
        for sock in held:
            sock.close()
        warm.stop()


def test_a_full_server_answers_busy_and_the_client_runs_in_process(runtime):
    warm = Server(runtime, "--workers", "2")
    try:
        waiting = [Waiting(warm) for _ in range(2)]  # two requests waiting on stdin fill it
        for client in waiting:
            client.worker()
        info = status(warm.env)
        assert info["workers"] == 2
        code, out, err = run(["sigmoid", "--x", "0.5"], warm.env)
        assert (code, out, err) == (0, b"0.62245935\n", b"")
        assert status(warm.env)["served"] == info["served"]  # answered in-process
        for client in waiting:
            assert client.finish(b"0.5\n")[0] == b"0.46211717\n"
    finally:
        warm.stop()


def test_stop_with_a_request_in_flight_lets_new_clients_run_at_once(own_server):
    slow = Waiting(own_server)
    slow.worker()
    assert run(["server", "stop"], own_server.env)[0] == 0
    assert wait(lambda: not socket_path(own_server.runtime).exists(), 30)  # at once, not at exit
    assert own_server.proc.poll() is None  # still answering the request in flight
    assert run(["sigmoid", "--x", "0.5"], own_server.env)[:2] == (0, b"0.62245935\n")
    assert slow.finish(b"0.5\n")[0] == b"0.46211717\n"
    assert own_server.proc.wait(timeout=60) == 0


# 6. A worker ends with its client.


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP])
def test_a_worker_stops_when_its_client_goes_away(server, sig):
    # a client that ignores SIGHUP (started under nohup, as a whole test run may be) keeps
    # running and so does its worker, as in-process: this client starts with the default
    ignored = sig != signal.SIGKILL and signal.getsignal(sig) == signal.SIG_IGN
    if ignored:
        signal.signal(sig, signal.SIG_DFL)
    try:
        client = Waiting(server)
    finally:
        if ignored:
            signal.signal(sig, signal.SIG_IGN)
    try:
        worker = client.worker()
        client.proc.send_signal(sig)
        # the worker goes before its input ends: closing stdin first would race the relay of
        # a signal (the client's handler must run) against the worker reading the end of its
        # input
        assert wait(lambda: not alive(worker), 30), "the worker outlived its client"
    finally:
        client.finish()
    assert client.proc.returncode == -sig  # as the command in-process would end
    assert run(["sigmoid", "--x", "0.5"], server.env)[:2] == (0, b"0.62245935\n")


# 7. The same faults as in-process.

PARITY = [
    "{a} sigmoid --x 0.5 >&-",
    "{a} --help >&-",
    "{a} list >&-",
    "d=$(mktemp -d) && cd $d && rmdir $d && {a} sigmoid --x 0.5 --grad",
    "d=$(mktemp -d) && cd $d && rmdir $d && {a} plot sigmoid --x 0:1:3 --output u.svg",
    "{a} sigmoid --x 0.5 2>&-",
]


@pytest.mark.parametrize("line", PARITY)
def test_closed_descriptors_and_a_deleted_directory_as_in_process(server, line):
    here, there, forwarded = both(server, line, shell=True)
    assert forwarded and here == there
    assert b"Traceback" not in there[2] and b"internal error" not in there[2]


def test_status_and_stop_refuse_an_unsafe_directory_in_one_line(runtime):
    (runtime / "actgrad").mkdir(mode=0o755)
    env = environment(runtime)
    for action in ("start", "status", "stop"):
        code, out, err = run(["server", action], env)
        assert (code, out) == (2, b""), action
        assert err.count(b"\n") == 1 and b"mode 755" in err and b"internal" not in err


# 8. One server per install.


def _second_install(tmp_path: Path) -> str:
    """Another environment (its own prefix) that imports this actgrad: its own install."""
    venv = tmp_path / "venv2"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    # every site directory this interpreter sees (a venv's, and the system's where the venv
    # was made with --system-site-packages)
    here = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    query = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    there = subprocess.run(
        [str(venv / "bin" / "python"), "-c", query], capture_output=True, text=True, check=True
    ).stdout.strip()
    there = Path(there)
    (there / "first.pth").write_text(f"import site; list(map(site.addsitedir, {here!r}))\n")
    script = venv / "bin" / "actgrad"
    script.write_text(f"#!{venv / 'bin' / 'python'}\nfrom actgrad.cli.entry import main\nmain()\n")
    script.chmod(0o755)
    return str(script)


def test_auto_in_another_install_never_stops_this_installs_server(server, tmp_path):
    other = _second_install(tmp_path)
    env = {**server.env, "ACTGRAD_SERVER": "auto"}
    try:
        for _ in range(2):
            proc = subprocess.run(
                [other, "sigmoid", "--x", "0.5"], env=env, capture_output=True, timeout=120
            )
            assert (proc.returncode, proc.stdout) == (0, b"0.62245935\n"), proc.stderr
        assert wait(lambda: status(env, other) is not None)
        assert server.proc.poll() is None  # the first install's server goes on
        assert status(env, other)["pid"] != server.proc.pid
        assert status(env, other)["prefix"] != status(server.env)["prefix"]
        before = server.served()
        assert run(["sigmoid", "--x", "0.5"], server.env)[:2] == (0, b"0.62245935\n")
        assert server.served() == before + 1
    finally:
        subprocess.run([other, "server", "stop"], env=env, capture_output=True, timeout=60)
        wait(lambda: status(env, other) is None)


# 3. A path a command opens is opened by the caller's own process, confined as it is.

LANDLOCK = """
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
writes = 2 | 16 | 32 | 128 | 256 | 512 | 1024 | 4096  # write, remove, make: a file, dir, link
ruleset = libc.syscall(444, ctypes.c_char_p(struct.pack("Q", writes)), 8, 0)
assert ruleset >= 0, ctypes.get_errno()
for allowed in sys.argv[1].split(":"):
    fd = os.open(allowed, os.O_PATH)
    rule = struct.pack("=Qi", writes, fd)
    assert libc.syscall(445, ruleset, 1, ctypes.c_char_p(rule), 0) == 0, ctypes.get_errno()
assert libc.syscall(446, ruleset, 0) == 0, ctypes.get_errno()  # no no_new_privs: root may
os.execv(sys.argv[2], sys.argv[2:])
"""


def _landlock() -> bool:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syscall(444, None, 0, 1) >= 1  # LANDLOCK_CREATE_RULESET_VERSION
    except OSError:
        return False


@needs_root
@pytest.mark.skipif(not _landlock(), reason="needs Landlock in the kernel")
@pytest.mark.parametrize("kind", ["report", "plot", "accuracy"])
def test_a_confined_caller_is_refused_through_the_server_as_in_process(server, tmp_path, kind):
    allowed, denied = tmp_path / "allowed", tmp_path / "denied"
    allowed.mkdir()
    denied.mkdir()
    args = {
        "report": ["sigmoid", "--x", "20", "--grad", "--dtype", "float64", "--report"],
        "plot": ["plot", "sigmoid", "--output"],
        "accuracy": ["accuracy", "relu", "--dtypes", "float32", "--output"],
    }[kind]
    name = "r.md" if kind == "report" else "p.png"
    env = {**server.env, "MPLCONFIGDIR": str(allowed)}
    confine = [sys.executable, "-c", LANDLOCK, f"{allowed}:/dev", ACTGRAD]

    def confined(target: Path, mode: str) -> tuple[int, bytes]:
        proc = subprocess.run(
            [*confine, *args, str(target)],
            env={**env, "ACTGRAD_SERVER": mode},
            capture_output=True,
            timeout=120,
        )
        return proc.returncode, proc.stderr

    for mode in ("off", "on"):  # in-process, then through the server
        code, err = confined(denied / name, mode)
        assert code == 2, err
        assert b"Permission denied" in err and err.count(b"\n") == 1, err
        assert not (denied / name).exists()
        assert not list(denied.iterdir())  # nor a temporary file beside it
    code, err = confined(allowed / name, "on")  # where the caller may write, it is written
    assert code in (0, 1), err
    assert (allowed / name).stat().st_size > 0


# 4. A caller's ignored signals, I/O priority and personality are its own.


def test_a_signal_the_caller_ignores_is_not_relayed(server):
    args = [ACTGRAD, "sigmoid", "--x", "-", "--grad"]  # waits on stdin: the worker is running
    for ignored in (signal.SIGHUP, signal.SIGINT):
        before = server.served()
        read, write = os.pipe()
        proc = subprocess.Popen(
            args,
            env=server.env,
            stdin=read,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=lambda sig=ignored: signal.signal(sig, signal.SIG_IGN),  # nohup, a job
        )
        os.close(read)
        assert wait(lambda before=before: server.served() > before)
        time.sleep(0.5)  # the worker has the go-ahead
        proc.send_signal(ignored)
        time.sleep(0.3)
        os.write(write, b"0.5\n")
        os.close(write)
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, out) == (0, b"0.62245935\t0.23500371\n"), err


@pytest.mark.parametrize(
    "wrapper", [["setarch", "-R"], ["ionice", "-c", "3"]], ids=["setarch -R", "ionice -c 3"]
)
def test_a_callers_personality_and_io_priority_run_in_process(server, wrapper):
    if shutil.which(wrapper[0]) is None:
        pytest.skip(f"needs {wrapper[0]}")
    before = server.served()
    proc = subprocess.run(
        [*wrapper, ACTGRAD, "sigmoid", "--x", "0.5"], env=server.env, capture_output=True
    )
    assert (proc.returncode, proc.stdout) == (0, b"0.62245935\n"), proc.stderr
    assert server.served() == before  # the server could not be that process: it ran here
    assert run(["sigmoid", "--x", "0.5"], server.env)[:2] == (0, b"0.62245935\n")
    assert server.served() == before + 1  # without them, the server answers
