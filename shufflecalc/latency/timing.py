"""Latency measurement: statistics of samples, warm-up, and the timers (CPU clock, CUDA events, CUDA graph replay).

Conventions:

- Every sample and every statistic is a time in **milliseconds** for one call of the timed function (one forward
  pass of a whole batch).
- Percentiles use **linear interpolation between order statistics** (Hyndman & Fan type 7): numpy's default
  ``percentile(method="linear")`` and Python's ``statistics.quantiles(method="inclusive")``. For sorted samples
  x[0..n-1], the q-quantile is x[j] + f * (x[j+1] - x[j]) with j + f = q * (n - 1); computed here exactly as
  ``statistics.quantiles`` does, so both give the same floats.
- ``iqr_over_median`` = (p75 - p25) / median, the relative spread; 10% or more is reported as noise.
- CPU: one ``time.perf_counter_ns`` sample per call. CUDA: one CUDA-event pair per call (GPU time, the primary
  sample), plus a wall clock around the call ended by ``torch.cuda.synchronize()`` and the time the call took to
  return (the CPU's launch time). Graph mode times ``CUDAGraph.replay()`` the same way.

torch is imported only inside the functions that time on a device; the statistics and the warm-up logic are pure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shufflecalc.latency.allocator import keeps_memory, page_faults

PERCENTILE_METHOD = (
    "linear interpolation between order statistics (numpy's default 'linear'; "
    "statistics.quantiles(method='inclusive'))"
)
NOISE_LIMIT = 0.10  # IQR/median at or above this is reported as noise
TIMER_MARGIN = 100  # a median under 100 timer granularities can be off by more than 1%
CUDA_EVENT_RESOLUTION_MS = 0.0005  # cudaEventElapsedTime: "a resolution of around 0.5 microseconds"

Clock = Callable[[], float]  # seconds


def quantile(ordered: Sequence[float], k: int, m: int) -> float:
    """The k/m quantile of sorted samples, by linear interpolation (statistics.quantiles' 'inclusive' arithmetic)."""
    n = len(ordered)
    if n == 0:
        raise ValueError("no samples")
    if n == 1:
        return float(ordered[0])
    j, delta = divmod(k * (n - 1), m)
    if j >= n - 1:
        return float(ordered[-1])
    return (ordered[j] * (m - delta) + ordered[j + 1] * delta) / m


@dataclass(frozen=True)
class Stats:
    """Summary of timing samples, in milliseconds."""

    n: int
    median: float
    p90: float
    p99: float
    min: float
    max: float
    mean: float
    p25: float
    p75: float

    @property
    def iqr_over_median(self) -> float:
        return (self.p75 - self.p25) / self.median if self.median > 0 else 0.0

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        x = sorted(samples)
        if not x:
            raise ValueError("no samples")
        return cls(len(x), quantile(x, 1, 2), quantile(x, 90, 100), quantile(x, 99, 100), x[0], x[-1],
                   math.fsum(x) / len(x), quantile(x, 1, 4), quantile(x, 3, 4))

    def to_dict(self, suffix: str = "_ms") -> dict[str, Any]:
        keys = ("median", "p90", "p99", "min", "mean", "p25", "p75", "max")
        return {"samples": self.n, **{k + suffix: round(getattr(self, k), 6) for k in keys},
                "iqr_over_median": round(self.iqr_over_median, 6)}


# --- warm-up and sample collection (pure: `step` runs one call and returns its sample) ------------------------------


@dataclass(frozen=True)
class Warmup:
    """How warm-up ended: `steady` is False when `max_seconds` ran out first (the cap was hit)."""

    seconds: float
    iterations: int
    windows: int
    steady: bool
    last_change: float | None  # relative change between the last two window medians

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 3), "iterations": self.iterations, "windows": self.windows,
                "steady": self.steady,
                "last_change": None if self.last_change is None else round(self.last_change, 4)}


