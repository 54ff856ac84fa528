"""Sweep reports: a `Sweep` in, a `Tabular` table or the JSON contract out (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shufflecalc.analysis.cost import ALL_METRICS, CONVENTION_NAMES, CONVENTIONS, EXTRA_METRICS
from shufflecalc.analysis.sweep import METRIC_HEADERS, Sweep
from shufflecalc.report.cost import convention_meanings, convention_notes, conventions
from shufflecalc.report.render import Column, Tabular
from shufflecalc.spec.load import format_value


def _column(key: str) -> Column:
    if key == "model":
        return Column("model", "model", justify="left")
    if key == "error":
        return Column("error", "invalid: reason", justify="left")
    if key in ALL_METRICS:
        return Column(key, METRIC_HEADERS[key], "count")
    if key in CONVENTION_NAMES:
        from shufflecalc.analysis.peers import PEERS

        return Column(key, PEERS[key].header, "count")
    return Column(key, key)


def sweep_table(sweep: Sweep, columns: Sequence[str]) -> Tabular:
    """The sweep as a table: one row per configuration, parameter values as text, counts in the column's kind."""
    rows = []
    for r in sweep.rows:
        row = {key: r.get(key) for key in columns}
        for p in sweep.params:
            if p in row and row[p] is not None:
                row[p] = format_value(row[p])
        rows.append(row)
    title = f"shufflecalc sweep: {', '.join(sweep.models)}"
    summary = f"{sweep.total} configuration{'s' if sweep.total != 1 else ''}, {sweep.invalid} invalid"
    if len(sweep.rows) < sweep.total:
        summary += f" ({sweep.total - len(sweep.rows)} not shown: --skip-invalid)"
    return Tabular(title, [_column(c) for c in columns], rows, notes=[summary + "."], footnotes=_footnotes)


def _footnotes(keys: list[str]) -> list[str]:
    return conventions(keys) + convention_notes(keys)


def sweep_json(sweep: Sweep, axes: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """The JSON contract of a sweep: every row with its full configuration, exact counts, or its error."""
    conventions = {**CONVENTIONS, **EXTRA_METRICS, **convention_meanings(sweep.conventions)}
    rows = []
    for r in sweep.rows:
        data: dict[str, Any] = {"model": r.model, "spec": r.spec, "valid": r.valid,
                                "config": dict(r.config) if r.config is not None else dict(r.values)}
        data.update(r.metrics or {})  # every metric of cost.ALL_METRICS and each convention asked for: --columns
        # chooses table columns only
        data["error"] = r.error
        rows.append(data)
    return {
        "conventions": conventions,
        "sweep": {"models": sweep.models, "params": {k: list(v) for k, v in axes.items()},
                  "configurations": sweep.total, "invalid": sweep.invalid},
        "rows": rows,
    }


__all__ = ["sweep_json", "sweep_table"]
