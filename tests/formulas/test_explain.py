"""The formulas beside the engine: equal wherever the formula's assumptions hold, and every difference explained.

The engine's numbers are the layer sums (tested against the papers in test_cost.py); the formulas are the closed forms
of formulas.py; nothing here is computed by both.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shufflecalc.errors import ShufflecalcError
from shufflecalc.formulas.explain import UnitCheck, explain, ranges
from shufflecalc.spec.graph import expand
from shufflecalc.spec.load import builtin_names, load_spec

# parameters without choices: the default plus a few values (odd resolutions included: they break "even Iw, Ih")
EXTRA = {"resolution": [160, 225], "width": [0.75, 0.5, 0.25, 0.3]}


def grid(spec_name: str) -> Iterator[dict[str, Any]]:
    """The product of every parameter's choices (bools: both; no choices: the default and EXTRA's values)."""
    spec = load_spec(spec_name)
    axes = []
    for name, p in spec.params.items():
        if p.choices:
            axes.append([(name, c) for c in p.choices])
        elif p.type is bool:
            axes.append([(name, False), (name, True)])
        else:
            axes.append([(name, p.default)] + [(name, x) for x in EXTRA.get(name, []) if p.choices is None])
    for combo in itertools.product(*axes):
        yield dict(combo)


def check_consistent(u: UnitCheck) -> None:
    """No violated assumption means equal; every difference, unit or layer, comes with its reasons. (Not the converse:
    two factors can differ and cancel, e.g. twice the channels at half the positions; the reasons are shown anyway.)"""
    assert u.engine_macs == sum(layer.macs for layer in u.layers)
    assert sum(p.formula_macs for p in u.parts) == u.formula_macs  # the terms add up to the closed form
    if not u.reasons:
        assert u.formula_macs == u.engine_macs, u.block.name
    for p in u.parts:
        assert len(p.reasons) == len(p.short)
        if p.difference:
            assert p.reasons, p.layer.name
        if not p.reasons:
            assert p.layer.macs == p.formula_macs, p.layer.name
    # a layer outside the formula with MACs (projection shortcut, SE conv) is a reason with its exact MACs; the rest
    # (BN, activations, shuffle, split, add, pooling, concat, SE's product) have none
    assert [x.layer for x in u.extras] == [layer for layer in u.others if layer.macs]
    for x in u.extras:
        assert f"{x.layer.macs:,} MACs" in x.reason and x.reason in u.reasons and x.short in u.short
    assert u.difference == sum(p.difference for p in u.parts) + sum(x.layer.macs for x in u.extras)


NO_FORMULA = {"squeezenet1_0", "inception_v3"}  # their units are user-defined blocks (fire, inception_a...e) that no
# paper's closed form covers
NO_FORMULA |= {"densenet", "regnet"}  # dense_layer, transition; res_bottleneck (conv_bn_act and SE inside a user block)
NO_FORMULA |= {"efficientnet", "convnext"}  # mbconv (conv_bn_act and SE inside a user block); cnblock
NO_FORMULA |= {"squeezenet", "vgg", "vit"}  # fire; conv3x3 and the classifier; the encoder layers


def test_a_spec_without_a_unit_a_formula_covers_says_so() -> None:
    for name in NO_FORMULA:
        with pytest.raises(ShufflecalcError, match=f"{name} has no block that a formula covers"):
            explain(name, {})


@pytest.mark.parametrize("spec_name", [n for n in builtin_names() if n not in NO_FORMULA])
def test_every_unit_of_every_builtin_spec_over_its_grid(spec_name: str) -> None:
    configs = 0
    for config in grid(spec_name):
        e = explain(spec_name, config)
        configs += 1
        for u in e.units:
            check_consistent(u)
    assert configs > 1


@pytest.mark.parametrize("g", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("width", [0.25, 0.5, 1.0, 1.5, 2.0])
def test_shufflenet_differences_at_224(g: int, width: float) -> None:
    """At 224x224 every feature map is even and K = 3. Stage 2's first unit differs (its branch makes out - in
    channels, and for g > 1 its first 1x1 conv is not grouped). The first units of stages 3 and 4 differ only where the
    spec rounds the stage widths to multiples of 4g (g = 2, 4 at 0.25x, 0.5x, 1.5x; docs/spec-format.md), so that a
    stage's width is not twice the previous one: then their branch makes out - in != M channels."""
    e = explain("shufflenet", {"g": g, "width": width})
    first, *rest = e.units
    assert first.block.name == "stage2.unit0" and first.difference > 0
    kinds = {r.split(" ", 1)[0] for r in first.short}
    assert kinds == ({"gconv1", "gconv2"} if g > 1 else {"gconv2"})
    assert any("out - in" in r for r in first.reasons)
    assert any("not grouped (pw1_grouped: false" in r for r in first.reasons) == (g > 1)
    rounded = g in (2, 4) and width in (0.25, 0.5, 1.5)
    differing = [u for u in rest if u.difference]
    assert bool(differing) == rounded
    for u in rest:
        doubled = u.block.out[0] == 2 * u.block.in_shape[0]
        if u.block.args["stride"] == 1 or doubled:
            assert u.difference == 0 and not u.reasons
        else:
            assert u.short == (f"gconv2 output channels {u.block.out[0] - u.block.in_shape[0]} ≠ {u.values['M']}",)


