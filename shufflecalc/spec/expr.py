"""A small, safe expression language for spec values.

Expressions are strings such as ``"max(int(64 * width), 8)"`` or ``"stage_out[g][1] * width"``. They are parsed with
Python's `ast` module and compiled into closures over a whitelist of node types; nothing is ever passed to `eval` or
`exec`. Sizes are bounded (text length, node count, nesting depth, magnitude of numbers, exponents, nested calls),
and so is the work of one evaluation: every call of a spec's own function spends its body's node count from a budget
of `MAX_STEPS` shared by the whole evaluation (the calls it makes included). An expression has no loops, so this
bounds the time any expression takes: a spec cannot make the tool hang or exhaust memory.

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

MAX_LENGTH = 1000
MAX_NODES = 300
MAX_DEPTH = 40
MAX_ABS_INT = 2**62
MAX_EXPONENT = 64
MAX_CALL_DEPTH = 16
MAX_STEPS = 10_000  # per evaluation: user-function calls, each counting the syntax nodes of its body

Env = Mapping[str, Any]
Compiled = Callable[[Env], Any]


class ExprError(Exception):
    """An expression that is malformed or cannot be evaluated; the caller adds the location."""


def _round(x: float, ndigits: int | None = None) -> float | int:
    if ndigits is None:
        return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)
    scale = 10**ndigits
    return math.floor(abs(x) * scale + 0.5) / scale * (1 if x >= 0 else -1)


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
    "floor": lambda x: math.floor(_num(x, "floor")),
    "ceil": lambda x: math.ceil(_num(x, "ceil")),
    "min": min,
    "max": max,
    "abs": abs,
    "make_divisible": make_divisible,
}


class _Budget:
    """Steps left to one evaluation (see MAX_STEPS), shared by every call it makes through the environment."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_STEPS


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
        budget = env.get("__budget__")
        if not isinstance(budget, _Budget):
            budget = _Budget()
        budget.left -= getattr(self.body, "nodes", 1)
        if budget.left < 0:
            raise ExprError(
                f"{self.name}(): evaluation too long (more than {MAX_STEPS:,} steps: each call of a function counts "
                "the nodes of its expression)"
            )
        local = dict(env)
        local.update(zip(self.args, values, strict=False))
        local["__depth__"] = depth + 1
        local["__budget__"] = budget
        return self.body(local)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"{type(value).__name__} {value!r}"


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


def _binop(fn: Callable[[Any, Any], Any], left: Compiled, right: Compiled) -> Compiled:
    def run(env: Env) -> Any:
        a, b = left(env), right(env)
        if isinstance(a, (list, dict, str)) or isinstance(b, (list, dict, str)):
            raise ExprError(f"arithmetic on {_describe(a)} and {_describe(b)}")
        return _check_number(fn(a, b))

    return run


def _subscript(target: Compiled, index: Compiled) -> Compiled:
    def run(env: Env) -> Any:
        table, key = target(env), index(env)
        if isinstance(table, list):
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
            keys = ", ".join(str(k) for k in table)
            raise ExprError(f"{key} is not in the table (keys: {keys})")
        raise ExprError(f"cannot index {_describe(table)}")

    return run


def _call(name: str, args: list[Compiled]) -> Compiled:
    builtin = BUILTINS.get(name)

    def run(env: Env) -> Any:
        values = [a(env) for a in args]
        if builtin is not None:
            try:
                return _check_number(builtin(*values))
            except ExprError:
                raise
            except (TypeError, ValueError) as exc:
                raise ExprError(f"{name}(): {exc}") from None
        fn = env.get(name)
        if not isinstance(fn, UserFunction):
            raise ExprError(f"unknown function '{name}'")
        return fn(env, values, env.get("__depth__", 0))

    return run


def _name(name: str) -> Compiled:
    def run(env: Env) -> Any:
        try:
            value = env[name]
        except KeyError:
            raise ExprError(f"undefined name '{name}'") from None
        if isinstance(value, UserFunction):
            raise ExprError(f"'{name}' is a function; call it as {name}(...)")
        return value

    return run


class _Compiler:
    def __init__(self) -> None:
        self.nodes = 0
        self.calls = 0  # calls of functions other than the built-ins

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
            if node.func.id not in BUILTINS:
                self.calls += 1
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
    fn = _guard(compiler.compile(tree.body), budgeted=compiler.calls > 0)
    fn.nodes = compiler.nodes  # type: ignore[attr-defined]  # what one call of a function with this body spends
    return fn


def _guard(fn: Compiled, budgeted: bool) -> Compiled:
    """Turn Python's arithmetic errors into ExprError; give an evaluation that calls functions its step budget."""

    def run(env: Env) -> Any:
        if budgeted and not isinstance(env.get("__budget__"), _Budget):
            env = {**env, "__budget__": _Budget()}
        try:
            return fn(env)
        except ExprError:
            raise
        except ZeroDivisionError:
            raise ExprError("division by zero") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise ExprError(str(exc)) from None

    return run


def evaluate(text: str, env: Env) -> Any:
    """Compile (cached) and evaluate `text` in `env`."""
    return compile_expr(text)(env)
