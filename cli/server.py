"""`actgrad server`: a warm process that has imported torch and the application once, and
answers each forwarded command in a worker forked for it.

The server itself never evaluates anything large: it warms up on one scalar request (which
never enters torch's thread pool; a fork after a parallel region can deadlock the child) and
then only accepts, checks, forks and reports, in one event loop that never blocks on a client:
a handshake is read as it arrives, bounded in size and time; a full server answers "busy" at
once; ``status`` always answers.

A request is answered only when the worker can be the caller's own process (cli.client says
what travels and what must be equal); otherwise the client runs it in-process. Each worker
runs the same application as an in-process command, on the client's own descriptors, and
exits: no state (seeds, warning filters, torch threads, a crash) carries over. A worker whose
client goes away is killed.

The server imports only from its install: it starts in / and drops the entry Python puts
first on the import path (the working directory for -m and -c) and every relative entry.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import gc
import io
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import BadParameter, ServerState
from ..core.schema import JSON_FORMAT
from . import client, files
from .boundary import run_here
from .exits import INTERRUPTED_LINE, ExitStatus

NO_SERVER = "no server is running for this install"

MAX_PENDING = 64  # connections still sending their request; past it, closed at once
HANDSHAKE = 2.0  # seconds a connection has to send its whole request
GO_TIMEOUT = 30.0  # seconds a worker waits for its client's go-ahead
WARM_UP = (  # scalar requests (no thread pool) that import what a worker would import again
    ["sigmoid", "--x", "0.5", "--grad", "--exact", "--format", "plain"],  # mpmath too
    ["softmax", "--x", "0.5,1", "--grad", "--format", "plain"],  # torch.func: 0.45 s
)
OPS = ("run", "status", "stop")
LIMIT_SIGNALS = (signal.SIGXCPU, signal.SIGXFSZ)  # sent by the kernel at a soft limit
Runner = Callable[[], None]  # runs sys.argv in this process (the application's main)
# the files a command line opens by name, and how: "r" or "w" (cli.app.named_files)
Paths = Callable[[list[str]], list[tuple[str, str]]]


@dataclass
class Pending:
    """A connection whose request is still arriving."""

    conn: socket.socket
    pid: int  # the peer's, from SO_PEERCRED
    deadline: float
    data: bytearray = field(default_factory=bytearray)
    fds: list[int] = field(default_factory=list)

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []
        self.conn.close()


@dataclass
class State:
    identity: dict[str, str]
    context: dict
    idle: float
    max_workers: int
    main: Runner
    named_files: Paths
    folder: int  # the socket directory's descriptor
    name: str  # the socket's name in it
    started: float = field(default_factory=time.time)
    served: int = 0
    last: float = field(default_factory=time.monotonic)
    workers: dict[int, socket.socket] = field(default_factory=dict)  # pid: the client's conn
    cpu_limits: dict[int, float] = field(default_factory=dict)  # pid: its caller's hard limit
    watched: dict[int, int] = field(default_factory=dict)  # a worker's conn fd: its pid
    pending: dict[int, Pending] = field(default_factory=dict)
    listener: socket.socket | None = None
    lock: int | None = None
    stopping: bool = False
    spare: tuple[int, socket.socket] | None = None  # a worker forked ahead, waiting
    closing: list[int] = field(default_factory=list)  # descriptors a worker must not keep


def prepare_directory() -> tuple[int, str]:
    """The socket directory, created 0700 when missing, and its descriptor: never through a
    link, and only ever changed when it is a directory of this user's. BadParameter when it
    is unsafe."""
    folder = client.directory()
    try:
        try:
            os.mkdir(folder, 0o700)
            created = True
        except FileExistsError:
            created = False
        except OSError as exc:
            hint = "set XDG_RUNTIME_DIR or TMPDIR to a directory of yours"
            raise BadParameter(f"cannot create {folder}: {exc.strerror}", hint) from None
        fd = client.open_directory(folder)
        if fd is None:  # removed under us
            raise client.Unsafe(f"{folder} disappeared while it was created")
        if created:
            import stat

            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid():
                os.fchmod(fd, 0o700)
        try:
            client.check_directory(fd, folder)
        except BaseException:
            os.close(fd)
            raise
    except client.Unsafe as exc:
        raise BadParameter(f"unsafe server directory: {exc}", exc.hint) from None
    return fd, folder


def safe_import_path(path: list[str]) -> list[str]:
    """The import path a server keeps: not the entry Python put first (the directory it was
    started in, for -m and -c) and no relative entry (a worker works in its client's
    directory)."""
    return [p for p in client.import_path(path) if p and os.path.isabs(p)]


def serve(
    idle: float, max_workers: int, main: Runner, prepare: Callable[[], None], named_files: Paths
) -> int:
    """Listen until stopped or idle; the exit status. ``prepare`` builds every command once;
    ``main`` runs one command line, in each worker; a command line that ``named_files`` finds
    a path in runs in its caller's process."""
    if not sys.platform.startswith("linux"):
        raise BadParameter("the server needs Linux", "run commands without one")
    sys.path[:] = safe_import_path(sys.path)
    os.chdir("/")
    folder, _ = prepare_directory()
    name = client.socket_name()
    lock = _lock(folder, name)
    if lock is None:
        os.close(folder)
        raise ServerState("a server is already running", "see actgrad server status")
    with contextlib.suppress(FileNotFoundError):  # a dead server's (the lock says so)
        os.unlink(name, dir_fd=folder)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    mask = os.umask(0o177)  # the socket is 0600 from the start
    try:
        listener.bind(client.at(folder, name))
    finally:
        os.umask(mask)
    listener.listen(128)
    listener.setblocking(False)
    context = client.context(path=list(sys.path))
    state = State(
        client.identity(),
        context,
        idle,
        max_workers,
        main,
        named_files,
        folder,
        name,
        listener=listener,
        lock=lock,
    )
    _warm_up(main, prepare)
    state.last = time.monotonic()  # the idle time counts from when requests can be answered
    gc.freeze()  # what is warm now stays shared with every worker (no copy-on-write)
    wake_read, wake_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: setattr(state, "stopping", True))
    signal.signal(signal.SIGINT, lambda *_: setattr(state, "stopping", True))
    poller = select.epoll(flags=select.EPOLL_CLOEXEC)
    poller.register(listener.fileno(), select.EPOLLIN)
    poller.register(wake_read, select.EPOLLIN)
    state.closing = [listener.fileno(), wake_read, wake_write, poller.fileno(), folder, lock]
    try:
        _loop(state, poller, wake_read)
    finally:
        _close_listener(state, poller)
        for pending in state.pending.values():
            pending.close()
        if state.spare is not None:
            state.spare[1].close()  # the spare reads the end of its channel and exits
        poller.close()
        os.close(folder)
    return ExitStatus.OK


