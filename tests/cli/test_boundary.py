"""Real processes: the entry points, torch kept out of non-evaluating paths, | head."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig

import pytest

ENV = {k: v for k, v in os.environ.items() if not k.startswith("ACTGRAD_")}
NO_TORCH = """
import sys
from actgrad.cli.app import main
sys.argv = ["actgrad", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
loaded = sorted(m for m in ("torch", "numpy") if m in sys.modules)
sys.stderr.write(f"exit={code} loaded={loaded}\\n")
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["list"],
        ["list", "--json"],
        ["explain", "sigmoid"],
        ["sigmoid", "--help"],
        ["explain", "nope"],
        ["sigmoid", "--x", "abc"],
    ],
)
def test_torch_is_not_imported(args):
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH, *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert "loaded=[]" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_console_script_and_module():
    # the environment's own script, not whatever PATH finds (the venv need not be activated)
    exe = os.path.join(sysconfig.get_path("scripts"), "actgrad")
    assert os.path.exists(exe), "the actgrad console script is installed beside the interpreter"
    proc = subprocess.run(
        [exe, "sigmoid", "--x", "0.5"], capture_output=True, text=True, env=ENV, timeout=120
    )
    assert (proc.returncode, proc.stdout) == (0, "0.62245935\n")
    proc = subprocess.run(
        [sys.executable, "-m", "actgrad.cli", "relu", "--x", "-1,2"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert (proc.returncode, proc.stdout) == (0, "-1.0\t0.0\n2.0\t2.0\n")


def test_pipe_closed_early_ends_quietly():
    proc = subprocess.Popen(
        [sys.executable, "-m", "actgrad.cli", "tanh", "--x", "-10:10:2000000", "--grad"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    with proc:
        first = proc.stdout.readline()
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0
    assert first.startswith(b"-10.0\t-1.0\t")
    assert stderr == ""


def test_bad_input_via_process_is_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "actgrad.cli", "sigmoid", "--x", "1,,2"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("actgrad: error:")


@pytest.mark.parametrize("after", [0.0, 0.2, 0.25, 0.3, 1.0])
def test_interrupt_exits_130_without_traceback(after):
    """Ctrl-C at any moment of torch's load or the run: exit 130 and one line. A signal inside
    torch's initialisation once aborted the process (-6) or left CPython's exit by SIGINT armed
    under status 130 (-2), depending on the moment."""
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "actgrad.cli", "tanh", "--x", "0:1:30000000", "--grad"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    with proc:
        # from the moment torch's library is mapped (its load has begun; the run takes
        # several seconds after it), so that a slow start on a busy machine is not what the
        # signal meets
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            with open(f"/proc/{proc.pid}/maps") as maps:
                if "libtorch_cpu" in maps.read():
                    break
            time.sleep(0.05)
        time.sleep(after)
        proc.send_signal(signal.SIGINT)
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 130
    assert stderr == "actgrad: interrupted\n"


def test_completion_lists_functions_without_torch():
    env = {
        **ENV,
        "_ACTGRAD_COMPLETE": "complete_bash",
        "COMP_WORDS": "actgrad sig",
        "COMP_CWORD": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH], capture_output=True, text=True, env=env, timeout=60
    )
    assert "sigmoid" in proc.stdout.split()
    assert "loaded=[]" in proc.stderr
