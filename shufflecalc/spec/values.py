"""Values of a spec: expressions evaluated in a scope, and arguments checked against their declaration.

A `Scope` is an environment (parameters, `define` values, functions; inside a block also its arguments, its own
defines and ``in_channels``, ``in_height``, ``in_width``) with the function that turns a message and a YAML path into
the error to raise. The top level of a spec and every block instance evaluate their values through one, so a value
means the same everywhere: of its argument's type, finite, within its minimum and maximum, one of its choices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, cast

from shufflecalc.errors import shown
from shufflecalc.spec.expr import MAX_ABS_INT, RESERVED_PREFIX, ExprError, UserFunction, compile_expr
from shufflecalc.spec.layers import Arg
from shufflecalc.spec.layers.base import Pair, is_pair_type
from shufflecalc.spec.layers.base import text as pair_text
from shufflecalc.spec.load import NAME_RE, format_value

MAX_NESTING = 32  # levels of lists and tables in one define value

Fail = Callable[[tuple, str], Exception]  # (YAML path, message) -> the exception to raise


class Scope:
    """Names visible to expressions (`env`), and where a bad value is reported (`fail`)."""

    def __init__(self, env: dict[str, Any], fail: Fail) -> None:
        self.env = env
        self.fail = fail

    def expr(self, text: str, path: tuple) -> Any:
        try:
            return compile_expr(text)(self.env)
        except ExprError as exc:
            raise self.fail(path, str(exc)) from None

    def literal(self, value: Any, path: tuple, depth: int = 0) -> Any:
        """A define value: strings are expressions; lists and tables are evaluated element by element."""
        if isinstance(value, str):
            return self.expr(value, path)
        if depth >= MAX_NESTING and isinstance(value, (list, dict)):
            raise self.fail(path, f"lists and tables nested too deeply (more than {MAX_NESTING} levels)")
        if isinstance(value, list):
            return [self.literal(v, (*path, i), depth + 1) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {self.number(k, (*path, k)): self.literal(v, (*path, k), depth + 1) for k, v in value.items()}
        if value is None:
            raise self.fail(path, "a value is missing")
        return self.number(value, path)

    def number(self, value: Any, path: tuple) -> Any:
        """A number read from the spec: finite, and an integer within the evaluator's MAX_ABS_INT."""
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(path, f"must be a finite number, got {value}")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ABS_INT:
            raise self.fail(path, f"number too large (at most 2**62 in magnitude), got {text(value)}")
        return value

    def value(self, arg: Arg, raw: Any, path: tuple) -> Any:
        """One argument's value (an expression is evaluated): of the argument's type, within its minimum and maximum
        (a number is finite: NaN and infinity are refused), one of its choices."""
        if is_pair_type(arg.type):
            return self.pair(arg, raw, path)
        value = raw
        if isinstance(raw, str):
            if arg.type is str and arg.choices is not None:
                value = self.choice(arg.choices, raw, path)
            else:
                value = self.expr(raw, path)
        if value is None and raw is not None and arg.default is None and not arg.required:
            return None  # an expression naming an optional argument left at its default (a block passing None on)
        value = self.scalar(arg, arg.type, value, raw, path)
        if arg.choices is not None and value not in arg.choices:
            raise self.fail(path, f"must be one of {', '.join(map(str, arg.choices))}, got {shown(value)}")
        return value

    def scalar(self, arg: Arg, vtype: type, value: Any, raw: Any, path: tuple) -> Any:
        """`value` (evaluated from `raw`) as a `vtype` within the bounds of `arg`: the whole of an int, float, bool
        or str argument, or one element of a pair."""
        if vtype is int:
            if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_ABS_INT:
                value = int(value)
            elif isinstance(value, float) and value.is_integer() and arg.maximum is not None:
                raise self.fail(path, f"must be at most {bound(arg.maximum)}, got {text(value)}")
            if isinstance(value, bool) or not isinstance(value, int):
                shown_raw = text(raw) if raw is value else f"{text(raw)} = {text(value)}"
                raise self.fail(path, f"must be a whole number, got {shown_raw}")
        elif vtype is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(path, f"must be a number, got {shown(value)}")
            if isinstance(value, float) and not math.isfinite(value):
                raise self.fail(path, f"must be a finite number, got {value}")
            if isinstance(value, int) and arg.maximum is not None and value > arg.maximum:
                raise self.fail(path, f"must be at most {bound(arg.maximum)}, got {text(value)}")
            value = float(value)
        elif vtype is bool:
            if not isinstance(value, bool):
                raise self.fail(path, f"must be true or false, got {shown(value)}")
        elif not isinstance(value, str):
            raise self.fail(path, f"must be a string, got {shown(value)}")
        if arg.minimum is not None and value < arg.minimum:
            raise self.fail(path, f"must be at least {format_value(arg.minimum)}, got {text(value)}")
        if arg.maximum is not None and value > arg.maximum:
            raise self.fail(path, f"must be at most {bound(arg.maximum)}, got {text(value)}")
        return value

    def pair(self, arg: Arg, raw: Any, path: tuple) -> Any:
        """A `Pair` argument's value: a number, a pair ``[h, w]`` (a YAML list, whose elements may be expressions,
        or a list of two an expression gives), or one of the type's words (``same``); each number of its element
        type and within the argument's minimum and maximum. A number stays a number, a pair becomes a tuple."""
        kind = cast(type[Pair], arg.type)
        value = raw
        if isinstance(raw, str):
            if kind.words and raw not in kind.words and NAME_RE.match(raw) and raw not in self.env:
                raise self.fail(path, f"must be {kind.what}, got {shown(raw)}")  # a misspelt word
            value = raw if raw in kind.words else self.expr(raw, path)
        if value is None and raw is not None and arg.default is None and not arg.required:
            return None  # an optional argument passed on unset
        if isinstance(value, str):
            if value not in kind.words:
                raise self.fail(path, f"must be {kind.what}, got {shown(value)}")
        elif isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise self.fail(path, f"must be {kind.what}, got a list of {len(value)}")
            listed = isinstance(raw, list)  # written out in the YAML: each element has a path of its own
            items = []
            for i, item in enumerate(value):
                at = (*path, i) if listed else path
                number = self.expr(item, at) if listed and isinstance(item, str) else item
                items.append(self.scalar(arg, kind.element, number, item, at))
            value = tuple(items)
        else:
            value = self.scalar(arg, kind.element, value, raw, path)
        if arg.choices is not None and value not in arg.choices:
            raise self.fail(path, f"must be one of {', '.join(map(pair_text, arg.choices))}, got {pair_text(value)}")
        return value

    def choice(self, choices: tuple[Any, ...], raw: str, path: tuple) -> Any:
        """A string argument with fixed choices: one of them, or the name of a parameter or define value holding one
        (the value is then checked against the choices by the caller); any other text is a wrong choice."""
        if raw in choices:
            return raw
        if raw in self.env and not raw.startswith(RESERVED_PREFIX) and not isinstance(self.env[raw], UserFunction):
            return self.env[raw]
        raise self.fail(path, f"must be one of {', '.join(map(str, choices))}, got {shown(raw)}")

    def args(self, schema: Mapping[str, Arg], raw: Mapping[str, Any], path: tuple, skip: set[str]) -> dict[str, Any]:
        """Every argument of `schema` from the mapping `raw` (keys in `skip` are not arguments): given ones checked,
        the others at their defaults; an unknown or a missing required argument is an error."""
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key in skip:
                continue
            if key not in schema:
                expected = ", ".join(sorted(schema)) or "none"
                raise self.fail((*path, key), f"unknown argument '{key}' (arguments: {expected})")
            if value is None and schema[key].default is None and not schema[key].required:
                values[key] = None
                continue
            values[key] = self.value(schema[key], value, (*path, key))
        for key, arg in schema.items():
            if key not in values:
                if arg.required:
                    raise self.fail(path, f"missing required argument '{key}'")
                values[key] = arg.default
        return values


def bound(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else format_value(value)


def text(value: Any) -> str:
    """A spec value as a message shows it: a string as written (shortened), anything else as `shown`."""
    if isinstance(value, str):
        return value if len(value) <= 60 else value[:57] + "..."
    if isinstance(value, float) and abs(value) >= 1e16:
        return repr(value)  # 1e+300, not its 301 digits
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**24:
        try:
            return f"{float(value):g}"  # 1e+40, not its 41 digits
        except OverflowError:
            return "a very large number"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_value(value)
    return shown(value)


__all__ = ["MAX_NESTING", "Scope", "bound", "text"]
