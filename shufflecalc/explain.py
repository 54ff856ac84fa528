"""The formulas beside the engine: for every depthwise-separable block and bottleneck / ShuffleNet unit of a model,
the closed-form value (`formulas`) next to the engine's exact sum over the unit's layers, the difference, and why.

Which formula a block gets, and how its symbols are read off the graph:

- ``dwsep``: dwsep, with K the kernel, M the input channels, N the output channels and Iw x Ih the output size
  (MobileNet's D_F: at stride 1 the input size, at stride 2 the size the convs produce);
- ``bottleneck``, stride 1: unit-a; ``shufflenet_unit``, stride 1: unit-b; ``shufflenet_unit`` at stride > 1: unit-c,
  and a ``bottleneck`` at stride > 1 is unit-c with g = 1 (unit (a) with the stride-2 shortcut);
  M the input channels, N the bottleneck channels (the depthwise conv's), Iw x Ih the input size, g the groups.

Each convolution the formula counts (its `Part`) is matched with the block's layer of that role, factor by factor
(input channels, output channels, kernel, groups, output positions); every factor that differs is a reason, in words.
The other layers (BN, ReLU, shuffle, add, avg-pool, concat) are not in the formulas and have 0 MACs. Where no factor
differs, formula and engine are equal: tests assert it for every unit of every built-in spec and on random shapes.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping

from .errors import ShufflecalcError
from .formulas import FORMULAS, Formula, Part, exact_text, substitute
from .graph import Block, Graph, Layer, expand
from .spec import Spec

EXPLAINED = ("dwsep", "bottleneck", "shufflenet_unit")
ROLES: dict[str, dict[str, str]] = {  # formula part role -> the block's local layer name
    "dwsep": {"dw": "dw", "pw": "pw"},
    "bottleneck": {"pw1": "conv1", "dw": "dwconv", "pw2": "conv2"},
    "shufflenet_unit": {"pw1": "gconv1", "dw": "dwconv", "pw2": "gconv2"},
}
FACTOR_NAMES = {"in": "input channels", "out": "output channels", "kernel": "kernel", "groups": "groups",
                "positions": "output positions"}


@dataclass(frozen=True)
class PartCheck:
    """One convolution of a unit beside the formula's term for it."""

    part: Part
    layer: Layer
    formula_macs: Fraction
    term: str  # the term with numbers substituted
    reasons: tuple[str, ...]  # why the layer's MACs differ from the term's, one sentence per differing factor
    short: tuple[str, ...]  # the same, in a few words each ("gconv1 groups 1 ≠ 3")

    @property
    def difference(self) -> Fraction:
        return self.layer.macs - self.formula_macs


@dataclass(frozen=True)
class UnitCheck:
    """One block: its formula's closed-form value beside the engine's sum over its layers."""

    block: Block
    layers: tuple[Layer, ...]
    formula: Formula
    values: dict[str, int]
    formula_macs: Fraction  # the closed form as written (formulas.Formula.compute)
    parts: tuple[PartCheck, ...]
    notes: tuple[str, ...]

    @property
    def engine_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def difference(self) -> Fraction:
        """engine - formula: positive where the formula counts less than the layers do."""
        return self.engine_macs - self.formula_macs

    @property
    def others(self) -> tuple[Layer, ...]:
        """The unit's layers that no term of the formula stands for."""
        counted = {p.layer.name for p in self.parts}
        return tuple(layer for layer in self.layers if layer.name not in counted)

    @property
    def reasons(self) -> tuple[str, ...]:
        extra = tuple(f"{l.name} ({l.op}) is not in the formula: {l.macs:,} MACs" for l in self.others if l.macs)
        return tuple(r for p in self.parts for r in p.reasons) + extra

    @property
    def short(self) -> tuple[str, ...]:
        extra = tuple(f"{l.name.rsplit('.', 1)[-1]} {l.macs:,} MACs" for l in self.others if l.macs)
        return tuple(r for p in self.parts for r in p.short) + extra

    @property
    def symbols_text(self) -> str:
        v = self.values
        text = " ".join(f"{s}={v[s]}" for s in ("K", "M", "N") if s in v) + f" {v['Iw']}x{v['Ih']}"
        return text + (f" g={v['g']}" if "g" in v else "")


