"""Templates: what one layer and one block instance expand to, evaluated, checked and cached.

A block instance's template is its layers as `Entry`s, named and connected locally (`IN` is the block's input), with
their sums and the name of the one that is the block's output; the graph prefixes the names with the instance's
(``stage3.unit0.`` + ``gconv1``). Layers and blocks repeat with identical arguments across a network and across the
configurations of a sweep, so all three are cached: a layer on (kind, arguments, input shapes), a built-in block on
(kind, arguments, input shape), a user-defined block on (definition, arguments, input shape, and the values of the
spec's names its expressions read: `BlockDef.free`, and the names the functions it calls read).

A built-in block (specs/blocks/builtin.yaml) is expanded in two steps: its plan (each layer's name, op, arguments
and inputs) from its arguments and the input's channels, cached, since its expressions do not read the input's height
and width; then the layers' numbers for the input shape. Its mistakes are `LayerError`s that the graph reports at the
use, never at the shipped file's lines, as the Python blocks it replaces did.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from functools import lru_cache
from math import prod
from typing import Any, NamedTuple

from shufflecalc.errors import shown
from shufflecalc.spec.blockdefs import (
    BLOCK_INPUT,
    LAYER_KEYS,
    TEMPLATE_PART,
    BlockDef,
    expression_names,
    is_template,
)
from shufflecalc.spec.blocks import BLOCKS, IN
from shufflecalc.spec.expr import BUDGET, Budget, UserFunction
from shufflecalc.spec.layers import (
    KINDS,
    MAX_CHANNELS,
    MAX_FEATURES,
    MAX_SPATIAL,
    LayerError,
    Shape,
    reserved_name,
)
from shufflecalc.spec.layers.base import above
from shufflecalc.spec.layers.base import text as pair_text
from shufflecalc.spec.load import MODULE_PATH_RE, NAME_RE
from shufflecalc.spec.totals import Totals
from shufflecalc.spec.values import Scope, bound

MAX_LAYERS = 20_000  # primitive layers in one network (and so in one block)

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
        if arg is not None and arg.maximum is not None and value is not None and above(value, arg.maximum):
            raise LayerError(f"{key} {pair_text(value)} is above the maximum {bound(arg.maximum)}", key)
    ev = kind.rule(full, in_shapes)
    check_shape(ev.out)
    out_n = prod(ev.out)
    activations = out_n if kind.counts_activations else 0
    memory = 0 if kind.view else sum(prod(s) for s in in_shapes) + out_n + ev.params
    return full, Numbers(ev.out, ev.params, ev.macs, ev.macs + ev.fvcore_extra, activations, memory, ev.op_class)


def check_shape(shape: Shape) -> None:
    """Every tensor is bounded: C <= MAX_CHANNELS, H and W <= MAX_SPATIAL; any other rank (flat, tokens T x C) at
    most MAX_FEATURES elements, and tokens C <= MAX_CHANNELS."""
    if len(shape) == 2 and shape[1] > MAX_CHANNELS:
        raise LayerError(f"the output has {shape[1]:,} features per token, more than the maximum {MAX_CHANNELS:,}")
    if len(shape) == 3:
        c, h, w = shape
        if c > MAX_CHANNELS:
            raise LayerError(f"the output has {c:,} channels, more than the maximum {MAX_CHANNELS:,}")
        if h > MAX_SPATIAL or w > MAX_SPATIAL:
            raise LayerError(f"the output is {h}x{w}, larger than the maximum {MAX_SPATIAL:,} in height and width")
    elif prod(shape) > MAX_FEATURES:
        raise LayerError(f"the output has {prod(shape):,} elements, more than the maximum {MAX_FEATURES:,}")


# A plan: each layer's local name, op, arguments (sorted items) and inputs (local names; empty: the previous layer),
# and the local name of the output layer.
Plan = tuple[tuple[tuple[str, str, tuple, tuple[str, ...]], ...], str]


@lru_cache(maxsize=16384)
def builtin_template(kind: str, args: tuple, in_shape: Shape) -> Template:
    """A built-in block (`blocks.BLOCKS`) with these (sorted) arguments on this input. A LayerError for arguments
    or an input it refuses."""
    defn: BlockDef = BLOCKS[kind].defn
    layers, output = _plan(defn, args, in_shape if defn.spatial else in_shape[:1])
    shapes: dict[str, Shape] = {IN: in_shape}
    prev = IN
    entries = []
    for name, op, attrs, inputs in layers:
        inputs = inputs or (prev,)
        in_shapes = tuple(shapes[i] for i in inputs)
        try:
            full, numbers = evaluate(op, attrs, in_shapes)
        except LayerError as exc:
            raise LayerError(f"{name}: {exc}") from None
        shapes[name] = numbers.out
        prev = name
        entries.append(Entry(name, op, full, inputs, in_shapes, numbers))
    return Template(tuple(entries), sums(entries), output)


@lru_cache(maxsize=16384)
def _plan(defn: BlockDef, args: tuple, size: tuple[int, ...]) -> Plan:
    """The layers of a shipped block for these arguments and input size (the channels alone, or (C, H, W) if its
    expressions read the height or width). Its expressions read its arguments, defines and the input size only, and
    spend from a budget of their own (not the spec's)."""
    env: dict[str, Any] = {**dict(args), BUDGET: Budget(), "in_channels": size[0]}
    if len(size) == 3:
        env.update(in_height=size[1], in_width=size[2])
    scope = Scope(env, lambda path, message: LayerError(message))
    for name, raw in defn.define.items():
        env[name] = scope.literal(raw, (*defn.path, "define", name))
    return _Planner(defn, scope).run()


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
    if len(in_shape) == 3:
        env.update(in_channels=in_shape[0], in_height=in_shape[1], in_width=in_shape[2])
    else:  # tokens T x C, or a flat vector of C features
        env.update(in_channels=in_shape[-1], **({"in_tokens": in_shape[0]} if len(in_shape) == 2 else {}))
    scope = Scope(env, lambda path, message: BlockFailure(message, [defn.where(path)]))
    for name, raw in defn.define.items():
        env[name] = scope.literal(raw, (*defn.path, "define", name))
    return _Expansion(defn, scope, spec_env, in_shape).run()


class _Walk:
    """One block instance, layer by layer: the conditions, the layers present, their names, ops and inputs. `fail`
    makes the exception for a mistake (a BlockFailure in a user's block, a LayerError in a built-in one)."""

    def __init__(self, defn: BlockDef, scope: Scope) -> None:
        self.defn, self.scope = defn, scope
        self.local: dict[str, str] = {BLOCK_INPUT: IN}  # a layer's local name -> the entry that is its output
        self.last = IN
        self.produced: dict[str, tuple[str, tuple]] = {}  # a layer's output entry -> (its local name, its path)
        self.consumed: set[str] = set()  # output entries some later layer reads

    def fail(self, path: tuple, message: str, arg: str | None = None) -> Exception:
        raise NotImplementedError

    def run(self) -> Any:  # a Template or a Plan: see _result
        defn = self.defn
        self._require()
        for i, layer in enumerate(defn.layers):
            path = (*defn.path, "layers", i)
            if not self._present(layer, path):
                continue
            op = layer["op"]
            name = layer.get("name", f"{op}_{i}")
            if is_template(op):
                op = self._op(op, path)
            if is_template(name):
                name = self._name(name, (*path, "name"))
            sources = self._inputs(layer, path)
            self.consumed.update(sources)
            self.local[name] = self.last = self._layer(name, op, layer, sources, path)
            self.produced[self.last] = (name, path)
        if defn.output is not None and defn.output not in self.local:
            raise self.fail((*defn.path, "output"), f"the output layer '{defn.output}' is not present "
                                                    "(its 'when' is false)")
        output = self.local[defn.output] if defn.output is not None else self.last
        if output == IN:
            raise self.fail(defn.path, f"block '{defn.name}' has no layers present here (every 'when' is false)")
        for entry, (name, path) in self.produced.items():
            if entry != output and entry not in self.consumed:  # a trace drops it: its count could not be checked
                raise self.fail(path, f"the output of '{name}' is read by no later layer of the block and is not "
                                      "the block's output (name it in a later layer's 'inputs', or remove it)")
        return self._result(output)

    def _layer(self, name: str, op: str, layer: Mapping[str, Any], sources: tuple[str, ...], path: tuple) -> str:
        raise NotImplementedError

    def _result(self, output: str) -> Any:
        raise NotImplementedError

    def _require(self) -> None:
        for i, item in enumerate(self.defn.require):
            path = (*self.defn.path, "require", i)
            that = item["that"]
            if isinstance(that, str):
                that = self.scope.expr(that, (*path, "that"))
            if not isinstance(that, bool):
                raise self.fail((*path, "that"), f"that must be true or false, got {shown(that)}")
            if not that:
                raise self.fail(path, self._render(item["error"], (*path, "error")), item.get("arg"))

    def _render(self, text: str, path: tuple) -> str:
        """A template's text with each {expression} part replaced by its value."""
        return TEMPLATE_PART.sub(lambda m: str(self.scope.expr(m.group(1), path)), text)

    def _op(self, raw: str, path: tuple) -> str:
        op = self._render(raw, (*path, "op"))
        if op not in KINDS:
            raise self.fail((*path, "op"), f"op {raw} gives {shown(op)}, which is not a layer kind (known: "
                                           f"{', '.join(sorted(KINDS))})")
        return op

    def _name(self, raw: str, path: tuple) -> str:
        name = self._render(raw, path)
        if not NAME_RE.match(name):
            raise self.fail(path, f"layer name {raw} gives {shown(name)}, which is not a name (letters, digits and _)")
        why = reserved_name(name)
        if why is not None or name == BLOCK_INPUT:
            raise self.fail(path, f"layer name '{name}' is reserved ({why or 'it names the block input'})")
        if name in self.local:
            raise self.fail(path, f"duplicate layer name '{name}' in the block")
        return name

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
                if is_template(item):
                    ref = self._render(item, (*path, "inputs", j))
                elif ((NAME_RE.match(item) and item not in self.scope.env)
                      or ("." in item and MODULE_PATH_RE.match(item))):  # a module path: downsample.0
                    raise self.fail((*path, "inputs", j), f"undefined layer '{item}' (inputs name earlier layers of "
                                                          f"the block: {known})")
                else:
                    ref = self.scope.expr(item, (*path, "inputs", j))
                if not isinstance(ref, str) or ref not in self.local:
                    raise self.fail((*path, "inputs", j), f"{item} gives {shown(ref)}, which names no earlier "
                                                          f"layer of the block ({known})")
            sources.append(self.local[ref])
        return tuple(sources)

    def _check_inputs(self, op: str, sources: tuple[str, ...], path: tuple) -> None:
        kind = KINDS[op]
        if kind.inputs and len(sources) != kind.inputs:
            raise self.fail(path, f"{op} takes {kind.inputs} input(s), got {len(sources)}")
        if not kind.inputs and len(sources) < 2:
            raise self.fail(path, f"{op} needs two or more inputs: list them with 'inputs: [a, b]'")


class _Planner(_Walk):
    """A built-in block's plan: its layers' names, ops, arguments and inputs, without their numbers. Its layers are
    layer kinds; their arguments are computed, not read, so the kinds' rules check them (as they checked a Python
    block's)."""

    def __init__(self, defn: BlockDef, scope: Scope) -> None:
        super().__init__(defn, scope)
        self.layers: list[tuple[str, str, tuple, tuple[str, ...]]] = []

    def fail(self, path: tuple, message: str, arg: str | None = None) -> Exception:
        return LayerError(message, arg)

    def _layer(self, name: str, op: str, layer: Mapping[str, Any], sources: tuple[str, ...], path: tuple) -> str:
        self._check_inputs(op, sources, path)
        attrs = {key: self.scope.expr(value, (*path, key)) if isinstance(value, str) else value
                 for key, value in layer.items() if key not in LAYER_KEYS}
        self.layers.append((name, op, tuple(sorted(attrs.items())), sources))
        return name

    def _result(self, output: str) -> Plan:
        return tuple(self.layers), output


class _Expansion(_Walk):
    """One user-defined block instance, layer by layer."""

    def __init__(self, defn: BlockDef, scope: Scope, spec_env: Mapping[str, Any], in_shape: Shape) -> None:
        super().__init__(defn, scope)
        self.spec_env = spec_env
        self.entries: list[Entry] = []
        self.shapes: dict[str, Shape] = {IN: in_shape}

    def fail(self, path: tuple, message: str, arg: str | None = None) -> BlockFailure:
        return BlockFailure(message, [self.defn.where(path)])

    def _result(self, output: str) -> Template:
        return Template(tuple(self.entries), sums(self.entries), output)

    def _layer(self, name: str, op: str, layer: Mapping[str, Any], sources: tuple[str, ...], path: tuple) -> str:
        if op in KINDS:
            return self._primitive(name, op, layer, sources, path)
        return self._block(name, op, layer, sources, path)

    def _primitive(self, name: str, op: str, layer: Mapping[str, Any], sources: tuple[str, ...], path: tuple) -> str:
        self._check_inputs(op, sources, path)
        args = self.scope.args(KINDS[op].args, layer, path, LAYER_KEYS)
        in_shapes = tuple(self.shapes[s] for s in sources)
        try:
            full, numbers = evaluate(op, tuple(sorted(args.items())), in_shapes)
        except LayerError as exc:
            at = (*path, exc.arg) if exc.arg and exc.arg in layer else path
            raise self.fail(at, f"{name}: {exc}" if at == path else str(exc)) from None
        self.entries.append(Entry(name, op, full, sources, in_shapes, numbers))
        self.shapes[name] = numbers.out
        self._check_size(path)
        return name

    def _check_size(self, path: tuple) -> None:
        if len(self.entries) > MAX_LAYERS:
            raise self._too_big(path)

    def _too_big(self, path: tuple) -> BlockFailure:
        """A block stops growing at the network's layer limit (nested blocks would otherwise double per level)."""
        return self.fail(path, f"block '{self.defn.name}' grows past {MAX_LAYERS:,} layers (the most a spec may "
                               "expand to)")

    def _block(self, name: str, op: str, layer: Mapping[str, Any], sources: tuple[str, ...], path: tuple) -> str:
        if len(sources) != 1:
            raise self.fail((*path, "inputs"), f"a {op} block takes one input")
        in_shape = self.shapes[sources[0]]
        if len(in_shape) != 3 and op in BLOCKS:  # a user's block takes any input (tokens T x C, a flat vector)
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
        if len(self.entries) + len(sub.entries) > MAX_LAYERS:
            raise self._too_big(path)
        for e in sub.entries:
            inputs = tuple(sources[0] if s == IN else prefix + s for s in e.inputs)
            self.entries.append(Entry(prefix + e.name, e.op, e.attrs, inputs, e.in_shapes, e.numbers))
            self.shapes[prefix + e.name] = e.numbers.out
        return prefix + sub.output


def clear_caches() -> None:
    """Forget every cached layer and template (for measurements from cold, and after changing a kind's rule)."""
    evaluate.cache_clear()
    builtin_template.cache_clear()
    _plan.cache_clear()
    _user_template.cache_clear()


__all__ = ["CURRENT_BUDGET", "BlockFailure", "Entry", "Numbers", "Template", "builtin_template", "check_shape",
           "clear_caches", "evaluate", "sums", "user_template"]
