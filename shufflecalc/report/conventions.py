"""Report builders for `shufflecalc conventions`: each counter's total next to the exact MACs, and its difference
split by operator class with the reason; and for `shufflecalc verify --conventions`: each real tool against its
reproduction (pure: comparisons in, `Tabular` and JSON out; no torch import)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shufflecalc.analysis.cost import Analysis, config_text, labels
from shufflecalc.analysis.peers import PEERS, Comparison
from shufflecalc.report.cost import spec_notes
from shufflecalc.report.render import Column, Tabular

if TYPE_CHECKING:
    from shufflecalc.bridge.peers import ModelCheck, Reproduction


def _percent(amount: int, macs: int) -> float | None:
    return round(100.0 * amount / macs, 6) if macs else None


def conventions_json(analyses: Sequence[Analysis], comparisons: Sequence[Mapping[str, Comparison]]) -> dict[str, Any]:
    models = []
    for a, comps in zip(analyses, comparisons, strict=True):
        models.append({
            "name": a.name,
            "config": dict(a.config),
            **({"notes": list(a.spec.notes)} if a.spec.notes else {}),
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
    notes += spec_notes(analyses)
    return Tabular("shufflecalc conventions", columns, rows, notes=notes)


# --- verify --conventions ---------------------------------------------------------------------------------------------

SKIP_REASON = "not installed: pip install 'shufflecalc[peers]' installs the versions reproduced"
MISMATCHES_SHOWN = 20  # layers listed per model and tool in the table (JSON lists every one)


def _status(c: ModelCheck, name: str) -> str:
    if name in c.missing:
        return "SKIP"
    return "PASS" if c.results[name].ok else "FAIL"


def _n(value: Any, exact: bool) -> Any:
    """A count as verify shows it: '137,460,672' in tables, the number itself in csv and JSON."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not exact:
        return f"{value:,}"
    return value


def _version_note(c: ModelCheck, name: str) -> str:
    installed, pinned = c.versions.get(name), PEERS[name].version
    return f"installed {installed}, reproduced {pinned}" if installed and installed != pinned else ""


def reproduction_table(checks: Sequence[ModelCheck], exact: bool = False) -> Tabular:
    """A row per model and tool: the reproduction's total, the tool's, the layers that agree, and PASS, FAIL or SKIP
    (not installed)."""
    columns = [
        Column("model", "model", justify="left", priority=0), Column("config", "config", justify="left"),
        Column("convention", "convention", justify="left", priority=0), Column("tool", "tool", justify="left"),
        Column("analytic", "analytic (shufflecalc)"), Column("measured", "measured (the tool)"),
        Column("layers", "layers equal"), Column("result", "result", justify="left", priority=0),
    ]
    rows = []
    for c in checks:
        for name in [*c.results, *c.missing]:
            row: dict[str, Any] = {"model": c.graph.spec.name, "config": config_text(dict(c.graph.config)),
                                   "convention": name, "tool": PEERS[name].header}
            if name in c.missing:
                row["result"] = f"SKIP ({SKIP_REASON})"
            else:
                r = c.results[name]
                note = _version_note(c, name)
                row.update(analytic=_n(r.analytic, exact), measured=_n(r.measured.total, exact),
                           layers=f"{r.layers - len(r.mismatches)}/{r.layers}",
                           result=_status(c, name) + (f" ({note})" if note else ""))
            rows.append(row)
    counts = {s: sum(_status(c, n) == s for c in checks for n in [*c.results, *c.missing])
              for s in ("PASS", "FAIL", "SKIP")}
    notes = [f"{sum(counts.values())} comparisons: {counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} "
             "SKIP.",
             "analytic: the tool's count reproduced without torch (shufflecalc.analysis.peers); measured: the tool run "
             "on the torch model shufflecalc.build_model makes, one image. PASS: the totals are equal and so is every "
             "layer's count."]
    return Tabular("shufflecalc verify --conventions", columns, rows, notes=notes)


def mismatch_table(checks: Sequence[ModelCheck], exact: bool = False) -> Tabular | None:
    """The layers whose count differs, per model and tool (at most MISMATCHES_SHOWN each); None when none does."""
    columns = [
        Column("model", "model", justify="left"), Column("convention", "convention", justify="left"),
        Column("layer", "layer", justify="left"), Column("analytic", "analytic"), Column("measured", "measured"),
        Column("difference", "measured - analytic"),
    ]
    rows: list[dict[str, Any]] = []
    notes = []
    for c in checks:
        for name, r in c.results.items():
            for m in r.mismatches[:MISMATCHES_SHOWN]:
                diff = None if m.analytic is None or m.measured is None else m.measured - m.analytic
                rows.append({"model": c.graph.spec.name, "convention": name, "layer": m.layer or "(outside the layers)",
                             "analytic": _n(m.analytic, exact), "measured": _n(m.measured, exact),
                             "difference": _n(diff, exact)})
            if len(r.mismatches) > MISMATCHES_SHOWN:
                notes.append(f"{c.graph.spec.name} {name}: {len(r.mismatches) - MISMATCHES_SHOWN} more layers differ "
                             "(--format json lists every one).")
    if not rows:
        return None
    return Tabular("the layers that differ", columns, rows, notes=notes)


def _reproduction_json(c: ModelCheck, name: str) -> dict[str, Any]:
    data: dict[str, Any] = {"tool": PEERS[name].tool, "version": PEERS[name].version, "status": _status(c, name)}
    if name in c.missing:
        return {**data, "installed": None, "reason": SKIP_REASON}
    r: Reproduction = c.results[name]
    return {**data, "installed": c.versions.get(name), "analytic": r.analytic, "measured": r.measured.total,
            "layers": r.layers, "layers_equal": r.layers - len(r.mismatches),
            "mismatches": [{"layer": m.layer, "analytic": m.analytic, "measured": m.measured} for m in r.mismatches]}


def reproduction_json(checks: Sequence[ModelCheck]) -> dict[str, Any]:
    """verify --conventions' JSON: per model, every tool's status, totals and the layers that differ."""
    return {
        "passed": all(c.ok for c in checks),
        "models": [{"name": c.graph.spec.name, "config": dict(c.graph.config), "passed": c.ok,
                    "conventions": {n: _reproduction_json(c, n) for n in [*c.results, *c.missing]}}
                   for c in checks],
    }
