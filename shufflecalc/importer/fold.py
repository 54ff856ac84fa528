"""Readable imported specs: a module class used several times becomes one user-defined block, consecutive uses in an
``nn.Sequential`` a stage with ``repeat``, and the layer names stay the module paths.

- An *instance* is a module (not a plain ``nn.Sequential`` or ``nn.ModuleList``) whose layers are consecutive in the
  forward, of two or more, all run in eval, reading one tensor from outside and read from outside only at their last
  layer (one input, one output). The outermost instances of a class used twice or more are folded, top down.
- One block per class: its layers are the union of the instances' layers by local name (``conv1``,
  ``downsample.0``), in forward order. A layer some instances lack gets ``when: with_<name>`` (a bool argument, one
  per pattern of presence); an argument whose value differs between instances becomes a block argument (values equal
  in every instance share one: a bottleneck's ``conv3_out`` is its downsample's too; a depthwise conv's ``groups`` is
  its ``out``), the stride one named ``stride``; an input that differs is an expression over a ``with_`` argument.
  Each argument's default is its most common value, so a use writes only what differs.
- The children ``0, 1, ...`` of an ``nn.Sequential`` that are all uses of one block, with stride 1 after the first and
  the same arguments after the first, are a stage (``numbered: true``: units named ``layer1.0``, ``layer1.1``).

Instances of a class that no single block can describe (a layer of one kind in one instance and of another kind in
another, an input that two ``with_`` patterns choose) are left as their layers. `importer.run` keeps the folded spec
only where its expansion is the flat spec's, layer for layer; otherwise the flat spec is the fallback.

Torch-free: the module tree comes as `ImportedModel.modules`, (path, class name) pairs in pre-order, from the
PyTorch model (`trace.module_classes`) or from an ONNX graph's node scopes (`onnxread._modules`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

from shufflecalc.importer.model import ImportedLayer, ImportedModel, flow, scalar, written_args
from shufflecalc.spec.blocks import BLOCKS
from shufflecalc.spec.expr import BUILTINS
from shufflecalc.spec.graph import INPUT
from shufflecalc.spec.layers import KINDS

_ABSENT = object()  # the value of a layer's argument in an instance that lacks the layer
_IDENT = re.compile(r"[^A-Za-z0-9_]+")
_RESERVED = {"input", "in_channels", "in_height", "in_width", "in_tokens", "stride"}
_PAIRS = {"kernel", "stride", "dilation", "output_size", "size"}


@dataclass(frozen=True)
class Use:
    """One folded entry of `layers:`: its mapping (without `inputs`), the layer it reads, and the name later layers
    read its output by."""

    entry: Mapping[str, Any]
    input: str
    output: str


@dataclass
class Folded:
    blocks: list[str]  # the lines under `blocks:`
    uses: dict[str, Use]  # first layer of each use -> the use
    alias: dict[str, str]  # every layer inside a use -> the name its output is read by (the instance's)


@dataclass
class _Instance:
    path: str
    cls: str
    layers: list[ImportedLayer]
    input: str  # the one outside layer it reads

    def local(self, name: str) -> str:
        return INPUT if name == self.input else name[len(self.path) + 1:]


@dataclass
class _Block:
    name: str
    instances: list[_Instance]
    lines: list[str] = field(default_factory=list)
    args: dict[str, list[Any]] = field(default_factory=dict)  # argument -> value per instance
    defaults: dict[str, Any] = field(default_factory=dict)

    def value(self, i: int, arg: str) -> Any:
        """Argument `arg` of instance `i`: its own value, else the default."""
        v = self.args[arg][i]
        return self.defaults[arg] if v is _ABSENT else v

    def values(self, i: int) -> dict[str, Any]:
        """The arguments instance `i` writes: those that differ from the defaults."""
        return {k: v[i] for k, v in self.args.items() if v[i] is not _ABSENT and v[i] != self.defaults[k]}


class _Unfoldable(Exception):
    pass


def _members(layers: Sequence[ImportedLayer], path: str) -> tuple[int, int] | None:
    """The [start, stop) of the layers of module `path`, if consecutive."""
    found = [i for i, ly in enumerate(layers) if ly.name.startswith(path + ".")]
    if not found or found[-1] - found[0] + 1 != len(found):
        return None
    return found[0], found[-1] + 1


def _instance(imported: ImportedModel, readers: Mapping[str, set[str]], path: str, cls: str) -> _Instance | None:
    span = _members(imported.layers, path)
    if span is None or span[1] - span[0] < 2:
        return None
    layers = imported.layers[span[0]:span[1]]
    names = {ly.name for ly in layers}
    outside = {i for ly in layers for i in ly.inputs if i not in names}
    if len(outside) != 1 or any(ly.unused for ly in layers) or imported.output in names:
        return None
    for ly in layers[:-1]:  # read from outside at the last layer only
        if readers.get(ly.name, set()) - names:
            return None
    return _Instance(path, cls, [replace(ly, args=_normal(ly.op, ly.args)) for ly in layers], outside.pop())


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _normal(op: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """A layer's arguments with the defaults that the flat spec leaves out unset (None), as the engine has them:
    conv2d's padding where it is ``dilation * (kernel - 1) // 2``, a pool's stride where it is its kernel."""
    result = dict(args)
    if op == "conv2d" and isinstance(args.get("padding"), (int, tuple, list)):
        (kh, kw), (dh, dw) = _pair(args["kernel"]), _pair(args["dilation"])
        if _pair(args["padding"]) == (dh * (kh - 1) // 2, dw * (kw - 1) // 2):
            result["padding"] = None
    stride = args.get("stride")
    if op in ("maxpool", "avgpool") and stride is not None and _pair(stride) == _pair(args["kernel"]):
        result["stride"] = None
    return result


def fold_model(imported: ImportedModel, taken: set[str]) -> Folded | None:
    """The folded form of an imported model, or None where nothing folds. `taken`: the spec's parameter names."""
    readers: dict[str, set[str]] = {}
    for ly in imported.layers:
        for i in ly.inputs:
            readers.setdefault(i, set()).add(ly.name)
    modules = imported.modules  # (path, class), pre-order, plain containers left out
    counts = Counter(cls for _, cls in modules)
    chosen: list[_Instance] = []
    for path, cls in modules:  # pre-order: the outermost instance of a repeated class wins
        if counts[cls] < 2 or any(path.startswith(c.path + ".") for c in chosen):
            continue
        inst = _instance(imported, readers, path, cls)
        if inst is not None:
            chosen.append(inst)
    by_class: dict[str, list[_Instance]] = {}
    for inst in chosen:
        by_class.setdefault(inst.cls, []).append(inst)
    names = set(KINDS) | set(BLOCKS) | set(taken)
    blocks: list[_Block] = []
    for cls, group in by_class.items():
        base = _IDENT.sub("_", cls) if cls[:1].isalpha() else f"B_{_IDENT.sub('_', cls)}"
        for part in _partition(group, taken):  # the instances one block can describe, in forward order
            name = _unique(base, names)
            blocks.append(_declare(name, part, taken))
            names.add(name)
    if not blocks:
        return None
    folded = Folded([], {}, {})
    for block in blocks:
        folded.blocks += block.lines
    _uses(folded, blocks, imported)
    return folded


