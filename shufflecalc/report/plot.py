"""Charts of sweeps, comparisons and paper tables (the optional ``plot`` extra: matplotlib).

Data in, image bytes out; the CLI writes the file. matplotlib is imported only when a chart is drawn, with the Agg
backend and no pyplot (no global figure state). Three kinds:

- ``scatter``: MACs (x) vs parameters (y), one marker per configuration; published values hollow. Up to 16 points
  each is labelled; beyond, the swept parameter with the most values is drawn as the marker's size (with a key in the
  legend) and the others as colours.
- ``lines``: MACs vs the number of groups g, one line per remaining configuration (e.g. per width).
- ``latency``: MACs (x) vs measured latency in ms (y), when the data carries a ``latency_ms`` value; the title names
  the device, threads, batch, dtype and mode.

Figures are laid out for a reader: labels are placed one by one at the first of several positions around their point
whose box (as the renderer measures it) overlaps no other label, legend or marker, stays inside the axes and is nearer
its own point than any other; a label that fits nowhere is left out and a caption says so. The legend goes where it
covers no data point (matplotlib's ``best``), else outside the axes, to the right.

MACs are conv+linear multiply-accumulates (`cost.CONVENTIONS`), plotted in millions. Output is deterministic where
matplotlib allows: a fixed SVG hash salt and no creation dates in SVG and PDF metadata.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shufflecalc.errors import MissingDependency, ShufflecalcError
from shufflecalc.spec.load import format_value

IMAGE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
KINDS = ("auto", "scatter", "lines", "latency")
MAX_LABELS = 16  # label every point up to this many; beyond, the swept values are drawn as colours and sizes
INSTALL_HINT = "plotting needs matplotlib: pip install 'shufflecalc[plot]' (or pip install matplotlib)"
TITLE_WIDTH = 80  # characters per title line


@dataclass(frozen=True)
class PlotPoint:
    """One configuration to draw. `published` points are a paper's values, drawn hollow next to the computed ones."""

    label: str
    model: str
    config: Mapping[str, Any] = field(default_factory=dict)
    macs: int | None = None
    params: int | None = None
    latency_ms: float | None = None
    published: bool = False


MACS_LABEL = "MACs (conv+linear multiply-accumulates), millions"
LATENCY_LABEL = "median latency, ms"


@dataclass(frozen=True)
class PlotData:
    title: str
    points: Sequence[PlotPoint]
    macs_label: str = MACS_LABEL  # what PlotPoint.macs counts (a paper table may leave the classifier out)
    subtitle: str = ""  # a second title line: the sweep's values, the compared models' settings, the timing setup
    latency_label: str = LATENCY_LABEL  # the latency axis (which batch)


def require_matplotlib() -> None:
    """Raise MissingDependency (exit 2 with an install hint) when matplotlib is not installed."""
    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingDependency(INSTALL_HINT)


def font_cache_ready() -> bool:
    """Whether matplotlib's font cache exists: without it, the first plot spends several seconds building it."""
    import matplotlib

    return any(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))


def choose_kind(data: PlotData, kind: str = "auto") -> str:
    """``auto``: latency when measured, lines when every point has a g and g varies, else scatter."""
    computed = [p for p in data.points if not p.published]
    if not computed:
        raise ShufflecalcError("--plot: nothing to plot (no valid configuration)")
    if kind == "auto":
        if any(p.latency_ms is not None for p in computed):
            return "latency"
        gs = [p.config.get("g") for p in computed]
        return "lines" if None not in gs and len(set(gs)) > 1 else "scatter"
    if kind not in KINDS:
        raise ShufflecalcError(f"--plot-kind {kind!r}: expected one of {', '.join(KINDS)}")
    if kind == "latency" and not any(p.latency_ms is not None for p in computed):
        raise ShufflecalcError("--plot-kind latency: no latency was measured")
    if kind == "lines" and (not computed or any("g" not in p.config for p in computed)):
        raise ShufflecalcError("--plot-kind lines: every configuration needs a parameter g")
    return kind


