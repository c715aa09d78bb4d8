r"""A small, safe evaluator for the CEL subset that Inngest uses in function configuration.

Expressions appear in trigger ``expression`` fields, flow-control keys (``concurrency.key``,
``throttle.key``, ``rateLimit.key``, ``idempotency``, ``debounce.key``, ``singleton.key``),
``cancel[].if`` and the ``if`` of ``waitForEvent``. They are tokenised and parsed by hand into a
tree of immutable nodes and evaluated over that tree; nothing is handed to ``eval``.

Supported subset
----------------
* Variables: top-level names such as ``event`` and ``async``. A name that is not supplied
  evaluates to ``null``.
* Paths: ``event.data.a.b``, ``x["k"]``, ``x['k']``, ``x[0]``. A missing key or index, a
  negative index, or a step into something that is not a map or list gives ``null``.
* Literals: strings in single or double quotes with the escapes ``\\ \' \" \n \t \r``;
  integers; floats (``1.5``, ``1e3``); ``true``, ``false``, ``null``; lists ``[a, b]``.
* Operators, loosest first: ``||``; ``&&``; ``== != < <= > >= in``; ``+ -``; ``* / %``;
  unary ``!`` and ``-``; then ``.name``, ``[index]`` and function calls. Parentheses group.
* Functions: ``lowercase(x)``, ``uppercase(x)``, ``size(x)``, ``has(path)``.
* Not supported: method calls (``x.size()``), macros (``all``, ``exists``, ...), map
  literals, the ternary operator, unsigned or hex literals.

Semantics (lenient: evaluating never raises)
--------------------------------------------
* ``==``/``!=``: ints and floats compare by value (``1 == 1.0``); booleans are not numbers
  (``true == 1`` is false); lists and maps compare element by element; ``null == null``.
* ``< <= > >=``: numbers with numbers, strings with strings, booleans with booleans; any
  other pair (``null`` included) is false.
* ``&&``/``||`` short-circuit on truthiness and return a boolean; ``!x`` is ``not truthy(x)``,
  so ``!a == b`` means ``(!a) == b``. Truthiness is Python's: ``null``, ``false``, ``0``,
  ``""`` and empty lists and maps are false.
* ``+`` adds numbers and joins two strings or two lists; a string plus a number or boolean
  joins with the value's key form (``"a-" + 2`` and ``"a-" + 2.0`` are both ``"a-2"``).
  ``- * / %`` take numbers only; int ``/`` int truncates towards zero and ``%`` keeps the
  dividend's sign, as in CEL. Any other operand (``null`` included), division by zero or
  overflow gives ``null``.
* ``x in list`` is true when an element equals ``x``; ``k in map`` when a key equals ``k``;
  anything else is false.
* ``lowercase``/``uppercase`` give ``null`` for non-strings; ``size`` is the length of a
  string, list or map, else ``null``. ``has(path)`` is true when every step of the path
  exists; a key that is present with the value ``null`` counts as present. Its argument must
  be a path, and every function takes exactly one argument.

Compile errors are ExpressionError naming the problem and its 0-based character position.
Sources are limited to 4096 characters and 64 levels of nesting.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn, TypeAlias

from pagerunner.executor.errors import ExpressionError

__all__ = ["MAX_DEPTH", "MAX_SOURCE_LENGTH", "Expression", "compile_expression", "key_value"]

MAX_SOURCE_LENGTH: Final = 4096
MAX_DEPTH: Final = 64

_MISSING: Final = object()  # what a path step that does not exist resolves to
_Scope: TypeAlias = Mapping[str, Any]
_Binary: TypeAlias = Callable[[Any, Any], Any]

# --- values -------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _equals(a: Any, b: Any) -> bool:
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and bool(a == b)  # null and booleans only equal themselves
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_equals(a[k], b[k]) for k in a)
    if _is_list(a) and _is_list(b):
        return len(a) == len(b) and all(map(_equals, a, b))
    return isinstance(a, str) and isinstance(b, str) and a == b


def _ordering(compare: _Binary) -> _Binary:
    def apply(a: Any, b: Any) -> bool:
        numbers = _is_number(a) and _is_number(b)
        same = type(a) in (str, bool) and type(a) is type(b)
        return (numbers or same) and bool(compare(a, b))

    return apply


def _numeric(compute: _Binary) -> _Binary:
    def apply(a: Any, b: Any) -> Any:
        if not (_is_number(a) and _is_number(b)):
            return None
        try:
            return compute(a, b)
        except (ArithmeticError, ValueError):  # division by zero, overflow, fmod(inf, x)
            return None

    return apply


def _truncating_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def _divide(a: Any, b: Any) -> Any:  # CEL: int / int truncates towards zero
    return _truncating_div(a, b) if isinstance(a, int) and isinstance(b, int) else a / b


def _remainder(a: Any, b: Any) -> Any:  # CEL: the result takes the dividend's sign
    both_ints = isinstance(a, int) and isinstance(b, int)
    return a - b * _truncating_div(a, b) if both_ints else math.fmod(a, b)


def _add(a: Any, b: Any) -> Any:
    if _is_number(a) and _is_number(b):
        return _numeric(operator.add)(a, b)
    if isinstance(a, str) or isinstance(b, str):
        scalars = isinstance(a, str | int | float) and isinstance(b, str | int | float)
        return key_value(a) + key_value(b) if scalars else None
    return [*a, *b] if _is_list(a) and _is_list(b) else None


def _contains(item: Any, container: Any) -> bool:
    if isinstance(container, Mapping) or _is_list(container):
        return any(_equals(item, element) for element in container)
    return False


_OPERATIONS: Final[dict[str, Callable[..., Any]]] = {
    "==": _equals,
    "!=": lambda a, b: not _equals(a, b),
    "<": _ordering(operator.lt),
    "<=": _ordering(operator.le),
    ">": _ordering(operator.gt),
    ">=": _ordering(operator.ge),
    "in": _contains,
    "+": _add,
    "-": _numeric(operator.sub),
    "*": _numeric(operator.mul),
    "/": _numeric(_divide),
    "%": _numeric(_remainder),
    "!": lambda v: not bool(v),
    "negate": lambda v: -v if _is_number(v) else None,
    "list": lambda *items: list(items),
    "lowercase": lambda v: v.lower() if isinstance(v, str) else None,
    "uppercase": lambda v: v.upper() if isinstance(v, str) else None,
    "size": lambda v: len(v) if isinstance(v, str | list | tuple | Mapping) else None,
}
_FUNCTIONS: Final = frozenset({"lowercase", "uppercase", "size", "has"})


def _canonical(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, Mapping):
        return {key_value(k): _canonical(v) for k, v in value.items()}
    return [_canonical(v) for v in value] if _is_list(value) else str(value)


def key_value(value: Any) -> str:
    """Canonical text of an evaluated key, so that equal values give equal keys.

    Strings are returned as they are, ``None`` is ``""``, booleans are ``"true"``/``"false"``,
    integral floats print as ints (``1.0`` -> ``"1"``, as does ``1``), other floats as JSON
    (``"1.5"``, ``"NaN"``), and lists and maps as compact JSON with sorted keys and their
    floats normalised the same way.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    canonical = _canonical(value)
    if isinstance(canonical, int):
        return str(canonical)
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- syntax tree --------------------------------------------------------------------------


