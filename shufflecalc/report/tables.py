"""Paper-table reports: a table definition and its computed results in, a `Tabular`, JSON or plot data out (pure)."""

from __future__ import annotations

from typing import Any

from shufflecalc.analysis.cost import CONVENTIONS, EXTRA_METRICS, config_text
from shufflecalc.analysis.tables import Result, TableDef
from shufflecalc.report.cost import conventions
from shufflecalc.report.plot import MACS_LABEL, PlotData, PlotPoint
from shufflecalc.report.render import Column, Tabular


def _has_published(table: TableDef, key: str) -> bool:
    return any(key in r.published for r in table.rows)


def table_tabular(table: TableDef, results: list[Result]) -> Tabular:
    """Published value, computed value and difference per metric (computed only where nothing is published)."""
    columns = [Column("group", "group", justify="left")] if any(r.group for r in table.rows) else []
    columns += [Column("model", "model", justify="left"), Column("config", "configuration", justify="left")]
    for m in table.metrics:
        if _has_published(table, m.key):
            columns += [Column(f"{m.key}_published", f"{m.header}, paper", "published"),
                        Column(m.key, f"{m.header}, computed", "count"),
                        Column(f"{m.key}_diff_percent", "Δ vs paper", "diff")]
        else:
            columns.append(Column(m.key, f"{m.header}, computed", "count"))
    for c in table.context:
        text = any(isinstance(r.row.context.get(c.key), str) for r in results)
        columns.append(Column(c.key, c.header, justify="left" if text else "right"))
    rows = []
    for res in results:
        row: dict[str, Any] = {"group": res.row.group, "model": res.row.label, "config": config_text(res.row.config)}
        for m in table.metrics:
            row[m.key] = res.computed[m.key]
            row[f"{m.key}_published"] = res.row.published.get(m.key)
            row[f"{m.key}_diff_percent"] = res.diff_percent.get(m.key)
        row.update(res.row.context)
        rows.append(row)
    notes = list(table.notes)
    if table.reference:
        notes.insert(0, f"Published values: {table.reference}.")
    notes.append("Δ vs paper = (computed − published) / published; published values are rounded as printed.")
    return Tabular(table.title, columns, rows, notes=notes, footnotes=conventions)


def table_json(table: TableDef, results: list[Result]) -> dict[str, Any]:
    """The JSON contract: per row the full configuration, published and computed exact integers, differences."""
    return {
        "conventions": {**CONVENTIONS, **EXTRA_METRICS},
        "table": {"name": table.name, "title": table.title, "description": table.description,
                  "reference": table.reference, "metrics": [m.key for m in table.metrics],
                  "context": [c.key for c in table.context]},
        "rows": [
            {"label": r.row.label, "group": r.row.group or None, "model": r.row.spec.name,
             "spec": r.row.spec.source, "config": dict(r.config), "published": dict(r.row.published),
             "computed": dict(r.computed), "diff_percent": dict(r.diff_percent), "context": dict(r.row.context)}
            for r in results
        ],
    }


def table_plot(table: TableDef, results: list[Result]) -> PlotData:
    """Computed points and, where the paper gives them, the published ones (hollow). MACs are the table's first
    MACs metric (with or without the classifier, as the table counts them)."""
    macs = next((m for m in table.metrics if m.key.startswith("macs")), None)
    key = macs.key if macs else "macs"
    label = MACS_LABEL if key == "macs" else "MACs without the classifier (conv multiply-accumulates), millions"
    points = []
    for r in results:
        computed = r.computed.get(key, r.macs)
        points.append(PlotPoint(r.row.label, r.row.spec.name, dict(r.row.config), computed, r.params))
        if key in r.row.published:
            points.append(PlotPoint(r.row.label, r.row.spec.name, dict(r.row.config), r.row.published[key],
                                    r.row.published.get("params"), published=True))
    return PlotData(table.title, points, label)


def list_tabular(tables: list[TableDef]) -> Tabular:
    columns = [Column("name", "table", justify="left"), Column("title", "title", justify="left"),
               Column("rows", "rows", "count")]
    rows = [{"name": t.name, "title": t.title, "rows": len(t.rows)} for t in tables]
    return Tabular("built-in tables (shufflecalc table NAME)", columns, rows)


def list_json(tables: list[TableDef]) -> dict[str, Any]:
    return {"tables": [{"name": t.name, "title": t.title, "description": t.description, "reference": t.reference,
                        "rows": len(t.rows), "metrics": [m.key for m in t.metrics]} for t in tables]}


__all__ = ["list_json", "list_tabular", "table_json", "table_plot", "table_tabular"]
