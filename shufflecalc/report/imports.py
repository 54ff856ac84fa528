"""Reports of `shufflecalc import` (the round-trip proof) and `shufflecalc verify --against` (a spec against the real
network): plain data in, `Tabular` and JSON out. No torch import here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shufflecalc.report.render import Column, Tabular, shape_text

if TYPE_CHECKING:
    from shufflecalc.importer.against import Comparison
    from shufflecalc.importer.proof import Proof

PROOF_NOTES = [
    "params: numel of every parameter (layers unused in eval included); macs: the spec's analytic MACs against "
    "torch's FlopCounterMode / 2 (MATH attention kernel, MultiheadAttention fast path off); fvcore_flops and "
    "activations: fvcore's FlopCountAnalysis and ActivationCountAnalysis of the original model, eval mode.",
    "state_dict: the spec's torch model (build_model) loads the original's by name with strict=True; output: both run "
    "one random input after every weight and batchnorm statistic was randomized (outputs of order 1).",
]


def _value(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, tuple):
        return " x ".join(map(str, v)) if all(isinstance(x, int) for x in v) else ", ".join(_value(x) for x in v)
    return str(v)


def proof_table(proof: Proof, title: str, extra: list[str] | None = None) -> Tabular:
    rows = [{"check": c.what, "spec": _value(c.spec), "model": _value(c.model), "result": "PASS" if c.ok else "FAIL",
             "note": c.note} for c in proof.checks]
    columns = [Column("check", "check", justify="left", priority=0), Column("spec", "spec"),
               Column("model", "model"), Column("result", "result", priority=0),
               Column("note", "note", justify="left", wrap=60)]
    notes = [f"round-trip proof: {proof.result} ({proof.seconds:.1f} s)", *(extra or []), *PROOF_NOTES]
    return Tabular(title, columns, rows, notes=notes)


def proof_json(proof: Proof) -> dict[str, Any]:
    return {
        "target": proof.target,
        "result": proof.result,
        "checks": [{"check": c.what, "spec": _plain(c.spec), "model": _plain(c.model), "ok": c.ok, "note": c.note}
                   for c in proof.checks],
    }


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _field(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, tuple) and v and all(isinstance(s, tuple) for s in v):
        return ", ".join(shape_text(s) for s in v)  # input shapes
    if isinstance(v, tuple):
        return shape_text(v) if v else "()"
    return _value(v)


def against_table(c: Comparison) -> Tabular:
    """The first divergence, field by field, both sides; or the agreement."""
    title = f"shufflecalc verify {c.spec} --against {c.target}"
    if c.index is None:
        notes = [f"PASS: {c.compared} layers agree in forward order (kind, shapes, kernel, stride, padding, dilation, "
                 "groups, bias, params, MACs); dropout and drop path passed over."]
        if not c.proof.ok:
            notes = [f"FAIL: the import of {c.target} is not proven (the round-trip proof below fails), so no "
                     f"comparison with it holds; {c.compared} layers agree with it."]
        rows = [{"field": "layers", "spec": f"{c.spec_layers:,}", "target": f"{c.target_layers:,}", "differs": ""}]
        return Tabular(title, _AGAINST_COLUMNS, rows, notes=notes)
    a = c.spec_side.fields if c.spec_side else {}
    b = c.target_side.fields if c.target_side else {}
    rows = [{"field": "layer", "spec": c.spec_side.name if c.spec_side else "(none: the spec ends)",
             "target": c.target_side.name if c.target_side else "(none: the network ends)", "differs": ""},
            {"field": "where", "spec": c.spec_side.where if c.spec_side else "-",
             "target": c.target_side.where if c.target_side else "-", "differs": ""}]
    for key in dict.fromkeys([*a, *b]):
        rows.append({"field": key, "spec": _field(a.get(key)), "target": _field(b.get(key)),
                     "differs": "<>" if key in c.differing else ""})
    where = c.spec_side.where if c.spec_side else c.spec
    notes = [f"FAIL: layer {c.index + 1} of the forward (of {c.spec_layers} in the spec, {c.target_layers} in "
             f"{c.target}) differs in {', '.join(c.differing)}, at {where}; the {c.index} layers before it agree."]
    return Tabular(title, _AGAINST_COLUMNS, rows, notes=notes)


_AGAINST_COLUMNS = [Column("field", "field", justify="left", priority=0), Column("spec", "spec", justify="left"),
                    Column("target", "target", justify="left"), Column("differs", "differs", priority=0)]


def against_json(c: Comparison) -> dict[str, Any]:
    def side(s: Any) -> Any:
        if s is None:
            return None
        return {"name": s.name, "where": s.where, **{k: _json(v) for k, v in s.fields.items()}}

    return {
        "spec": c.spec,
        "target": c.target,
        "result": "PASS" if c.ok else "FAIL",
        "layers_compared": c.compared,
        "spec_layers": c.spec_layers,
        "target_layers": c.target_layers,
        "divergence": None if c.index is None else {
            "index": c.index, "fields": list(c.differing), "spec": side(c.spec_side), "target": side(c.target_side)},
        "proof": proof_json(c.proof),
    }


def _json(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_json(x) for x in v]
    return v