def warm_up(step: Callable[[], float], *, min_seconds: float, max_seconds: float, window_seconds: float,
            window_samples: int = 5, tolerance: float = 0.05, clock: Clock = time.perf_counter) -> Warmup:
    """Call `step` for at least `min_seconds`, then in windows (each at least `window_seconds` and `window_samples`
    calls) until one window's median is within `tolerance` (relative) of the previous window's; stop at
    `max_seconds` even if not steady."""
    start = clock()
    iterations = 0
    while clock() - start < min_seconds:
        step()
        iterations += 1
    previous: float | None = None
    change: float | None = None
    windows = 0
    while True:
        window_start = clock()
        window: list[float] = []
        while len(window) < window_samples or clock() - window_start < window_seconds:
            window.append(step())
            if clock() - start >= max_seconds:
                break
        iterations += len(window)
        windows += 1
        median = quantile(sorted(window), 1, 2)
        if previous is not None:
            change = abs(median - previous) / previous if previous > 0 else 0.0
            if change <= tolerance:
                return Warmup(clock() - start, iterations, windows, True, change)
        if clock() - start >= max_seconds:
            return Warmup(clock() - start, iterations, windows, False, change)
        previous = median


def collect(step: Callable[[], float], *, min_seconds: float, min_samples: int, max_samples: int = 100_000,
            clock: Clock = time.perf_counter) -> list[float]:
    """Samples from `step` until `min_seconds` have passed and `min_samples` were taken (at most `max_samples`)."""
    samples: list[float] = []
    start = clock()
    while len(samples) < max_samples and (len(samples) < min_samples or clock() - start < min_seconds):
        samples.append(step())
    return samples


# --- warnings (pure) ------------------------------------------------------------------------------------------------


def noise_warning(stats: Stats) -> str | None:
    r = stats.iqr_over_median
    if r >= NOISE_LIMIT:
        return (f"noisy: IQR/median is {100 * r:.1f}% (>= {100 * NOISE_LIMIT:.0f}%); "
                "close other work or raise --min-time")
    return None


def timer_warning(median_ms: float, granularity_ms: float) -> str | None:
    if median_ms < TIMER_MARGIN * granularity_ms:
        return (f"samples too short for the timer: median {median_ms * 1000:.2f} us is under {TIMER_MARGIN}x the "
                f"timer's granularity ({granularity_ms * 1e6:.0f} ns); time a larger batch")
    return None


def page_fault_warning(faults_per_call: float | None, allocator: str) -> str | None:
    """A CPU call that faults in pages pays for memory the allocator gave back to the kernel: its time depends on the
    allocator's state, not only on the model."""
    if not faults_per_call:
        return None
    advice = "" if keeps_memory(allocator) else "; --allocator steady keeps freed memory in the process"
    return (f"{faults_per_call:g} page faults per call (median): the call touches memory the allocator gave back to "
            f"the kernel, and its time moves with the allocator's state{advice}")


def warmup_warning(w: Warmup) -> str | None:
    if not w.steady:
        change = "" if w.last_change is None else f" (window medians still moved by {100 * w.last_change:.1f}%)"
        return f"warm-up hit its cap of {w.seconds:.1f} s before the timings settled{change}"
    return None


LAUNCH_SHARE = 0.8  # the CPU's launch time at or above this share of the GPU time: the GPU waits for the CPU
WALL_OVER_GPU = 1.5  # synchronized wall time at or above this multiple of the GPU time


def launch_bound_warning(gpu_ms: float, wall_ms: float, launch_ms: float) -> str | None:
    """CUDA eager runs: launch-bound when issuing the kernels takes the CPU about as long as the GPU takes to run them
    (then the GPU idles between kernels, inside its own timed span), or when wall time far exceeds GPU time."""
    if gpu_ms <= 0:
        return None
    if launch_ms >= LAUNCH_SHARE * gpu_ms or wall_ms >= WALL_OVER_GPU * gpu_ms:
        return (f"launch-bound: the CPU takes {launch_ms:.3f} ms to launch the kernels, wall time {wall_ms:.3f} ms, "
                f"GPU time {gpu_ms:.3f} ms; try --cuda-graph")
    return None


