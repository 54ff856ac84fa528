"""Latency of built models beside their analytic cost: `bench()` times each model and batch and returns the JSON
document the `bench` command prints.

Per model, memory format and batch: the model from the torch builder (eval mode) runs under
``torch.inference_mode`` on an input allocated once on the device; one untimed first call (compilation, lazy
initialization), a warm-up until the timings settle, then samples for at least ``min_time`` seconds (see `timing`
for the timers and the statistics). Derived figures use the median (the GPU time on CUDA):

- ``throughput_ips`` = batch / median, images per second;
- ``achieved_gflops`` = flops x batch / median / 1e9, where ``flops`` = 2 x ``macs`` of one image (analytic);
- ``peak_fraction`` (CUDA) = achieved FLOP/s / the device's peak (`peaks`, or ``peak_tflops``).

With ``channels_last`` every case is also timed in the default contiguous format, in the same run, as the baseline
the channels-last rows are compared with. Warnings (noise, timer resolution, warm-up cap, launch-bound, channels-last
slower) are returned with the results; they never fail the run. torch is imported only when a function runs.
"""

from __future__ import annotations

import math
import os
import platform
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from shufflecalc.analysis.cost import CONVENTIONS, Analysis, labels
from shufflecalc.errors import ShufflecalcError
from shufflecalc.latency import allocator
from shufflecalc.latency.allocator import ALLOCATORS
from shufflecalc.latency.peaks import RULE, find_peak, peak_for
from shufflecalc.latency.timing import (
    CUDA_EVENT_RESOLUTION_MS,
    PERCENTILE_METHOD,
    CpuSampler,
    CudaSampler,
    Stats,
    capture_cuda_graph,
    channels_last_warning,
    collect,
    cpu_granularity_ms,
    launch_bound_warning,
    load_warning,
    noise_warning,
    page_fault_warning,
    quantile,
    timer_warning,
    warm_up,
    warmup_warning,
)
from shufflecalc.lists import positive_ints
from shufflecalc.units import sig

DTYPES = ("float32", "float16", "bfloat16")
DEVICES = ("cpu", "cuda", "auto")
Progress = Callable[[int, int, str], None]  # (done, total, what is being timed now)

TIMING_CONVENTIONS: dict[str, str] = {
    "median_ms": "median time of one forward pass of the whole batch, in milliseconds (on CUDA: GPU time between "
    "two CUDA events; on CPU: time.perf_counter_ns around the call)",
    "percentiles": PERCENTILE_METHOD,
    "iqr_over_median": "(p75 - p25) / median",
    "throughput_ips": "images per second: batch / median",
    "achieved_gflops": "flops x batch / median / 1e9, flops = 2 x macs of one image (analytic)",
    "peak_fraction": "achieved FLOP/s / the device's peak FLOP/s (CUDA only). " + RULE,
    "wall_median_ms": "CUDA: median wall time of a call ended by torch.cuda.synchronize()",
    "launch_median_ms": "CUDA: median time for the call to return, i.e. for the CPU to launch its kernels",
    "page_faults_per_call": "CPU: median count of the process's minor page faults during one timed call",
}


