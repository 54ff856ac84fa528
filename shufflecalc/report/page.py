"""The report page: one self-contained HTML file for one or several analyzed models (`shufflecalc report`).

`page_data` gathers what the page shows, as JSON-ready data: each model's totals under their named conventions, its
hierarchy (stage -> block -> layer) with every group's sums, its layers with shapes and counts, the closed form of
each unit a formula covers (`formulas.explain`, as `shufflecalc explain` reports it) and, for several models, the
ratios to the first (as `shufflecalc compare` computes them); with `--latency`, the measured latency from
`latency.bench`'s document (as `compare --latency` reports it) and the conditions it was measured under. `page_html`
inlines that data, the page's own script (and assets/latency.js, only for a measured latency) and style, and the
vendored libraries (assets/vendor/: Apache ECharts for the treemap and the comparison chart, Cytoscape.js with the
dagre layout for the network graph; why these: docs/report.md) into one file that requests nothing from any server
when opened.

Pure and deterministic: the same analyses (and the same latency document) give a byte-identical page (no timestamps;
data in the graph's order, every mapping built in a fixed order). No third-party Python package is needed; the
latency document is measured by the caller (`latency.bench`, torch), never here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any

from shufflecalc.analysis.cost import CONVENTIONS, HEADERS, METRICS, Analysis, config_text, labels, layer_dict
from shufflecalc.formulas.catalog import FORMULAS
from shufflecalc.formulas.explain import explain, explained_blocks
from shufflecalc.report.formulas import explain_json
from shufflecalc.spec.graph import Graph, Layer
from shufflecalc.spec.totals import Totals

ASSETS = "assets"
VENDOR_SCRIPTS = ("echarts.min.js", "cytoscape.min.js", "cytoscape-dagre.min.js")  # in this order
LICENSES_NOTE = ("Inlined libraries (each under its license, shipped with shufflecalc in shufflecalc/report/assets/"
                 "vendor/): {libraries}.")


# --- data ------------------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A spec value as JSON: numbers, strings, booleans and None as they are; a fraction as 'n/d'; lists and mappings
    element by element."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def hierarchy(graph: Graph) -> tuple[list[dict[str, Any]], list[str]]:
    """The groups above the layers, outermost first, and each layer's parent group ("" for none).

    A block instance is a group of its layers. A stage (the first component of dotted names such as
    ``layer2.unit0``) is a group of its blocks when its blocks are named inside it; a top-level block (``conv1``,
    ``fire2``) or a top-level layer (``maxpool``) has no stage group above it.
    """
    layers = graph.layers
    stages: dict[str, list[Layer]] = {}
    for layer in layers:
        if layer.block and layer.block != layer.stage:
            stages.setdefault(layer.stage, []).append(layer)
    groups: list[dict[str, Any]] = []
    first_block = {b.name: b for b in graph.blocks}
    done: set[str] = set()
    for layer in layers:
        stage = layer.stage if layer.stage in stages else ""
        if stage and stage not in done:
            done.add(stage)
            members = stages[stage]
            blocks = [first_block[name] for name in dict.fromkeys(x.block for x in members)]
            groups.append({
                "id": stage, "kind": "stage", "parent": "", "op": _stage_op(blocks), "args": {},
                "input": list(blocks[0].in_shape), "output": list(blocks[-1].out),
                "blocks": len(blocks), "layers": len(members), **Totals.of(members).to_dict(),
            })
        if layer.block and layer.block not in done:
            done.add(layer.block)
            b = first_block[layer.block]
            members = list(graph.block_layers(b))
            groups.append({
                "id": b.name, "kind": "block", "parent": stage, "op": b.op, "args": _plain(dict(b.args)),
                "input": list(b.in_shape), "output": list(b.out), "blocks": 1, "layers": len(members),
                **Totals.of(members).to_dict(),
            })
    parents = [layer.block or "" for layer in layers]
    return groups, parents


def _stage_op(blocks: Sequence[Any]) -> str:
    ops = list(dict.fromkeys(b.op for b in blocks))
    return f"{len(blocks)} x {ops[0]}" if len(ops) == 1 else f"{len(blocks)} blocks"


def _units(graph: Graph) -> dict[str, Any] | None:
    """`shufflecalc explain`'s report of every unit a formula covers, with each formula's title; None where no
    formula covers any block of the model."""
    if not explained_blocks(graph):
        return None
    checks = explain(graph)
    data = explain_json(checks)
    for unit, check in zip(data["units"], checks.units, strict=True):
        unit["formula_title"] = FORMULAS[unit["formula"]].title
        unit["why"] = list(check.short)  # the reasons in a few words each, as explain's table prints them
    return {"units": data["units"], "total": data["total"], "difference": data["conventions"]["difference"]}


def model_data(label: str, a: Analysis) -> dict[str, Any]:
    """One model as the page reads it."""
    groups, parents = hierarchy(a.graph)
    layers = []
    for layer, parent in zip(a.layers, parents, strict=True):
        row = layer_dict(layer)
        row["parent"] = parent
        row["attrs"] = _plain(dict(layer.attrs))
        layers.append(row)
    return {
        "label": label, "name": a.name, "spec": a.spec.source, "config": config_text(dict(a.config)),
        "input": list(a.graph.input), "output": list(a.graph.output),
        "totals": a.totals.to_dict(),
        "by_class": {k: t.to_dict() for k, t in sorted(a.breakdown("class").items())},
        "groups": groups, "layers": layers, "explain": _units(a.graph),
    }


def _ratio(value: int, first: int) -> float | None:
    return round(value / first, 6) if first else None


def comparison(names: Sequence[str], analyses: Sequence[Analysis]) -> list[dict[str, Any]]:
    """compare's rows: each metric for every model, and each model's ratio to the first (as `compare` rounds it)."""
    first = analyses[0]
    return [{"metric": m, "values": [getattr(a, m) for a in analyses],
             "ratios": [_ratio(getattr(a, m), getattr(first, m)) for a in analyses]} for m in METRICS]


def latency_data(names: Sequence[str], analyses: Sequence[Analysis], doc: Mapping[str, Any]
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The measured latency of `shufflecalc report --latency`, from `latency.bench`'s document `doc` (as
    `compare --latency` reports it): each model's results (every batch and memory format, with the statistics,
    throughput and warnings) and its median's ratio to the first model's per batch; and, for the page, the conditions
    of the measurement (environment, options, conventions, bench's notes, warnings) and, for several models, compare's
    rows: medians, ratios to the first, throughput, and its "N x fewer MACs, M x faster" line per model and batch."""
    from shufflecalc.report.latency import bench_notes, measured, versus

    bench = dict(doc)
    batches = list(bench["options"]["batches"])
    per_model = []
    for i in range(len(analyses)):
        per_model.append({
            "latency": [r for r in bench["results"] if r["model_index"] == i],
            "latency_ratio_to_first": {
                str(b): round(measured(bench, i, b)["median_ms"] / measured(bench, 0, b)["median_ms"], 6)
                for b in batches},
        })
    rows = None
    if len(analyses) > 1:
        rows = []
        for b in batches:
            lat = [measured(bench, i, b) for i in range(len(analyses))]
            first = lat[0]["median_ms"]
            rows.append({
                "batch": b,
                "median_ms": [r["median_ms"] for r in lat],
                "ratios": [round(r["median_ms"] / first, 6) for r in lat],
                "throughput_ips": [r["throughput_ips"] for r in lat],
                "versus": [None] + [versus(names[i], names[0], b, analyses[i].macs, analyses[0].macs,
                                           lat[i]["median_ms"], first) for i in range(1, len(analyses))],
            })
    shared = {
        "batches": batches, "memory_format": bench["environment"]["memory_formats"][-1],
        "environment": bench["environment"], "options": bench["options"], "conventions": bench["conventions"],
        "notes": bench_notes(bench), "warnings": bench["warnings"], "comparison": rows,
    }
    return per_model, shared