def load_warning(load_average: float | None, cpu_count: int | None, threads: int) -> str | None:
    """The machine is busy when the load average before timing plus our threads exceed the CPUs."""
    if load_average is None or not cpu_count or load_average + threads <= cpu_count + 0.5:
        return None
    advice = "--threads 1 or a quieter time" if threads > 1 else "a quieter time"
    return (f"the machine is busy: load average {load_average:.1f} on {cpu_count} CPUs before timing, and {threads} "
            f"thread(s) to run; other work competes for the cores, so timings are slower and noisier "
            f"(a parallel operator waits for its slowest thread): try {advice}")


CHANNELS_LAST_MARGIN = 0.05


def channels_last_warning(channels_last_ms: float, contiguous_ms: float) -> str | None:
    if channels_last_ms > (1 + CHANNELS_LAST_MARGIN) * contiguous_ms:
        return (f"channels-last is slower than contiguous: median {channels_last_ms:.3f} ms vs {contiguous_ms:.3f} ms "
                f"({channels_last_ms / contiguous_ms:.2f}x)")
    return None


# --- the timers -----------------------------------------------------------------------------------------------------


def cpu_granularity_ms(reads: int = 2001) -> float:
    """The CPU timer's granularity: the larger of perf_counter's resolution and the median cost of reading it."""
    deltas = []
    for _ in range(reads):
        a = time.perf_counter_ns()
        deltas.append(time.perf_counter_ns() - a)
    resolution_ns = time.get_clock_info("perf_counter").resolution * 1e9
    return max(resolution_ns, quantile(sorted(deltas), 1, 2), 1.0) / 1e6


class CpuSampler:
    """One ``perf_counter_ns`` pair around each call; the process's minor page faults during each call (counted
    outside the timed span) in `faults`, where the system counts them."""

    timer = "time.perf_counter_ns around each call"

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.faults: list[int] = []

    def __call__(self) -> float:
        before = page_faults()
        start = time.perf_counter_ns()
        self.fn()
        stop = time.perf_counter_ns()
        after = page_faults()
        if before is not None and after is not None:
            self.faults.append(after - before)
        return (stop - start) / 1e6

    def reset(self) -> None:
        self.faults.clear()


class CudaSampler:
    """One CUDA-event pair around each call (GPU time, returned), plus a synchronized wall clock and the time the
    call takes to return (launch), kept in `wall` and `launch`. The device is synchronized before each call, so
    calls never overlap: these are latencies, not pipelined throughput."""

    timer = "torch.cuda.Event pair around each call; wall clock ended by torch.cuda.synchronize()"

    def __init__(self, fn: Callable[[], Any]) -> None:
        import torch

        self.torch = torch
        self.fn = fn
        self.start = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)
        self.wall: list[float] = []
        self.launch: list[float] = []

    def __call__(self) -> float:
        sync = self.torch.cuda.synchronize
        sync()
        t0 = time.perf_counter_ns()
        self.start.record()
        self.fn()
        self.end.record()
        t1 = time.perf_counter_ns()
        sync()
        t2 = time.perf_counter_ns()
        self.launch.append((t1 - t0) / 1e6)
        self.wall.append((t2 - t0) / 1e6)
        return self.start.elapsed_time(self.end)

    def reset(self) -> None:
        self.wall.clear()
        self.launch.clear()


def capture_cuda_graph(fn: Callable[[], Any], warmup_calls: int = 3) -> Callable[[], Any]:
    """Capture `fn` (which reads pre-allocated inputs) into a CUDA graph and return its replay.

    As the CUDA-graph docs require, `fn` first runs a few times on a side stream (so lazy initialization and
    allocator warm-up happen outside capture), then once under ``torch.cuda.graph``. Call this in the same grad
    mode (inference_mode) in which the replays run.
    """
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup_calls):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = fn()
    torch.cuda.synchronize()

    def replay(keep: Any = output) -> None:  # `keep` holds the graph's static output tensor alive
        graph.replay()

    return replay
