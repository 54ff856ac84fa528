"""The formulas beside the engine: for every unit a formula covers, the closed-form value (`formulas`) next to the
engine's exact sum over the unit's layers, the difference, and why.

Which formula a block gets, and how its symbols are read off the graph (M the input channels, Iw x Ih the input size
unless said otherwise):

- ``dwsep``: dwsep, with K the kernel, N the output channels and Iw x Ih the output size (MobileNet's D_F: at stride 1
  the input size, at stride 2 the size the convs produce);
- ``bottleneck``, stride 1: unit-a; ``shufflenet_unit``, stride 1: unit-b; ``shufflenet_unit`` at stride > 1: unit-c,
  and a ``bottleneck`` at stride > 1 is unit-c with g = 1 (unit (a) with the stride-2 shortcut); N the bottleneck
  channels (the depthwise conv's), g the groups;
- ``resnet_bottleneck``: resnet-unit, or resnext-unit when its 3x3 conv is grouped (g its groups), at every stride:
  the paper's hw(2cm + 9m²) is for stride 1, so a stride-2 unit's differences are reasons; N the 3x3 conv's channels;
- ``inverted_residual``: inverted-residual at stride 1, inverted-residual-s2 at stride > 1, with K the depthwise
  kernel, N the output channels and t = hidden / M exactly (a fraction where MobileNetV3 lists the hidden width); a
  block without expansion conv (hidden = M) is a depthwise-separable conv and gets ``dwsep``;
- ``shufflenet_v2_unit``: shufflenet-v2-unit at stride 1 (N = the branch's channels, half the input's),
  shufflenet-v2-unit-s2 at stride > 1 (N = out / 2, each branch's).

Each convolution the formula counts (its `Part`) is matched with the block's layer of that role, factor by factor
(input channels, output channels, kernel, groups, output positions); every factor that differs is a reason, in words.
A convolution of the block that no formula term stands for (the projection shortcut of a ResNet stage's first unit,
the two 1x1 convs of a MobileNetV3 squeeze-and-excitation) is a reason too, with its exact MACs. The other layers
(BN, activations, shuffle, split, add, pooling, concat, SE's product) have 0 MACs. Where nothing differs, formula and
engine are equal: tests assert it for every unit of every built-in spec and on random shapes.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from shufflecalc.errors import ShufflecalcError
from shufflecalc.formulas.catalog import FORMULAS, Formula, Part, exact_text, plain, substitute
from shufflecalc.spec.graph import Block, Graph, Layer, expand
from shufflecalc.spec.layers.base import text as pair_text
from shufflecalc.spec.load import Spec

ROLES: dict[str, dict[str, str]] = {  # formula part role -> the block's local layer name
    "dwsep": {"dw": "dw", "pw": "pw"},
    "bottleneck": {"pw1": "conv1", "dw": "dwconv", "pw2": "conv2"},
    "shufflenet_unit": {"pw1": "gconv1", "dw": "dwconv", "pw2": "gconv2"},
    "resnet_bottleneck": {"pw1": "conv1", "conv": "conv2", "pw2": "conv3"},
    "inverted_residual": {"pw1": "expand", "dw": "dw", "pw2": "project", "pw": "project"},
    "shufflenet_v2_unit": {"b1dw": "branch1_dw", "b1pw": "branch1_pw", "pw1": "branch2_pw1", "dw": "branch2_dw",
                           "pw2": "branch2_pw2"},
}
EXPLAINED = tuple(ROLES)
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
class Extra:
    """A layer of the unit with MACs that no term of the formula stands for (a projection shortcut, an SE conv)."""

    layer: Layer
    reason: str
    short: str


@dataclass(frozen=True)
class UnitCheck:
    """One block: its formula's closed-form value beside the engine's sum over its layers."""

    block: Block
    layers: tuple[Layer, ...]
    formula: Formula
    values: dict[str, Any]  # symbol -> int (t: int or Fraction)
    formula_macs: Fraction  # the closed form as written (formulas.Formula.compute)
    parts: tuple[PartCheck, ...]
    notes: tuple[str, ...]
    extras: tuple[Extra, ...] = ()

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
        return tuple(r for p in self.parts for r in p.reasons) + tuple(x.reason for x in self.extras)

    @property
    def short(self) -> tuple[str, ...]:
        return tuple(r for p in self.parts for r in p.short) + tuple(x.short for x in self.extras)

    @property
    def symbols_text(self) -> str:
        v = self.values
        text = " ".join(f"{s}={Fraction(v[s])}" for s in ("K", "M", "N", "t") if s in v) + f" {v['Iw']}x{v['Ih']}"
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


# --- which formula, and its symbols -------------------------------------------------------------------------------

Choice = tuple[str, dict[str, Any], list[str]]  # formula name, symbol values, notes


def _dwsep(block: Block, layers: dict[str, Layer], pw: str = "pw") -> Choice:
    c, h, w = block.in_shape
    _, oh, ow = layers[pw].out
    notes = []
    if (oh, ow) != (h, w):
        notes.append(f"Iw x Ih = {ow}x{oh}, the output size: the stride-{block.args['stride']} depthwise conv "
                     f"turns the {w}x{h} input into {ow}x{oh}, and the formula's feature map is the one the convs "
                     f"produce (MobileNet's D_F)")
    return "dwsep", {"K": block.args["kernel"], "M": c, "N": layers[pw].out[0], "Iw": ow, "Ih": oh}, notes


def _shufflenet_v1(block: Block, layers: dict[str, Layer]) -> Choice:
    c, h, w = block.in_shape
    values = {"M": c, "N": layers["dwconv"].out[0], "Iw": w, "Ih": h}
    if block.op == "bottleneck":
        if block.args["stride"] == 1:
            return "unit-a", values, []
        return "unit-c", {**values, "g": 1}, ["a bottleneck (unit a) at stride > 1 is unit (c) without groups: unit-c "
                                              "with g = 1"]
    return ("unit-b" if block.args["stride"] == 1 else "unit-c"), {**values, "g": block.args["groups"]}, []


def _resnet(block: Block, layers: dict[str, Layer]) -> Choice:
    c, h, w = block.in_shape
    a, m = block.args, layers["conv2"].out[0]
    values = {"M": c, "N": m, "Iw": w, "Ih": h}
    notes = []
    if a["groups"] > 1 or a["width_per_group"] != 64:
        notes.append(f"N = int(planes x width_per_group / 64) x groups = int({a['planes']} x {a['width_per_group']} "
                     f"/ 64) x {a['groups']} = {m}, the 3x3 conv's channels")
    if a["groups"] == 1:
        return "resnet-unit", values, notes
    return "resnext-unit", {**values, "g": a["groups"]}, notes


def _inverted_residual(block: Block, layers: dict[str, Layer]) -> Choice:
    c, h, w = block.in_shape
    a = block.args
    if "expand" not in layers:
        name, values, notes = _dwsep(block, layers, "project")
        return name, values, [
            f"no expansion conv (hidden = input = {c} channels, t = 1; torchvision leaves it out): the block is a "
            f"depthwise-separable conv, dwsep (MobileNetV2's formula with t = 1 would also count a 1x1 conv "
            f"{c} -> {c} that is not there)",
            *notes,
        ]
    hidden = layers["dw"].out[0]
    t = Fraction(hidden, c)
    notes = []
    if a["hidden"] is not None:
        notes.append(f"t = hidden / M = {hidden}/{c}" + (f" = {t}" if str(t) != f"{hidden}/{c}" else "")
                     + f": the spec gives the hidden width ({hidden}), as MobileNetV3's table does")
    elif Fraction(a["expand"]) != t:
        notes.append(f"t = hidden / M = {hidden}/{c}: the block rounds hidden = int(round({c} x {a['expand']:g})) "
                     f"= {hidden}, so t is not the spec's expand {a['expand']:g}")
    values = {"K": a["kernel"], "M": c, "N": layers["project"].out[0], "t": plain(t), "Iw": w, "Ih": h}
    return ("inverted-residual" if a["stride"] == 1 else "inverted-residual-s2"), values, notes


def _shufflenet_v2(block: Block, layers: dict[str, Layer]) -> Choice:
    c, h, w = block.in_shape
    n = layers["branch2_pw1"].out[0]
    if block.args["stride"] == 1:
        return "shufflenet-v2-unit", {"N": n, "Iw": w, "Ih": h}, [
            f"N = {c}/2 = {n}: the split passes one half of the {c} input channels on unchanged, the branch takes the "
            f"other"]
    return "shufflenet-v2-unit-s2", {"M": c, "N": n, "Iw": w, "Ih": h}, []


CHOOSE: dict[str, Callable[[Block, dict[str, Layer]], Choice]] = {
    "dwsep": _dwsep, "bottleneck": _shufflenet_v1, "shufflenet_unit": _shufflenet_v1, "resnet_bottleneck": _resnet,
    "inverted_residual": _inverted_residual, "shufflenet_v2_unit": _shufflenet_v2,
}


# --- why a layer differs ------------------------------------------------------------------------------------------


def _factors(part: Part, v: Mapping[str, Any]) -> dict[str, Any]:
    return {"in": part.c_in(v), "out": part.c_out(v), "kernel": part.kernel(v), "groups": part.groups(v),
            "positions": Fraction(part.positions(v))}


def _square(value: Any) -> Any:
    """A kernel or stride: a pair (h, w) of equal sides as the number, so that it compares with a formula's K."""
    return value[0] if isinstance(value, tuple) and value[0] == value[1] else value


