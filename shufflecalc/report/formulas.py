"""Tables and JSON for `formula`, `explain` and `shuffle` (pure: data in, `Tabular` / dict / text out).

Exact numbers: the terminal table and markdown show MACs with thousands separators (a fraction as
``numerator/denominator (≈ decimal)``); csv carries plain exact values; JSON carries integers, or the string
``"numerator/denominator"`` for a value that is not whole (see `formulas.exact_json`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from shufflecalc.analysis.cost import CONVENTIONS, config_text
from shufflecalc.bridge.shuffle import TorchCheck
from shufflecalc.formulas.catalog import (
    FORMULAS,
    SYMBOL_ORDER,
    SYMBOLS,
    Evaluation,
    exact_json,
    exact_text,
    plain,
    substitute,
)
from shufflecalc.formulas.explain import Explanation, UnitCheck
from shufflecalc.formulas.groups_study import GroupsStudy
from shufflecalc.formulas.shuffle import Shuffle
from shufflecalc.report.render import Column, Tabular, shape_text

MACS_NOTE = "MACs: multiply-accumulates of conv layers (the papers' 'FLOPs'/'mult-adds'), exact."
DIFF_NOTE = "difference = engine - formula, exact; engine: the sum over the unit's layers (shufflecalc show)."


def zero_note(units: tuple[UnitCheck, ...]) -> str:
    """The kinds of layer in these units that no formula counts and that have no MACs."""
    ops = dict.fromkeys(layer.op for u in units for layer in u.others if not layer.macs)
    return f"in no formula, with 0 MACs: {', '.join(ops)}." if ops else "every layer of these units is in the formula."


def _symbols_json(values: dict[str, Any]) -> dict[str, int | str]:
    return {s: exact_json(x) for s, x in values.items()}


def _ratio_value(x: Fraction | None) -> float | None:
    return None if x is None else round(float(x), 6)


def _both(title: str, columns: list[Column], rows: list[dict[str, Any]], exact: tuple[str, ...],
          notes: list[str] | None = None, footer: dict[str, Any] | None = None) -> tuple[Tabular, Tabular]:
    """The same table twice: for display (`exact` columns with separators) and for csv (plain exact values)."""

    def show(row: dict[str, Any]) -> dict[str, Any]:
        return {k: (exact_text(v) if k in exact and isinstance(v, (int, Fraction)) and not isinstance(v, bool) else v)
                for k, v in row.items()}

    def raw(row: dict[str, Any]) -> dict[str, Any]:
        return {k: (exact_json(v) if isinstance(v, Fraction) else v) for k, v in row.items()}

    display = Tabular(title, columns, [show(r) for r in rows], list(notes or []), show(footer) if footer else None)
    return display, Tabular(title, columns, [raw(r) for r in rows])


# --- formula ------------------------------------------------------------------------------------------------------


def formula_list() -> tuple[dict[str, Any], Tabular]:
    rows = [{"name": f.name, "title": f.title, "formula": f.text, "symbols": " ".join(f.symbols), "source": f.source}
            for f in FORMULAS.values()]
    columns = [Column("name", "name", justify="left"), Column("title", "what", justify="left"),
               Column("formula", "formula (MACs)", justify="left"), Column("symbols", "symbols", justify="left"),
               Column("source", "source", justify="left")]
    notes = ["symbols: " + "; ".join(f"{s} {m}" for s, m in SYMBOLS.items()),
             "evaluate one: shufflecalc formula NAME --K 3 --M 240 --N 60 --Iw 28 --Ih 28 --g 3 (and --t 6 for the "
             "inverted residual)"]
    data = {"formulas": [{**r, "symbols": list(FORMULAS[r["name"]].symbols)} for r in rows]}
    return data, Tabular("formulas", columns, rows, notes)


def _saving_text(ratio: Fraction) -> str:
    if ratio == 0:
        return "all MACs saved"
    fewer = 1 / ratio
    return f"{float(1 - ratio) * 100:.2f}% fewer MACs ({float(fewer):.3g}× fewer)"


def formula_rows(ev: Evaluation) -> list[dict[str, Any]]:
    """(item, symbolic, value) rows: symbols, formula, terms, result, baseline, ratio, saving."""
    f, v = ev.formula, ev.values
    rows: list[dict[str, Any]] = [{"item": s, "symbolic": f.meaning(s), "value": plain(v[s])}
                                  for s in SYMBOL_ORDER if s in v]
    rows.append({"item": "formula", "symbolic": f.text, "value": ev.substituted})
    if f.paper:
        text, letters = f.paper
        rows.append({"item": "as the paper writes it", "symbolic": text,
                     "value": ", ".join(f"{a} = {b}" for a, b in letters.items() if a in text)})
    for form in f.other_forms:
        rows.append({"item": "also written", "symbolic": form, "value": ""})
    if len(ev.parts) > 1:
        for part, macs in ev.parts:
            rows.append({"item": f"  {part.what}", "symbolic": part.text, "value": macs})
    if f.per_position:
        text, template, fn = f.per_position
        rows.append({"item": "per output position", "symbolic": text,
                     "value": f"{substitute(template, v)} = {exact_text(fn(v))}"})
    rows.append({"item": "MACs", "symbolic": f.name, "value": ev.macs})
    b = f.baseline
    if b is not None and ev.baseline_macs is not None:
        base_values = {**v, **b.overrides}
        rows.append({"item": f"vs {b.label}", "symbolic": b.text, "value": ev.baseline_macs})
        ratio = ev.ratio
        if ratio is not None:
            steps = [b.ratio_text, substitute(b.ratio_template, base_values)] if b.ratio_text else []
            steps = [x for x in steps if x != str(ratio)] + [str(ratio)]
            rows.append({"item": "ratio", "symbolic": f"{f.name} / {b.short}",
                         "value": f"{' = '.join(steps)} ≈ {float(ratio):.4f}"})
            rows.append({"item": "saving", "symbolic": "", "value": _saving_text(ratio)})
    for c in ev.comparisons:
        rows.append({"item": f"vs {c.formula.name}", "symbolic": c.formula.text, "value": c.macs})
        if c.ratio is not None:
            rows.append({"item": "  ratio", "symbolic": f"{c.formula.name} / {f.name}",
                         "value": f"{c.ratio} ≈ {float(c.ratio):.4f}"})
    return rows


def formula_report(ev: Evaluation) -> tuple[dict[str, Any], Tabular, Tabular]:
    """JSON, display table and csv table of one evaluated formula."""
    f = ev.formula
    notes = [f"{f.name}: {f.title}; {f.source}.", f"Equals a block's exact count for {f.assumes}."]
    if ev.unused:
        notes.append(f"not used by {f.name}: " + ", ".join(f"{k}={plain(x)}" for k, x in ev.unused.items()))
    if ev.comparisons:
        notes.append("vs: " + "; ".join(f"{c.formula.name}: {c.formula.title}" for c in ev.comparisons)
                     + "; at the same symbol values, as ShuffleNet's section 3.2 compares them.")
    notes += [*list(ev.notes), MACS_NOTE]
    columns = [Column("item", "", justify="left"), Column("symbolic", "symbolic", justify="left"),
               Column("value", "value", justify="left")]
    display, csv = _both(f"shufflecalc formula {f.name}", columns, formula_rows(ev), ("value",), notes)
    return formula_json(ev), display, csv


def formula_json(ev: Evaluation) -> dict[str, Any]:
    f, v = ev.formula, ev.values
    data: dict[str, Any] = {
        "conventions": {"macs": CONVENTIONS["macs"] + "; exact: an integer, or 'numerator/denominator' when not whole"},
        "formula": f.name,
        "title": f.title,
        "text": f.text,
        "other_forms": list(f.other_forms),
        "source": f.source,
        "assumes": f.assumes,
        "paper_text": f.paper[0] if f.paper else None,
        "paper_symbols": dict(f.paper[1]) if f.paper else None,
        "symbols": {s: {"value": exact_json(v[s]), "meaning": f.meaning(s)} for s in SYMBOL_ORDER if s in v},
        "unused": _symbols_json(ev.unused),
        "substituted": ev.substituted,
        "terms": [{"what": p.what, "text": p.text, "substituted": substitute(p.template, v), "macs": exact_json(m)}
                  for p, m in ev.parts],
        "macs": exact_json(ev.macs),
    }
    if f.per_position:
        data["per_position_macs"] = exact_json(f.per_position[2](v))
    b = f.baseline
    data["baseline"] = None if b is None or ev.baseline_macs is None else {
        "formula": b.formula, "label": b.label, "text": b.text, "overrides": dict(b.overrides),
        "macs": exact_json(ev.baseline_macs),
    }
    ratio = ev.ratio
    data["ratio_to_baseline"] = None if ratio is None else exact_json(ratio)
    data["ratio_to_baseline_float"] = _ratio_value(ratio)
    closed = ev.closed_ratio  # set wherever the baseline has a ratio_text (catalog.FORMULAS)
    if b is not None and b.ratio_text and closed is not None:
        data["ratio_closed_form"] = {"text": b.ratio_text, "substituted": substitute(b.ratio_template, v),
                                     "value": exact_json(closed)}
    data["comparisons"] = [
        {"formula": c.formula.name, "title": c.formula.title, "text": c.formula.text, "macs": exact_json(c.macs),
         "ratio": None if c.ratio is None else exact_json(c.ratio), "ratio_float": _ratio_value(c.ratio)}
        for c in ev.comparisons]
    data["notes"] = list(ev.notes)
    return data


# --- explain ------------------------------------------------------------------------------------------------------


def _unit_row(u: UnitCheck) -> dict[str, Any]:
    b = u.block
    return {"unit": b.name, "block": f"{b.op} s{b.args['stride']}", "formula": u.formula.name,
            "symbols": u.symbols_text,
            "formula_macs": u.formula_macs, "engine_macs": u.engine_macs, "difference": u.difference,
            "why": "; ".join(u.short)}


def _formulas_note(units: tuple[UnitCheck, ...]) -> str:
    used = dict.fromkeys(u.formula.name for u in units)
    return "; ".join(f"{n} = {FORMULAS[n].text}" for n in used)


def explain_report(e: Explanation) -> tuple[dict[str, Any], Tabular, Tabular]:
    """JSON, display table and csv table: one row per unit, or one row per layer of the unit `--layer` names."""
    if e.layer is not None:
        display, csv = unit_detail(e.units[0], e)
        return explain_json(e), display, csv
    g = e.graph
    columns = [Column("unit", "unit", justify="left"), Column("block", "block", justify="left"),
               Column("formula", "formula", justify="left"), Column("symbols", "symbols", justify="left"),
               Column("formula_macs", "formula MACs"), Column("engine_macs", "engine MACs"),
               Column("difference", "difference"), Column("why", "why they differ", justify="left")]
    outside = g.sums.macs - e.engine_macs
    notes = [
        _formulas_note(e.units), DIFF_NOTE, zero_note(e.units),
        f"outside these units: {outside:,} MACs (stem, classifier, ...); model total {g.sums.macs:,} MACs.",
        f"per-layer detail and reasons in full: shufflecalc explain {g.spec.source} --layer {e.units[0].block.name}",
    ]
    strided = [u.block.name for u in e.units if u.formula.name == "dwsep" and u.block.args["stride"] > 1]
    if strided:
        notes.insert(1, f"dwsep at stride 2 ({', '.join(strided)}): Iw x Ih is the output size (MobileNet's D_F).")
    footer = {"unit": "total", "formula_macs": e.formula_macs, "engine_macs": e.engine_macs,
              "difference": e.engine_macs - e.formula_macs}
    title = f"shufflecalc explain {g.spec.name}  {config_text(dict(g.config))}"
    display, csv = _both(title, columns, [_unit_row(u) for u in e.units],
                         ("formula_macs", "engine_macs", "difference"), notes, footer)
    return explain_json(e), display, csv


def unit_detail(u: UnitCheck, e: Explanation) -> tuple[Tabular, Tabular]:
    """Every layer of one unit: the formula's term for it (if any), its MACs, the difference and why."""
    b, f = u.block, u.formula
    by_layer = {p.layer.name: p for p in u.parts}
    extras = {x.layer.name: x for x in u.extras}
    rows: list[dict[str, Any]] = []
    for layer in u.layers:
        p = by_layer.get(layer.name)
        if p is None:
            x = extras.get(layer.name)
            rows.append({"layer": layer.name, "op": layer.op, "term": "", "substituted": "", "formula_macs": None,
                         "engine_macs": layer.macs, "difference": layer.macs if x else None,
                         "why": f"not in the formula: {x.short}" if x else "not in the formula; 0 MACs"})
        else:
            rows.append({"layer": layer.name, "op": layer.op, "term": p.part.text, "substituted": p.term,
                         "formula_macs": p.formula_macs, "engine_macs": layer.macs, "difference": p.difference,
                         "why": "; ".join(p.short)})
    footer = {"layer": "total", "term": f.text, "substituted": substitute(f.template, u.values),
              "formula_macs": u.formula_macs, "engine_macs": u.engine_macs, "difference": u.difference}
    columns = [Column("layer", "layer", justify="left"), Column("op", "op", justify="left"),
               Column("term", "formula term", justify="left"), Column("substituted", "substituted", justify="left"),
               Column("formula_macs", "formula MACs"), Column("engine_macs", "engine MACs"),
               Column("difference", "difference"), Column("why", "why they differ", justify="left")]
    symbols = "; ".join(f"{s} = {plain(u.values[s])}: {f.meaning(s)}" for s in SYMBOL_ORDER if s in u.values)
    notes = [f"{f.name}: {f.title}. {symbols}.", f"The formula equals the exact count for {f.assumes}."]
    notes += list(u.notes)
    notes += [f"why: {r}" for r in u.reasons] or ["formula and engine agree exactly."]
    if e.layer != b.name:
        notes.append(f"{e.layer} is a layer of {b.name}.")
    notes += [DIFF_NOTE]
    title = (f"{b.name} ({b.op}, stride {b.args['stride']}, {shape_text(b.in_shape)} -> {shape_text(b.out)}) "
             f"beside {f.name}")
    return _both(title, columns, rows, ("formula_macs", "engine_macs", "difference"), notes, footer)