@contextmanager
def _style() -> Iterator[Any]:
    require_matplotlib()
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure  # noqa: F401 (fails here, not later, when matplotlib is broken)
    except ImportError as exc:  # installed but broken
        raise MissingDependency(f"{INSTALL_HINT} ({exc})") from None
    with matplotlib.rc_context({"svg.hashsalt": "shufflecalc", "font.size": 10, "axes.grid": True,
                                "grid.alpha": 0.3}):
        yield matplotlib


def render_plot(data: PlotData, kind: str, fmt: str) -> bytes:
    """Draw `data` as a `kind` chart and return the image (fmt: png, svg or pdf)."""
    with _style():
        return figure_bytes(draw_plot(data, kind), fmt)


def figure_bytes(fig: Any, fmt: str) -> bytes:
    """A finished Figure as image bytes (png, svg or pdf), without the dates and software version matplotlib would
    write into them (the same input, the same bytes); called inside `_style()`."""
    buf = io.BytesIO()
    metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}
    fig.savefig(buf, format=fmt, metadata=metadata[fmt])
    return buf.getvalue()


def draw_plot(data: PlotData, kind: str) -> Any:
    """The finished matplotlib Figure of `data` as a `kind` chart: laid out, its legend and labels placed."""
    with _style():
        fig, labels, _ = _draw(data, kind, caption=False)
        omitted = _place_labels(fig, labels)
        if omitted:  # again, with room for the caption that says so
            fig, labels, caption = _draw(data, kind, caption=True)
            caption.set_text(_omitted_text(_place_labels(fig, labels), len(labels)))
    return fig


def _omitted_text(omitted: int, total: int) -> str:
    if not omitted:
        return ""
    return f"{omitted} of {total} point labels left out: no room beside their points (see the table for every value)"


@dataclass
class _Label:
    text: str
    x: float
    y: float


def _draw(data: PlotData, kind: str, caption: bool) -> tuple[Any, list[_Label], Any]:
    """Data, axes, title and legend, laid out and then frozen (so that what is measured next stays where it is)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.5, 5.5), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)  # measures text as the PNG draws it
    ax = fig.add_subplot()
    labels = {"scatter": _scatter, "lines": _lines, "latency": _latency}[kind](ax, data)
    lines = [data.title, *data.subtitle.split("; ")] if data.subtitle else [data.title]
    title = "\n".join(textwrap.fill(t, TITLE_WIDTH, break_on_hyphens=False) for t in lines if t)
    ax.set_title(title, fontsize=11)
    # a caption under the x label, in the layout; its text is set once the labels are placed
    note = fig.supxlabel(_omitted_text(99, 99), fontsize=8, style="italic") if caption else None
    _place_legend(fig, ax)
    fig.draw_without_rendering()
    ax.set_xlim(ax.get_xlim())  # freeze the limits and the layout: the labels do not move them
    ax.set_ylim(ax.get_ylim())
    fig.set_layout_engine("none")
    return fig, labels, note


# --- geometry, in display coordinates (pixels) ------------------------------------------------------------------------


def data_points(ax: Any) -> list[tuple[float, float, float]]:
    """Every drawn marker of `ax`: (x, y, radius) in display coordinates, lines' vertices included."""
    import numpy as np

    points = []
    scale = ax.figure.dpi / 72
    for coll in ax.collections:
        offsets = coll.get_offsets()
        if not len(offsets):
            continue
        xy = coll.get_offset_transform().transform(offsets)
        sizes = np.broadcast_to(np.asarray(coll.get_sizes(), dtype=float), (len(xy),)) if len(coll.get_sizes()) \
            else np.full(len(xy), 36.0)
        for (x, y), s in zip(xy, sizes, strict=True):
            if np.isfinite(x) and np.isfinite(y):
                points.append((float(x), float(y), float(np.sqrt(s)) / 2 * scale))
    for line in ax.lines:
        xy = line.get_transform().transform(np.column_stack(line.get_data()).astype(float))
        radius = (line.get_markersize() / 2 if line.get_marker() not in (None, "", "None") else 1.0) * scale
        points += [(float(x), float(y), radius) for x, y in xy if np.isfinite(x) and np.isfinite(y)]
    return points


