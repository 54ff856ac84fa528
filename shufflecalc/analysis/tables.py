"""Paper tables as data: rows of model + configuration, the published value per cell, the computed value, the
difference in percent.

A table definition is a YAML file (format in docs/tables.md); the built-in ones ship with the package in
``specs/tables/``. Loading validates the whole file (unknown keys, unknown models or parameters, bad values) and
every error names the file, line and YAML path. Computed values follow `cost.CONVENTIONS` (batch 1, exact integers);
published values are the papers' rounded figures times the metric's ``unit``. The difference is
``100 * (computed - published) / published``. Pure: no torch, no printing; the reports are in
`shufflecalc.report.tables`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from shufflecalc.analysis.cost import ALL_METRICS, analyze, config_text
from shufflecalc.analysis.sweep import METRIC_HEADERS
from shufflecalc.errors import ShufflecalcError, shown
from shufflecalc.spec.load import Spec, builtin_dir, load_spec, resolve_config
from shufflecalc.spec.yamlsrc import Document, check_file_name, load_file
from shufflecalc.units import MAX_COUNT, UNIT_NAMES, exact, unit_factor, unit_name

TABLE_KEYS = {"name", "title", "description", "reference", "notes", "metrics", "context", "rows"}
METRIC_KEYS = {"key", "header", "unit"}
CONTEXT_KEYS = {"key", "header"}
ROW_KEYS = {"label", "group", "model", "config", "published", "context"}


@dataclass(frozen=True)
class Metric:
    key: str
    header: str
    unit: int  # the factor of the published values' unit in the file: 1, K, M or G (`units.UNITS`)


@dataclass(frozen=True)
class ContextColumn:
    key: str
    header: str


@dataclass(frozen=True)
class TableRow:
    label: str
    group: str
    spec: Spec
    config: Mapping[str, Any]  # the row's parameter values, as written (validated)
    published: Mapping[str, int]  # metric -> exact published value (the paper's figure x unit)
    context: Mapping[str, Any]
    index: int


@dataclass(frozen=True)
class TableDef:
    name: str
    source: str
    title: str
    description: str
    reference: str
    notes: tuple[str, ...]
    metrics: tuple[Metric, ...]
    context: tuple[ContextColumn, ...]
    rows: tuple[TableRow, ...]
    doc: Document


@dataclass(frozen=True)
class Result:
    """A computed row: exact values of every metric of the table and the difference to each published value."""

    row: TableRow
    config: Mapping[str, Any]  # every parameter of the model
    computed: Mapping[str, int]  # the table's metrics
    diff_percent: Mapping[str, float]
    macs: int
    params: int


# --- finding and loading ----------------------------------------------------------------------------------------------


def tables_dir() -> Path:
    return builtin_dir() / "tables"


def builtin_tables() -> list[str]:
    return sorted(p.stem for p in tables_dir().glob("*.yaml"))


def load_table(ref: str | Path) -> TableDef:
    """Load and validate a built-in table by name, or a table file by path."""
    text = str(ref)
    check_file_name(text, "table")
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in text:
        if not path.exists():
            raise ShufflecalcError(f"{text}: no such table file")
        return _parse(load_file(path, text), text, path.resolve().parent)
    builtin = tables_dir() / f"{text}.yaml"
    if not builtin.exists():
        raise ShufflecalcError(f"unknown table '{text}': not a file, and not a built-in table "
                               f"({', '.join(builtin_tables())})")
    return _parse(load_file(builtin, f"specs/tables/{builtin.name}"), text, None)


def _parse(doc: Document, source: str, base: Path | None) -> TableDef:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "a table must be a mapping with 'metrics' and 'rows'")
    _keys(doc, data, (), TABLE_KEYS)
    for key in ("metrics", "rows"):
        if key not in data:
            raise doc.error((), f"missing required key '{key}'")
    for key in ("name", "title", "description", "reference"):
        if key in data and not isinstance(data[key], str):
            raise doc.error((key,), f"'{key}' must be a string")
    notes = _list(doc, data.get("notes", []), ("notes",), allow_empty=True)
    for i, note in enumerate(notes):
        if not isinstance(note, str):
            raise doc.error(("notes", i), "a note must be a string")
    metrics = tuple(_metric(doc, m, ("metrics", i)) for i, m in enumerate(_list(doc, data["metrics"], ("metrics",))))
    _unique(doc, [m.key for m in metrics], "metrics", "metric")
    context = tuple(_context(doc, c, ("context", i))
                    for i, c in enumerate(_list(doc, data.get("context", []), ("context",), allow_empty=True)))
    _unique(doc, [c.key for c in context], "context", "context column")
    clash = {m.key for m in metrics} & {c.key for c in context}
    if clash:
        raise doc.error(("context",), f"'{sorted(clash)[0]}' is both a metric and a context column")
    units = {m.key: m.unit for m in metrics}
    rows = tuple(_row(doc, r, i, units, {c.key for c in context}, base)
                 for i, r in enumerate(_list(doc, data["rows"], ("rows",))))
    name: str = data.get("name", Path(doc.file).stem)
    return TableDef(name, source, data.get("title", name), data.get("description", ""), data.get("reference", ""),
                    tuple(notes), metrics, context, rows, doc)


def _keys(doc: Document, data: Mapping[str, Any], path: tuple, allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            raise doc.error((*path, key), f"unknown key '{key}' (expected one of: {', '.join(sorted(allowed))})")


def _list(doc: Document, value: Any, path: tuple, allow_empty: bool = False) -> list[Any]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise doc.error(path, f"'{path[-1]}' must be a{'' if allow_empty else ' non-empty'} list")
    return value


def _mapping(doc: Document, value: Any, path: tuple, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise doc.error(path, f"{what} must be a mapping")
    return value


def _unique(doc: Document, keys: list[str], section: str, what: str) -> None:
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise doc.error((section, i, "key"), f"duplicate {what} '{key}'")


def _metric(doc: Document, raw: Any, path: tuple) -> Metric:
    raw = _mapping(doc, raw, path, "a metric ({key: macs, unit: M})")
    _keys(doc, raw, path, METRIC_KEYS)
    key = raw.get("key")
    if key not in ALL_METRICS:
        raise doc.error((*path, "key"), f"unknown metric {shown(key)} (metrics: {', '.join(ALL_METRICS)})")
    unit = raw.get("unit", 1)
    factor = unit_factor(unit)
    if factor is None:
        raise doc.error((*path, "unit"), f"unit must be one of {UNIT_NAMES}, got {shown(unit)}")
    header = raw.get("header", METRIC_HEADERS[key])
    if not isinstance(header, str):
        raise doc.error((*path, "header"), "'header' must be a string")
    return Metric(key, header, factor)


def _context(doc: Document, raw: Any, path: tuple) -> ContextColumn:
    raw = _mapping(doc, raw, path, "a context column ({key: top1_error, header: ...})")
    _keys(doc, raw, path, CONTEXT_KEYS)
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        raise doc.error((*path, "key"), "a context column needs a 'key' (a name)")
    header = raw.get("header", key)
    if not isinstance(header, str):
        raise doc.error((*path, "header"), "'header' must be a string")
    return ContextColumn(key, header)


def _row(doc: Document, raw: Any, i: int, units: Mapping[str, int], context: set[str], base: Path | None) -> TableRow:
    path = ("rows", i)
    raw = _mapping(doc, raw, path, "a row ({model: ..., config: {...}, published: {...}})")
    _keys(doc, raw, path, ROW_KEYS)
    if "model" not in raw:
        raise doc.error(path, "missing required key 'model'")
    spec = _model(doc, raw["model"], (*path, "model"), base)
    config = _mapping(doc, raw.get("config", {}), (*path, "config"), "'config'")
    for name, value in config.items():
        try:
            resolve_config(spec, {name: value})
        except ShufflecalcError as exc:
            raise doc.error((*path, "config", name), exc.message) from None
    published: dict[str, int] = {}
    for key, value in _mapping(doc, raw.get("published", {}), (*path, "published"), "'published'").items():
        where = (*path, "published", key)
        if key not in units:
            raise doc.error(where, f"'{key}' is not one of the table's metrics ({', '.join(units)})")
        published[key] = _published(doc, where, value, units[key])
    values = _mapping(doc, raw.get("context", {}), (*path, "context"), "'context'")
    for key, value in values.items():
        if key not in context:
            raise doc.error((*path, "context", key), f"'{key}' is not a context column of the table "
                                                      f"({', '.join(sorted(context)) or 'none declared'})")
        if isinstance(value, (dict, list)) or value is None:
            raise doc.error((*path, "context", key), "a context value must be a number or a string")
    label, group = raw.get("label"), raw.get("group", "")
    for key, value in (("label", label), ("group", group)):
        if value is not None and not isinstance(value, str):
            raise doc.error((*path, key), f"'{key}' must be a string")
    label = label or f"{spec.name} {config_text(config)}".strip()
    return TableRow(label, group, spec, dict(config), published, dict(values), i)


def _published(doc: Document, where: tuple, value: Any, unit: int) -> int:
    """A published figure times its unit, rounded half up to an exact integer (the papers' figures are rounded)."""
    number = exact(value)
    if number is None or number <= 0:
        raise doc.error(where, f"a published value must be a positive finite number, got {shown(value)}")
    count = math.floor(number * unit + Fraction(1, 2))
    if count == 0:
        raise doc.error(where, f"a published value must be at least 1 after scaling: {shown(value)} at unit "
                        f"{unit_name(unit)} rounds to 0")
    if count > MAX_COUNT:
        raise doc.error(where, f"a published value must be at most 10**18 after scaling: {shown(value)} at "
                        f"unit {unit_name(unit)} is {count:.3g}")
    return count


def _model(doc: Document, model: Any, path: tuple, base: Path | None) -> Spec:
    if not isinstance(model, str) or not model:
        raise doc.error(path, "'model' must be a built-in spec name or a spec file path")
    ref = model
    if base is not None and (model.endswith((".yaml", ".yml")) or "/" in model) and not Path(model).is_absolute():
        ref = str(base / model)
    try:
        return load_spec(ref)
    except ShufflecalcError as exc:
        if exc.file:  # an error inside the spec file itself: its own location is the useful one
            raise
        raise doc.error(path, exc.message) from None


# --- computing --------------------------------------------------------------------------------------------------------


def compute(table: TableDef) -> list[Result]:
    """Analyze every row; an invalid configuration is an error in the table file, at the row."""
    keys = [m.key for m in table.metrics]
    results = []
    for row in table.rows:
        try:
            a = analyze(row.spec, row.config)
        except ShufflecalcError as exc:
            raise table.doc.error(("rows", row.index), f"{row.label}: {exc}") from None
        computed = a.metrics(keys)
        diff = {k: round(100 * (computed[k] - v) / v, 4) for k, v in row.published.items()}
        results.append(Result(row, dict(a.config), computed, diff, a.macs, a.params))
    return results


def list_tables() -> list[TableDef]:
    return [load_table(n) for n in builtin_tables()]


__all__ = ["Metric", "Result", "TableDef", "TableRow", "builtin_tables", "compute", "list_tables", "load_table"]
