"""Charts: every kind renders to a valid PNG, SVG and PDF of sensible size, deterministically; --plot on sweep, compare
and table; the overwrite rule; a clear exit 2 without matplotlib."""

from __future__ import annotations

import dataclasses
import math
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from shufflecalc.errors import ShufflecalcError
from shufflecalc.report.plot import PlotData, PlotPoint, choose_kind, from_analyses, render_plot

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


# --- figures a reader can use: measured from matplotlib's own text extents --------------------------------------------


@pytest.fixture
def figures(monkeypatch):
    """The Figures that render_plot saves (from the commands too), captured as they are written."""
    from matplotlib.figure import Figure

    saved: list[Any] = []
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        saved.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return saved


@dataclasses.dataclass
class Layout:
    """A drawn figure measured in display coordinates (pixels)."""

    title: str
    title_boxes: list[Any]
    figure: Any
    frame: Any  # the axes
    labels: list[tuple[str, Any]]  # (text, box) of each point label
    legends: list[tuple[Any, list[str]]]  # (box, entry texts)
    points: list[tuple[float, float, float]]  # (x, y, marker radius) of every data marker
    caption: str


def measure(fig: Any) -> Layout:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    (ax,) = fig.axes
    scale = fig.dpi / 72
    points = []
    for coll in ax.collections:
        xy = coll.get_offset_transform().transform(coll.get_offsets()) if len(coll.get_offsets()) else []
        sizes = list(coll.get_sizes()) or [36.0]
        for i, (x, y) in enumerate(xy):
            if math.isfinite(x) and math.isfinite(y):
                points.append((x, y, math.sqrt(sizes[i % len(sizes)]) / 2 * scale))
    for line in ax.lines:
        for x, y in line.get_transform().transform(list(zip(*line.get_data(), strict=True))):
            if math.isfinite(x) and math.isfinite(y):
                points.append((x, y, line.get_markersize() / 2 * scale))
    legends = [leg for leg in [ax.get_legend(), *fig.legends] if leg is not None and leg.get_visible()]
    titles = [t for t in (ax.title, ax._left_title, ax._right_title, fig._suptitle) if t is not None and t.get_text()]
    caption = fig._supxlabel.get_text() if fig._supxlabel is not None else ""
    return Layout(title=" ".join(" ".join(t.get_text().split()) for t in titles),  # as one line
                  title_boxes=[t.get_window_extent(renderer) for t in titles],
                  figure=fig.bbox, frame=ax.get_window_extent(renderer),
                  labels=[(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts
                          if t.get_visible() and t.get_text()],
                  legends=[(leg.get_window_extent(renderer), [t.get_text() for t in leg.get_texts()])
                           for leg in legends],
                  points=points, caption=caption)


def overlap(a: Any, b: Any, tolerance: float = 0.5) -> bool:
    return a.x0 + tolerance < b.x1 and b.x0 + tolerance < a.x1 and a.y0 + tolerance < b.y1 and b.y0 + tolerance < a.y1


def inside(inner: Any, outer: Any, tolerance: float = 0.5) -> bool:
    return (inner.x0 >= outer.x0 - tolerance and inner.x1 <= outer.x1 + tolerance
            and inner.y0 >= outer.y0 - tolerance and inner.y1 <= outer.y1 + tolerance)


def covers(box: Any, x: float, y: float, r: float) -> bool:
    """Whether the box covers any of a marker (centre x, y, radius r)."""
    dx, dy = max(box.x0 - x, 0.0, x - box.x1), max(box.y0 - y, 0.0, y - box.y1)
    return dx * dx + dy * dy < r * r or (dx == 0 and dy == 0)


def check_layout(layout: Layout) -> None:
    """No two labels overlap, every label inside the axes, no legend over a data point, the title inside the
    figure."""
    for i, (text, box) in enumerate(layout.labels):
        assert inside(box, layout.frame), f"label {text!r} leaves the axes: {box} not in {layout.frame}"
        for other, box2 in layout.labels[i + 1:]:
            assert not overlap(box, box2), f"labels {text!r} and {other!r} overlap"
    for box, entries in layout.legends:
        for x, y, r in layout.points:
            assert not covers(box, x, y, r), f"the legend {entries} covers the data point at ({x:.0f}, {y:.0f})"
        for text, label in layout.labels:
            assert not overlap(box, label), f"the legend covers the label {text!r}"
    for box in layout.title_boxes:
        assert inside(box, layout.figure), "the title leaves the figure"


def drawn(data: PlotData, kind: str, figures: list[Any]) -> Layout:
    render_plot(data, kind, "png")
    return measure(figures[-1])


def command(cli, tmp_path, figures: list[Any], *args: str) -> Layout:
    r = cli(*args, "--plot", str(tmp_path / "chart.png"), "--force")
    assert r.exit_code == 0, r.stderr
    return measure(figures[-1])


def bench_doc(batch: int = 1) -> dict[str, Any]:
    """What compare --latency passes to the plot: `latency.bench`'s document (its environment and options)."""
    env = {"device": "cpu", "device_name": "Intel(R) Xeon(R) Test CPU", "threads": 4, "dtype": "float32",
           "mode": "eager", "memory_formats": ["contiguous"]}
    return {"environment": env, "options": {"device": "cpu", "batches": [batch], "threads": 4}, "results": []}


def latency_models() -> tuple[list[str], list[Any], list[float]]:
    """`compare mobilenet shufflenet:g=3 shufflenet:g=8 --latency`: labels, analyses, median latencies (no torch)."""
    from shufflecalc.analysis.cost import analyze, labels

    analyses = [analyze("mobilenet"), analyze("shufflenet", g=3), analyze("shufflenet", g=8)]
    return labels(analyses), analyses, [6.12, 3.05, 3.4]


@pytest.mark.parametrize("kind", ["scatter", "lines", "latency"])
def test_every_kind_is_laid_out_for_a_reader(kind: str, figures) -> None:
    layout = drawn(DATA[kind], kind, figures)
    check_layout(layout)
    assert kind in layout.title
    if kind != "lines":  # few points: every one labelled
        assert len(layout.labels) == len({(p.label, p.macs) for p in DATA[kind].points if not p.published})


def test_sweep_of_16_points_labels_every_point_without_overlap(cli, tmp_path, figures) -> None:
    layout = command(cli, tmp_path, figures, "sweep", "mobilenet", "--width", "0.25,0.5,0.75,1",
                     "--resolution", "128:224:32")
    check_layout(layout)
    shown = {text.replace("\n", " ") for text, _ in layout.labels}
    omitted = 16 - len(shown)
    assert omitted == 0 or f"{omitted} of 16 point labels left out" in layout.caption
    assert len(shown) >= 14
    for word in ("mobilenet", "width", "resolution", "0.25", "224"):
        assert word in layout.title


def test_compare_latency_labels_stay_in_the_axes(figures) -> None:
    names, analyses, ms = latency_models()
    points = [PlotPoint(n, a.name, a.config, a.macs, a.params, latency_ms=t) for n, a, t in zip(names, analyses, ms,
                                                                                               strict=True)]
    layout = drawn(PlotData("MACs vs median latency", points), "latency", figures)
    check_layout(layout)
    assert {text for text, _ in layout.labels} == {"mobilenet", "shufflenet:g=3", "shufflenet:g=8"}


def test_compare_latency_title_names_the_device_threads_and_batch(figures) -> None:
    names, analyses, ms = latency_models()
    data = from_analyses(names, analyses, latency_ms=ms, bench=bench_doc(8))
    layout = drawn(data, choose_kind(data), figures)
    check_layout(layout)
    for word in ("mobilenet", "shufflenet:g=8", "Intel(R) Xeon(R) Test CPU", "4 threads", "batch 8", "float32"):
        assert word in layout.title
    assert "batch 8" in figures[-1].axes[0].get_ylabel()


def test_shufflenet_widths_table_legend_covers_no_data(cli, tmp_path, figures) -> None:
    layout = command(cli, tmp_path, figures, "table", "shufflenet-widths")
    check_layout(layout)
    assert "shufflenet-widths" in layout.title and "Table 2" in layout.title
    assert layout.legends and "published (paper)" in layout.legends[0][1]


@pytest.mark.parametrize("args, words", [
    (["compare", "mobilenet", "shufflenet"], ["MACs vs parameters", "mobilenet", "shufflenet"]),
    (["table", "mobilenet-width-resolution"], ["mobilenet-width-resolution", "Tables 6 and 7"]),
    (["table", "shufflenet-vs-mobilenet"], ["shufflenet-vs-mobilenet"]),
    (["table", "shufflenet-table1"], ["shufflenet-table1"]),
    (["sweep", "shufflenet", "--g", "1,2,3,4,8", "--width", "0.5,1"], ["shufflenet", "g", "width"]),
])
def test_command_plots_are_laid_out_and_titled(cli, tmp_path, figures, args: list[str], words: list[str]) -> None:
    layout = command(cli, tmp_path, figures, *args)
    check_layout(layout)
    for word in words:
        assert word in layout.title


def test_past_16_points_width_is_still_shown(cli, tmp_path, figures) -> None:
    layout = command(cli, tmp_path, figures, "sweep", "shufflenet", "--g", "1,2,3,4,8", "--width",
                     "0.25,0.5,1,1.5,2", "--plot-kind", "scatter")
    check_layout(layout)
    entries = [text for _, texts in layout.legends for text in texts]
    for value in ("g=1", "g=8", "width=0.25", "width=0.5", "width=1.0", "width=1.5", "width=2.0"):
        assert value in entries, entries
    radii = {round(r, 3) for _, _, r in layout.points}
    assert len(radii) >= 5  # the widths as marker sizes


def test_labels_that_fit_nowhere_are_left_out_and_the_caption_says_so(figures) -> None:
    crowd = [PlotPoint(f"configuration number {i}", "m", {"k": i}, 100_000_000 + i * 10_000, 2_000_000 + i * 1000)
             for i in range(12)]
    layout = drawn(PlotData("crowd", crowd), "scatter", figures)
    check_layout(layout)
    assert 0 < len(layout.labels) < 12
    assert f"{12 - len(layout.labels)} of 12 point labels left out" in layout.caption


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


def test_the_first_plot_says_the_font_cache_is_being_built(cli, tmp_path, monkeypatch) -> None:
    """Without matplotlib's font cache the first --plot takes seconds: it says so, once, on stderr."""
    pytest.importorskip("matplotlib")
    from shufflecalc.report import plot

    monkeypatch.setattr(plot, "font_cache_ready", lambda: False)
    r = cli("compare", "mobilenet", "shufflenet", "--plot", str(tmp_path / "a.png"))
    assert r.exit_code == 0 and "building its font cache" in r.stderr
    monkeypatch.setattr(plot, "font_cache_ready", lambda: True)
    r = cli("compare", "mobilenet", "shufflenet", "--plot", str(tmp_path / "b.png"))
    assert "font cache" not in r.stderr
    monkeypatch.undo()
    assert plot.font_cache_ready()  # this machine has built it by now