def _line_samples(ax: Any) -> list[tuple[float, float]]:
    """Points along the lines drawn (so that a legend is not put over a line either)."""
    import numpy as np

    samples = []
    for line in ax.lines:
        xy = line.get_transform().transform(np.column_stack(line.get_data()).astype(float))
        for (x0, y0), (x1, y1) in itertools.pairwise(xy):
            samples += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, 25)]
    return [(float(x), float(y)) for x, y in samples]


def _hits(box: Any, x: float, y: float, r: float = 0.0) -> bool:
    """Whether a circle (x, y, r) meets the box."""
    dx = max(box.x0 - x, 0.0, x - box.x1)
    dy = max(box.y0 - y, 0.0, y - box.y1)
    return dx * dx + dy * dy < r * r or (dx == 0 and dy == 0)


def _overlap(a: Any, b: Any, pad: float = 0.0) -> bool:
    return a.x0 < b.x1 + pad and b.x0 < a.x1 + pad and a.y0 < b.y1 + pad and b.y0 < a.y1 + pad


def _inside(inner: Any, outer: Any, pad: float = 0.0) -> bool:
    return (inner.x0 >= outer.x0 + pad and inner.x1 <= outer.x1 - pad and inner.y0 >= outer.y0 + pad
            and inner.y1 <= outer.y1 - pad)


def _distance(box: Any, x: float, y: float) -> float:
    dx = max(box.x0 - x, 0.0, x - box.x1)
    dy = max(box.y0 - y, 0.0, y - box.y1)
    return float((dx * dx + dy * dy) ** 0.5)


# --- legend and labels ------------------------------------------------------------------------------------------------


def _place_legend(fig: Any, ax: Any) -> None:
    """matplotlib's ``best`` place inside the axes if it covers no marker and no line there, else outside, right. No
    legend for a single series (the title names it)."""
    handles, names = ax.get_legend_handles_labels()
    if len(handles) < 2:
        return
    legend = ax.legend(handles, names, loc="best", fontsize=9)
    fig.draw_without_rendering()
    box = legend.get_window_extent().padded(2)
    covered = any(_hits(box, x, y, r) for x, y, r in data_points(ax)) or \
        any(_hits(box, x, y) for x, y in _line_samples(ax))
    if covered:
        legend.remove()
        ax.legend(handles, names, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=9)


# (dx, dy) in points from the point, and the text's alignment there: beside, then above/below, then further away
_AROUND = [(5, 4, "left", "bottom"), (5, -4, "left", "top"), (-5, 4, "right", "bottom"), (-5, -4, "right", "top"),
           (0, 7, "center", "bottom"), (0, -7, "center", "top"), (7, 0, "left", "center"), (-7, 0, "right", "center")]
_CANDIDATES = [(dx * k, dy * k, ha, va) for k in (1, 2) for dx, dy, ha, va in _AROUND]


