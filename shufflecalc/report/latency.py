"""Tables for the latency commands, built from their JSON documents (pure): bench, profile, compare --latency.

Building from the JSON (not from live objects) lets a saved result be rendered again, e.g. the headline tables in
benchmarks/ from benchmarks/results/*.json. Table and markdown cells are rounded for reading (4 significant digits
for times); csv carries the JSON's values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from shufflecalc.analysis.cost import Analysis, config_text
from shufflecalc.report.cost import compare_by_metric, compare_by_model, compare_json
from shufflecalc.report.render import Column, Tabular


def ms(x: float | None) -> str:
    """A time in milliseconds to 4 significant digits, never in exponent form: 57.68, 0.01235, 1235."""
    if x is None:
        return ""
    if x <= 0:
        return "0"
    return f"{x:.{max(0, 3 - math.floor(math.log10(x)))}f}"


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _ratio_text(first: float, value: float, fewer: str, more: str) -> str:
    """'4.14x fewer MACs' style: the larger of value/first and first/value, worded by direction."""
    if value <= 0 or first <= 0:
        return ""
    return f"{first / value:.2f}x {fewer}" if value <= first else f"{value / first:.2f}x {more}"


def environment_note(env: dict[str, Any]) -> str:
    device = env["device_name"] + (f" ({env['device']})" if env["device"] == "cuda" else " (cpu)")
    cuda = f", CUDA {env['cuda']}, cuDNN {env['cudnn']}" if env["device"] == "cuda" else ""
    load = "" if env.get("load_average_1min") is None else f", load average {env['load_average_1min']} at start"
    memory = ""
    if env["device"] == "cpu" and env.get("allocator"):
        from shufflecalc.latency.allocator import keeps_memory

        memory = ", allocator steady (freed memory kept)" if keeps_memory(env["allocator"]) else ", allocator system"
    return (f"environment: {device}, torch {env['torch']}{cuda}, python {env['python']}, {env['threads']} threads, "
            f"{env['dtype']}, {'/'.join(env['memory_formats'])}, mode {env['mode']}{load}{memory}")


# --- bench ----------------------------------------------------------------------------------------------------------


def bench_table(doc: dict[str, Any]) -> Tabular:
    """One row per model, batch and memory format (terminal and markdown)."""
    env = doc["environment"]
    cuda = env["device"] == "cuda"
    columns = [Column("model", "model", justify="left"), Column("batch", "batch")]
    if len(env["memory_formats"]) > 1:
        columns.append(Column("memory_format", "format", justify="left"))
    columns += [Column("mode", "mode", justify="left"), Column("median", "median ms"), Column("p90", "p90 ms"),
                Column("p99", "p99 ms"), Column("min", "min ms"), Column("mean", "mean ms"),
                Column("iqr", "IQR/median"), Column("n", "samples"), Column("ips", "images/s"),
                Column("gflops", "GFLOP/s")]
    if any(r.get("peak_fraction") is not None for r in doc["results"]):
        columns.append(Column("peak", "% of peak"))
    if cuda:
        columns += [Column("wall", "wall ms"), Column("launch", "launch ms")]
    rows = []
    for r in doc["results"]:
        rows.append({
            "model": r["model"], "batch": str(r["batch"]), "memory_format": r["memory_format"], "mode": r["mode"],
            "median": ms(r["median_ms"]), "p90": ms(r["p90_ms"]), "p99": ms(r["p99_ms"]), "min": ms(r["min_ms"]),
            "mean": ms(r["mean_ms"]), "iqr": _pct(r["iqr_over_median"]), "n": str(r["samples"]),
            "ips": f"{r['throughput_ips']:,.1f}", "gflops": f"{r['achieved_gflops']:,.1f}",
            "peak": _pct(r.get("peak_fraction")), "wall": ms(r.get("wall_median_ms")),
            "launch": ms(r.get("launch_median_ms")),
        })
    return Tabular("shufflecalc bench", columns, rows, notes=bench_notes(doc))


def bench_notes(doc: dict[str, Any]) -> list[str]:
    env = doc["environment"]
    notes = [environment_note(env)]
    if env["device"] == "cuda":
        notes.append("times: ms per forward pass of the batch, GPU time between CUDA events; wall: the call ended by "
                     "torch.cuda.synchronize(); launch: until the call returned (CPU issuing kernels).")
    else:
        notes.append("times: ms per forward pass of the batch, time.perf_counter_ns around each call.")
    peak = next((r for r in doc["results"] if r.get("peak_tflops")), None)
    if peak:
        notes.append(f"% of peak: achieved FLOP/s over a peak of {peak['peak_tflops']:g} TFLOP/s ({peak['peak']}).")
    notes.append("percentiles: linear interpolation (numpy's default); IQR/median = (p75 - p25) / median; "
                 "images/s = batch / median; GFLOP/s = FLOPs (2 × MACs, analytic) × batch / median.")
    return notes


BENCH_CSV = ("model", "config", "batch", "device", "mode", "memory_format", "dtype", "macs", "flops", "samples",
             "median_ms", "p90_ms", "p99_ms", "min_ms", "mean_ms", "p25_ms", "p75_ms", "max_ms", "iqr_over_median",
             "throughput_ips", "achieved_gflops", "peak_tflops", "peak_fraction", "wall_median_ms",
             "launch_median_ms", "contiguous_median_ms")


def bench_csv(doc: dict[str, Any]) -> Tabular:
    """One row per result with the JSON's values (csv)."""
    columns = [Column(k, k, "count" if k in ("macs", "flops", "samples", "batch") else "text") for k in BENCH_CSV]
    rows = [{**r, "config": config_text(r["config"])} for r in doc["results"]]
    return Tabular("shufflecalc bench", columns, rows)


