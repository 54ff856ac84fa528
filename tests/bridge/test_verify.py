"""verify(): the measurements are fvcore's and torch's own numbers; every layer kind is treated by fvcore as ops.py
says; a wrong analytic count is caught layer by layer; grids and invalid configurations."""

from __future__ import annotations

import pytest

from shufflecalc.spec import graph
from shufflecalc.spec.layers import KINDS
from shufflecalc.spec.load import load_spec

from ..conftest import GRID_SPEC

torch = pytest.importorskip("torch")
fvcore_nn = pytest.importorskip("fvcore.nn")

from shufflecalc.bridge import verify as v  # noqa: E402
from shufflecalc.bridge.builder import build_model  # noqa: E402

EVERY_KIND = """
name: every_kind
input: [8, 9, 7]
layers:
  - {op: conv2d, name: conv, out: 8, kernel: 3, groups: 2, bias: true}
  - {op: batchnorm, name: bn}
  - {op: relu, name: relu}
  - {op: relu6, name: relu6}
  - {op: hardswish, name: hardswish}
  - {op: hardsigmoid, name: hardsigmoid}
  - {op: sigmoid, name: sigmoid}
  - {op: silu, name: silu}
  - {op: gelu, name: gelu}
  - {op: leaky_relu, name: leaky_relu}
  - {op: elu, name: elu}
  - {op: tanh, name: tanh}
  - {op: hardtanh, name: hardtanh}
  - {op: prelu, name: prelu, num_parameters: 8}
  - {op: softmax, name: softmax, dim: 0}
  - {op: groupnorm, name: groupnorm, groups: 2}
  - {op: instancenorm, name: instancenorm}
  - {op: layer_scale, name: layer_scale}
  - {op: drop_path, name: drop_path, p: 0.1}
  - {op: dropout, name: dropout, p: 0.2}
  - {op: channel_shuffle, name: shuffle, groups: 4}
  - {op: add, name: add, inputs: [relu, shuffle]}
  - {op: split, name: half, parts: 2, index: 1}
  - {op: concat, name: whole, inputs: [half, half]}
  - {op: maxpool, name: maxpool, kernel: 3, stride: 2, padding: 1, ceil_mode: true}
  - {op: avgpool, name: avgpool, kernel: 2, stride: 1}
  - {op: conv_transpose2d, name: deconv, out: 8, kernel: [3, 2], stride: 2, padding: [1, 0], groups: 2}
  - {op: upsample, name: nearest, scale: 2}
  - {op: upsample, name: bilinear, size: [5, 4], mode: bilinear}
  - {op: adaptive_maxpool, name: adaptive_max, output: [4, 3]}
  - {op: adaptive_avgpool, name: adaptive_avg, output: [4, 3]}
  - {op: concat, name: concat, inputs: [avgpool, adaptive_avg]}
  - {op: global_avgpool, name: pool}
  - {op: mul, name: gate, inputs: [concat, pool]}
  - {op: mean, name: mean}
  - {op: flatten, name: flatten}
  - {op: to_tokens, name: tokens, inputs: [gate]}
  - {op: from_tokens, name: untokens, height: 4}
  - {op: to_tokens, name: tokens_again}
  - {op: class_token, name: class_token}
  - {op: position_embedding, name: pos_embedding}
  - {op: multihead_attention, name: attention, heads: 2}
  - {op: linear, name: token_fc, out: 16}
  - {op: select_token, name: select}
  - {op: add, name: join, inputs: [flatten, select]}
  - {op: layernorm, name: layernorm}
  - {op: linear, name: fc, out: 5}
"""


@pytest.fixture
def every_kind(write_spec) -> str:
    return write_spec(EVERY_KIND, "every_kind.yaml")


def test_the_spec_covers_every_layer_kind(every_kind: str) -> None:
    assert {layer.op for layer in graph.expand(every_kind).layers} == set(KINDS)


