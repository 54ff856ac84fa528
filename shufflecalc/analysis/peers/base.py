"""The vocabulary of the counters' conventions: `Term` (one part of the difference between a tool's count and the
exact MACs, with its operator class and reason), `Rule` (what a tool does with one layer kind) and `Peer` (a tool:
its name, version and a rule for every layer kind). Torch-free: the rules read a layer's arguments and shapes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from math import prod
from typing import NamedTuple

from shufflecalc.spec.graph import Graph, Layer
from shufflecalc.spec.layers import KINDS

# The operator classes a difference is split by (in this order in reports).
CLASSES = (
    "FLOPs = 2 x MACs",
    "convolution",
    "bias adds",
    "batchnorm",
    "norms",
    "activations",
    "pooling",
    "upsample",
    "element-wise add/mul",
    "linear on tokens",
    "attention",
    "tokens",
    "shape arithmetic",
)

Number = int | float  # a count; float only where the tool itself adds a float (ptflops' interpolate)


class Term(NamedTuple):
    """One part of the difference between a tool's count of a layer and the layer's exact MACs."""

    op_class: str  # one of CLASSES
    amount: Number  # the tool's count minus the MACs, for this part (negative: the tool leaves MACs out)
    reason: str  # one line: what the tool does


@dataclass(frozen=True)
class Rule:
    """What one tool does with one layer kind: `note` says it in one line (always, 0 included); `terms` gives the
    differences from the exact MACs for one layer (none: the tool counts exactly the MACs)."""

    note: str
    terms: Callable[[Layer], tuple[Term, ...]] = lambda layer: ()


@dataclass(frozen=True)
class Peer:
    """A counting tool's convention: `rules` has an entry for every layer kind (`shufflecalc.spec.layers.KINDS`)."""

    name: str  # the convention name: a JSON key, a budget metric (max_<name>), --convention NAME
    tool: str  # the call it reproduces, with the pinned version
    version: str  # the pinned version ("" for the counters shufflecalc's torch/fvcore pins already)
    rules: Mapping[str, Rule]
    header: str  # a table column's header: the tool, its version and what it calls its count
    per_layer: bool = True  # whether the tool reports counts per layer (or, for FlopCounterMode, per module)
    summary: str = ""  # one paragraph: what it counts
    # the layers whose terms depend on more than the layer itself (the layout of its input tensor): name -> terms,
    # replacing the rule's
    context: Callable[[Graph], Mapping[str, tuple[Term, ...]]] | None = None

    def __post_init__(self) -> None:
        missing = set(KINDS) - set(self.rules)
        if missing:  # a kind the tool does not count is 0 with its reason, never absent
            raise TypeError(f"{self.name}: no rule for {', '.join(sorted(missing))}")

    def terms(self, layer: Layer, context: Mapping[str, tuple[Term, ...]] | None = None) -> tuple[Term, ...]:
        terms = context[layer.name] if context and layer.name in context else self.rules[layer.op].terms(layer)
        return tuple(t for t in terms if t.amount)

    def count(self, layer: Layer, context: Mapping[str, tuple[Term, ...]] | None = None) -> Number:
        """The tool's count of one layer (`context`: this peer's `context(graph)`, where it has one)."""
        return layer.macs + sum(t.amount for t in self.terms(layer, context))

    def contexts(self, graph: Graph) -> Mapping[str, tuple[Term, ...]]:
        return self.context(graph) if self.context is not None else {}


# --- helpers the rules share -------------------------------------------------------------------------------------


def numel(shape: tuple[int, ...]) -> int:
    return prod(shape)


def out_elements(layer: Layer) -> int:
    return prod(layer.out)


def in_elements(layer: Layer) -> int:
    return prod(layer.in_shapes[0])


def term(op_class: str, reason: str) -> Callable[[Callable[[Layer], Number]], Callable[[Layer], tuple[Term, ...]]]:
    """A rule's `terms` from a function of the layer giving one amount."""
    if op_class not in CLASSES:
        raise ValueError(op_class)

    def wrap(amount: Callable[[Layer], Number]) -> Callable[[Layer], tuple[Term, ...]]:
        return lambda layer: (Term(op_class, amount(layer), reason),)

    return wrap


def per_output(op_class: str, reason: str, factor: Number = 1) -> Callable[[Layer], tuple[Term, ...]]:
    return term(op_class, reason)(lambda layer: factor * out_elements(layer))


def per_input(op_class: str, reason: str, factor: Number = 1) -> Callable[[Layer], tuple[Term, ...]]:
    return term(op_class, reason)(lambda layer: factor * in_elements(layer))


def no_macs(op_class: str, reason: str) -> Callable[[Layer], tuple[Term, ...]]:
    """The tool counts 0 for a layer that has MACs (all of them missing)."""
    return term(op_class, reason)(lambda layer: -layer.macs)


def bias_outputs(layer: Layer) -> int:
    """The bias adds of a conv or linear layer: 1 per output element, 0 without a bias."""
    return out_elements(layer) if layer.attrs.get("bias") else 0


def channels(shape: tuple[int, ...]) -> int:
    """The per-channel axis (C of C x H x W, else the last), as the per-channel kinds use it."""
    return shape[0] if len(shape) == 3 else shape[-1]


def zero(note: str) -> Rule:
    """A kind the tool counts 0 that has no MACs either: no difference, only the note."""
    return Rule(note)


# The kinds whose torch output keeps its input's memory layout: the identity in eval mode, and element-wise ops whose
# first operand has the output's shape (TensorIterator lays the output out as that operand).
_SAME_LAYOUT = frozenset({
    "relu", "relu6", "hardswish", "hardsigmoid", "sigmoid", "silu", "tanh", "gelu", "leaky_relu", "elu", "hardtanh",
    "prelu", "dropout", "drop_path", "layer_scale", "position_embedding",
})


def strided(graph: Graph) -> frozenset[str]:
    """The layers whose output is a non-contiguous tensor in shufflecalc's torch model: to_tokens' transpose (T and C
    both above 1), and what keeps its layout downstream (`_SAME_LAYOUT`, add and mul through their first input of
    the output's shape). Everything else (layernorm, linear, softmax, cat, attention) returns a contiguous tensor."""
    out: set[str] = set()
    shapes = {layer.name: layer.out for layer in graph.layers}
    for layer in graph.layers:
        if layer.op == "to_tokens":
            if min(layer.out) > 1:
                out.add(layer.name)
        elif layer.op in _SAME_LAYOUT:
            if layer.inputs[0] in out:
                out.add(layer.name)
        elif layer.op in ("add", "mul"):
            first = next((i for i in layer.inputs if shapes.get(i, graph.input) == layer.out), None)
            if first in out:
                out.add(layer.name)
    return frozenset(out)
