"""Report builders for `shufflecalc conventions`: each counter's total next to the exact MACs, and its difference
split by operator class with the reason (pure: comparisons in, `Tabular` and JSON out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shufflecalc.analysis.cost import Analysis, config_text, labels
from shufflecalc.analysis.peers import PEERS, Comparison
from shufflecalc.report.render import Column, Tabular


def _percent(amount: int, macs: int) -> float | None:
    return round(100.0 * amount / macs, 6) if macs else None


def conventions_json(analyses: Sequence[Analysis], comparisons: Sequence[Mapping[str, Comparison]]) -> dict[str, Any]:
    models = []
    for a, comps in zip(analyses, comparisons, strict=True):
        models.append({
            "name": a.name,
            "config": dict(a.config),
            "counts": {"macs": a.macs, **{name: c.count for name, c in comps.items()}},
            "differences": {
                name: {d.op_class: {"difference": d.amount, "layers": d.layers, "reason": d.reason}
                       for d in c.differences}
                for name, c in comps.items()
            },
        })
    return {"models": models}


def conventions_table(analyses: Sequence[Analysis], comparisons: Sequence[Mapping[str, Comparison]]) -> Tabular:
    """One row per model and tool (its count, the difference to the MACs), then one row per operator class of that
    difference with its reason."""
    columns = [
        Column("model", "model", justify="left", priority=0),
        Column("convention", "convention", justify="left", priority=0),
        Column("count", "count", "count", priority=0),
        Column("class", "difference by operator class", justify="left"),
        Column("difference", "difference to MACs", "count", priority=0),
        Column("percent", "% of MACs", "diff", priority=0),
        Column("reason", "why", justify="left", wrap=70),
    ]
    rows: list[dict[str, Any]] = []
    names = labels(analyses)
    for label, a, comps in zip(names, analyses, comparisons, strict=True):
        rows.append({"model": label, "convention": "macs (exact)", "count": a.macs, "class": "",
                     "reason": "multiply-accumulates of convolutions, linear layers and attention's matmuls"})
        for name, c in comps.items():
            rows.append({"model": label, "convention": name, "count": c.count, "class": "total",
                         "difference": c.difference, "percent": _percent(c.difference, c.macs),
                         "reason": PEERS[name].tool})
            for d in c.differences:
                rows.append({"model": label, "convention": "", "class": d.op_class, "difference": d.amount,
                             "percent": _percent(d.amount, c.macs), "reason": d.reason})
    notes = [f"{n}: {config_text(dict(a.config))}" for n, a in zip(names, analyses, strict=True)]
    notes.append("Each tool's number as it reports it on shufflecalc's torch model (batch 1), reproduced without "
                 "torch; difference = the tool's count - the exact MACs. docs/conventions.md says what each counts.")
    return Tabular("shufflecalc conventions", columns, rows, notes=notes)
