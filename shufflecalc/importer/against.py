"""A spec against the real network (`shufflecalc verify SPEC --against TARGET`): layer by layer, in forward order.

The TARGET is imported (`trace.import_model`, on the spec's input size) and proven (`proof.prove`); then the spec's
layers and the import's are compared pairwise in the order the forward runs them: kind, input and output shapes,
kernel, stride, padding, dilation, groups, bias, params and MACs. Dropout and drop path (the identity in eval) are
passed over on both sides. The first pair that differs is the divergence, reported with both sides and the spec's
file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shufflecalc.importer.proof import Proof
from shufflecalc.spec.graph import Graph, Layer
from shufflecalc.spec.layers.spatial import conv_padding, pool_padding

SKIPPED = ("dropout", "drop_path")  # the identity in eval mode: a spec may leave them out
FIELDS = ("kind", "input", "output", "kernel", "stride", "padding", "dilation", "groups", "bias", "params", "macs")


def _pair(v: Any) -> tuple[int, ...]:
    return (v, v) if isinstance(v, int) else tuple(v)


def fields(layer: Layer) -> dict[str, Any]:
    """What is compared of a layer: the window arguments as torch applies them (conv2d's default padding and a
    pool's default stride resolved; an odd `same` padding's extra bottom / right rows shown as a second pair)."""
    a = layer.attrs
    got: dict[str, Any] = {"kind": layer.op, "input": layer.in_shapes, "output": layer.out}
    if layer.op in ("conv2d", "conv_transpose2d", "maxpool", "avgpool"):
        got["kernel"] = _pair(a["kernel"])
        got["stride"] = _pair(a["stride"] if a.get("stride") is not None else a["kernel"])
        if layer.op == "conv2d":
            padding, extra = conv_padding(a)
            got["padding"] = _pair(padding) + (extra if extra != (0, 0) else ())
        elif layer.op == "conv_transpose2d":
            got["padding"] = _pair(a["padding"])
        else:
            got["padding"] = _pair(pool_padding(a, layer.op))
        if "dilation" in a:
            got["dilation"] = _pair(a["dilation"])
    if "groups" in a and layer.op != "groupnorm":
        got["groups"] = a["groups"]
    if "bias" in a:
        got["bias"] = a["bias"]
    got["params"], got["macs"] = layer.params, layer.macs
    return got


@dataclass(frozen=True)
class Side:
    """One layer of one side of a divergence (None where that side has no more layers)."""

    name: str
    where: str  # the spec's file:line, or what the import made the layer from
    fields: dict[str, Any]


@dataclass(frozen=True)
class Comparison:
    spec: str
    target: str
    compared: int  # pairs of layers compared (up to and including a divergence)
    spec_layers: int
    target_layers: int
    index: int | None  # position of the first divergence (None: none)
    spec_side: Side | None
    target_side: Side | None
    differing: tuple[str, ...]  # the fields that differ
    proof: Proof

    @property
    def ok(self) -> bool:
        return self.index is None and self.proof.ok


def spec_lines(graph: Graph) -> dict[str, str]:
    """Each layer's place in the spec: ``file:line`` of its entry (a block's layers: the block's use)."""
    spec = graph.spec
    file = spec.source
    lines: dict[str, str] = {}
    for block in graph.blocks:
        line = spec.doc.line(block.path)
        for layer in graph.layers[block.start:block.stop]:
            lines.setdefault(layer.name, f"{file}:{line}")
    for i, raw in enumerate(spec.data.get("layers", [])):
        if isinstance(raw, dict) and "op" in raw:
            name = raw.get("name", f"{raw['op']}_{i}")
            lines.setdefault(str(name), f"{file}:{spec.doc.line(('layers', i))}")
    return lines


def compare(spec_graph: Graph, target_graph: Graph, sources: dict[str, str], target: str, proof: Proof) -> Comparison:
    """The spec's layers against the target's (an imported, proven spec), in forward order."""
    mine = [ly for ly in spec_graph.layers if ly.op not in SKIPPED]
    theirs = [ly for ly in target_graph.layers if ly.op not in SKIPPED]
    lines = spec_lines(spec_graph)
    for i in range(max(len(mine), len(theirs))):
        a = mine[i] if i < len(mine) else None
        b = theirs[i] if i < len(theirs) else None
        fa = fields(a) if a is not None else {}
        fb = fields(b) if b is not None else {}
        differing = tuple(k for k in FIELDS if (k in fa or k in fb) and fa.get(k) != fb.get(k))
        if differing:
            left = Side(a.name, lines.get(a.name, spec_graph.spec.source), fa) if a is not None else None
            right = Side(b.name, sources.get(b.name, ""), fb) if b is not None else None
            return Comparison(spec_graph.spec.source, target, i + 1, len(mine), len(theirs), i, left, right,
                              differing, proof)
    return Comparison(spec_graph.spec.source, target, len(mine), len(mine), len(theirs), None, None, None, (), proof)
