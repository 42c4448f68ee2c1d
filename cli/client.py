"""The thin client of the warm server: standard library only, so that forwarding a command
costs a Python start and a socket round trip, never an import of torch, typer or rich.

Each install (actgrad's location, the environment's prefix, the interpreter) has its own
server, on a Unix socket in a per-user directory (``$XDG_RUNTIME_DIR/actgrad``, else
``$TMPDIR/actgrad-UID``). The directory is opened without following links and checked by
descriptor (a directory of this user's, mode 700) before every use, and the socket is reached
through that descriptor, so no path can be swapped under it.

A request carries what the command would see in-process: argv, the whole environment, the
umask, resource limits, scheduling (nice, policy, CPU affinity, OOM score), the stdio
encodings and, as descriptors (SCM_RIGHTS), the working directory and stdin, stdout and
stderr. What cannot be carried must be equal, or the command runs here: the server itself
compares the caller's credentials, capabilities, namespaces, root, cgroup and security label
with its own (read from /proc, never taken from the request), and the variables and import
path read when Python and the libraries start (``context``).

The exchange: the client sends its request; a worker forked by the server takes it, applies
the caller's settings and answers its pid (or ``local``/``busy``/``stale``: run here); the
client answers ``go``, and only then does the worker run the command, so a client that gives
up (a timeout) never has its command run twice. The worker answers the exit status; the
server reports a worker killed by a signal, and kills a worker whose client went away.

Looking for a server costs one stat of its directory: the modules that talk to one (socket,
json, struct, signal) are imported only once there is one.
"""

from __future__ import annotations

import contextlib
import os
import sys

from .exits import ExitStatus, report

TYPE_CHECKING = False  # typing costs 5 ms to import; its TYPE_CHECKING is False at run time too
if TYPE_CHECKING:
    import socket
    from typing import Any

PROTOCOL = 2
MAX_FRAME = 4 << 20  # bytes in one message: argv and the environment fit (Linux: 2 MiB)
MAX_FDS = 4  # a request's descriptors: its working directory and stdin, stdout, stderr
CONNECT_TIMEOUT = 2.0  # seconds to connect and send a request
ANSWER_TIMEOUT = 10.0  # seconds for the worker's pid; past it the command runs here (once)

# Variables read when Python, OpenMP, torch, numpy, mpmath, typer start, or that select what
# they load: a server that started with other values cannot answer as the caller's own
# process would, so they must be equal. Every other variable is the caller's own in the worker.
STARTUP_PREFIXES = (
    "PYTHON",
    "OMP_",
    "KMP_",
    "GOMP_",
    "MKL_",
    "OPENBLAS",
    "GOTO",
    "BLIS_",
    "TORCH",
    "PYTORCH",
    "ATEN_",
    "CUDA",
    "NVIDIA_",
    "HIP_",
    "ROCM",
    "HSA_",
    "LD_",
    "MALLOC_",
    "GLIBC_",
    "NUMPY_",
    "NPY_",
    "MPMATH_",
    "SAGE",
    "SYMPY_",
    "TYPER_",
    "_TYPER_",
    "LC_",
    "LANG",
    "TZ",
    "TMPDIR",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
)


class Unsafe(Exception):
    """The socket directory is not this user's alone; ``hint`` says what the user can do."""

    def __init__(self, problem: str, hint: str = "") -> None:
        super().__init__(problem)
        self.hint = hint or ELSEWHERE


ELSEWHERE = "set XDG_RUNTIME_DIR (or TMPDIR) to a private directory of yours"


def directory() -> str:
    """The per-user directory of the server's socket."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "actgrad")
    tmp = os.environ.get("TMPDIR") or "/tmp"
    return os.path.join(tmp, f"actgrad-{os.getuid()}")


def check_directory(fd: int, path: str) -> None:
    """Unsafe unless the open directory ``fd`` (at ``path``) is this user's, mode 700."""
    import stat

    st = os.fstat(fd)
    if not stat.S_ISDIR(st.st_mode):
        raise Unsafe(f"{path} is not a directory")
    if st.st_uid != os.geteuid():
        raise Unsafe(f"{path} belongs to uid {st.st_uid}, not to you ({os.geteuid()})")
    if st.st_mode & 0o077:
        raise Unsafe(
            f"{path} has mode {stat.S_IMODE(st.st_mode):o}; it must be 700",
            f"chmod 700 {path}, or {ELSEWHERE}",
        )


