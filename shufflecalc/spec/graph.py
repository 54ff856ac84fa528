"""Expansion: a spec and a configuration become a `Graph` of named primitive layers with shapes and costs.

This is the one intermediate representation every back-end reads: the cost tables, the formulas, the torch builder,
the budgets. Layer names are dotted (``stage3.unit0.gconv1``) and stable: the torch builder uses them as module names.
No torch import anywhere on this path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

from shufflecalc.errors import ShufflecalcError, format_path, shown
from shufflecalc.spec.blockdefs import Library, expression_names, library
from shufflecalc.spec.blocks import BLOCKS, IN
from shufflecalc.spec.expr import BUDGET, BUILTINS, RESERVED_PREFIX, Budget, ExprError, UserFunction, compile_expr
from shufflecalc.spec.layers import (
    KINDS,
    MAX_CHANNELS,
    MAX_SPATIAL,
    MAX_WINDOW,
    Arg,
    LayerError,
    Shape,
    reserved_name,
)
from shufflecalc.spec.load import FUNC_RE, MODULE_PATH_RE, NAME_RE, Spec, load_spec, resolve_config
from shufflecalc.spec.templates import (
    CURRENT_BUDGET,
    MAX_LAYERS,
    BlockFailure,
    Entry,
    Numbers,
    Template,
    builtin_template,
    evaluate,
    sums,
    user_template,
)
from shufflecalc.spec.totals import Totals
from shufflecalc.spec.values import Scope, text

INPUT = "input"
MAX_REPEAT = 1_000  # units in one stage
ENTRY_KEYS = {"op", "name", "inputs", "unused", "when"}
STAGE_KEYS = {"stage", "repeat", "stride", "unit", "first", "numbered", "unused", "when"}
UNIT_INDEX = "unit_index"  # in a stage's `unit` and `first` arguments: the unit's place in the stage, from 0
UNIT_INDEX_RE = re.compile(rf"\b{UNIT_INDEX}\b")


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


class Segment(NamedTuple):
    """The layers of one block instance (or one top-level layer): full names are `prefix` + the entry's name."""

    prefix: str
    source: str  # the layer feeding the block's input ("" for a top-level layer, whose inputs are full names)
    block: str  # the block instance's name, "" for a top-level layer
    entries: tuple[Entry, ...]


class Unused(NamedTuple):
    """The layers of an entry marked ``unused: true``: built with the model (their parameters exist, as those of
    torchvision's Inception v3 auxiliary classifier do) but never run by the eval forward. They are no layers of the
    graph: only their parameters are counted, apart (`Graph.unused_params`)."""

    at: int  # how many of the graph's layers precede them in the spec (the torch model registers their modules there)
    segment: Segment


def segment_layers(seg: Segment) -> list[Layer]:
    """The layers of one segment, with full names."""
    prefix = seg.prefix
    return [Layer(prefix + e.name, e.op, e.attrs, tuple([seg.source if i == IN else prefix + i for i in e.inputs]),
                  e.in_shapes, *e.numbers, seg.block) for e in seg.entries]


@dataclass(frozen=True)
class Graph:
    """A configured network. Its layers are kept as segments (one per block or top-level layer) and materialized on
    first use, so that totals of a sweep never pay for thousands of per-layer records. `layers`, `blocks`, `segments`
    and `sums` are what the eval forward runs; `unused` holds the entries marked ``unused: true``."""

    spec: Spec
    config: Mapping[str, Any]
    input: Shape
    output: Shape
    blocks: tuple[Block, ...]
    segments: tuple[Segment, ...]
    sums: Totals
    unused: tuple[Unused, ...] = ()

    @cached_property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(layer for seg in self.segments for layer in segment_layers(seg))

    @cached_property
    def unused_layers(self) -> tuple[Layer, ...]:
        """The layers of the entries marked ``unused: true``, in spec order. Their numbers are what they would cost
        if run; only their parameters count (`unused_params`)."""
        return tuple(layer for u in self.unused for layer in segment_layers(u.segment))

    @property
    def unused_params(self) -> int:
        """The parameters of the layers the eval forward never runs: the torch model holds ``sums.params`` +
        ``unused_params``."""
        return sum(e.numbers.params for u in self.unused for e in u.segment.entries)

    def block_layers(self, block: Block) -> tuple[Layer, ...]:
        return self.layers[block.start : block.stop]