def _lock(folder: int, name: str) -> int | None:
    """This install's server lock, held for the server's life; None when another holds it."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name.replace(".sock", ".lock"), flags, 0o600, dir_fd=folder)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _close_listener(state: State, poller: select.epoll) -> None:
    """No new connections: the socket goes at once (a new client runs in-process, or `auto`
    starts another server), and so does the lock; requests in flight finish."""
    if state.listener is None:
        return
    with contextlib.suppress(OSError, ValueError):
        poller.unregister(state.listener.fileno())
    state.listener.close()
    state.listener = None
    with contextlib.suppress(OSError):
        os.unlink(state.name, dir_fd=state.folder)
    if state.lock is not None:
        os.close(state.lock)
        state.lock = None


def _loop(state: State, poller: select.epoll, wake_read: int) -> None:
    while True:
        if state.stopping:
            _close_listener(state, poller)
            if not state.workers and not state.pending:
                return
        timeout = _timeout(state)
        if timeout is None:  # idle for long enough
            return
        for fd, _ in poller.poll(timeout):
            try:
                _ready(state, poller, fd, wake_read)
            except Exception:  # one connection's fault never stops the server
                _drop(state, poller, fd)
        now = time.monotonic()
        for fd in [fd for fd, p in state.pending.items() if p.deadline <= now]:
            _drop(state, poller, fd)
        _reap(state, poller)
        if state.spare is None and not state.stopping:
            state.spare = _spare(state)


def _timeout(state: State) -> float | None:
    """How long the loop may wait: until the first pending request's deadline, or the idle
    limit (None: it has passed); -1 for as long as it takes."""
    now = time.monotonic()
    if state.pending:
        return max(0.0, min(p.deadline for p in state.pending.values()) - now)
    if state.idle > 0 and not state.workers and not state.stopping:
        left = state.idle - (now - state.last)
        return None if left <= 0 else left
    return -1.0


def _ready(state: State, poller: select.epoll, fd: int, wake_read: int) -> None:
    """One descriptor the poll found ready: a signal's wake-up, a new connection, a request's
    next bytes, or a watched client that went away (its worker goes too)."""
    if fd == wake_read:
        with contextlib.suppress(OSError):
            os.read(wake_read, 4096)
    elif state.listener is not None and fd == state.listener.fileno():
        _accept(state, poller)
    elif fd in state.pending:
        _read(state, poller, fd)
    elif fd in state.watched:
        _unwatch(state, poller, fd, kill=True)


def _warm_up(main: Runner, prepare: Callable[[], None]) -> None:
    """Answer scalar requests with output discarded: torch, typer and rich initialize
    lazily on the first request, which every worker then finds done; and build every
    command once (Typer converts a command's options when it is built)."""
    prepare()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    argv = sys.argv
    try:
        for command in WARM_UP:
            sys.argv = ["actgrad", *command]
            with contextlib.suppress(SystemExit):
                main()
    finally:
        sys.argv = argv
        sys.stdout.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _accept(state: State, poller: select.epoll) -> None:
    """Every waiting connection: this user's are read as their requests arrive."""
    assert state.listener is not None
    while True:
        try:
            conn, _ = state.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # out of descriptors: the rest wait in the backlog
            return
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _ = struct.unpack("3i", creds)
        if uid != os.geteuid() or len(state.pending) >= MAX_PENDING:
            conn.close()
            continue
        conn.setblocking(False)
        state.pending[conn.fileno()] = Pending(conn, pid, time.monotonic() + HANDSHAKE)
        poller.register(conn.fileno(), select.EPOLLIN)
        state.last = time.monotonic()


def _drop(state: State, poller: select.epoll, fd: int) -> None:
    pending = state.pending.pop(fd, None)
    if pending is not None:
        with contextlib.suppress(OSError, ValueError):
            poller.unregister(fd)
        pending.close()


def _read(state: State, poller: select.epoll, fd: int) -> None:
    """What has arrived of a request; once it is whole, the answer."""
    pending = state.pending[fd]
    try:
        data, fds, flags, _ = socket.recv_fds(pending.conn, 1 << 16, client.MAX_FDS)
    except (BlockingIOError, InterruptedError):
        return
    pending.fds += fds
    if not data or flags & socket.MSG_CTRUNC or len(pending.fds) > client.MAX_FDS:
        _drop(state, poller, fd)
        return
    pending.data += data
    if len(pending.data) < 4:
        return
    (size,) = struct.unpack("!I", pending.data[:4])
    if size > client.MAX_FRAME or len(pending.data) > 4 + size:
        _drop(state, poller, fd)  # oversized, or more than one frame before an answer
        return
    if len(pending.data) < 4 + size:
        return
    del state.pending[fd]
    poller.unregister(fd)
    conn, fds = pending.conn, pending.fds
    pending.fds = []
    try:
        conn.setblocking(True)
        conn.settimeout(1.0)  # an answer to a client that does not read is given up
        _answer(state, poller, client.decode(bytes(pending.data[4:])), fds, pending.pid, conn)
    except Exception:
        for descriptor in fds:
            with contextlib.suppress(OSError):
                os.close(descriptor)
        conn.close()


def _answer(
    state: State, poller: select.epoll, message: dict, fds: list[int], pid: int, conn: socket.socket
) -> None:
    op = message.get("op")
    if op not in OPS or not isinstance(message.get("identity"), dict):
        raise client.ProtocolError("not a request")
    if op != "run" and fds:
        raise client.ProtocolError("descriptors with a request that takes none")
    if message["identity"] != state.identity:  # the same install, another version
        if op == "stop":
            state.stopping = True
        client.send(conn, {"stale": state.identity})
    elif op == "status":
        client.send(conn, {"status": _status(state)})
    elif op == "stop":
        state.stopping = True
        client.send(conn, {"stopping": os.getpid()})
    else:
        _validate(message, fds)
        reason = _differs(state, message, pid)
        if reason:
            client.send(conn, {"local": reason})
        elif state.stopping or len(state.workers) >= state.max_workers:
            client.send(conn, {"busy": True})
        else:
            _hand_off(state, poller, message, fds, conn)
            return
    for fd in fds:
        os.close(fd)
    conn.close()


def _strings(value: Any) -> bool:
    return isinstance(value, str) and "\0" not in value


def _command_fields(argv: Any, env: Any) -> bool:
    """A command line of strings and an environment of NAME=value strings."""
    return (
        isinstance(argv, list)
        and all(_strings(a) for a in argv)
        and isinstance(env, dict)
        and all(_strings(k) and k and "=" not in k and _strings(v) for k, v in env.items())
    )


def _descriptor_fields(stdio: Any, given: Any, fds: list[int]) -> bool:
    """The standard descriptors the caller passed (a sorted subset of 0, 1, 2, one received
    descriptor each besides the connection's) and a stream description for each of them."""
    return (
        isinstance(given, list)
        and given == sorted(set(given))
        and all(type(fd) is int and fd in (0, 1, 2) for fd in given)
        and len(fds) == 1 + len(given)
        and isinstance(stdio, dict)
        and set(stdio) == {"0", "1", "2"}
        and all((spec is None) == (int(fd) not in given) for fd, spec in stdio.items())
    )


def _validate(message: dict, fds: list[int]) -> None:
    """ProtocolError unless a run request has the fields and types a worker relies on."""
    argv, env, stdio, given = (message.get(k) for k in ("argv", "env", "stdio", "fds"))
    caller = message.get("caller")
    ok = (
        _command_fields(argv, env)
        and _descriptor_fields(stdio, given, fds)
        and isinstance(message.get("context"), dict)
        and isinstance(caller, dict)
        and type(caller.get("umask")) is int
        and isinstance(caller.get("rlimits"), dict)
    )
    if not ok:
        raise client.ProtocolError("a run request with missing or wrong fields")
    for spec in stdio.values():
        if spec is not None:
            if not (
                isinstance(spec, dict)
                and _strings(spec.get("encoding"))
                and _strings(spec.get("errors"))
            ):
                raise client.ProtocolError("a stream without its encoding")
            codecs.lookup(spec["encoding"])  # LookupError: dropped
            codecs.lookup_error(spec["errors"])


STATUS_KEYS = (
    "Uid",
    "Gid",
    "Groups",
    "CapInh",
    "CapPrm",
    "CapEff",
    "CapBnd",
    "CapAmb",
    "NoNewPrivs",
    "Seccomp",
    "Seccomp_filters",
)


def process(pid: int | str) -> dict[str, Any]:
    """What decides what a process may do, read from /proc: credentials, capabilities,
    no_new_privs and seccomp, namespaces, root, cgroup and security label."""
    base = f"/proc/{pid}"
    found: dict[str, Any] = {}
    with open(f"{base}/status", encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in STATUS_KEYS:
                found[key] = value.split()
    for name in sorted(os.listdir(f"{base}/ns")):
        found[f"ns/{name}"] = os.readlink(f"{base}/ns/{name}")
    root = os.stat(f"{base}/root")
    found["root"] = [root.st_dev, root.st_ino]
    with open(f"{base}/cgroup", encoding="utf-8") as handle:
        found["cgroup"] = handle.read()
    try:
        with open(f"{base}/attr/current", encoding="utf-8") as handle:
            found["label"] = handle.read().strip("\0\n")
    except OSError:
        found["label"] = None
    try:  # setarch: address randomization and the like (owner-readable)
        with open(f"{base}/personality", encoding="utf-8") as handle:
            found["personality"] = handle.read().strip()
    except OSError:
        found["personality"] = None
    found["ioprio"] = _io_priority(os.getpid() if pid == "self" else int(pid))  # ionice
    return found


IOPRIO_GET = {"x86_64": 252, "aarch64": 31, "i686": 290, "armv7l": 315, "ppc64le": 274}


def _io_priority(pid: int) -> int | None:
    """The I/O scheduling class and level of ``pid`` (ionice), or None where it cannot be
    read (no /proc view exists: the ioprio_get system call)."""
    import ctypes

    number = IOPRIO_GET.get(os.uname().machine)
    if number is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    value = libc.syscall(number, 1, pid)  # IOPRIO_WHO_PROCESS
    return None if value < 0 else value


def _differs(state: State, message: dict, pid: int) -> str:
    """Why this server cannot answer as the caller's own process would ('' when it can)."""
    if message["context"] != state.context:
        ours, theirs = state.context, message["context"]
        keys = [k for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)]
        return "start-up settings differ: " + ", ".join(keys)
    try:
        ours, theirs = process("self"), process(pid)
    except (OSError, ValueError):
        return "the caller's process cannot be read"
    keys = [k for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)]
    return ("credentials, namespaces or confinement differ: " + ", ".join(keys)) if keys else ""