def open_directory(path: str | None = None) -> int | None:
    """A descriptor of the socket directory, checked; None when it does not exist; Unsafe
    when it is a link, not a directory, not yours or open to others."""
    path = path or directory()
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP: a symbolic link; ENOTDIR: something else; EACCES
        if os.path.islink(path):
            try:
                mine = os.lstat(path).st_uid == os.geteuid()
            except OSError:  # swapped away meanwhile
                mine = False
            hint = f"remove the link, or {ELSEWHERE}" if mine else ""
            raise Unsafe(f"{path} is a symbolic link", hint) from None
        if os.path.lexists(path) and not os.path.isdir(path):
            raise Unsafe(f"{path} is not a directory") from None
        raise Unsafe(f"{path}: {exc.strerror}") from None
    try:
        check_directory(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def at(fd: int, name: str) -> str:
    """A path to ``name`` in the open directory ``fd`` that no rename or link can redirect
    (and short enough for a socket address whatever the directory's own path)."""
    proc = f"/proc/self/fd/{fd}"
    return f"{proc}/{name}" if os.path.isdir(proc) else os.path.join(os.readlink(proc), name)


def install() -> tuple[str, str, str]:
    """What makes an install: actgrad's location, the environment's prefix, the interpreter."""
    from .. import version

    here = os.path.dirname(os.path.realpath(version.__file__))  # the package's folder
    return here, os.path.realpath(sys.prefix), os.path.realpath(sys.executable)


def socket_name(parts: tuple[str, ...] | None = None) -> str:
    """The socket of this install's server (one server per install)."""
    import zlib

    key = "\0".join(parts or install()).encode()
    return f"server-{zlib.crc32(key):08x}{zlib.adler32(key):08x}.sock"


def identity() -> dict[str, str]:
    """What a server must share with its client: actgrad's version and install, torch's
    version (read from its version.py, not imported), the interpreter and the protocol. A
    server of the same install with another identity is stale (an upgrade in place)."""
    from ..version import __version__

    here, prefix, python = install()
    torch_version = "none"
    for entry in sys.path:
        candidate = os.path.join(entry or ".", "torch", "version.py")
        try:
            with open(candidate, encoding="utf-8") as handle:
                text = handle.read(4096)
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("__version__"):
                torch_version = line.split("=", 1)[1].strip().strip("'\"")
                break
        break
    return {
        "actgrad": __version__,
        "install": here,
        "prefix": prefix,
        "python": python,
        "torch": torch_version,
        "protocol": str(PROTOCOL),
    }


def import_path(path: list[str]) -> list[str]:
    """``sys.path`` without the entry Python put first (the script's folder, or the working
    directory for -m and -c): what the imports of a command are found on."""
    return list(path if getattr(sys.flags, "safe_path", False) else path[1:])


def context(environ: dict[str, str] | None = None, path: list[str] | None = None) -> dict:
    """What was fixed when the process started and must be the same in client and server:
    the start-up variables, the import path, the interpreter's flags and options."""
    environ = os.environ if environ is None else environ
    return {
        "env": {k: v for k, v in sorted(environ.items()) if k.startswith(STARTUP_PREFIXES)},
        "path": import_path(sys.path) if path is None else path,
        "flags": list(sys.flags),
        "xoptions": {str(k): str(v) for k, v in sys._xoptions.items()},
        "warnoptions": list(sys.warnoptions),
        "encoding": sys.getfilesystemencoding(),
    }


def caller() -> dict:
    """The per-process settings a worker takes on: umask, resource limits, scheduling."""
    import resource

    mask = os.umask(0o077)
    os.umask(mask)
    limits = {}
    for name in dir(resource):
        if name.startswith("RLIMIT_") and name != "RLIMIT_OFILE":
            with contextlib.suppress(OSError, ValueError):
                limits[name] = list(resource.getrlimit(getattr(resource, name)))
    settings: dict = {"umask": mask, "rlimits": limits, "nice": os.getpriority(os.PRIO_PROCESS, 0)}
    with contextlib.suppress(OSError, AttributeError):
        settings["policy"] = [os.sched_getscheduler(0), os.sched_getparam(0).sched_priority]
    with contextlib.suppress(OSError, AttributeError):
        settings["affinity"] = sorted(os.sched_getaffinity(0))
    with contextlib.suppress(OSError, ValueError), open("/proc/self/oom_score_adj") as f:
        settings["oom_score_adj"] = int(f.read())
    settings["ignored"] = ignored_signals()
    return settings


def ignored_signals() -> list[int]:
    """The relayed signals this process ignores (nohup's SIGHUP, a background job's SIGINT):
    never relayed to the worker, and ignored there too, as in-process."""
    import signal

    found = (getattr(signal, name) for name in RELAYED)
    return sorted(int(s) for s in found if signal.getsignal(s) == signal.SIG_IGN)


def encode(message: dict) -> bytes:
    import json
    import struct

    data = json.dumps(message, separators=(",", ":")).encode()
    return struct.pack("!I", len(data)) + data


def send(sock: socket.socket, message: dict, fds: list[int] = ()) -> None:
    import socket

    frame = encode(message)
    if fds:
        sent = socket.send_fds(sock, [frame[:65536]], fds)
        if sent < len(frame):
            sock.sendall(frame[sent:])
    else:
        sock.sendall(frame)


class ProtocolError(Exception):
    """A frame that is not one of ours: too large, truncated, not a JSON object."""


def decode(body: bytes) -> dict:
    import json

    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        raise ProtocolError("not JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("not an object")
    return message


def receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict | None, list[int]]:
    """One framed JSON object (None at end of stream) and any descriptors sent with it,
    read exactly (never into the next frame); ProtocolError for anything else."""
    import socket
    import struct

    fds: list[int] = []
    if max_fds:  # the descriptors come with the frame's first bytes
        head, fds, _, _ = socket.recv_fds(sock, 4, max_fds)
    else:
        head = sock.recv(4)
    try:
        head = _exactly(sock, 4, head)
        if head is None:
            return None, fds
        (size,) = struct.unpack("!I", head)
        if size > MAX_FRAME:
            raise ProtocolError(f"a frame of {size} bytes")
        body = _exactly(sock, size, head[4:])
        if body is None:
            raise ProtocolError("truncated")
        return decode(body), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _exactly(sock: socket.socket, size: int, data: bytes) -> bytes | None:
    """``data`` read on to ``size`` bytes; None if the stream ends first."""
    buffer = bytearray(data)
    while len(buffer) < size:
        more = sock.recv(min(1 << 20, size - len(buffer)))
        if not more:
            return None
        buffer += more
    return bytes(buffer)


def connect() -> tuple[socket.socket | None, int | None]:
    """A connection to this install's running server (or None) and the checked directory's
    descriptor (None when there is no directory); a dead server's socket is removed."""
    folder = open_directory()
    if folder is None:
        return None, None
    name = socket_name()
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except OSError:
        return None, folder
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect(at(folder, name))
    except ConnectionRefusedError:  # nobody listens: a dead server's socket
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=folder)
        return None, folder
    except OSError:  # a full backlog, a timeout: this time, no server
        sock.close()
        return None, folder
    return sock, folder