def _unit_json(u: UnitCheck) -> dict[str, Any]:
    by_layer = {p.layer.name: p for p in u.parts}
    layers = []
    for layer in u.layers:
        p = by_layer.get(layer.name)
        entry: dict[str, Any] = {"name": layer.name, "op": layer.op, "engine_macs": layer.macs}
        if p is None:
            entry["in_formula"] = False
            extra = next((x for x in u.extras if x.layer is layer), None)
            if extra is not None:
                entry["reasons"] = [extra.reason]
        else:
            entry.update({"in_formula": True, "term": p.part.text, "substituted": p.term,
                          "formula_macs": exact_json(p.formula_macs), "difference": exact_json(p.difference),
                          "reasons": list(p.reasons)})
        layers.append(entry)
    b = u.block
    return {
        "name": b.name, "op": b.op, "stride": b.args["stride"], "input": list(b.in_shape), "output": list(b.out),
        "formula": u.formula.name, "formula_text": u.formula.text, "symbols": _symbols_json(u.values),
        "substituted": substitute(u.formula.template, u.values), "formula_macs": exact_json(u.formula_macs),
        "engine_macs": u.engine_macs, "difference": exact_json(u.difference), "equal": u.difference == 0,
        "reasons": list(u.reasons), "notes": list(u.notes), "layers": layers,
    }


