"""The thin client of the warm server: standard library only, so that forwarding a command
costs a Python start and a socket round trip, never an import of torch, typer or rich.

A server listens on a Unix socket in a per-user directory (``$XDG_RUNTIME_DIR/actgrad``, else
``/tmp/actgrad-UID``), checked for owner and mode before every use. The client sends its argv,
working directory, the environment variables that matter, its stdio encodings and an identity
(actgrad's and torch's versions, the install's location, the interpreter), with its file
descriptors 0, 1 and 2 (SCM_RIGHTS). The server forks a worker that runs the very same
application on those descriptors, and answers the worker's pid, then its exit status.

Looking for a server costs one stat of its socket: the modules that talk to one (socket, json,
struct, signal) are imported only once there is one.
"""

from __future__ import annotations

import contextlib
import os
import sys

TYPE_CHECKING = False  # typing costs 5 ms to import; its TYPE_CHECKING is False at run time too
if TYPE_CHECKING:
    import socket

PROTOCOL = 1
ENV_PREFIXES = ("ACTGRAD_",)
ENV_NAMES = ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS", "LINES", "LANG", "LC_ALL",
             "LC_CTYPE", "HOME", "MPLBACKEND", "TMPDIR")  # fmt: skip
SOCKET = "server.sock"
IN_SERVER = False  # set in a server (and so in its workers): never forward to oneself


class Unsafe(Exception):
    """The socket directory is not this user's alone."""


def directory() -> str:
    """The per-user directory of the server's socket."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "actgrad")
    tmp = os.environ.get("TMPDIR") or "/tmp"
    return os.path.join(tmp, f"actgrad-{os.getuid()}")


def check_directory(path: str) -> bool:
    """True when ``path`` exists as a directory owned by this user with no group or other
    access; False when it does not exist; Unsafe otherwise."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    import stat

    if not stat.S_ISDIR(st.st_mode):
        raise Unsafe(f"{path} is not a directory")
    if st.st_uid != os.getuid():
        raise Unsafe(f"{path} belongs to uid {st.st_uid}, not to you ({os.getuid()})")
    if st.st_mode & 0o077:
        raise Unsafe(f"{path} has mode {stat.S_IMODE(st.st_mode):o}; it must be 700")
    return True


def identity() -> dict[str, str]:
    """What a server must share with its client: actgrad's version and location, torch's
    version (read from its version.py, not imported) and the interpreter."""
    import actgrad

    here = os.path.dirname(os.path.realpath(actgrad.__file__))
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
        "actgrad": actgrad.__version__,
        "install": here,
        "torch": torch_version,
        "python": os.path.realpath(sys.executable),
        "protocol": str(PROTOCOL),
    }


def send(sock: socket.socket, message: dict, fds: list[int] = ()) -> None:
    import json
    import socket
    import struct

    data = json.dumps(message).encode()
    frame = struct.pack("!I", len(data)) + data
    if fds:
        sent = socket.send_fds(sock, [frame[:65536]], fds)
        if sent < len(frame):  # a send of nothing fails once the peer has answered and gone
            sock.sendall(frame[sent:])
    else:
        sock.sendall(frame)


def receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict | None, list[int]]:
    """One framed JSON message (None at end of stream) and any descriptors sent with it. It
    reads exactly one frame, never into the next one."""
    import json
    import socket
    import struct

    fds: list[int] = []
    if max_fds:  # the descriptors come with the frame's first bytes
        head, fds, _, _ = socket.recv_fds(sock, 4, max_fds)
    else:
        head = sock.recv(4)
    head = _exactly(sock, 4, head)
    if head is None:
        return None, fds
    (size,) = struct.unpack("!I", head)
    body = _exactly(sock, size, b"")
    return (None if body is None else json.loads(body)), fds


def _exactly(sock: socket.socket, size: int, data: bytes) -> bytes | None:
    """``data`` read on to ``size`` bytes; None if the stream ends first."""
    while len(data) < size:
        more = sock.recv(min(1 << 20, size - len(data)))
        if not more:
            return None
        data += more
    return data


