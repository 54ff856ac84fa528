"""A small, safe expression language for spec values.

Expressions are strings such as ``"max(int(64 * width), 8)"`` or ``"stage_out[g][1] * width"``. They are parsed with
Python's `ast` module and compiled into closures over a whitelist of node types; nothing is ever passed to `eval` or
`exec`. Sizes are bounded (text length, node count, nesting depth, magnitude of numbers, exponents, nested calls, the
digits of `round`, the lists and strings a built-in function accepts), and so is the work: every evaluation of an
expression (a spec's own function's body included, at each call) spends its node count from a `Budget` of
`MAX_STEPS`, and built-in functions and comparisons spend the size of their arguments. `graph.expand` gives one
budget to the whole expansion of a spec, shared by all its evaluations; `evaluate` alone gives each evaluation its
own. An expression has no loops, so this bounds the time a spec's expressions take: a spec cannot make the tool hang
or exhaust memory. Names starting with ``__`` are not allowed (the evaluator's own state lives under such names).

Values are int, float, bool, str, and lists / dicts of those (lookup tables). ``/`` is true division (a float),
``//`` floor division. Built-in functions: int (truncates), float, round (half away from zero), floor, ceil, min,
max, abs, and make_divisible(value, divisor[, min_value]) (torchvision's rule: nearest multiple of divisor, at least
min_value, never below 90% of value). Specs can define their own functions (`UserFunction`).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shufflecalc.errors import shown

MAX_LENGTH = 1000
MAX_NODES = 300
MAX_DEPTH = 40
MAX_ABS_INT = 2**62
MAX_EXPONENT = 64
MAX_CALL_DEPTH = 16
MAX_STEPS = 100_000  # per spec expansion, all its evaluations together (the built-in specs spend at most 3,160)
MAX_ITEMS = 10_000  # items of a list or table (nested ones counted) or characters of a string a built-in accepts
MAX_ROUND_DIGITS = 15  # |ndigits| of round(x, ndigits)
RESERVED_PREFIX = "__"  # names starting with it are the evaluator's own, never a spec's
BUDGET = "__budget__"  # the environment key of the Budget
DEPTH = "__depth__"  # the environment key of the call depth

Env = Mapping[str, Any]
Compiled = Callable[[Env], Any]


class ExprError(Exception):
    """An expression that is malformed or cannot be evaluated; the caller adds the location."""


def _round(x: float, ndigits: int | None = None) -> float | int:
    x = _num(x, "round")
    if ndigits is not None and (type(ndigits) is not int or abs(ndigits) > MAX_ROUND_DIGITS):
        raise ExprError(f"round(): ndigits must be a whole number from -{MAX_ROUND_DIGITS} to {MAX_ROUND_DIGITS}, "
                        f"got {shown(ndigits)}")
    if ndigits is None:
        return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)
    scale = 10**ndigits
    return math.floor(abs(x) * scale + 0.5) / scale * (1 if x >= 0 else -1)


def _round_even(x: float, ndigits: int | None = None) -> float | int:
    """Python's `round`: ties to the even neighbour (torchvision's `round(c * ratio)`)."""
    x = _num(x, "round_even")
    if ndigits is not None and (type(ndigits) is not int or abs(ndigits) > MAX_ROUND_DIGITS):
        raise ExprError(f"round_even(): ndigits must be a whole number from -{MAX_ROUND_DIGITS} to "
                        f"{MAX_ROUND_DIGITS}, got {shown(ndigits)}")
    return round(x) if ndigits is None else round(x, ndigits)


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision's `_make_divisible`: round to the nearest multiple of `divisor`, not below 90% of `value`."""
    if divisor <= 0:
        raise ExprError("make_divisible: divisor must be positive")
    floor_value = divisor if min_value is None else min_value
    new_value = max(floor_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


def _num(x: Any, fname: str) -> float | int:
    if type(x) not in (int, float, bool):
        raise ExprError(f"{fname}() needs a number, got {_describe(x)}")
    return x


def _to_int(x: Any) -> int:
    x = _num(x, "int")
    if isinstance(x, float) and not math.isfinite(x):
        raise ExprError("int() of a non-finite number")
    return int(x)


BUILTINS: dict[str, Callable[..., Any]] = {
    "int": _to_int,
    "float": lambda x: float(_num(x, "float")),
    "round": _round,
    "round_even": _round_even,
    "floor": lambda x: math.floor(_num(x, "floor")),
    "ceil": lambda x: math.ceil(_num(x, "ceil")),
    "min": min,
    "max": max,
    "abs": abs,
    "make_divisible": make_divisible,
}


class Budget:
    """Steps left (see MAX_STEPS), shared through the environment (key BUDGET) by every evaluation that gets it."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_STEPS

    @property
    def spent(self) -> int:
        return MAX_STEPS - self.left

    def spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise ExprError(
                f"evaluation too long (more than {MAX_STEPS:,} steps for the whole spec: a step is a node of an "
                "expression evaluated, or an item a built-in function or comparison reads)"
            )


class _Scope(dict):
    """The environment of one call of a spec function: its arguments, then the caller's environment."""

    __slots__ = ("parent",)

    def __init__(self, parent: Env) -> None:
        super().__init__()
        self.parent = parent

    def __missing__(self, key: str) -> Any:
        return self.parent[key]


def _lookup(env: Env, name: str) -> Any:
    try:
        return env[name]
    except KeyError:
        return None


def _budget(env: Env) -> Budget:
    budget = env.get(BUDGET)
    if not isinstance(budget, Budget):  # pragma: no cover - every guarded evaluation has one
        raise ExprError("internal: evaluation without a budget")
    return budget


_SCALARS = (int, float, bool)
_SIZED = (list, dict, str)


def _size(value: Any, limit: int) -> int:
    """The size of a value for the budget: 1 for a number, the characters of a string, the items of a list or table
    (nested ones and keys counted). Counting stops once past `limit`."""
    if type(value) in _SCALARS:
        return 1
    n = 0
    stack = [value]
    while stack and n <= limit:
        v = stack.pop()
        n += 1
        if type(v) is str:
            n += len(v)
        elif type(v) in (list, tuple):  # a tuple: a pair [h, w] (a kernel, a block's pair argument)
            stack.extend(v)
        elif type(v) is dict:
            stack.extend(v)
            stack.extend(v.values())
    return n


@dataclass(frozen=True)
class UserFunction:
    """A function a spec defines, e.g. ``"ch(c)": "max(int(c * width), 8)"``."""

    name: str
    args: tuple[str, ...]
    body: Compiled
    source: str

    def __call__(self, env: Env, values: list[Any], depth: int) -> Any:
        if len(values) != len(self.args):
            raise ExprError(f"{self.name}() takes {len(self.args)} argument(s), got {len(values)}")
        if depth > MAX_CALL_DEPTH:
            raise ExprError(f"{self.name}(): calls nested too deeply")
        local = _Scope(env)  # no copy of the environment: a call costs the same however many names a spec defines
        local.update(zip(self.args, values, strict=False))
        local[DEPTH] = depth + 1
        local[BUDGET] = _budget(env)
        return self.body(local)  # the body's evaluation spends its nodes from the shared budget


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, tuple):
        return f"the pair {list(value)}"
    if isinstance(value, dict):
        return "a table"
    return f"{type(value).__name__} {shown(value)}"


