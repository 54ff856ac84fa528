"""ShuffleNet's group-count argument (its Table 1): for each choice of a spec's `g`, the stage widths, one stride-1
unit's MACs by formula and engine (`explain.check_unit`), and the totals.

It needs a spec whose parameter `g` has choices (the built-in `shufflenet`); any other spec is a one-line error.
MACs are conv + linear multiply-accumulates, exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shufflecalc.analysis.cost import analyze
from shufflecalc.errors import ShufflecalcError
from shufflecalc.formulas.explain import UnitCheck, check_unit, explained_blocks, find_block
from shufflecalc.spec.graph import Graph
from shufflecalc.spec.load import Spec, load_spec


@dataclass(frozen=True)
class GroupsRow:
    g: int
    graph: Graph
    stage_widths: dict[str, int]  # stage name -> output channels
    unit: UnitCheck
    macs: int
    classifier_macs: int


@dataclass(frozen=True)
class GroupsStudy:
    spec: Spec
    overrides: dict[str, Any]
    unit_name: str
    rows: tuple[GroupsRow, ...]

    @property
    def base(self) -> GroupsRow:
        """The row the others are compared with: g = 1 when it is a choice, else the first choice."""
        return next((r for r in self.rows if r.g == 1), self.rows[0])


def stage_widths(graph: Graph) -> dict[str, int]:
    """Output channels of each stage (blocks named <stage>.unit<i>), in order."""
    widths: dict[str, int] = {}
    for b in graph.blocks:
        if "." in b.name:
            widths[b.name.split(".", 1)[0]] = b.out[0]
    return widths


def default_study_unit(graph: Graph) -> str:
    """stage3.unit1 where there is one (ShuffleNet's), else the first stride-1 residual unit."""
    names = {b.name: b for b in explained_blocks(graph)}
    if "stage3.unit1" in names:
        return "stage3.unit1"
    for b in names.values():
        if b.op != "dwsep" and b.args["stride"] == 1:
            return b.name
    raise ShufflecalcError(f"{graph.spec.name} has no stride-1 bottleneck or ShuffleNet unit to study")


def groups_study(spec: Spec | str, overrides: Mapping[str, Any] | None = None, unit: str | None = None) -> GroupsStudy:
    """For each choice of the spec's `g`: stage widths, one unit's MACs (engine and formula) and the total MACs.

    The point of ShuffleNet's Table 1: at about the same total cost, more groups afford wider feature maps.
    """
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    overrides = dict(overrides or {})
    param = spec.params.get("g")
    if param is None or not param.choices:
        raise ShufflecalcError("--groups-study is ShuffleNet's group-count study: it needs a spec with a parameter "
                               f"'g' that has choices (such as shufflenet); {spec.name} has none")
    if "g" in overrides:
        raise ShufflecalcError("--groups-study goes through every choice of g itself: leave out --g")
    rows = []
    for g in param.choices:
        a = analyze(spec, {**overrides, "g": g})
        graph = a.graph
        block = find_block(graph, explained_blocks(graph), unit or default_study_unit(graph))
        macs = a.metrics(("macs", "macs_without_classifier"))
        rows.append(GroupsRow(g, graph, stage_widths(graph), check_unit(graph, block), macs["macs"],
                              macs["macs"] - macs["macs_without_classifier"]))
    return GroupsStudy(spec, overrides, rows[0].unit.block.name, tuple(rows))


__all__ = ["GroupsRow", "GroupsStudy", "default_study_unit", "groups_study", "stage_widths"]
