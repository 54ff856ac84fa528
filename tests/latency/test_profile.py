"""Profile attribution: per-layer profiler ranges joined with the graph; shares add up; times cover the forward pass."""

from __future__ import annotations

import pytest

import shufflecalc
from shufflecalc.analysis.cost import analyze
from shufflecalc.errors import ShufflecalcError
from shufflecalc.latency.bench import BenchOptions
from shufflecalc.latency.profile import attribute, profile_model

torch = pytest.importorskip("torch")

A = analyze("shufflenet", g=3, width=0.5, resolution=64)
ENV = {"device": "cpu"}


def test_attribute_by_hand() -> None:
    # every layer 1 ms except the 1x1 group convolutions, 3 ms each
    times = {layer.name: 3.0 if layer.op_class == "grouped 1x1 conv" else 1.0 for layer in A.layers}
    doc = attribute("shufflenet", A, times, 200.0, ENV, batch=2, iterations=5)
    n_layers = len(A.layers)
    n_gconv = sum(layer.op_class == "grouped 1x1 conv" for layer in A.layers)
    total = n_layers + 2 * n_gconv
    assert doc["attributed_ms"] == total and doc["coverage"] == round(total / 200.0, 6)
    first = doc["by_class"][0]
    assert first["class"] == "grouped 1x1 conv" and first["layers"] == n_gconv
    assert first["time_ms"] == 3.0 * n_gconv and first["time_share"] == round(3 * n_gconv / total, 6)
    breakdown = A.breakdown("class")
    for row in doc["by_class"]:
        t = breakdown[row["class"]]
        assert row["macs"] == t.macs and row["macs_share"] == round(t.macs / A.macs, 6)
        assert row["memory_access"] == t.memory_access
        assert row["memory_access_share"] == round(t.memory_access / A.memory_access, 6)
    assert sum(r["layers"] for r in doc["by_class"]) == n_layers
    assert sum(r["macs"] for r in doc["by_class"]) == A.macs
    assert [row["name"] for row in doc["layers"]] == [layer.name for layer in A.layers]


def test_attribute_needs_every_layer() -> None:
    times = {layer.name: 1.0 for layer in A.layers[1:]}
    with pytest.raises(ShufflecalcError, match=A.layers[0].name):
        attribute("shufflenet", A, times, 10.0, ENV, 1, 1)


def test_annotation_is_off_by_default_and_changes_nothing() -> None:
    model = shufflecalc.build_model(A.graph)
    x = torch.randn(2, *A.graph.input)
    assert model.annotate is False
    with torch.inference_mode():
        plain = model(x)
        model.annotate = True
        annotated = model(x)
    assert torch.equal(plain, annotated)


def test_cpu_profile_adds_up() -> None:
    doc = profile_model("shufflenet", A, BenchOptions(device="cpu", batches=(2,), threads=1), iterations=3)
    assert doc["time_source"].startswith("CPU time") and doc["batch"] == 2 and doc["iterations"] == 3
    assert {row["name"] for row in doc["layers"]} == {layer.name for layer in A.layers}
    assert all(row["time_ms"] > 0 for row in doc["layers"])
    assert sum(c["time_ms"] for c in doc["by_class"]) == pytest.approx(doc["attributed_ms"], rel=1e-6)
    assert sum(c["time_share"] for c in doc["by_class"]) == pytest.approx(1.0, abs=1e-5)
    # the layer ranges lie inside the forward range and cover most of it (the rest: Python between layers)
    assert 0.5 <= doc["coverage"] <= 1.0
    assert doc["attributed_ms"] <= doc["forward_ms"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_profile_attributes_kernel_time() -> None:
    doc = profile_model("shufflenet", A, BenchOptions(device="cuda", batches=(8,)), iterations=3)
    assert doc["time_source"] == "CUDA kernel time"
    assert all(row["time_ms"] > 0 for row in doc["layers"] if row["class"] != "other")
    # every kernel runs inside some layer's range: layers account for (nearly) all the forward's kernel time
    assert doc["coverage"] == pytest.approx(1.0, abs=0.02)


def test_the_profilers_own_log_lines_stay_off_stderr(tmp_path) -> None:
    """kineto writes 'USDT:... profiler_start' straight to file descriptor 2; `profile -f json` keeps stderr clean,
    and anything else written to descriptor 2 meanwhile still gets through."""
    import os
    import subprocess
    import sys

    from shufflecalc.latency.profile import _PROFILER_LOG, _without_profiler_log

    r = subprocess.run([sys.executable, "-m", "shufflecalc", "profile", "mobilenet", "--resolution", "32", "--width",
                        "0.25", "-f", "json", "--iterations", "1"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert _PROFILER_LOG.match("USDT:2026-12-01 12:41:23 28673:28673 SyncActivityProfilerHandler.cpp:52] x")
    assert not _PROFILER_LOG.match("shufflecalc: error: x")
    code = ("import os, sys\nfrom shufflecalc.latency.profile import _without_profiler_log\n"
            "with _without_profiler_log():\n"
            "    os.write(2, b'USDT:2026-12-01 12:41:23 1:1 Handler.cpp:52] profiler_start\\n')\n"
            "    os.write(2, b'a real warning\\n')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert r.stderr == "a real warning\n"
    assert _without_profiler_log is not None
