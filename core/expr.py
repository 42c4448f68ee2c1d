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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actgrad.core import registry
from actgrad.core.cost import broadcast_numel, broadcast_shape
from actgrad.core.errors import BadInput, TooLarge
from actgrad.core.inputs import parse_number
from actgrad.core.options import resolve_params
from actgrad.core.program import Call, Program

MAX_LENGTH = 1000  # characters
MAX_DEPTH = 64  # nested parentheses and calls
MAX_NODES = 500  # numbers, variables, operators and calls
MAX_LITERAL = 64  # characters in one number or name
MAX_EXPONENT = 1024  # |constant exponent|
MAX_VARIABLES = 16
LIMITS = {
    "length": MAX_LENGTH,
    "depth": MAX_DEPTH,
    "nodes": MAX_NODES,
    "literal": MAX_LITERAL,
    "exponent": MAX_EXPONENT,
    "variables": MAX_VARIABLES,
}

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


def tokenize(text: str) -> list[Token]:
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
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == " ":
            pos += 1
            continue
        number = NUMBER.match(text, pos)
        if number:
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
            tokens.append(Token("num", literal, pos, value))
            pos = end
            continue
        name = NAME.match(text, pos)
        if name:
            word = name.group()
            if len(word) > MAX_LITERAL:
                raise _fail(text, pos, f"name longer than {MAX_LITERAL} characters", "shorten it")
            tokens.append(Token("name", word, pos))
            pos = name.end()
            continue
        if text.startswith("**", pos):
            tokens.append(Token("op", "**", pos))
            pos += 2
            continue
        if ch in "+-*/^(),=":
            tokens.append(Token("op", "**" if ch == "^" else ch, pos))
            pos += 1
            continue
        message, hint = _REFUSED.get(
            ch, (f"unexpected character '{ch}'", "operators are + - * / ** ^ and parentheses")
        )
        raise _fail(text, pos, message, hint)
    return tokens


def callable_names() -> dict[str, str]:
    """Every callable name → what it is ("math" or a registry name)."""
    names = {name: "math" for name in MATH}
    for spec in registry.specs():
        for alias in (spec.name, *spec.aliases):
            if NAME.fullmatch(alias):
                names.setdefault(alias, spec.name)
    return names


def parse(text: str) -> list[tuple]:
    """Tokens → postfix items, iteratively (shunting-yard with call frames)."""
    tokens = tokenize(text)
    functions = callable_names()
    out: list[tuple] = []
    ops: list[tuple] = []  # ("bin", op, pos) | ("neg", pos) | ("(", pos) | ("call", frame)
    expect_operand = True
    depth = 0
    i = 0

    def pop_until_open() -> tuple:
        while ops and ops[-1][0] not in ("(", "call"):
            out.append(ops.pop())
        if not ops:
            raise _fail(text, tok.pos, "unmatched ')'", "remove it or add '('")
        return ops[-1]

    while i < len(tokens):
        tok = tokens[i]
        if expect_operand:
            if tok.kind == "num":
                out.append(("num", tok.value, tok.pos))
                expect_operand = False
            elif tok.kind == "name":
                nxt = tokens[i + 1] if i + 1 < len(tokens) else None
                if nxt is not None and nxt.text == "(":
                    if tok.text not in functions:
                        raise _unknown(text, tok, functions, call=True)
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise _fail(text, tok.pos, f"nesting deeper than {MAX_DEPTH}", "simplify")
                    frame = {"name": tok.text, "pos": tok.pos, "args": 0, "kwargs": {}}
                    ops.append(("call", frame))
                    i += 2
                    if i < len(tokens) and tokens[i].text == ")":
                        raise _fail(
                            text,
                            tokens[i].pos,
                            f"{tok.text}() needs an argument",
                            f"e.g. {tok.text}(x)",
                        )
                    i, handled = _keyword(text, tokens, i, frame)
                    if handled:
                        expect_operand = False
                    continue
                if tok.text in functions and tok.text not in CONSTANTS:
                    raise _fail(
                        text, tok.pos, f"'{tok.text}' is a function", f"call it, e.g. {tok.text}(x)"
                    )
                out.append(("name", tok.text, tok.pos))
                expect_operand = False
            elif tok.text == "(":
                depth += 1
                if depth > MAX_DEPTH:
                    raise _fail(text, tok.pos, f"nesting deeper than {MAX_DEPTH}", "simplify")
                ops.append(("(", tok.pos))
            elif tok.text in "+-":
                if tok.text == "-":
                    ops.append(("neg", tok.pos))
            else:
                raise _fail(
                    text,
                    tok.pos,
                    f"expected a number, name or '(' before '{tok.text}'",
                    "complete the expression",
                )
        else:
            if tok.kind != "op" or tok.text in "(=":
                what = "a call of a call" if tok.text == "(" else f"'{tok.text}'"
                hint = "only named functions can be called; join terms with + - * /"
                raise _fail(text, tok.pos, f"expected an operator, found {what}", hint)
            if tok.text in PRECEDENCE:
                prec, right = PRECEDENCE[tok.text]
                while ops and ops[-1][0] in ("bin", "neg"):
                    top_prec = (
                        UNARY_PRECEDENCE if ops[-1][0] == "neg" else PRECEDENCE[ops[-1][1]][0]
                    )
                    if top_prec > prec or (top_prec == prec and not right):
                        out.append(ops.pop())
                    else:
                        break
                ops.append(("bin", tok.text, tok.pos))
                expect_operand = True
            elif tok.text == ",":
                top = pop_until_open()
                if top[0] != "call":
                    raise _fail(text, tok.pos, "',' outside a function call", "remove it")
                top[1]["args"] += 1
                i, handled = _keyword(text, tokens, i + 1, top[1])
                expect_operand = not handled
                continue
            else:  # ")"
                top = pop_until_open()
                ops.pop()
                depth -= 1
                if top[0] == "call":
                    frame = top[1]
                    frame["args"] += 1
                    out.append(
                        (
                            "call",
                            frame["name"],
                            frame["args"] - len(frame["kwargs"]),
                            tuple(frame["kwargs"].items()),
                            frame["pos"],
                        )
                    )
        if len(out) + len(ops) > MAX_NODES:
            raise _fail(text, tok.pos, f"more than {MAX_NODES} nodes", "simplify the expression")
        i += 1
    if expect_operand:
        raise _fail(
            text, len(text) - 1 if text else 0, "the expression ends too early", "complete it"
        )
    while ops:
        top = ops.pop()
        if top[0] in ("(", "call"):
            pos = top[1] if top[0] == "(" else top[1]["pos"]
            raise _fail(text, pos, "unclosed '('", "add ')'")
        out.append(top)
    return out


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
    j = i + 2
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


