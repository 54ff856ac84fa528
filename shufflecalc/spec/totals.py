"""Totals: the metrics summed over some layers (a unit, a model, a stage, an operator class), and how many layers
that is. Shared by the graph (per-unit sums) and the cost reports (see `cost.CONVENTIONS` for what each metric
counts)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple


class Totals(NamedTuple):
    macs: int = 0
    fvcore_flops: int = 0
    params: int = 0
    activations: int = 0
    memory_access: int = 0
    layers: int = 0

    @property
    def flops(self) -> int:
        """2 x macs."""
        return 2 * self.macs

    @classmethod
    def of(cls, items: Iterable[Any]) -> Totals:
        """The sums over `items`: anything with the metric attributes (graph.Layer, graph.Numbers, Totals counts as
        one item each)."""
        macs = fv = params = acts = mem = count = 0
        for item in items:
            macs += item.macs
            fv += item.fvcore_flops
            params += item.params
            acts += item.activations
            mem += item.memory_access
            count += 1
        return cls(macs, fv, params, acts, mem, count)

    def plus(self, other: Totals) -> Totals:
        return Totals(*(a + b for a, b in zip(self, other, strict=False)))

    def to_dict(self) -> dict[str, int]:
        """The metrics in `cost.METRICS` order; the layer count is not one."""
        return {"macs": self.macs, "flops": self.flops, "fvcore_flops": self.fvcore_flops, "params": self.params,
                "activations": self.activations, "memory_access": self.memory_access}