def connect(path: str | None = None) -> socket.socket | None:
    """A connection to the running server, or None; a dead server's socket is removed."""
    folder = directory()
    if not check_directory(folder):
        return None
    path = path or os.path.join(folder, SOCKET)
    if not os.path.exists(path):
        return None
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)  # blocks while the server's backlog is full
    except ConnectionRefusedError:  # nobody listens: a dead server's socket
        sock.close()
        remove_stale(folder)
        return None
    except OSError:
        sock.close()
        return None
    return sock


def remove_stale(folder: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(folder, SOCKET))


def request(op: str) -> dict | None:
    """Ask the server ``op`` ("status", "stop"); None when no server runs."""
    sock = connect()
    if sock is None:
        return None
    with sock:
        send(sock, {"op": op, "identity": identity()})
        answer, _ = receive(sock)
    return answer


def _stdio(fd: int, stream: object) -> dict | None:
    if stream is None:
        return None
    try:
        os.fstat(fd)
    except OSError:
        return None
    return {"encoding": getattr(stream, "encoding", None) or "utf-8",
            "errors": getattr(stream, "errors", None) or "strict"}  # fmt: skip


def forward(argv: list[str], auto: bool) -> int | None:
    """Run ``argv`` through the server; its exit status, or None to run in-process (no
    server, a server of another version, or one that went away before starting)."""
    try:
        sock = connect()
    except Unsafe as exc:
        if auto:
            sys.stderr.write(f"actgrad: note: not using a server: {exc}\n")
        return None
    if sock is None:
        if auto:
            start_background()
        return None
    streams = {0: sys.stdin, 1: sys.stdout, 2: sys.stderr}
    stdio = {str(fd): _stdio(fd, s) for fd, s in streams.items()}
    fds = [fd for fd in (0, 1, 2) if stdio[str(fd)] is not None]
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES) or k in ENV_NAMES}
    message = {"op": "run", "identity": identity(), "argv": argv, "cwd": os.getcwd(),
               "env": env, "stdio": stdio, "fds": fds}  # fmt: skip
    with sock:
        try:
            send(sock, message, fds)
            answer, _ = receive(sock)
        except OSError:  # the server never acknowledged the request: nothing ran
            return None
        if answer is None or "mismatch" in answer:
            if answer is not None and auto:  # replace the stale server
                with contextlib.suppress(OSError):
                    request("stop")
                start_background(wait_gone=True)
            return None
        import signal

        pid = answer["pid"]
        forwarded: list[int] = []

        def relay(signum: int, frame: object) -> None:
            forwarded.append(signum)
            with contextlib.suppress(OSError):
                os.kill(pid, signum)

        previous = {s: signal.signal(s, relay) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            answer, _ = receive(sock)
        except OSError:
            answer = None
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    if answer is None:
        sys.stderr.write("actgrad: error: the server went away during the request\n")
        return 1
    if answer.get("signal") == signal.SIGTERM and signal.SIGTERM in forwarded:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # end as the in-process command would
        os.kill(os.getpid(), signal.SIGTERM)
    if answer.get("error"):
        sys.stderr.write(answer["error"] + "\n")
    return int(answer["exit"])


def start_background(idle: float | None = None, wait_gone: bool = False) -> None:
    """Start a server in its own session, not waiting for it (ACTGRAD_SERVER=auto)."""
    import subprocess
    import time

    if wait_gone:  # the stale server was asked to stop: let its socket go first
        folder = directory()
        for _ in range(50):
            if not os.path.exists(os.path.join(folder, SOCKET)):
                break
            time.sleep(0.02)
    command = [sys.executable, "-m", "actgrad.cli", "server", "start", "--foreground"]
    if idle is not None:
        command += ["--idle", str(idle)]
    subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)  # fmt: skip
