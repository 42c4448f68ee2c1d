from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

import numpy as np
import pytest
from actgrad.core import evaluate
from actgrad.core.request import build_request
from warm_server import Server

# Commands the tests run in subprocesses run in-process unless a test starts its own server
# (a developer's running server must not answer for the code under test).
os.environ["ACTGRAD_SERVER"] = "off"

GRID = [
    0.0,
    0.001,
    -0.001,
    0.25,
    -0.25,
    1.0,
    -1.0,
    math.pi / 2,
    -math.pi / 2,
    501.0,
    -501.0,
    1e20,
    -1e20,
    math.inf,
    -math.inf,
    math.nan,
]


def required(spec) -> dict:
    """The parameters torch has no default for, as the entry's sweep gives them, typed."""
    kinds = {"int": int, "float": float}
    return {
        k: kinds.get(spec.param(k).kind, str)(v)
        for k, v in spec.sweep.items()
        if k in spec.param_names
    }


def cases(spec) -> list[dict]:
    """The parameter sets a function's tests run: the required ones, then each of the
    entry's samples on top."""
    base = required(spec)
    return [base, *({**base, **extra} for extra in spec.samples)]


def text(values: Sequence[float] | np.ndarray | float) -> str:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        return repr(float(arr))
    if arr.ndim == 1:
        return ",".join(repr(float(v)) for v in arr)
    return json.dumps(arr.tolist())


def run(name: str, x, params: dict | None = None, **options):
    """Evaluate through actgrad.core exactly as the command line does."""
    raw = {k: str(v) for k, v in (params or {}).items()}
    options.setdefault("dtype", "float64")
    return evaluate(build_request(name, {"x": [text(x)]}, raw, **options))


CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _checkout_files() -> set[str]:
    """Every file in the checkout outside the folders tools and runs make (.git, caches, a
    virtual environment): what a test may not add to."""
    skip = {".git", ".venv", "venv", ".pytest_cache", ".ruff_cache", ".hypothesis", "build"}
    found = set()
    for folder, dirs, names in os.walk(CHECKOUT):
        dirs[:] = [
            d for d in dirs if d not in skip and not d.endswith((".egg-info", "__pycache__"))
        ]
        found.update(os.path.join(folder, n) for n in names)
    return found


@pytest.fixture(scope="session", autouse=True)
def _checkout_untouched():
    """No test writes into the checkout (a report, an image, a stray file): each runs in its
    own temporary directory, and the session fails if a file appeared in the checkout."""
    before = _checkout_files()
    yield
    added = sorted(_checkout_files() - before)
    assert not added, f"tests wrote into the checkout: {added}"


@pytest.fixture(autouse=True)
def _in_a_temporary_directory(tmp_path, monkeypatch):
    """A relative path a test writes lands in its own temporary directory."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("ACTGRAD_DEVICE", "ACTGRAD_DTYPE", "ACTGRAD_MAX_ELEMENTS", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _quiet_numpy():
    """References evaluate exp(501) and inf - inf on purpose: inf and nan are expected values."""
    with np.errstate(all="ignore"):
        yield


@pytest.fixture
def runtime(tmp_path):
    """A private XDG_RUNTIME_DIR: a server started there is the test's own."""
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `actgrad server` process, shared by a module's tests (none of which stops it)."""
    folder = tmp_path_factory.mktemp("run")
    folder.chmod(0o700)
    warm = Server(folder)
    yield warm
    warm.stop()


@pytest.fixture
def own_server(runtime):
    """A real `actgrad server` process for one test, stopped after it."""
    warm = Server(runtime)
    yield warm
    warm.stop()