def explain_json(e: Explanation) -> dict[str, Any]:
    g = e.graph
    return {
        "conventions": {"macs": CONVENTIONS["macs"], "difference": "engine_macs - formula_macs, exact",
                        "exact": "an integer, or 'numerator/denominator' when not whole"},
        "name": g.spec.name, "spec": g.spec.source, "config": dict(g.config), "layer": e.layer,
        "units": [_unit_json(u) for u in e.units],
        "total": {"formula_macs": exact_json(e.formula_macs), "engine_macs": e.engine_macs,
                  "difference": exact_json(e.engine_macs - e.formula_macs)},
        "model_macs": g.sums.macs,
    }


# --- the group-count study ----------------------------------------------------------------------------------------


def study_report(s: GroupsStudy) -> tuple[dict[str, Any], Tabular, Tabular]:
    """One row per g: stage widths, how much wider than the base g, one unit's MACs (formula and engine), totals."""
    base = s.base
    base_width = base.unit.values["M"]
    rows, data_rows = [], []
    for r in s.rows:
        u = r.unit
        row = {
            "g": r.g, "stage_widths": " / ".join(str(w) for w in r.stage_widths.values()),
            "wider": round(u.values["M"] / base_width, 6), "unit_shape": f"M={u.values['M']} N={u.values['N']}",
            "unit_formula": u.formula_macs, "unit_engine": u.engine_macs,
            "unit_ratio": round(u.engine_macs / base.unit.engine_macs, 6), "macs": r.macs,
            "macs_without_classifier": r.macs - r.classifier_macs, "macs_ratio": round(r.macs / base.macs, 6),
        }
        rows.append(row)
        data_rows.append({
            "g": r.g, "stage_widths": r.stage_widths, "width_ratio": row["wider"], "unit": _unit_json(u),
            "unit_macs_ratio": row["unit_ratio"], "macs": r.macs,
            "macs_without_classifier": row["macs_without_classifier"], "macs_ratio": row["macs_ratio"],
        })
    u0 = base.unit
    columns = [
        Column("g", "g"), Column("stage_widths", f"widths ({' / '.join(base.stage_widths)})"),
        Column("wider", f"wider than g={base.g}", "ratio"), Column("unit_shape", s.unit_name),
        Column("unit_formula", f"{u0.formula.name} formula"), Column("unit_engine", "unit MACs (engine)"),
        Column("unit_ratio", f"unit vs g={base.g}", "ratio"), Column("macs", "total MACs", "count"),
        Column("macs_without_classifier", "total without FC", "count"),
        Column("macs_ratio", f"total vs g={base.g}", "ratio"),
    ]
    last = s.rows[-1]
    differ = [f"g={r.g}" for r in s.rows if r.unit.difference]
    agree = (f"formula and engine differ at {', '.join(differ)} (shufflecalc explain --layer {s.unit_name})" if differ
             else "formula = engine at every g")
    notes = [
        f"widths: output channels of each stage, from the spec's graph ({s.spec.name}, "
        f"{config_text({k: v for k, v in last.graph.config.items() if k != 'g'})}); wider: {s.unit_name}'s channels.",
        f"{s.unit_name}: {u0.formula.name} = {u0.formula.text}, M its channels, N its bottleneck, Iw x Ih = "
        f"{u0.values['Iw']}x{u0.values['Ih']}; {agree}.",
        f"g={last.g}: feature maps {last.unit.values['M'] / base_width:.2f}× as wide as g={base.g} for "
        f"{last.macs / base.macs:.3f}× the total MACs: group convolution buys width at about the same cost.",
        "MACs: conv+linear multiply-accumulates; totals in K/M/G (powers of 1000), unit MACs exact.",
    ]
    title = f"groups study: {s.spec.name}, one row per g"
    data = {"conventions": {"macs": CONVENTIONS["macs"]}, "name": s.spec.name, "spec": s.spec.source,
            "overrides": s.overrides, "unit": s.unit_name, "base_g": base.g, "rows": data_rows}
    display, csv = _both(title, columns, rows, ("unit_formula", "unit_engine"), notes)
    return data, display, csv