# --- profile --------------------------------------------------------------------------------------------------------

PROFILE_BY = ("class", "layer")


def profile_table(doc: dict[str, Any], by: str = "class") -> Tabular:
    """Time against MACs and memory access, per operator class or per layer."""
    first = [Column("class", "operator class", justify="left"), Column("layers", "layers", "count")]
    if by == "layer":
        first = [Column("name", "layer", justify="left"), Column("class", "operator class", justify="left")]
    columns = [*first, Column("time", "time ms"), Column("time_share", "% of time", "percent"),
               Column("macs_share", "% of MACs", "percent"),
               Column("memory_access_share", "% of memory access", "percent")]
    items = doc["by_class"] if by == "class" else doc["layers"]
    rows = [{**item, "time": ms(item["time_ms"]), "time_share": 100 * item["time_share"],
             "macs_share": 100 * item["macs_share"], "memory_access_share": 100 * item["memory_access_share"]}
            for item in items]
    footer = {"class" if by == "class" else "name": "total", "layers": len(doc["layers"]),
              "time": ms(doc["attributed_ms"]), "time_share": 100.0, "macs_share": 100.0, "memory_access_share": 100.0}
    config = config_text(doc["config"])
    title = f"shufflecalc profile: {doc['model']} {config} batch {doc['batch']}"
    notes = [
        environment_note(doc["environment"]),
        f"time: {doc['time_source']}, ms per forward pass (mean of {doc['iterations']} profiled passes; the profiler "
        f"adds overhead, shares matter more than totals). The profiled forward took {ms(doc['forward_ms'])} ms; "
        f"the layers account for {_pct(doc['coverage'])} of it.",
        "% of MACs: conv+linear multiply-accumulates; % of memory access: inputs + outputs + weights, in elements.",
    ]
    return Tabular(title, columns, rows, notes=notes, footer=footer)


def profile_csv(doc: dict[str, Any], by: str = "class") -> Tabular:
    keys = (("class", "layers") if by == "class" else ("name", "op", "class")) + (
        "time_ms", "time_share", "macs", "macs_share", "memory_access", "memory_access_share")
    columns = [Column(k, k, "count" if k in ("layers", "macs", "memory_access") else "text") for k in keys]
    return Tabular("shufflecalc profile", columns, doc["by_class"] if by == "class" else doc["layers"])


# --- compare --latency ----------------------------------------------------------------------------------------------