def _factor_text(value: Any) -> str:
    """A layer's factor as the short reasons show it: a number exactly, a non-square kernel as 1x7."""
    return pair_text(value) if isinstance(value, tuple) else exact_text(value)


def _layer_factors(layer: Layer) -> dict[str, Any]:
    return {"in": layer.in_shapes[0][0], "out": layer.out[0], "kernel": _square(layer.attrs["kernel"]),
            "groups": layer.attrs["groups"], "positions": Fraction(layer.out[1] * layer.out[2])}


def _positions_reason(part: Part, layer: Layer, block: Block, f: Fraction, e: Fraction) -> str:
    _, h, w = block.in_shape
    _, oh, ow = layer.out
    stride = block.args["stride"]
    if f == w * h and stride > 1:
        return (f"stride {stride}: {layer.name} has {ow}x{oh} = {e} output positions; the formula's {part.text} "
                f"counts IwIh = {w}·{h} = {exact_text(f)}: it is written for stride 1 (Iw x Ih is the unit's input "
                f"size)")
    if f != w * h and stride != 2:
        return (f"stride {stride}: {layer.name} has {ow}x{oh} = {e} output positions, the formula's "
                f"IwIh/4 = {w}·{h}/4 = {exact_text(f)} assumes stride 2")
    if f != w * h:
        return (f"{layer.name} has {ow}x{oh} = {e} output positions; the formula's IwIh/4 = {w}·{h}/4 = "
                f"{exact_text(f)} assumes an even Iw and Ih")
    return f"{layer.name} has {ow}x{oh} = {e} output positions, the formula's {part.text} assumes {exact_text(f)}"


