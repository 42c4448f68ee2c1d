"""`actgrad server`: a warm process that has imported torch and the application once, and
answers each forwarded command in a worker forked for it.

The server itself never evaluates anything large: it warms up on one scalar request (which
never enters torch's thread pool; a fork after a parallel region can deadlock the child) and
then only accepts, checks, forks and reports. Each worker runs the same application as an
in-process command, on the client's own file descriptors, and exits: no state (seeds, warning
filters, torch threads, a crash) carries over to the next request.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actgrad.cli import client
from actgrad.core.errors import BadParameter

DEFAULT_IDLE = 15 * 60  # seconds without a request before the server exits (0: never)
MAX_WORKERS = 32  # requests answered at once; later ones wait in the listen backlog
WARM_UP = ["sigmoid", "--x", "0.5", "--grad", "--exact", "--format", "plain"]  # --exact: mpmath too


@dataclass
class State:
    identity: dict[str, str]
    idle: float
    main: Runner
    started: float = field(default_factory=time.time)
    served: int = 0
    last: float = field(default_factory=time.monotonic)
    workers: dict[int, socket.socket] = field(default_factory=dict)
    stopping: bool = False
    spare: tuple[int, socket.socket] | None = None  # a worker forked ahead, waiting
    closing: list[int] = field(default_factory=list)  # descriptors a worker must not keep


def prepare_directory() -> str:
    """The socket directory, created 0700 when missing; BadParameter when it is unsafe."""
    folder = client.directory()
    try:
        if not client.check_directory(folder):
            os.makedirs(folder, mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)
            client.check_directory(folder)
    except client.Unsafe as exc:
        hint = "remove it, or set XDG_RUNTIME_DIR to a private one"
        raise BadParameter(f"unsafe server directory: {exc}", hint) from None
    return folder


Runner = Callable[[], None]  # runs sys.argv in this process (the application's main)


def serve(idle: float, main: Runner, prepare: Callable[[], None]) -> int:
    """Listen until stopped or idle; the exit status. ``prepare`` builds every command once;
    ``main`` runs one command line, in each worker."""
    client.IN_SERVER = True  # this process and its workers never forward a command
    folder = prepare_directory()
    path = os.path.join(folder, client.SOCKET)
    if client.connect(path) is not None:
        sys.stderr.write("actgrad: a server is already running (actgrad server status)\n")
        return 1
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mask = os.umask(0o177)  # the socket is 0600 from the start
    try:
        listener.bind(path)
    finally:
        os.umask(mask)
    listener.listen(128)
    state = State(client.identity(), idle, main)
    _warm_up(main, prepare)
    state.last = time.monotonic()  # the idle time counts from when requests can be answered
    gc.freeze()  # what is warm now stays shared with every worker (no copy-on-write)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    state.closing = [listener.fileno(), wake_read, wake_write]
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: setattr(state, "stopping", True))
    signal.signal(signal.SIGINT, lambda *_: setattr(state, "stopping", True))
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_read, selectors.EVENT_READ, "wake")
    state.closing.append(selector.fileno())
    try:
        while not (state.stopping and not state.workers):
            timeout = None
            if state.idle > 0 and not state.workers:
                timeout = max(0.0, state.idle - (time.monotonic() - state.last))
                if timeout == 0:
                    break
            for key, _ in selector.select(timeout):
                if key.data == "wake":
                    os.read(wake_read, 4096)
                elif not state.stopping and len(state.workers) < MAX_WORKERS:
                    _accept(listener, state)
            _reap(state)
            if state.spare is None and not state.stopping:
                state.spare = _spare(state)
    finally:
        if state.spare is not None:
            state.spare[1].close()  # the spare reads the end of its channel and exits
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
    return 0


def _warm_up(main: Runner, prepare: Callable[[], None]) -> None:
    """Answer one scalar request with output discarded: torch, typer and rich initialize
    lazily on the first request, which every worker then finds done; and build every
    command once (Typer converts a command's options when it is built)."""
    prepare()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    argv = sys.argv
    sys.argv = ["actgrad", *WARM_UP]
    try:
        main()
    except SystemExit:
        pass
    finally:
        sys.argv = argv
        sys.stdout.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _accept(listener: socket.socket, state: State) -> None:
    conn, _ = listener.accept()
    fds: list[int] = []
    try:
        if _peer_uid(conn) != os.getuid():  # only this user's processes are answered
            conn.close()
            return
        conn.settimeout(5)
        message, fds = client.receive(conn, max_fds=3)
        conn.settimeout(None)
        state.last = time.monotonic()
        if message is None:
            conn.close()
            return
        if message.get("identity") != state.identity:
            if message.get("op") == "stop":
                state.stopping = True
            client.send(conn, {"mismatch": state.identity})
            conn.close()
            return
        op = message.get("op")
        if op == "status":
            client.send(conn, {"status": _status(state)})
            conn.close()
        elif op == "stop":
            state.stopping = True
            client.send(conn, {"stopping": os.getpid()})
            conn.close()
        elif op == "run":
            _hand_off(message, fds, conn, state)
        else:
            conn.close()
    except (OSError, ValueError, KeyError):
        conn.close()
    finally:
        for fd in fds:
            os.close(fd)


def _status(state: State) -> dict[str, Any]:
    import resource

    return {
        "pid": os.getpid(),
        "uptime": round(time.time() - state.started, 1),
        "served": state.served,
        "workers": len(state.workers),
        "idle_timeout": state.idle,
        "socket": os.path.join(client.directory(), client.SOCKET),
        "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        **state.identity,
    }


def _spare(state: State) -> tuple[int, socket.socket]:
    """Fork a worker ahead of the next request (the fork is then off its critical path); it
    waits on a channel for the request, the client's descriptors and its connection."""
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # the worker: never returns
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for fd in state.closing:
                with contextlib.suppress(OSError):
                    os.close(fd)
            for conn in state.workers.values():
                conn.close()
            parent_end.close()
            code = _wait_and_work(child_end, state.main)
        finally:
            os._exit(code)
    child_end.close()
    return pid, parent_end


def _hand_off(message: dict, fds: list[int], conn: socket.socket, state: State) -> None:
    """Give the request to the spare worker (forking one if there is none)."""
    if state.spare is None:
        state.spare = _spare(state)
    try:
        client.send(conn, {"pid": state.spare[0]})  # before the worker can answer
    except OSError:  # the client is gone: the spare stays for the next request
        conn.close()
        return
    pid, channel = state.spare
    state.spare = None
    state.served += 1
    state.workers[pid] = conn
    with contextlib.suppress(OSError):
        client.send(channel, message, [conn.fileno(), *fds])
    channel.close()


def _wait_and_work(channel: socket.socket, main: Runner) -> int:
    for sig in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    message, fds = client.receive(channel, max_fds=4)
    channel.close()
    if message is None:  # the server stopped
        return 0
    conn = socket.socket(fileno=fds[0])
    code = 1
    try:
        code = _work(message, fds[1:], main)
    except KeyboardInterrupt:  # Ctrl-C before the application's own handler was in place
        code = 130
        with contextlib.suppress(OSError):
            os.write(2, b"actgrad: interrupted\n")
    finally:
        with contextlib.suppress(OSError):
            client.send(conn, {"exit": code})
    return code


def _work(message: dict, fds: list[int], main: Runner) -> int:
    """Run the forwarded command as the in-process one would run; its exit status."""
    given = dict(zip(message["fds"], fds, strict=True))
    for fd in (0, 1, 2):
        if fd in given:
            os.dup2(given[fd], fd)
        else:
            os.close(fd)
    for fd in fds:
        os.close(fd)
    stdio = message["stdio"]
    sys.stdin = _stream(0, "r", stdio.get("0"))
    sys.stdout = _stream(1, "w", stdio.get("1"))
    sys.stderr = _stream(2, "w", stdio.get("2"), stderr=True)
    for name in list(os.environ):
        if name.startswith(client.ENV_PREFIXES) or name in client.ENV_NAMES:
            del os.environ[name]
    os.environ.update(message["env"])
    os.chdir(message["cwd"])
    sys.argv = ["actgrad", *message["argv"]]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    return code


def _stream(fd: int, mode: str, spec: dict | None, stderr: bool = False) -> Any:
    """A text stream on ``fd`` made as Python makes its standard streams."""
    if spec is None:
        return None
    raw = io.FileIO(fd, mode, closefd=False)
    tty = raw.isatty()
    buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    return io.TextIOWrapper(buffered, encoding=spec["encoding"], errors=spec["errors"],
                            line_buffering=tty or stderr, write_through=stderr)  # fmt: skip


def _reap(state: State) -> None:
    """Report each finished worker's exit status (or the signal that killed it)."""
    while state.workers:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = state.workers.pop(pid, None)
        state.last = time.monotonic()
        if state.spare is not None and state.spare[0] == pid:  # the spare died: fork another
            state.spare[1].close()
            state.spare = None
        if conn is None:
            continue
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            answer = {"exit": 128 + sig, "signal": sig}
            if sig != signal.SIGTERM:
                name = signal.Signals(sig).name
                answer["error"] = f"actgrad: error: the server's worker was killed ({name})"
        else:
            answer = {"exit": os.WEXITSTATUS(status)}
        with contextlib.suppress(OSError):
            client.send(conn, answer)
        conn.close()


def start(idle: float, foreground: bool, main: Runner, prepare: Callable[[], None]) -> int:
    """`actgrad server start`: serve here (--foreground), or in a new session, waiting until
    it answers."""
    prepare_directory()
    if foreground:
        return serve(idle, main, prepare)
    if client.request("status") is not None:
        sys.stderr.write("actgrad: a server is already running (actgrad server status)\n")
        return 1
    client.start_background(idle)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = client.request("status")
        if answer is not None and "status" in answer:
            print(f"actgrad server started: pid {answer['status']['pid']}, "
                  f"socket {answer['status']['socket']}")  # fmt: skip
            return 0
        time.sleep(0.05)
    sys.stderr.write("actgrad: error: the server did not start within 60 s\n")
    return 1


def stop() -> int:
    answer = client.request("stop")
    if answer is None:
        sys.stderr.write("actgrad: no server is running\n")
        return 1
    pid = answer.get("stopping") or (answer.get("mismatch") or {}).get("pid")
    print(f"actgrad server stopping (pid {pid})" if pid else "actgrad server stopping")
    return 0


def status(as_json: bool) -> int:
    answer = client.request("status")
    if answer is None:
        sys.stderr.write("actgrad: no server is running\n")
        return 1
    if "mismatch" in answer:
        info = answer["mismatch"]
        sys.stderr.write(
            f"actgrad: a server of another install runs ({info.get('actgrad')}, "
            f"torch {info.get('torch')}, {info.get('install')}); not used\n"
        )
        return 1
    info = answer["status"]
    if as_json:
        print(json.dumps(info))
    else:
        for key, value in info.items():
            print(f"{key}\t{value}")
    return 0