@dataclass(frozen=True)
class Explanation:
    graph: Graph
    units: tuple[UnitCheck, ...]
    layer: str | None = None  # the layer or unit name asked for, if any

    @property
    def formula_macs(self) -> Fraction:
        return sum((u.formula_macs for u in self.units), Fraction(0))

    @property
    def engine_macs(self) -> int:
        return sum(u.engine_macs for u in self.units)


# --- one unit -----------------------------------------------------------------------------------------------------


def _choose(block: Block, layers: dict[str, Layer]) -> tuple[str, dict[str, int], list[str]]:
    """The formula for a block and its symbol values, read off the block's shapes."""
    c, h, w = block.in_shape
    if block.op == "dwsep":
        _, oh, ow = layers["pw"].out
        notes = []
        if (oh, ow) != (h, w):
            notes.append(f"Iw x Ih = {ow}x{oh}, the output size: the stride-{block.args['stride']} depthwise conv "
                         f"turns the {w}x{h} input into {ow}x{oh}, and the formula's feature map is the one the convs "
                         f"produce (MobileNet's D_F)")
        return "dwsep", {"K": block.args["kernel"], "M": c, "N": layers["pw"].out[0], "Iw": ow, "Ih": oh}, notes
    stride = block.args["stride"]
    values = {"M": c, "N": layers["dwconv"].out[0], "Iw": w, "Ih": h}
    if block.op == "bottleneck":
        if stride == 1:
            return "unit-a", values, []
        return "unit-c", {**values, "g": 1}, ["a bottleneck (unit a) at stride > 1 is unit (c) without groups: unit-c "
                                              "with g = 1"]
    return ("unit-b" if stride == 1 else "unit-c"), {**values, "g": block.args["groups"]}, []


def _factors(part: Part, v: Mapping[str, int]) -> dict[str, Any]:
    return {"in": part.c_in(v), "out": part.c_out(v), "kernel": part.kernel(v), "groups": part.groups(v),
            "positions": Fraction(part.positions(v))}


def _layer_factors(layer: Layer) -> dict[str, Any]:
    return {"in": layer.in_shapes[0][0], "out": layer.out[0], "kernel": layer.attrs["kernel"],
            "groups": layer.attrs["groups"], "positions": Fraction(layer.out[1] * layer.out[2])}


def _reason(key: str, part: Part, layer: Layer, block: Block, f: Any, e: Any) -> str:
    """Why one factor of a layer differs from the formula's, in words."""
    c_in, h, w = block.in_shape
    stride = block.args["stride"]
    if key == "out" and part.role == "pw2" and stride > 1:
        return (f"the stride-{stride} branch produces out - in = {block.out[0]} - {c_in} = {e} channels (it is "
                f"concatenated with the {c_in} input channels); the formula's {part.text} has M = {f} output "
                f"channels, which holds only when out = 2 x in")
    if key == "groups" and part.role == "pw1" and e == 1:
        why = " (pw1_grouped: false, as in the first unit of ShuffleNet's stage 2)" if not block.args.get(
            "pw1_grouped", True) else ""
        return f"{layer.name} is not grouped{why}: {layer.macs:,} MACs, where the formula's {part.text} divides by g = {f}"
    if key == "kernel":
        return (f"the formula's {part.text} is written for a {f}x{f} kernel ({f * f} MACs per channel and position); "
                f"{layer.name} is {e}x{e} ({e * e})")
    if key == "positions":
        _, oh, ow = layer.out
        if f != w * h and stride != 2:
            return (f"stride {stride}: {layer.name} has {ow}x{oh} = {e} output positions, the formula's "
                    f"IwIh/4 = {w}·{h}/4 = {exact_text(f)} assumes stride 2")
        if f != w * h:
            return (f"{layer.name} has {ow}x{oh} = {e} output positions; the formula's IwIh/4 = {w}·{h}/4 = "
                    f"{exact_text(f)} assumes an even Iw and Ih")
        return f"{layer.name} has {ow}x{oh} = {e} output positions, the formula's {part.text} assumes {exact_text(f)}"
    return f"{layer.name} has {e} {FACTOR_NAMES[key]}, the formula's {part.text} assumes {f}"


