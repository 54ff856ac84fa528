"""Reports of `shufflecalc verify`: verification outcomes in, `Tabular` tables and the JSON dictionary out (pure).

Counts are exact integers everywhere: with thousands separators in the terminal table and markdown (a verification
is about the last digit), plain in csv and JSON. No torch import here: outcomes are plain dataclasses.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shufflecalc.analysis.cost import CONVENTIONS, HEADERS, config_text
from shufflecalc.report.render import Column, Tabular, shape_text

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from shufflecalc.bridge.verify import LayerCheck, Outcome, Verification

ANALYTIC_FVCORE = "fvcore flops (analytic)"  # shufflecalc's count in fvcore's convention
MEASURED_FVCORE = "fvcore flops (measured)"  # what fvcore's FlopCountAnalysis reports for the built model

SUMMARY_NOTES = [
    "MACs, FLOPs (2×MACs), fvcore flops (analytic), params: shufflecalc's analytic counts, batch 1, fvcore flops in "
    "fvcore's convention. torch FLOPs: torch.utils.flop_counter.FlopCounterMode; fvcore flops (measured): fvcore's "
    "FlopCountAnalysis (eval); torch params: numel.",
    "shapes: layers whose output (forward hook) has the engine's shape. PASS: all equal, and so are every layer's "
    "params, FlopCounterMode and fvcore counts, and fvcore's count per operator.",
]
# Shown where a verified model has attention (a multihead_attention layer): how FlopCounterMode was made to count it.
ATTENTION_NOTE = (
    "attention: torch FLOPs are counted with scaled_dot_product_attention's MATH kernel and MultiheadAttention's fast "
    "path off (bridge.verify.attention_counted). torch's defaults hide Q.K^T and A.V from FlopCounterMode: for "
    "torchvision's vit_b_16 (torch 2.14.1) it counts 17,563,828,224 MACs this way, 16,848,500,736 with the default "
    "kernel, and 11,271,124,992 under no_grad with the fast path on (no attention layer counted at all)."
)
LEFT_OUT_NOTES = [
    "fvcore counts these 0: 'unsupported' ops with a warning (silenced here), 'ignored' ones by design.",
    "MACs and FLOPs (2×MACs, FlopCounterMode's convention) count convolutions, linear layers and attention's matrix "
    "products only; fvcore flops add 2 per batchnorm output element, 1 per adaptive-average-pool input element, and "
    "more for other norms and upsampling (docs/conventions.md).",
]


def _n(value: Any, exact: bool) -> Any:
    """A count for display: '1,137,480,704' in tables, the integer itself in csv."""
    if isinstance(value, int) and not isinstance(value, bool) and not exact:
        return f"{value:,}"
    return value


def _measured(o: Outcome) -> TypeIs[Verification]:
    """A `Verification` (a `Problem` carries only a message)."""
    return hasattr(o, "layers")


def _text(value: Any) -> str:
    if value is None:
        return "-"
    return shape_text(value) if isinstance(value, tuple) else str(value)


def _counts(ops: dict[str, int]) -> str:
    """{'aten::view': 32, 'aten::transpose': 16} -> 'aten::view ×32, aten::transpose ×16'."""
    return ", ".join(f"{k} ×{v}" if v > 1 else k for k, v in ops.items())


def compact_names(names: Sequence[str]) -> str:
    """Layer names, with names that differ only in their numbers folded into one pattern, a number that varies
    written '*': stage2.unit1.add ... stage4.unit3.add -> 'stage*.unit*.add'; the stride-2 units' shortcuts
    stage2.unit0.shortcut ... stage4.unit0.shortcut -> 'stage*.unit0.shortcut'."""
    groups: dict[str, list[list[str]]] = {}
    for name in names:
        groups.setdefault(re.sub(r"\d+", "*", name), []).append(re.split(r"(\d+)", name))
    folded = []
    for members in groups.values():
        parts = members[0][:]
        for i in range(1, len(parts), 2):  # the digit runs
            if any(m[i] != parts[i] for m in members):
                parts[i] = "*"
        folded.append("".join(parts))
    return ", ".join(folded)


# --- summary --------------------------------------------------------------------------------------------------------

SUMMARY_COLUMNS = [
    Column("model", "model", justify="left"),
    Column("config", "config", justify="left"),
    Column("macs", HEADERS["macs"]),
    Column("flops", HEADERS["flops"]),
    Column("torch_flops", "torch FLOPs"),
    Column("fvcore_flops", ANALYTIC_FVCORE),
    Column("fvcore_measured_flops", MEASURED_FVCORE),
    Column("params", "params"),
    Column("torch_params", "torch params"),
    Column("shapes", "shapes"),
    Column("result", "result", justify="left"),
]


def summary_table(outcomes: Sequence[Outcome], exact: bool = False) -> Tabular:
    """One row per configuration: the analytic counts next to torch's and fvcore's, and PASS, FAIL or INVALID."""
    rows: list[dict[str, Any]] = []
    problems = []
    unused = []  # configurations with layers marked `unused: true`
    for o in outcomes:
        row: dict[str, Any] = {"model": o.name, "config": config_text(o.config), "result": o.result}
        if _measured(o):
            matching = sum(layer.out == layer.torch_out for layer in o.layers)
            row.update({
                "macs": o.macs, "flops": o.flops, "torch_flops": o.torch_flops, "fvcore_flops": o.fvcore_flops,
                "fvcore_measured_flops": o.fvcore, "params": o.params + o.unused_params,
                "torch_params": o.torch_params, "shapes": f"{matching}/{len(o.layers)}",
            })
            if o.unused:
                unused.append(f"{o.name} ({config_text(o.config)}): params include the {o.unused_params:,} of the "
                              f"{len(o.unused)} layers marked 'unused: true', built in torch; the forward ran "
                              f"{sum(u.ran for u in o.unused)} of them (none may run).")
        else:
            problems.append(f"{o.result} {o.name} ({config_text(o.config)}): {o.message}")
        rows.append({k: _n(v, exact) for k, v in row.items()})
    tally = Counter(o.result for o in outcomes)
    counts = ", ".join(f"{tally[r]} {r}" for r in ("PASS", "FAIL", "INVALID") if tally[r] or r != "INVALID")
    plural = "s" if len(outcomes) != 1 else ""
    attention = [ATTENTION_NOTE] if any(_has_attention(o) for o in outcomes) else []
    notes = [f"{len(outcomes)} configuration{plural}: {counts}.", *SUMMARY_NOTES, *attention, *unused, *problems]
    return Tabular("shufflecalc verify", list(SUMMARY_COLUMNS), rows, notes=notes)


def _has_attention(o: Outcome) -> bool:
    return _measured(o) and any(layer.op == "multihead_attention" for layer in o.layers)


# --- layers ---------------------------------------------------------------------------------------------------------


def fvcore_treatment(layer: LayerCheck) -> str:
    """How fvcore treated a layer's operators: 'counted: conv', 'unsupported: aten::add', 'ignored: aten::relu'."""
    parts = []
    if layer.fvcore_counted:
        parts.append("counted: " + ", ".join(layer.fvcore_counted))
    if layer.fvcore_unsupported:
        parts.append("unsupported: " + _counts(layer.fvcore_unsupported))
    if layer.fvcore_ignored:
        parts.append("ignored: " + _counts(layer.fvcore_ignored))
    return "; ".join(parts)