def expand(spec: Spec | str, overrides: Mapping[str, Any] | None = None) -> Graph:
    """Expand `spec` (a Spec, built-in name or path) with parameter `overrides` into a Graph."""
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    config = resolve_config(spec, overrides or {})
    return _Builder(spec, config).build()


_INPUT_ARGS = (
    Arg(int, minimum=1, maximum=MAX_CHANNELS),
    Arg(int, minimum=1, maximum=MAX_SPATIAL),
    Arg(int, minimum=1, maximum=MAX_SPATIAL),
)
_REPEAT = Arg(int, minimum=1, maximum=MAX_REPEAT)
_STAGE_STRIDE = Arg(int, minimum=1, maximum=MAX_WINDOW)
_UNUSED = Arg(bool, default=False)
_NUMBERED = Arg(bool, default=False)  # a stage's units named <stage>.0, <stage>.1 (as torch's nn.Sequential), not unit0
_WHEN = Arg(bool, default=True)


@lru_cache(maxsize=4096)
def _names(body: str) -> frozenset[str]:
    return frozenset(expression_names(body))


class _Builder:
    def __init__(self, spec: Spec, config: dict[str, Any]) -> None:
        self.spec = spec
        self.config = config
        self.env: dict[str, Any] = dict(config)
        self.budget = Budget()  # one for the whole expansion: every expression evaluated spends from it
        self.env[BUDGET] = self.budget
        self.scope = Scope(self.env, self.spec.error)
        self.library: Library = {}
        self.segments: list[Segment] = []
        self.count = 0  # layers so far
        self.segment_sums: list[Totals] = []
        self.blocks: list[Block] = []
        self.outputs: dict[str, tuple[str, Shape]] = {}  # entry name -> (producing layer name, shape)
        self.last: tuple[str, Shape] = (INPUT, ())
        self.produced: dict[str, tuple[str, tuple]] = {}  # producing layer name -> (entry name, YAML path)
        self.consumed: set[str] = set()  # producing layer names some layer reads
        self.unused: list[Unused] = []  # the segments of entries marked `unused: true`
        self.unused_count = 0  # their layers
        self.unused_names: set[str] = set()  # names in `outputs` that such entries made
        self.parents: set[str] = set()  # the dotted prefixes of the module-path names so far (a.b.c: a, a.b)
        self.in_unused = False  # expanding such an entry

    def build(self) -> Graph:
        data = self.spec.data
        self.library = library(self.spec)
        self._functions(data.get("functions", {}))
        for name, value in data.get("define", {}).items():
            path = ("define", name)
            self._check_new_name(name, path)
            self.env[name] = self.scope.literal(value, path)
        shape = self._input(data["input"])
        self.outputs[INPUT] = self.last = (INPUT, shape)
        token = CURRENT_BUDGET.set(self.budget)
        try:
            for i, entry in enumerate(data["layers"]):
                self._entry(entry, ("layers", i))
        finally:
            CURRENT_BUDGET.reset(token)
        if not self.segments:
            raise self.spec.error(("layers",), "the eval forward runs nothing: every entry is marked 'unused: true' "
                                               "or left out by its 'when'")
        self._check_dead_ends()
        totals = Totals(*map(sum, zip(*self.segment_sums, strict=False)))  # field by field
        return Graph(self.spec, self.config, shape, self.last[1], tuple(self.blocks), tuple(self.segments), totals,
                     tuple(self.unused))

    def _check_dead_ends(self) -> None:
        """Every layer's output is read by a later layer, or is the network's output: a dead branch would be counted
        here but never run in torch (a trace drops it), so no count of it could be checked."""
        for layer, (entry, path) in self.produced.items():
            if layer not in self.consumed and layer != self.last[0]:
                raise self.spec.error(path, f"the output of '{entry}' is read by no later layer and is not the "
                                            "network's output (name it in a later layer's 'inputs', mark it "
                                            "'unused: true' if the eval forward never runs it, or remove it)")

    # --- environment -------------------------------------------------------------------------------------------

    def _check_new_name(self, name: Any, path: tuple) -> None:
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise self.spec.error(path, f"invalid name '{text(name)}'")
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
            self._check_function_names(name, args, body, path)
            self.env[name] = UserFunction(name, args, compiled, body)

    def _check_function_names(self, name: str, args: tuple[str, ...], body: str, path: tuple) -> None:
        """A name a function's body reads that nothing defines is reported at the function, not where it is called."""
        data = self.spec.data
        known = set(args) | set(self.config) | set(BUILTINS) | set(data.get("define", {}))
        known |= {m.group(1) for key in data.get("functions", {}) if (m := FUNC_RE.match(str(key)))}
        unknown = sorted(_names(body) - known)
        if unknown:
            raise self.spec.error(path, f"{name}() reads undefined name '{unknown[0]}' (its arguments, parameters, "
                                        "defines and functions are known)")

    def _input(self, raw: Any) -> Shape:
        if not isinstance(raw, list) or len(raw) != 3:
            raise self.spec.error(("input",), "input must be [channels, height, width]")
        args = zip(_INPUT_ARGS, raw, strict=True)
        return tuple(self.scope.value(arg, v, ("input", i)) for i, (arg, v) in enumerate(args))

    # --- layers, blocks, stages ------------------------------------------------------------------------------------

    def _entry(self, raw: Any, path: tuple) -> None:
        if not isinstance(raw, dict):
            raise self.spec.error(path, "a layer is a mapping with 'op' (or a stage, with 'stage')")
        if "when" in raw and not self.scope.value(_WHEN, raw["when"], (*path, "when")):
            return  # left out, as if it were not listed (Inception v3's `when: aux_logits`)
        if "unused" in raw and self.scope.value(_UNUSED, raw["unused"], (*path, "unused")):
            self._unused_entry(raw, path)
            return
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
        if op in KINDS:
            self._primitive(name, op, self.scope.args(KINDS[op].args, raw, path, ENTRY_KEYS), inputs, raw, path)
        elif op in BLOCKS or op in self.library:
            if len(inputs) != 1:
                raise self.spec.error((*path, "inputs"), f"a {op} block takes one input")
            args = self._use_args(op, raw, path, ENTRY_KEYS)
            self._block(name, op, args, inputs[0], raw, path)
        else:
            known = ", ".join(sorted(KINDS) + sorted(BLOCKS) + sorted(self.library))
            raise self.spec.error((*path, "op"), f"unknown op '{op}' (known: {known})")

    def _unused_entry(self, raw: Mapping[str, Any], path: tuple) -> None:
        """An entry marked ``unused: true`` (a layer, block or stage the eval forward never runs, such as Inception
        v3's auxiliary classifier): expanded and checked as any other, its layers kept apart (`Graph.unused`). It
        reads the previous entry unless `inputs` says otherwise, and the entries after it continue from that entry;
        only another unused entry may read it, and nothing needs to read it."""
        last, before = self.last, set(self.outputs)
        self.in_unused = True
        self._entry({k: v for k, v in raw.items() if k not in ("unused", "when")}, path)
        self.in_unused = False
        self.unused_names |= self.outputs.keys() - before
        self.last = last

    def _block_args(self, op: str) -> dict[str, Arg]:
        return BLOCKS[op].args if op in BLOCKS else self.library[op].args

    def _use_args(self, op: str, raw: Mapping[str, Any], path: tuple, skip: set[str]) -> dict[str, Any]:
        """The arguments of a use of block `op`; for a user-defined block, a mistake also names its declaration."""
        try:
            return self.scope.args(self._block_args(op), raw, path, skip)
        except ShufflecalcError as exc:
            if op in BLOCKS:
                raise
            raise self._declared(exc, op) from None

    def _declared(self, exc: ShufflecalcError, op: str) -> ShufflecalcError:
        """`exc`, at a use of user block `op`, naming where the block declares its arguments too."""
        defn = self.library[op]
        where = defn.where((*defn.path, "args") if "args" in defn.doc.data["blocks"][defn.name] else defn.path)
        return ShufflecalcError(f"{exc.message} (block '{op}' declares its arguments at {where})",
                                file=exc.file, line=exc.line, path=exc.path)

    def _check_name(self, name: Any, path: tuple) -> None:
        """A name, or a module path (``layer1.0.conv1``, as `shufflecalc import` names layers): the torch model nests
        its module there, so no layer may be named inside another (``a`` and ``a.b``)."""
        if not isinstance(name, str) or not (NAME_RE.match(name) or MODULE_PATH_RE.match(name)):
            raise self.spec.error(path, f"invalid layer name {shown(name)} (letters, digits and _, or a module path: "
                                        "parts of letters, digits, _ and - joined by dots)")
        for part in name.split("."):
            why = reserved_name(part)
            if why is not None:
                raise self.spec.error(path, f"layer name '{name}' is reserved ({why}: torch could not build the "
                                            "layer)")
        if name in self.outputs:
            raise self.spec.error(path, f"duplicate layer name '{name}'")
        parents = [name[:i] for i, ch in enumerate(name) if ch == "."]
        inside = next((p for p in parents if p in self.outputs), None) or (name if name in self.parents else None)
        if inside is not None:
            raise self.spec.error(path, f"layer name '{name}' nests a module inside '{inside}', or the other way round "
                                        "(torch could not build both)")
        self.parents.update(parents)

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
            if n in self.unused_names and not self.in_unused:
                raise self.spec.error((*path, "inputs", i), f"'{n}' is marked 'unused: true' (the eval forward never "
                                                            "runs it): only another unused entry may read it")
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
            attrs, numbers = evaluate(op, tuple(sorted(args.items())), in_shapes)
        except LayerError as exc:
            raise self._fail(exc, raw, path, name) from None
        entry = Entry(name, op, attrs, tuple(n for n, _ in inputs), in_shapes, numbers)
        self._add_segment(Segment("", "", "", (entry,)), sums((entry,)), path)
        if not self.in_unused:  # an unused layer needs no reader, and its reading keeps nothing alive in eval
            self.consumed.update(n for n, _ in inputs)
            self.produced[name] = (name, path)
        self.outputs[name] = self.last = (name, numbers.out)

    def _add_segment(self, segment: Segment, totals: Totals, path: tuple) -> None:
        if self.count + self.unused_count + totals.layers > MAX_LAYERS:
            raise self.spec.error(path, f"the network grows past {MAX_LAYERS:,} layers (the most a spec may expand to)")
        if self.in_unused:
            self.unused.append(Unused(self.count, segment))
            self.unused_count += totals.layers
            return
        self.segments.append(segment)
        self.segment_sums.append(totals)
        self.count += totals.layers

    def _template(self, name: str, op: str, args: dict[str, Any], in_shape: Shape, raw: Mapping,
                  path: tuple) -> Template:
        """The layers of one block instance: a built-in block's, or a user-defined one's (whose mistakes are reported
        at both places: this use, and the line of the block's declaration)."""
        if op in BLOCKS:
            try:
                return builtin_template(op, tuple(sorted(args.items())), in_shape)
            except LayerError as exc:
                raise self._fail(exc, raw, path, name) from None
        try:
            return user_template(self.library[op], args, in_shape, self.env)
        except BlockFailure as exc:
            where = " -> ".join([f"{format_path(path)} ({name})", *exc.sites])
            line = self.spec.doc.line(path)
            raise ShufflecalcError(exc.message, file=self.spec.doc.file, line=line, path=where) from None

    def _block(
        self, name: str, op: str, args: dict[str, Any], source: tuple[str, Shape], raw: Mapping, path: tuple
    ) -> None:
        in_name, in_shape = source
        if len(in_shape) != 3 and op in BLOCKS:  # a user's block takes any input (tokens T x C, a flat vector)
            raise self.spec.error(path, f"a {op} block needs a C x H x W input")
        template = self._template(name, op, args, in_shape, raw, path)
        start = self.count
        self._add_segment(Segment(name + ".", in_name, name, template.entries), template.sums, path)
        out = next(e.numbers.out for e in reversed(template.entries) if e.name == template.output)
        if not self.in_unused:  # see _primitive; an unused block is no block of the graph (it has no layers there)
            self.blocks.append(Block(name, op, args, in_shape, out, start, self.count, path))
            self.consumed.add(in_name)
            self.produced[f"{name}.{template.output}"] = (name, path)
        self.outputs[name] = self.last = (f"{name}.{template.output}", out)

    def _stage(self, raw: Mapping[str, Any], path: tuple) -> None:
        for key in raw:
            if key not in STAGE_KEYS:
                raise self.spec.error(
                    (*path, key), f"unknown key '{key}' in a stage (expected: {', '.join(sorted(STAGE_KEYS))})"
                )
        name = raw["stage"]
        self._check_name(name, (*path, "stage"))
        repeat = self.scope.value(_REPEAT, raw.get("repeat", 1), (*path, "repeat"))
        numbered = self.scope.value(_NUMBERED, raw.get("numbered", False), (*path, "numbered"))
        stride = self.scope.value(_STAGE_STRIDE, raw.get("stride", 2), (*path, "stride"))
        unit = raw.get("unit")
        if not isinstance(unit, dict) or "op" not in unit:
            raise self.spec.error((*path, "unit"), "a stage needs 'unit: {op: <block type>, ...}'")
        op = unit["op"]
        if not isinstance(op, str):
            raise self.spec.error((*path, "unit", "op"), f"op must be a block type (a string), got {shown(op)}")
        if op not in BLOCKS and op not in self.library:
            known = ", ".join(sorted(BLOCKS) + sorted(self.library))
            raise self.spec.error((*path, "unit", "op"), f"unknown block type '{op}' (known: {known})")
        schema = self._block_args(op)
        if "stride" not in schema:
            error = self.spec.error((*path, "unit", "op"), f"{op} has no stride and cannot form a stage")
            raise error if op in BLOCKS else self._declared(error, op)
        if "stride" in unit:
            raise self.spec.error((*path, "unit", "stride"), "set the stride on the stage (its first unit gets it)")
        first = raw.get("first", {})
        if not isinstance(first, dict):
            raise self.spec.error((*path, "first"), "first must be a mapping of arguments for the first unit")
        per_unit = any(isinstance(v, str) and UNIT_INDEX_RE.search(v) for v in (*unit.values(), *first.values()))
        if per_unit and UNIT_INDEX in self.scope.env:
            raise self.spec.error(path, f"'{UNIT_INDEX}' names the unit's place in a stage; rename the parameter, "
                                        "define or argument of that name")
        unit_args: dict[str, Any] = {}
        first_args: dict[str, Any] = {}
        for i in range(repeat):
            if per_unit or i == 0:  # a unit's arguments may read its place in the stage, `unit_index`
                self.scope.env[UNIT_INDEX] = i
                try:
                    unit_args = self._use_args(op, {**unit, "stride": stride}, (*path, "unit"), {"op"})
                    first_args = {
                        k: self.scope.value(schema[k], v, (*path, "first", k))
                        for k, v in first.items()
                        if self._known(schema, k, (*path, "first", k))
                    }
                finally:
                    del self.scope.env[UNIT_INDEX]
            args = {**unit_args, **(first_args if i == 0 else {}), "stride": stride if i == 0 else 1}
            unit_name = f"{name}.{i}" if numbered else f"{name}.unit{i}"
            self._block(unit_name, op, args, self.last, {**unit, **(first if i == 0 else {})}, (*path, "unit"))
        self.outputs[name] = self.last

    def _known(self, schema: dict[str, Arg], key: str, path: tuple) -> bool:
        if key not in schema or key == "stride":
            raise self.spec.error(path, f"unknown argument '{key}' (arguments: {', '.join(sorted(schema))})")
        return True
