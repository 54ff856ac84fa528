"""The roofline chart of `shufflecalc predict --plot`: every layer with FLOPs at its arithmetic intensity (FLOP per
byte of memory access, x) and its attained GFLOP/s as predicted (y), under the device's ceilings from the profile:
the highest attained compute (a horizontal line) and bandwidth (the diagonal, GB/s x FLOP/byte). Log axes; one
colour per class, one marker per model. Layers without FLOPs (activations, pooling, ...) have no place on a roofline;
the title counts them. matplotlib is imported only here (the ``plot`` extra).
"""

from __future__ import annotations

from typing import Any

from shufflecalc.analysis.cost import config_text
from shufflecalc.errors import ShufflecalcError
from shufflecalc.report.plot import _style, figure_bytes

MARKERS = "osD^vP*X"


def render_roofline(doc: dict[str, Any], fmt: str) -> bytes:
    """The chart of a `predict` JSON document as image bytes (png, svg or pdf)."""
    points = [(m["name"], layer) for m in doc["models"] for layer in m["layers"]
              if layer["flops"] and layer["bytes"] and layer["attained_gflops"]]
    if not points:
        raise ShufflecalcError("--plot: no layer has FLOPs, nothing to draw on a roofline")
    skipped = sum(len(m["layers"]) for m in doc["models"]) - len(points)
    ceilings, env = doc["profile"]["ceilings"], doc["profile"]["environment"]
    with _style():
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 5.6), layout="constrained")
        ax = fig.add_subplot()
        classes = sorted({layer["class"] for _, layer in points})
        colors = {c: f"C{i % 10}" for i, c in enumerate(classes)}
        models = list(dict.fromkeys(name for name, _ in points))
        for mi, model in enumerate(models):
            for cls in classes:
                xs = [layer["intensity"] for name, layer in points if name == model and layer["class"] == cls]
                ys = [layer["attained_gflops"] for name, layer in points if name == model and layer["class"] == cls]
                if xs:
                    label = cls if len(models) == 1 else f"{model}: {cls}"
                    ax.scatter(xs, ys, s=22, marker=MARKERS[mi % len(MARKERS)], color=colors[cls], alpha=0.75,
                               label=label, linewidths=0)
        xs = [layer["intensity"] for _, layer in points]
        lo, hi = min(xs) / 2, max(xs) * 2
        compute, bandwidth = ceilings["compute_gflops"], ceilings["bandwidth_gbs"]
        ridge = compute / bandwidth
        ax.plot([lo, min(ridge, hi)], [bandwidth * lo, bandwidth * min(ridge, hi)], color="0.3", lw=1.2)
        ax.plot([max(ridge, lo), hi], [compute, compute], color="0.3", lw=1.2)
        ax.annotate(f"{compute:,.0f} GFLOP/s", (hi, compute), xytext=(-4, 4), textcoords="offset points",
                    ha="right", va="bottom", fontsize=8, color="0.3")
        ax.annotate(f"{bandwidth:,.1f} GB/s", (lo, bandwidth * lo), xytext=(4, 6), textcoords="offset points",
                    ha="left", va="bottom", fontsize=8, color="0.3", rotation=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_xlabel("arithmetic intensity, FLOP per byte of memory access (FLOPs = 2 x MACs)")
        ax.set_ylabel("attained GFLOP/s, predicted")
        if len(doc["models"]) == 1:
            only = doc["models"][0]
            title = f"{only['name']} {config_text(only['config'])}".strip()
        else:
            title = ", ".join(models) if len(models) <= 3 else f"{len(models)} models"
        skipped_text = f"; {skipped} layers without FLOPs not drawn" if skipped else ""
        ax.set_title(f"Roofline (predicted): {title}\n{env['device_name']}, {env['threads']} thread(s), "
                     f"{env['dtype']}, batch {env['batch']}{skipped_text}", fontsize=10)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return figure_bytes(fig, fmt)


__all__ = ["render_roofline"]