@dataclass(frozen=True)
class BenchOptions:
    """What to time and how. Times in seconds; `warmup_max` defaults to max(3, 3 x min_time)."""

    device: str = "auto"
    batches: tuple[int, ...] = (1,)
    dtype: str = "float32"
    channels_last: bool = False
    threads: int | None = None
    cuda_graph: bool = False
    compile: bool = False
    min_time: float = 1.0
    peak_tflops: float | None = None
    min_samples: int = 10
    warmup_max: float | None = None
    compile_backend: Any = "inductor"  # torch.compile's backend (a name or a callable)
    allocator: str = "steady"  # CPU: keep freed memory in the process (`allocator`), or 'system' as it is

    def checked(self) -> BenchOptions:
        """The options, each checked on its own (no torch import); a ShufflecalcError for a bad one."""
        if self.device not in DEVICES:
            raise ShufflecalcError(f"--device {self.device!r}: expected one of {', '.join(DEVICES)}")
        if self.allocator not in ALLOCATORS:
            raise ShufflecalcError(f"--allocator {self.allocator!r}: expected one of {', '.join(ALLOCATORS)}")
        if self.dtype not in DTYPES:
            raise ShufflecalcError(f"--dtype {self.dtype!r}: expected one of {', '.join(DTYPES)}")
        if not self.batches or any(b < 1 for b in self.batches):
            raise ShufflecalcError("--batch: expected positive whole numbers such as 1,8,32")
        if not (math.isfinite(self.min_time) and self.min_time > 0):
            raise ShufflecalcError(f"--min-time {self.min_time}: must be a positive number of seconds")
        if self.threads is not None and self.threads < 1:
            raise ShufflecalcError(f"--threads {self.threads}: must be at least 1")
        if self.peak_tflops is not None and not (math.isfinite(self.peak_tflops) and self.peak_tflops > 0):
            raise ShufflecalcError(f"--peak-tflops {self.peak_tflops}: must be a positive number")
        return self

    def validated(self) -> BenchOptions:
        """`checked`, with the device resolved ('auto' -> cuda or cpu; imports torch) and the options that depend on
        it checked."""
        self.checked()
        device = resolve_device(self.device)
        if self.cuda_graph and device != "cuda":
            raise ShufflecalcError("--cuda-graph needs --device cuda")
        return replace(self, device=device)


def parse_batches(text: str) -> tuple[int, ...]:
    """'1,8,32' -> (1, 8, 32), read by `lists.comma_list` (an empty item is an error); a repeated size once."""
    return tuple(dict.fromkeys(positive_ints(text, "--batch")))


def parse_batch(text: str) -> int:
    """One batch size, written as for `parse_batches` ('8'); a list of several is an error (profile's --batch)."""
    batches = parse_batches(text)
    if len(batches) != 1:
        raise ShufflecalcError(f"--batch {text!r}: profile takes one batch size, such as 8")
    return batches[0]


def require_torch() -> Any:
    """Import torch through the builder, which raises MissingDependency (with the install hint) without it."""
    from shufflecalc.bridge.builder import torch

    return torch


def resolve_device(requested: str) -> str:
    torch = require_torch()
    available = torch.cuda.is_available()
    if requested == "auto":
        return "cuda" if available else "cpu"
    if requested == "cuda" and not available:
        why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA device is visible"
        raise ShufflecalcError(f"--device cuda: CUDA is not available ({why}, torch {torch.__version__})")
    return requested


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    if device == "cuda":
        return require_torch().cuda.get_device_name()
    return cpu_name()


def device_slug(device: str) -> str:
    """A file-name-safe name of the device: 'cuda-nvidia-h100-80gb-hbm3', 'cpu-intel-xeon-processor'."""
    name = re.sub(r"\((r|tm)\)", "", device_name(device).lower())
    return f"{device}-" + re.sub(r"[^a-z0-9]+", "-", name).strip("-")