# --- shuffle ------------------------------------------------------------------------------------------------------


def _matrix(s: Shuffle, rows: list[list[int]], indent: str) -> list[str]:
    width = max(len(s.label(c)) for c in range(s.channels))
    return [indent + " ".join(s.label(c).rjust(width) for c in row) for row in rows]


def shuffle_text(s: Shuffle) -> str:
    """The blog's picture: the order before, the (g, N/g) matrix, its transpose, the order after."""
    n = s.per_group
    before, after = " ".join(s.labels(s.before)), " ".join(s.labels(s.permutation))
    legend = (f"letters: groups A..{chr(64 + s.groups)}; numbers: position in the group (1..{n})" if s.lettered
              else "more than 26 groups: channels by their 0-based index")
    lines = [
        f"channel shuffle: N = {s.channels} channels in g = {s.groups} groups of {n} ({legend})",
        "",
        f"{before} -> reshape to (g, N/g) -> transpose -> flatten -> {after}",
        "",
        f"before:  {before}",
        "",
        f"reshape to (g, N/g) = ({s.groups}, {n}), one row per group:",
        *_matrix(s, s.reshaped, "         "),
        "",
        f"transpose to ({n}, {s.groups}):",
        *_matrix(s, s.transposed, "         "),
        "",
        f"flatten: {after}",
        "",
        "output channel i takes input channel: " + " ".join(str(i) for i in s.permutation),
    ]
    return "\n".join(lines) + "\n"