def request(op: str) -> dict | None:
    """Ask this install's server ``op`` ("status", "stop"); None when none runs (or it did
    not answer in time); Unsafe when the socket directory is unsafe."""
    sock, folder = connect()
    if folder is not None:
        os.close(folder)
    if sock is None:
        return None
    with sock:
        try:
            send(sock, {"op": op, "identity": identity()})
            answer, _ = receive(sock)
        except (OSError, ProtocolError):
            return None
    return answer


def _stdio(fd: int, stream: object) -> dict | None:
    if stream is None:
        return None
    try:
        os.fstat(fd)
    except OSError:
        return None
    return {
        "encoding": getattr(stream, "encoding", None) or "utf-8",
        "errors": getattr(stream, "errors", None) or "strict",
    }


RELAYED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM")


def forward(argv: list[str], auto: bool) -> int | None:
    """Run ``argv`` through this install's server; its exit status, or None to run it in
    this process (no server, a stale or busy one, or one that cannot answer as this process
    would)."""
    try:
        sock, folder = connect()
    except Unsafe as exc:
        if auto:
            sys.stderr.write(f"actgrad: note: not using a server: {exc}\n")
        return None
    if folder is not None:
        os.close(folder)
    if sock is None:
        if auto:
            start_background()
        return None
    try:
        cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        sock.close()
        return None
    with sock:
        try:
            return _exchange(sock, cwd, argv, auto)
        finally:
            os.close(cwd)


def _exchange(sock: socket.socket, cwd: int, argv: list[str], auto: bool) -> int | None:
    """The command run by the server's worker: its exit status, or None where it must run
    here (nothing ran there)."""
    pid = _offer(sock, cwd, argv, auto)
    if pid is None:
        return None
    forwarded: list[int] = []
    previous = _relay_signals(pid, forwarded)
    try:
        sock.settimeout(None)
        send(sock, {"go": True})
        answer, _ = receive(sock)
    except (OSError, ProtocolError):
        answer = None
    finally:
        import signal

        for s, handler in previous.items():
            signal.signal(s, handler)
    if answer is None:
        report("the server went away during the request")
        return ExitStatus.ERROR
    if answer.get("signal"):
        _end_by_signal(int(answer["signal"]), True if answer.get("limit") else forwarded)
    return int(answer["exit"])