def environment(options: BenchOptions) -> dict[str, Any]:
    """What goes with every result: versions, device, threads, dtype, memory formats, mode, machine load, the
    allocator's state. On the CPU this is where `options.allocator` takes effect, before anything is timed."""
    torch = require_torch()
    cuda = options.device == "cuda"
    memory = allocator.system() if cuda else allocator.use(options.allocator)
    env: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": options.device,
        "device_name": device_name(options.device),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "dtype": options.dtype,
        "memory_formats": ["contiguous", "channels_last"] if options.channels_last else ["contiguous"],
        "mode": mode_name(options),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "allocator": memory,
    }
    if cuda:
        env["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
        env["matmul_allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
        env["cudnn_benchmark"] = torch.backends.cudnn.benchmark
    return env


def mode_name(options: BenchOptions) -> str:
    """eager | compiled | cuda-graph | compiled+cuda-graph."""
    if options.cuda_graph:
        return "compiled+cuda-graph" if options.compile else "cuda-graph"
    return "compiled" if options.compile else "eager"


# --- one case -------------------------------------------------------------------------------------------------------


def _first_call(fn: Callable[[], Any], cuda: bool) -> float:
    torch = require_torch()
    start = time.perf_counter_ns()
    fn()
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter_ns() - start) / 1e6


def measure(fn: Callable[[], Any], cuda: bool, options: BenchOptions) -> dict[str, Any]:
    """Warm up and time `fn`; statistics, warm-up record and timer (CUDA: with wall and launch times)."""
    sampler = CudaSampler(fn) if cuda else CpuSampler(fn)
    t = options.min_time
    warm = warm_up(sampler, min_seconds=0.25 * t, max_seconds=options.warmup_max or max(3.0, 3 * t),
                   window_seconds=0.1 * t)
    sampler.reset()
    stats = Stats.of(collect(sampler, min_seconds=t, min_samples=options.min_samples))
    result: dict[str, Any] = {"timer": sampler.timer, "stats": stats, "warmup": warm}
    if isinstance(sampler, CudaSampler):
        result["wall"] = Stats.of(sampler.wall)
        result["launch"] = Stats.of(sampler.launch)
        result["granularity_ms"] = CUDA_EVENT_RESOLUTION_MS
    else:
        result["granularity_ms"] = cpu_granularity_ms()
        if sampler.faults:
            result["page_faults"] = quantile(sorted(sampler.faults), 1, 2)
    return result


def _row(label: str, index: int, a: Analysis, batch: int, fmt: str, options: BenchOptions, m: dict[str, Any],
         first_ms: float, peak: tuple[float | None, str], memory: str) -> dict[str, Any]:
    stats: Stats = m["stats"]
    seconds = stats.median / 1000
    row: dict[str, Any] = {
        "model": label, "model_index": index, "spec": a.name, "config": dict(a.config), "batch": batch,
        "device": options.device, "mode": mode_name(options), "memory_format": fmt, "dtype": options.dtype,
        "macs": a.macs, "flops": a.flops,
        "timer": m["timer"], **stats.to_dict(),
        "throughput_ips": sig(batch / seconds),
        "achieved_gflops": sig(a.flops * batch / seconds / 1e9),
    }
    if "wall" in m:
        wall, launch = m["wall"], m["launch"]
        row["wall_median_ms"] = round(wall.median, 6)
        row["wall_p90_ms"] = round(wall.p90, 6)
        row["launch_median_ms"] = round(launch.median, 6)
        row["gpu_over_wall"] = round(stats.median / wall.median, 4) if wall.median > 0 else None
    tflops, which = peak
    if "wall" in m or tflops:
        row["peak_tflops"] = tflops
        row["peak"] = which
        row["peak_fraction"] = sig(a.flops * batch / seconds / (tflops * 1e12)) if tflops else None
    if "page_faults" in m:
        row["page_faults_per_call"] = m["page_faults"]
    row["first_call_ms"] = round(first_ms, 3)
    row["warmup"] = m["warmup"].to_dict()
    warnings = [noise_warning(stats), timer_warning(stats.median, m["granularity_ms"]), warmup_warning(m["warmup"]),
                page_fault_warning(m.get("page_faults"), memory)]
    if "wall" in m and not options.cuda_graph:
        warnings.append(launch_bound_warning(stats.median, m["wall"].median, m["launch"].median))
    row["warnings"] = [w for w in warnings if w]
    return row


def _peak(options: BenchOptions) -> tuple[float | None, str]:
    if options.peak_tflops is not None:
        return options.peak_tflops, "--peak-tflops"
    if options.device != "cuda":
        return None, "no peak table for CPUs: give --peak-tflops"
    torch = require_torch()
    peak = find_peak(device_name("cuda"))
    if peak is None:
        return None, f"unknown device {device_name('cuda')!r}: give --peak-tflops"
    tflops, which = peak_for(peak, options.dtype, torch.backends.cudnn.allow_tf32)
    return tflops, f"{peak.name} {which}" if tflops else f"{peak.name} has no {options.dtype} tensor peak"


def _callable(model: Any, x: Any, options: BenchOptions) -> Callable[[], Any]:
    """`model(x)`, compiled afresh for this case with --compile. Every model shares GraphModule.forward's code, and
    torch.compile keeps a few compilations per code object before it silently falls back to eager: its caches are
    reset before each case so that every case runs compiled."""
    torch = require_torch()
    if not options.compile:
        return lambda: model(x)
    torch._dynamo.reset()
    run = torch.compile(model, dynamic=False, backend=options.compile_backend)
    return lambda: run(x)


def bench(analyses: Sequence[Analysis], options: BenchOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Time every model at every batch size; the JSON document (conventions, environment, options, results,
    warnings)."""
    options = options.validated()
    torch = require_torch()
    from shufflecalc.bridge.builder import build_model

    previous_threads = torch.get_num_threads()
    if options.threads:
        torch.set_num_threads(options.threads)
    try:
        env = environment(options)
        peak = _peak(options)
        formats = env["memory_formats"]
        names = labels(analyses)
        total, done = len(analyses) * len(formats) * len(options.batches), 0
        rows = []
        dtype = getattr(torch, options.dtype)
        cuda = options.device == "cuda"
        for index, (label, a) in enumerate(zip(names, analyses, strict=False)):
            model = build_model(a.graph).to(device=options.device, dtype=dtype)
            for fmt in formats:
                memory_format = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
                # Module.to takes memory_format (keyword only, documented), but torch's overloads leave it out.
                model = model.to(memory_format=memory_format)  # type: ignore[call-overload]
                for batch in options.batches:
                    if progress:
                        progress(done, total, f"{label} batch {batch} {fmt}")
                    x = torch.randn(batch, *a.graph.input, device=options.device, dtype=dtype)
                    x = x.contiguous(memory_format=memory_format)
                    with torch.inference_mode():
                        fn = _callable(model, x, options)
                        first = _first_call(fn, cuda)
                        if options.cuda_graph:
                            fn = capture_cuda_graph(fn)
                        m = measure(fn, cuda, options)
                    rows.append(_row(label, index, a, batch, fmt, options, m, first, peak, env["allocator"]))
                    done += 1
        if progress:
            progress(done, total, "done")
    finally:
        torch.set_num_threads(previous_threads)
    if options.channels_last:
        _compare_formats(rows)
    return {
        "conventions": {"macs": CONVENTIONS["macs"], "flops": CONVENTIONS["flops"], **TIMING_CONVENTIONS},
        "environment": env,
        "options": {"device": options.device, "batches": list(options.batches), "dtype": options.dtype,
                    "channels_last": options.channels_last, "threads": options.threads,
                    "cuda_graph": options.cuda_graph, "compile": options.compile, "min_time_s": options.min_time,
                    "peak_tflops": options.peak_tflops, "allocator": options.allocator},
        "results": rows,
        "warnings": [w for w in [load_warning(env["load_average_1min"], env["cpu_count"], env["threads"])] if w]
        + [f"{r['model']} batch {r['batch']} {r['memory_format']}: {w}" for r in rows for w in r["warnings"]],
    }


def _compare_formats(rows: list[dict[str, Any]]) -> None:
    """Give each channels-last row its contiguous baseline's median and a warning where it is slower."""
    base = {(r["model_index"], r["batch"]): r for r in rows if r["memory_format"] == "contiguous"}
    for r in rows:
        b = base.get((r["model_index"], r["batch"]))
        if r["memory_format"] == "channels_last" and b is not None:
            warnings = r.pop("warnings")
            r["contiguous_median_ms"] = b["median_ms"]
            r["speedup_over_contiguous"] = round(b["median_ms"] / r["median_ms"], 4)
            w = channels_last_warning(r["median_ms"], b["median_ms"])
            r["warnings"] = warnings + ([w] if w else [])