def layers_table(outcomes: Sequence[Outcome], exact: bool = False) -> Tabular:
    """One row per layer of every verified configuration (with model and config columns when there are several)."""
    verified = [o for o in outcomes if _measured(o)]
    many = len(verified) > 1
    columns = [Column("model", "model", justify="left"), Column("config", "config", justify="left")] if many else []
    columns += [
        Column("layer", "layer", justify="left"), Column("op", "op", justify="left"),
        Column("output", "output"), Column("torch_output", "torch output"),
        Column("params", "params"), Column("torch_params", "torch params"),
        Column("flops", HEADERS["flops"]), Column("torch_flops", "torch FLOPs"),
        Column("fvcore_flops", ANALYTIC_FVCORE), Column("fvcore_measured_flops", MEASURED_FVCORE),
        Column("fvcore_treatment", "fvcore treats", justify="left"), Column("result", "result", justify="left"),
    ]
    rows = []
    for o in verified:
        for layer in o.layers:
            row = {
                "model": o.name, "config": config_text(o.config), "layer": layer.name, "op": layer.op,
                "output": _text(layer.out), "torch_output": _text(layer.torch_out),
                "params": layer.params, "torch_params": layer.torch_params,
                "flops": layer.flops, "torch_flops": layer.torch_flops,
                "fvcore_flops": layer.fvcore_flops, "fvcore_measured_flops": layer.fvcore,
                "fvcore_treatment": fvcore_treatment(layer), "result": "PASS" if layer.ok else "FAIL",
            }
            rows.append({k: _n(v, exact) for k, v in row.items()})
    title = (
        "per layer" if many else f"per layer: {verified[0].name} {config_text(verified[0].config)}" if verified else ""
    )
    return Tabular(title, columns, rows)


