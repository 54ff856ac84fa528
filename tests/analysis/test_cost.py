"""The engine against published numbers (shared/reference/papers.md, copied here as constants with sources)."""

import pytest

import shufflecalc
from shufflecalc.analysis.cost import ALL_METRICS, METRICS, Totals, analyze

M = 1_000_000


def nearest_million(n: int) -> int:
    return int(n / M + 0.5)


# --- MobileNet v1 (Howard et al. 2017) -----------------------------------------------------------------------------


def test_mobilenet_exact() -> None:
    a = analyze("mobilenet")
    assert a.macs == 568_740_352  # 567,716,352 body + 1,024,000 FC
    assert a.macs - a.classifier.macs == 567_716_352
    assert a.classifier.macs == 1_024_000
    assert a.params == 4_231_976  # with BN gamma/beta, FC with bias
    bn_params = sum(layer.params for layer in a.layers if layer.op == "batchnorm")
    assert a.params - bn_params == 4_210_088  # without BN
    assert a.flops == 2 * a.macs


def test_metrics_by_hand_for_mobilenet() -> None:
    a = analyze("mobilenet")
    values = a.metrics()
    assert list(values) == list(ALL_METRICS) and list(ALL_METRICS[: len(METRICS)]) == list(METRICS)
    assert values["macs"] == 568_740_352 and values["flops"] == 2 * 568_740_352 and values["params"] == 4_231_976
    fc_macs, fc_params = 1024 * 1000, 1024 * 1000 + 1000  # FC 1024 -> 1000 with bias
    assert values["macs_without_classifier"] == 568_740_352 - fc_macs == 567_716_352
    assert values["params_without_classifier"] == 4_231_976 - fc_params == 3_206_976
    assert a.metrics(["params_without_classifier", "macs"]) == {"params_without_classifier": 3_206_976,
                                                                "macs": 568_740_352}
    assert {k: v for k, v in a.to_dict(layers=False).items() if k in ALL_METRICS} == values
    with pytest.raises(KeyError, match="speed"):
        a.metrics(["speed"])


@pytest.mark.parametrize("width, mmacs, mparams", [(0.75, 325, 2.6), (0.5, 149, 1.3), (0.25, 41, 0.5)])
def test_mobilenet_table6_width(width: float, mmacs: int, mparams: float) -> None:
    a = analyze("mobilenet", width=width)
    assert nearest_million(a.macs) == mmacs
    assert round(a.params / M, 1) == mparams


@pytest.mark.parametrize("resolution, mmacs", [(224, 569), (192, 418), (160, 291), (128, 186)])
def test_mobilenet_table7_resolution(resolution: int, mmacs: int) -> None:
    assert nearest_million(analyze("mobilenet", resolution=resolution).macs) == mmacs


def test_mobilenet_table3_layer() -> None:
    """Table 3: one 14x14x512 depthwise-separable layer is 52.3M MACs / 0.27M params (conv weights only)."""
    a = analyze("mobilenet")
    block = [layer for layer in a.layers if layer.block == "block7" and layer.op == "conv2d"]
    assert [layer.in_shapes[0] for layer in block] == [(512, 14, 14), (512, 14, 14)]
    assert sum(layer.macs for layer in block) == 52_283_392
    assert round(sum(layer.params for layer in block) / M, 2) == 0.27


# --- ShuffleNet v1 (Zhang et al. 2018) -----------------------------------------------------------------------------


@pytest.mark.parametrize("g, mflops", [(1, 143), (2, 140), (3, 137), (4, 133), (8, 137)])
def test_shufflenet_table1_without_fc(g: int, mflops: int) -> None:
    a = analyze("shufflenet", g=g)
    assert nearest_million(a.macs - a.classifier.macs) == mflops


@pytest.mark.parametrize("g, out", [(1, [144, 288, 576]), (2, [200, 400, 800]), (3, [240, 480, 960]),
                                    (4, [272, 544, 1088]), (8, [384, 768, 1536])])
