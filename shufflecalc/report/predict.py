"""Tables and JSON for `calibrate` and `predict` (pure), and the roofline chart's data.

`predict`'s JSON::

    {"conventions": {...}, "profile": {"source", "environment", "forward_overhead_us", "ceilings"},
     "models": [{"name", "config", "batch", "predicted_ms", "by_class": {...},
                 "layers": [{"name", "class", "predicted_ms", "bound", ...}, ...]}, ...]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shufflecalc.analysis.cost import Analysis, config_text
from shufflecalc.analysis.predict import PREDICT_CONVENTIONS, Prediction, Profile
from shufflecalc.report.latency import ms
from shufflecalc.report.render import Column, Tabular
from shufflecalc.units import sig

PREDICT_BY = ("model", "class", "layer")


def _g(x: float | None) -> str:
    return "" if x is None else f"{x:,.1f}"


# --- calibrate ----------------------------------------------------------------------------------------------------


def calibrate_table(doc: dict[str, Any]) -> Tabular:
    """One row per predictor class: its fitted numbers and how well they fit its own microbenchmarks."""
    columns = [Column("class", "class", justify="left"), Column("samples", "samples"),
               Column("overhead", "overhead us"), Column("compute", "compute GFLOP/s"),
               Column("bandwidth", "bandwidth GB/s"), Column("mape", "fit error (MAPE)")]
    rows = [{"class": cls, "samples": str(c["samples"]), "overhead": f"{c['overhead_us']:,.1f}",
             "compute": _g(c["compute_gflops"]), "bandwidth": _g(c["bandwidth_gbs"]),
             "mape": f"{c['mape_percent']:.1f}%"} for cls, c in doc["classes"].items()]
    env = doc["environment"]
    notes = [
        f"device: {env['device_name']} ({env['device']}), {env['threads']} thread(s), {env['dtype']}, batch "
        f"{env['batch']}, torch {env['torch']}",
        f"model: {doc['model']}",
        f"method: {doc['method']}",
        f"the model's own work: {doc['forward_overhead_us']:,.1f} us per call and {doc['layer_overhead_us']:,.2f} us "
        "per layer; ceilings: "
        f"{doc['ceilings']['compute_gflops']:,.1f} GFLOP/s, {doc['ceilings']['bandwidth_gbs']:,.1f} GB/s",
        "an empty compute or bandwidth cell: the fit found no time proportional to FLOPs or to bytes for the class",
    ]
    return Tabular("shufflecalc calibrate", columns, rows, notes=notes)


# --- predict ------------------------------------------------------------------------------------------------------


def profile_summary(profile: Profile) -> dict[str, Any]:
    compute, bandwidth = profile.ceilings()
    return {"source": profile.source, "environment": dict(profile.environment),
            "forward_overhead_us": profile.doc["forward_overhead_us"],
            "layer_overhead_us": profile.doc["layer_overhead_us"], "caches": dict(profile.caches),
            "ceilings": {"compute_gflops": sig(compute / 1e9),
                         "bandwidth_gbs": sig(bandwidth / 1e9)}}


def predict_json(names: Sequence[str], analyses: Sequence[Analysis], predictions: Sequence[Prediction],
                 profile: Profile) -> dict[str, Any]:
    models = []
    for name, a, p in zip(names, analyses, predictions, strict=True):
        models.append({"name": name, "spec": a.name, "config": dict(a.config), "batch": profile.batch,
                       "predicted_ms": sig(p.predicted_ms), "macs": a.macs, "flops": a.flops,
                       "cold_weight": round(p.cold_weight, 4),
                       "by_class": p.by_class(), "layers": [layer.to_dict() for layer in p.layers]})
    return {"conventions": PREDICT_CONVENTIONS, "profile": profile_summary(profile), "models": models}


def predict_table(doc: dict[str, Any], by: str) -> Tabular:
    """Per model (one row each), per class or per layer (rows of every model, the model named first when several)."""
    models = doc["models"]
    several = len(models) > 1
    if by == "model":
        first = models[0]["predicted_ms"]
        columns = [Column("model", "model", justify="left"), Column("macs", "MACs", "count"),
                   Column("predicted", "predicted ms"), Column("ratio", "ratio to first", "ratio"),
                   Column("bound", "most time in", justify="left")]
        rows = []
        for m in models:
            top = next(iter(m["by_class"].items()))
            rows.append({"model": m["name"], "macs": m["macs"], "predicted": ms(m["predicted_ms"]),
                         "ratio": round(m["predicted_ms"] / first, 6) if first else None,
                         "bound": f"{top[0]} ({100 * top[1]['share']:.0f}%, {top[1]['bound']}-bound)"})
    elif by == "class":
        columns = ([Column("model", "model", justify="left")] if several else []) + [
            Column("class", "class", justify="left"), Column("layers", "layers", "count"),
            Column("predicted", "predicted ms"), Column("share", "% of time", "percent"),
            Column("flops", "FLOPs (2 x MACs)", "count"), Column("bound", "bound", justify="left")]
        rows = [{"model": m["name"], "class": cls, "layers": c["layers"], "predicted": ms(c["predicted_ms"]),
                 "share": 100 * c["share"], "flops": c["flops"], "bound": c["bound"]}
                for m in models for cls, c in m["by_class"].items()]
    else:
        columns = ([Column("model", "model", justify="left")] if several else []) + [
            Column("name", "layer", justify="left"), Column("class", "class", justify="left"),
            Column("predicted", "predicted ms"), Column("bound", "bound", justify="left"),
            Column("flops", "FLOPs (2 x MACs)", "count"), Column("bytes", "bytes", "count"),
            Column("intensity", "FLOP/byte")]
        rows = [{"model": m["name"], "name": layer["name"], "class": layer["class"],
                 "predicted": ms(layer["predicted_ms"]), "bound": layer["bound"], "flops": layer["flops"],
                 "bytes": layer["bytes"], "intensity": _intensity(layer["intensity"])}
                for m in models for layer in m["layers"]]
    footer = None
    if by != "model" and not several:
        footer = {"class" if by == "class" else "name": "total",
                  "predicted": ms(models[0]["predicted_ms"])}
    env = doc["profile"]["environment"]
    notes = [f"{m['name']}: {config_text(m['config'])}" for m in models if m["config"]] + [
        f"predicted for {env['device_name']} ({env['device']}), {env['threads']} thread(s), {env['dtype']}, batch "
        f"{env['batch']}, from the profile {doc['profile']['source']} (torch {env['torch']}); nothing was run",
        "predicted: the fastest forward pass, as bench's min ms (the median is higher by the spread of the calls)",
        "per layer: overhead + FLOPs / the class's attained compute + bytes / its attained bandwidth; bound: the "
        "largest of the three. FLOPs = 2 x MACs; bytes = memory access (inputs + outputs + weights) in bytes.",
        f"a model's total adds the model's own work: {doc['profile']['forward_overhead_us']:,.1f} us per call and "
        f"{doc['profile']['layer_overhead_us']:,.2f} us per layer",
    ]
    return Tabular("shufflecalc predict", columns, rows, notes=notes, footer=footer)


def _intensity(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


def predict_csv(doc: dict[str, Any]) -> Tabular:
    """Every layer of every model, with the JSON's values."""
    keys = ("model", "name", "class", "predicted_ms", "bound", "overhead_ms", "compute_ms", "memory_ms", "flops",
            "bytes", "intensity", "attained_gflops")
    rows = [{"model": m["name"], **layer} for m in doc["models"] for layer in m["layers"]]
    return Tabular("shufflecalc predict", [Column(k, k) for k in keys], rows)