def _unknown(text: str, tok: Token, known: Mapping[str, Any], call: bool) -> ExprError:
    import difflib

    close = difflib.get_close_matches(tok.text, list(known), n=1)
    hint = (
        f"did you mean '{close[0]}'?"
        if close
        else ("run 'actgrad list' for functions" if call else "give it with --var NAME=VALUES")
    )
    what = "function" if call else "name"
    return _fail(text, tok.pos, f"unknown {what} '{tok.text}'", hint)


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


def _call_info(text, pos, name, target, args: list[_Info], kwargs: tuple) -> tuple[_Info, Call]:
    uses = frozenset().union(*(a.uses for a in args))
    elementwise = all(a.elementwise for a in args)

    def arity(low: int, high: int) -> None:
        if not low <= len(args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise _fail(
                text,
                pos,
                f"{name}() takes {want} positional argument(s), got {len(args)}",
                f"e.g. {name}(x)",
            )

    def no_kwargs(allowed: tuple[str, ...] = ()) -> dict:
        out = {}
        for key, (value, kpos) in kwargs:
            if key not in allowed:
                raise _fail(
                    text,
                    kpos,
                    f"{name}() has no keyword '{key}'",
                    f"keywords: {', '.join(allowed) or 'none'}",
                )
            out[key] = value
        return out

    if target == "math":
        if name in UNARY:
            arity(1, 1)
            no_kwargs()
            return _Info(args[0].shape, None, elementwise, uses), Call(name, "math")
        if name in BINARY or (name in ("min", "max") and len(args) == 2):
            arity(2, 2)
            no_kwargs()
            shape = _broadcast(text, pos, args[0].shape, args[1].shape)
            return _Info(shape, None, elementwise, uses), Call(name, "math")
        if name in ("min", "max", "sum", "mean"):
            arity(1, 1)
            no_kwargs()
            return _Info((), None, False, uses), Call(name, "math")
        if name == "norm":
            arity(1, 1)
            params = no_kwargs(("ord",))
            ord_value = params.get("ord", 2.0)
            if isinstance(ord_value, str):
                if ord_value != "inf":
                    raise _fail(text, pos, "ord= takes a number or inf", "e.g. norm(x, ord=1)")
                ord_value = math.inf
            return _Info((), None, False, uses), Call(name, "math", {"ord": ord_value})
        # clamp(x, min, max) with tensors, or clamp(x, min=a, max=b) with numbers
        arity(1, 3)
        params = no_kwargs(("min", "max"))
        if any(isinstance(v, str) for v in params.values()):
            raise _fail(text, pos, "clamp's min= and max= are numbers", "e.g. clamp(x, min=0)")
        shape = args[0].shape
        for other in args[1:]:
            shape = _broadcast(text, pos, shape, other.shape)
        return _Info(shape, None, elementwise, uses), Call(name, "math", params)
    spec = registry.get(target)
    if spec.stochastic:
        raise _fail(
            text,
            pos,
            f"{name} draws random numbers, which expressions do not",
            f"use the command: actgrad {spec.command} … --seed N",
        )
    if spec.kind == "activation":
        arity(1, 1)
        params = _spec_params(text, pos, spec, kwargs)
        shape = args[0].shape
        if not spec.pointwise:
            shape = shape or (1,)
            dim = params.get("dim", -1)
            if not -len(shape) <= dim < len(shape):
                raise _fail(
                    text, pos, f"dim={dim} is out of range for {name}", "use dim=-1 (the default)"
                )
            if spec.halves:
                if shape[dim] % 2:
                    raise _fail(text, pos, "glu needs an even size along dim", "fix the input")
                shape = tuple(s // 2 if k == dim % len(shape) else s for k, s in enumerate(shape))
        return (
            _Info(shape, None, elementwise and spec.pointwise, uses),
            Call(name, spec.name, params),
        )
    required = [t for t in spec.inputs if t.required]
    arity(len(required), len(spec.inputs))
    params = _spec_params(text, pos, spec, kwargs)
    shape: tuple[int, ...] = ()
    if params.get("reduction") == "none":
        for a in args:
            shape = _broadcast(text, pos, shape, a.shape)
    names = tuple(t.name for t in spec.inputs[: len(args)])
    return _Info(shape, None, False, uses), Call(name, spec.name, params, names)