def _reason(key: str, part: Part, layer: Layer, block: Block, f: Any, e: Any) -> str:
    """Why one factor of a layer differs from the formula's, in words."""
    c_in = block.in_shape[0]
    stride = block.args["stride"]
    if key == "out" and part.role == "pw2" and block.op in ("bottleneck", "shufflenet_unit") and stride > 1:
        return (f"the stride-{stride} branch produces out - in = {block.out[0]} - {c_in} = {e} channels (it is "
                f"concatenated with the {c_in} input channels); the formula's {part.text} has M = {f} output "
                f"channels, which holds only when out = 2 x in")
    if key == "out" and part.role == "pw2" and block.op == "resnet_bottleneck":
        return (f"{layer.name} produces the unit's {e} output channels (planes x expansion); the formula's "
                f"{part.text} returns to M = {f}, the input's channels: it assumes out = in, true for every unit but "
                f"a stage's first")
    if key == "groups" and part.role == "pw1" and e == 1:
        why = " (pw1_grouped: false, as in the first unit of ShuffleNet's stage 2)" if not block.args.get(
            "pw1_grouped", True) else ""
        return (f"{layer.name} is not grouped{why}: {layer.macs:,} MACs, where the formula's {part.text} divides by "
                f"g = {f}")
    if key == "kernel":
        kh, kw = e if isinstance(e, tuple) else (e, e)
        return (f"the formula's {part.text} is written for a {f}x{f} kernel ({f * f} MACs per channel and position); "
                f"{layer.name} is {kh}x{kw} ({kh * kw})")
    if key == "positions":
        return _positions_reason(part, layer, block, f, e)
    return f"{layer.name} has {e} {FACTOR_NAMES[key]}, the formula's {part.text} assumes {exact_text(f)}"


