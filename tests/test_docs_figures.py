"""The manual's figures come from docs/figures.py: every image a page shows is listed there, and each command still
draws a valid image."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+\.(?:png|svg|jpg))\)")


def _figures_module():
    spec = importlib.util.spec_from_file_location("docs_figures", DOCS / "figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shown_images() -> set[str]:
    """Every local image the manual and the README show, relative to docs/."""
    found = set()
    for page in [*DOCS.glob("*.md"), ROOT / "README.md"]:
        for target in IMAGE.findall(page.read_text()):
            if "://" in target:
                continue
            path = (page.parent / target).resolve()
            found.add(path.relative_to(DOCS).as_posix())
    return found


def test_every_image_shown_is_generated_by_a_script() -> None:
    figures = _figures_module()
    generated = set(figures.FIGURES) | set(figures.RESULT_FIGURES) | set(getattr(figures, "SCREENSHOTS", ()))
    shown = shown_images()
    assert shown, "the manual shows no image: the pattern is broken"
    assert shown <= generated, f"images not made by docs/figures.py: {sorted(shown - generated)}"
    for name in shown:
        assert (DOCS / name).is_file(), f"docs/{name} is shown but missing"


def test_figures_script_draws_every_figure(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    figures = _figures_module()
    subprocess.run([sys.executable, str(DOCS / "figures.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    for name in [*figures.FIGURES, *figures.RESULT_FIGURES]:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, name
