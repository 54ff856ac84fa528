"""Entries marked ``unused: true``: built with the model, never run by its eval forward (Inception v3's auxiliary
classifier). Their parameters are counted apart; dead layers without the mark are still refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from shufflecalc.analysis.cost import analyze
from shufflecalc.errors import ShufflecalcError
from shufflecalc.spec.graph import expand

# An 8x8 RGB network with a side classifier on `act` that only training would run.
SPEC = """input: [3, 8, 8]
layers:
  - {op: conv2d, name: stem, out: 4, kernel: 3, padding: 1}
  - {op: relu, name: act}
  - {op: conv_bn_act, name: aux, out: 6, kernel: 1, unused: true}
  - {op: global_avgpool, name: aux_pool, inputs: [aux], unused: true}
  - {op: flatten, name: aux_flat, inputs: [aux_pool], unused: true}
  - {op: linear, name: aux_fc, inputs: [aux_flat], out: 5, unused: true}
  - {op: global_avgpool, name: pool}
  - {op: flatten, name: flat}
  - {op: linear, name: fc, out: 10}
"""
# by hand: stem 4*3*9 weights, fc 4*10 + 10; aux: 1x1 conv 6*4, batchnorm 2*6, aux_fc 6*5 + 5
EVAL_PARAMS = 4 * 3 * 9 + (4 * 10 + 10)
UNUSED_PARAMS = 6 * 4 + 2 * 6 + (6 * 5 + 5)
EVAL_MACS = 4 * 3 * 9 * 8 * 8 + 4 * 10


def test_unused_params_are_counted_apart(write_spec) -> None:
    a = analyze(write_spec(SPEC))
    assert (a.params, a.unused_params) == (EVAL_PARAMS, UNUSED_PARAMS)
    assert a.macs == EVAL_MACS  # the aux branch costs nothing: it never runs
    assert a.activations == 4 * 64 + 10 and a.totals.layers == 5 == len(a.layers)
    assert [layer.name for layer in a.layers] == ["stem", "act", "pool", "flat", "fc"]
    assert [layer.name for layer in a.graph.unused_layers] == [
        "aux.conv", "aux.bn", "aux.relu", "aux_pool", "aux_flat", "aux_fc"]
    assert a.unused_entries == ["aux", "aux_pool", "aux_flat", "aux_fc"]
    assert not a.graph.blocks  # `aux` is no block of the eval graph
    assert set(a.breakdown("stage")) == {"stem", "act", "pool", "flat", "fc"}
    # the classifier is the eval one: aux_fc is neither in params nor in the classifier
    assert a.metrics(["params_without_classifier"]) == {"params_without_classifier": 4 * 3 * 9}
    data = a.to_dict(layers=False)
    assert (data["params"], data["unused_params"]) == (EVAL_PARAMS, UNUSED_PARAMS)


def test_the_entry_after_an_unused_one_continues_from_the_entry_before(write_spec) -> None:
    g = expand(write_spec(SPEC))
    pool = next(layer for layer in g.layers if layer.name == "pool")
    assert pool.inputs == ("act",) and pool.in_shapes == ((4, 8, 8),)
    aux_conv = g.unused_layers[0]
    assert aux_conv.inputs == ("act",)  # an unused entry reads the previous entry by default
    assert [u.at for u in g.unused] == [2, 2, 2, 2]  # after stem and act: where torch registers the modules


def test_a_stage_may_be_unused(write_spec) -> None:
    g = expand(write_spec(
        "input: [4, 6, 6]\nlayers:\n"
        "  - {op: conv2d, name: stem, out: 4, kernel: 1}\n"
        "  - {stage: side, repeat: 2, stride: 1, unit: {op: dwsep, out: 4}, unused: true}\n"
        "  - {op: relu, name: act}\n"
    ))
    # dwsep on 4 channels: 3x3 depthwise 4*9, batchnorm 2*4, 1x1 conv 4*4, batchnorm 2*4; two units
    assert g.unused_params == 2 * (4 * 9 + 8 + 16 + 8)
    assert g.sums.params == 16 and [layer.name for layer in g.layers] == ["stem", "act"]
    assert g.layers[1].inputs == ("stem",)
    unit1 = [layer for layer in g.unused_layers if layer.name.startswith("side.unit1.")]
    assert unit1[0].inputs == ("side.unit0.pw_relu",)  # the units chain among themselves


def _error(write_spec, text: str) -> str:
    path = write_spec(text)
    with pytest.raises(ShufflecalcError) as info:
        expand(path)
    return str(info.value).replace(str(Path(path).parent) + "/", "")


def test_a_dead_layer_without_the_mark_is_still_refused(write_spec) -> None:
    text = SPEC.replace(", unused: true", "").replace("name: pool}", "name: pool, inputs: [act]}")
    message = _error(write_spec, text)
    assert message.startswith("my.yaml:8 layers[5]: the output of 'aux_fc' is read by no later layer")
    assert "mark it 'unused: true' if the eval forward never runs it" in message


def test_a_layer_only_an_unused_entry_reads_is_dead(write_spec) -> None:
    text = SPEC.replace("  - {op: conv_bn_act, name: aux, out: 6, kernel: 1, unused: true}",
                        "  - {op: conv_bn_act, name: aux, out: 6, kernel: 1}")
    text = text.replace("name: pool}", "name: pool, inputs: [act]}")
    # `aux` now runs, but only the unused aux_pool reads it: a trace would drop it
    assert _error(write_spec, text).startswith("my.yaml:5 layers[2]: the output of 'aux' is read by no later layer")


def test_a_used_layer_cannot_read_an_unused_one(write_spec) -> None:
    text = SPEC.replace("{op: global_avgpool, name: pool}", "{op: global_avgpool, name: pool, inputs: [aux]}")
    assert _error(write_spec, text) == (
        "my.yaml:9 layers[6].inputs[0]: 'aux' is marked 'unused: true' (the eval forward never runs it): only "
        "another unused entry may read it")


@pytest.mark.parametrize("value, expected", [
    ("3", "my.yaml:4 layers[1].unused: must be true or false, got 3"),
    ("maybe", "my.yaml:4 layers[1].unused: undefined name 'maybe'"),
])
def test_unused_is_true_or_false(write_spec, value: str, expected: str) -> None:
    text = f"input: [3, 4, 4]\nlayers:\n  - {{op: relu, name: a}}\n  - {{op: relu, name: b, unused: {value}}}\n"
    assert _error(write_spec, text).startswith(expected)


def test_unused_false_and_an_expression(write_spec) -> None:
    text = ("params:\n  side: {type: bool, default: false}\ninput: [3, 4, 4]\nlayers:\n"
            "  - {op: conv2d, name: a, out: 2, kernel: 1}\n"
            "  - {op: conv2d, name: b, out: 2, kernel: 1, unused: false}\n"
            "  - {op: conv2d, name: c, inputs: [a], out: 5, kernel: 1, unused: \"not side\"}\n")
    g = expand(write_spec(text))
    assert [layer.name for layer in g.layers] == ["a", "b"] and g.unused_params == 5 * 2
    assert "read by no later layer" in _error(write_spec, text.replace("default: false", "default: true"))


def test_every_entry_unused_is_refused(write_spec) -> None:
    text = "input: [3, 4, 4]\nlayers:\n  - {op: relu, name: a, unused: true}\n  - {op: relu, name: b, when: false}\n"
    assert _error(write_spec, text) == ("my.yaml:2 layers: the eval forward runs nothing: every entry is marked "
                                        "'unused: true' or left out by its 'when'")


def test_when_leaves_an_entry_out(write_spec) -> None:
    """`when` at top level, as in a block: Inception v3's `when: aux_logits` (torchvision's aux_logits=False builds no
    auxiliary classifier at all)."""
    text = ("params:\n  side: {type: bool, default: true}\ninput: [3, 4, 4]\nlayers:\n"
            "  - {op: conv2d, name: a, out: 2, kernel: 1}\n"
            "  - {op: conv2d, name: b, out: 7, kernel: 1, unused: true, when: side}\n"
            "  - {stage: s, repeat: 1, stride: 1, unit: {op: dwsep, out: 2}, when: \"not side\"}\n"
            "  - {op: relu, name: r}\n")
    g = expand(write_spec(text))
    assert g.unused_params == 7 * 2 and [layer.name for layer in g.layers] == ["a", "r"]
    g = expand(write_spec(text), {"side": False})
    assert g.unused == () and [layer.name for layer in g.layers][:2] == ["a", "s.unit0.dw"]
    assert g.layers[-1].inputs == ("s.unit0.pw_relu",)
    assert _error(write_spec, text.replace("when: side", "when: 2")).startswith(
        "my.yaml:6 layers[1].when: must be true or false, got 2")


def test_inside_a_block_unused_is_no_argument(write_spec) -> None:
    text = ("blocks:\n  b:\n    layers:\n      - {op: relu, name: r, unused: true}\n"
            "input: [3, 4, 4]\nlayers:\n  - {op: b, name: x}\n")
    assert "unused" in _error(write_spec, text)


def test_outputs_without_unused_entries_are_unchanged() -> None:
    a = analyze("squeezenet1_0")
    assert a.unused_params == 0 and "unused_params" not in a.to_dict(layers=False)


def test_show_and_compare_report_the_unused_params(write_spec, cli) -> None:
    path = write_spec(SPEC)
    show = cli("show", path)
    assert show.exit_code == 0
    assert (f"Not in the rows or the total: aux, aux_pool, aux_flat, aux_fc (marked 'unused: true'), {UNUSED_PARAMS} "
            f"params the eval forward never runs; {EVAL_PARAMS + UNUSED_PARAMS} params in all.") in show.stdout
    assert cli("show", path, "--format", "json").json()["models"][0]["unused_params"] == UNUSED_PARAMS
    csv = cli("compare", path, "squeezenet1_0", "--format", "csv").stdout.splitlines()
    assert csv[0].endswith(",unused_params") and csv[1].endswith(f",{UNUSED_PARAMS}")
    assert csv[2].endswith(",0")
    table = cli("compare", path, "squeezenet1_0", "--format", "markdown").stdout
    assert "| params unused in eval |" in table
    plain = cli("compare", "squeezenet1_0", "resnet50", "--format", "markdown").stdout
    assert "unused" not in plain and "unused" not in cli("show", "squeezenet1_0").stdout
