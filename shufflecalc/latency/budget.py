"""Latency limits of budget files, timed by the bench harness (imports torch when used)."""

from __future__ import annotations

from shufflecalc.analysis.cost import Analysis
from shufflecalc.latency.bench import BenchOptions, bench, require_torch

LATENCY_MIN_TIME = 0.5  # seconds of samples per limit, after the harness's warm-up


class BenchLatency:
    """The `LatencyMeter` of `shufflecalc check --latency`: the median of `shufflecalc bench`."""

    def method(self) -> str:
        """How `measure_ms` measures, with the torch version and thread count (imports torch)."""
        torch = require_torch()
        return (f"latency: median of `shufflecalc bench` (warm-up until steady, then samples for at least "
                f"{LATENCY_MIN_TIME} s), eval mode, torch.inference_mode; torch {torch.__version__}, "
                f"{torch.get_num_threads()} threads")

    def measure_ms(self, analysis: Analysis, device: str, batch: int) -> float | None:
        """Median forward time of the model in milliseconds at batch `batch` on `device`; None when the device is not
        available. Imports torch (MissingDependency without it)."""
        if device == "cuda" and not require_torch().cuda.is_available():
            return None
        doc = bench([analysis], BenchOptions(device=device, batches=(batch,), min_time=LATENCY_MIN_TIME))
        return float(doc["results"][0]["median_ms"])


__all__ = ["LATENCY_MIN_TIME", "BenchLatency"]