def test_shufflenet_table1_channels(g: int, out: list[int]) -> None:
    a = analyze("shufflenet", g=g)
    outs = {b.name.split(".")[0]: b.out for b in a.graph.blocks}
    assert [outs[s][0] for s in ("stage2", "stage3", "stage4")] == out
    assert [outs[s][1] for s in ("stage2", "stage3", "stage4")] == [28, 14, 7]
    assert outs["conv1"] == (24, 112, 112)


@pytest.mark.parametrize(
    "width, g, mflops",
    [(0.5, 3, 38), (0.25, 3, 13), (1.5, 3, 292), (2.0, 3, 524),  # paper, FC included
     (2.0, 8, 522), (1.5, 8, 290), (1.0, 8, 138), (0.5, 8, 40)],  # authors' reference implementation
)
def test_shufflenet_widths_with_fc(width: float, g: int, mflops: int) -> None:
    assert nearest_million(analyze("shufflenet", g=g, width=width).macs) == mflops


def test_authors_1x_g3_within_half_a_percent() -> None:
    """The authors list 138M for 1.0x g=3; conv + linear MACs are 137.46M (Table 1's 137M + the 0.96M FC)."""
    macs = analyze("shufflenet", g=3).macs
    assert macs == 137_460_672
    assert abs(macs / 138e6 - 1) < 0.005


@pytest.mark.parametrize(
    "width, g, mparams",
    [(1.0, 3, 1.9), (1.0, 8, 2.4), (0.5, 3, 0.7), (1.5, 3, 3.4), (2.0, 3, 5.4),
     (2.0, 8, 6.5), (1.5, 8, 4.3), (0.5, 8, 1.0)],
)
def test_shufflenet_params(width: float, g: int, mparams: float) -> None:
    assert round(analyze("shufflenet", g=g, width=width).params / M, 1) == mparams


def test_table5_pairs() -> None:
    """Table 5: MobileNet vs ShuffleNet at similar cost (MFLOPs). The paper prints 1x models at their complexity
    level (140); their exact count with FC is 138.4M for g=8, so that pair is held to 2%."""
    pairs = [(1.0, (2.0, 3), 569, 524), (0.75, (1.5, 3), 325, 292), (0.5, (1.0, 8), 149, 140), (0.25, (0.5, 4), 41, 38)]
    for alpha, (s, g), mob, shuf in pairs:
        assert nearest_million(analyze("mobilenet", width=alpha).macs) == mob
        macs = analyze("shufflenet", width=s, g=g).macs
        if s == 1.0:
            assert abs(macs / (shuf * M) - 1) < 0.02
        else:
            assert nearest_million(macs) == shuf


def test_authors_conv1_width_rule() -> None:
    """The authors' code: conv1 = 12 (0.5x g=3), 16 (0.5x g=8), 24 (1x, 1.5x), 48 (2x)."""
    for width, g, c1 in [(0.5, 3, 12), (0.5, 8, 16), (1.0, 3, 24), (1.5, 3, 24), (2.0, 3, 48), (2.0, 8, 48)]:
        a = analyze("shufflenet", g=g, width=width)
        assert a.layers[0].out[0] == c1


def test_stage2_first_unit_is_ungrouped_and_units_follow_the_paper() -> None:
    a = analyze("shufflenet", g=3)
    by_name = {layer.name: layer for layer in a.layers}
    assert by_name["stage2.unit0.gconv1"].attrs["groups"] == 1
    assert by_name["stage3.unit0.gconv1"].attrs["groups"] == 3
    assert by_name["stage2.unit0.gconv2"].out == (216, 28, 28)  # out - in = 240 - 24
    assert [layer.name.rsplit(".", 1)[1] for layer in a.layers if layer.block == "stage3.unit1"] == [
        "gconv1", "bn1", "relu1", "shuffle", "dwconv", "bn2", "gconv2", "bn3", "add", "relu"]
    assert [layer.name.rsplit(".", 1)[1] for layer in a.layers if layer.block == "stage3.unit0"] == [
        "gconv1", "bn1", "relu1", "shuffle", "dwconv", "bn2", "gconv2", "bn3", "shortcut", "concat", "relu"]
    no_shuffle = analyze("shufflenet", g=3, shuffle=False)
    assert not any(layer.op == "channel_shuffle" for layer in no_shuffle.layers)
    assert no_shuffle.macs == a.macs


