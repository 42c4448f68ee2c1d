"""Measures the real peak memory of requests, one forked child per request (run as a script).

Reads one JSON case per line on stdin and answers one JSON line each on stdout:
``{"status": "ok"|"refused"|"error", "peak": bytes above the child's start, "estimate": bytes,
"message": …}``. The parent imports torch and answers one scalar request (so torch's lazy
set-up is done), but never runs an op big enough to start torch's thread pool: forking after
that can hang the child (shared/notes/server.md). Each child resets the kernel's peak-RSS mark
(``/proc/self/clear_refs``), builds the request, evaluates it and writes it as the command
line does in the case's "format" (json, the default; plain, a chunk at a time; table), and
reports VmHWM − start.

A case: ``{"kind": "fn", "name": …, "inputs": {name: [text]}, "params": {…}, "options": {…}}``
or ``{"kind": "expr", "text": …, "vars": ["x=…"], "options": {…}}``.
"""

from __future__ import annotations

import io
import json
import os
import sys

from actgrad.cli.render import render_json, render_plain, render_table
from actgrad.core import evaluate
from actgrad.core.errors import ActgradError, TooLarge
from actgrad.core.request import build_expr_request, build_request, total_cost
from rich.console import Console


def _hwm() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def _build(case: dict):
    options = case.get("options", {})
    if case["kind"] == "expr":
        return build_expr_request(case["text"], case["vars"], **options)
    return build_request(case["name"], case["inputs"], case.get("params", {}), **options)


def _child(case: dict) -> dict:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    start = _hwm()
    fmt = case.get("format", "json")
    try:
        request = _build(case)
        expected = total_cost(request).peak(whole_text=fmt == "json")
        result = evaluate(request)
        if fmt == "json":
            render_json(result)
        elif fmt == "plain":
            for _ in render_plain(result):  # written a chunk at a time, as the command does
                pass
        else:
            Console(file=io.StringIO(), width=120).print(render_table(result, None, 120))
    except TooLarge as exc:
        return {"status": "refused", "peak": _hwm() - start, "message": str(exc)}
    except ActgradError as exc:
        return {"status": "error", "peak": _hwm() - start, "message": str(exc)}
    return {"status": "ok", "peak": _hwm() - start, "estimate": expected}


def main() -> None:
    # one small request of every kind first: lazy imports and torch's one-time set-up are
    # the process's, not any request's
    for request in (
        build_request("sigmoid", {"x": ["0.5,1"]}, {}, grad=True, check=True),
        build_request("softmax", {"x": ["0.5,1"]}, {}, grad=True, index=0, order=2),
        build_request(
            "mse",
            {"pred": ["[[1],[2]]"], "target": ["1,2"]},
            {"reduction": "none"},
            grad=True,
            broadcast=True,
        ),
        build_request("l2", {"pred": ["1,2"], "target": ["0"]}, {}, order=2),
        build_expr_request("sum(sigmoid(a*b))", ["a=[[1],[2]]", "b=1,2"], grad=True, order=2),
        build_expr_request("huber_loss(a, b, reduction=none)", ["a=1,2", "b=1"], grad=True),
    ):
        render_json(evaluate(request))
    for line in sys.stdin:
        case = json.loads(line)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            try:
                answer = _child(case)
            except BaseException as exc:  # report, never hang the parent
                answer = {"status": "crash", "message": f"{type(exc).__name__}: {exc}"}
            os.write(write, json.dumps(answer).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
        sys.stdout.write((data.decode() or '{"status": "killed"}') + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
