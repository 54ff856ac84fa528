"""Charts: every kind renders to a valid PNG, SVG and PDF of sensible size, deterministically; --plot on sweep, compare
and table; the overwrite rule; a clear exit 2 without matplotlib."""

from __future__ import annotations

import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from shufflecalc.errors import ShufflecalcError
from shufflecalc.report.plot import PlotData, PlotPoint, choose_kind, render_plot

from ..conftest import blocked_env

pytest.importorskip("matplotlib")


def sweep_points() -> list[PlotPoint]:
    from shufflecalc.analysis.cost import analyze

    points = []
    for width in (0.5, 1.0, 2.0):
        for g in (1, 2, 3, 4, 8):
            a = analyze("shufflenet", g=g, width=width)
            points.append(PlotPoint(f"g={g} width={width}", "shufflenet", {"g": g, "width": width}, a.macs, a.params))
    return points


DATA = {
    "scatter": PlotData("scatter", [PlotPoint("mobilenet", "mobilenet", {}, 568_740_352, 4_231_976),
                                    PlotPoint("shufflenet", "shufflenet", {"g": 3}, 137_460_672, 1_864_728),
                                    PlotPoint("mobilenet", "mobilenet", {}, 569_000_000, 4_200_000, published=True)]),
    "lines": PlotData("lines", sweep_points()),
    "latency": PlotData("latency", [PlotPoint("a", "shufflenet", {"g": 3}, 137_460_672, 1_864_728, latency_ms=4.2),
                                    PlotPoint("b", "mobilenet", {}, 568_740_352, 4_231_976, latency_ms=6.1)]),
}


def check_image(data: bytes, fmt: str) -> None:
    """A valid image of sensible size: PNG signature and dimensions, SVG that parses, a complete PDF."""
    assert 5_000 < len(data) < 2_000_000, len(data)
    if fmt == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
        width, height = struct.unpack(">II", data[16:24])
        assert 600 <= width <= 3000 and 400 <= height <= 2000 and width > height
    elif fmt == "svg":
        root = ET.fromstring(data)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert float(root.attrib["width"].removesuffix("pt")) > 400
    else:
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")


@pytest.mark.parametrize("kind", ["scatter", "lines", "latency"])
@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_every_kind_renders_a_valid_image(kind: str, fmt: str) -> None:
    check_image(render_plot(DATA[kind], kind, fmt), fmt)


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_rendering_is_deterministic(fmt: str) -> None:
    assert render_plot(DATA["lines"], "lines", fmt) == render_plot(DATA["lines"], "lines", fmt)


def test_svg_has_labels_legend_and_title() -> None:
    svg = render_plot(DATA["lines"], "lines", "svg").decode()
    # text is drawn as glyph paths; matplotlib keeps each text as a commented element id'd by its role
    for part in ("legend_1", "text_1"):
        assert part in svg


def test_choose_kind() -> None:
    assert choose_kind(DATA["scatter"]) == "scatter"
    assert choose_kind(DATA["lines"]) == "lines"
    assert choose_kind(DATA["latency"]) == "latency"
    assert choose_kind(DATA["lines"], "scatter") == "scatter"
    with pytest.raises(ShufflecalcError, match="no latency was measured"):
        choose_kind(DATA["scatter"], "latency")
    with pytest.raises(ShufflecalcError, match="needs a parameter g"):
        choose_kind(DATA["scatter"], "lines")


# --- the commands --------------------------------------------------------------------------------------------------


def test_sweep_plot(cli, tmp_path) -> None:
    path = tmp_path / "sweep.png"
    r = cli("sweep", "shufflenet", "--g", "1,2,3,4,8", "--width", "0.5,1", "--plot", str(path), "-f", "csv")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.count("\n") == 11  # the table still goes to stdout
    check_image(path.read_bytes(), "png")
    r = cli("sweep", "shufflenet", "--g", "1,2", "--plot", str(path))
    assert r.exit_code == 2 and "file exists; use --force" in r.stderr and r.stdout == ""
    r = cli("sweep", "shufflenet", "--width", "0.5,1", "--plot", str(path), "--force", "--plot-kind", "scatter")
    assert r.exit_code == 0 and f"wrote {path}" in r.stderr


def test_compare_and_table_plots(cli, tmp_path) -> None:
    svg, pdf = tmp_path / "compare.svg", tmp_path / "table.pdf"
    assert cli("compare", "mobilenet", "shufflenet", "--plot", str(svg)).exit_code == 0
    check_image(svg.read_bytes(), "svg")
    assert cli("table", "shufflenet-vs-mobilenet", "--plot", str(pdf), "-f", "json").exit_code == 0
    check_image(pdf.read_bytes(), "pdf")


@pytest.mark.parametrize("args, message", [
    (["--plot", "chart.gif"], "expected a .png, .svg or .pdf file"),
    (["--plot", "x.png", "--plot-kind", "pie"], "--plot-kind 'pie'"),
    (["--plot", "x.png", "--plot-kind", "latency"], "no latency was measured"),
    (["--plot", "same.png", "--output", "same.png", "-f", "csv"], "same file as --output"),
])
def test_plot_bad_input(cli, tmp_path, monkeypatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    r = cli("sweep", "shufflenet", "--g", "1,2", *args)
    assert r.exit_code == 2 and message in r.stderr and r.stderr.count("\n") == 1


def test_without_matplotlib_plot_exits_2_with_an_install_hint(tmp_path) -> None:
    env = blocked_env(tmp_path, 'matplotlib', 'torch', 'fvcore')
    out = tmp_path / "chart.png"
    cmd = [sys.executable, "-m", "shufflecalc", "sweep", "shufflenet", "--g", "1,2", "--plot", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == "" and not out.exists()
    assert "pip install 'shufflecalc[plot]'" in r.stderr and "Traceback" not in r.stderr
    # without --plot, sweep and table need neither matplotlib nor torch
    for args in (["sweep", "shufflenet", "--g", "1,2"], ["table", "shufflenet-table1"]):
        r = subprocess.run([sys.executable, "-m", "shufflecalc", *args], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
