"""Take the screenshots of `shufflecalc report` pages that docs/report.md and the README show.

    python docs/report_screenshots.py              # rewrites docs/report-*.png
    python docs/report_screenshots.py --out DIR    # writes them to DIR instead

Each page is made by the command a user runs (`python -m shufflecalc report ... -o page.html`), opened from disk in
headless Chromium (Debian's, /usr/bin/chromium) driven by Playwright, clicked where a screenshot needs it, and shot
from its top down to the end of the sections it shows. Needs the report extra (`pip install 'shufflecalc[report]'`)
and Chromium (`apt-get install chromium`); docs/figures.py lists these files among the manual's figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1400, 2400


@dataclass(frozen=True)
class Shot:
    args: tuple[str, ...]  # shufflecalc report's arguments
    first: str  # the section the image starts at (its top; "" for the page's top)
    last: str  # the section the image ends with
    click: str = ""  # a graph node to click first (a block: it expands, and its closed form shows beside)


SCREENSHOTS: dict[str, Shot] = {
    "report-resnet50.png": Shot(("resnet50",), "", "treemap-section"),
    "report-resnet50-graph.png": Shot(("resnet50",), "graph-section", "graph-section", click="g:layer1.unit0"),
    "report-mobilenet-shufflenet.png": Shot(("mobilenet", "shufflenet", "--g", "3"), "", "comparison"),
}


def take(name: str, out_dir: Path, browser, tmp: Path) -> Path:
    shot = SCREENSHOTS[name]
    page_file = tmp / (Path(name).stem + ".html")
    subprocess.run([sys.executable, "-m", "shufflecalc", "report", *shot.args, "-o", str(page_file), "--force"],
                   check=True, capture_output=True)
    # tall enough for every section shot at once: resizing the window (as a full-page screenshot does) makes Chromium
    # send the page a mouse move, and the treemap's breadcrumb would show the path under that pointer
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_file.as_uri())
    page.wait_for_selector("body[data-ready=true]")
    if shot.click:
        page.locator("#graph").scroll_into_view_if_needed()
        x, y = page.evaluate("id => { const p = window.shufflecalcReport.cy.getElementById(id).renderedPosition(); "
                             "return [p.x, p.y]; }", shot.click)
        box = page.locator("#graph").bounding_box()
        page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_timeout(600)  # the treemap's transition
    top = page.evaluate("id => id ? document.getElementById(id).getBoundingClientRect().top + window.scrollY : 0",
                        shot.first)
    bottom = page.evaluate("id => document.getElementById(id).getBoundingClientRect().bottom + window.scrollY",
                           shot.last)
    target = out_dir / name
    if bottom > HEIGHT:
        raise SystemExit(f"{name}: the sections end at {bottom:.0f} px, below the window's {HEIGHT} px")
    page.screenshot(path=str(target), clip={"x": 0, "y": top, "width": WIDTH, "height": bottom - top})
    page.close()
    if errors:
        raise SystemExit(f"{name}: the page logged errors: {errors}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="folder to write the screenshots to (default: docs/)")
    parser.add_argument("names", nargs="*", help=f"screenshots to take (default: all of {', '.join(SCREENSHOTS)})")
    args = parser.parse_args()
    for name in args.names:
        if name not in SCREENSHOTS:
            parser.error(f"unknown screenshot {name!r} (screenshots: {', '.join(SCREENSHOTS)})")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        for name in args.names or SCREENSHOTS:
            print(take(name, args.out, browser, Path(tmp)))
        browser.close()


if __name__ == "__main__":
    main()