def _check_number(value: Any) -> Any:
    if type(value) is int and abs(value) > MAX_ABS_INT:
        raise ExprError("number too large")
    if type(value) is float and not math.isfinite(value):
        raise ExprError("result is not a finite number")
    return value


def _power(a: Any, b: Any) -> Any:
    if isinstance(b, (int, float)) and abs(b) > MAX_EXPONENT:
        raise ExprError(f"exponent {b} too large (at most {MAX_EXPONENT})")
    return a**b


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _power,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_MEMBERSHIP = (_CMPOPS[ast.In], _CMPOPS[ast.NotIn])


def _binop(fn: Callable[[Any, Any], Any], left: Compiled, right: Compiled) -> Compiled:
    def run(env: Env) -> Any:
        a, b = left(env), right(env)
        if isinstance(a, (list, tuple, dict, str)) or isinstance(b, (list, tuple, dict, str)):
            raise ExprError(f"arithmetic on {_describe(a)} and {_describe(b)}")
        return _check_number(fn(a, b))

    return run


def _subscript(target: Compiled, index: Compiled) -> Compiled:
    def run(env: Env) -> Any:
        table, key = target(env), index(env)
        if isinstance(table, (list, tuple)):  # a tuple: a pair [h, w]
            if type(key) is not int:
                raise ExprError(f"a list index must be an integer, got {_describe(key)}")
            if not -len(table) <= key < len(table):
                raise ExprError(f"index {key} out of range for a list of length {len(table)}")
            return table[key]
        if isinstance(table, dict):
            if key in table:
                return table[key]
            if isinstance(key, float) and key.is_integer() and int(key) in table:
                return table[int(key)]
            keys = ", ".join(shown(k) if isinstance(k, str) else str(k) for k in list(table)[:20])
            more = ", ..." if len(table) > 20 else ""
            raise ExprError(f"{shown(key) if isinstance(key, str) else key} is not in the table (keys: {keys}{more})")
        raise ExprError(f"cannot index {_describe(table)}")

    return run


