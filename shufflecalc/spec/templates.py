"""Templates: what one layer and one block instance expand to, evaluated, checked and cached.

A block instance's template is its layers as `Entry`s, named and connected locally (`IN` is the block's input), with
their sums and the name of the one that is the block's output; the graph prefixes the names with the instance's
(``stage3.unit0.`` + ``gconv1``). Layers and blocks repeat with identical arguments across a network and across the
configurations of a sweep, so all three are cached: a layer on (kind, arguments, input shapes), a built-in block on
(kind, arguments, input shape), a user-defined block on (definition, arguments, input shape, and the values of the
spec's names its expressions read: `BlockDef.free`, and the names the functions it calls read).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from functools import lru_cache
from math import prod
from typing import Any, NamedTuple

from shufflecalc.errors import shown
from shufflecalc.spec.blockdefs import BLOCK_INPUT, LAYER_KEYS, BlockDef, expression_names
from shufflecalc.spec.blocks import BLOCKS, IN
from shufflecalc.spec.expr import BUDGET, Budget, UserFunction
from shufflecalc.spec.layers import KINDS, MAX_CHANNELS, MAX_FEATURES, MAX_SPATIAL, LayerError, Shape
from shufflecalc.spec.load import NAME_RE
from shufflecalc.spec.totals import Totals
from shufflecalc.spec.values import Scope, bound

# The step budget of the expansion under way: a user block's template spends from it when it is computed (a cached
# template costs nothing again).
CURRENT_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("budget", default=None)


class Numbers(NamedTuple):
    """What one layer costs and produces (see `layers` for the conventions): the fields of `graph.Layer` from `out`
    to `op_class`, in the same order, so that a Layer is made by spreading them."""

    out: Shape
    params: int
    macs: int
    fvcore_flops: int
    activations: int
    memory_access: int
    op_class: str


class Entry(NamedTuple):
    """One layer of a segment, named and connected locally (`IN` is the segment's input)."""

    name: str
    op: str
    attrs: Mapping[str, Any]
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    numbers: Numbers


class Template(NamedTuple):
    """A block instance's layers, their sums, and the local name of its output layer."""

    entries: tuple[Entry, ...]
    sums: Totals
    output: str


class BlockFailure(Exception):
    """A mistake inside a user-defined block: the message, and where it is: the chain of places from the outermost
    use inside a block down to the line of the declaration (`net.yaml:9 blocks.fire.layers[4].out`)."""

    def __init__(self, message: str, sites: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.sites = sites


# --- layers and built-in blocks -------------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def evaluate(op: str, attrs: tuple, in_shapes: tuple[Shape, ...]) -> tuple[Mapping[str, Any], Numbers]:
    """One layer: its complete arguments and its numbers. A LayerError for arguments the kind refuses."""
    kind = KINDS[op]
    full = {**kind.defaults, **dict(attrs)}
    for key, value in attrs:  # a block's layers: their numbers are derived, not read (a spec's are checked already)
        arg = kind.args.get(key)
        if arg is not None and arg.maximum is not None and value is not None and value > arg.maximum:
            raise LayerError(f"{key} {value} is above the maximum {bound(arg.maximum)}", key)
    ev = kind.rule(full, in_shapes)
    check_shape(ev.out)
    out_n = prod(ev.out)
    activations = out_n if kind.counts_activations else 0
    memory = 0 if kind.view else sum(prod(s) for s in in_shapes) + out_n + ev.params
    return full, Numbers(ev.out, ev.params, ev.macs, ev.macs + ev.fvcore_extra, activations, memory, ev.op_class)


def check_shape(shape: Shape) -> None:
    """Every tensor is bounded: C <= MAX_CHANNELS, H and W <= MAX_SPATIAL, a flat one MAX_FEATURES."""
    if len(shape) == 3:
        c, h, w = shape
        if c > MAX_CHANNELS:
            raise LayerError(f"the output has {c:,} channels, more than the maximum {MAX_CHANNELS:,}")
        if h > MAX_SPATIAL or w > MAX_SPATIAL:
            raise LayerError(f"the output is {h}x{w}, larger than the maximum {MAX_SPATIAL:,} in height and width")
    elif prod(shape) > MAX_FEATURES:
        raise LayerError(f"the output has {prod(shape):,} elements, more than the maximum {MAX_FEATURES:,}")


@lru_cache(maxsize=16384)
def builtin_template(kind: str, args: tuple, in_shape: Shape) -> Template:
    """A built-in block (`blocks.BLOCKS`, Python code) with these (sorted) arguments on this input."""
    prims = BLOCKS[kind].expand(dict(args), in_shape)
    shapes: dict[str, Shape] = {IN: in_shape}
    prev = IN
    entries = []
    for p in prims:
        inputs = p.inputs or (prev,)
        in_shapes = tuple(shapes[i] for i in inputs)
        try:
            full, numbers = evaluate(p.op, tuple(sorted(p.attrs.items())), in_shapes)
        except LayerError as exc:
            raise LayerError(f"{p.name}: {exc}") from None
        shapes[p.name] = numbers.out
        prev = p.name
        entries.append(Entry(p.name, p.op, full, inputs, in_shapes, numbers))
    return Template(tuple(entries), sums(entries), entries[-1].name)


def sums(entries: list[Entry] | tuple[Entry, ...]) -> Totals:
    return Totals.of(e.numbers for e in entries)


# --- user-defined blocks ----------------------------------------------------------------------------------------------


def user_template(defn: BlockDef, args: Mapping[str, Any], in_shape: Shape, spec_env: Mapping[str, Any]) -> Template:
    """A user-defined block with these (checked) arguments on this input, in a spec whose parameters, defines and
    functions are `spec_env`. A BlockFailure for a mistake inside the block."""
    names = _needed(defn, spec_env)
    key = tuple((n, _freeze(spec_env[n])) for n in names)
    return _user_template(defn, tuple(sorted(args.items())), in_shape, key)


def _needed(defn: BlockDef, env: Mapping[str, Any]) -> list[str]:
    """The spec's names the block reads: its free names, those of the blocks it uses, and those of the spec
    functions among them (which read further names)."""
    names: set[str] = set()
    todo = [defn]
    seen_blocks: set[str] = set()
    while todo:
        d = todo.pop()
        if d.name in seen_blocks:
            continue
        seen_blocks.add(d.name)
        names |= d.free
        todo += [d.library[layer["op"]] for layer in d.layers if layer["op"] in d.library]
    functions = [n for n in names if isinstance(env.get(n), UserFunction)]
    while functions:
        for name in expression_names(env[functions.pop()].source):
            if name not in names:
                names.add(name)
                if isinstance(env.get(name), UserFunction):
                    functions.append(name)
    return sorted(n for n in names if n in env and not n.startswith("__"))


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return ("list", tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return ("table", tuple((k, _freeze(v)) for k, v in value.items()))
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "list":
        return [_thaw(v) for v in value[1]]
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "table":
        return {k: _thaw(v) for k, v in value[1]}
    return value


@lru_cache(maxsize=16384)
def _user_template(defn: BlockDef, args: tuple, in_shape: Shape, spec_items: tuple) -> Template:
    spec_env = {n: _thaw(v) for n, v in spec_items}
    budget = CURRENT_BUDGET.get() or Budget()
    env: dict[str, Any] = {**spec_env, **dict(args), BUDGET: budget}
    env.update(in_channels=in_shape[0], in_height=in_shape[1], in_width=in_shape[2])
    scope = Scope(env, lambda path, message: BlockFailure(message, [defn.where(path)]))
    for name, raw in defn.define.items():
        env[name] = scope.literal(raw, (*defn.path, "define", name))
    return _Expansion(defn, scope, spec_env, in_shape).run()


class _Expansion:
    """One user-defined block instance, layer by layer."""

    def __init__(self, defn: BlockDef, scope: Scope, spec_env: Mapping[str, Any], in_shape: Shape) -> None:
        self.defn, self.scope, self.spec_env = defn, scope, spec_env
        self.entries: list[Entry] = []
        self.shapes: dict[str, Shape] = {IN: in_shape}
        self.local: dict[str, str] = {BLOCK_INPUT: IN}  # a layer's local name -> the entry that is its output
        self.last = IN

    def fail(self, path: tuple, message: str) -> BlockFailure:
        return BlockFailure(message, [self.defn.where(path)])

    def run(self) -> Template:
        defn = self.defn
        for i, layer in enumerate(defn.layers):
            path = (*defn.path, "layers", i)
            if not self._present(layer, path):
                continue
            op = layer["op"]
            name = layer.get("name", f"{op}_{i}")
            sources = self._inputs(layer, path)
            if op in KINDS:
                output = self._primitive(name, op, layer, sources, path)
            else:
                output = self._block(name, op, layer, sources, path)
            self.local[name] = self.last = output
        if defn.output is not None and defn.output not in self.local:
            raise self.fail((*defn.path, "output"), f"the output layer '{defn.output}' is not present "
                                                    "(its 'when' is false)")
        output = self.local[defn.output] if defn.output is not None else self.last
        if not self.entries:
            raise self.fail(defn.path, f"block '{defn.name}' has no layers present here (every 'when' is false)")
        return Template(tuple(self.entries), sums(self.entries), output)

    def _present(self, layer: Mapping[str, Any], path: tuple) -> bool:
        when = layer.get("when", True)
        if isinstance(when, str):
            when = self.scope.expr(when, (*path, "when"))
        if not isinstance(when, bool):
            raise self.fail((*path, "when"), f"when must be true or false, got {shown(when)}")
        return when

    def _inputs(self, layer: Mapping[str, Any], path: tuple) -> tuple[str, ...]:
        raw = layer.get("inputs")
        if raw is None:
            return (self.last,)
        items = [raw] if isinstance(raw, str) else raw
        sources = []
        known = ", ".join(self.local)
        for j, item in enumerate(items):
            ref = item
            if ref not in self.local:
                if NAME_RE.match(item) and item not in self.scope.env:
                    raise self.fail((*path, "inputs", j), f"undefined layer '{item}' (inputs name earlier layers of "
                                                          f"the block: {known})")
                ref = self.scope.expr(item, (*path, "inputs", j))
                if not isinstance(ref, str) or ref not in self.local:
                    raise self.fail((*path, "inputs", j), f"{item} gives {shown(ref)}, which names no earlier "
                                                          f"layer of the block ({known})")
            sources.append(self.local[ref])
        return tuple(sources)

    def _primitive(self, name: str, op: str, layer: Mapping[str, Any], sources: tuple[str, ...], path: tuple) -> str:
        kind = KINDS[op]
        if kind.inputs and len(sources) != kind.inputs:
            raise self.fail(path, f"{op} takes {kind.inputs} input(s), got {len(sources)}")
        if not kind.inputs and len(sources) < 2:
            raise self.fail(path, f"{op} needs two or more inputs: list them with 'inputs: [a, b]'")
        args = self.scope.args(kind.args, layer, path, LAYER_KEYS)
        in_shapes = tuple(self.shapes[s] for s in sources)
        try:
            full, numbers = evaluate(op, tuple(sorted(args.items())), in_shapes)
        except LayerError as exc:
            at = (*path, exc.arg) if exc.arg and exc.arg in layer else path
            raise self.fail(at, f"{name}: {exc}" if at == path else str(exc)) from None
        self.entries.append(Entry(name, op, full, sources, in_shapes, numbers))
        self.shapes[name] = numbers.out
        return name

    def _block(self, name: str, op: str, layer: Mapping[str, Any], sources: tuple[str, ...], path: tuple) -> str:
        if len(sources) != 1:
            raise self.fail((*path, "inputs"), f"a {op} block takes one input")
        in_shape = self.shapes[sources[0]]
        if len(in_shape) != 3:
            raise self.fail(path, f"a {op} block needs a C x H x W input")
        if op in BLOCKS:
            args = self.scope.args(BLOCKS[op].args, layer, path, LAYER_KEYS)
            try:
                sub = builtin_template(op, tuple(sorted(args.items())), in_shape)
            except LayerError as exc:
                at = (*path, exc.arg) if exc.arg and exc.arg in layer else path
                raise self.fail(at, f"{exc} (in {name})" if at != path else f"{name}: {exc}") from None
        else:
            inner = self.defn.library[op]
            args = self.scope.args(inner.args, layer, path, LAYER_KEYS)
            try:
                sub = user_template(inner, args, in_shape, self.spec_env)
            except BlockFailure as exc:
                exc.sites.insert(0, f"{self.defn.where(path)} ({name})")
                raise
        prefix = name + "."
        for e in sub.entries:
            inputs = tuple(sources[0] if s == IN else prefix + s for s in e.inputs)
            self.entries.append(Entry(prefix + e.name, e.op, e.attrs, inputs, e.in_shapes, e.numbers))
            self.shapes[prefix + e.name] = e.numbers.out
        return prefix + sub.output


def clear_caches() -> None:
    """Forget every cached layer and template (for measurements from cold, and after changing a kind's rule)."""
    evaluate.cache_clear()
    builtin_template.cache_clear()
    _user_template.cache_clear()


__all__ = ["CURRENT_BUDGET", "BlockFailure", "Entry", "Numbers", "Template", "builtin_template", "check_shape",
           "clear_caches", "evaluate", "sums", "user_template"]
