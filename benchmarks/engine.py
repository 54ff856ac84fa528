"""Engine speed: configurations analyzed per second through the Python API, and CLI cold start.

Prints ratios measured side by side in one run (no absolute thresholds are asserted anywhere):

    python benchmarks/engine.py

Run it with the interpreter of an installed copy (`pip install .`); an editable install adds its import hook's
~10 ms to the cold start.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

import shufflecalc


def configs_per_second() -> tuple[int, float]:
    """Distinct ShuffleNet configurations (g x width x resolution), cold caches included."""
    configs = [
        {"g": g, "width": w, "resolution": r}
        for g in (1, 2, 3, 4, 8)
        for w in (0.25, 0.5, 1.0, 1.5, 2.0)
        for r in range(160, 320, 2)
    ]
    start = time.perf_counter()
    for c in configs:
        shufflecalc.analyze("shufflenet", c)
    return len(configs), len(configs) / (time.perf_counter() - start)


def _wall(cmd: list[str], repeats: int = 9) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=tempfile.gettempdir())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def user_block_uses(uses: int = 200) -> tuple[float, int]:
    """Milliseconds to expand a spec with `uses` instances of a user-defined block, every one with other arguments
    (no cached template to reuse), from cold caches: the median of 5."""
    from shufflecalc.spec.load import load_spec
    from shufflecalc.spec.templates import clear_caches

    lines = ["input: [3, 32, 32]", "blocks:", "  fire:", "    args: {squeeze: {type: int}, expand: {type: int}}",
             "    layers:", "      - {op: conv2d, name: squeeze, out: squeeze, kernel: 1, bias: true}",
             "      - {op: relu, name: squeeze_activation}",
             "      - {op: conv2d, name: expand1x1, inputs: [squeeze_activation], out: expand, kernel: 1}",
             "      - {op: conv2d, name: expand3x3, inputs: [squeeze_activation], out: expand, kernel: 3}",
             "      - {op: concat, name: cat, inputs: [expand1x1, expand3x3]}", "layers:"]
    lines += [f"  - {{op: fire, name: fire{i}, squeeze: 16, expand: {64 + i}}}" for i in range(uses)]
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/blocks.yaml"
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        spec = load_spec(path)
        times = []
        for _ in range(5):
            clear_caches()
            start = time.perf_counter()
            layers = len(shufflecalc.analyze(spec).graph.layers)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, layers


def cold_start() -> tuple[float, float]:
    """Median wall time of the headline command vs. importing its three dependencies, interleaved in one run."""
    baseline = [sys.executable, "-c", "import typer, rich, yaml"]
    command = [sys.executable, "-m", "shufflecalc", "compare", "mobilenet", "shufflenet", "--g", "3"]
    _wall(baseline, 1), _wall(command, 1)  # warm the file cache
    return _wall(baseline), _wall(command)


if __name__ == "__main__":
    n, rate = configs_per_second()
    print(f"analyze(): {n} distinct ShuffleNet configurations, {rate:,.0f} configurations/s "
          f"({1000 / rate:.3f} ms each; target >= 2,000/s)")
    ms, layers = user_block_uses()
    print(f"a spec with 200 uses of a user-defined block ({layers:,} layers, no two alike): expanded in {ms:.1f} ms "
          "from cold caches (target <= 50 ms)")
    base, cmd = cold_start()
    print(f"cold start: 'import typer, rich, yaml' {base * 1000:.0f} ms, "
          f"'shufflecalc compare mobilenet shufflenet --g 3' {cmd * 1000:.0f} ms, "
          f"ratio {cmd / base:.2f}x (target <= 1.5x)")