def test_shufflenet_stage2_unit0_difference_by_hand() -> None:
    """g=3: in 24 (conv1), out 240, bottleneck 60, input 56x56. Engine: 24->60 ungrouped at 56x56 (4,515,840),
    3x3 depthwise stride 2 (60*9*784 = 423,360), 60->216 in 3 groups at 28x28 (216*20*784 = 3,386,880).
    Formula unit-c with M=24: 60*24*3136/3 + 9*60*3136/4 + 24*60*3136/12 = 1,505,280 + 423,360 + 376,320."""
    u = explain("shufflenet", {"g": 3}, layer="stage2.unit0").units[0]
    assert u.values == {"M": 24, "N": 60, "Iw": 56, "Ih": 56, "g": 3}
    assert u.engine_macs == 4_515_840 + 423_360 + 3_386_880 == 8_326_080
    assert u.formula_macs == 1_505_280 + 423_360 + 376_320 == 2_304_960
    assert [p.difference for p in u.parts] == [4_515_840 - 1_505_280, 0, 3_386_880 - 376_320]


def test_mobilenet_every_block_equals_dwsep() -> None:
    """Every MobileNet block is K=3 dwsep; at stride 2, Iw x Ih is the output size (MobileNet's D_F)."""
    e = explain("mobilenet")
    assert len(e.units) == 13 and all(u.difference == 0 and not u.reasons for u in e.units)
    block7 = next(u for u in e.units if u.block.name == "block7")
    assert block7.formula_macs == 52_283_392  # MobileNet Table 3
    block2 = next(u for u in e.units if u.block.name == "block2")
    assert (block2.values["Iw"], block2.values["Ih"]) == (56, 56) and block2.notes
    # the 13 blocks are all of the model but conv1 (3*32*9*112*112 = 10,838,016) and fc (1,024,000)
    assert e.engine_macs == 568_740_352 - 10_838_016 - 1_024_000


def test_odd_resolution_is_explained() -> None:
    """resolution 225: conv1 113, maxpool 57, then odd maps: unit (c)'s IwIh/4 is no longer a whole count."""
    e = explain("shufflenet", {"g": 3, "resolution": 225})
    u = next(u for u in e.units if u.block.name == "stage3.unit0")
    assert (u.values["Iw"], u.values["Ih"]) == (29, 29)
    # engine: 240->120 g3 at 29x29 + 120*9*15*15 + 240*40*15*15; formula: the same with 29*29/4 = 210.25 positions
    assert u.engine_macs == 120 * 80 * 841 + 120 * 9 * 225 + 240 * 40 * 225
    assert u.difference == (120 * 9 + 240 * 40) * (225 - 841 / 4)
    assert all("assumes an even Iw and Ih" in r for r in u.reasons) and len(u.reasons) == 2


# --- the families of torchvision's models, by hand --------------------------------------------------------------------


def unit(spec: str, name: str, config: dict[str, Any] | None = None) -> UnitCheck:
    return explain(spec, config, layer=name).units[0]