def _latency(doc: dict[str, Any], index: int, batch: int) -> dict[str, Any]:
    """The measured row of the index-th model at one batch, in the memory format that was asked for."""
    fmt = doc["environment"]["memory_formats"][-1]
    return next(r for r in doc["results"]
                if r["model_index"] == index and r["batch"] == batch and r["memory_format"] == fmt)


def measured(doc: dict[str, Any], index: int, batch: int) -> dict[str, Any]:
    """The bench result of the index-th model at one batch, in the memory format that was asked for."""
    return _latency(doc, index, batch)


def versus(name: str, first_name: str, batch: int, macs: int, first_macs: int, median_ms: float,
           first_median_ms: float) -> str:
    """compare's line: 'shufflenet vs mobilenet, batch 1: 4.14x fewer MACs, 1.25x faster (median latency)'."""
    macs_text = _ratio_text(first_macs, macs, "fewer MACs", "more MACs")
    speed = _ratio_text(first_median_ms, median_ms, "faster", "slower")
    return f"{name} vs {first_name}, batch {batch}: {macs_text}, {speed} (median latency)"


def first_batch_medians(doc: dict[str, Any], models: int) -> list[float]:
    """Each model's median latency (ms) at the first batch size, for the MACs-vs-latency plot."""
    batch = doc["options"]["batches"][0]
    return [_latency(doc, i, batch)["median_ms"] for i in range(models)]


def compare_latency(analyses: Sequence[Analysis], names: Sequence[str],
                    doc: dict[str, Any], conventions: Sequence[str] = ()) -> tuple[dict[str, Any], Tabular, Tabular]:
    """compare's JSON, table and csv with median latency and throughput per batch beside the analytic counts (and the
    `conventions` asked for), and each model's MACs and latency relative to the first model."""
    batches = doc["options"]["batches"]
    first = analyses[0]
    data = compare_json(analyses, conventions)
    for i, model in enumerate(data["models"]):
        model["latency"] = [r for r in doc["results"] if r["model_index"] == i]
        model["latency_ratio_to_first"] = {
            str(b): round(_latency(doc, i, b)["median_ms"] / _latency(doc, 0, b)["median_ms"], 6) for b in batches}
    data["environment"] = doc["environment"]
    data["latency_conventions"] = doc["conventions"]
    data["warnings"] = doc["warnings"]

    table = compare_by_metric(analyses, conventions)
    lines = []
    for b in batches:
        lat = [_latency(doc, i, b) for i in range(len(names))]
        lat_row: dict[str, Any] = {"metric": f"median latency, batch {b} (ms)"}
        ips_row: dict[str, Any] = {"metric": f"throughput, batch {b} (images/s)"}
        for i, r in enumerate(lat):
            lat_row[f"m{i}"], ips_row[f"m{i}"] = ms(r["median_ms"]), f"{r['throughput_ips']:,.1f}"
            if i:
                lat_row[f"r{i}"] = round(r["median_ms"] / lat[0]["median_ms"], 6)
                ips_row[f"r{i}"] = round(r["throughput_ips"] / lat[0]["throughput_ips"], 6)
                lines.append(versus(names[i], names[0], b, analyses[i].macs, first.macs, r["median_ms"],
                                    lat[0]["median_ms"]))
        table.rows += [lat_row, ips_row]
    table.notes = lines + table.notes + bench_notes(doc)

    csv = compare_by_model(analyses, conventions)
    for b in batches:
        csv.columns += [Column(f"median_ms_batch{b}", "", "text"), Column(f"throughput_ips_batch{b}", "", "text"),
                        Column(f"median_ms_ratio_to_first_batch{b}", "", "text")]
        for i, row in enumerate(csv.rows):
            r = _latency(doc, i, b)
            row[f"median_ms_batch{b}"] = r["median_ms"]
            row[f"throughput_ips_batch{b}"] = r["throughput_ips"]
            row[f"median_ms_ratio_to_first_batch{b}"] = data["models"][i]["latency_ratio_to_first"][str(b)]
    return data, table, csv