# --- mismatches -----------------------------------------------------------------------------------------------------

CHECK_NAMES = {
    "params": "params",
    "shape": "output shape",
    "flops": "FLOPs (torch FlopCounterMode)",
    "fvcore_flops": "fvcore flops",
    "fvcore_by_operator": "fvcore flops per operator",
    "unused": "unused in eval (marked 'unused: true')",
}


def mismatch_table(outcomes: Sequence[Outcome], exact: bool = False) -> Tabular:
    """Every count that differs: where, the analytic number, the measured one and the difference."""
    columns = [
        Column("model", "model", justify="left"), Column("config", "config", justify="left"),
        Column("check", "check", justify="left"), Column("where", "layer / operator", justify="left"),
        Column("analytic", "analytic"), Column("measured", "measured"), Column("difference", "measured - analytic"),
    ]
    rows = []
    for o in outcomes:
        for m in getattr(o, "mismatches", ()):
            row = {"model": o.name, "config": config_text(o.config), "check": CHECK_NAMES[m.check], "where": m.where,
                   "analytic": _text(m.analytic) if isinstance(m.analytic, tuple) else m.analytic,
                   "measured": _text(m.measured) if not isinstance(m.measured, int) else m.measured,
                   "difference": m.difference}
            rows.append({k: _n(v, exact) for k, v in row.items()})
    return Tabular("mismatches", columns, rows)


# --- what fvcore leaves out -----------------------------------------------------------------------------------------


def left_out_table(outcomes: Sequence[Outcome]) -> Tabular:
    """The operators fvcore counted 0, mapped to spec layers. Identical rows of several configurations of one model
    are shown once, with the number of configurations they occur in."""
    verified = [o for o in outcomes if _measured(o)]
    per_model = Counter(o.name for o in verified)
    seen: dict[tuple, int] = {}
    for o in verified:
        for om in o.omissions:
            key = (o.name, om.treatment, om.op or "(none)", _counts(om.operators), len(om.layers),
                   compact_names(om.layers))
            seen[key] = seen.get(key, 0) + 1
    many = any(n > 1 for n in per_model.values())
    columns = [
        Column("model", "model", justify="left"), Column("treatment", "fvcore", justify="left"),
        Column("op", "spec layer kind", justify="left"), Column("operators", "operators", justify="left"),
        Column("layers", "layers"), Column("where", "where", justify="left"),
    ]
    if many:
        columns.append(Column("configs", "configurations"))
    rows = [
        {"model": k[0], "treatment": k[1], "op": k[2], "operators": k[3], "layers": k[4], "where": k[5],
         "configs": f"{n} of {per_model[k[0]]}"}
        for k, n in seen.items()
    ]
    return Tabular("what fvcore leaves out (counted 0)", columns, rows, notes=list(LEFT_OUT_NOTES))


