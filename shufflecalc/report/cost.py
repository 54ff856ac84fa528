"""Report builders for the analytic commands: analyses in, `Tabular` tables and JSON dictionaries out (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shufflecalc.analysis.cost import (
    ALL_METRICS,
    CONVENTION_NAMES,
    CONVENTIONS,
    GROUP_KEYS,
    HEADERS,
    METRICS,
    Analysis,
    Totals,
    config_text,
    labels,
    macs_terms,
)
from shufflecalc.report.render import Column, Tabular, shape_text
from shufflecalc.spec.load import Spec, format_value

UNUSED_HEADER = "params unused in eval"  # the parameters of layers marked `unused: true` (Analysis.unused_params)
UNUSED_NOTE = ("params unused in eval: the parameters of entries marked 'unused: true', built with the model and never "
               "run by its eval forward; params and the other metrics leave them out.")


def _ratio(value: int, first: int) -> float | None:
    return round(value / first, 6) if first else None


# --- the other counters' conventions (--convention NAME) -----------------------------------------------------------
# analysis.peers is imported only where a convention is asked for: the plain commands' start-up does not pay for it.


def convention_meanings(names: Sequence[str]) -> dict[str, str]:
    """What each convention named counts, for a JSON "conventions" map (its key: the convention name)."""
    if not names:
        return {}
    from shufflecalc.analysis.peers import PEERS

    return {n: f"{PEERS[n].tool}, reproduced without torch: {PEERS[n].summary}" for n in names}


def convention_notes(keys: Sequence[str]) -> list[str]:
    """A note per convention among the column keys (or metric rows) `keys`: its header and what it counts."""
    if not any(k in CONVENTION_NAMES for k in keys):
        return []
    from shufflecalc.analysis.peers import PEERS

    return [f"{PEERS[k].header}: {PEERS[k].tool}, reproduced without torch: {PEERS[k].summary} ('shufflecalc "
            "conventions' splits its difference to the MACs by operator class)." for k in keys if k in PEERS]


def with_conventions(analyses: Sequence[Analysis], names: Sequence[str]) -> list[dict[str, int]]:
    """Each model's total in every convention named."""
    return [_totals(a, names) for a in analyses]


def _totals(a: Analysis, names: Sequence[str]) -> dict[str, int]:
    if not names:
        return {}
    from shufflecalc.analysis.peers import totals

    return totals(a.graph, names)


def _header(name: str) -> str:
    from shufflecalc.analysis.peers import PEERS

    return PEERS[name].header