def _unique(name: str, taken: set[str]) -> str:
    result, n = name, 2
    while result in taken:
        result, n = f"{name}_{n}", n + 1
    return result


def _partition(group: list[_Instance], taken: set[str]) -> list[list[_Instance]]:
    """The instances of one class split into groups of two or more that one block each describes (greedily, each
    instance joining the first group it fits)."""
    parts: list[list[_Instance]] = []
    for inst in group:
        for part in parts:
            try:
                _declare("x", [*part, inst], taken)
            except _Unfoldable:
                continue
            part.append(inst)
            break
        else:
            parts.append([inst])
    return [p for p in parts if len(p) >= 2]


def _union(group: list[_Instance]) -> list[str]:
    """The local layer names of every instance, in forward order."""
    order: list[str] = []
    for inst in group:
        at = 0
        for ly in inst.layers:
            local = inst.local(ly.name)
            if local in order:
                at = order.index(local) + 1
            else:
                order.insert(at, local)
                at += 1
    return order


def _declare(name: str, group: list[_Instance], taken: set[str]) -> _Block:
    block = _Block(name, group)
    order = _union(group)
    for local in order:  # a module path inside another (conv.1 here, conv.1.0 there): torch cannot build both
        if any(other.startswith(local + ".") for other in order):
            raise _Unfoldable(local)
    tables = [{inst.local(ly.name): ly for ly in inst.layers} for inst in group]
    used = set(taken) | set(BUILTINS) | _RESERVED
    # presence: one `with_` flag per pattern
    flags: dict[tuple[bool, ...], str] = {}
    for local in order:
        present = tuple(local in t for t in tables)
        if all(present) or present in flags:
            continue
        flag = _unique("with_" + _IDENT.sub("_", local.split(".")[0]), used)
        used.add(flag)
        flags[present] = flag
        block.args[flag] = list(present)
    # arguments that differ between instances
    variables: list[tuple[str, str, list[Any]]] = []  # (local, key, value per instance)
    constants: dict[str, dict[str, Any]] = {}
    for local in order:
        here = [t.get(local) for t in tables]
        ops = {ly.op for ly in here if ly is not None}
        if len(ops) != 1:
            raise _Unfoldable(local)
        op = ops.pop()
        keys = {k for ly in here if ly is not None for k in ly.args}
        written = {k for ly in here if ly is not None for k in written_args(ly.op, ly.args)}
        constants[local] = {}
        for key in sorted(keys, key=list(KINDS[op].args).index):
            vector = [ly.args.get(key) if ly is not None else _ABSENT for ly in here]
            values = {_hashable(v) for v in vector if v is not _ABSENT}
            if len(values) == 1:
                if key in written:
                    constants[local][key] = next(v for v in vector if v is not _ABSENT)
                continue
            if any(v is None for v in vector) and key not in ("padding", "stride"):
                raise _Unfoldable(f"{local}.{key}")  # unset in one instance, set in another
            variables.append((local, key, vector))
    bound: dict[tuple[str, str], str] = {}
    for local, key, vector in variables:
        arg = next((a for a, v in block.args.items() if not a.startswith("with_") and _compatible(a, key, v, vector)),
                   None)
        if arg is None:
            if key == "stride" and "stride" not in block.args:
                arg = "stride"  # the stride a stage sets
            else:
                arg = _unique(f"{'m' if local[:1].isdigit() else ''}{_IDENT.sub('_', local)}_{key}", used)
            used.add(arg)
            block.args[arg] = list(vector)
        else:
            block.args[arg] = [a if a is not _ABSENT else b for a, b in zip(block.args[arg], vector, strict=True)]
        bound[(local, key)] = arg
    for arg, vector in block.args.items():
        common = Counter(_hashable(v) for v in vector if v is not _ABSENT).most_common()
        best = max(common, key=lambda c: (c[1], c[0] is False))[0]  # ties: false for a flag
        block.defaults[arg] = next(v for v in vector if v is not _ABSENT and _hashable(v) == best)
    # the declaration
    lines = [f"  {name}:"] + (["    args:"] if block.args else [])
    for arg, vector in block.args.items():
        default = block.defaults[arg]
        text = "null" if default is None else scalar(default)
        lines.append(f"      {arg}: {{type: {_type(arg, vector)}, default: {text}}}")
    lines.append("    layers:")
    for local in order:
        here = [t.get(local) for t in tables]
        first = next(ly for ly in here if ly is not None)
        entry: dict[str, Any] = {"op": first.op, "name": local}
        for key in KINDS[first.op].args:
            if (local, key) in bound:
                entry[key] = bound[(local, key)]
            elif key in constants[local]:
                entry[key] = constants[local][key]
        present = tuple(ly is not None for ly in here)
        inputs = _inputs(local, order, tables, group, flags, present)
        if inputs is not None:
            entry["inputs"] = inputs
        if not all(present):
            entry["when"] = flags[present]
        lines.append("      - " + flow(entry))
    block.lines = lines
    return block


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _compatible(arg: str, key: str, have: list[Any], vector: list[Any]) -> bool:
    """Whether one argument can carry both: equal wherever both layers are present (and there at least once), of the
    same key (or a depthwise conv's groups and an out)."""
    base = arg.rsplit("_", 1)[-1] if arg != "stride" else "stride"
    if not (base == key or {base, key} <= {"out", "groups"}):
        return False
    both = [(a, b) for a, b in zip(have, vector, strict=True) if a is not _ABSENT and b is not _ABSENT]
    return bool(both) and all(a == b for a, b in both)