@pytest.mark.parametrize("spec, config", [("mobilenet", {"width": 0.5, "resolution": 128}),
                                          ("shufflenet", {"g": 3, "resolution": 96})])
def test_measurements_are_fvcore_and_torch_themselves(spec: str, config: dict) -> None:
    """The measured numbers verify() reports equal plain fvcore / FlopCounterMode / numel on a separately built
    model."""
    result = v.verify(spec, config)
    model = build_model(spec, config)
    x = torch.randn(1, *result.input)
    flops = fvcore_nn.FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # speed only (see benchmarks/verify.py)
    try:
        flops.total()
        with torch.no_grad(), torch.utils.flop_counter.FlopCounterMode(display=False) as counter:
            y = model(x)
    finally:
        torch.set_num_threads(threads)
    assert result.fvcore == flops.total()
    assert result.fvcore_by_operator == dict(flops.by_operator())
    by_module = flops.by_module()
    assert {layer.name: layer.fvcore for layer in result.layers} == {layer.name: by_module[layer.name]
                                                                    for layer in result.layers}
    assert result.torch_flops == counter.get_total_flops()
    assert result.torch_params == sum(p.numel() for p in model.parameters())
    assert result.torch_output == tuple(y.shape[1:])
    assert result.ok and result.mismatches == ()


def test_published_default_configurations() -> None:
    """MobileNet 1.0-224 (569M MACs, 4.2M params, Table 1) and ShuffleNet 1x g=3 agree under all three conventions."""
    mob = v.verify("mobilenet")
    assert (mob.macs, mob.params) == (568_740_352, 4_231_976)
    assert (mob.torch_flops, mob.fvcore, mob.torch_params) == (2 * 568_740_352, mob.fvcore_flops, 4_231_976)
    # fvcore = MACs + 2 per batchnorm output element + 1 per global-pool input element (1024 x 7 x 7)
    bn_elements = sum(layer.out[0] * layer.out[1] * layer.out[2] for layer in mob.layers if layer.op == "batchnorm")
    assert mob.fvcore == 568_740_352 + 2 * bn_elements + 1024 * 7 * 7
    shuf = v.verify("shufflenet", g=3)
    assert shuf.ok and shuf.torch_flops == 2 * shuf.macs and shuf.fvcore == shuf.fvcore_flops


def test_fvcore_treats_every_kind_as_ops_says(every_kind: str) -> None:
    """ops.KINDS[op].fvcore ("counted", "ignored", "unsupported") and .aten match what fvcore does with each layer."""
    result = v.verify(every_kind)
    assert result.ok
    attrs = {layer.name: layer.attrs for layer in graph.expand(every_kind).layers}  # upsample's op is its mode's
    for layer in result.layers:
        kind = KINDS[layer.op]
        if kind.fvcore == "counted":
            assert set(layer.fvcore_counted) == {v.fvcore_operator(layer.op, attrs[layer.name])}, layer.name
            assert not layer.fvcore_unsupported and not layer.fvcore_ignored, layer.name
        elif kind.fvcore == "unsupported":
            assert layer.fvcore_unsupported == {kind.aten[0]: 1} and not layer.fvcore_counted, layer.name
        elif kind.fvcore == "partial":  # its first aten op counted, the others unsupported
            assert set(layer.fvcore_counted) == {v.fvcore_operator(layer.op)}, layer.name
            assert set(layer.fvcore_unsupported) == set(kind.aten[1:]), layer.name
        else:
            assert set(layer.fvcore_ignored) == set(kind.aten) and not layer.fvcore_unsupported, layer.name
    assert set(result.fvcore_by_operator) == {"conv", "batch_norm", "adaptive_avg_pool2d", "linear", "layer_norm",
                                              "group_norm", "instance_norm", "upsample_nearest2d",
                                              "upsample_bilinear2d"}


