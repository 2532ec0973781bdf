"""Property values that are expressions, as Neural Network Console writes them.

Inside a unit network a property may name the unit's arguments (``*Maps``, ``Maps*2``,
``*UnitProperty(Size)``), and any layer may read its input's shape (``Input[0]*2``,
``Input[1],Input[2]``; ``Input`` alone is the whole shape). Grammar (spaces ignored)::

    value := '*' NAME | '*UnitProperty(' NAME ')' | item (',' item)*
    item  := sum ;  sum := term (('+'|'-') term)* ;  term := unary (('*'|'/') unary)*
    unary := '-' unary | atom ;  atom := NUMBER | NAME | 'Input' ('[' INT ']')? | '(' sum ')'

Arguments are put in when a unit is expanded (``substitute``); ``Input`` is read when the
layer's input shape is known (``evaluate``). Division is exact: a whole-number property whose
expression does not come out whole is an error naming the expression and its value.
"""
from __future__ import annotations

import re
from fractions import Fraction

_TOKEN = re.compile(r"\s*(?:(\d+\.\d*|\.\d+|\d+(?:[eE][-+]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)"
                    r"|(\S))")
INPUT = "Input"
MAX_LENGTH = 400


class ExpressionError(ValueError):
    """An expression that cannot be read or evaluated; the message is for the user."""


def looks_like_expression(text: str) -> bool:
    """Text meant as an expression rather than a mistyped value: ``*Arg``, anything reading
    ``Input``, or arithmetic on names (a bare name such as ``x`` is a typo, not a reference:
    an argument's whole value is ``*x``)."""
    stripped = text.strip()
    if stripped.startswith("*") or re.search(r"\bInput\b", stripped):
        return True
    return bool(re.search(r"[A-Za-z_]", stripped)) and bool(re.search(r"[-+*/()]", stripped))


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            break
        number, name, symbol = m.groups()
        if number is not None:
            out.append(("num", number))
        elif name is not None:
            out.append(("name", name))
        elif symbol in "+-*/(),[]":
            out.append(("sym", symbol))
        else:
            raise ExpressionError(f"{text!r} is not a valid expression ({symbol!r} is not "
                                  "allowed)")
        pos = m.end()
    return out


class _Parser:
    """Recursive descent over the tokens; each node is a tuple (kind, ...)."""

    def __init__(self, text: str):
        if len(text) > MAX_LENGTH:
            raise ExpressionError(f"an expression is at most {MAX_LENGTH} characters")
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def fail(self, why: str) -> ExpressionError:
        return ExpressionError(f"{self.text.strip()!r} is not a valid expression ({why})")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, symbol: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            last = self.tokens[-1][1] if self.tokens else ""
            raise self.fail(f"ends after {last!r}" if last else "it is empty")
        if symbol is not None and token != ("sym", symbol):
            raise self.fail(f"{symbol!r} expected, not {token[1]!r}")
        self.i += 1
        return token

    def value(self):
        if self.peek() == ("sym", "*"):
            self.take()
            kind, name = self.take()
            if kind != "name":
                raise self.fail(f"a name must follow '*', not {name!r}")
            if name == "UnitProperty":
                self.take("(")
                kind, name = self.take()
                if kind != "name":
                    raise self.fail("*UnitProperty( must name an argument")
                self.take(")")
            if self.peek() is not None:
                raise self.fail(f"nothing may follow *{name}")
            return ("arg", name)
        items = [self.sum()]
        while self.peek() == ("sym", ","):
            self.take()
            items.append(self.sum())
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r}")
        return ("list", items)

    def sum(self):
        node = self.term()
        while self.peek() in (("sym", "+"), ("sym", "-")):
            node = (self.take()[1], node, self.term())
        return node

    def term(self):
        node = self.unary()
        while self.peek() in (("sym", "*"), ("sym", "/")):
            node = (self.take()[1], node, self.unary())
        return node

    def unary(self):
        if self.peek() == ("sym", "-"):
            self.take()
            return ("neg", self.unary())
        return self.atom()

    def atom(self):
        kind, text = self.take()
        if kind == "num":
            return ("num", Fraction(text))
        if kind == "name" and text == INPUT:
            if self.peek() == ("sym", "["):
                self.take()
                kind, index = self.take()
                if kind != "num" or not index.isdigit():
                    raise self.fail("Input[...] takes a whole number")
                self.take("]")
                return ("input", int(index))
            return ("shape",)
        if kind == "name":
            return ("name", text)
        if text == "(":
            node = self.sum()
            self.take(")")
            return node
        raise self.fail(f"unexpected {text!r}")


