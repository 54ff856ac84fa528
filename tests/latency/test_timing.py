"""Timing statistics and warm-up on synthetic samples, checked exactly against the standard library; the warnings'
thresholds; the CUDA timers where a GPU is present."""

from __future__ import annotations

import random
import statistics

import pytest

from shufflecalc.latency.timing import (
    Stats,
    Warmup,
    channels_last_warning,
    collect,
    cpu_granularity_ms,
    launch_bound_warning,
    load_warning,
    noise_warning,
    quantile,
    timer_warning,
    warm_up,
    warmup_warning,
)


def _sets() -> list[list[float]]:
    rng = random.Random(7)
    sets = [[5.0, 1.0, 3.0, 2.0, 4.0], [0.1, 0.7, 0.2, 0.9], [1.25, 1.5], [3.3, 3.3, 3.3]]
    sets += [[rng.lognormvariate(0, 0.3) for _ in range(n)] for n in (2, 3, 10, 11, 99, 100, 101, 1000, 1237)]
    return sets


@pytest.mark.parametrize("samples", _sets(), ids=lambda s: f"n={len(s)}")
def test_stats_equal_statistics_quantiles_inclusive(samples: list[float]) -> None:
    s = Stats.of(samples)
    centiles = statistics.quantiles(samples, n=100, method="inclusive")
    quartiles = statistics.quantiles(samples, n=4, method="inclusive")
    assert s.n == len(samples)
    assert s.p90 == centiles[89] and s.p99 == centiles[98]
    assert (s.p25, s.median, s.p75) == tuple(quartiles)
    assert s.median == statistics.median(samples)
    assert s.min == min(samples) and s.max == max(samples)
    assert s.mean == pytest.approx(statistics.fmean(samples), rel=1e-15)
    assert s.iqr_over_median == (quartiles[2] - quartiles[0]) / quartiles[1]


@pytest.mark.parametrize("samples", _sets()[4:], ids=lambda s: f"n={len(s)}")
def test_stats_agree_with_numpy_linear_percentiles(samples: list[float]) -> None:
    np = pytest.importorskip("numpy")
    s = Stats.of(samples)
    expected = np.percentile(samples, [25, 50, 75, 90, 99], method="linear")
    assert [s.p25, s.median, s.p75, s.p90, s.p99] == pytest.approx(list(expected), rel=1e-12)


def test_quantile_by_hand() -> None:
    # 10 sorted samples 1..10: p90 sits at rank 0.9 * 9 = 8.1 -> 9 + 0.1 * (10 - 9) = 9.1
    x = [float(i) for i in range(1, 11)]
    assert quantile(x, 90, 100) == pytest.approx(9.1)
    assert quantile(x, 1, 2) == 5.5
    assert quantile(x, 1, 4) == 3.25 and quantile(x, 3, 4) == 7.75
    assert quantile([4.0], 99, 100) == 4.0
    s = Stats.of([2.0])
    assert (s.n, s.median, s.p99, s.iqr_over_median) == (1, 2.0, 2.0, 0.0)
    with pytest.raises(ValueError):
        Stats.of([])


def test_stats_json_keys() -> None:
    d = Stats.of([1.0, 2.0, 3.0, 4.0]).to_dict()
    assert list(d) == ["samples", "median_ms", "p90_ms", "p99_ms", "min_ms", "mean_ms", "p25_ms", "p75_ms", "max_ms",
                       "iqr_over_median"]
    assert d["median_ms"] == 2.5 and d["iqr_over_median"] == round((3.25 - 1.75) / 2.5, 6)


# --- warm-up and collection, on a fake clock that advances by each sample --------------------------------------------


class FakeRun:
    """A step function on a simulated clock: each call returns the next sample (ms) and advances time by it."""

    def __init__(self, samples) -> None:
        self.samples = iter(samples)
        self.now = 0.0
        self.calls = 0

    def clock(self) -> float:
        return self.now

    def step(self) -> float:
        ms = next(self.samples)
        self.now += ms / 1000
        self.calls += 1
        return ms


def _forever(f):
    i = 0
    while True:
        yield f(i)
        i += 1


def test_warm_up_stops_when_window_medians_settle() -> None:
    # calls get faster by 1 ms each (caches warming) until they settle at 10 ms from the 40th call on
    run = FakeRun(_forever(lambda i: max(10.0, 50.0 - i)))
    w = warm_up(run.step, min_seconds=0.1, max_seconds=10, window_seconds=0.05, clock=run.clock)
    assert w.steady and w.last_change is not None and w.last_change <= 0.05
    assert w.iterations == run.calls and w.iterations > 40
    assert w.seconds == pytest.approx(run.now)
    assert warmup_warning(w) is None


def test_warm_up_hits_the_cap_when_timings_keep_drifting() -> None:
    run = FakeRun(_forever(lambda i: 10.0 * 1.02 ** i))  # every window ~25% slower than the last
    w = warm_up(run.step, min_seconds=0.05, max_seconds=2.0, window_seconds=0.05, clock=run.clock)
    assert not w.steady
    assert 2.0 <= w.seconds < 2.0 + 0.2
    assert w.last_change is not None and w.last_change > 0.05
    message = warmup_warning(w)
    assert message is not None and "cap of 2.0 s" in message


