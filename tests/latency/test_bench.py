"""The bench harness: options, the result document's derived figures, and agreement with torch.utils.benchmark."""

from __future__ import annotations

import statistics

import pytest

import shufflecalc
from shufflecalc.analysis.cost import analyze
from shufflecalc.errors import ShufflecalcError
from shufflecalc.latency.allocator import keeps_memory
from shufflecalc.latency.bench import BenchOptions, bench, parse_batch, parse_batches

torch = pytest.importorskip("torch")

FAST = dict(device="cpu", threads=1, min_time=0.05, min_samples=5, warmup_max=0.2)
TINY = [analyze("mobilenet", width=0.25, resolution=32), analyze("shufflenet", g=2, width=0.25, resolution=32)]
CUDA = torch.cuda.is_available()


@pytest.mark.parametrize("options, message", [
    (dict(dtype="float64"), "--dtype 'float64'"),
    (dict(device="tpu"), "--device 'tpu'"),
    (dict(batches=(0,)), "--batch"),
    (dict(min_time=0), "--min-time 0"),
    (dict(threads=0), "--threads 0"),
    (dict(peak_tflops=-1.0), "--peak-tflops"),
    (dict(min_time=float("nan")), "--min-time nan"),
    (dict(min_time=float("inf")), "--min-time inf"),
    (dict(peak_tflops=float("nan")), "--peak-tflops nan"),
    (dict(peak_tflops=float("inf")), "--peak-tflops inf"),
    (dict(device="cpu", cuda_graph=True), "--cuda-graph needs --device cuda"),
])
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ShufflecalcError, match=message.replace("(", r"\(")):
        BenchOptions(**options).validated()


@pytest.mark.skipif(CUDA, reason="CUDA is available here")
def test_cuda_without_cuda_is_an_error() -> None:
    with pytest.raises(ShufflecalcError, match="--device cuda: CUDA is not available"):
        BenchOptions(device="cuda").validated()
    assert BenchOptions(device="auto").validated().device == "cpu"


def test_parse_batches() -> None:
    assert parse_batches("1,8,32") == (1, 8, 32) and parse_batches("4") == (4,)
    assert parse_batches("8,1,8") == (8, 1)  # a repeated size once, as sweep's lists
    for bad in ("", "1,x", "0", "-2", "1.5"):
        with pytest.raises(ShufflecalcError, match="--batch"):
            parse_batches(bad)
    for bad in ("1,,2", "1,", ",8"):  # an empty item is an error, as in sweep --g 1,,2
        with pytest.raises(ShufflecalcError, match="empty value in the comma list"):
            parse_batches(bad)
    assert parse_batch("8") == 8
    with pytest.raises(ShufflecalcError, match="--batch '1,8': profile takes one batch size"):
        parse_batch("1,8")


