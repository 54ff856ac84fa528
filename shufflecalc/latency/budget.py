"""Latency limits of budget files, timed by the bench harness (imports torch when used).

Each latency limit is one `bench()` run (one model, one batch): its median is the value checked, and bench's warnings
on it (noise, timer resolution, warm-up cap, and the busy-machine warning of the run) travel with it, as a
`LatencyMeasurement`, into every format of `shufflecalc check`.
"""

from __future__ import annotations

from typing import Any

from shufflecalc.analysis.budget import LatencyMeasurement
from shufflecalc.analysis.cost import Analysis
from shufflecalc.latency.bench import BenchOptions, bench, require_torch
from shufflecalc.latency.timing import NOISE_LIMIT

LATENCY_MIN_TIME = 0.5  # seconds of samples per limit, after the harness's warm-up (check --min-time)


class BenchLatency:
    """The `LatencyMeter` of `shufflecalc check --latency`: the median of `shufflecalc bench`, with `threads` CPU
    threads (None: torch's default) and `min_time` seconds of samples per limit (both checked as bench checks them)."""

    noise_limit = NOISE_LIMIT

    def __init__(self, threads: int | None = None, min_time: float = LATENCY_MIN_TIME) -> None:
        self.threads = threads
        self.min_time = min_time
        BenchOptions(device="cpu", threads=threads, min_time=min_time).checked()

    def method(self) -> str:
        """How `measure` measures, with the torch version and thread count (imports torch)."""
        torch = require_torch()
        threads = self.threads or torch.get_num_threads()
        return (f"latency: median of `shufflecalc bench` (warm-up until steady, then samples for at least "
                f"{self.min_time:g} s), eval mode, torch.inference_mode; torch {torch.__version__}, "
                f"{threads} threads")

    def measure(self, analysis: Analysis, device: str, batch: int) -> LatencyMeasurement | None:
        """The model timed at batch `batch` on `device`; None when the device is not available. Imports torch
        (MissingDependency without it)."""
        if device == "cuda" and not require_torch().cuda.is_available():
            return None
        doc = bench([analysis], BenchOptions(device=device, batches=(batch,), threads=self.threads,
                                             min_time=self.min_time))
        return measurement_of(doc, self.noise_limit)

    def measure_ms(self, analysis: Analysis, device: str, batch: int) -> float | None:
        """The median alone, in milliseconds."""
        m = self.measure(analysis, device, batch)
        return None if m is None else m.median_ms


def measurement_of(doc: dict[str, Any], noise_limit: float = NOISE_LIMIT) -> LatencyMeasurement:
    """A `bench()` document of one model and batch as a measurement: the row's median, IQR/median and samples; the
    run's warnings (the row's own, and those of the whole run, such as a busy machine) without bench's row prefix."""
    (row,) = doc["results"]
    prefix = f"{row['model']} batch {row['batch']} {row['memory_format']}: "
    own = set(row["warnings"])
    run = [w for w in doc["warnings"] if not (w.startswith(prefix) and w[len(prefix):] in own)]
    return LatencyMeasurement(float(row["median_ms"]), float(row["iqr_over_median"]), int(row["samples"]),
                              noise_limit, tuple(run + list(row["warnings"])))


__all__ = ["LATENCY_MIN_TIME", "BenchLatency", "measurement_of"]