__all__ = ["PREDICT_BY", "add_predicted", "calibrate_table", "predict_csv", "predict_json", "predict_table",
           "profile_summary"]


def add_predicted(data: dict[str, Any], table: Tabular, csv: Tabular, predictions: Sequence[Prediction],
                  profile: Profile) -> None:
    """compare --predicted: each model's predicted latency beside its counts (JSON key ``predicted_ms``, a table
    row, a csv column), ratios to the first model, and a note on the profile."""
    first = predictions[0].predicted_ms
    row: dict[str, Any] = {"metric": f"predicted latency, batch {profile.batch} (ms)"}
    for i, (model, p) in enumerate(zip(data["models"], predictions, strict=True)):
        value = sig(p.predicted_ms)
        model["predicted_ms"] = value
        model["ratio_to_first"]["predicted_ms"] = round(p.predicted_ms / first, 6) if first else None
        row[f"m{i}"] = ms(value)
        if i:
            row[f"r{i}"] = round(p.predicted_ms / first, 6) if first else None
        csv.rows[i]["predicted_ms"] = value
    data["profile"] = profile_summary(profile)
    data["conventions"]["predicted_ms"] = PREDICT_CONVENTIONS["predicted_ms"]
    table.rows.append(row)
    csv.columns.append(Column("predicted_ms", f"predicted latency, batch {profile.batch} (ms)"))
    table.notes.append(f"predicted latency: the fastest forward pass (as bench's min ms), from the profile "
                       f"{profile.source} ({profile.describe()}); nothing was run (shufflecalc predict explains it per "
                       "layer)")