def _spend_on(env: Env, values: Any, what: str) -> None:
    """Spend the size of `values` (a list of arguments or operands) from the budget; refuse arguments over
    MAX_ITEMS."""
    cost = 0
    for v in values:
        if type(v) in _SCALARS:
            cost += 1
            continue
        n = _size(v, MAX_ITEMS)
        if n > MAX_ITEMS:
            raise ExprError(f"{what}: {_describe(v)} is too large (more than {MAX_ITEMS:,} items or characters)")
        cost += n
    _budget(env).spend(cost)


def _call(name: str, args: list[Compiled]) -> Compiled:
    builtin = BUILTINS.get(name)

    def run(env: Env) -> Any:
        values = [a(env) for a in args]
        if builtin is not None:
            _spend_on(env, values, f"{name}()")
            try:
                return _check_number(builtin(*values))
            except ExprError:
                raise
            except (TypeError, ValueError, OverflowError) as exc:
                raise ExprError(f"{name}(): {exc}") from None
        fn = _lookup(env, name)
        if not isinstance(fn, UserFunction):
            raise ExprError(f"unknown function '{name}'")
        return fn(env, values, _lookup(env, DEPTH) or 0)

    return run


def _reserved(name: str) -> None:
    if name.startswith(RESERVED_PREFIX):
        raise ExprError(f"'{name}' is not allowed: names starting with '{RESERVED_PREFIX}' are reserved")


def _name(name: str) -> Compiled:
    _reserved(name)

    def run(env: Env) -> Any:
        try:
            value = env[name]
        except KeyError:
            raise ExprError(f"undefined name '{name}'") from None
        if isinstance(value, UserFunction):
            raise ExprError(f"'{name}' is a function; call it as {name}(...)")
        return value

    return run


def _spend_compare(env: Env, op: Callable[[Any, Any], bool], a: Any, b: Any) -> None:
    """A comparison or membership test of strings, lists or tables spends their size (a table's membership test
    only the key's: a lookup)."""
    budget = _budget(env)
    limit = max(budget.left, 0)
    cost = _size(a, limit)
    if not (type(b) is dict and op in _MEMBERSHIP):
        cost += _size(b, limit)
    budget.spend(cost)