def page_data(analyses: Sequence[Analysis], latency: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything the page shows, JSON-ready: conventions, each model, and (for several) the comparison; with
    `latency` (`latency.bench`'s document for these analyses), the measured latency too (`latency_data`: each model's
    under "latency", the conditions and compare's rows under the top-level "latency"). Without it, no key of it."""
    if not analyses:
        raise ValueError("page_data needs at least one analysis")
    from shufflecalc import __version__

    names = labels(analyses)
    models = [model_data(n, a) for n, a in zip(names, analyses, strict=True)]
    data: dict[str, Any] = {
        "title": "shufflecalc report: " + " vs ".join(names),
        "generator": f"shufflecalc {__version__}",
        "metrics": list(METRICS),
        "headers": {m: HEADERS[m] for m in METRICS},
        "conventions": {m: CONVENTIONS[m] for m in METRICS},
        "models": models,
        "comparison": comparison(names, analyses) if len(analyses) > 1 else None,
    }
    if latency is not None:
        per_model, data["latency"] = latency_data(names, analyses, latency)
        for m, measured in zip(models, per_model, strict=True):
            m.update(measured)
    return data


# --- the page --------------------------------------------------------------------------------------------------------


@cache
def asset(name: str) -> str:
    """A file of assets/ (the page's template, style and script; vendor/NAME for a vendored library)."""
    return (resources.files(__package__ or "shufflecalc.report") / ASSETS / name).read_text(encoding="utf-8")


def vendored() -> dict[str, dict[str, Any]]:
    """The vendored libraries: npm name -> version, integrity and files (assets/vendor/VENDORED.json)."""
    result: dict[str, dict[str, Any]] = json.loads(asset("vendor/VENDORED.json"))
    return result


def _inline_json(data: Any) -> str:
    """JSON that can sit inside a <script> element: no '<' (so no '</script>' and no '<!--')."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c")


def _inline_script(name: str, text: str) -> str:
    if "</script" in text.lower():  # tools/vendor_js.py refuses such a file; the page's own script never has one
        raise ValueError(f"{name} contains '</script' and cannot be inlined")
    return text


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def page_html(analyses: Sequence[Analysis], latency: Mapping[str, Any] | None = None) -> str:
    """The report page for `analyses` (one or several models): one HTML file with everything inlined. With
    `latency` (see `page_data`), the page's script is followed by assets/latency.js, which draws the measured latency
    into the summary and the comparison; without it, the page is exactly what it was before --latency existed."""
    data = page_data(analyses, latency)
    script = _inline_script("report.js", asset("report.js"))
    if latency is not None:
        script += "\n" + _inline_script("latency.js", asset("latency.js"))
    libs = vendored()
    libraries = ", ".join(f"{name} {entry['version']}" for name, entry in libs.items() if name != "@dagrejs/dagre")
    libraries += f" (bundling dagre {libs['@dagrejs/dagre']['version']})" if "@dagrejs/dagre" in libs else ""
    scripts = "\n".join(f"<script>{_inline_script(n, asset('vendor/' + n))}</script>" for n in VENDOR_SCRIPTS)
    parts = {
        "{{title}}": _escape(data["title"]),
        "{{generator}}": _escape(data["generator"]),
        "{{licenses}}": _escape(LICENSES_NOTE.format(libraries=libraries)),
        "{{style}}": asset("report.css"),
        "{{data}}": _inline_json(data),
        "{{vendor}}": scripts,
        "{{script}}": script,
    }
    template = asset("report.html")
    # one pass, so that no inlined text is searched for the next placeholder
    pieces = []
    rest = template
    while "{{" in rest:
        before, _, after = rest.partition("{{")
        key, _, rest = after.partition("}}")
        pieces += [before, parts["{{" + key + "}}"]]
    pieces.append(rest)
    return "".join(pieces)


__all__ = ["comparison", "hierarchy", "latency_data", "model_data", "page_data", "page_html", "vendored"]