def _status(state: State) -> dict[str, Any]:
    import resource

    return {
        "pid": os.getpid(),
        "uptime": round(time.time() - state.started, 1),
        "served": state.served,
        "workers": len(state.workers),
        "max_workers": state.max_workers,
        "pending": len(state.pending),
        "idle_timeout": state.idle,
        "socket": os.path.join(client.directory(), state.name),
        "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        **state.identity,
    }


def _spare(state: State, also: tuple[int, ...] = ()) -> tuple[int, socket.socket]:
    """Fork a worker ahead of the next request (the fork is then off its critical path); it
    waits on a channel for the request, the client's descriptors and its connection. It keeps
    no descriptor of the server's or of any client's (``also``: those of a request in hand)."""
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # the worker: never returns
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for fd in (*state.closing, *also):
                with contextlib.suppress(OSError):
                    os.close(fd)
            for conn in state.workers.values():
                conn.close()
            for pending in state.pending.values():  # never hold another client's stdout
                pending.close()
            parent_end.close()
            code = _wait_and_work(child_end, state.main, state.named_files)
        finally:
            os._exit(code)
    child_end.close()
    return pid, parent_end


def _hand_off(
    state: State, poller: select.epoll, message: dict, fds: list[int], conn: socket.socket
) -> None:
    """Give the request to the spare worker (forking one if there is none)."""
    if state.spare is None:
        state.spare = _spare(state, (conn.fileno(), *fds))
    pid, channel = state.spare
    state.spare = None
    try:
        client.send(channel, message, [conn.fileno(), *fds])
    except OSError:  # the spare died: this client runs in-process
        with contextlib.suppress(OSError):
            client.send(conn, {"busy": True})
        conn.close()
        return
    finally:
        channel.close()
        for fd in fds:
            os.close(fd)
    state.served += 1
    state.workers[pid] = conn
    hard = message["caller"]["rlimits"].get("RLIMIT_CPU", [-1, -1])[1]
    if isinstance(hard, int) and hard >= 0:
        state.cpu_limits[pid] = hard
    state.watched[conn.fileno()] = pid
    poller.register(conn.fileno(), select.EPOLLRDHUP)


