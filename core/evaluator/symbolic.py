"""--symbolic: each derivative of an expression as a formula, by sympy, from actgrad's own
program (never from user text), in a forked child killed at a deadline. No torch."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..functions.spec import FunctionSpec
from ..parse.expr import OPERATORS
from ..program import Program, run


def _sympy_activation(sp: Any, spec: FunctionSpec, x: Any, p: Mapping[str, Any]) -> Any:
    """The closed form of an activation from its registry entry (None: it has none)."""
    form = spec.symbolic
    return None if form is None else form(sp, x, p)


SYMBOLIC_SECONDS = 2.0  # wall-clock budget of --symbolic; past it the numbers stand alone
MAX_DIGITS = 1000  # an exact integer constant larger than this is kept as a float instead
MAX_FORMULA = 20_000  # characters of one derivative's formula


def symbolic(program: Program, wrt: tuple[str, ...]) -> tuple[dict, list]:
    """Each derivative as a formula, from actgrad's own parse tree (never from user text),
    within SYMBOLIC_SECONDS; past any budget the numbers stand and a note says why.

    sympy runs in a forked child that is killed at the deadline: an exception injected into
    sympy (a timer signal) can land in a finalizer, where Python ignores it and sympy runs on.
    The child never touches torch. Where there is no fork, sympy runs here, unbounded in time."""
    import sympy  # noqa: F401 - imported once, before the clock starts

    if not hasattr(os, "fork"):
        outcome = _formulas(program, wrt)
    else:
        outcome = _in_child(lambda: _formulas(program, wrt), SYMBOLIC_SECONDS)
        if outcome is None:
            outcome = {"why": f"sympy took over {SYMBOLIC_SECONDS:g} s"}
    if "why" in outcome:
        return {}, [f"--symbolic: no formula: {outcome['why']}; the numbers above stand"]
    return outcome["formulas"], outcome["notes"]


def _formulas(program: Program, wrt: tuple[str, ...]) -> dict[str, Any]:
    """{"formulas", "notes"}, or {"why"} when sympy cannot give them within its limits."""
    try:
        formulas, notes = _symbolic(program, wrt)
    except RecursionError:
        return {"why": "the expression is nested too deeply for sympy"}
    except Exception as exc:  # sympy's own limits (e.g. huge integers): never an internal error
        return {"why": f"sympy failed ({type(exc).__name__})"}
    if any(len(f) > MAX_FORMULA for f in formulas.values()):
        return {"why": f"the formula is over {MAX_FORMULA:,} characters"}
    return {"formulas": formulas, "notes": notes}


def _in_child(work: Any, seconds: float) -> Any:
    """``work()``'s JSON-able result computed in a forked child, or None past ``seconds``."""
    import json
    import select
    import signal
    import time
    import warnings

    read, write = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns about fork in a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: compute, write, leave without running the parent's exit code
        code = 0
        try:
            os.close(read)
            data = json.dumps(work()).encode()
            while data:
                data = data[os.write(write, data) :]
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([read], [], [], left)[0]:
                continue
            chunk = os.read(read, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        else:
            os.kill(pid, signal.SIGKILL)
            return None
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:  # the child died before it answered
        return {"why": "sympy's process failed"}


def _number(sp: Any, value: float) -> Any:
    return sp.Integer(int(value)) if value.is_integer() and abs(value) < 2**53 else sp.Float(value)


def _power(sp: Any, a: Any, b: Any) -> Any:
    """a ** b, with an exact integer result only while it stays under MAX_DIGITS digits."""
    if a.is_Rational and b.is_Integer and a not in (0, 1, -1):
        digits = abs(int(b)) * max(len(str(abs(a.p))), len(str(a.q)))
        if digits > MAX_DIGITS:
            return sp.Float(a) ** b
    return a**b


class _NoFormula(Exception):
    """A step with no scalar closed form (its message is the note)."""


class _Sympy:
    """sympy's operations for :func:`program.run`."""

    def __init__(self, sp: Any, symbols: dict, math_ops: dict) -> None:
        self.sp, self.symbols, self.math_ops = sp, symbols, math_ops

    def number(self, value: float) -> Any:
        return _number(self.sp, value)

    def name(self, name: str) -> Any:
        sp = self.sp
        return self.symbols.get(name) or (sp.pi if name == "pi" else sp.E)

    def neg(self, a: Any) -> Any:
        return -a

    def binary(self, op: str, a: Any, b: Any) -> Any:
        return _power(self.sp, a, b) if op == "**" else OPERATORS[op](a, b)

    def call(self, call: Any, args: list[Any]) -> Any:
        sp, name, target, params = self.sp, call.name, call.target, call.params
        if target == "math" and name in self.math_ops:
            return self.math_ops[name](*args)
        if target == "math" and name in ("min", "max") and len(args) == 2:
            return (sp.Min if name == "min" else sp.Max)(*args)
        if target == "math" and name == "clamp" and len(args) == 1:
            low, high = params.get("min"), params.get("max")
            out = args[0] if low is None else sp.Max(args[0], low)
            return out if high is None else sp.Min(out, high)
        if call.spec is not None and call.spec.elementwise:
            form = _sympy_activation(sp, call.spec, args[0], params)
            if form is None:
                raise _NoFormula(f"--symbolic: no closed form for {name} here")
            return form
        raise _NoFormula(f"--symbolic: {name} works on whole vectors; no scalar formula")


def _symbolic(program: Program, wrt: tuple[str, ...]) -> tuple[dict, list]:
    import sympy as sp

    symbols = {name: sp.Symbol(name, real=True) for name in program.variables}
    math_ops = {
        "exp": sp.exp,
        "log": sp.log,
        "log1p": lambda a: sp.log(1 + a),
        "expm1": lambda a: sp.exp(a) - 1,
        "sqrt": sp.sqrt,
        "abs": sp.Abs,
        "sin": sp.sin,
        "cos": sp.cos,
        "tan": sp.tan,
        "erf": sp.erf,
        "maximum": sp.Max,
        "minimum": sp.Min,
    }
    try:
        expression = run(program, _Sympy(sp, symbols, math_ops))
    except _NoFormula as why:
        return {}, [str(why)]
    formulas = {}
    for name in wrt:
        symbol = symbols.get(name)
        formulas[name] = "0" if symbol is None else str(sp.diff(expression, symbol))
    return formulas, []
