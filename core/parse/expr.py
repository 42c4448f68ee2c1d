"""Safe math expressions: an own tokenizer and an iterative precedence-climbing parser.

The grammar: numbers, variables, + - * / ** ^ (power), unary signs, parentheses, calls of
whitelisted functions (every registry function, math functions, reductions) with keyword
arguments for their parameters, and the constants pi and e. There is no attribute access,
subscript, string, lambda or comprehension: such text is refused by the tokenizer or parser.
Every limit is checked before any work, and the result is a :class:`Program` (a flat list in
postfix order, evaluated by :mod:`engine`), so neither parsing nor evaluation recurses. No torch.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..cost import broadcast_numel, broadcast_shape
from ..errors import BadInput, TooLarge
from ..functions import registry
from ..program import Call, Program
from ..words import counted
from .inputs import parse_number
from .options import resolve_params

MAX_LENGTH = 1000  # characters
MAX_DEPTH = 64  # nested parentheses and calls
MAX_NODES = 500  # numbers, variables, operators and calls
MAX_LITERAL = 64  # characters in one number or name
MAX_EXPONENT = 1024  # |constant exponent|
MAX_VARIABLES = 16

CONSTANTS = {"pi": math.pi, "e": math.e}
UNARY = ("exp", "log", "log1p", "expm1", "sqrt", "abs", "sin", "cos", "tan", "erf")
BINARY = ("maximum", "minimum")
REDUCTIONS = ("sum", "mean", "norm")
MATH = (*UNARY, *BINARY, *REDUCTIONS, "min", "max", "clamp")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
PRECEDENCE = {"+": (1, False), "-": (1, False), "*": (2, False), "/": (2, False), "**": (4, True)}
# torch tensors and sympy expressions both implement these (tensor ** tensor is torch.pow)
OPERATORS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}
UNARY_PRECEDENCE = 3  # -x**2 is -(x**2), 2**-1 is 2**(-1)


class ExprError(BadInput):
    """An expression error that points at a column of the expression."""

    code = "bad_expression"

    def __init__(self, message: str, hint: str, text: str = "", column: int | None = None):
        super().__init__(message, hint)
        self.text = text
        self.column = column
        self.unknown = ""  # a variable no value was given for

    def caret(self) -> str:
        """The expression and a caret under the offending column (for a terminal)."""
        if self.column is None or not self.text or len(self.text) > 200:
            return ""
        return f"  {self.text}\n  {' ' * self.column}^"


@dataclass(frozen=True)
class Token:
    kind: str  # "num", "name", "op"
    text: str
    pos: int
    value: float = 0.0


def _fail(text: str, pos: int, message: str, hint: str) -> ExprError:
    return ExprError(f"{message} at column {pos + 1}", hint, text, pos)


_REFUSED = {
    ".": ("attribute access is not part of the grammar", "call a function, e.g. tanh(x)"),
    "[": ("subscripts are not part of the grammar", "use a function of the whole variable"),
    "]": ("subscripts are not part of the grammar", "use a function of the whole variable"),
    "'": ("strings are not part of the grammar", "keyword values are numbers or names"),
    '"': ("strings are not part of the grammar", "keyword values are numbers or names"),
    ";": ("one expression only", "remove ';' and what follows"),
    ":": ("':' is not part of the grammar", "no assignments or slices; use --var NAME=VALUES"),
}


def _check_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ExprError("empty expression", 'write one, e.g. "x*sigmoid(x)"')
    if len(text) > MAX_LENGTH:
        raise ExprError(
            f"expression is {len(text):,} characters long, over the limit of {MAX_LENGTH:,}",
            "shorten it",
        )
    for pos, ch in enumerate(text):
        if not 32 <= ord(ch) < 127:
            raise _fail(
                text,
                pos,
                f"character U+{ord(ch):04X} is not allowed",
                "expressions are printable ASCII: letters, digits, + - * / ^ ( ) , = and spaces",
            )


def _number(text: str, pos: int, number: re.Match) -> Token:
    literal = number.group()
    if len(literal) > MAX_LITERAL:
        raise _fail(
            text,
            pos,
            f"number longer than {MAX_LITERAL} characters",
            "float64 needs at most 17 significant digits",
        )
    end = number.end()
    if end < len(text) and (text[end].isalnum() or text[end] in "_."):
        raise _fail(text, end, "missing operator after a number", "e.g. 2*x, not 2x")
    try:
        value = parse_number(literal, "the expression")
    except BadInput as exc:
        raise _fail(text, pos, exc.message, exc.hint) from None
    return Token("num", literal, pos, value)


def _token(text: str, pos: int) -> Token:
    """The token at ``pos`` (not a space)."""
    number = NUMBER.match(text, pos)
    if number:
        return _number(text, pos, number)
    name = NAME.match(text, pos)
    if name:
        if len(name.group()) > MAX_LITERAL:
            raise _fail(text, pos, f"name longer than {MAX_LITERAL} characters", "shorten it")
        return Token("name", name.group(), pos)
    if text.startswith("**", pos):
        return Token("op", "**", pos)
    ch = text[pos]
    if ch in "+-*/^(),=":
        return Token("op", "**" if ch == "^" else ch, pos)
    message, hint = _REFUSED.get(
        ch, (f"unexpected character '{ch}'", "operators are + - * / ** ^ and parentheses")
    )
    raise _fail(text, pos, message, hint)


def tokenize(text: str) -> list[Token]:
    _check_text(text)
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos] == " ":
            pos += 1
            continue
        token = _token(text, pos)
        tokens.append(token)
        pos += 1 if token.text == "**" and text[pos] == "^" else len(token.text)
    return tokens


def callable_names() -> dict[str, str | registry.FunctionSpec]:
    """Every callable name → what it is ("math" or the function's entry): an expression's
    edge, where a name becomes what travels."""
    names: dict[str, str | registry.FunctionSpec] = {name: "math" for name in MATH}
    for spec in registry.specs():
        for alias in (spec.name, *spec.aliases):
            if NAME.fullmatch(alias):
                names.setdefault(alias, spec)
    return names


class _Parser:
    """Shunting-yard over tokens, iteratively, with call frames: ``out`` is postfix items,
    ``ops`` the pending ("bin", op, pos) | ("neg", pos) | ("(", pos) | ("call", frame)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.functions = callable_names()
        self.out: list[tuple] = []
        self.ops: list[tuple] = []
        self.expect_operand = True
        self.depth = 0

    def run(self) -> list[tuple]:
        i = 0
        while i < len(self.tokens):
            tok = self.tokens[i]
            i = self.operand(tok, i) if self.expect_operand else self.operator(tok, i)
            if len(self.out) + len(self.ops) > MAX_NODES:
                raise _fail(self.text, tok.pos, f"more than {MAX_NODES} nodes", "simplify it")
        return self.finish()

    def _deeper(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _fail(self.text, pos, f"nesting deeper than {MAX_DEPTH}", "simplify")

    def operand(self, tok: Token, i: int) -> int:
        """Where a number, a name, a call, '(' or a sign is expected; the next index."""
        if tok.kind == "num":
            self.out.append(("num", tok.value, tok.pos))
            self.expect_operand = False
        elif tok.kind == "name":
            nxt = self.tokens[i + 1] if i + 1 < len(self.tokens) else None
            if nxt is not None and nxt.text == "(":
                return self.call(tok, i)
            if tok.text in self.functions and tok.text not in CONSTANTS:
                hint = f"call it, e.g. {tok.text}(x)"
                raise _fail(self.text, tok.pos, f"'{tok.text}' is a function", hint)
            self.out.append(("name", tok.text, tok.pos))
            self.expect_operand = False
        elif tok.text == "(":
            self._deeper(tok.pos)
            self.ops.append(("(", tok.pos))
        elif tok.text == "-":
            self.ops.append(("neg", tok.pos))
        elif tok.text != "+":
            what = f"expected a number, name or '(' before '{tok.text}'"
            raise _fail(self.text, tok.pos, what, "complete the expression")
        return i + 1

    def call(self, tok: Token, i: int) -> int:
        """``name(`` at tokens[i]: a call frame, and a keyword argument if one comes first."""
        if tok.text not in self.functions:
            raise _unknown(self.text, tok, self.functions, call=True)
        self._deeper(tok.pos)
        frame = {"name": tok.text, "pos": tok.pos, "args": 0, "kwargs": {}}
        self.ops.append(("call", frame))
        i += 2
        if i < len(self.tokens) and self.tokens[i].text == ")":
            what, hint = f"{tok.text}() needs an argument", f"e.g. {tok.text}(x)"
            raise _fail(self.text, self.tokens[i].pos, what, hint)
        i, handled = _keyword(self.text, self.tokens, i, frame)
        if handled:
            self.expect_operand = False
        return i

    def operator(self, tok: Token, i: int) -> int:
        """Where an operator, ',' or ')' is expected; the next index."""
        if tok.kind != "op" or tok.text in "(=":
            what = "a call of a call" if tok.text == "(" else f"'{tok.text}'"
            hint = "only named functions can be called; join terms with + - * /"
            raise _fail(self.text, tok.pos, f"expected an operator, found {what}", hint)
        if tok.text in PRECEDENCE:
            self.binary(tok)
        elif tok.text == ",":
            top = self._open(tok, "a stray ',' outside a function call", "remove it")
            if top[0] != "call":
                raise _fail(self.text, tok.pos, "a stray ',' outside a function call", "remove it")
            top[1]["args"] += 1
            i, handled = _keyword(self.text, self.tokens, i + 1, top[1])
            self.expect_operand = not handled
            return i
        else:
            self.close(tok)
        return i + 1

    def binary(self, tok: Token) -> None:
        prec, right = PRECEDENCE[tok.text]
        ops = self.ops
        while ops and ops[-1][0] in ("bin", "neg"):
            top = UNARY_PRECEDENCE if ops[-1][0] == "neg" else PRECEDENCE[ops[-1][1]][0]
            if top < prec or (top == prec and right):
                break
            self.out.append(ops.pop())
        ops.append(("bin", tok.text, tok.pos))
        self.expect_operand = True

    def _open(self, tok: Token, problem: str, hint: str) -> tuple:
        """Pending operators out, down to the innermost '(' or call (which stays)."""
        while self.ops and self.ops[-1][0] not in ("(", "call"):
            self.out.append(self.ops.pop())
        if not self.ops:
            raise _fail(self.text, tok.pos, problem, hint)
        return self.ops[-1]

    def close(self, tok: Token) -> None:
        top = self._open(tok, "unmatched ')'", "remove it or add '('")
        self.ops.pop()
        self.depth -= 1
        if top[0] == "call":
            frame = top[1]
            frame["args"] += 1
            positional = frame["args"] - len(frame["kwargs"])
            kwargs = tuple(frame["kwargs"].items())
            self.out.append(("call", frame["name"], positional, kwargs, frame["pos"]))

    def finish(self) -> list[tuple]:
        if self.expect_operand:
            at = len(self.text) - 1 if self.text else 0
            raise _fail(self.text, at, "the expression ends too early", "complete it")
        while self.ops:
            top = self.ops.pop()
            if top[0] in ("(", "call"):
                pos = top[1] if top[0] == "(" else top[1]["pos"]
                raise _fail(self.text, pos, "unclosed '('", "add ')'")
            self.out.append(top)
        return self.out


def parse(text: str) -> list[tuple]:
    """Tokens → postfix items, iteratively (shunting-yard with call frames)."""
    return _Parser(text).run()


def _keyword(text: str, tokens: list[Token], i: int, frame: dict) -> tuple[int, bool]:
    """Parse ``name=value`` at tokens[i] inside a call; value is a signed number or a name.

    Returns the next index and whether a keyword was consumed (then a ',' or ')' follows)."""
    if not (i + 1 < len(tokens) and tokens[i].kind == "name" and tokens[i + 1].text == "="):
        if frame["kwargs"] and i < len(tokens) and tokens[i].text not in (")",):
            raise _fail(
                text,
                tokens[i].pos if i < len(tokens) else len(text) - 1,
                "positional argument after a keyword argument",
                "give positional arguments first",
            )
        return i, False
    key = tokens[i].text
    value, j = _keyword_value(text, tokens, i + 2, key)
    if key in frame["kwargs"]:
        raise _fail(text, tokens[i].pos, f"keyword {key} given twice", "give it once")
    frame["kwargs"][key] = (value, tokens[i].pos)
    j += 1
    if j < len(tokens) and tokens[j].text not in (",", ")"):
        raise _fail(
            text,
            tokens[j].pos,
            "expected ',' or ')' after a keyword argument",
            "keyword values are single numbers or names",
        )
    return j, True


def _keyword_value(text: str, tokens: list[Token], j: int, key: str) -> tuple[Any, int]:
    """(a keyword's value: a signed number or a name, the index of its token) at tokens[j]."""
    sign = 1.0
    if j < len(tokens) and tokens[j].text in "+-" and tokens[j].kind == "op":
        sign = -1.0 if tokens[j].text == "-" else 1.0
        j += 1
    if j >= len(tokens) or tokens[j].kind not in ("num", "name"):
        pos = tokens[j].pos if j < len(tokens) else len(text) - 1
        raise _fail(text, pos, f"keyword {key}= needs a number or a name", f"e.g. {key}=0.2")
    value: Any = sign * tokens[j].value if tokens[j].kind == "num" else tokens[j].text
    if isinstance(value, str) and sign < 0:
        raise _fail(text, tokens[j].pos, "a sign before a name keyword value", "remove it")
    return value, j


def _unknown(text: str, tok: Token, known: Mapping[str, Any], call: bool) -> ExprError:
    """An unknown function, or a variable no value was given for (``unknown`` names it, for
    a front end to say how values are given there: --var on the command line, NAME = VALUES
    in the REPL, only x in a plot)."""
    import difflib

    close = difflib.get_close_matches(tok.text, list(known), n=1)
    hint = (
        f"did you mean '{close[0]}'?"
        if close
        else (
            "run 'actgrad list' for functions" if call else f"give it with --var {tok.text}=VALUES"
        )
    )
    what = "function" if call else "name"
    error = _fail(text, tok.pos, f"unknown {what} '{tok.text}'", hint)
    error.unknown = "" if call else tok.text
    return error


@dataclass
class _Info:
    shape: tuple[int, ...]
    const: float | None
    elementwise: bool
    uses: frozenset[str]


def _broadcast(text: str, pos: int, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    shape = broadcast_shape([a, b])
    if shape is None:
        raise _fail(
            text,
            pos,
            f"shapes {list(a)} and {list(b)} do not broadcast",
            "give variables of equal length (or a single number)",
        )
    return shape


def _fold(op: str, a: float, b: float) -> float:
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b if b else (math.copysign(math.inf, a) if a else math.nan)
        return math.pow(a, b)
    except (OverflowError, ValueError, ZeroDivisionError):
        return math.inf


def _spec_params(text: str, pos: int, spec: registry.FunctionSpec, kwargs: tuple) -> dict:
    raw = {}
    for key, (value, kpos) in kwargs:
        if key not in spec.param_names:
            raise _fail(
                text,
                kpos,
                f"{spec.name} has no parameter '{key}'",
                f"its parameters: {', '.join(spec.param_names) or 'none'}",
            )
        if spec.param(key).kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)  # dim=0 is written as a number, which the parser reads as a float
        raw[key] = value
    try:
        return resolve_params(spec, raw)
    except BadInput as exc:
        raise _fail(text, pos, exc.message, exc.hint) from None
    except Exception as exc:  # BadParameter and friends carry message and hint
        raise _fail(
            text, pos, getattr(exc, "message", str(exc)), getattr(exc, "hint", "")
        ) from None


def compile_expression(
    text: str, shapes: Mapping[str, tuple[int, ...]], max_elements: int
) -> Program:
    """Parse and check ``text`` against the variables' shapes: names, arity, keywords,
    constant exponents and every intermediate's element count, before any evaluation."""
    items = parse(text)
    functions = callable_names()
    stack: list[_Info] = []
    steps: list[tuple] = []
    order: list[str] = []
    sizes: list[int] = []  # elements of every intermediate, for the cost model
    for item in items:
        kind = item[0]
        if kind == "num":
            stack.append(_Info((), item[1], True, frozenset()))
            steps.append(("num", item[1]))
        elif kind == "name":
            name, pos = item[1], item[2]
            if name in shapes:
                stack.append(_Info(shapes[name], None, True, frozenset([name])))
                if name not in order:
                    order.append(name)
            elif name in CONSTANTS:
                stack.append(_Info((), CONSTANTS[name], True, frozenset()))
            else:
                known = {**dict.fromkeys(shapes), **CONSTANTS, **functions}
                raise _unknown(text, Token("name", name, pos), known, call=False)
            steps.append(("name", name))
        elif kind == "neg":
            top = stack[-1]
            stack[-1] = _Info(
                top.shape, None if top.const is None else -top.const, top.elementwise, top.uses
            )
            steps.append(("neg",))
        elif kind == "bin":
            op, pos = item[1], item[2]
            b, a = stack.pop(), stack.pop()
            if op == "**" and b.const is not None and not abs(b.const) <= MAX_EXPONENT:
                raise _fail(
                    text,
                    pos,
                    f"constant exponent {b.const:g} is over the limit of {MAX_EXPONENT}",
                    "use a smaller power",
                )
            shape = _broadcast(text, pos, a.shape, b.shape)
            _cap(text, pos, shape, max_elements)
            sizes.append(math.prod(shape))
            const = None if a.const is None or b.const is None else _fold(op, a.const, b.const)
            stack.append(_Info(shape, const, a.elementwise and b.elementwise, a.uses | b.uses))
            steps.append(("bin", op))
        else:
            _, name, nargs, kwargs, pos = item
            args = stack[len(stack) - nargs :]
            del stack[len(stack) - nargs :]
            info, call = _call_info(text, pos, name, functions[name], args, kwargs)
            _cap(text, pos, info.shape, max_elements)
            sizes.append(math.prod(info.shape))
            if call.args:  # a loss broadcasts its inputs together inside, whatever it returns
                inner = broadcast_numel([a.shape for a in args])
                _cap(text, pos, (inner,), max_elements)
                sizes.append(inner)
            stack.append(info)
            steps.append(("call", call, nargs))
    result = stack.pop()
    return Program(
        tuple(steps),
        tuple(order),
        result.elementwise,
        result.shape,
        text,
        sum(sizes) + math.prod(result.shape),
        max(sizes, default=math.prod(result.shape)),
    )


def _cap(text: str, pos: int, shape: tuple[int, ...], max_elements: int) -> None:
    count = math.prod(shape)
    if count > max_elements:
        raise TooLarge(
            f"the expression would make {count:,} elements at column {pos + 1}, over the cap "
            f"of {max_elements:,}",
            "use smaller variables, or raise --max-elements",
        )


@dataclass(frozen=True)
class _Site:
    """Where a call is in the expression, for its error messages."""

    text: str
    pos: int
    name: str

    def fail(self, problem: str, hint: str, pos: int | None = None) -> BadInput:
        return _fail(self.text, self.pos if pos is None else pos, problem, hint)

    def arity(self, args: list[_Info], low: int, high: int) -> None:
        if not low <= len(args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            got = f"{self.name}() takes {want} positional argument{'' if want == '1' else 's'}"
            got += f", got {len(args)}"
            raise self.fail(got, f"e.g. {self.name}(x)")

    def keywords(self, kwargs: tuple, allowed: tuple[str, ...] = ()) -> dict:
        out = {}
        for key, (value, kpos) in kwargs:
            if key not in allowed:
                hint = f"keywords: {', '.join(allowed) or 'none'}"
                raise self.fail(f"{self.name}() has no keyword '{key}'", hint, kpos)
            out[key] = value
        return out

    def broadcast(self, shapes: Iterable[tuple[int, ...]]) -> tuple[int, ...]:
        shape: tuple[int, ...] = ()
        for other in shapes:
            shape = _broadcast(self.text, self.pos, shape, other)
        return shape


def _math_call(site: _Site, args: list[_Info], kwargs: tuple, uses: frozenset) -> tuple:
    """(info, call) of exp, min, sum, norm, clamp, … (torch's own functions)."""
    name = site.name
    elementwise = all(a.elementwise for a in args)
    if name in UNARY or name in BINARY or (name in ("min", "max") and len(args) == 2):
        n = 1 if name in UNARY else 2
        site.arity(args, n, n)
        site.keywords(kwargs)
        shape = site.broadcast(a.shape for a in args)
        return _Info(shape, None, elementwise, uses), Call(name, "math")
    if name in ("min", "max", "sum", "mean", "norm"):
        site.arity(args, 1, 1)
        params = site.keywords(kwargs, ("ord",) if name == "norm" else ())
        if name == "norm":
            params["ord"] = params.get("ord", 2.0)
            if isinstance(params["ord"], str):
                if params["ord"] != "inf":
                    raise site.fail("ord= takes a number or inf", "e.g. norm(x, ord=1)")
                params["ord"] = math.inf
        return _Info((), None, False, uses), Call(name, "math", params)
    # clamp(x, min, max) with tensors, or clamp(x, min=a, max=b) with numbers
    site.arity(args, 1, 3)
    params = site.keywords(kwargs, ("min", "max"))
    if any(isinstance(v, str) for v in params.values()):
        raise site.fail("clamp's min= and max= are numbers", "e.g. clamp(x, min=0)")
    shape = site.broadcast(a.shape for a in args)
    return _Info(shape, None, elementwise, uses), Call(name, "math", params)


def _activation_call(
    site: _Site, spec: registry.FunctionSpec, args: list[_Info], kwargs: tuple, uses: frozenset
) -> tuple:
    """(info, call) of an activation: one argument; along a dim, its output's shape."""
    site.arity(args, 1, 1)
    shape = args[0].shape
    if not spec.pointwise:
        shape = shape or (1,)
        dim = dict(kwargs).get("dim", (-1, 0))[0]
        if isinstance(dim, float) and dim.is_integer() and not -len(shape) <= dim < len(shape):
            hint = (
                f"its input has {counted(len(shape), 'dim')}: use dim from {-len(shape)} to "
                f"{len(shape) - 1}"
            )
            raise site.fail(f"dim={int(dim)} is out of range for {site.name}'s input", hint)
    params = _spec_params(site.text, site.pos, spec, kwargs)
    if not spec.pointwise:
        dim = params.get("dim", -1)
        if spec.halves:
            if shape[dim] % 2:
                raise site.fail(f"{site.name} needs an even size along dim", "fix the input")
            shape = tuple(s // 2 if k == dim % len(shape) else s for k, s in enumerate(shape))
    elementwise = args[0].elementwise and spec.pointwise
    return _Info(shape, None, elementwise, uses), Call(site.name, spec.name, params, spec=spec)


def _loss_call(
    site: _Site, spec: registry.FunctionSpec, args: list[_Info], kwargs: tuple, uses: frozenset
) -> tuple:
    """(info, call) of a loss: its inputs positionally, in its entry's order."""
    required = [t for t in spec.inputs if t.required]
    if len(args) < len(required):
        missing = ", ".join(t.name for t in required[len(args) :])
        inputs = ", ".join(t.name for t in required)
        raise site.fail(
            f"{site.name}() needs {len(required)} inputs ({inputs}); missing: {missing}",
            f"e.g. {site.name}({inputs})",
        )
    site.arity(args, len(required), len(spec.inputs))
    params = _spec_params(site.text, site.pos, spec, kwargs)
    shape = site.broadcast(a.shape for a in args) if params.get("reduction") == "none" else ()
    names = tuple(t.name for t in spec.inputs[: len(args)])
    return _Info(shape, None, False, uses), Call(site.name, spec.name, params, names, spec=spec)


def _call_info(text, pos, name, spec, args: list[_Info], kwargs: tuple) -> tuple[_Info, Call]:
    site = _Site(text, pos, name)
    uses = frozenset().union(*(a.uses for a in args))
    if spec == "math":
        return _math_call(site, args, kwargs, uses)
    if spec.stochastic:
        raise site.fail(
            f"{name} draws random numbers, which expressions do not",
            f"use the command: actgrad {spec.command} … --seed N",
        )
    if not spec.reduces:
        return _activation_call(site, spec, args, kwargs, uses)
    return _loss_call(site, spec, args, kwargs, uses)