def _place_labels(fig: Any, labels: Sequence[_Label]) -> int:
    """Annotate each point at the first candidate position that fits (see the module's docstring); the number of
    labels left out."""
    if not labels:
        return 0
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    markers = data_points(ax)
    taken = []
    legend = ax.get_legend()
    if legend is not None:
        taken.append(legend.get_window_extent(renderer).padded(2))
    omitted = 0
    seen: set[tuple[str, float, float]] = set()
    for label in labels:
        key = (label.text, round(label.x, 9), round(label.y, 9))
        if key in seen:  # the same label at the same point (a table listing one configuration twice)
            continue
        seen.add(key)
        own = ax.transData.transform((label.x, label.y))
        others = [(x, y) for x, y, _ in markers if abs(x - own[0]) > 0.5 or abs(y - own[1]) > 0.5]
        texts = [label.text] + ([label.text.replace(" ", "\n", 1)] if " " in label.text else [])
        ann = ax.annotate(texts[0], (label.x, label.y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ann.set_in_layout(False)
        for dx, dy, ha, va in _CANDIDATES:
            box = None
            for text in texts:
                ann.set_text(text)
                ann.set_position((dx, dy))
                ann.set_horizontalalignment(ha)
                ann.set_verticalalignment(va)
                box = ann.get_window_extent(renderer)
                mine = _distance(box, own[0], own[1])
                fits = (_inside(box, frame, 2) and not any(_overlap(box, t) for t in taken)
                        and not any(_hits(box, x, y, r + 1) for x, y, r in markers)
                        and all(_distance(box, x, y) > mine for x, y in others))
                if fits:
                    break
                box = None
            if box is not None:
                taken.append(box)
                break
        else:
            ann.remove()
            omitted += 1
    return omitted


# --- the kinds --------------------------------------------------------------------------------------------------------


def _by_model(points: Sequence[PlotPoint]) -> dict[str, list[PlotPoint]]:
    groups: dict[str, list[PlotPoint]] = {}
    for p in points:
        groups.setdefault(p.model, []).append(p)
    return groups


def _inner_key(points: Sequence[PlotPoint]) -> str | None:
    """The swept parameter with the most values (the last of equals), or None when none varies."""
    keys = list(dict.fromkeys(k for p in points for k in p.config))
    counts = {k: len({format_value(p.config.get(k)) for p in points}) for k in keys}
    varying = [k for k in keys if counts[k] > 1]
    return max(reversed(varying), key=lambda k: counts[k]) if varying else None


def _scatter_series(points: Sequence[PlotPoint]) -> tuple[dict[str, list[PlotPoint]], str | None]:
    """Few points: one colour per model, every point labelled; no size key. Many: one colour per value combination
    of the swept parameters except the one with the most values, which is drawn as the marker's size (the key)."""
    if len(points) <= MAX_LABELS:
        return _by_model(points), None
    inner = _inner_key(points)
    groups = _series(points, skip=(inner,) if inner else ())
    return (groups if len(groups) <= 10 else _by_model(points)), inner


def _series(points: Sequence[PlotPoint], skip: Sequence[str | None] = ()) -> dict[str, list[PlotPoint]]:
    """Points grouped by model plus the configuration values that differ between points (except `skip`)."""
    keys = sorted({k for p in points for k in p.config if k not in skip})
    varying = [k for k in keys if len({format_value(p.config.get(k)) for p in points}) > 1]
    models = {p.model for p in points}
    groups: dict[str, list[PlotPoint]] = {}
    for p in points:
        parts = [p.model] if len(models) > 1 or not varying else []
        parts += [f"{k}={format_value(p.config[k])}" for k in varying if k in p.config]
        groups.setdefault(" ".join(parts), []).append(p)
    return groups


def _millions(n: float | None) -> float:
    return float("nan") if n is None else n / 1e6


def _log_if_wide(ax: Any, values: Sequence[float], axis: str) -> None:
    """A log axis when the values span more than 20x (widths 0.25x to 2x do), with plain tick labels (20, 50, 100)."""
    finite = [v for v in values if v == v and v > 0]
    if not finite or max(finite) / min(finite) <= 20:
        return
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def _from_zero(ax: Any, values: Sequence[float], axis: str) -> None:
    """A linear axis from zero (so that ratios read at a glance) to 15% past the largest value (room for labels)."""
    if (ax.get_xscale() if axis == "x" else ax.get_yscale()) != "linear":
        return
    finite = [v for v in values if v == v]
    top = max(finite, default=0.0) * 1.15 or 1.0
    (ax.set_xlim if axis == "x" else ax.set_ylim)(0, top)


def _labels(points: Sequence[PlotPoint], xs: Sequence[float], ys: Sequence[float]) -> list[_Label]:
    return [_Label(p.label, x, y) for p, x, y in zip(points, xs, ys, strict=False) if x == x and y == y]


def _sizes(points: Sequence[PlotPoint], key: str | None) -> tuple[dict[str, float], list[Any]]:
    """Marker areas (points²) per value of `key`, growing with the value, and the values in order."""
    if key is None:
        return {}, []
    values = sorted({p.config.get(key) for p in points if key in p.config},
                    key=lambda v: (not isinstance(v, int | float), v if isinstance(v, int | float) else str(v)))
    step = 0 if len(values) < 2 else 130 / (len(values) - 1)
    return {format_value(v): 18 + i * step for i, v in enumerate(values)}, values


def _scatter(ax: Any, data: PlotData) -> list[_Label]:
    points = data.points
    computed = [p for p in points if not p.published and p.macs is not None and p.params is not None]
    published = [p for p in points if p.published and p.macs is not None and p.params is not None]
    series, inner = _scatter_series(computed)
    sizes, values = _sizes(computed, inner)
    labels: list[_Label] = []
    for i, (name, group) in enumerate(series.items()):
        xs, ys = [_millions(p.macs) for p in group], [_millions(p.params) for p in group]
        s = [sizes.get(format_value(p.config.get(inner)), 36) for p in group] if inner else 36
        ax.scatter(xs, ys, s=s, color=f"C{i % 10}", label=name or "computed", zorder=3,
                   edgecolors="white" if inner else "face", linewidths=0.5)
        if len(computed) <= MAX_LABELS:
            labels += _labels(group, xs, ys)
    if published:
        xs, ys = [_millions(p.macs) for p in published], [_millions(p.params) for p in published]
        ax.scatter(xs, ys, s=70, facecolors="none", edgecolors="black", label="published (paper)", zorder=2)
    for v in _sample(values):  # the size key
        ax.scatter([], [], s=sizes[format_value(v)], color="0.45", label=f"{inner}={format_value(v)}")
    allx = [_millions(p.macs) for p in computed + published]
    ally = [_millions(p.params) for p in computed + published]
    ax.margins(0.12)  # room for the labels
    _log_if_wide(ax, allx, "x")
    _log_if_wide(ax, ally, "y")
    _from_zero(ax, allx, "x")
    _from_zero(ax, ally, "y")
    ax.set_xlabel(data.macs_label)
    ax.set_ylabel("parameters, millions")
    return labels


def _sample(values: Sequence[Any], most: int = 8) -> list[Any]:
    """At most `most` of the values for a key, first and last included."""
    if len(values) <= most:
        return list(values)
    return [values[round(i * (len(values) - 1) / (most - 1))] for i in range(most)]


def _lines(ax: Any, data: PlotData) -> list[_Label]:
    points = data.points
    computed = [p for p in points if not p.published and p.macs is not None]
    published = [p for p in points if p.published and p.macs is not None]
    gs: set[Any] = set()
    for i, (name, group) in enumerate(_series(computed, skip=("g",)).items()):
        group = sorted(group, key=lambda p: p.config["g"])
        xs, ys = [p.config["g"] for p in group], [_millions(p.macs) for p in group]
        gs.update(xs)
        ax.plot(xs, ys, marker="o", color=f"C{i % 10}", label=name or "computed", zorder=3)
        mine = [q for q in published if any(_same(q, p) for p in group)]
        if mine:
            ax.scatter([q.config["g"] for q in mine], [_millions(q.macs) for q in mine], s=70, facecolors="none",
                       edgecolors=f"C{i % 10}", zorder=2)
    if published:
        ax.scatter([], [], s=70, facecolors="none", edgecolors="black", label="published (paper)")
    _log_if_wide(ax, [_millions(p.macs) for p in computed], "y")
    ax.set_xticks(sorted(gs))
    ax.set_xlabel("groups g of the 1x1 group convolutions")
    ax.set_ylabel(data.macs_label)
    return []


def _same(a: PlotPoint, b: PlotPoint) -> bool:
    return a.model == b.model and dict(a.config) == dict(b.config)


def _latency(ax: Any, data: PlotData) -> list[_Label]:
    computed = [p for p in data.points if not p.published and p.macs is not None and p.latency_ms is not None]
    labels: list[_Label] = []
    for i, (name, group) in enumerate(_by_model(computed).items()):
        xs, ys = [_millions(p.macs) for p in group], [float(p.latency_ms or 0) for p in group]
        ax.scatter(xs, ys, s=36, color=f"C{i % 10}", label=name or "measured", zorder=3)
        if len(computed) <= MAX_LABELS:
            labels += _labels(group, xs, ys)
    _from_zero(ax, [_millions(p.macs) for p in computed], "x")
    _from_zero(ax, [float(p.latency_ms or 0) for p in computed], "y")
    ax.set_xlabel(data.macs_label)
    ax.set_ylabel(data.latency_label)
    return labels


# --- data from the commands' results ----------------------------------------------------------------------------------


def _values_text(values: Sequence[Any]) -> str:
    texts = [format_value(v) for v in values]
    return ", ".join(texts) if len(texts) <= 6 else f"{texts[0]} to {texts[-1]} ({len(texts)} values)"


def from_sweep(sweep: Any) -> PlotData:
    """A `sweep.Sweep`'s valid rows; each point labelled by its swept values (and model, when several)."""
    several = len(sweep.models) > 1
    points = []
    for r in sweep.rows:
        if not r.valid:
            continue
        text = " ".join(f"{k}={format_value(v)}" for k, v in r.values.items())
        label = f"{r.model} {text}".strip() if several or not text else text
        points.append(PlotPoint(label, r.model, dict(r.values), r.metrics.get("macs"), r.metrics.get("params"),
                                r.metrics.get("latency_ms")))
    swept = list(sweep.params)
    title = f"shufflecalc sweep of {', '.join(sweep.models)}" + (f" over {' × '.join(swept)}" if swept else "")
    parts = []
    for k in swept:
        values = {format_value(p.config[k]): p.config[k] for p in points if k in p.config}
        ordered = sorted(values.values(), key=lambda v: (not isinstance(v, int | float), str(v) if not
                                                         isinstance(v, int | float) else v))
        parts.append(f"{k}: {_values_text(ordered)}")
    subtitle = "; ".join(parts) + f" ({len(points)} configurations)"
    return PlotData(title, points, subtitle=subtitle)


def _common_settings(configs: Sequence[Mapping[str, Any]]) -> str:
    """The parameter values every configuration shares (`width=1, resolution=224`)."""
    if not configs:
        return ""
    first = configs[0]
    same = [k for k in first if all(k in c and format_value(c[k]) == format_value(first[k]) for c in configs[1:])]
    return ", ".join(f"{k}={format_value(first[k])}" for k in same)


def bench_subtitle(bench: Mapping[str, Any]) -> str:
    """What a latency plot was measured on: device, threads, batch, dtype, mode (from a `latency.bench` document)."""
    env, options = bench.get("environment", {}), bench.get("options", {})
    device = env.get("device", options.get("device", "?"))
    name = env.get("device_name")
    batches = options.get("batches") or [1]
    parts = [f"{device}" + (f" ({name})" if name else ""), f"{env.get('threads', options.get('threads', '?'))} threads",
             f"batch {batches[0]}", str(env.get("dtype", options.get("dtype", "float32")))]
    if env.get("mode"):
        parts.append(str(env["mode"]))
    return "measured on " + ", ".join(parts)


def from_analyses(labels: Sequence[str], analyses: Sequence[Any], title: str | None = None,
                  latency_ms: Sequence[float] | None = None, bench: Mapping[str, Any] | None = None) -> PlotData:
    """Models of `compare`, one point each (`analyses` are `cost.Analysis`), with their median latency when measured
    (`compare --latency`; `bench` is the benchmark's document: its device, threads and batch go in the title)."""
    latencies: Sequence[float | None] = latency_ms or [None] * len(analyses)
    points = [PlotPoint(label, a.name, dict(a.config), a.macs, a.params, latency_ms=lat)
              for label, a, lat in zip(labels, analyses, latencies, strict=False)]
    measured = latency_ms is not None
    if title is None:
        what = "MACs vs median latency" if measured else "MACs vs parameters"
        title = f"{what}: {', '.join(labels)}"
    common = _common_settings([dict(a.config) for a in analyses])
    parts = [f"{common} for every model"] if common and len(analyses) > 1 else [common] if common else []
    latency_label = LATENCY_LABEL
    if measured and bench is not None:
        parts.append(bench_subtitle(bench))
        batches = bench.get("options", {}).get("batches") or [1]
        latency_label = f"{LATENCY_LABEL} per forward pass (batch {batches[0]})"
    return PlotData(title, points, subtitle="; ".join(parts), latency_label=latency_label)


__all__ = ["IMAGE_FORMATS", "KINDS", "PlotData", "PlotPoint", "bench_subtitle", "choose_kind", "data_points",
           "draw_plot", "from_analyses", "from_sweep", "render_plot", "require_matplotlib"]