def test_left_out_operators_are_mapped_to_spec_layers() -> None:
    result = v.verify("shufflenet", g=3, resolution=64)
    left_out = {(o.treatment, o.op): o for o in result.omissions}
    assert left_out["unsupported", "add"].operators == {"aten::add": 13}  # 3 + 7 + 3 stride-1 units
    assert left_out["unsupported", "add"].layers[0] == "stage2.unit1.add"
    assert left_out["unsupported", "avgpool"].layers == tuple(f"stage{s}.unit0.shortcut" for s in (2, 3, 4))
    assert left_out["unsupported", "maxpool"].operators == {"aten::max_pool2d": 1}
    shuffle = left_out["ignored", "channel_shuffle"]
    assert len(shuffle.layers) == 16 and shuffle.operators == {"aten::view": 32, "aten::transpose": 16,
                                                                 "aten::contiguous": 16}
    assert left_out["ignored", "relu"].operators == {"aten::relu": 33}  # conv1 + 2 per unit
    assert left_out["ignored", "concat"].operators == {"aten::cat": 3}
    no_shuffle = v.verify("shufflenet", g=3, resolution=64, shuffle=False)
    assert ("ignored", "channel_shuffle") not in {(o.treatment, o.op) for o in no_shuffle.omissions}


def test_a_wrong_analytic_count_is_caught_layer_by_layer(wrong_batchnorm) -> None:
    """fvcore disagrees on every batchnorm layer, by one per element, and on the batch_norm operator total; the other
    checks still agree."""
    result = v.verify("mobilenet", width=0.25, resolution=64)
    assert result.result == "FAIL"
    bns = [layer for layer in result.layers if layer.op == "batchnorm"]
    layer_mismatches = {m.where: m for m in result.mismatches if m.where not in ("total", "batch_norm")}
    assert set(layer_mismatches) == {layer.name for layer in bns}
    for layer in bns:
        m = layer_mismatches[layer.name]
        elements = layer.out[0] * layer.out[1] * layer.out[2]
        assert (m.check, m.analytic, m.measured, m.difference) == ("fvcore_flops", 3 * elements, 2 * elements,
                                                                   -elements)
    totals = {m.check: m for m in result.mismatches if m.where == "total"}
    assert set(totals) == {"fvcore_flops"} and totals["fvcore_flops"].difference == -sum(
        layer.out[0] * layer.out[1] * layer.out[2] for layer in bns)
    assert [m.check for m in result.mismatches if m.where == "batch_norm"] == ["fvcore_by_operator"]


def test_grid_is_the_product_of_choices() -> None:
    shufflenet = load_spec("shufflenet")
    configs = v.grid(shufflenet)
    assert len(configs) == 5 * 5 * 2  # g x width x shuffle; resolution and classes keep their defaults
    assert configs[0] == {"g": 1, "width": 0.25, "resolution": 224, "shuffle": False, "classes": 1000}
    assert {(c["g"], c["width"], c["shuffle"]) for c in configs} == {
        (g, w, s) for g in (1, 2, 3, 4, 8) for w in (0.25, 0.5, 1.0, 1.5, 2.0) for s in (False, True)}
    assert v.grid(load_spec("mobilenet")) == [{"width": 1.0, "resolution": 224, "classes": 1000}]
    fixed = v.grid(shufflenet, {"g": 3, "resolution": 96})
    assert len(fixed) == 10 and all(c["g"] == 3 and c["resolution"] == 96 for c in fixed)


def test_invalid_grid_combinations_are_reported(write_spec) -> None:
    spec = load_spec(write_spec(GRID_SPEC, "grid.yaml"))
    outcomes = v.verify_grid(spec)
    results = {(o.config["g"], o.config["c"]): o for o in outcomes}
    assert [results[k].result for k in [(1, 6), (1, 8), (3, 6), (3, 8)]] == ["PASS", "PASS", "PASS", "INVALID"]
    assert "input channels 8 are not divisible by groups=3" in results[3, 8].message
    assert results[3, 8].ok  # reported, not a failed check
    with pytest.raises(v.ShufflecalcError, match="not divisible by groups=3"):
        v.verify_configs(spec, [{"g": 3, "c": 8}], strict=True)