def test_resnet50_units_by_hand() -> None:
    """ResNet-50 beside resnet-unit = hw(2cm + 9m²) (c = M the unit's input, m = N the 3x3 conv's channels).

    layer1.unit1 (256x56x56, m = 64, stride 1, identity shortcut): 3,136 * (2*256*64 + 9*64²) = 218,365,952, equal.
    layer1.unit0 (64x56x56 -> 256, stride 1): formula 3,136 * (2*64*64 + 9*64²) = 3,136 * 45,056 = 141,295,616;
      conv3 makes 256 channels, not M = 64: 256*64*3,136 = 51,380,224 against 64*64*3,136 = 12,845,056; the projection
      shortcut adds 256*64*3,136 = 51,380,224: difference 38,535,168 + 51,380,224 = 89,915,392.
    layer2.unit0 (256x56x56 -> 512x28x28, m = 128, stride 2 on the 3x3 conv):
      conv1 128*256*3,136 = 102,760,448 (= the formula's term); conv2 128*128*9*784 = 115,605,504 against the
      formula's 9*128²*3,136 = 462,422,016; conv3 512*128*784 = 51,380,224 against 128*256*3,136 = 102,760,448;
      downsample 512*256*784 = 102,760,448: engine 372,506,624, formula 3,136 * 212,992 = 667,942,912."""
    u = unit("resnet50", "layer1.unit1")
    assert u.formula.name == "resnet-unit" and u.values == {"M": 256, "N": 64, "Iw": 56, "Ih": 56}
    assert u.formula_macs == u.engine_macs == 218_365_952 and not u.reasons
    u = unit("resnet50", "layer1.unit0")
    assert u.formula_macs == 141_295_616 and u.engine_macs == 12_845_056 + 115_605_504 + 2 * 51_380_224
    assert u.difference == 89_915_392
    assert u.short == ("conv3 output channels 256 ≠ 64", "downsample (projection shortcut) +51,380,224")
    assert "256·64·56·56 = 51,380,224 MACs" in u.reasons[1] and "identity shortcut" in u.reasons[1]
    u = unit("resnet50", "layer2.unit0.conv2")
    assert [p.layer.macs for p in u.parts] == [102_760_448, 115_605_504, 51_380_224]
    assert [p.formula_macs for p in u.parts] == [102_760_448, 462_422_016, 102_760_448]
    assert u.engine_macs == 372_506_624 and u.formula_macs == 667_942_912
    assert [x.layer.macs for x in u.extras] == [102_760_448]
    assert u.short == ("conv2 output positions 784 ≠ 3,136", "conv3 output channels 512 ≠ 256",
                       "conv3 output positions 784 ≠ 3,136", "downsample (projection shortcut) +102,760,448")
    assert "written for stride 1" in u.reasons[0] and "512·256·28·28 = 102,760,448 MACs" in u.reasons[3]


def test_resnext50_unit_by_hand() -> None:
    """ResNeXt-50 32x4d, layer1.unit1: m = int(64 * 4/64) * 32 = 128, g = 32 on 256x56x56:
    conv1 128*256*3,136 = 102,760,448; conv2 128*128/32*9*3,136 = 14,450,688; conv3 102,760,448; total 219,971,584
    = resnext-unit 3,136 * (2*256*128 + 9*128²/32) (test_formulas.py)."""
    u = unit("resnext50_32x4d", "layer1.unit1")
    assert u.formula.name == "resnext-unit" and u.values == {"M": 256, "N": 128, "Iw": 56, "Ih": 56, "g": 32}
    assert [p.layer.macs for p in u.parts] == [102_760_448, 14_450_688, 102_760_448]
    assert u.engine_macs == u.formula_macs == 219_971_584 and not u.reasons
    assert any("int(64 x 4 / 64) x 32 = 128" in n for n in u.notes)


