"""The sweep and table examples (docs/sweeps.md, moved from the README) are real, current output; its claims about
them hold."""

from __future__ import annotations

import re
import shlex

import pytest

from shufflecalc.analysis.cost import analyze

from .conftest import ROOT, run_cli

README = (ROOT / "docs" / "sweeps.md").read_text()
EXAMPLES = re.findall(r"`(shufflecalc (?:sweep|table) [^`]*)`:\n\n```\n(.*?)```", README, re.S)


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("command, shown", EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_example_output_is_current(command: str, shown: str) -> None:
    assert run_cli(*shlex.split(command)[1:]).stdout == shown


def test_memory_traffic_claim() -> None:
    """'g = 8 moves 2.48x the elements of g = 1 at 1x, 2.55x at 0.5x' (memory access)."""
    assert "g = 8 moves 2.48x the elements of\ng = 1 at 1x, 2.55x at 0.5x" in README
    for width, shown in ((1.0, 2.48), (0.5, 2.55)):
        g8, g1 = (analyze("shufflenet", g=g, width=width).memory_access for g in (8, 1))
        assert round(g8 / g1, 2) == shown


def test_plot_image_is_committed() -> None:
    assert "(shufflenet-widths.png)" in README  # docs/sweeps.md, next to the image
    assert (ROOT / "docs" / "shufflenet-widths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