def test_totals_are_layer_sums_and_breakdowns_add_up() -> None:
    for name, cfg in [("mobilenet", {}), ("shufflenet", {"g": 8, "width": 0.5})]:
        a = analyze(name, **cfg)
        assert Totals.of(a.layers) == a.totals
        for by in ("class", "stage", "block"):
            parts = a.breakdown(by).values()
            assert sum(t.macs for t in parts) == a.macs
            assert sum(t.memory_access for t in parts) == a.memory_access


def test_breakdowns_count_their_layers() -> None:
    a = analyze("shufflenet", g=3)
    stages, blocks = a.breakdown("stage"), a.breakdown("block")
    # a stride-2 unit has 11 layers (with shortcut pool and concat), a stride-1 unit 10 (see the names above);
    # ShuffleNet's stages repeat 4, 8 and 4 units
    assert (stages["stage2"].layers, stages["stage3"].layers, stages["stage4"].layers) == (11 + 3 * 10, 11 + 7 * 10, 41)
    assert blocks["stage3.unit0"].layers == 11 and blocks["stage3.unit1"].layers == 10
    for by in ("class", "stage", "block"):
        assert sum(t.layers for t in a.breakdown(by).values()) == len(a.layers) == a.totals.layers


def test_fvcore_convention_by_hand() -> None:
    """macs + 2 per BN output element + 1 per global-pool input element."""
    a = analyze("mobilenet")
    bn = sum(2 * layer.out[0] * layer.out[1] * layer.out[2] for layer in a.layers if layer.op == "batchnorm")
    assert a.fvcore_flops == a.macs + bn + 1024 * 7 * 7


def test_memory_access_shufflenet_v2_formula() -> None:
    """ShuffleNet V2: a 1x1 conv has MAC = hw(c1 + c2) + c1*c2 (g=1), hw(c1 + c2) + c1*c2/g grouped."""
    a = analyze("shufflenet", g=3)
    layer = next(candidate for candidate in a.layers if candidate.name == "stage3.unit1.gconv1")
    c1, h, w = layer.in_shapes[0]
    c2 = layer.out[0]
    assert layer.memory_access == h * w * (c1 + c2) + c1 * c2 // 3


def test_public_api() -> None:
    a = shufflecalc.analyze("shufflenet", g=3)
    d = a.to_dict()
    assert d["macs"] == a.macs and d["config"]["g"] == 3 and d["input"] == [3, 224, 224]
    assert len(d["layers"]) == len(a.layers)


def test_odd_resolution_shapes() -> None:
    a = analyze("shufflenet", g=3, resolution=225)
    assert a.layers[0].out == (24, 113, 113)
    assert [b.out[1] for b in a.graph.blocks if b.name.endswith("unit0")] == [29, 15, 8]


# --- torchvision's models (shared/reference/papers.md: torchvision's num_params and GMACs at 224) -------------------

TORCHVISION = [
    # spec, config, num_params, GMACs (conv + linear, as torchvision rounds them: 2 decimals)
    ("shufflenet_v2", {"width": 0.5}, 1_366_792, 0.04),
    ("shufflenet_v2", {"width": 1.0}, 2_278_604, 0.14),
    ("shufflenet_v2", {"width": 1.5}, 3_503_624, 0.30),
    ("shufflenet_v2", {"width": 2.0}, 7_393_996, 0.58),
    ("mobilenet_v2", {}, 3_504_872, 0.30),
    ("mobilenet_v3_large", {}, 5_483_032, 0.22),
    ("mobilenet_v3_small", {}, 2_542_856, 0.06),
    ("resnet50", {}, 25_557_032, 4.09),
    ("resnext50_32x4d", {}, 25_028_904, 4.23),
]