def check_unit(graph: Graph, block: Block) -> UnitCheck:
    """Compare one dwsep / bottleneck / shufflenet_unit block with its formula."""
    if block.op not in EXPLAINED:
        raise ShufflecalcError(f"{block.name} is a {block.op} block: no formula covers it ({', '.join(EXPLAINED)})")
    layers = graph.block_layers(block)
    local = {l.name[len(block.name) + 1 :]: l for l in layers}
    name, values, notes = _choose(block, local)
    formula = FORMULAS[name]
    parts = []
    for part in formula.parts:
        layer = local[ROLES[block.op][part.role]]
        f, e = _factors(part, values), _layer_factors(layer)
        differ = [k for k in f if f[k] != e[k]]
        reasons = tuple(_reason(k, part, layer, block, f[k], e[k]) for k in differ)
        short = tuple(f"{ROLES[block.op][part.role]} {FACTOR_NAMES[k]} {e[k]} ≠ {exact_text(f[k])}" for k in differ)
        parts.append(PartCheck(part, layer, part.macs(values), substitute(part.template, values), reasons, short))
    return UnitCheck(block, layers, formula, values, formula.compute(values), tuple(parts), tuple(notes))


# --- a model ------------------------------------------------------------------------------------------------------


def explained_blocks(graph: Graph) -> tuple[Block, ...]:
    return tuple(b for b in graph.blocks if b.op in EXPLAINED)


def explain(spec: Spec | str | Graph, overrides: Mapping[str, Any] | None = None, layer: str | None = None) -> Explanation:
    """Every dwsep / bottleneck / ShuffleNet unit of a model beside its formula; `layer` (a unit name, or a layer name
    inside a unit) keeps only that unit."""
    graph = spec if isinstance(spec, Graph) else expand(spec, overrides)
    blocks = explained_blocks(graph)
    if not blocks:
        raise ShufflecalcError(f"{graph.spec.name} has no block that a formula covers ({', '.join(EXPLAINED)})")
    if layer is not None:
        blocks = (find_block(graph, blocks, layer),)
    return Explanation(graph, tuple(check_unit(graph, b) for b in blocks), layer)


def find_block(graph: Graph, blocks: tuple[Block, ...], name: str) -> Block:
    """The block called `name`, or the one containing the layer `name`; an error with hints otherwise."""
    for b in blocks:
        if name == b.name or name.startswith(b.name + ".") and any(l.name == name for l in graph.block_layers(b)):
            return b
    units = f"units: {ranges([b.name for b in blocks])}; or a layer inside one, such as " + (
        graph.block_layers(blocks[0])[0].name)
    if name in {b.name for b in graph.blocks} | {l.name for l in graph.layers}:
        raise ShufflecalcError(f"--layer {name!r} is in no unit that a formula covers ({', '.join(EXPLAINED)}) "
                               f"({units})")
    candidates = [b.name for b in blocks] + [l.name for b in blocks for l in graph.block_layers(b)]
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise ShufflecalcError(f"--layer {name!r}: no such unit or layer in {graph.spec.name}{hint} ({units})")


def ranges(names: list[str]) -> str:
    """['stage2.unit0', 'stage2.unit1', 'block1'] -> 'stage2.unit0-1, block1': numbered runs compressed."""
    out: list[list[Any]] = []  # [prefix, first, last]
    for n in names:
        m = re.fullmatch(r"(.*?)(\d+)", n)
        if m and out and out[-1][0] == m.group(1) and out[-1][2] == int(m.group(2)) - 1:
            out[-1][2] += 1
        elif m:
            out.append([m.group(1), int(m.group(2)), int(m.group(2))])
        else:
            out.append([n, None, None])
    return ", ".join(p if a is None else f"{p}{a}" + (f"-{b}" if b != a else "") for p, a, b in out)


__all__ = ["EXPLAINED", "Explanation", "PartCheck", "UnitCheck", "check_unit", "explain", "explained_blocks",
           "find_block", "ranges"]
