"""Speed of `shufflecalc check` on ten models, against the cost of importing its three dependencies.

Prints wall times measured side by side in one run (no threshold is asserted anywhere); the issue's target is under
0.5 s for ten models:

    python benchmarks/check.py

Run it with the interpreter of an installed copy (`pip install .`); an editable install adds its import hook's
~10 ms to every start.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEN_MODELS = """\
budgets:
  - {model: mobilenet, max_macs: 600M, max_params: 4.5M, max_memory_access: 40M}
  - {model: mobilenet, config: {width: 0.75}, max_macs: 350M, max_params: 3M}
  - {model: mobilenet, config: {width: 0.5}, max_macs: 160M, max_params: 1.5M}
  - {model: mobilenet, config: {width: 0.25, resolution: 128}, max_macs: 20M, max_params: 0.6M}
  - {model: shufflenet, config: {g: 1}, max_macs: 150M, max_params: 2M}
  - {model: shufflenet, config: {g: 2}, max_macs: 150M, max_params: 2M}
  - {model: shufflenet, config: {g: 3}, max_macs: 150M, max_params: 2M, max_activations: 3.2M}
  - {model: shufflenet, config: {g: 4}, max_macs: 150M, max_params: 2.2M}
  - {model: shufflenet, config: {g: 8}, max_macs: 150M, max_params: 2.5M}
  - {model: shufflenet, config: {g: 3, width: 2.0}, max_macs: 550M, max_params: 5.7M}
"""


def _wall(cmd: list[str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=cwd)  # check=True: every budget passes
    return time.perf_counter() - start


def medians(commands: list[list[str]], cwd: str, repeats: int) -> list[float]:
    """Median wall time of each command, the commands run in turn (interleaved) so that they share conditions."""
    for cmd in commands:  # warm the file cache
        _wall(cmd, cwd)
    samples: list[list[float]] = [[] for _ in commands]
    for _ in range(repeats):
        for cmd, times in zip(commands, samples, strict=False):
            times.append(_wall(cmd, cwd))
    return [statistics.median(times) for times in samples]


def main(repeats: int = 11) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "budgets.yaml").write_text(TEN_MODELS)
        baseline = [sys.executable, "-c", "import typer, rich, yaml"]
        check = [sys.executable, "-m", "shufflecalc", "check", "budgets.yaml"]
        base, table, junit = medians([baseline, check, [*check, "-f", "junit"]], tmp, repeats)
    print(f"ten models, median of {repeats} runs each, interleaved, file cache warm:")
    print(f"  'import typer, rich, yaml'              {base * 1000:6.0f} ms")
    print(f"  'shufflecalc check budgets.yaml'        {table * 1000:6.0f} ms  ({table / base:.2f}x the imports)")
    print(f"  'shufflecalc check budgets.yaml -f junit' {junit * 1000:4.0f} ms  ({junit / base:.2f}x the imports)")
    print(f"  target: under 500 ms for ten models -> {'met' if max(table, junit) < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
