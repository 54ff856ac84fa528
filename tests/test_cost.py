"""The engine against published numbers (shared/reference/papers.md, copied here as constants with sources)."""

import pytest

import shufflecalc
from shufflecalc.cost import Totals, analyze

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
    bn_params = sum(l.params for l in a.layers if l.op == "batchnorm")
    assert a.params - bn_params == 4_210_088  # without BN
    assert a.flops == 2 * a.macs


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
    block = [l for l in a.layers if l.block == "block7" and l.op == "conv2d"]
    assert [l.in_shapes[0] for l in block] == [(512, 14, 14), (512, 14, 14)]
    assert sum(l.macs for l in block) == 52_283_392
    assert round(sum(l.params for l in block) / M, 2) == 0.27


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
    by_name = {l.name: l for l in a.layers}
    assert by_name["stage2.unit0.gconv1"].attrs["groups"] == 1
    assert by_name["stage3.unit0.gconv1"].attrs["groups"] == 3
    assert by_name["stage2.unit0.gconv2"].out == (216, 28, 28)  # out - in = 240 - 24
    assert [l.name.rsplit(".", 1)[1] for l in a.layers if l.block == "stage3.unit1"] == [
        "gconv1", "bn1", "relu1", "shuffle", "dwconv", "bn2", "gconv2", "bn3", "add", "relu"]
    assert [l.name.rsplit(".", 1)[1] for l in a.layers if l.block == "stage3.unit0"] == [
        "gconv1", "bn1", "relu1", "shuffle", "dwconv", "bn2", "gconv2", "bn3", "shortcut", "concat", "relu"]
    no_shuffle = analyze("shufflenet", g=3, shuffle=False)
    assert not any(l.op == "channel_shuffle" for l in no_shuffle.layers)
    assert no_shuffle.macs == a.macs


def test_totals_are_layer_sums_and_breakdowns_add_up() -> None:
    for name, cfg in [("mobilenet", {}), ("shufflenet", {"g": 8, "width": 0.5})]:
        a = analyze(name, **cfg)
        assert Totals.of(a.layers) == a.totals
        for by in ("class", "stage", "block"):
            parts = a.breakdown(by).values()
            assert sum(t.macs for t in parts) == a.macs
            assert sum(t.memory_access for t in parts) == a.memory_access


def test_fvcore_convention_by_hand() -> None:
    """macs + 2 per BN output element + 1 per global-pool input element."""
    a = analyze("mobilenet")
    bn = sum(2 * l.out[0] * l.out[1] * l.out[2] for l in a.layers if l.op == "batchnorm")
    assert a.fvcore_flops == a.macs + bn + 1024 * 7 * 7


def test_memory_access_shufflenet_v2_formula() -> None:
    """ShuffleNet V2: a 1x1 conv has MAC = hw(c1 + c2) + c1*c2 (g=1), hw(c1 + c2) + c1*c2/g grouped."""
    a = analyze("shufflenet", g=3)
    layer = next(l for l in a.layers if l.name == "stage3.unit1.gconv1")
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