def test_warm_up_needs_two_windows_of_minimum_size() -> None:
    run = FakeRun(_forever(lambda i: 1.0))
    w = warm_up(run.step, min_seconds=0.0, max_seconds=10, window_seconds=0.0, window_samples=5, clock=run.clock)
    assert w.steady and w.windows == 2 and w.iterations == 10


def test_collect_takes_min_time_and_min_samples() -> None:
    run = FakeRun(_forever(lambda i: 125.0))
    assert len(collect(run.step, min_seconds=1.0, min_samples=3, clock=run.clock)) == 8  # time decides
    run = FakeRun(_forever(lambda i: 1000.0))
    assert len(collect(run.step, min_seconds=1.0, min_samples=4, clock=run.clock)) == 4  # samples decide
    run = FakeRun(_forever(lambda i: 0.001))
    assert len(collect(run.step, min_seconds=1.0, min_samples=4, max_samples=50, clock=run.clock)) == 50


# --- warnings -------------------------------------------------------------------------------------------------------


def test_noise_warning_threshold_is_ten_percent() -> None:
    # quartiles of 1..5 are 2 and 4: IQR/median = 2/3
    assert "66.7%" in noise_warning(Stats.of([1.0, 2.0, 3.0, 4.0, 5.0]))
    # 9.5% spread -> no warning; 10% -> warning
    # three samples: p25 = (x0 + x1) / 2, p75 = (x1 + x2) / 2
    assert noise_warning(Stats.of([9.05, 10.0, 10.95])) is None  # (10.475 - 9.525) / 10 = 0.095
    assert noise_warning(Stats.of([9.0, 10.0, 11.0])) is not None  # (10.5 - 9.5) / 10 = 0.10


def test_timer_warning() -> None:
    assert timer_warning(0.005, 0.0001) is not None  # 5 us against a 100 ns timer: under 100 granularities
    assert timer_warning(0.011, 0.0001) is None
    g = cpu_granularity_ms()
    assert 0 < g < 0.1  # a perf_counter read costs well under 100 us


def test_launch_bound_warning() -> None:
    assert launch_bound_warning(gpu_ms=2.0, wall_ms=2.1, launch_ms=1.9) is not None  # CPU issues as slowly as GPU runs
    assert launch_bound_warning(gpu_ms=2.0, wall_ms=3.5, launch_ms=0.2) is not None  # wall 1.75x GPU
    assert launch_bound_warning(gpu_ms=2.0, wall_ms=2.1, launch_ms=0.3) is None  # GPU-bound
    assert "--cuda-graph" in launch_bound_warning(1.0, 1.0, 1.0)


def test_load_warning() -> None:
    assert load_warning(4.6, 2, 2) is not None and "--threads 1" in load_warning(4.6, 2, 2)
    assert "--threads 1" not in load_warning(2.7, 2, 1)
    assert load_warning(0.2, 2, 2) is None  # idle machine: 0.2 + 2 threads <= 2 CPUs + 0.5
    assert load_warning(1.0, 16, 8) is None
    assert load_warning(None, 2, 2) is None


def test_channels_last_warning() -> None:
    assert channels_last_warning(1.10, 1.0) is not None
    assert channels_last_warning(1.04, 1.0) is None
    assert channels_last_warning(0.8, 1.0) is None


def test_warmup_record() -> None:
    assert Warmup(1.23456, 10, 3, True, 0.012345).to_dict() == {
        "seconds": 1.235, "iterations": 10, "windows": 3, "steady": True, "last_change": 0.0123}


# --- CUDA timers (run only where a GPU is present) ------------------------------------------------------------------


def _cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch


def test_cuda_sampler_records_gpu_wall_and_launch_times() -> None:
    torch = _cuda()
    from shufflecalc.latency.timing import CudaSampler

    a = torch.randn(2048, 2048, device="cuda")
    sampler = CudaSampler(lambda: a @ a)
    samples = [sampler() for _ in range(20)]
    assert len(sampler.wall) == len(sampler.launch) == 20
    gpu, wall = statistics.median(samples), statistics.median(sampler.wall)
    assert 0 < gpu <= wall * 1.05  # the GPU span lies inside the synchronized wall span
    assert statistics.median(sampler.launch) <= wall


def test_cuda_graph_replay_computes_the_same_result() -> None:
    torch = _cuda()
    from shufflecalc.latency.timing import capture_cuda_graph

    x = torch.randn(64, 64, device="cuda")
    out = torch.empty_like(x)
    with torch.inference_mode():
        replay = capture_cuda_graph(lambda: torch.mm(x, x, out=out))
        x.copy_(torch.eye(64, device="cuda"))
        replay()
    torch.cuda.synchronize()
    assert torch.equal(out, torch.eye(64, device="cuda"))