def report_tables(outcomes: Sequence[Outcome], layers: bool = False) -> list[Tabular]:
    """The report for the terminal and markdown: the summary, the layers (with `layers`), the mismatches (if any),
    what fvcore leaves out."""
    tables = [summary_table(outcomes)] + ([layers_table(outcomes)] if layers else [])
    mismatches = mismatch_table(outcomes)
    return tables + ([mismatches] if mismatches.rows else []) + [left_out_table(outcomes)]


# --- JSON -----------------------------------------------------------------------------------------------------------


def _layer_json(layer: LayerCheck) -> dict[str, Any]:
    return {
        "name": layer.name, "op": layer.op, "result": "PASS" if layer.ok else "FAIL",
        "output": list(layer.out), "torch_output": list(layer.torch_out) if layer.torch_out is not None else None,
        "params": layer.params, "torch_params": layer.torch_params,
        "flops": layer.flops, "torch_flops": layer.torch_flops,
        "fvcore_flops": layer.fvcore_flops, "fvcore_measured_flops": layer.fvcore,
        "fvcore_counted": layer.fvcore_counted, "fvcore_unsupported": layer.fvcore_unsupported,
        "fvcore_ignored": layer.fvcore_ignored,
    }


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def outcome_json(o: Outcome, layers: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"name": o.name, "spec": o.source, "config": dict(o.config), "result": o.result}
    if not _measured(o):
        data["message"] = o.message
        return data
    v = o
    data.update({
        "input": list(v.input), "output": list(v.output), "torch_output": list(v.torch_output),
        "analytic": {"macs": v.macs, "flops": v.flops, "fvcore_flops": v.fvcore_flops, "params": v.params,
                     **({"unused_params": v.unused_params} if v.unused else {}),
                     "fvcore_by_operator": v.analytic_by_operator},
        "torch": {"flops": v.torch_flops, "params": v.torch_params},
        "fvcore": {"fvcore_measured_flops": v.fvcore, "by_operator": v.fvcore_by_operator},
        "layers_checked": len(v.layers),
        "layers_passed": sum(layer.ok for layer in v.layers),
        "mismatches": [
            {"check": m.check, "where": m.where, "analytic": _json_value(m.analytic),
             "measured": _json_value(m.measured), "difference": m.difference}
            for m in v.mismatches
        ],
        "fvcore_left_out": [
            {"treatment": om.treatment, "op": om.op, "operators": om.operators, "layers": list(om.layers)}
            for om in v.omissions
        ],
    })
    if layers:
        data["layers"] = [_layer_json(layer) for layer in v.layers]
    return data


def verify_json(outcomes: Sequence[Outcome], layers: bool = False) -> dict[str, Any]:
    """The JSON of `shufflecalc verify`: conventions, the overall result, one entry per configuration."""
    conventions = {k: CONVENTIONS[k] for k in ("macs", "flops", "fvcore_flops", "params")}
    conventions["torch.flops"] = "torch.utils.flop_counter.FlopCounterMode total (counts 2 per multiply-accumulate)"
    conventions["fvcore_measured_flops"] = "fvcore FlopCountAnalysis(model, input).total(), model in eval mode; "\
        "fvcore_flops is shufflecalc's analytic count in the same convention"
    if any(_has_attention(o) for o in outcomes):
        conventions["torch.attention"] = ATTENTION_NOTE
    return {
        "conventions": conventions,
        "result": "PASS" if all(o.ok for o in outcomes) else "FAIL",
        "configurations": [outcome_json(o, layers) for o in outcomes],
    }
