"""Size and speed of `shufflecalc report`: the file it writes, the time to write it, and a browser's to draw it.

Prints figures measured side by side in one run (no threshold is asserted anywhere); the issue's targets are a
resnet50 page of at most 5 MB, written in at most 2 s:

    python benchmarks/report.py

The command's wall time includes the interpreter's start (beside `python -c "import typer, rich, yaml"`, the cost of
starting any command); the API's is `page_html` in a warm process. With Playwright and /usr/bin/chromium it also
times opening each page from disk until it has drawn everything (the page sets `data-ready` on <body>).
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# name -> the command's arguments, and the same models for the API: (spec, parameters) each
CASES: dict[str, tuple[list[str], list[tuple[str, dict[str, int]]]]] = {
    "resnet50": (["resnet50"], [("resnet50", {})]),
    "mobilenet vs shufflenet g=3": (["mobilenet", "shufflenet", "--g", "3"],
                                    [("mobilenet", {}), ("shufflenet", {"g": 3})]),
}


def _wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def command_times(repeats: int, tmp: Path) -> tuple[float, dict[str, float], dict[str, int]]:
    """Median wall times of the import baseline and of each case's command, interleaved; each page's size."""
    baseline = [sys.executable, "-c", "import typer, rich, yaml"]
    commands = {name: [sys.executable, "-m", "shufflecalc", "report", *args, "-o", str(tmp / f"{i}.html"), "--force"]
                for i, (name, (args, _)) in enumerate(CASES.items())}
    for cmd in [baseline, *commands.values()]:  # warm the file cache
        _wall(cmd)
    samples: dict[str, list[float]] = {name: [] for name in ["baseline", *commands]}
    for _ in range(repeats):
        samples["baseline"].append(_wall(baseline))
        for name, cmd in commands.items():
            samples[name].append(_wall(cmd))
    sizes = {name: (tmp / f"{i}.html").stat().st_size for i, name in enumerate(CASES)}
    medians = {name: statistics.median(times) for name, times in samples.items()}
    return medians.pop("baseline"), medians, sizes


def api_times(repeats: int) -> dict[str, float]:
    from shufflecalc.analysis.cost import analyze
    from shufflecalc.report.page import page_html

    def once(models: list[tuple[str, dict[str, int]]]) -> float:
        start = time.perf_counter()
        page_html([analyze(spec, config) for spec, config in models])
        return time.perf_counter() - start

    for _, models in CASES.values():
        once(models)
    return {name: statistics.median(once(models) for _ in range(repeats)) for name, (_, models) in CASES.items()}


def browser_times(tmp: Path, repeats: int) -> dict[str, float] | None:
    if importlib.util.find_spec("playwright") is None or not Path("/usr/bin/chromium").exists():
        return None
    from playwright.sync_api import sync_playwright

    result = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        for i, name in enumerate(CASES):
            times = []
            for _ in range(repeats):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                start = time.perf_counter()
                page.goto((tmp / f"{i}.html").as_uri())
                page.wait_for_selector("body[data-ready=true]")
                times.append(time.perf_counter() - start)
                page.close()
            result[name] = statistics.median(times)
        browser.close()
    return result


def main(repeats: int = 7) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base, commands, sizes = command_times(repeats, Path(tmp))
        api = api_times(repeats)
        browser = browser_times(Path(tmp), 3)
    print(f"median of {repeats} runs each, interleaved, file cache warm:")
    print(f"  'import typer, rich, yaml'                       {base * 1000:6.0f} ms")
    for name in CASES:
        opened = f", opens in {browser[name] * 1000:5.0f} ms (Chromium)" if browser else ""
        print(f"  report {name:<28}  {commands[name] * 1000:6.0f} ms command, {api[name] * 1000:5.0f} ms "
              f"page_html, {sizes[name] / 2**20:.2f} MiB{opened}")


if __name__ == "__main__":
    main()
