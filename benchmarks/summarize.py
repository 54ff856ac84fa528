"""Print the tables of a results folder written by benchmarks/gpu.sh or benchmarks/cpu.sh, as markdown.

    python benchmarks/summarize.py benchmarks/results/cuda-nvidia-h100-80gb-hbm3

First a headline table (median latency of each model and batch in every mode that was run, side by side, with the
MACs), then every bench and profile result as `shufflecalc bench/profile --format markdown` would print it. Nothing
is measured here: the tables are rebuilt from the saved JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shufflecalc.report.latency import bench_table, environment_note, ms, profile_table
from shufflecalc.report.render import Column, Tabular, human, to_markdown

VARIANTS = (  # (file, memory format, column header)
    ("bench_eager.json", "contiguous", "eager ms"),
    ("bench_channels_last.json", "channels_last", "channels-last ms"),
    ("bench_cuda_graph.json", "contiguous", "CUDA graph ms"),
)


def headline(folder: Path) -> Tabular | None:
    """Model x batch rows; one median column per mode, then images/s and % of peak of the fastest mode."""
    runs = [(json.loads((folder / f).read_text()), fmt, header) for f, fmt, header in VARIANTS if (folder / f).exists()]
    if not runs:
        return None
    first = runs[0][0]
    columns = [Column("model", "model", justify="left"), Column("batch", "batch"), Column("macs", "MACs / image")]
    columns += [Column(header, header) for _, _, header in runs]
    columns.append(Column("ips", "images/s (fastest)"))
    if any(r.get("peak_fraction") is not None for doc, _, _ in runs for r in doc["results"]):
        columns.append(Column("peak", "% of peak (fastest)"))
    rows = []
    for base in (r for r in first["results"] if r["memory_format"] == "contiguous"):
        row: dict[str, Any] = {"model": base["model"], "batch": str(base["batch"]), "macs": human(base["macs"])}
        best = None
        for doc, fmt, header in runs:
            match = next((r for r in doc["results"] if r["model"] == base["model"] and r["batch"] == base["batch"]
                          and r["memory_format"] == fmt), None)
            if match:
                row[header] = ms(match["median_ms"])
                best = match if best is None or match["median_ms"] < best["median_ms"] else best
        if best:
            row["ips"] = f"{best['throughput_ips']:,.0f}"
            frac = best.get("peak_fraction")
            row["peak"] = "" if frac is None else f"{100 * frac:.2f}%"
        rows.append(row)
    notes = [environment_note(first["environment"]),
             "median latency per forward pass of the batch (GPU time on CUDA); MACs per image (analytic)."]
    return Tabular(f"median latency: {first['environment']['device_name']}", columns, rows, notes=notes)


def main(folder: Path) -> None:
    table = headline(folder)
    if table:
        print(to_markdown(table))
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text())
        print(f"### {path.name}\n")
        print(to_markdown(profile_table(doc) if "by_class" in doc else bench_table(doc)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