def _product(layer: Layer) -> str:
    """A conv's MACs as the product the engine computes: out·in[/groups][·k²]·oh·ow ('512·256·28·28')."""
    if layer.op != "conv2d":
        return f"{layer.macs:,}"
    a, (out, oh, ow) = layer.attrs, layer.out
    text = f"{out}·{layer.in_shapes[0][0]}" + (f"/{a['groups']}" if a["groups"] > 1 else "")
    k = _square(a["kernel"])
    text += f"·{k[0]}·{k[1]}" if isinstance(k, tuple) else (f"·{k}²" if k > 1 else "")
    return text + (f"·{oh}·{ow}" if oh * ow > 1 else "")


def _extra(layer: Layer, local: str) -> Extra:
    """Why a convolution outside the formula adds MACs: the projection shortcut, squeeze-and-excitation, other."""
    c_in, (c_out, oh, ow), macs = layer.in_shapes[0][0], layer.out, layer.macs
    if local.startswith("se_"):
        return Extra(layer, f"{layer.name} is a 1x1 conv {c_in} -> {c_out} of the squeeze-and-excitation, on the "
                            f"pooled 1x1 map: {_product(layer)} = {macs:,} MACs; the formula has no "
                            f"squeeze-and-excitation (MobileNetV3 adds it to MobileNetV2's block)",
                     f"{local} (SE) +{macs:,}")
    if local == "downsample":
        return Extra(layer, f"{layer.name} is the projection shortcut, a 1x1 conv {c_in} -> {c_out} with stride "
                            f"{pair_text(layer.attrs['stride'])} on {ow}x{oh} output positions: {_product(layer)} = "
                            f"{macs:,} MACs; the formula's unit has the identity shortcut (0 MACs), as every unit but "
                            f"a stage's first",
                     f"{local} (projection shortcut) +{macs:,}")
    return Extra(layer, f"{layer.name} ({layer.op}) is not in the formula: {_product(layer)} = {macs:,} MACs",
                 f"{local} +{macs:,}")


def check_unit(graph: Graph, block: Block) -> UnitCheck:
    """Compare one block that a formula covers (`EXPLAINED`) with its formula."""
    if block.op not in EXPLAINED:
        raise ShufflecalcError(f"{block.name} is a {block.op} block: no formula covers it ({', '.join(EXPLAINED)})")
    layers = graph.block_layers(block)
    local = {layer.name[len(block.name) + 1 :]: layer for layer in layers}
    name, values, notes = CHOOSE[block.op](block, local)
    formula = FORMULAS[name]
    roles = ROLES[block.op]
    parts = []
    for part in formula.parts:
        layer = local[roles[part.role]]
        f, e = _factors(part, values), _layer_factors(layer)
        differ = [k for k in f if f[k] != e[k]]
        reasons = tuple(_reason(k, part, layer, block, f[k], e[k]) for k in differ)
        short = tuple(f"{roles[part.role]} {FACTOR_NAMES[k]} {_factor_text(e[k])} ≠ {exact_text(f[k])}"
                      for k in differ)
        parts.append(PartCheck(part, layer, part.macs(values), substitute(part.template, values), reasons, short))
    counted = {p.layer.name for p in parts}
    extras = tuple(_extra(layer, n) for n, layer in local.items() if layer.name not in counted and layer.macs)
    return UnitCheck(block, layers, formula, values, formula.compute(values), tuple(parts), tuple(notes), extras)


# --- a model ------------------------------------------------------------------------------------------------------


def explained_blocks(graph: Graph) -> tuple[Block, ...]:
    return tuple(b for b in graph.blocks if b.op in EXPLAINED)


def explain(
    spec: Spec | str | Graph, overrides: Mapping[str, Any] | None = None, layer: str | None = None
) -> Explanation:
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
        if name == b.name or (
            name.startswith(b.name + ".") and any(layer.name == name for layer in graph.block_layers(b))
        ):
            return b
    units = f"units: {ranges([b.name for b in blocks])}; or a layer inside one, such as " + (
        graph.block_layers(blocks[0])[0].name)
    if name in {b.name for b in graph.blocks} | {layer.name for layer in graph.layers}:
        raise ShufflecalcError(f"--layer {name!r} is in no unit that a formula covers ({', '.join(EXPLAINED)}) "
                               f"({units})")
    candidates = [b.name for b in blocks] + [layer.name for b in blocks for layer in graph.block_layers(b)]
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


__all__ = ["EXPLAINED", "Explanation", "Extra", "PartCheck", "UnitCheck", "check_unit", "explain", "explained_blocks",
           "find_block", "ranges"]
