"""Charts of sweeps, comparisons and paper tables (the optional ``plot`` extra: matplotlib).

Data in, image bytes out; the CLI writes the file. matplotlib is imported only when a chart is drawn, with the Agg
backend and no pyplot (no global figure state). Three kinds:

- ``scatter``: MACs (x) vs parameters (y), one marker per configuration, labelled; published values hollow.
- ``lines``: MACs vs the number of groups g, one line per remaining configuration (e.g. per width).
- ``latency``: MACs (x) vs measured latency in ms (y), when the data carries a ``latency_ms`` value.

MACs are conv+linear multiply-accumulates (`cost.CONVENTIONS`), plotted in millions. Output is deterministic where
matplotlib allows: a fixed SVG hash salt and no creation dates in SVG and PDF metadata.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shufflecalc.errors import MissingDependency, ShufflecalcError
from shufflecalc.spec.load import format_value

IMAGE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
KINDS = ("auto", "scatter", "lines", "latency")
MAX_LABELS = 16  # label every point up to this many; beyond, labels would hide the data
INSTALL_HINT = "plotting needs matplotlib: pip install 'shufflecalc[plot]' (or pip install matplotlib)"


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


@dataclass(frozen=True)
class PlotData:
    title: str
    points: Sequence[PlotPoint]
    macs_label: str = MACS_LABEL  # what PlotPoint.macs counts (a paper table may leave the classifier out)


def require_matplotlib() -> None:
    """Raise MissingDependency (exit 2 with an install hint) when matplotlib is not installed."""
    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingDependency(INSTALL_HINT)


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


def render_plot(data: PlotData, kind: str, fmt: str) -> bytes:
    """Draw `data` as a `kind` chart and return the image (fmt: png, svg or pdf)."""
    require_matplotlib()
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError as exc:  # installed but broken
        raise MissingDependency(f"{INSTALL_HINT} ({exc})") from None
    with matplotlib.rc_context({"svg.hashsalt": "shufflecalc", "font.size": 10, "axes.grid": True, "grid.alpha": 0.3}):
        fig = Figure(figsize=(8.5, 5.5), dpi=120, layout="constrained")
        ax = fig.add_subplot()
        {"scatter": _scatter, "lines": _lines, "latency": _latency}[kind](ax, data.points, data.macs_label)
        ax.set_title(data.title)
        buf = io.BytesIO()
        metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}
        fig.savefig(buf, format=fmt, metadata=metadata[fmt])
    return buf.getvalue()


def _by_model(points: Sequence[PlotPoint]) -> dict[str, list[PlotPoint]]:
    groups: dict[str, list[PlotPoint]] = {}
    for p in points:
        groups.setdefault(p.model, []).append(p)
    return groups


def _scatter_series(points: Sequence[PlotPoint]) -> dict[str, list[PlotPoint]]:
    """Few points: one colour per model, every point labelled. Many: one colour per value combination of the swept
    parameters except the one with the most values (it runs along each colour), so that colours can be told apart."""
    if len(points) <= MAX_LABELS:
        return _by_model(points)
    keys = list(dict.fromkeys(k for p in points for k in p.config))
    counts = {k: len({format_value(p.config.get(k)) for p in points}) for k in keys}
    inner = max(reversed(keys), key=lambda k: counts[k]) if keys else None
    groups = _series(points, skip=(inner,) if inner else ())
    return groups if len(groups) <= 10 else _by_model(points)


def _series(points: Sequence[PlotPoint], skip: Sequence[str] = ()) -> dict[str, list[PlotPoint]]:
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


def _label(ax: Any, points: Sequence[PlotPoint], xs: Sequence[float], ys: Sequence[float], total: int) -> None:
    if total > MAX_LABELS:
        return
    for p, x, y in zip(points, xs, ys, strict=False):
        if x == x and y == y:
            ax.annotate(p.label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)


def _scatter(ax: Any, points: Sequence[PlotPoint], macs_label: str) -> None:
    computed = [p for p in points if not p.published and p.macs is not None and p.params is not None]
    published = [p for p in points if p.published and p.macs is not None and p.params is not None]
    for i, (name, group) in enumerate(_scatter_series(computed).items()):
        xs, ys = [_millions(p.macs) for p in group], [_millions(p.params) for p in group]
        ax.scatter(xs, ys, s=36, color=f"C{i % 10}", label=name or "computed", zorder=3)
        _label(ax, group, xs, ys, len(computed))
    if published:
        xs, ys = [_millions(p.macs) for p in published], [_millions(p.params) for p in published]
        ax.scatter(xs, ys, s=70, facecolors="none", edgecolors="black", label="published (paper)", zorder=2)
    allx = [_millions(p.macs) for p in computed + published]
    ally = [_millions(p.params) for p in computed + published]
    ax.margins(0.12)  # room for the labels
    _log_if_wide(ax, allx, "x")
    _log_if_wide(ax, ally, "y")
    if ax.get_xscale() == "linear":
        ax.set_xlim(left=0)  # from zero, so that ratios read at a glance
    if ax.get_yscale() == "linear":
        ax.set_ylim(bottom=0)
    ax.set_xlabel(macs_label)
    ax.set_ylabel("parameters, millions")
    ax.legend(loc="best", fontsize=9)


def _lines(ax: Any, points: Sequence[PlotPoint], macs_label: str) -> None:
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
    ax.set_ylabel(macs_label)
    ax.legend(loc="best", fontsize=9)


def _same(a: PlotPoint, b: PlotPoint) -> bool:
    return a.model == b.model and dict(a.config) == dict(b.config)


def _latency(ax: Any, points: Sequence[PlotPoint], macs_label: str) -> None:
    computed = [p for p in points if not p.published and p.macs is not None and p.latency_ms is not None]
    for i, (name, group) in enumerate(_by_model(computed).items()):
        xs, ys = [_millions(p.macs) for p in group], [float(p.latency_ms or 0) for p in group]
        ax.scatter(xs, ys, s=36, color=f"C{i % 10}", label=name or "measured", zorder=3)
        _label(ax, group, xs, ys, len(computed))
    ax.set_xlabel(macs_label)
    ax.set_ylabel("latency, ms (batch 1)")
    ax.legend(loc="best", fontsize=9)


# --- data from the commands' results ----------------------------------------------------------------------------------


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
    return PlotData(f"shufflecalc sweep: {', '.join(sweep.models)}", points)


def from_analyses(labels: Sequence[str], analyses: Sequence[Any], title: str = "shufflecalc compare",
                  latency_ms: Sequence[float] | None = None) -> PlotData:
    """Models of `compare`, one point each (`analyses` are `cost.Analysis`), with their median latency when measured
    (`compare --latency`)."""
    latencies: Sequence[float | None] = latency_ms or [None] * len(analyses)
    return PlotData(title, [PlotPoint(label, a.name, dict(a.config), a.macs, a.params, latency_ms=lat)
                            for label, a, lat in zip(labels, analyses, latencies, strict=False)])


__all__ = ["IMAGE_FORMATS", "KINDS", "PlotData", "PlotPoint", "choose_kind", "from_analyses", "from_sweep",
           "render_plot", "require_matplotlib"]