def _offer(sock: socket.socket, cwd: int, argv: list[str], auto: bool) -> int | None:
    """Send the request (the caller's descriptors, settings and environment) and hand over
    the files it names: the worker's pid, or None (too large, refused, stale: run here)."""
    streams = {0: sys.stdin, 1: sys.stdout, 2: sys.stderr}
    stdio = {str(fd): _stdio(fd, s) for fd, s in streams.items()}
    fds = [fd for fd in (0, 1, 2) if stdio[str(fd)] is not None]
    message = {
        "op": "run",
        "identity": identity(),
        "context": context(),
        "caller": caller(),
        "argv": argv,
        "env": dict(os.environ),
        "stdio": stdio,
        "fds": fds,
    }
    if len(encode(message)) > MAX_FRAME:
        return None
    try:
        send(sock, message, [cwd, *fds])
        sock.settimeout(ANSWER_TIMEOUT)
        answer, _ = receive(sock)
        while answer is not None and isinstance(answer.get("open"), str):  # batch FILE
            if not _hand_over(sock, answer["open"]):
                return None  # it cannot be read here: the command says so, in-process
            answer, _ = receive(sock)
    except (OSError, ProtocolError):  # the worker never got the go-ahead: nothing ran
        return None
    if answer is None or "pid" not in answer:
        if answer is not None and "stale" in answer and auto:  # replace this install's
            with contextlib.suppress(OSError, Unsafe):
                request("stop")
            start_background(wait_gone=True)
        return None
    return int(answer["pid"])


def _relay_signals(pid: int, forwarded: list[int]) -> dict[int, Any]:
    """Signals this process gets relayed to the worker (``forwarded`` lists them), Ctrl-Z
    stopping both; the handlers they replace."""
    import signal

    def relay(signum: int, frame: object) -> None:
        forwarded.append(signum)
        with contextlib.suppress(OSError):
            os.kill(pid, signum)

    def suspend(signum: int, frame: object) -> None:  # Ctrl-Z: the worker stops with us
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGSTOP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)
        signal.signal(signal.SIGTSTP, suspend)

    def resume(signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGCONT)

    ignored = set(ignored_signals())
    handlers = {getattr(signal, n): relay for n in RELAYED if getattr(signal, n) not in ignored}
    handlers.update({signal.SIGTSTP: suspend, signal.SIGCONT: resume})
    return {s: signal.signal(s, h) for s, h in handlers.items()}


def _hand_over(sock: socket.socket, path: str) -> bool:
    """Open ``path`` to read here, as this process may (a worker never opens a path: this
    process may be confined in ways the server cannot see), and send the worker its
    descriptor; False when it cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        send(sock, {"opened": path}, [fd])
    finally:
        os.close(fd)
    return True


def _end_by_signal(signum: int, ours: list[int] | bool) -> None:
    """The worker was killed by ``signum``. Relayed from this process (``ours`` lists those)
    or raised by the caller's own limits (``ours`` is True): end by the same signal, as the
    command would in-process. Sent by someone else: one line, and the exit status says so."""
    import resource
    import signal

    if ours is not True and signum not in ours:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        report(f"the server's worker was killed ({name})")
        return
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    if signum != signal.SIGKILL:
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


# Started in /, with the entry -c puts first (the working directory) made a placeholder no
# import can come from, before anything is imported (the server drops it from sys.path).
LAUNCH = (
    "import sys\n"
    "if not sys.flags.safe_path: sys.path[0] = '/dev/null'\n"
    "from actgrad.cli.entry import main; main()"
)


def start_background(
    idle: float | None = None, workers: int | None = None, wait_gone: bool = False
) -> None:
    """Start a server in its own session, not waiting for it (ACTGRAD_SERVER=auto). It
    starts in /, so nothing from the working directory is ever on its import path."""
    import subprocess
    import time

    if wait_gone:  # the stale server was asked to stop: let its socket go first
        name = os.path.join(directory(), socket_name())
        for _ in range(50):
            if not os.path.lexists(name):
                break
            time.sleep(0.02)
    command = [sys.executable, "-c", LAUNCH, "server", "start", "--foreground"]
    if idle is not None:
        command += ["--idle", str(idle)]
    if workers is not None:
        command += ["--workers", str(workers)]
    subprocess.Popen(
        command,
        cwd="/",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