def parse(text: str):
    """The expression's tree; ExpressionError says what is wrong with the text."""
    return _Parser(text).value()


def names(text: str) -> set[str]:
    """The argument names an expression uses."""
    found: set[str] = set()

    def walk(node):
        if node[0] in ("arg", "name"):
            found.add(node[1])
        for child in node[1:]:
            if isinstance(child, tuple):
                walk(child)
            elif isinstance(child, list):
                for item in child:
                    walk(item)
    walk(parse(text))
    return found


def uses_input(text: str) -> bool:
    return any(kind in ("input", "shape") for kind, in _kinds(parse(text)))


def _kinds(node):
    yield (node[0],)
    for child in node[1:]:
        if isinstance(child, tuple):
            yield from _kinds(child)
        elif isinstance(child, list):
            for item in child:
                yield from _kinds(item)


def substitute(text: str, values: dict[str, str]) -> str:
    """``text`` with each argument replaced by its value (a ``*Arg`` by the value's text, a
    bare name by the value in parentheses); ExpressionError names an unknown argument."""
    tree = parse(text)
    missing = sorted(names(text) - set(values))
    if missing:
        raise ExpressionError(f"{text.strip()!r} names {missing[0]!r}, which is not an "
                              "argument of this unit")
    if tree[0] == "arg":
        return values[tree[1]]
    out = []
    for kind, token in _tokens(text):
        out.append(f"({values[token]})" if kind == "name" and token in values else token)
    return "".join(out)


def evaluate(text: str, shape: tuple[int, ...] | None) -> list:
    """The values of an expression without arguments, ``Input`` read from ``shape`` (the
    layer's first input): a list of numbers (Fractions)."""
    tree = parse(text)
    if tree[0] == "arg":
        raise ExpressionError(f"{text.strip()!r} names argument {tree[1]!r}, but the layer is "
                              "not inside a unit that gives it")
    out = []
    for item in tree[1]:
        if item == ("shape",):
            out += [Fraction(d) for d in _shape(text, shape)]
        else:
            out.append(_value(item, text, shape))
    return out


def _shape(text: str, shape):
    if shape is None:
        raise ExpressionError(f"{text.strip()!r} reads Input, but the layer has no input")
    return shape


def _value(node, text: str, shape) -> Fraction:
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "input":
        dims = _shape(text, shape)
        if node[1] >= len(dims):
            raise ExpressionError(
                f"Input[{node[1]}] does not exist: the input is "
                f"{'×'.join(map(str, dims))} (indices 0..{len(dims) - 1})")
        return Fraction(dims[node[1]])
    if kind == "name":
        raise ExpressionError(f"{text.strip()!r} names {node[1]!r}, which is not an argument "
                              "of a unit this layer is in")
    if kind == "shape":
        raise ExpressionError(f"{text.strip()!r}: Input without an index is a whole shape and "
                              "cannot be computed with")
    if kind == "neg":
        return -_value(node[1], text, shape)
    a, b = _value(node[1], text, shape), _value(node[2], text, shape)
    if kind == "+":
        return a + b
    if kind == "-":
        return a - b
    if kind == "*":
        return a * b
    if b == 0:
        raise ExpressionError(f"{text.strip()!r} divides by zero")
    return a / b


def described(values: list) -> str:
    """Values for a message: ``21.33``."""
    return ",".join(f"{float(v):.4g}" for v in values)


def as_text(values: list) -> str:
    """Evaluated values as a property's text: ``3``, ``1.5`` or ``3,3``."""
    def one(v: Fraction) -> str:
        return str(v.numerator) if v.denominator == 1 else repr(float(v))
    return ",".join(one(v) for v in values)
