"""Where the time goes against where the FLOPs are: one torch.profiler run, attributed to layers and operator classes.

The model is built with per-layer profiler ranges (`GraphModule.annotate`), warmed up, then profiled for a few
forward passes (outside any timed loop). Each layer's time is the total of its range:

- on CPU, the range's elapsed CPU time (``FunctionEvent.cpu_time_total``: the layer's operators and their dispatch);
- on CUDA, the GPU time of the kernels its operators launched (``FunctionEvent.device_time_total``).

Times are milliseconds per forward pass of the batch (averaged over the profiled passes). Layer times are summed per
operator class (the graph's ``Layer.op_class``) and shown beside each class's share of ``macs`` and of
``memory_access`` (elements read and written, ShuffleNet V2's MAC). ``forward_ms`` is the profiled forward range's own
time; on CPU the layers cover most of it, the rest being Python between layers. Profiling adds overhead to every
operator, so shares are more telling than absolute times (`bench` gives those).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shufflecalc.analysis.cost import CONVENTIONS, Analysis
from shufflecalc.errors import ShufflecalcError
from shufflecalc.latency.bench import BenchOptions, environment, require_torch

FORWARD_RANGE = "shufflecalc:forward"

PROFILE_CONVENTIONS: dict[str, str] = {
    "time_ms": "milliseconds per forward pass of the batch: on CPU the layer's profiler range (CPU time), on CUDA "
    "the GPU time of the kernels the layer launched",
    "time_share": "time_ms / attributed_ms (the sum over layers)",
    "macs_share": "macs / total macs",
    "memory_access_share": "memory_access / total memory_access",
    "forward_ms": "the profiled forward range (CPU: its CPU time; CUDA: all kernels it launched)",
}


def _share(part: float, total: float) -> float:
    return round(part / total, 6) if total else 0.0


def _layer_times(events: Any, cuda: bool, prefix: str) -> tuple[dict[str, float], float]:
    """Per-layer and forward milliseconds per pass from the profiler's CPU-side range events."""
    import torch

    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    forward, passes = 0.0, 0
    for e in events:
        if e.device_type != torch.autograd.DeviceType.CPU:
            continue  # CUDA-side copies of the ranges (gpu_user_annotation)
        us = e.device_time_total if cuda else e.cpu_time_total
        if e.name == FORWARD_RANGE:
            forward += us
            passes += 1
        elif e.name.startswith(prefix):
            name = e.name[len(prefix):]
            totals[name] = totals.get(name, 0.0) + us
            counts[name] = counts.get(name, 0) + 1
    if not passes:
        raise ShufflecalcError("the profiler recorded no forward pass")
    return {n: totals[n] / counts[n] / 1000 for n in totals}, forward / passes / 1000


# The profiler's C++ side (kineto) logs to file descriptor 2 itself, e.g.
# "USDT:2026-12-01 12:41:23 28673:28673 SyncActivityProfilerHandler.cpp:52] profiler_start".
_PROFILER_LOG = re.compile(r"^[A-Z]+:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \d+:\d+ \w+\.\w+:\d+\] ")


