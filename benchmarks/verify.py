"""Speed of `shufflecalc verify --all`: wall time of the command, time per configuration, and why it measures on one
CPU thread. Nothing here is asserted in tests; run it with an installed copy that has the torch extra:

    python benchmarks/verify.py

Prints, measured in this one run:
- the wall time of `shufflecalc verify --all` (every built-in spec over its parameter grid), torch import included;
- the time per configuration in process (build + fvcore trace + FlopCounterMode pass + comparison);
- one CPU thread (what verify uses) against torch's default intra-op thread pool, side by side on the same
  configurations.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time


def command_wall() -> tuple[int, float]:
    cmd = [sys.executable, "-m", "shufflecalc", "verify", "--all", "--format", "json"]
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"verify --all exited {r.returncode}: {r.stderr.strip()}")
    return len(json.loads(r.stdout)["configurations"]), wall


def per_configuration() -> list[tuple[str, float]]:
    from shufflecalc.analysis.cost import config_text
    from shufflecalc.bridge import verify as v
    from shufflecalc.spec.load import builtin_names, load_spec

    v.verify("shufflenet", resolution=64)  # first-call warm-up (torch's and fvcore's lazy initialization)
    times = []
    for name in builtin_names():
        for outcome in v.verify_grid(load_spec(name)):
            if isinstance(outcome, v.Verification):
                times.append((f"{name} {config_text(outcome.config)}", outcome.seconds))
    return times


def threads_side_by_side(configs: int = 10) -> tuple[int, float, float]:
    import torch

    from shufflecalc.bridge import verify as v
    from shufflecalc.spec.graph import expand
    from shufflecalc.spec.load import load_spec

    spec = load_spec("shufflenet")
    graphs = [expand(spec, c) for c in v.grid(spec)[:: max(1, 50 // configs)][:configs]]
    default = torch.get_num_threads()
    one = pooled = 0.0
    for graph in graphs:  # interleaved, so that load from other processes hits both alike
        start = time.perf_counter()
        v.verify(graph)  # one thread
        one += time.perf_counter() - start
        start = time.perf_counter()
        v._verify(graph)  # torch's default thread pool
        pooled += time.perf_counter() - start
    return default, one, pooled


if __name__ == "__main__":
    n, wall = command_wall()
    print(f"shufflecalc verify --all: {n} configurations in {wall:.1f} s wall, torch import included "
          f"(target < 300 s)")
    times = per_configuration()
    seconds = [t for _, t in times]
    slowest = max(times, key=lambda x: x[1])
    print(f"per configuration, in process: median {statistics.median(seconds):.3f} s, "
          f"max {slowest[1]:.3f} s ({slowest[0]}), sum {sum(seconds):.1f} s")
    threads, one, pooled = threads_side_by_side()
    print(f"one thread vs torch's default pool of {threads}, the same 10 ShuffleNet configurations: "
          f"{one:.2f} s vs {pooled:.2f} s, ratio {one / pooled:.2f}x")