def test_result_document() -> None:
    before = torch.get_num_threads()
    doc = bench(TINY, BenchOptions(batches=(1, 3), **FAST))
    assert torch.get_num_threads() == before  # --threads is restored afterwards
    env = doc["environment"]
    assert env["torch"] == torch.__version__ and env["device"] == "cpu" and env["threads"] == 1
    assert env["dtype"] == "float32" and env["memory_formats"] == ["contiguous"] and env["mode"] == "eager"
    assert doc["options"]["allocator"] == "steady" and env["allocator"]  # the state the allocator was in
    assert [(r["model"], r["batch"]) for r in doc["results"]] == [
        ("mobilenet", 1), ("mobilenet", 3), ("shufflenet", 1), ("shufflenet", 3)]
    for r in doc["results"]:
        a = TINY[r["model_index"]]
        assert r["macs"] == a.macs and r["flops"] == 2 * a.macs and r["config"] == dict(a.config)
        assert r["samples"] >= 5
        assert r["min_ms"] <= r["p25_ms"] <= r["median_ms"] <= r["p75_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert r["min_ms"] <= r["mean_ms"] <= r["max_ms"]
        seconds = r["median_ms"] / 1000
        assert r["throughput_ips"] == pytest.approx(r["batch"] / seconds, rel=1e-5)
        assert r["achieved_gflops"] == pytest.approx(2 * a.macs * r["batch"] / seconds / 1e9, rel=1e-3, abs=1e-3)
        assert r["iqr_over_median"] == pytest.approx((r["p75_ms"] - r["p25_ms"]) / r["median_ms"], abs=1e-5)
        assert "peak_fraction" not in r and "wall_median_ms" not in r  # CUDA only
        assert r["warmup"]["iterations"] > 0
        if keeps_memory(env["allocator"]):  # glibc: freed activations are reused, no call faults a page in
            assert r["page_faults_per_call"] == 0
    per_row = [f"{r['model']} batch {r['batch']} contiguous: {w}" for r in doc["results"] for w in r["warnings"]]
    assert doc["warnings"][len(doc["warnings"]) - len(per_row):] == per_row


def test_channels_last_times_the_contiguous_baseline_too() -> None:
    doc = bench(TINY[:1], BenchOptions(batches=(2,), channels_last=True, dtype="bfloat16", **FAST))
    base, cl = doc["results"]
    assert (base["memory_format"], cl["memory_format"]) == ("contiguous", "channels_last")
    assert base["dtype"] == cl["dtype"] == "bfloat16"
    assert cl["contiguous_median_ms"] == base["median_ms"]
    assert cl["speedup_over_contiguous"] == pytest.approx(base["median_ms"] / cl["median_ms"], rel=1e-3)
    slower = any("channels-last is slower" in w for w in cl["warnings"])
    assert slower == (cl["median_ms"] > 1.05 * base["median_ms"])


def test_compiled_model_is_timed() -> None:
    compiled = []

    def backend(gm, example_inputs):  # a torch.compile backend that runs the graph as is
        compiled.append(tuple(example_inputs[-1].shape) if example_inputs else ())
        return gm.forward

    doc = bench(TINY, BenchOptions(compile=True, compile_backend=backend, batches=(1, 2), **FAST))
    assert doc["environment"]["mode"] == "compiled" and doc["options"]["compile"] is True
    assert all(r["mode"] == "compiled" and r["median_ms"] > 0 for r in doc["results"])
    assert len(compiled) == 4  # every model and batch ran compiled (none fell back to eager)


def test_bench_median_agrees_with_torch_utils_benchmark() -> None:
    """bench's median against torch.utils.benchmark.Timer.blocked_autorange on the same small model, one thread.

    The machine running the tests may be shared with other work, whose load comes in bursts lasting longer than a
    measurement. So the two are measured in 15 short back-to-back pairs and the median of the pair ratios must be
    within 15% of 1; a systematic bias of the harness would show in every pair. One second attempt is allowed, for a
    burst of load that spans several pairs. No absolute time is asserted.
    """
    from torch.utils.benchmark import Timer

    a = analyze("shufflenet", g=3, width=0.5, resolution=96)
    model = shufflecalc.build_model(a.graph)
    x = torch.randn(1, *a.graph.input)
    options = BenchOptions(device="cpu", threads=1, min_time=0.1, warmup_max=0.3)
    ratios: list[float] = []
    for _attempt in range(2):
        ratios = []
        for _ in range(15):
            ours = bench([a], options)["results"][0]["median_ms"]
            with torch.inference_mode():
                timer = Timer("model(x)", globals={"model": model, "x": x}, num_threads=1)
                theirs = timer.blocked_autorange(min_run_time=0.1).median * 1000
            ratios.append(ours / theirs)
        if 0.85 <= statistics.median(ratios) <= 1.15:
            break
    assert 0.85 <= statistics.median(ratios) <= 1.15, ratios


# --- CUDA (runs only where a GPU is present) ------------------------------------------------------------------------


@pytest.mark.skipif(not CUDA, reason="no CUDA device")
@pytest.mark.parametrize("cuda_graph, channels_last", [(False, False), (True, False), (False, True)])
def test_cuda_bench(cuda_graph: bool, channels_last: bool) -> None:
    doc = bench(TINY, BenchOptions(device="cuda", batches=(1, 8), cuda_graph=cuda_graph, channels_last=channels_last,
                                   min_time=0.1, warmup_max=1.0))
    env = doc["environment"]
    assert env["device"] == "cuda" and env["device_name"] == torch.cuda.get_device_name()
    assert env["cuda"] == torch.version.cuda and env["mode"] == ("cuda-graph" if cuda_graph else "eager")
    for r in doc["results"]:
        assert r["median_ms"] > 0 and r["wall_median_ms"] > 0
        assert r["median_ms"] <= 1.05 * r["wall_median_ms"]  # the GPU span lies inside the synchronized wall span
        assert r["gpu_over_wall"] == pytest.approx(r["median_ms"] / r["wall_median_ms"], rel=1e-3)
        if r["peak_tflops"]:
            achieved = 2 * r["macs"] * r["batch"] / (r["median_ms"] / 1000)
            assert r["peak_fraction"] == pytest.approx(achieved / (r["peak_tflops"] * 1e12), rel=1e-3)
    if cuda_graph:
        assert all(r["launch_median_ms"] < 0.5 * r["wall_median_ms"] for r in doc["results"] if r["batch"] == 1)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_peak_override(device: str) -> None:
    if device == "cuda" and not CUDA:
        pytest.skip("no CUDA device")
    doc = bench(TINY[:1], BenchOptions(device=device, peak_tflops=100.0, min_time=0.05, warmup_max=0.5))
    r = doc["results"][0]
    assert r["peak_tflops"] == 100.0 and r["peak"] == "--peak-tflops"
    assert r["peak_fraction"] == pytest.approx(r["achieved_gflops"] / 1e5, rel=1e-3)
