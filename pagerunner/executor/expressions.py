r"""A small, safe evaluator for the CEL that Inngest uses in function configuration.

Expressions appear in trigger ``expression`` fields, flow-control keys (``concurrency.key``,
``throttle.key``, ``rateLimit.key``, ``idempotency``, ``debounce.key``, ``singleton.key``),
``cancel[].if`` and the ``if`` of ``waitForEvent``. They are tokenised and parsed by hand into a
tree of immutable nodes and evaluated over that tree; nothing is handed to ``eval``. What the
operators and functions do with values lives in ``expression_values``.

Why not a CEL library
---------------------
The maintained CEL implementations on PyPI (``cel-python``, ``common-expression-language``,
``cel-expr-python``) were tried against this module's tests and measured per event
(``bench/expressions.py``, figures in docs/benchmarks.md). None passes the tests: all three
implement standard CEL, where a missing key is an error, ``null < 1`` and ``"a-" + 2`` are
errors and ``&&`` needs booleans, while Inngest answers them leniently (it wraps cel-go's
interpreter to do so, which none of the Python bindings allow). Nor do they keep to 2x this
evaluator's time per event (one case of six does, the C++ runtime on a macro): the event is
converted into the library's values before every evaluation, so they take about 13 us (C++),
60 us (Rust) and 0.3-1 ms (pure Python) on an ordinary event where this evaluator takes
2-8 us: 1.8-9x, 8-40x and 90-200x, growing with the event's size. So the evaluator stays,
with the CEL that users write in Inngest expressions added to it.

Supported
---------
* Variables: top-level names such as ``event`` and ``async``. A name that is not supplied
  evaluates to ``null``.
* Paths: ``event.data.a.b``, ``x["k"]``, ``x['k']``, ``x[0]``. A missing key or index, a
  negative index, or a step into something that is not a map or list gives ``null``.
* Literals: strings in single or double quotes with the escapes ``\\ \' \" \n \t \r``;
  integers; floats (``1.5``, ``1e3``); ``true``, ``false``, ``null``; lists ``[a, b]``.
* Operators, loosest first: ``||``; ``&&``; ``== != < <= > >= in``; ``+ -``; ``* / %``;
  unary ``!`` and ``-``; then ``.name``, ``[index]``, method and function calls. Parentheses
  group.
* Functions: ``lowercase(x)``, ``uppercase(x)``, ``size(x)``, ``has(path)``,
  ``timestamp(text)``, ``duration(text)``, ``matches(text, pattern)``.
* Methods: ``x.size()``, ``s.startsWith(t)``, ``s.endsWith(t)``, ``s.contains(t)``,
  ``s.matches(pattern)``.
* Macros: ``xs.exists(x, p)``, ``xs.all(x, p)``, ``xs.exists_one(x, p)``,
  ``xs.filter(x, p)``, ``xs.map(x, e)`` over a list's elements or a map's keys.
* Not supported: map literals, the ternary operator, unsigned, hex and bytes literals,
  conversions (``int()``, ``string()``, ...), timestamp accessors (``getHours()``, ...) and
  Inngest's own additions (``date()``, ``now()``, ``json_parse()``, ``b64decode()``, ...).

Semantics (lenient: evaluating never raises)
--------------------------------------------
* ``==``/``!=``: ints and floats compare by value (``1 == 1.0``); booleans are not numbers
  (``true == 1`` is false); lists and maps compare element by element; ``null == null``.
* ``< <= > >=``: numbers with numbers, strings with strings, booleans with booleans,
  timestamps with timestamps, durations with durations; any other pair (``null`` included)
  is false.
* ``&&``/``||`` short-circuit on truthiness and return a boolean; ``!x`` is ``not truthy(x)``,
  so ``!a == b`` means ``(!a) == b``. Truthiness is Python's: ``null``, ``false``, ``0``,
  ``""``, a zero duration and empty lists and maps are false.
* ``+`` adds numbers and joins two strings or two lists; a string plus a number or boolean
  joins with the value's key form (``"a-" + 2`` and ``"a-" + 2.0`` are both ``"a-2"``).
  ``- * / %`` take numbers; int ``/`` int truncates towards zero and ``%`` keeps the
  dividend's sign, as in CEL. A timestamp plus or minus a duration is a timestamp, the
  difference of two timestamps a duration, and durations add and subtract. Any other
  operand (``null`` included), division by zero or overflow gives ``null``.
* ``x in list`` is true when an element equals ``x``; ``k in map`` when a key equals ``k``;
  anything else is false.
* ``lowercase``/``uppercase`` give ``null`` for non-strings; ``size`` is the length of a
  string, list or map, else ``null``. ``has(path)`` is true when every step of the path
  exists; a key that is present with the value ``null`` counts as present; its argument must
  be a path.
* ``startsWith``, ``endsWith``, ``contains`` and ``matches`` are false unless both sides are
  strings (as in Inngest, where they are false on a missing field). ``matches`` is CEL's:
  the RE2 pattern is searched for anywhere in the text (anchor it with ``^...$``); RE2 takes
  time linear in the text, so no event can stall the executor with a pathological match.
* ``timestamp(text)`` takes RFC 3339 (``"2025-01-02T03:04:05Z"``, any offset; kept to the
  microsecond, as UTC) and ``duration(text)`` Go-style durations (``"90s"``, ``"-1h30m"``,
  ``"1.5h"``, ``"500ms"``, and pagerunner's ``d`` and ``w``); anything else gives ``null``.
* The macros evaluate their predicate with its variable bound to each element (a map: each
  key), stopping as soon as the answer is known; on something that is not a list or map,
  ``exists``, ``all`` and ``exists_one`` are false and ``filter`` and ``map`` are ``null``.

Compile errors are ExpressionError naming the problem and its 0-based character position.
Constant arguments are checked when compiling: ``timestamp("yesterday")``, ``duration("1x")``
or an invalid pattern fail the function's sync, not each event. Sources are limited to 4096
characters and 64 levels of nesting.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn, TypeAlias

from .errors import ExpressionError
from .expression_values import OPERATIONS, compile_pattern, key_value

__all__ = ["MAX_DEPTH", "MAX_SOURCE_LENGTH", "Expression", "compile_expression", "key_value"]

MAX_SOURCE_LENGTH: Final = 4096
MAX_DEPTH: Final = 64

_MISSING: Final = object()  # what a path step that does not exist resolves to
_Scope: TypeAlias = Mapping[str, Any]

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
        if type(obj) is dict and type(key) is str:  # the usual step, taken first (JSON maps)
            return obj.get(key, _MISSING)
        if isinstance(obj, Mapping):
            try:
                return obj.get(key, _MISSING)
            except TypeError:  # unhashable key
                return _MISSING
        if isinstance(obj, list | tuple) and isinstance(key, int) and not isinstance(key, bool):
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
        return OPERATIONS[self.op](*[arg.evaluate(scope) for arg in self.args])

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
class _Conditional(_Node):
    """`test ? then : otherwise`: only the branch taken is evaluated."""

    test: _Node
    then: _Node
    otherwise: _Node
    pos: int

    def evaluate(self, scope: _Scope) -> Any:
        return (self.then if self.test.evaluate(scope) else self.otherwise).evaluate(scope)

    def children(self) -> tuple[_Node, ...]:
        return (self.test, self.then, self.otherwise)


@dataclass(frozen=True, slots=True)
class _Has(_Node):
    path: _Node
    pos: int

    def evaluate(self, scope: _Scope) -> bool:
        return self.path.resolve(scope) is not _MISSING

    def children(self) -> tuple[_Node, ...]:
        return (self.path,)


class _Bound(Mapping[str, Any]):
    """The scope inside a macro: its variable bound to one element, the rest from outside."""

    __slots__ = ("_name", "_outer", "_value")

    def __init__(self, name: str, value: Any, outer: _Scope) -> None:
        self._name, self._value, self._outer = name, value, outer

    def get(self, key: str, default: Any = None) -> Any:
        return self._value if key == self._name else self._outer.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._value if key == self._name else self._outer[key]

    def __iter__(self) -> Iterator[str]:
        yield self._name
        yield from (key for key in self._outer if key != self._name)

    def __len__(self) -> int:
        return sum(1 for _ in self)


_COMPREHENSIONS: Final[dict[str, Callable[[Iterable[Any], Iterator[Any]], Any]]] = {
    "all": lambda items, results: all(map(bool, results)),
    "exists": lambda items, results: any(map(bool, results)),
    "exists_one": lambda items, results: sum(map(bool, results)) == 1,
    "filter": lambda items, results: [i for i, keep in zip(items, results, strict=False) if keep],
    "map": lambda items, results: list(results),
}


@dataclass(frozen=True, slots=True)
class _Macro(_Node):
    """``target.exists(var, body)`` and the other macros: ``body`` is evaluated with ``var``
    bound to each element of a list, or each key of a map, until the answer is known."""

    kind: str
    target: _Node
    var: str
    body: _Node
    pos: int

    def evaluate(self, scope: _Scope) -> Any:
        items = self.target.evaluate(scope)
        if not isinstance(items, list | tuple | Mapping):
            return None if self.kind in ("filter", "map") else False
        results = (self.body.evaluate(_Bound(self.var, item, scope)) for item in items)
        return _COMPREHENSIONS[self.kind](items, results)

    def children(self) -> tuple[_Node, ...]:
        return (self.target, self.body)


# --- tokens -------------------------------------------------------------------------------

_TOKEN_RE: Final = re.compile(
    r"""(?P<space>[ \t\r\n]+)
      | (?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9_])
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>\|\||&&|==|!=|<=|>=|[-<>+*/%!()\[\].,?:])""",
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
_FUNCTIONS: Final = {
    "lowercase": 1,
    "uppercase": 1,
    "size": 1,
    "has": 1,
    "timestamp": 1,
    "duration": 1,
    "matches": 2,
}
_METHODS: Final = {"size": 0, "startsWith": 1, "endsWith": 1, "contains": 1, "matches": 1}
_MACROS: Final = frozenset({"all", "exists", "exists_one", "filter", "map"})


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
        if (token := self._accept("?")) is not None:  # CEL: or-expression ? expr : expr
            then = self._expression()
            self._expect(":")
            node = _Conditional(node, then, self._expression(), token.pos)
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
        number = isinstance(operand, _Literal) and type(operand.value) in (int, float)
        if token.text == "-" and isinstance(operand, _Literal) and number:
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
            if self._accept("(") is not None:
                node = self._method(node, name, self._items(")"))
            else:
                node = _Get(node, _Literal(name.text, name.pos), token.pos)
        return node

    def _method(self, target: _Node, name: _Token, args: tuple[_Node, ...]) -> _Node:
        if name.text in _MACROS:
            self._check_arity(f".{name.text}()", args, 2, name.pos)
            if not isinstance(args[0], _Name):
                hint = f"as in .{name.text}(x, ...)"
                self._fail(f".{name.text}() needs a variable name first, {hint}", args[0].pos)
            return _Macro(name.text, target, args[0].name, args[1], name.pos)
        if name.text not in _METHODS:
            self._fail(f"unknown method {name.text!r}", name.pos)
        self._check_arity(f".{name.text}()", args, _METHODS[name.text], name.pos)
        return self._call(name.text, (target, *args), name.pos)

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
        self._check_arity(f"{token.text}()", args, _FUNCTIONS[token.text], token.pos)
        if token.text != "has":
            return self._call(token.text, args, token.pos)
        if not isinstance(args[0], _Name | _Get):
            self._fail("has() needs a field path such as has(event.data.x)", args[0].pos)
        return _Has(args[0], token.pos)

    def _check_arity(self, label: str, args: tuple[_Node, ...], wanted: int, pos: int) -> None:
        if len(args) != wanted:
            plural = "" if wanted == 1 else "s"
            self._fail(f"{label} takes {wanted} argument{plural}, got {len(args)}", pos)

    def _call(self, op: str, args: tuple[_Node, ...], pos: int) -> _Node:
        """A function applied to its arguments; constant timestamps, durations and patterns
        are parsed here, once, so that a bad one fails the sync rather than every event."""
        if op in ("timestamp", "duration") and isinstance(args[0], _Literal):
            value = OPERATIONS[op](args[0].value)
            if value is None:
                self._fail(f"invalid {op} {args[0].value!r}", args[0].pos)
            return _Literal(value, pos)
        if op == "matches" and isinstance(args[1], _Literal):
            if not isinstance(args[1].value, str):
                self._fail("matches() needs a string pattern", args[1].pos)
            try:
                pattern = compile_pattern(args[1].value)
            except ExpressionError as exc:
                self._fail(str(exc), args[1].pos)
            return _Apply(op, (args[0], _Literal(pattern, args[1].pos)), pos)
        return _Apply(op, args, pos)

    def _items(self, close: str) -> tuple[_Node, ...]:
        items: list[_Node] = []
        while self._accept(close) is None:
            items.append(self._expression())
            if self._expect(",", close).text == close:
                break
        return tuple(items)


def _check_tree(root: _Node, source: str) -> frozenset[str]:
    """Reject trees deeper than MAX_DEPTH (without recursing) and collect the variable names
    that are read from outside (a macro's own variable is not one of them)."""
    names: set[str] = set()
    stack: list[tuple[_Node, int, frozenset[str]]] = [(root, 1, frozenset())]
    while stack:
        node, depth, bound = stack.pop()
        if depth > MAX_DEPTH:
            _fail(source, f"expression nests more than {MAX_DEPTH} levels deep", node.pos)
        if isinstance(node, _Name) and node.name not in bound:
            names.add(node.name)
        if isinstance(node, _Macro):
            stack.append((node.target, depth + 1, bound))
            stack.append((node.body, depth + 1, bound | {node.var}))
        else:
            stack.extend((child, depth + 1, bound) for child in node.children())
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