def _unwatch(state: State, poller: select.epoll, fd: int, kill: bool) -> None:
    pid = state.watched.pop(fd, None)
    with contextlib.suppress(OSError, ValueError):
        poller.unregister(fd)
    if kill and pid in state.workers:  # not reaped yet: the pid is still the worker's
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _wait_and_work(channel: socket.socket, main: Runner, named_files: Paths) -> int:
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    message, fds = client.receive(channel, max_fds=client.MAX_FDS + 1)
    channel.close()
    if message is None:  # the server stopped
        return ExitStatus.OK
    conn = socket.socket(fileno=fds[0])
    code = 0
    try:
        reason = _take_on(message, fds[1]) or _names_a_file(conn, message["argv"], named_files)
        if reason is None:  # the caller did not open a file it names: nothing runs here
            return ExitStatus.OK
        if reason:
            client.send(conn, {"local": reason})
            return ExitStatus.OK
        client.send(conn, {"pid": os.getpid()})
        conn.settimeout(GO_TIMEOUT)
        go, _ = client.receive(conn)
        if not (go and go.get("go") is True):  # the client gave up: nothing runs
            return ExitStatus.OK
        conn.settimeout(None)
        code = _work(message, fds[2:], main)
    except KeyboardInterrupt:  # Ctrl-C before the application's own handler was in place
        code = ExitStatus.INTERRUPTED  # said on the descriptor: sys.stderr may not be the caller's
        with contextlib.suppress(OSError):
            os.write(2, INTERRUPTED_LINE.encode())
    except (OSError, client.ProtocolError):
        return ExitStatus.OK
    with contextlib.suppress(OSError):
        client.send(conn, {"exit": code})
    return code