def shuffle_json(s: Shuffle, check: TorchCheck | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "groups": s.groups, "channels": s.channels, "labels": "letters" if s.lettered else "indices",
        "before": s.labels(s.before), "reshaped": [s.labels(r) for r in s.reshaped],
        "transposed": [s.labels(r) for r in s.transposed], "after": s.labels(s.permutation),
        "permutation": s.permutation,
    }
    if check is not None:
        data["check"] = {"module": check.module, "tensor": list(check.shape), "is_permutation": check.is_permutation,
                         "equals_torch_nn_channelshuffle": check.equals_nn, "torch": check.torch_version,
                         "ok": check.ok}
    return data


def shuffle_table(s: Shuffle) -> Tabular:
    """One row per output channel: where it comes from."""
    columns = [Column("position", "output channel"), Column("label", "label", justify="left"),
               Column("source", "input channel"), Column("group", "input group"), Column("index", "index in group")]
    rows = [{"position": i, "label": s.label(c), "source": c, "group": c // s.per_group, "index": c % s.per_group}
            for i, c in enumerate(s.permutation)]
    return Tabular(f"channel shuffle, g = {s.groups}, N = {s.channels}", columns, rows,
                   ["groups and indices are 0-based; labels: the group's letter and the 1-based position in it."])


def check_text(c: TorchCheck, s: Shuffle) -> str:
    def yes(ok: bool) -> str:
        return "yes" if ok else "NO"

    return (
        f"\ncheck (torch {c.torch_version}): {c.module}, the module the model builder makes for a channel_shuffle "
        f"layer, on a random {shape_text(c.shape)} tensor:\n"
        f"  output channel i = input channel permutation[i] for every i: {yes(c.is_permutation)}\n"
        f"  equal to torch.nn.ChannelShuffle({s.groups}): {yes(c.equals_nn)}\n"
    )


__all__ = ["check_text", "explain_json", "explain_report", "formula_list", "formula_report", "shuffle_json",
           "shuffle_table", "shuffle_text", "study_report", "unit_detail"]
