"""Latency tables from JSON documents (no timing here): formatting, CUDA columns, compare's ratio lines, and the
results in docs/latency.md being exactly the committed JSON rendered."""

from __future__ import annotations

import json

import pytest

from shufflecalc.analysis.cost import analyze
from shufflecalc.report.latency import bench_table, compare_latency, ms, profile_table
from shufflecalc.report.render import to_markdown, to_text

from ..conftest import ROOT

ENV = {"device": "cuda", "device_name": "NVIDIA H100 80GB HBM3", "torch": "2.13.0", "cuda": "12.8", "cudnn": 91000,
       "python": "3.11.7", "threads": 16, "dtype": "float32", "memory_formats": ["contiguous"], "mode": "cuda-graph",
       "load_average_1min": 0.1}


def _row(i: int, model: str, batch: int, median: float) -> dict:
    a = analyze(model, g=3) if model == "shufflenet" else analyze(model)
    return {"model": model, "model_index": i, "config": dict(a.config), "batch": batch, "device": "cuda",
            "mode": "cuda-graph", "memory_format": "contiguous", "dtype": "float32", "macs": a.macs, "flops": a.flops,
            "samples": 1000, "median_ms": median, "p90_ms": median * 1.1, "p99_ms": median * 1.2,
            "min_ms": median * 0.9,
            "mean_ms": median * 1.05, "p25_ms": median, "p75_ms": median, "max_ms": median * 2, "iqr_over_median": 0.02,
            "throughput_ips": batch / (median / 1000), "achieved_gflops": a.flops * batch / median / 1e6,
            "wall_median_ms": median * 1.01, "launch_median_ms": 0.02, "peak_tflops": 494.7,
            "peak": "H100 SXM tf32 tensor",
            "peak_fraction": a.flops * batch / (median / 1000) / 494.7e12, "warnings": []}


DOC = {"environment": ENV, "options": {"batches": [1, 8]}, "conventions": {}, "warnings": [],
       "results": [_row(0, "mobilenet", 1, 0.5), _row(0, "mobilenet", 8, 1.0),
                   _row(1, "shufflenet", 1, 0.4), _row(1, "shufflenet", 8, 0.5)]}


def test_ms_keeps_four_significant_digits_without_exponents() -> None:
    assert [ms(x) for x in (57.684, 0.0123456, 1234.5, 12345.6, 1.0, 0.0, None)] == [
        "57.68", "0.01235", "1234", "12346", "1.000", "0", ""]


def test_cuda_bench_table() -> None:
    text = to_text(bench_table(DOC))
    for header in ("% of peak", "wall ms", "launch ms", "median ms"):
        assert header in text
    row = next(line for line in text.splitlines() if line.startswith("│ mobilenet  │     8"))
    # 2 x 568,740,352 x 8 FLOPs in 1 ms = 9,099.8 GFLOP/s = 1.84% of 494.7 TFLOP/s
    assert "9,099.8" in row and "1.8%" in row and "8,000.0" in row and "1.010" in row
    assert "% of peak: achieved FLOP/s over a peak of 494.7 TFLOP/s (H100 SXM tf32 tensor)." in text
    assert "NVIDIA H100 80GB HBM3 (cuda), torch 2.13.0, CUDA 12.8" in text


def test_compare_latency_lines_and_ratios() -> None:
    analyses = [analyze("mobilenet"), analyze("shufflenet", g=3)]
    data, table, csv = compare_latency(analyses, ["mobilenet", "shufflenet"], DOC)
    assert data["models"][1]["latency_ratio_to_first"] == {"1": 0.8, "8": 0.5}
    text = to_markdown(table)
    # 568,740,352 / 137,457,712 MACs = 4.14; 0.5 / 0.4 ms = 1.25; 1.0 / 0.5 ms = 2.00
    assert "shufflenet vs mobilenet, batch 1: 4.14x fewer MACs, 1.25x faster (median latency)" in text
    assert "shufflenet vs mobilenet, batch 8: 4.14x fewer MACs, 2.00x faster (median latency)" in text
    assert "| median latency, batch 8 (ms) | 1.000 | 0.5000 | 0.500× |" in text
    assert [r["median_ms_batch8"] for r in csv.rows] == [1.0, 0.5]


RESULTS = ROOT / "benchmarks" / "results" / "cpu-intel-xeon-processor"
README = (ROOT / "docs" / "latency.md").read_text()


@pytest.mark.parametrize("name, render", [
    ("bench_eager.json", bench_table),
    ("profile_shufflenet_batch1.json", profile_table),
])
def test_readme_results_are_the_committed_json(name: str, render) -> None:
    table = to_text(render(json.loads((RESULTS / name).read_text())))
    assert f"```\n{table}```" in README


def test_committed_results_match_the_analytic_counts() -> None:
    doc = json.loads((RESULTS / "bench_eager.json").read_text())
    macs = {"mobilenet": analyze("mobilenet").macs, "shufflenet": analyze("shufflenet", g=3).macs}
    assert {(r["model"], r["batch"]) for r in doc["results"]} == {(m, b) for m in macs for b in (1, 8)}
    for r in doc["results"]:
        assert r["macs"] == macs[r["model"]]
        assert r["achieved_gflops"] == pytest.approx(2 * r["macs"] * r["batch"] / r["median_ms"] / 1e6, rel=1e-5)
