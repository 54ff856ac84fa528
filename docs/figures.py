"""Regenerate every figure of the manual (docs/*.png) with the commands that make them.

    python docs/figures.py              # rewrites the figures in docs/
    python docs/figures.py --out DIR    # writes them to DIR instead (tests/test_docs_figures.py does this)

Every image a page of the manual shows is listed here with the shufflecalc command that draws it, so no figure is
made by hand and none drifts from the code: tests/test_docs_figures.py checks that each image referenced in docs/
is produced by this script and that every command still draws a valid PNG. Needs the plot extra
(`pip install 'shufflecalc[plot]'`); the report page's screenshots need its browser (see docs/report.md).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
RESULTS = DOCS.parent / "benchmarks" / "results"
PROFILE = RESULTS / "predict-cpu-amd-epyc-profile.json"  # made by benchmarks/predict.py (shufflecalc calibrate)

# file name in docs/ -> the shufflecalc arguments that draw it (the file is passed with --plot ... --force)
FIGURES: dict[str, list[str]] = {
    "shufflenet-widths.png": ["table", "shufflenet-widths"],
    "predict-roofline.png": ["predict", "shufflenet", "--g", "3", "--profile", str(PROFILE)],
}

# Figures of measured results, drawn from the committed results file by the benchmark that measured them (which
# measures nothing when given --plot-from): file name in docs/ -> the script and its arguments, the file last.
RESULT_FIGURES: dict[str, list[str]] = {
    "predict-scatter.png": [str(DOCS.parent / "benchmarks" / "predict.py"), "--plot-from",
                            str(RESULTS / "predict-cpu-amd-epyc.json"), "--plot-to"],
}

# Screenshots of `shufflecalc report` pages (docs/report.md, the README): taken in headless Chromium by
# docs/report_screenshots.py (`python docs/report_screenshots.py`; the report extra and Chromium), whose SCREENSHOTS
# are these (tests/report/test_page.py holds the two lists equal).
SCREENSHOTS: tuple[str, ...] = ("report-resnet50.png", "report-resnet50-graph.png", "report-mobilenet-shufflenet.png")


def draw(name: str, out_dir: Path) -> Path:
    target = out_dir / name
    if name in RESULT_FIGURES:
        command = [sys.executable, *RESULT_FIGURES[name], str(target)]
    else:
        command = [sys.executable, "-m", "shufflecalc", *FIGURES[name], "--plot", str(target), "--force"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="folder to write the figures to (default: docs/)")
    every = [*FIGURES, *RESULT_FIGURES]
    parser.add_argument("names", nargs="*", help=f"figures to draw (default: all of {', '.join(every)})")
    args = parser.parse_args()
    for name in args.names or every:
        if name not in every:
            parser.error(f"unknown figure {name!r} (figures: {', '.join(every)})")
        print(draw(name, args.out))


if __name__ == "__main__":
    main()