def _insert_after(data: dict[str, Any], after: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with `values` inserted after the key `after` (at the end without it)."""
    if after not in data:
        return {**data, **values}
    out: dict[str, Any] = {}
    for k, v in data.items():
        out[k] = v
        if k == after:
            out.update(values)
    return out


def model_dict(a: Analysis, names: Sequence[str] = (), layers: bool = True) -> dict[str, Any]:
    """`Analysis.to_dict`, with the total of each convention named after the metrics and, with `layers`, each
    layer's count in it after the layer's own metrics (JSON key: the convention name)."""
    data = a.to_dict(layers)
    if not names:
        return data
    from shufflecalc.analysis.peers import PEERS, layer_counts

    data = _insert_after(data, ALL_METRICS[-1], _totals(a, names))
    if layers:
        counts = {n: layer_counts(PEERS[n], a.graph) for n in names}
        data["layers"] = [_insert_after(d, "memory_access", {n: counts[n][d["name"]] for n in names})
                          for d in data["layers"]]
    return data


# --- compare --------------------------------------------------------------------------------------------------------


def compare_json(analyses: Sequence[Analysis], names: Sequence[str] = ()) -> dict[str, Any]:
    """compare's JSON; `names`: the conventions asked for (--convention), a key each beside the metrics."""
    first = analyses[0]
    models = []
    values = with_conventions(analyses, names)
    for a, own in zip(analyses, values, strict=True):
        data = model_dict(a, names)
        layers = data.pop("layers")
        data["ratio_to_first"] = {m: _ratio(getattr(a, m), getattr(first, m)) for m in METRICS}
        data["ratio_to_first"].update({n: _ratio(own[n], values[0][n]) for n in names})
        data["layers"] = layers
        models.append(data)
    return {"conventions": {**CONVENTIONS, **convention_meanings(names)}, "models": models}


def compare_by_metric(analyses: Sequence[Analysis], conventions_asked: Sequence[str] = ()) -> Tabular:
    """Metrics as rows, models as columns, each later model with its ratio to the first (terminal and markdown);
    `names`: a row more per convention asked for (--convention)."""
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
    values = with_conventions(analyses, conventions_asked)
    for c in conventions_asked:
        row = {"metric": _header(c)}
        for i, own in enumerate(values):
            row[f"m{i}"] = own[c]
            if i:
                row[f"r{i}"] = _ratio(own[c], values[0][c])
        rows.append(row)
    configs = [f"{n}: {config_text(dict(a.config))}" for n, a in zip(names, analyses, strict=False)]
    return Tabular("shufflecalc compare", columns, rows, notes=configs + notes() + convention_notes(conventions_asked)
                   + ([UNUSED_NOTE] if unused else []) + spec_notes(analyses))


def compare_by_model(analyses: Sequence[Analysis], names: Sequence[str] = ()) -> Tabular:
    """One row per model with exact counts and ratios to the first (csv); `names`: a column (and its ratio) more per
    convention asked for (--convention), keyed by its name."""
    columns = [Column("model", "model"), Column("config", "config")]
    columns += [Column(m, HEADERS[m], "count") for m in METRICS]
    columns += [Column(n, _header(n), "count") for n in names]
    columns += [Column(f"{m}_ratio_to_first", f"{HEADERS[m]} / first", "ratio") for m in METRICS]
    columns += [Column(f"{n}_ratio_to_first", f"{_header(n)} / first", "ratio") for n in names]
    unused = any(a.graph.unused for a in analyses)
    if unused:
        columns.append(Column("unused_params", UNUSED_HEADER, "count"))
    first = analyses[0]
    rows = []
    values = with_conventions(analyses, names)
    for name, a, own in zip(labels(analyses), analyses, values, strict=False):
        row: dict[str, Any] = {"model": name, "config": config_text(dict(a.config))}
        if unused:
            row["unused_params"] = a.unused_params
        for m in METRICS:
            row[m] = getattr(a, m)
            row[f"{m}_ratio_to_first"] = _ratio(getattr(a, m), getattr(first, m))
        for n in names:
            row[n] = own[n]
            row[f"{n}_ratio_to_first"] = _ratio(own[n], values[0][n])
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


def show_table(a: Analysis, by: str = "layer", names: Sequence[str] = ()) -> Tabular:
    """The per-layer (or per-group, `by`) table; `names`: a column more per convention asked for (--convention), its
    header naming the tool and its version."""
    title = "  ".join(x for x in (a.name, config_text(dict(a.config)), f"input {shape_text(a.graph.input)}") if x)
    total = a.macs or 1
    metric_cols = [
        Column("macs", HEADERS["macs"], "count"),
        Column("share", "% of MACs", "percent"),
        Column("params", HEADERS["params"], "count"),
        Column("activations", HEADERS["activations"], "count"),
        Column("fvcore_flops", HEADERS["fvcore_flops"], "count"),
        Column("memory_access", HEADERS["memory_access"], "count"),
        *(Column(n, _header(n), "count") for n in names),
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
        for n in names:
            from shufflecalc.analysis.peers import PEERS, layer_counts

            for row, count in zip(rows, layer_counts(PEERS[n], a.graph).values(), strict=True):
                row[n] = count
    else:
        groups = a.breakdown(by)
        columns = [Column("name", by, justify="left"), Column("layers", "layers", "count"), *metric_cols]
        items = sorted(groups.items(), key=lambda kv: -kv[1].macs) if by == "class" else list(groups.items())
        counts = {n: _group_counts(a, n, by) for n in names}
        rows = [{"name": k, "layers": t.layers, "share": 100 * t.macs / total, **t.to_dict(),
                 **{n: counts[n][k] for n in names}} for k, t in items]
    footer = {"name": "total", "share": 100.0 if a.macs else 0.0, **a.totals.to_dict(), **_totals(a, names)}

    def footnotes(keys: list[str]) -> list[str]:
        return conventions(keys) + convention_notes(keys)

    return Tabular(title, columns, rows, footer=footer, footnotes=footnotes,
                   notes=unused_notes(a) + terms_notes(a) + spec_notes([a]))


def _group_counts(a: Analysis, name: str, by: str) -> dict[str, Any]:
    from shufflecalc.analysis.peers import PEERS, group_counts

    return group_counts(PEERS[name], a.graph, GROUP_KEYS[by])


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


def spec_notes(analyses: Sequence[Analysis]) -> list[str]:
    """The notes of the specs (their ``notes:``, e.g. an ONNX import's "BatchNormalization folded"), one line each,
    prefixed by the model's label where there are several models."""
    names = labels(analyses)
    return [f"{name}: {note}" if len(analyses) > 1 else note
            for name, a in zip(names, analyses, strict=True) for note in a.spec.notes]


def unused_notes(a: Analysis) -> list[str]:
    """Where a spec marks entries ``unused: true``: what the table leaves out, and the model's parameters in all."""
    if not a.graph.unused:
        return []
    return [f"Not in the rows or the total: {', '.join(a.unused_entries)} (marked 'unused: true'), {a.unused_params:,} "
            f"params the eval forward never runs; {a.params + a.unused_params:,} params in all."]


def show_json(a: Analysis, names: Sequence[str] = ()) -> dict[str, Any]:
    """show's JSON; `names`: the conventions asked for (--convention), the model's total and each layer's count in
    each, keyed by its name."""
    return {"conventions": {**CONVENTIONS, **convention_meanings(names)}, "models": [model_dict(a, names)]}


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
