"""Report builders for the analytic commands: analyses in, `Tabular` tables and JSON dictionaries out (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shufflecalc.analysis.cost import CONVENTIONS, HEADERS, METRICS, Analysis, Totals, config_text, labels, macs_terms
from shufflecalc.report.render import Column, Tabular, shape_text
from shufflecalc.spec.load import Spec, format_value

UNUSED_HEADER = "params unused in eval"  # the parameters of layers marked `unused: true` (Analysis.unused_params)
UNUSED_NOTE = ("params unused in eval: the parameters of entries marked 'unused: true', built with the model and never "
               "run by its eval forward; params and the other metrics leave them out.")


def _ratio(value: int, first: int) -> float | None:
    return round(value / first, 6) if first else None


# --- compare --------------------------------------------------------------------------------------------------------


def compare_json(analyses: Sequence[Analysis]) -> dict[str, Any]:
    first = analyses[0]
    models = []
    for a in analyses:
        data = a.to_dict()
        layers = data.pop("layers")
        data["ratio_to_first"] = {m: _ratio(getattr(a, m), getattr(first, m)) for m in METRICS}
        data["layers"] = layers
        models.append(data)
    return {"conventions": CONVENTIONS, "models": models}


def compare_by_metric(analyses: Sequence[Analysis]) -> Tabular:
    """Metrics as rows, models as columns, each later model with its ratio to the first (terminal and markdown)."""
    names = labels(analyses)
    columns = [Column("metric", "metric (batch 1)", justify="left"), Column("m0", names[0], "count")]
    for i, name in enumerate(names[1:], 1):
        columns += [Column(f"m{i}", name, "count"), Column(f"r{i}", f"{name} / {names[0]}", "ratio")]
    rows: list[dict[str, Any]] = [
        {"metric": "input", **{f"m{i}": shape_text(a.graph.input) for i, a in enumerate(analyses)}}
    ]
    first = analyses[0]
    unused = any(a.graph.unused for a in analyses)
    for m in METRICS + (("unused_params",) if unused else ()):
        row: dict[str, Any] = {"metric": HEADERS.get(m, UNUSED_HEADER)}
        for i, a in enumerate(analyses):
            row[f"m{i}"] = getattr(a, m)
            if i:
                row[f"r{i}"] = _ratio(getattr(a, m), getattr(first, m))
        rows.append(row)
    configs = [f"{n}: {config_text(dict(a.config))}" for n, a in zip(names, analyses, strict=False)]
    return Tabular("shufflecalc compare", columns, rows, notes=configs + notes() + ([UNUSED_NOTE] if unused else []))


def compare_by_model(analyses: Sequence[Analysis]) -> Tabular:
    """One row per model with exact counts and ratios to the first (csv)."""
    columns = [Column("model", "model"), Column("config", "config")]
    columns += [Column(m, HEADERS[m], "count") for m in METRICS]
    columns += [Column(f"{m}_ratio_to_first", f"{HEADERS[m]} / first", "ratio") for m in METRICS]
    unused = any(a.graph.unused for a in analyses)
    if unused:
        columns.append(Column("unused_params", UNUSED_HEADER, "count"))
    first = analyses[0]
    rows = []
    for name, a in zip(labels(analyses), analyses, strict=False):
        row: dict[str, Any] = {"model": name, "config": config_text(dict(a.config))}
        if unused:
            row["unused_params"] = a.unused_params
        for m in METRICS:
            row[m] = getattr(a, m)
            row[f"{m}_ratio_to_first"] = _ratio(getattr(a, m), getattr(first, m))
        rows.append(row)
    return Tabular("shufflecalc compare", columns, rows)


def notes() -> list[str]:
    """What the metrics mean, all of them (a table whose rows are the metrics, such as compare's)."""
    return conventions(list(METRICS))


def conventions(keys: Sequence[str]) -> list[str]:
    """The meaning of the metrics among the columns `keys` (a key names its metric, or starts with it:
    ``macs_published``), as `Tabular.footnotes`: a table never explains a column it does not show."""

    def shown(*metrics: str) -> bool:
        return any(k == m or k.startswith(m + "_") for k in keys for m in metrics)

    first = []
    if shown("macs", "flops"):
        first += ["MACs: conv+linear multiply-accumulates (the papers' 'FLOPs'/'mult-adds')", "FLOPs = 2 × MACs"]
    if shown("fvcore_flops"):
        first.append("fvcore flops: fvcore's FlopCountAnalysis (eval) count")
    second = []
    if shown("activations"):
        second.append("activations: conv+linear output elements")
    if shown("memory_access"):
        second.append("memory access: inputs + outputs + weights of every layer, in elements (ShuffleNet V2's MAC)")
    lines = ["; ".join(first) + "."] if first else []
    units = "K/M/G are powers of 1000."
    lines.append("; ".join(second) + ". " + units if second else units)
    return lines


# --- show -----------------------------------------------------------------------------------------------------------

SHOW_BY = ("layer", "block", "stage", "class")


def show_table(a: Analysis, by: str = "layer") -> Tabular:
    title = "  ".join(x for x in (a.name, config_text(dict(a.config)), f"input {shape_text(a.graph.input)}") if x)
    total = a.macs or 1
    metric_cols = [
        Column("macs", HEADERS["macs"], "count"),
        Column("share", "% of MACs", "percent"),
        Column("params", HEADERS["params"], "count"),
        Column("activations", HEADERS["activations"], "count"),
        Column("fvcore_flops", HEADERS["fvcore_flops"], "count"),
        Column("memory_access", HEADERS["memory_access"], "count"),
    ]
    if by == "layer":
        columns = [Column("name", "layer", justify="left"), Column("op", "op", justify="left"),
                   Column("output", "output", "shape"), *metric_cols]
        rows = [
            {"name": layer.name, "op": layer.op, "output": layer.out,
             "macs": layer.macs, "share": 100 * layer.macs / total,
             "params": layer.params, "activations": layer.activations, "fvcore_flops": layer.fvcore_flops,
             "memory_access": layer.memory_access}
            for layer in a.layers
        ]
    else:
        groups = a.breakdown(by)
        columns = [Column("name", by, justify="left"), Column("layers", "layers", "count"), *metric_cols]
        items = sorted(groups.items(), key=lambda kv: -kv[1].macs) if by == "class" else list(groups.items())
        rows = [{"name": k, "layers": t.layers, "share": 100 * t.macs / total, **t.to_dict()} for k, t in items]
    footer = {"name": "total", "share": 100.0 if a.macs else 0.0, **a.totals.to_dict()}
    return Tabular(title, columns, rows, footer=footer, footnotes=conventions, notes=unused_notes(a) + terms_notes(a))


TERM_NAMES = {"qk": "qk (Q.K^T)", "av": "av (A.V)"}  # how a note shows a term of `macs_terms` (else by its key)


def terms_notes(a: Analysis) -> list[str]:
    """The MACs of the layers whose MACs are a sum of distinct matmuls (attention), term by term: one note per
    distinct set of terms, naming its layers (folded: ``encoder.layers.encoder_layer_*.self_attention``)."""
    groups: dict[tuple[str, tuple[tuple[str, int], ...]], list[str]] = {}
    for layer in a.layers:
        terms = macs_terms(layer)
        if terms is not None:
            groups.setdefault((layer.op, tuple(terms.items())), []).append(layer.name)
    if not groups:
        return []
    from shufflecalc.report.verify import compact_names

    notes = []
    for (op, items), names in groups.items():
        sums = " + ".join(f"{TERM_NAMES.get(k, k)} {v:,}" for k, v in items)
        count = f"{len(names)} layers, each" if len(names) > 1 else "1 layer"
        notes.append(f"{op} MACs = {sums} = {sum(v for _, v in items):,} ({compact_names(names)}: {count}).")
    return notes


def unused_notes(a: Analysis) -> list[str]:
    """Where a spec marks entries ``unused: true``: what the table leaves out, and the model's parameters in all."""
    if not a.graph.unused:
        return []
    return [f"Not in the rows or the total: {', '.join(a.unused_entries)} (marked 'unused: true'), {a.unused_params:,} "
            f"params the eval forward never runs; {a.params + a.unused_params:,} params in all."]


def show_json(a: Analysis) -> dict[str, Any]:
    return {"conventions": CONVENTIONS, "models": [a.to_dict()]}


# --- list -----------------------------------------------------------------------------------------------------------


def list_table(specs: Sequence[Spec]) -> Tabular:
    columns = [Column("name", "spec", justify="left"), Column("description", "description", justify="left"),
               Column("params", "parameters (default; allowed)", justify="left")]
    rows = [
        {"name": s.name, "description": s.description,
         "params": "; ".join(f"{p.name}={format_value(p.default)} ({p.describe()})" for p in s.params.values())}
        for s in specs
    ]
    return Tabular("built-in specs", columns, rows)


def list_json(specs: Sequence[Spec]) -> dict[str, Any]:
    return {
        "specs": [
            {"name": s.name, "description": s.description, "reference": s.reference,
             "params": {p.name: {"type": p.type.__name__, "default": p.default,
                                 "choices": list(p.choices) if p.choices else None,
                                 "min": p.min, "max": p.max, "help": p.help} for p in s.params.values()}}
            for s in specs
        ]
    }


__all__ = [
    "SHOW_BY",
    "Totals",
    "compare_by_metric",
    "compare_by_model",
    "compare_json",
    "list_json",
    "list_table",
    "show_json",
    "show_table",
]