def _type(arg: str, vector: list[Any]) -> str:
    values = [v for v in vector if v is not _ABSENT and v is not None]
    if all(isinstance(v, bool) for v in values):
        return "bool"
    key = arg.rsplit("_", 1)[-1]
    if key == "padding":
        return "padding"
    if key in _PAIRS or any(isinstance(v, (tuple, list)) for v in values):
        return "pair"
    if all(isinstance(v, int) for v in values):
        return "int"
    if all(isinstance(v, (int, float)) for v in values):
        return "float"
    return "str"


def _inputs(local: str, order: list[str], tables: list[dict[str, ImportedLayer]], group: list[_Instance],
            flags: Mapping[tuple[bool, ...], str], present: tuple[bool, ...]) -> list[str] | None:
    """A block layer's `inputs`: None where every instance reads the layer present before it."""
    seen: list[tuple[str, ...]] = []
    default = True
    for table, inst in zip(tables, group, strict=True):
        if local not in table:
            continue
        ins = tuple(inst.local(i) for i in table[local].inputs)
        before = [o for o in order[: order.index(local)] if o in table]
        default = default and ins == ((before[-1] if before else INPUT),)
        seen.append(ins)
    if default:
        return None
    if len({len(s) for s in seen}) != 1:
        raise _Unfoldable(local)
    result = []
    for j in range(len(seen[0])):
        choices = [s[j] for s in seen]
        if len(set(choices)) == 1:
            result.append(choices[0])
            continue
        if len(set(choices)) != 2:
            raise _Unfoldable(local)
        a = choices[0]
        b = next(c for c in choices if c != a)
        picks: list[bool | None] = []  # per instance: reads `a` (None: lacks the layer)
        k = 0
        for t in tables:
            picks.append(choices[k] == a if local in t else None)
            k += local in t
        flag = next((f for pattern, f in flags.items()
                     if all(p is None or p == q for p, q in zip(picks, pattern, strict=True))), None)
        if flag is not None:
            result.append(f"'{a}' if {flag} else '{b}'")
            continue
        flag = next((f for pattern, f in flags.items()
                     if all(p is None or p != q for p, q in zip(picks, pattern, strict=True))), None)
        if flag is None:
            raise _Unfoldable(local)
        result.append(f"'{b}' if {flag} else '{a}'")
    return result