def test_mobilenet_v2_units_by_hand() -> None:
    """MobileNetV2 (224): stage2.unit0, 16x112x112 -> 24x56x56, t = 6, stride 2: expansion 16*96*12,544 = 19,267,584,
    depthwise 9*96*3,136 = 2,709,504, projection 96*24*3,136 = 7,225,344: 29,202,432 = inverted-residual-s2.
    stage1.unit0 has t = 1 and no expansion conv: dwsep 9*32*12,544 + 16*32*12,544 = 3,612,672 + 6,422,528."""
    u = unit("mobilenet_v2", "stage2.unit0")
    assert u.formula.name == "inverted-residual-s2"
    assert u.values == {"K": 3, "M": 16, "N": 24, "t": 6, "Iw": 112, "Ih": 112}
    assert [p.layer.macs for p in u.parts] == [19_267_584, 2_709_504, 7_225_344]
    assert u.engine_macs == u.formula_macs == 29_202_432 and not u.reasons
    u = unit("mobilenet_v2", "stage1.unit0")
    assert u.formula.name == "dwsep" and u.engine_macs == u.formula_macs == 10_035_200
    assert "no expansion conv" in u.notes[0]
    e = explain("mobilenet_v2")
    assert len(e.units) == 17 and all(not x.reasons for x in e.units)  # every unit equal at 224
    # resolution 225: 113x113 maps; a stride-2 unit's depthwise conv has 57x57 = 3,249 positions, not 113²/4
    u = unit("mobilenet_v2", "stage2.unit0", {"resolution": 225})
    assert u.short == ("dw output positions 3,249 ≠ 12,769/4 (≈ 3,192.25)",
                       "project output positions 3,249 ≠ 12,769/4 (≈ 3,192.25)")


def test_mobilenet_v3_small_se_unit_by_hand() -> None:
    """MobileNetV3-Small block4: 24x28x28, hidden 96 (t = 96/24 = 4), 5x5 depthwise, stride 2, 40 out, SE with 24
    squeeze channels, hardswish. expansion 24*96*784 = 1,806,336; depthwise 96*25*196 = 470,400; projection
    96*40*196 = 752,640: the formula 784 * 24 * 4 * (24 + (25 + 40)/4) = 3,029,376. SE: fc1 24*96 = 2,304 and fc2
    96*24 = 2,304 on the 1x1 pooled map: engine 3,033,984. hardswish and hardsigmoid have 0 MACs."""
    u = unit("mobilenet_v3_small", "block4")
    assert u.formula.name == "inverted-residual-s2"
    assert u.values == {"K": 5, "M": 24, "N": 40, "t": 4, "Iw": 28, "Ih": 28}
    assert [p.layer.macs for p in u.parts] == [1_806_336, 470_400, 752_640] and u.formula_macs == 3_029_376
    assert u.engine_macs == 3_033_984 and u.difference == 4_608
    assert u.short == ("se_fc1 (SE) +2,304", "se_fc2 (SE) +2,304")
    assert "1x1 conv 96 -> 24 of the squeeze-and-excitation, on the pooled 1x1 map: 24·96 = 2,304 MACs" in u.reasons[0]
    zero = {layer.op for layer in u.others if not layer.macs}
    assert {"hardswish", "hardsigmoid", "global_avgpool", "mul"} <= zero
    # block2 lists 72 hidden channels on 16 inputs: t = 9/2, and no SE: equal (test_formulas.py: 5,475,456)
    u = unit("mobilenet_v3_small", "block2")
    assert u.values["t"] == Fraction(9, 2) and u.engine_macs == u.formula_macs == 5_475_456 and not u.reasons


def test_shufflenet_v2_units_by_hand() -> None:
    """ShuffleNetV2 1.0x: stage2.unit0 (24x56x56 -> 116, stride 2, N = 58) is 8,672,608 and stage2.unit1 (c' = 58 at
    28x28) is 5,684,000, both written out in test_formulas.py; every unit equals its formula at 224."""
    u = unit("shufflenet_v2", "stage2.unit0")
    assert u.formula.name == "shufflenet-v2-unit-s2" and u.values == {"M": 24, "N": 58, "Iw": 56, "Ih": 56}
    assert [p.layer.macs for p in u.parts] == [169_344, 1_091_328, 4_365_312, 409_248, 2_637_376]
    assert u.engine_macs == u.formula_macs == 8_672_608 and not u.reasons
    u = unit("shufflenet_v2", "stage2.unit1")
    assert u.formula.name == "shufflenet-v2-unit" and u.values == {"N": 58, "Iw": 28, "Ih": 28}
    assert u.engine_macs == u.formula_macs == 5_684_000
    for width in (0.5, 1.0, 1.5, 2.0):
        assert all(x.difference == 0 and not x.reasons for x in explain("shufflenet_v2", {"width": width}).units)


# --- random one-unit specs --------------------------------------------------------------------------------------------