@contextmanager
def _without_profiler_log() -> Iterator[None]:
    """Keep the profiler's own log lines off stderr (they are not shufflecalc's messages, and they broke the one-line
    stderr of `profile -f json`); anything else written to stderr meanwhile is passed on."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not _PROFILER_LOG.match(line)]
            if kept:
                sys.stderr.write("".join(kept))


def run_profile(model: Any, x: Any, cuda: bool, iterations: int, warmup: int = 3) -> tuple[dict[str, float], float]:
    """Profile `iterations` annotated forward passes after `warmup` plain ones: (layer -> ms, forward ms)."""
    torch = require_torch()
    from torch.profiler import ProfilerActivity, profile, record_function, schedule

    from shufflecalc.bridge.builder import RANGE_PREFIX

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        if cuda:
            torch.cuda.synchronize()
        model.annotate = True
        try:
            # one profiled-but-discarded pass first: the profiler's own start-up lands there
            traces: list[Any] = []
            with _without_profiler_log(), profile(
                activities=activities, schedule=schedule(wait=0, warmup=1, active=iterations, repeat=1),
                on_trace_ready=lambda p: traces.append(p.events()),
            ) as prof:
                for _ in range(1 + iterations):
                    with record_function(FORWARD_RANGE):
                        model(x)
                    if cuda:
                        torch.cuda.synchronize()
                    prof.step()
        finally:
            model.annotate = False
    if not traces:
        raise ShufflecalcError("the profiler returned no trace")
    return _layer_times(traces[0], cuda, RANGE_PREFIX)


def profile_model(label: str, a: Analysis, options: BenchOptions, iterations: int = 10) -> dict[str, Any]:
    """Profile one model at one batch size: the JSON document the `profile` command prints."""
    options = options.validated()
    if len(options.batches) != 1:
        raise ShufflecalcError("profile takes one batch size")
    if iterations < 1:
        raise ShufflecalcError(f"--iterations {iterations}: must be at least 1")
    torch = require_torch()
    from shufflecalc.bridge.builder import build_model

    batch, cuda = options.batches[0], options.device == "cuda"
    previous_threads = torch.get_num_threads()
    if options.threads:
        torch.set_num_threads(options.threads)
    try:
        env = environment(options)
        dtype = getattr(torch, options.dtype)
        memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
        # Module.to takes memory_format (keyword only, documented), but torch's overloads leave it out.
        model = build_model(a.graph).to(  # type: ignore[call-overload]
            device=options.device, dtype=dtype, memory_format=memory_format
        )
        x = torch.randn(batch, *a.graph.input, device=options.device, dtype=dtype)
        x = x.contiguous(memory_format=memory_format)
        times, forward = run_profile(model, x, cuda, iterations)
    finally:
        torch.set_num_threads(previous_threads)
    env["memory_formats"] = ["channels_last" if options.channels_last else "contiguous"]
    return attribute(label, a, times, forward, env, batch, iterations)


def attribute(label: str, a: Analysis, times: dict[str, float], forward_ms: float, env: dict[str, Any],
              batch: int, iterations: int) -> dict[str, Any]:
    """Join per-layer times with the graph: per-layer and per-class rows with time, MACs and memory-access shares."""
    missing = [layer.name for layer in a.layers if layer.name not in times]
    if missing:
        raise ShufflecalcError(f"the profiler recorded no range for layer(s) {', '.join(missing[:3])}")
    attributed = sum(times[layer.name] for layer in a.layers)
    macs, memory = a.macs, a.memory_access
    layers = [{"name": layer.name, "op": layer.op, "class": layer.op_class, "time_ms": round(times[layer.name], 6),
               "time_share": _share(times[layer.name], attributed),
               "macs": layer.macs, "macs_share": _share(layer.macs, macs),
               "memory_access": layer.memory_access, "memory_access_share": _share(layer.memory_access, memory)}
              for layer in a.layers]
    class_time: dict[str, float] = {}
    for layer in a.layers:
        class_time[layer.op_class] = class_time.get(layer.op_class, 0.0) + times[layer.name]
    by_class = [{"class": k, "layers": t.layers, "time_ms": round(class_time[k], 6),
                 "time_share": _share(class_time[k], attributed), "macs": t.macs, "macs_share": _share(t.macs, macs),
                 "memory_access": t.memory_access, "memory_access_share": _share(t.memory_access, memory)}
                for k, t in sorted(a.breakdown("class").items(), key=lambda kv: -class_time[kv[0]])]
    return {
        "conventions": {"macs": CONVENTIONS["macs"], "memory_access": CONVENTIONS["memory_access"],
                        **PROFILE_CONVENTIONS},
        "environment": env,
        "model": label, "spec": a.name, "config": dict(a.config), "batch": batch, "iterations": iterations,
        "time_source": "CUDA kernel time" if env["device"] == "cuda" else "CPU time of each layer's profiler range",
        "forward_ms": round(forward_ms, 6),
        "attributed_ms": round(attributed, 6),
        "coverage": _share(attributed, forward_ms),
        "macs": macs, "memory_access": memory,
        "by_class": by_class,
        "layers": layers,
    }