class _Compiler:
    def __init__(self) -> None:
        self.nodes = 0

    def compile(self, node: ast.AST, depth: int = 0) -> Compiled:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExprError(f"expression too large (more than {MAX_NODES} nodes)")
        if depth > MAX_DEPTH:
            raise ExprError(f"expression nested too deeply (more than {MAX_DEPTH} levels)")
        d = depth + 1
        if isinstance(node, ast.Constant):
            value = node.value
            if type(value) not in (int, float, bool, str):
                raise ExprError(f"unsupported constant {value!r}")
            _check_number(value)
            return lambda env: value
        if isinstance(node, ast.Name):
            return _name(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _binop(_BINOPS[type(node.op)], self.compile(node.left, d), self.compile(node.right, d))
        if isinstance(node, ast.UnaryOp):
            operand = self.compile(node.operand, d)
            if isinstance(node.op, ast.USub):
                return _binop(operator.sub, lambda env: 0, operand)
            if isinstance(node.op, ast.UAdd):
                return _binop(operator.add, lambda env: 0, operand)
            if isinstance(node.op, ast.Not):
                return lambda env: not operand(env)
        if isinstance(node, ast.BoolOp):
            parts = [self.compile(v, d) for v in node.values]
            if isinstance(node.op, ast.And):
                return lambda env: all(p(env) for p in parts)
            return lambda env: any(p(env) for p in parts)
        if isinstance(node, ast.Compare):
            first = self.compile(node.left, d)
            ops = [_CMPOPS[type(op)] for op in node.ops if type(op) in _CMPOPS]
            if len(ops) != len(node.ops):
                raise ExprError("unsupported comparison")
            rest = [self.compile(c, d) for c in node.comparators]

            def compare(env: Env) -> bool:
                a = first(env)
                for op, right in zip(ops, rest, strict=False):
                    b = right(env)
                    if type(a) in _SIZED or type(b) in _SIZED:
                        _spend_compare(env, op, a, b)
                    try:
                        if not op(a, b):
                            return False
                    except TypeError:
                        raise ExprError(f"cannot compare {_describe(a)} with {_describe(b)}") from None
                    a = b
                return True

            return compare
        if isinstance(node, ast.IfExp):
            test, body, orelse = (self.compile(n, d) for n in (node.test, node.body, node.orelse))
            return lambda env: body(env) if test(env) else orelse(env)
        if isinstance(node, ast.Subscript):
            return _subscript(self.compile(node.value, d), self.compile(node.slice, d))
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.keywords:
                raise ExprError("only calls of named functions with positional arguments are allowed")
            _reserved(node.func.id)
            return _call(node.func.id, [self.compile(a, d) for a in node.args])
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.compile(e, d) for e in node.elts]
            return lambda env: [i(env) for i in items]
        raise ExprError(f"'{type(node).__name__}' is not allowed in an expression")


@lru_cache(maxsize=4096)
def compile_expr(text: str) -> Compiled:
    """Compile an expression once; the result evaluates it against an environment (name -> value)."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression too long ({len(text)} characters, at most {MAX_LENGTH})")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"invalid expression '{text}': {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError):
        raise ExprError(f"invalid expression '{text}'") from None
    compiler = _Compiler()
    fn = _guard(compiler.compile(tree.body), compiler.nodes)
    fn.nodes = compiler.nodes  # type: ignore[attr-defined]  # what one evaluation spends, before built-ins
    return fn


def _guard(fn: Compiled, nodes: int) -> Compiled:
    """Spend the expression's node count from the environment's budget (an environment without one, as `evaluate`
    alone gets, is given a fresh one: that evaluation then has its own budget); turn Python's arithmetic errors into
    ExprError."""

    def run(env: Env) -> Any:
        budget = env.get(BUDGET)
        if budget is None:
            budget = Budget()
            env = {**env, BUDGET: budget}
        budget.spend(nodes)  # at most every node is evaluated once: an expression has no loops
        try:
            return fn(env)
        except ExprError:
            raise
        except ZeroDivisionError:
            raise ExprError("division by zero") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise ExprError(str(exc)) from None
        except RecursionError:
            raise ExprError("values nested too deeply to compare") from None

    return run


def evaluate(text: str, env: Env) -> Any:
    """Compile (cached) and evaluate `text` in `env`."""
    return compile_expr(text)(env)