@pytest.mark.parametrize("spec, config, params, gmacs", TORCHVISION, ids=[f"{s}{c}" for s, c, *_ in TORCHVISION])
def test_torchvision_params_and_gmacs(spec: str, config: dict, params: int, gmacs: float) -> None:
    a = analyze(spec, **config)
    assert a.graph.input == (3, 224, 224) and a.graph.output == (1000,)
    assert a.params == params
    assert round(a.macs / 1e9, 2) == gmacs


def test_torchvision_macs_exact() -> None:
    """The exact integers behind the rounded GMACs (the same counts fvcore and FlopCounterMode give: test_builder)."""
    assert analyze("resnet50").macs == 4_089_184_256
    assert analyze("resnext50_32x4d").macs == 4_230_479_872
    assert analyze("mobilenet_v2").macs == 300_774_272
    assert analyze("mobilenet_v3_large").macs == 216_589_760
    assert analyze("mobilenet_v3_small").macs == 56_510_400
    assert [analyze("shufflenet_v2", width=w).macs for w in (0.5, 1.0, 1.5, 2.0)] == [
        40_476_448, 144_907_992, 295_759_392, 583_253_464]


def test_resnet50_layers_by_hand() -> None:
    by_name = {layer.name: layer for layer in analyze("resnet50").layers}
    assert by_name["conv1.conv"].macs == 64 * 3 * 7 * 7 * 112 * 112  # 118,013,952
    assert by_name["layer1.unit0.conv2"].macs == 64 * 64 * 9 * 56 * 56
    assert by_name["layer1.unit0.downsample"].params == 64 * 256  # projection: channels 64 -> 256
    assert "layer1.unit1.downsample" not in by_name  # identity shortcut
    assert by_name["layer2.unit0.conv2"].out == (128, 28, 28)  # v1.5: the 3x3 conv has the stride
    assert by_name["layer2.unit0.downsample"].out == (512, 28, 28)
    assert by_name["fc"].macs == 2048 * 1000