def _names_a_file(conn: socket.socket, argv: list[str], named_files: Paths) -> str | None:
    """Why a command line runs in its caller's process because it writes a path ('' if it
    does not): the caller may be confined in ways this process cannot see. A file it reads is
    opened by the caller, which hands over the descriptor (None: it did not)."""
    try:
        paths = named_files(argv)
    except Exception:
        return "the command line cannot be read for the files it names"
    written = [path for path, mode in paths if mode != "r"]
    if written:
        return f"it writes {written[0]!r}"
    for path, _ in paths:
        client.send(conn, {"open": path})
        conn.settimeout(GO_TIMEOUT)
        answer, fds = client.receive(conn, max_fds=1)
        if not (answer and answer.get("opened") == path and len(fds) == 1):
            for fd in fds:
                os.close(fd)
            return None
        files.HANDED[path] = fds[0]
    return ""


def _take_on(message: dict, cwd: int) -> str:
    """Become the caller's process: its resource limits, scheduling, umask, environment and
    working directory. The reason it cannot ('' when it can)."""
    import resource

    caller = message["caller"]
    try:
        for name, (soft, hard) in caller["rlimits"].items():
            if name.startswith("RLIMIT_") and hasattr(resource, name):
                which = getattr(resource, name)
                if resource.getrlimit(which) != (soft, hard):
                    resource.setrlimit(which, (soft, hard))
    except (OSError, ValueError, TypeError):
        return f"resource limit {name} cannot be set"
    try:
        if "nice" in caller and caller["nice"] != os.getpriority(os.PRIO_PROCESS, 0):
            os.setpriority(os.PRIO_PROCESS, 0, caller["nice"])
        if "policy" in caller:
            policy, priority = caller["policy"]
            now = [os.sched_getscheduler(0), os.sched_getparam(0).sched_priority]
            if now != [policy, priority]:
                os.sched_setscheduler(0, policy, os.sched_param(priority))
        if "affinity" in caller and sorted(os.sched_getaffinity(0)) != caller["affinity"]:
            os.sched_setaffinity(0, caller["affinity"])
        if "oom_score_adj" in caller:
            with open("/proc/self/oom_score_adj", "r+") as handle:
                if int(handle.read()) != caller["oom_score_adj"]:
                    handle.seek(0)
                    handle.write(str(caller["oom_score_adj"]))
    except (OSError, ValueError, TypeError):
        return "scheduling (nice, policy, CPU affinity or OOM score) cannot be set"
    try:
        os.fchdir(cwd)
    except OSError:
        return "the working directory cannot be entered"
    finally:
        os.close(cwd)
    os.umask(caller["umask"] & 0o777)
    for signum in caller.get("ignored", ()):  # nohup, a background job: ignored here too
        with contextlib.suppress(OSError, ValueError, TypeError):
            signal.signal(signum, signal.SIG_IGN)
    os.environ.clear()
    os.environ.update(message["env"])
    return ""


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
    sys.argv = ["actgrad", *message["argv"]]
    files.IN_WORKER = True  # a path opened here would be opened with the server's rights
    try:
        run_here(main)
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
    return io.TextIOWrapper(
        buffered,
        encoding=spec["encoding"],
        errors=spec["errors"],
        line_buffering=tty or stderr,
        write_through=stderr,
    )