_dir = tempfile.TemporaryDirectory()
_count = itertools.count()


def one_unit(c: int, h: int, w: int, unit: dict[str, Any]) -> UnitCheck:
    """A spec with one unit on a C x H x W input, written as YAML and run through the whole pipeline."""
    args = ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else repr(v)}" for k, v in unit.items())
    path = Path(_dir.name) / f"unit{next(_count)}.yaml"
    path.write_text(f"input: [{c}, {h}, {w}]\nlayers:\n  - {{name: u, {args}}}\n")
    (u,) = explain(str(path)).units
    return u


sizes = st.integers(1, 33)


@st.composite
def residual_units(draw: Any, hold: bool) -> tuple[int, int, int, dict[str, Any]]:
    """A bottleneck or ShuffleNet unit; `hold`: the formula's assumptions hold (K=3, even maps at stride 2, a stride-2
    branch that doubles the channels, both 1x1 convs grouped)."""
    op = draw(st.sampled_from(["bottleneck", "shufflenet_unit"]))
    g = draw(st.integers(1, 4)) if op == "shufflenet_unit" else 1
    stride = 1 if hold and draw(st.booleans()) else draw(st.sampled_from([1, 2] if hold else [1, 2, 3]))
    kernel = 3 if hold else draw(st.sampled_from([1, 3, 5]))
    h, w = draw(sizes), draw(sizes)
    if hold and stride == 2:
        h, w = 2 * ((h + 1) // 2), 2 * ((w + 1) // 2)
    mid = g * draw(st.integers(1, 12))
    c = g * draw(st.integers(1, 24))
    out = c if stride == 1 else 2 * c if hold else c + g * draw(st.integers(1, 24))
    unit = {"op": op, "out": out, "stride": stride, "kernel": kernel, "bottleneck": mid / out}
    if op == "shufflenet_unit":
        unit.update(groups=g, shuffle=draw(st.booleans()))
        if not hold:
            unit["pw1_grouped"] = draw(st.booleans())
    return c, h, w, unit


@settings(max_examples=80, deadline=None)
@given(residual_units(hold=True))
def test_random_units_where_the_formula_holds_are_equal(case: tuple) -> None:
    c, h, w, unit = case
    u = one_unit(c, h, w, unit)
    assert u.values["N"] == int(round(unit["out"] * unit["bottleneck"], 9))
    assert not u.reasons, u.reasons
    assert u.formula_macs == u.engine_macs


@settings(max_examples=120, deadline=None)
@given(residual_units(hold=False))
def test_random_units_every_difference_has_a_reason(case: tuple) -> None:
    c, h, w, unit = case
    u = one_unit(c, h, w, unit)
    check_consistent(u)
    reasons = " ".join(u.reasons)
    if unit["kernel"] != 3:
        assert "written for a 3x3 kernel" in reasons
    if unit["stride"] == 2 and unit["out"] != 2 * c:
        assert "out - in" in reasons
    _, oh, ow = u.parts[1].layer.out  # the depthwise conv's output
    if unit["stride"] == 3 and oh * ow != Fraction(h * w, 4):
        assert "assumes stride 2" in reasons


@st.composite
def torchvision_units(draw: Any, hold: bool) -> tuple[int, int, int, dict[str, Any]]:
    """An inverted residual, ShuffleNetV2 unit or ResNet bottleneck; `hold`: the formula's assumptions hold (stride 1,
    or 2 on an even map; the ShuffleNetV2 units' 3x3 kernel; ResNet: stride 1 with out = in; no SE)."""
    op = draw(st.sampled_from(["inverted_residual", "shufflenet_v2_unit", "resnet_bottleneck"]))
    stride = draw(st.sampled_from([1, 2] if hold else [1, 2, 3]))
    h, w = draw(sizes), draw(sizes)
    if hold and stride == 2:
        h, w = 2 * ((h + 1) // 2), 2 * ((w + 1) // 2)
    if op == "inverted_residual":
        c = draw(st.integers(1, 40))
        unit = {"op": op, "out": draw(st.integers(1, 40)), "stride": stride, "kernel": draw(st.sampled_from([1, 3, 5]))}
        if draw(st.booleans()):
            unit["hidden"] = draw(st.sampled_from([c, draw(st.integers(1, 120))]))
        else:
            unit["expand"] = draw(st.sampled_from([1.0, 2.5, 3.0, 6.0]))
        unit["se"] = False if hold else draw(st.booleans())
    elif op == "shufflenet_v2_unit":
        half = draw(st.integers(1, 24))
        c = 2 * half if stride == 1 else draw(st.integers(1, 40))
        unit = {"op": op, "out": 2 * half, "stride": stride, "kernel": 3 if hold else draw(st.sampled_from([1, 3, 5]))}
    else:
        planes, expansion, groups = draw(st.integers(1, 16)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
        per_group = draw(st.sampled_from([64, 128] if hold else [16, 64, 128]))
        assume(planes * per_group >= 64)
        stride = 1 if hold else stride
        c = planes * expansion if hold else draw(st.sampled_from([planes * expansion, draw(st.integers(1, 40))]))
        unit = {"op": op, "planes": planes, "expansion": expansion, "groups": groups, "width_per_group": per_group,
                "stride": stride}
    return c, h, w, unit


@settings(max_examples=80, deadline=None)
@given(torchvision_units(hold=True))
def test_random_torchvision_units_where_the_formula_holds_are_equal(case: tuple) -> None:
    c, h, w, unit = case
    u = one_unit(c, h, w, unit)
    assert not u.reasons, u.reasons
    assert u.formula_macs == u.engine_macs


@settings(max_examples=120, deadline=None)
@given(torchvision_units(hold=False))
def test_random_torchvision_units_every_difference_has_a_reason(case: tuple) -> None:
    c, h, w, unit = case
    u = one_unit(c, h, w, unit)
    check_consistent(u)
    reasons = " ".join(u.reasons)
    assert ("squeeze-and-excitation" in reasons) == bool(unit.get("se"))
    if unit["op"] == "resnet_bottleneck":
        assert ("projection shortcut" in reasons) == (unit["stride"] > 1 or c != unit["planes"] * unit["expansion"])
        _, oh, ow = u.parts[1].layer.out  # the 3x3 conv, which carries the stride
        assert ("written for stride 1" in reasons) == (oh * ow != h * w)
    if unit["op"] == "shufflenet_v2_unit" and unit["kernel"] != 3:
        assert "written for a 3x3 kernel" in reasons


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 64), out=st.integers(1, 64), h=sizes, w=sizes, kernel=st.integers(1, 5),
       stride=st.integers(1, 3))
def test_random_dwsep_blocks_are_always_equal(c: int, out: int, h: int, w: int, kernel: int, stride: int) -> None:
    assume((h + 2 * ((kernel - 1) // 2) - kernel) >= 0 and (w + 2 * ((kernel - 1) // 2) - kernel) >= 0)
    u = one_unit(c, h, w, {"op": "dwsep", "out": out, "stride": stride, "kernel": kernel})
    assert u.formula.name == "dwsep" and not u.reasons
    assert u.formula_macs == u.engine_macs


# --- --layer ----------------------------------------------------------------------------------------------------------


def test_layer_selects_one_unit() -> None:
    by_unit = explain("shufflenet", layer="stage3.unit0")
    by_layer = explain("shufflenet", layer="stage3.unit0.dwconv")
    assert [u.block.name for u in by_unit.units] == [u.block.name for u in by_layer.units] == ["stage3.unit0"]
    with pytest.raises(ShufflecalcError) as err:
        explain("shufflenet", layer="stage3.unit9")
    message = str(err.value)
    assert "did you mean stage3.unit7" in message and "units: stage2.unit0-3, stage3.unit0-7, stage4.unit0-3" in message
    with pytest.raises(ShufflecalcError, match=r"'conv1\.conv' is in no unit that a formula covers"):
        explain("shufflenet", layer="conv1.conv")
    with pytest.raises(ShufflecalcError, match="'fc' is in no unit"):
        explain("shufflenet", layer="fc")
    assert ranges(["block1", "block2", "block3", "fc", "s.unit0"]) == "block1-3, fc, s.unit0"


def test_no_unit_to_explain(write_spec) -> None:
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - {op: conv2d, out: 4, kernel: 3}\n")
    with pytest.raises(ShufflecalcError, match="has no block that a formula covers"):
        explain(path)
    assert expand(path).sums.macs == 4 * 3 * 9 * 64
