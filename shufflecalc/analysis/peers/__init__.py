"""Why the tools disagree: torch-free reproductions of the popular FLOP/MAC counters' conventions, per layer kind.

One module per tool, each a table layer kind -> `Rule` (what the tool counts for a layer of that kind, and how that
differs from the exact MACs, split by operator class with a one-line reason): `ptflops` (both backends), `thop`,
`torchinfo`, `torchprofile`, and `engine` (fvcore and FlopCounterMode, which the engine counts already). The numbers
are the tools' own on the torch model `shufflecalc.build_model` makes; `shufflecalc.bridge.peers` measures them and
the tests prove analytic == tool, in total and per layer.

`compare(graph)` gives every convention's total and its difference from the MACs by operator class; `layer_counts`
one convention's count per layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from shufflecalc.analysis.cost import CONVENTION_NAMES
from shufflecalc.analysis.peers.base import CLASSES, Number, Peer, Rule, Term
from shufflecalc.analysis.peers.engine import FLOP_COUNTER, FVCORE
from shufflecalc.analysis.peers.ptflops import ATEN, PYTORCH
from shufflecalc.analysis.peers.thop import THOP
from shufflecalc.analysis.peers.torchinfo import TORCHINFO
from shufflecalc.analysis.peers.torchprofile import TORCHPROFILE
from shufflecalc.errors import ShufflecalcError
from shufflecalc.lists import comma_list
from shufflecalc.spec.graph import Graph, Layer

# Every convention, by name, in report order.
PEERS: dict[str, Peer] = {p.name: p for p in (FVCORE, PYTORCH, ATEN, THOP, TORCHINFO, TORCHPROFILE, FLOP_COUNTER)}
NAMES: tuple[str, ...] = tuple(PEERS)
if NAMES != CONVENTION_NAMES:  # pragma: no cover - a peer added without its name in cost.CONVENTION_NAMES
    raise ImportError(f"analysis.cost.CONVENTION_NAMES must be {NAMES}")


def peer(name: str) -> Peer:
    """The convention `name`, or a one-line error listing the names."""
    try:
        return PEERS[name]
    except KeyError:
        raise ShufflecalcError(f"unknown convention '{name}' (conventions: {', '.join(NAMES)})") from None


def parse_names(values: Sequence[str] | None, option: str = "--convention") -> tuple[str, ...]:
    """``--convention NAME`` as given (repeatable, each a comma list): the names in the order first given, each once;
    an unknown one is a one-line error listing the names."""
    names: dict[str, None] = {}
    for text in values or ():
        for name in comma_list(text, option):
            try:
                peer(name)
            except ShufflecalcError as exc:
                raise ShufflecalcError(f"{option} {name}: {exc.message}") from None
            names[name] = None
    return tuple(names)


def totals(graph: Graph, names: Iterable[str]) -> dict[str, int]:
    """The totals of the conventions named, by name."""
    return {name: total(peer(name), graph) for name in names}


def group_counts(p: Peer, graph: Graph, key: Callable[[Layer], str]) -> dict[str, Number]:
    """The tool's count summed by `key` of each layer (a stage, a block, an operator class), groups in order of
    their first layer."""
    groups: dict[str, Number] = {}
    counts = layer_counts(p, graph)
    for layer in graph.layers:
        k = key(layer)
        groups[k] = groups.get(k, 0) + counts[layer.name]
    return groups


def total(p: Peer, graph: Graph) -> int:
    """The tool's total: the sum of its layer counts, truncated to an integer as the tools return it."""
    return int(sum(layer_counts(p, graph).values()))


def layer_counts(p: Peer, graph: Graph) -> dict[str, Number]:
    """The tool's count of every layer, by name."""
    context = p.contexts(graph)
    return {layer.name: p.count(layer, context) for layer in graph.layers}


@dataclass(frozen=True)
class Difference:
    """The part of a tool's difference from the MACs that falls in one operator class."""

    op_class: str
    amount: int
    layers: int  # layers contributing
    reasons: tuple[str, ...]  # distinct, in order of first appearance

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class Comparison:
    """One convention on one graph: its total, the exact MACs and the difference split by operator class."""

    name: str
    count: int
    macs: int
    differences: tuple[Difference, ...]  # in CLASSES order; only classes with a nonzero amount

    @property
    def difference(self) -> int:
        return self.count - self.macs

    @property
    def percent(self) -> float | None:
        return 100.0 * self.difference / self.macs if self.macs else None


def comparison(p: Peer, graph: Graph) -> Comparison:
    amounts: dict[str, Number] = {}
    layers: dict[str, int] = {}
    reasons: dict[str, dict[str, None]] = {}
    count: Number = 0
    context = p.contexts(graph)
    for layer in graph.layers:
        terms = p.terms(layer, context)
        count += layer.macs + sum(t.amount for t in terms)
        seen = set()
        for t in terms:
            amounts[t.op_class] = amounts.get(t.op_class, 0) + t.amount
            reasons.setdefault(t.op_class, {})[t.reason] = None
            if t.op_class not in seen:
                layers[t.op_class] = layers.get(t.op_class, 0) + 1
                seen.add(t.op_class)
    macs = graph.sums.macs
    diffs = tuple(Difference(c, int(amounts[c]), layers[c], tuple(reasons[c])) for c in CLASSES
                  if c in amounts and int(amounts[c]))
    return Comparison(p.name, int(count), macs, diffs)


def compare(graph: Graph, names: Iterable[str] = NAMES) -> dict[str, Comparison]:
    """Every convention (or those named) on `graph`."""
    return {name: comparison(peer(name), graph) for name in names}


__all__ = [
    "CLASSES",
    "NAMES",
    "PEERS",
    "Comparison",
    "Difference",
    "Number",
    "Peer",
    "Rule",
    "Term",
    "compare",
    "comparison",
    "group_counts",
    "layer_counts",
    "parse_names",
    "peer",
    "total",
    "totals",
]