def _reap(state: State, poller: select.epoll) -> None:
    """Report each finished worker's exit status (or the signal that killed it)."""
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        state.last = time.monotonic()
        if state.spare is not None and state.spare[0] == pid:  # the spare died: fork another
            state.spare[1].close()
            state.spare = None
        conn = state.workers.pop(pid, None)
        cpu_limit = state.cpu_limits.pop(pid, None)
        if conn is None:
            continue
        _unwatch(state, poller, conn.fileno(), kill=False)
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            answer = {"exit": 128 + sig, "signal": sig}
            used = usage.ru_utime + usage.ru_stime
            if sig in LIMIT_SIGNALS or (
                sig == signal.SIGKILL and cpu_limit is not None and used >= cpu_limit
            ):
                answer["limit"] = True  # the caller's own limit: in-process, a silent end too
        else:
            answer = {"exit": os.WEXITSTATUS(status)}
        with contextlib.suppress(OSError):
            client.send(conn, answer)
        conn.close()


def _unsafe(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except client.Unsafe as exc:
        raise BadParameter(f"unsafe server directory: {exc}", exc.hint) from None


def start(
    idle: float,
    foreground: bool,
    max_workers: int,
    main: Runner,
    prepare: Callable[[], None],
    named_files: Paths,
) -> int:
    """`actgrad server start`: serve here (--foreground), or in a new session, waiting until
    it answers."""
    os.close(prepare_directory()[0])
    if foreground:
        return serve(idle, max_workers, main, prepare, named_files)
    if _unsafe(lambda: client.request("status")) is not None:
        raise ServerState("a server is already running", "see actgrad server status")
    client.start_background(idle, max_workers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = _unsafe(lambda: client.request("status"))
        if answer is not None and "status" in answer:
            print(
                f"actgrad server started: pid {answer['status']['pid']}, "
                f"socket {answer['status']['socket']}"
            )
            return ExitStatus.OK
        time.sleep(0.05)
    raise ServerState(
        "the server did not start within 60 s", "start it with --foreground to see why"
    )


def stop() -> int:
    answer = _unsafe(lambda: client.request("stop"))
    if answer is None:
        raise ServerState(NO_SERVER, "start one with actgrad server start")
    pid = answer.get("stopping")
    print(f"actgrad server stopping (pid {pid})" if pid else "actgrad server stopping")
    return ExitStatus.OK


def status(as_json: bool) -> int:
    answer = _unsafe(lambda: client.request("status"))
    if answer is None:
        raise ServerState(NO_SERVER, "start one with actgrad server start")
    if "stale" in answer:
        info = answer["stale"]
        raise ServerState(
            f"this install's server runs another version ({info.get('actgrad')}, torch "
            f"{info.get('torch')}) and is not used",
            "stop it with actgrad server stop",
        )
    info = answer["status"]
    if as_json:
        print(json.dumps({"format": JSON_FORMAT, **info}))
    else:
        for key, value in info.items():
            print(f"{key}\t{value}")
    return ExitStatus.OK