def _uses(folded: Folded, blocks: list[_Block], imported: ImportedModel) -> None:
    """Each instance's use (or the stage it belongs to) and the names its layers are read by."""
    where: dict[str, tuple[_Block, int]] = {inst.path: (b, i) for b in blocks for i, inst in enumerate(b.instances)}
    done: set[str] = set()
    for block in blocks:
        for i, inst in enumerate(block.instances):
            if inst.path in done:
                continue
            stage = _stage(inst.path, where, block, imported)
            if stage is not None:
                parent, units = stage
                rest = {k: v for k, v in block.values(units[1]).items() if k != "stride"}
                first = {k: block.value(units[0], k) for k in block.args
                         if k != "stride" and block.value(units[0], k) != block.value(units[1], k)}
                stride = block.value(units[0], "stride")
                entry: dict[str, Any] = {"stage": parent, "numbered": True, "repeat": len(units),
                                         "stride": stride[0] if isinstance(stride, tuple) else stride,
                                         "unit": {"op": block.name, **rest}}
                if first:
                    entry["first"] = first
                last = block.instances[units[-1]]
                folded.uses[inst.layers[0].name] = Use(entry, inst.input, last.path)
                for u in units:
                    unit = block.instances[u]
                    done.add(unit.path)
                    for ly in unit.layers:
                        folded.alias[ly.name] = unit.path
                continue
            entry = {"op": block.name, "name": inst.path, **block.values(i)}
            folded.uses[inst.layers[0].name] = Use(entry, inst.input, inst.path)
            done.add(inst.path)
            for ly in inst.layers:
                folded.alias[ly.name] = inst.path


def _stage(path: str, where: Mapping[str, tuple[_Block, int]], block: _Block,
           imported: ImportedModel) -> tuple[str, list[int]] | None:
    """The parent and the units of the stage `path` begins: `path` is child 0 of a parent whose children are all uses
    of `block`, consecutive, reading each the one before, with stride 1 and one set of arguments after the first."""
    parent, _, index = path.rpartition(".")
    if index != "0" or not parent or "stride" not in block.args:
        return None
    units = []
    k = 0
    while f"{parent}.{k}" in where and where[f"{parent}.{k}"][0] is block:
        units.append(where[f"{parent}.{k}"][1])
        k += 1
    if len(units) < 2:
        return None
    insts = [block.instances[u] for u in units]
    mine = {ly.name for inst in insts for ly in inst.layers}
    if any(ly.name == parent or (ly.name.startswith(parent + ".") and ly.name not in mine) for ly in imported.layers):
        return None  # the parent holds more than the units
    if any(b.input != a.layers[-1].name for a, b in pairwise(insts)):
        return None
    rest = [block.values(u) for u in units[1:]]
    first = block.value(units[0], "stride")
    if isinstance(first, tuple) and first[0] != first[1]:
        return None
    if any(block.value(u, "stride") not in (1, (1, 1)) for u in units[1:]) or any(r != rest[0] for r in rest):
        return None
    return parent, units
