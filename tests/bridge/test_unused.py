"""Entries marked ``unused: true`` in torch: their modules are built (the model's parameters are params +
unused_params, in the spec's order) and the forward never calls them; `verify` checks both."""

from __future__ import annotations

import dataclasses

import pytest

import shufflecalc
from shufflecalc.analysis.cost import analyze
from tests.spec.test_unused import EVAL_PARAMS, SPEC, UNUSED_PARAMS

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

from shufflecalc.bridge.verify import verify  # noqa: E402
from shufflecalc.report.verify import outcome_json, summary_table  # noqa: E402


def test_the_modules_are_built_in_spec_order_and_never_called(write_spec) -> None:
    path = write_spec(SPEC)
    model = shufflecalc.build_model(path)
    assert sum(p.numel() for p in model.parameters()) == EVAL_PARAMS + UNUSED_PARAMS
    # registered where the spec lists them: between act and pool (state_dict order, for loading torchvision's)
    assert [k for k in model.state_dict() if not k.endswith("num_batches_tracked")] == [
        "stem.weight", "aux.conv.weight", "aux.bn.weight", "aux.bn.bias", "aux.bn.running_mean", "aux.bn.running_var",
        "aux_fc.weight", "aux_fc.bias", "fc.weight", "fc.bias"]
    called: list[str] = []
    for name, module in model.named_modules():
        if name and not list(module.children()):
            module.register_forward_hook(lambda m, i, o, name=name: called.append(name))
    with torch.no_grad():
        y = model(torch.randn(2, 3, 8, 8))
    assert tuple(y.shape) == (2, 10)
    assert called == ["stem", "act", "pool", "flat", "fc"]


def test_an_unused_last_entry_is_registered_last_and_is_not_the_output(write_spec) -> None:
    model = shufflecalc.build_model(write_spec(
        "input: [3, 8, 8]\nlayers:\n  - {op: conv2d, name: stem, out: 4, kernel: 3}\n"
        "  - {op: conv2d, name: side, out: 2, kernel: 1, unused: true}\n"))
    assert list(model.state_dict()) == ["stem.weight", "side.weight"]
    with torch.no_grad():
        assert tuple(model(torch.randn(1, 3, 8, 8)).shape) == (1, 4, 8, 8)  # stem's output (padding 1)


def test_verify_counts_the_unused_params_and_checks_they_never_run(write_spec) -> None:
    v = verify(write_spec(SPEC))
    assert v.ok, v.mismatches
    assert (v.params, v.unused_params, v.torch_params) == (EVAL_PARAMS, UNUSED_PARAMS, EVAL_PARAMS + UNUSED_PARAMS)
    assert [(u.name, u.params, u.torch_params, u.ran) for u in v.unused] == [
        ("aux.conv", 24, 24, False), ("aux.bn", 12, 12, False), ("aux.relu", 0, 0, False),
        ("aux_pool", 0, 0, False), ("aux_flat", 0, 0, False), ("aux_fc", 35, 35, False)]
    assert outcome_json(v)["analytic"]["unused_params"] == UNUSED_PARAMS
    assert summary_table([v]).rows[0]["params"] == f"{EVAL_PARAMS + UNUSED_PARAMS:,}"
    # a module that ran, or one whose parameters differ, is a mismatch
    ran = dataclasses.replace(v.unused[5], ran=True)
    bad = dataclasses.replace(v, unused=(*v.unused[:5], ran), torch_params=v.torch_params + 1)
    assert [(m.check, m.where, m.analytic, m.measured) for m in bad.mismatches] == [
        ("params", "total", EVAL_PARAMS + UNUSED_PARAMS, EVAL_PARAMS + UNUSED_PARAMS + 1),
        ("unused", "aux_fc", "never runs", "runs")]


def test_a_spec_without_unused_entries_verifies_as_before() -> None:
    v = verify("squeezenet1_0", resolution=64)
    assert v.ok and v.unused == () and "unused_params" not in outcome_json(v)["analytic"]
    assert v.torch_params == v.params == analyze("squeezenet1_0").params


def test_inception_v3_registers_its_auxiliary_classifier_where_torchvision_does() -> None:
    # torchvision's Inception3.__init__ assigns Mixed_6e, then AuxLogits, then Mixed_7a (inception.py)
    keys = [k.split(".")[0] for k in shufflecalc.build_model("inception_v3").state_dict()]
    order = list(dict.fromkeys(keys))
    assert order[order.index("Mixed_6e") + 1 : order.index("Mixed_6e") + 3] == ["AuxLogits", "Mixed_7a"]
