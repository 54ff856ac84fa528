"""Sweep speed: a 1,000-configuration `shufflecalc sweep` through the CLI, in each format, side by side with baselines.

Prints medians measured in one run, interleaved (no absolute thresholds are asserted anywhere):

    python benchmarks/sweep.py

- baseline 1: ``python -c "import typer, rich, yaml"`` (the interpreter and the CLI's dependencies);
- baseline 2: the headline command, ``shufflecalc compare mobilenet shufflenet --g 3`` (one analysis, cold start);
- the sweep: ShuffleNet, g in 1,2,3,4,8 x width in 0.25,0.5,1,1.5,2 x resolution 160..316 step 4 = 1,000
  distinct configurations (the engine's caches start cold in every process), rendered as table, csv and json.

Run it with the interpreter of an installed copy (`pip install .`); an editable install adds ~10 ms per process.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import subprocess
import sys
import tempfile
import time

SWEEP = ["sweep", "shufflenet", "--g", "1,2,3,4,8", "--width", "0.25,0.5,1,1.5,2", "--resolution", "160:316:4"]
COMMANDS = {
    "import typer, rich, yaml": [sys.executable, "-c", "import typer, rich, yaml"],
    "compare mobilenet shufflenet --g 3": [sys.executable, "-m", "shufflecalc", "compare", "mobilenet", "shufflenet",
                                           "--g", "3"],
    **{f"sweep, 1,000 configurations, -f {fmt}": [sys.executable, "-m", "shufflecalc", *SWEEP, "-f", fmt]
       for fmt in ("table", "csv", "json")},
}


def measure(repeats: int = 7) -> dict[str, float]:
    """Median wall time of each command; the commands take turns so that machine load affects all alike."""
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for cmd in COMMANDS.values():  # warm the file cache
        subprocess.run(cmd, check=True, capture_output=True, cwd=tempfile.gettempdir())
    for _ in range(repeats):
        for name, cmd in COMMANDS.items():
            start = time.perf_counter()
            r = subprocess.run(cmd, check=True, capture_output=True, cwd=tempfile.gettempdir())
            times[name].append(time.perf_counter() - start)
            if name.startswith("sweep") and r.stdout.count(b"\n") < 1000:
                raise SystemExit(f"{name}: expected 1,000 rows")
    return {name: statistics.median(ts) for name, ts in times.items()}


def in_process() -> tuple[float, float]:
    """One process, fresh engine caches for each: analyze() over the 1,000 configurations alone, then the whole sweep
    command (parsing, analysis, rows, sorting, rendering) on the same configurations."""
    import shufflecalc
    from shufflecalc.cli import app
    from shufflecalc.spec.templates import clear_caches

    configs = [{"g": g, "width": w, "resolution": r} for g in (1, 2, 3, 4, 8) for w in (0.25, 0.5, 1.0, 1.5, 2.0)
               for r in range(160, 320, 4)]

    def cold() -> None:
        clear_caches()

    engine, command = [], []
    for _ in range(5):  # alternate, medians: the machine's load affects both alike
        cold()
        start = time.perf_counter()
        for c in configs:
            shufflecalc.analyze("shufflenet", c)
        engine.append(time.perf_counter() - start)
        cold()
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            app([*SWEEP, "-f", "table"])
        command.append(time.perf_counter() - start)
    return statistics.median(engine), statistics.median(command)


if __name__ == "__main__":
    engine, command = in_process()
    print(f"in one process: analyze() x 1,000 {engine * 1000:.0f} ms; the sweep command {command * 1000:.0f} ms "
          f"(ratio {command / engine:.2f}x: what the command adds to the engine)")
    results = measure()
    base = results["import typer, rich, yaml"]
    headline = results["compare mobilenet shufflenet --g 3"]
    print(f"{'command':<45} {'median':>9} {'/ import':>9} {'/ compare':>10}")
    for name, t in results.items():
        print(f"{name:<45} {t * 1000:>7.0f} ms {t / base:>8.2f}x {t / headline:>9.2f}x")
    worst = max(t for name, t in results.items() if name.startswith("sweep"))
    print(f"slowest 1,000-configuration sweep: {worst:.2f} s (target < 2 s)")
