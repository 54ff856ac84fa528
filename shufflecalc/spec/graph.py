"""Expansion: a spec and a configuration become a `Graph` of named primitive layers with shapes and costs.

This is the one intermediate representation every back-end reads: the cost tables, the formulas, the torch builder,
the budgets. Layer names are dotted (``stage3.unit0.gconv1``) and stable: the torch builder uses them as module names.
No torch import anywhere on this path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from math import prod
from typing import Any, NamedTuple

from shufflecalc.errors import ShufflecalcError
from shufflecalc.spec.blocks import BLOCKS, IN
from shufflecalc.spec.expr import (
    BUDGET,
    BUILTINS,
    MAX_ABS_INT,
    RESERVED_PREFIX,
    Budget,
    ExprError,
    UserFunction,
    compile_expr,
    shown,
)
from shufflecalc.spec.layers import (
    KINDS,
    MAX_CHANNELS,
    MAX_FEATURES,
    MAX_SPATIAL,
    MAX_WINDOW,
    Arg,
    LayerError,
    Shape,
    reserved_name,
)
from shufflecalc.spec.load import FUNC_RE, NAME_RE, Spec, format_value, load_spec, resolve_config
from shufflecalc.spec.totals import Totals

INPUT = "input"
MAX_REPEAT = 1_000  # units in one stage
MAX_LAYERS = 20_000  # primitive layers in one network
MAX_NESTING = 32  # levels of lists and tables in one define value
ENTRY_KEYS = {"op", "name", "inputs"}
STAGE_KEYS = {"stage", "repeat", "stride", "unit", "first"}


class Numbers(NamedTuple):
    """What one layer costs and produces (see `ops` for the conventions): the fields of `Layer` from `out` to
    `op_class`, in the same order (checked below), so that a Layer is made by spreading them."""

    out: Shape
    params: int
    macs: int
    fvcore_flops: int
    activations: int
    memory_access: int
    op_class: str


class Layer(NamedTuple):
    """One primitive layer with its shapes and its cost (see `ops` for the conventions). A named tuple: cheap to
    make."""

    name: str
    op: str
    attrs: Mapping[str, Any]
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out: Shape
    params: int
    macs: int
    fvcore_flops: int
    activations: int
    memory_access: int
    op_class: str
    block: str  # the enclosing block instance, "" for a top-level primitive

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def stage(self) -> str:
        return self.name.split(".", 1)[0]


assert Layer._fields[Layer._fields.index("out") :][: len(Numbers._fields)] == Numbers._fields


@dataclass(frozen=True)
class Block:
    """One instance of a composite unit: its layers are graph.layers[start:stop]."""

    name: str
    op: str
    args: Mapping[str, Any]
    in_shape: Shape
    out: Shape
    start: int
    stop: int
    path: tuple


class Entry(NamedTuple):
    """One layer of a segment, named and connected locally (`blocks.IN` is the segment's input)."""

    name: str
    op: str
    attrs: Mapping[str, Any]
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    numbers: Numbers


class Segment(NamedTuple):
    """The layers of one block instance (or one top-level layer): full names are `prefix` + the entry's name."""

    prefix: str
    source: str  # the layer feeding the block's input ("" for a top-level layer, whose inputs are full names)
    block: str  # the block instance's name, "" for a top-level layer
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Graph:
    """A configured network. Its layers are kept as segments (one per block or top-level layer) and materialized on
    first use, so that totals of a sweep never pay for thousands of per-layer records."""

    spec: Spec
    config: Mapping[str, Any]
    input: Shape
    output: Shape
    blocks: tuple[Block, ...]
    segments: tuple[Segment, ...]
    sums: Totals

    @cached_property
    def layers(self) -> tuple[Layer, ...]:
        layers = []
        for seg in self.segments:
            prefix = seg.prefix
            for e in seg.entries:
                inputs = tuple([seg.source if i == IN else prefix + i for i in e.inputs])
                layers.append(Layer(prefix + e.name, e.op, e.attrs, inputs, e.in_shapes, *e.numbers, seg.block))
        return tuple(layers)

    def block_layers(self, block: Block) -> tuple[Layer, ...]:
        return self.layers[block.start : block.stop]


def expand(spec: Spec | str, overrides: Mapping[str, Any] | None = None) -> Graph:
    """Expand `spec` (a Spec, built-in name or path) with parameter `overrides` into a Graph."""
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    config = resolve_config(spec, overrides or {})
    return _Builder(spec, config).build()


# --- per-layer evaluation, cached: many layers and units repeat with identical arguments --------------------------


@lru_cache(maxsize=65536)
def _evaluate(op: str, attrs: tuple, in_shapes: tuple[Shape, ...]) -> tuple[Mapping[str, Any], Numbers]:
    kind = KINDS[op]
    full = {**kind.defaults, **dict(attrs)}
    for key, value in attrs:  # a block's layers: their numbers are derived, not read (a spec's are checked already)
        arg = kind.args.get(key)
        if arg is not None and arg.maximum is not None and value is not None and value > arg.maximum:
            raise LayerError(f"{key} {value} is above the maximum {_bound(arg.maximum)}", key)
    ev = kind.rule(full, in_shapes)
    _check_shape(ev.out)
    out_n = prod(ev.out)
    activations = out_n if kind.counts_activations else 0
    memory = 0 if kind.view else sum(prod(s) for s in in_shapes) + out_n + ev.params
    return full, Numbers(ev.out, ev.params, ev.macs, ev.macs + ev.fvcore_extra, activations, memory, ev.op_class)


@lru_cache(maxsize=16384)
def _block_template(kind: str, args: tuple, in_shape: Shape) -> tuple[tuple[Entry, ...], Totals]:
    prims = BLOCKS[kind].expand(dict(args), in_shape)
    shapes: dict[str, Shape] = {IN: in_shape}
    prev = IN
    template = []
    for p in prims:
        inputs = p.inputs or (prev,)
        in_shapes = tuple(shapes[i] for i in inputs)
        try:
            full, numbers = _evaluate(p.op, tuple(sorted(p.attrs.items())), in_shapes)
        except LayerError as exc:
            raise LayerError(f"{p.name}: {exc}") from None
        shapes[p.name] = numbers.out
        prev = p.name
        template.append(Entry(p.name, p.op, full, inputs, in_shapes, numbers))
    return tuple(template), _sums(template)


def _check_shape(shape: Shape) -> None:
    """Every tensor is bounded: C <= MAX_CHANNELS, H and W <= MAX_SPATIAL, a flat one MAX_FEATURES."""
    if len(shape) == 3:
        c, h, w = shape
        if c > MAX_CHANNELS:
            raise LayerError(f"the output has {c:,} channels, more than the maximum {MAX_CHANNELS:,}")
        if h > MAX_SPATIAL or w > MAX_SPATIAL:
            raise LayerError(f"the output is {h}x{w}, larger than the maximum {MAX_SPATIAL:,} in height and width")
    elif prod(shape) > MAX_FEATURES:
        raise LayerError(f"the output has {prod(shape):,} elements, more than the maximum {MAX_FEATURES:,}")


def _bound(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else format_value(value)


def _text(value: Any) -> str:
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


def _sums(entries: list[Entry] | tuple[Entry, ...]) -> Totals:
    return Totals.of(e.numbers for e in entries)


_INPUT_ARGS = (
    Arg(int, minimum=1, maximum=MAX_CHANNELS),
    Arg(int, minimum=1, maximum=MAX_SPATIAL),
    Arg(int, minimum=1, maximum=MAX_SPATIAL),
)
_REPEAT = Arg(int, minimum=1, maximum=MAX_REPEAT)
_STAGE_STRIDE = Arg(int, minimum=1, maximum=MAX_WINDOW)


class _Builder:
    def __init__(self, spec: Spec, config: dict[str, Any]) -> None:
        self.spec = spec
        self.config = config
        self.env: dict[str, Any] = dict(config)
        self.budget = Budget()  # one for the whole expansion: every expression evaluated spends from it
        self.env[BUDGET] = self.budget
        self.segments: list[Segment] = []
        self.count = 0  # layers so far
        self.segment_sums: list[Totals] = []
        self.blocks: list[Block] = []
        self.outputs: dict[str, tuple[str, Shape]] = {}  # entry name -> (producing layer name, shape)
        self.last: tuple[str, Shape] = (INPUT, ())

    def build(self) -> Graph:
        data = self.spec.data
        self._functions(data.get("functions", {}))
        for name, value in data.get("define", {}).items():
            path = ("define", name)
            self._check_new_name(name, path)
            self.env[name] = self._literal(value, path)
        shape = self._input(data["input"])
        self.outputs[INPUT] = self.last = (INPUT, shape)
        for i, entry in enumerate(data["layers"]):
            self._entry(entry, ("layers", i))
        sums = Totals(*map(sum, zip(*self.segment_sums, strict=False)))  # field by field
        return Graph(self.spec, self.config, shape, self.last[1], tuple(self.blocks), tuple(self.segments), sums)

    # --- environment -------------------------------------------------------------------------------------------

    def _check_new_name(self, name: Any, path: tuple) -> None:
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise self.spec.error(path, f"invalid name '{_text(name)}'")
        if name.startswith(RESERVED_PREFIX):
            raise self.spec.error(path, f"invalid name '{name}': names starting with '{RESERVED_PREFIX}' are reserved")
        if name in self.env or name in BUILTINS:
            raise self.spec.error(path, f"'{name}' is already defined")

    def _functions(self, functions: dict[str, Any]) -> None:
        for key, body in functions.items():
            path = ("functions", key)
            match = FUNC_RE.match(str(key))
            if not match:
                raise self.spec.error(path, f"a function is declared as 'name(arg, ...)', got '{key}'")
            name, arglist = match.group(1), match.group(2)
            args = tuple(a.strip() for a in arglist.split(",") if a.strip())
            self._check_new_name(name, path)
            for arg in args:
                if not NAME_RE.match(arg) or arg.startswith(RESERVED_PREFIX):
                    raise self.spec.error(path, f"invalid argument name '{arg}' of {name}()")
            if len(set(args)) != len(args):
                raise self.spec.error(path, f"{name}() names an argument twice")
            if not isinstance(body, str):
                raise self.spec.error(path, "a function body must be an expression string")
            try:
                compiled = compile_expr(body)
            except ExprError as exc:
                raise self.spec.error(path, str(exc)) from None
            self.env[name] = UserFunction(name, args, compiled, body)

    def _expr(self, text: str, path: tuple) -> Any:
        try:
            return compile_expr(text)(self.env)
        except ExprError as exc:
            raise self.spec.error(path, str(exc)) from None

    def _literal(self, value: Any, path: tuple, depth: int = 0) -> Any:
        """A define value: strings are expressions; lists and tables are evaluated element by element."""
        if isinstance(value, str):
            return self._expr(value, path)
        if depth >= MAX_NESTING and isinstance(value, (list, dict)):
            raise self.spec.error(path, f"lists and tables nested too deeply (more than {MAX_NESTING} levels)")
        if isinstance(value, list):
            return [self._literal(v, (*path, i), depth + 1) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {self._number(k, (*path, k)): self._literal(v, (*path, k), depth + 1) for k, v in value.items()}
        if value is None:
            raise self.spec.error(path, "a value is missing")
        return self._number(value, path)

    def _number(self, value: Any, path: tuple) -> Any:
        """A number read from the spec: finite, and an integer within the evaluator's MAX_ABS_INT."""
        if isinstance(value, float) and not math.isfinite(value):
            raise self.spec.error(path, f"must be a finite number, got {value}")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ABS_INT:
            raise self.spec.error(path, f"number too large (at most 2**62 in magnitude), got {_text(value)}")
        return value

    def _input(self, raw: Any) -> Shape:
        if not isinstance(raw, list) or len(raw) != 3:
            raise self.spec.error(("input",), "input must be [channels, height, width]")
        return tuple(self._value(arg, v, ("input", i)) for i, (arg, v) in enumerate(zip(_INPUT_ARGS, raw, strict=True)))

    def _value(self, arg: Arg, raw: Any, path: tuple) -> Any:
        """One argument's value (an expression is evaluated): of the argument's type, within its minimum and maximum
        (a number is finite: NaN and infinity are refused), one of its choices."""
        value = raw
        if isinstance(raw, str):
            if arg.type is str and arg.choices is not None:
                value = self._choice(arg.choices, raw, path)
            else:
                value = self._expr(raw, path)
        if arg.type is int:
            if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_ABS_INT:
                value = int(value)
            elif isinstance(value, float) and value.is_integer() and arg.maximum is not None:
                raise self.spec.error(path, f"must be at most {_bound(arg.maximum)}, got {_text(value)}")
            if isinstance(value, bool) or not isinstance(value, int):
                text = _text(raw) if raw is value else f"{_text(raw)} = {_text(value)}"
                raise self.spec.error(path, f"must be a whole number, got {text}")
        elif arg.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.spec.error(path, f"must be a number, got {shown(value)}")
            if isinstance(value, float) and not math.isfinite(value):
                raise self.spec.error(path, f"must be a finite number, got {value}")
            if isinstance(value, int) and arg.maximum is not None and value > arg.maximum:
                raise self.spec.error(path, f"must be at most {_bound(arg.maximum)}, got {_text(value)}")
            value = float(value)
        elif arg.type is bool:
            if not isinstance(value, bool):
                raise self.spec.error(path, f"must be true or false, got {shown(value)}")
        elif not isinstance(value, str):
            raise self.spec.error(path, f"must be a string, got {shown(value)}")
        if arg.minimum is not None and value < arg.minimum:
            raise self.spec.error(path, f"must be at least {format_value(arg.minimum)}, got {_text(value)}")
        if arg.maximum is not None and value > arg.maximum:
            raise self.spec.error(path, f"must be at most {_bound(arg.maximum)}, got {_text(value)}")
        if arg.choices is not None and value not in arg.choices:
            raise self.spec.error(path, f"must be one of {', '.join(map(str, arg.choices))}, got {shown(value)}")
        return value

    def _choice(self, choices: tuple[Any, ...], raw: str, path: tuple) -> Any:
        """A string argument with fixed choices: one of them, or the name of a parameter or define value holding one
        (the value is then checked against the choices by the caller); any other text is a wrong choice."""
        if raw in choices:
            return raw
        if raw in self.env and not raw.startswith(RESERVED_PREFIX) and not isinstance(self.env[raw], UserFunction):
            return self.env[raw]
        raise self.spec.error(path, f"must be one of {', '.join(map(str, choices))}, got {shown(raw)}")

    def _args(self, schema: dict[str, Arg], raw: Mapping[str, Any], path: tuple, skip: set[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key in skip:
                continue
            if key not in schema:
                expected = ", ".join(sorted(schema)) or "none"
                raise self.spec.error((*path, key), f"unknown argument '{key}' (arguments: {expected})")
            if value is None and schema[key].default is None and not schema[key].required:
                values[key] = None
                continue
            values[key] = self._value(schema[key], value, (*path, key))
        for key, arg in schema.items():
            if key not in values:
                if arg.required:
                    raise self.spec.error(path, f"missing required argument '{key}'")
                values[key] = arg.default
        return values

    # --- layers, blocks, stages ------------------------------------------------------------------------------------

    def _entry(self, raw: Any, path: tuple) -> None:
        if not isinstance(raw, dict):
            raise self.spec.error(path, "a layer is a mapping with 'op' (or a stage, with 'stage')")
        if "stage" in raw:
            self._stage(raw, path)
            return
        if "op" not in raw:
            raise self.spec.error(path, "missing 'op' (a layer kind or block type) or 'stage'")
        op = raw["op"]
        if not isinstance(op, str):
            raise self.spec.error((*path, "op"), f"op must be a layer kind or block type (a string), got {shown(op)}")
        name = raw.get("name", f"{op}_{path[-1]}")
        self._check_name(name, (*path, "name") if "name" in raw else path)
        inputs = self._inputs(raw, path)
        if op in BLOCKS:
            if len(inputs) != 1:
                raise self.spec.error((*path, "inputs"), f"a {op} block takes one input")
            args = self._args(BLOCKS[op].args, raw, path, ENTRY_KEYS)
            self._block(name, op, args, inputs[0], raw, path)
        elif op in KINDS:
            self._primitive(name, op, self._args(KINDS[op].args, raw, path, ENTRY_KEYS), inputs, raw, path)
        else:
            known = ", ".join(sorted(KINDS) + sorted(BLOCKS))
            raise self.spec.error((*path, "op"), f"unknown op '{op}' (known: {known})")

    def _check_name(self, name: Any, path: tuple) -> None:
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise self.spec.error(path, f"invalid layer name {shown(name)} (letters, digits and _)")
        why = reserved_name(name)
        if why is not None:
            raise self.spec.error(path, f"layer name '{name}' is reserved ({why}: torch could not build the layer)")
        if name in self.outputs:
            raise self.spec.error(path, f"duplicate layer name '{name}'")

    def _inputs(self, raw: Mapping[str, Any], path: tuple) -> list[tuple[str, Shape]]:
        if "inputs" not in raw:
            return [self.last]
        names = raw["inputs"]
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not names:
            raise self.spec.error((*path, "inputs"), "inputs must be a list of earlier layer names")
        resolved = []
        for i, n in enumerate(names):
            if not isinstance(n, str):
                raise self.spec.error((*path, "inputs", i), f"an input is the name of an earlier layer, got {shown(n)}")
            if n not in self.outputs:
                raise self.spec.error((*path, "inputs", i), f"undefined layer '{n}' (inputs name earlier layers)")
            resolved.append(self.outputs[n])
        return resolved

    def _fail(self, exc: LayerError, raw: Mapping[str, Any], path: tuple, name: str) -> ShufflecalcError:
        if exc.arg and exc.arg in raw:
            return self.spec.error((*path, exc.arg), f"{exc} (in {name})")
        return self.spec.error(path, f"{name}: {exc}")

    def _primitive(self, name: str, op: str, args: dict[str, Any], inputs: list, raw: Mapping, path: tuple) -> None:
        kind = KINDS[op]
        if kind.inputs and len(inputs) != kind.inputs:
            raise self.spec.error(path, f"{op} takes {kind.inputs} input(s), got {len(inputs)}")
        if not kind.inputs and len(inputs) < 2:
            raise self.spec.error(path, f"{op} needs two or more inputs: list them with 'inputs: [a, b]'")
        in_shapes = tuple(s for _, s in inputs)
        try:
            attrs, numbers = _evaluate(op, tuple(sorted(args.items())), in_shapes)
        except LayerError as exc:
            raise self._fail(exc, raw, path, name) from None
        entry = Entry(name, op, attrs, tuple(n for n, _ in inputs), in_shapes, numbers)
        self._add_segment(Segment("", "", "", (entry,)), _sums((entry,)), path)
        self.outputs[name] = self.last = (name, numbers.out)

    def _add_segment(self, segment: Segment, sums: Totals, path: tuple) -> None:
        if self.count + sums.layers > MAX_LAYERS:
            raise self.spec.error(path, f"the network grows past {MAX_LAYERS:,} layers (the most a spec may expand to)")
        self.segments.append(segment)
        self.segment_sums.append(sums)
        self.count += sums.layers

    def _block(
        self, name: str, op: str, args: dict[str, Any], source: tuple[str, Shape], raw: Mapping, path: tuple
    ) -> None:
        in_name, in_shape = source
        if len(in_shape) != 3:
            raise self.spec.error(path, f"a {op} block needs a C x H x W input")
        try:
            entries, sums = _block_template(op, tuple(sorted(args.items())), in_shape)
        except LayerError as exc:
            raise self._fail(exc, raw, path, name) from None
        start = self.count
        self._add_segment(Segment(name + ".", in_name, name, entries), sums, path)
        out = entries[-1].numbers.out
        self.blocks.append(Block(name, op, args, in_shape, out, start, self.count, path))
        self.outputs[name] = self.last = (f"{name}.{entries[-1].name}", out)

    def _stage(self, raw: Mapping[str, Any], path: tuple) -> None:
        for key in raw:
            if key not in STAGE_KEYS:
                raise self.spec.error(
                    (*path, key), f"unknown key '{key}' in a stage (expected: {', '.join(sorted(STAGE_KEYS))})"
                )
        name = raw["stage"]
        self._check_name(name, (*path, "stage"))
        repeat = self._value(_REPEAT, raw.get("repeat", 1), (*path, "repeat"))
        stride = self._value(_STAGE_STRIDE, raw.get("stride", 2), (*path, "stride"))
        unit = raw.get("unit")
        if not isinstance(unit, dict) or "op" not in unit:
            raise self.spec.error((*path, "unit"), "a stage needs 'unit: {op: <block type>, ...}'")
        op = unit["op"]
        if not isinstance(op, str):
            raise self.spec.error((*path, "unit", "op"), f"op must be a block type (a string), got {shown(op)}")
        if op not in BLOCKS:
            raise self.spec.error(
                (*path, "unit", "op"), f"unknown block type '{op}' (known: {', '.join(sorted(BLOCKS))})"
            )
        schema = BLOCKS[op].args
        if "stride" not in schema:
            raise self.spec.error((*path, "unit", "op"), f"{op} has no stride and cannot form a stage")
        if "stride" in unit:
            raise self.spec.error((*path, "unit", "stride"), "set the stride on the stage (its first unit gets it)")
        first = raw.get("first", {})
        if not isinstance(first, dict):
            raise self.spec.error((*path, "first"), "first must be a mapping of arguments for the first unit")
        unit_args = self._args(schema, unit, (*path, "unit"), {"op"})
        first_args = {
            k: self._value(schema[k], v, (*path, "first", k))
            for k, v in first.items()
            if self._known(schema, k, (*path, "first", k))
        }
        for i in range(repeat):
            args = {**unit_args, **(first_args if i == 0 else {}), "stride": stride if i == 0 else 1}
            self._block(f"{name}.unit{i}", op, args, self.last, {**unit, **(first if i == 0 else {})}, (*path, "unit"))
        self.outputs[name] = self.last

    def _known(self, schema: dict[str, Arg], key: str, path: tuple) -> bool:
        if key not in schema or key == "stride":
            raise self.spec.error(path, f"unknown argument '{key}' (arguments: {', '.join(sorted(schema))})")
        return True