class _Node:
    __slots__ = ()
    pos: int

    def evaluate(self, scope: _Scope) -> Any:  # paths override resolve() instead
        value = self.resolve(scope)
        return None if value is _MISSING else value

    def resolve(self, scope: _Scope) -> Any:  # value nodes override evaluate() instead
        return self.evaluate(scope)

    def children(self) -> tuple[_Node, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class _Literal(_Node):
    value: Any
    pos: int

    def evaluate(self, scope: _Scope) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class _Name(_Node):
    name: str
    pos: int

    def resolve(self, scope: _Scope) -> Any:
        return scope.get(self.name, _MISSING)


@dataclass(frozen=True, slots=True)
class _Get(_Node):
    """``target.key`` (key is a string literal) or ``target[key]``."""

    target: _Node
    key: _Node
    pos: int

    def resolve(self, scope: _Scope) -> Any:
        obj, key = self.target.resolve(scope), self.key.evaluate(scope)
        if isinstance(obj, Mapping):
            try:
                return obj.get(key, _MISSING)
            except TypeError:  # unhashable key
                return _MISSING
        if _is_list(obj) and isinstance(key, int) and not isinstance(key, bool):
            return obj[key] if 0 <= key < len(obj) else _MISSING
        return _MISSING

    def children(self) -> tuple[_Node, ...]:
        return (self.target, self.key)


@dataclass(frozen=True, slots=True)
class _Apply(_Node):
    """An operator, function or list literal applied to already evaluated arguments."""

    op: str
    args: tuple[_Node, ...]
    pos: int

    def evaluate(self, scope: _Scope) -> Any:
        return _OPERATIONS[self.op](*(arg.evaluate(scope) for arg in self.args))

    def children(self) -> tuple[_Node, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class _Logical(_Node):
    op: str  # "&&" or "||"; chains are flattened into one node so they stay shallow
    args: tuple[_Node, ...]
    pos: int

    def evaluate(self, scope: _Scope) -> bool:
        results = (bool(arg.evaluate(scope)) for arg in self.args)
        return all(results) if self.op == "&&" else any(results)

    def children(self) -> tuple[_Node, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class _Has(_Node):
    path: _Node
    pos: int

    def evaluate(self, scope: _Scope) -> bool:
        return self.path.resolve(scope) is not _MISSING

    def children(self) -> tuple[_Node, ...]:
        return (self.path,)


# --- tokens -------------------------------------------------------------------------------

_TOKEN_RE: Final = re.compile(
    r"""(?P<space>[ \t\r\n]+)
      | (?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9_])
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>\|\||&&|==|!=|<=|>=|[-<>+*/%!()\[\].,])""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPE_RE: Final = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES: Final = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_HINTS: Final = {"=": "==", "&": "&&", "|": "||"}
_LITERALS: Final[dict[str, Any]] = {"true": True, "false": False, "null": None}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number", "string", "name", "op" or "end"
    text: str
    value: Any
    pos: int


def _fail(source: str, message: str, pos: int) -> NoReturn:
    shown = source
    if len(source) > 100:
        start, end = max(pos - 40, 0), pos + 40
        shown = ("..." if start else "") + source[start:end] + ("..." if end < len(source) else "")
    raise ExpressionError(f"{message} at position {pos} in {shown!r}")


def _unescape(source: str, pos: int, text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1) not in _ESCAPES:
            _fail(source, f"unknown escape sequence {match.group()!r}", pos + 1 + match.start())
        return _ESCAPES[match.group(1)]

    return _ESCAPE_RE.sub(replace, text[1:-1])


def _bad_character(source: str, pos: int) -> NoReturn:
    char = source[pos]
    if char in "'\"":
        _fail(source, "unterminated string", pos)
    if char.isdigit():
        number = re.match(r"[0-9A-Za-z_.]+", source[pos:])
        _fail(source, f"malformed number {number.group() if number else char!r}", pos)
    hint = f" (did you mean {_HINTS[char]!r}?)" if char in _HINTS else ""
    _fail(source, f"unexpected character {char!r}{hint}", pos)


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN_RE.match(source, pos)
        if match is None:
            _bad_character(source, pos)
        kind, text = match.lastgroup or "", match.group()
        if kind == "number":
            tokens.append(_Token(kind, text, int(text) if text.isdigit() else float(text), pos))
        elif kind == "string":
            tokens.append(_Token(kind, text, _unescape(source, pos, text), pos))
        elif kind != "space":
            tokens.append(_Token(kind, text, None, pos))
        pos = match.end()
    return [*tokens, _Token("end", "", None, len(source))]


# --- parser -------------------------------------------------------------------------------

_LOGICAL: Final = ("||", "&&")
_BINARY: Final = (("==", "!=", "<", "<=", ">", ">=", "in"), ("+", "-"), ("*", "/", "%"))


def _describe(token: _Token) -> str:
    return "end of expression" if token.kind == "end" else f"token {token.text!r}"


class _Parser:
    """Recursive descent with one level per precedence tier, loosest first."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._tokens = _tokenize(source)
        self._index = 0
        self._depth = 0

    def parse(self) -> _Node:
        if self._peek().kind == "end":
            self._fail("empty expression", 0)
        node = self._expression()
        if self._peek().kind != "end":
            self._fail(f"unexpected {_describe(self._peek())}", self._peek().pos)
        return node

    def _fail(self, message: str, pos: int) -> NoReturn:
        _fail(self._source, message, pos)

    def _peek(self) -> _Token:
        return self._tokens[self._index]

    def _next(self) -> _Token:
        token = self._tokens[self._index]
        self._index = min(self._index + 1, len(self._tokens) - 1)
        return token

    def _accept(self, *texts: str) -> _Token | None:
        token = self._peek()
        found = token.kind in ("op", "name") and token.text in texts
        return self._next() if found else None

    def _expect(self, *texts: str) -> _Token:
        token = self._accept(*texts)
        if token is None:
            wanted = " or ".join(map(repr, texts))
            self._fail(f"expected {wanted} but found {_describe(self._peek())}", self._peek().pos)
        return token

    def _nest(self, delta: int) -> None:
        self._depth += delta
        if self._depth > MAX_DEPTH:
            self._fail(f"expression nests more than {MAX_DEPTH} levels deep", self._peek().pos)

    def _expression(self) -> _Node:
        self._nest(1)
        node = self._logical(0)
        self._nest(-1)
        return node

    def _logical(self, level: int) -> _Node:
        if level == len(_LOGICAL):
            return self._binary(0)
        args = [self._logical(level + 1)]
        while self._accept(_LOGICAL[level]):
            args.append(self._logical(level + 1))
        return args[0] if len(args) == 1 else _Logical(_LOGICAL[level], tuple(args), args[0].pos)

    def _binary(self, level: int) -> _Node:
        if level == len(_BINARY):
            return self._unary()
        node = self._binary(level + 1)
        while (token := self._accept(*_BINARY[level])) is not None:
            node = _Apply(token.text, (node, self._binary(level + 1)), token.pos)
        return node

    def _unary(self) -> _Node:
        token = self._accept("!", "-")
        if token is None:
            return self._postfix()
        self._nest(1)
        operand = self._unary()
        self._nest(-1)
        if token.text == "-" and isinstance(operand, _Literal) and _is_number(operand.value):
            return _Literal(-operand.value, token.pos)  # fold negative number literals
        return _Apply("negate" if token.text == "-" else "!", (operand,), token.pos)

    def _postfix(self) -> _Node:
        node = self._primary()
        while (token := self._accept(".", "[")) is not None:
            if token.text == "[":
                node = _Get(node, self._expression(), token.pos)
                self._expect("]")
                continue
            name = self._next()
            if name.kind != "name":
                self._fail(f"unexpected {_describe(name)}", name.pos)
            if self._peek().text == "(":
                self._fail(f"method calls such as .{name.text}() are not supported", name.pos)
            node = _Get(node, _Literal(name.text, name.pos), token.pos)
        return node

    def _primary(self) -> _Node:
        token = self._next()
        if token.kind in ("number", "string"):
            return _Literal(token.value, token.pos)
        if token.kind == "name" and token.text != "in":
            return self._name(token)
        if token.kind == "op" and token.text == "(":
            node = self._expression()
            self._expect(")")
            return node
        if token.kind == "op" and token.text == "[":
            return _Apply("list", self._items("]"), token.pos)
        self._fail(f"unexpected {_describe(token)}", token.pos)

    def _name(self, token: _Token) -> _Node:
        if token.text in _LITERALS:
            return _Literal(_LITERALS[token.text], token.pos)
        if self._accept("(") is None:
            return _Name(token.text, token.pos)
        if token.text not in _FUNCTIONS:
            self._fail(f"unknown function {token.text!r}", token.pos)
        args = self._items(")")
        if len(args) != 1:
            self._fail(f"{token.text}() takes 1 argument, got {len(args)}", token.pos)
        if token.text != "has":
            return _Apply(token.text, args, token.pos)
        if not isinstance(args[0], _Name | _Get):
            self._fail("has() needs a field path such as has(event.data.x)", args[0].pos)
        return _Has(args[0], token.pos)

    def _items(self, close: str) -> tuple[_Node, ...]:
        items: list[_Node] = []
        while self._accept(close) is None:
            items.append(self._expression())
            if self._expect(",", close).text == close:
                break
        return tuple(items)


def _check_tree(root: _Node, source: str) -> frozenset[str]:
    """Reject trees deeper than MAX_DEPTH (without recursing) and collect the variable names."""
    names: set[str] = set()
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            _fail(source, f"expression nests more than {MAX_DEPTH} levels deep", node.pos)
        if isinstance(node, _Name):
            names.add(node.name)
        stack.extend((child, depth + 1) for child in node.children())
    return frozenset(names)


# --- API ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled expression; build one with compile_expression()."""

    source: str
    _root: _Node = field(repr=False, compare=False)
    _names: frozenset[str] = field(repr=False, compare=False)

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """The value of the expression given top-level variables such as ``event``."""
        try:
            return self._root.evaluate(variables)
        except RecursionError:  # data nested absurdly deep, compared with ==
            return None

    def matches(self, variables: Mapping[str, Any]) -> bool:
        """Whether the value is truthy."""
        return bool(self.evaluate(variables))

    def variables(self) -> frozenset[str]:
        """The top-level names the expression reads, e.g. ``{"event", "async"}``."""
        return self._names


@functools.lru_cache(maxsize=1024)
def compile_expression(source: str) -> Expression:
    """Parse ``source`` once (results are cached); raise ExpressionError if it is not valid."""
    if not isinstance(source, str):
        raise ExpressionError(f"expression must be a string, not {type(source).__name__}")
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(
            f"expression is {len(source)} characters long; the limit is {MAX_SOURCE_LENGTH}"
        )
    try:
        root = _Parser(source).parse()
    except RecursionError:  # only if the caller's stack is already nearly exhausted
        raise ExpressionError(f"expression nests too deeply: {source[:60]!r}") from None
    return Expression(source, root, _check_tree(root, source))