def test_resnext_grouped_conv_by_hand() -> None:
    layer = next(candidate for candidate in analyze("resnext50_32x4d").layers if candidate.name == "layer1.unit0.conv2")
    assert layer.op_class == "grouped conv" and layer.out == (128, 56, 56)  # int(64 * 4 / 64) * 32 = 128
    assert layer.macs == 128 * (128 // 32) * 9 * 56 * 56


def test_mobilenet_v2_width_rule() -> None:
    """make_divisible(c * width, 8), last conv make_divisible(1280 * max(1, width), 8); 0.35: 32 -> 16, 16 -> 8."""
    a = analyze("mobilenet_v2", width=0.35)
    by_name = {layer.name: layer for layer in a.layers}
    assert by_name["conv1.conv"].out[0] == 16 and by_name["stage1.unit0.project"].out[0] == 8
    assert by_name["stage7.unit0.project"].out[0] == 112 and by_name["conv_last.conv"].out[0] == 1280
    assert by_name["stage1.unit0.dw"].in_shapes[0][0] == 16 and "stage1.unit0.expand" not in by_name
    assert analyze("mobilenet_v2", width=1.4).layers[-1].in_shapes[0] == (1792,)


def test_shufflenet_v2_unit_costs_by_hand() -> None:
    """ShuffleNet V2 1x, stage 3 (232 channels, 14x14): a stride-1 unit is two 116x116 1x1 convs and a 3x3 depthwise
    conv on half the channels; the split, concat and shuffle cost nothing."""
    a = analyze("shufflenet_v2")
    unit = [layer for layer in a.layers if layer.block == "stage3.unit1"]
    assert sum(layer.macs for layer in unit) == 2 * 116 * 116 * 14 * 14 + 116 * 9 * 14 * 14
    free = {layer.op for layer in unit if layer.macs == 0 and layer.op not in ("batchnorm", "relu")}
    assert free == {"split", "concat", "channel_shuffle"}
    assert a.layers[-2].op == "mean" and a.layers[-2].fvcore_flops == 0  # x.mean([2, 3]): fvcore counts nothing


def test_mobilenet_v3_se_and_hardswish_costs() -> None:
    """fvcore: SE's adaptive avg-pool counts 1 per input element, its fc convs their MACs; hardswish, hardsigmoid
    and the product count 0. MACs: the fc convs (with bias, not counted) count like any 1x1 conv at 1x1."""
    by_name = {layer.name: layer for layer in analyze("mobilenet_v3_large").layers}
    assert by_name["block4.se_pool"].fvcore_flops == 72 * 28 * 28 and by_name["block4.se_pool"].macs == 0
    assert by_name["block4.se_fc1"].macs == 72 * 24 and by_name["block4.se_fc1"].params == 72 * 24 + 24
    assert by_name["block4.se_fc2"].params == 24 * 72 + 72
    assert by_name["block4.se_mul"].out == (72, 28, 28)
    for name in ("block4.se_hardsigmoid", "block4.se_mul", "block7.dw_hardswish", "conv1.hardswish"):
        assert by_name[name].fvcore_flops == by_name[name].macs == 0
    assert by_name["block1.dw"].in_shapes[0] == (16, 112, 112) and "block1.expand" not in by_name


def test_unit_costs_resnet_resnext_shufflenet_formulas() -> None:
    """The ShuffleNet paper's unit costs at stride 1: ResNet hw(2cm + 9m^2), ResNeXt hw(2cm + 9m^2/g), ShuffleNet
    hw(2cm/g + 9m); resnet50's bottleneck is unit (a) with a dense 3x3 conv."""
    def unit(spec: str, block: str, **cfg: object) -> int:
        return analyze(spec, **cfg).breakdown("block")[block].macs

    for block, hw, c, m in (("layer1.unit1", 56 * 56, 256, 64), ("layer3.unit1", 14 * 14, 1024, 256)):
        assert unit("resnet50", block) == hw * (2 * c * m + 9 * m * m) == 218_365_952
        assert unit("resnext50_32x4d", block) == hw * (2 * c * 2 * m + 9 * (2 * m) ** 2 // 32) == 219_971_584
    assert unit("shufflenet", "stage3.unit1", g=3) == 14 * 14 * (2 * 480 * 120 // 3 + 9 * 120) == 7_738_080


def test_memory_access_of_views_is_zero(write_spec) -> None:
    """split, dropout (eval) and flatten alias their input in eager execution: no memory moves for them."""
    path = write_spec(
        "input: [8, 4, 4]\nlayers:\n"
        "  - {op: split, name: half, index: 1}\n"
        "  - {op: dropout, name: drop}\n"
        "  - {op: relu, name: act}\n"
        "  - {op: global_avgpool, name: pool}\n"
        "  - {op: flatten, name: flat}\n"
        "  - {op: linear, name: fc, out: 10}\n"
    )
    a = analyze(path)
    by_hand = {
        "half": 0, "drop": 0, "flat": 0,
        "act": 4 * 4 * 4 + 4 * 4 * 4,  # relu reads and writes 4 channels of 4x4
        "pool": 4 * 4 * 4 + 4,  # reads 4x4x4, writes 4x1x1
        "fc": 4 + 10 + 4 * 10 + 10,  # reads 4, writes 10, weights 40 and bias 10
    }
    assert {layer.name: layer.memory_access for layer in a.layers} == by_hand
    assert a.memory_access == sum(by_hand.values())


def test_shufflenet_v2_splits_move_no_memory() -> None:
    a = analyze("shufflenet_v2")
    splits = [layer for layer in a.layers if layer.op == "split"]
    assert len(splits) == 2 * (3 + 7 + 3)  # two halves in every stride-1 unit; stages of 4, 8 and 4 units
    assert all(split.memory_access == 0 for split in splits)
    # the layers that read the halves count that traffic: the right branch's 1x1 conv (58 channels at 28x28,
    # input + output + weights) and the concat (both halves in, 116 channels out)
    layers = {layer.name: layer for layer in a.layers}
    conv, concat = layers["stage2.unit1.branch2_pw1"], layers["stage2.unit1.concat"]
    assert conv.inputs == ("stage2.unit1.split1",) and conv.memory_access == 58 * 784 * 2 + 58 * 58
    assert concat.inputs[0] == "stage2.unit1.split0" and concat.memory_access == 2 * 58 * 784 + 116 * 784
