"""The importers' shared vocabulary, torch-free: what a traced PyTorch model (`importer.trace`) and an ONNX graph
(`importer.onnxread`) are both read into, and the small writers `emit` and `fold` use to write it as a spec.

- `ImportedLayer`, `ImportedModel`: one spec layer of an imported network, and the network (its layers in forward
  order, its output, and its module tree as (path, class) pairs for `fold`);
- `UnmappedOps` (the one-line error listing every operation without a layer kind), `Unmapped` (one node's reason);
- `layout_kind`: what a run of layout operations did to a tensor of distinct numbers, by duck typing (a numpy array
  or a torch tensor: ``shape``, ``ndim``, ``reshape``, ``swapaxes``, ``==`` and ``.all()``);
- `spec_pair`, `scalar`, `flow`, `written_args`: a size argument as the spec writes it, a YAML scalar, a flow
  mapping, the arguments that differ from a layer kind's defaults;
- `same_layers`: whether two expanded graphs are one network (the rule a folded spec is kept by).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shufflecalc.errors import ShufflecalcError
from shufflecalc.spec.graph import Graph
from shufflecalc.spec.layers import KINDS, Shape


@dataclass
class ImportedLayer:
    """One spec layer of an imported model."""

    name: str  # the module path (or the calling module's path and the operation)
    op: str  # a layer kind of `shufflecalc.spec.layers.KINDS`
    args: dict[str, Any]  # its arguments, complete (emit writes those that differ from the kind's defaults)
    inputs: tuple[str, ...]  # the layers it reads ("input": the network's input)
    in_shapes: tuple[Shape, ...]
    out: Shape
    source: str  # what it was made from: "nn.Conv2d", "torch.cat", "view, transpose, contiguous, view", "Conv"
    unused: bool = False  # never called by the eval forward (found in training mode)
    nodes: tuple[str, ...] = ()  # the ONNX nodes it stands for (an ONNX import only)


@dataclass
class ImportedModel:
    """An imported network: its layers in forward order and the layer whose value it returns."""

    target: str
    model: Any  # the nn.Module (eval mode); None for an ONNX graph
    input: Shape  # C x H x W
    layers: list[ImportedLayer]
    output: str  # the layer whose value the forward returns
    unused_modules: dict[str, int] = field(default_factory=dict)  # module path -> params, never called in eval
    seconds: float = 0.0
    # (module path, class name) of every module that may be folded (no plain container), pre-order: `fold` reads it
    modules: list[tuple[str, str]] = field(default_factory=list)
    # the state-dict keys of parameters the forward reads directly (a class token, a layer scale), each now the tensor
    # of its layer's module: original key -> the spec's torch model's key (``class_token`` -> ``class_token.weight``)
    renames: dict[str, str] = field(default_factory=dict)


class UnmappedOps(ShufflecalcError):
    """Operations without a layer kind: all of them, with where they are and counts, in one line."""


class Unmapped(Exception):
    """One node without a layer kind, and why (collected into `UnmappedOps`)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _same(a: Any, b: Any) -> bool:
    return tuple(a.shape) == tuple(b.shape) and bool((a == b).all())


def layout_kind(probe: Any, result: Any) -> tuple[str, dict[str, Any]] | None:
    """What a run of layout operations does to `probe` (distinct numbers, batch first), as a layer kind, or None."""
    shape = tuple(probe.shape)
    if _same(result, probe):
        return "identity", {}
    if result.ndim == 2 and _same(result, probe.reshape(shape[0], -1)):
        return ("flatten", {}) if probe.ndim > 2 else ("identity", {})
    if probe.ndim == 4 and tuple(result.shape) == shape:
        n, c, h, w = shape
        for g in range(2, c + 1):
            if c % g == 0:
                shuffled = probe.reshape(n, g, c // g, h, w).swapaxes(1, 2).reshape(shape)
                if _same(result, shuffled):
                    return "channel_shuffle", {"groups": g}
        return None
    if probe.ndim == 4 and _same(result, probe.reshape(shape[0], shape[1], -1).swapaxes(1, 2)):
        return "to_tokens", {}
    return None


def spec_pair(v: Any) -> Any:
    """A size argument as the spec writes it: an int, or (h, w) when the two differ."""
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return int(v[0])
        h, w = (int(x) for x in v)
        return h if h == w else (h, w)
    return int(v)


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def scalar(value: Any) -> str:
    """A value as one YAML scalar (or flow sequence) that reads back as the same value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text or "E" in text:  # YAML reads 1e-05 as text: write 1.0e-05
            mantissa, _, exponent = text.lower().partition("e")
            if "." not in mantissa:
                mantissa += ".0"
            sign = "" if exponent.startswith(("-", "+")) else "+"
            return f"{mantissa}e{sign}{exponent}"
        return text
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _WORDS:
        return text
    return "'" + text.replace("'", "''") + "'"


def flow(entry: Mapping[str, Any]) -> str:
    """A mapping as one YAML flow mapping: ``{op: conv2d, name: conv1, out: 64}``."""
    return "{" + ", ".join(f"{k}: {flow(v) if isinstance(v, Mapping) else scalar(v)}" for k, v in entry.items()) + "}"


def written_args(op: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of a layer of kind `op` that differ from the kind's defaults (conv2d's padding where it differs
    from ``dilation * (kernel - 1) // 2``, a pool's stride where it differs from its kernel)."""
    kind = KINDS[op]
    written = {}
    for key, value in args.items():
        if value is None:
            continue
        default = kind.args[key].default
        if op == "conv2d" and key == "padding" and not isinstance(value, str):
            (kh, kw), (dh, dw) = _pair(args["kernel"]), _pair(args["dilation"])
            if _pair(value) == (dh * (kh - 1) // 2, dw * (kw - 1) // 2):
                continue
            written[key] = value
            continue
        if op in ("maxpool", "avgpool") and key == "stride" and _pair(value) == _pair(args["kernel"]):
            continue
        if value != default or (isinstance(value, bool) != isinstance(default, bool)):
            written[key] = value
    return written


def same_layers(a: Graph, b: Graph) -> bool:
    """Whether two graphs are one network: the same layers (names, kinds, arguments, inputs, shapes, numbers), in the
    same order, and the same unused ones."""
    def rows(layers: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return [(ly.name, ly.op, sorted(ly.attrs.items()), ly.inputs, ly.in_shapes, ly.out, ly.params, ly.macs,
                 ly.fvcore_flops, ly.activations, ly.memory_access) for ly in layers]

    return rows(a.layers) == rows(b.layers) and rows(a.unused_layers) == rows(b.unused_layers)
