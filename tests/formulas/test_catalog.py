"""The closed-form formulas: published values, hand computations, and the printed text against the functions."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shufflecalc.errors import ShufflecalcError
from shufflecalc.formulas.catalog import FORMULAS, evaluate, exact_json, exact_text, parse_values, substitute

EXAMPLE = {"K": 3, "M": 240, "N": 60, "Iw": 28, "Ih": 28, "g": 3}


def blog_eval(text: str, values: dict[str, Any], letters: dict[str, str] | None = None) -> Fraction:
    """Evaluate a formula as the papers write it ('2NM·IwIh/g + 9N·IwIh'): adjacent factors multiply, ² squares.

    `letters` reads a paper's own letters ("hw(2cm + 9m²)", "h·w·d'·t(d' + k² + d'')") as shufflecalc's symbols.
    Written independently of formulas.py, so that the text a user reads is checked against the function that computes.
    """
    alphabet = "d''|d'|c'|[hwcmkgt]" if letters else "Iw|Ih|[KMNgt]"
    tokens = re.findall(r"[0-9]+|" + alphabet + r"|[()+/·²]", text)
    assert "".join(tokens) == text.replace(" ", ""), text
    if letters:
        values = {letter: values[symbol] for letter, symbol in letters.items() if symbol in values}
    out: list[str] = []
    prev_operand = False
    for t in tokens:
        number = t[0] in "0123456789"
        operand_start = number or t in values or t == "("
        if operand_start and prev_operand:
            out.append("*")
        out.append({"·": "*", "²": "**2"}.get(t, f"Fraction('{values[t]}')" if t in values else
                                              f"Fraction({t})" if number else t))
        prev_operand = number or t in values or t in (")", "²")
    return eval("".join(out), {"Fraction": Fraction})


def template_eval(substituted: str) -> Fraction:
    """Evaluate a substituted template ('3²·512·14·14 + ...') exactly."""
    assert re.fullmatch(r"[0-9·²+/() ]+", substituted), substituted
    expr = re.sub(r"[0-9]+", lambda m: f"Fraction({m.group()})", substituted.replace("²", "**2").replace("·", "*"))
    return eval(expr, {"Fraction": Fraction})


# --- published and hand-computed values ---------------------------------------------------------------------------


def test_mobilenet_table3_dwsep_and_conv() -> None:
    """MobileNet Table 3: a 14x14x512 layer with a 3x3x512x512 kernel: conv 462M MACs, depthwise separable 52.3M."""
    v = {"K": 3, "M": 512, "N": 512, "Iw": 14, "Ih": 14}
    ev = evaluate("dwsep", v)
    assert ev.macs == 52_283_392  # 9*512*196 + 512*512*196 = 903,168 + 51,380,224
    assert [m for _, m in ev.parts] == [903_168, 51_380_224]
    assert ev.baseline_macs == evaluate("conv", v).macs == 462_422_016  # 9*512*512*196
    assert round(ev.macs / 1e6, 1) == 52.3 and round(ev.baseline_macs / 1e6) == 462
    assert ev.ratio == ev.closed_ratio == Fraction(1, 512) + Fraction(1, 9) == Fraction(521, 4608)


def test_example_values_by_hand() -> None:
    """K=3, M=240, N=60, 28x28, g=3 (ShuffleNet stage 2, g=3), each written out."""
    hand = {
        "conv": 9 * 240 * 60 * 784,  # 101,606,400
        "dwsep": 9 * 240 * 784 + 60 * 240 * 784,  # 1,693,440 + 11,289,600
        "gconv": 9 * 60 * 240 // 3 * 784,  # 43,200 per position
        "unit-a": 2 * 60 * 240 * 784 + 9 * 60 * 784,  # 22,579,200 + 423,360
        "unit-b": 2 * 60 * 240 * 784 // 3 + 9 * 60 * 784,  # 7,526,400 + 423,360
        "unit-c": 60 * 240 * 784 // 3 + 9 * 60 * 784 // 4 + 240 * 60 * 784 // 12,  # 3,763,200 + 105,840 + 940,800
    }
    assert hand == {"conv": 101_606_400, "dwsep": 12_983_040, "gconv": 33_868_800, "unit-a": 23_002_560,
                    "unit-b": 7_949_760, "unit-c": 4_809_840}
    for name, value in hand.items():
        assert evaluate(name, EXAMPLE).macs == value, name
    assert FORMULAS["gconv"].per_position[2](EXAMPLE) == 43_200
    assert evaluate("unit-b", EXAMPLE).baseline_macs == hand["unit-a"]
    assert evaluate("unit-c", EXAMPLE).baseline_macs == 60 * 240 * 784 + 9 * 60 * 784 // 4 + 240 * 60 * 784 // 4
    assert evaluate("gconv", EXAMPLE).ratio == Fraction(1, 3)


def test_shufflenet_stage3_unit_by_hand() -> None:
    """Stage 3, g=3: in 240, out 480, bottleneck 120; unit (c) on 28x28 and unit (b) on 14x14."""
    c = evaluate("unit-c", {"M": 240, "N": 120, "Iw": 28, "Ih": 28, "g": 3})
    assert c.macs == 120 * 80 * 784 + 120 * 9 * 196 + 240 * 40 * 196 == 9_619_680
    b = evaluate("unit-b", {"M": 480, "N": 120, "Iw": 14, "Ih": 14, "g": 3})
    assert b.macs == 2 * 120 * 160 * 196 + 9 * 120 * 196 == 7_738_080


def test_non_integers_are_exact() -> None:
    ev = evaluate("unit-c", {"M": 240, "N": 63, "Iw": 7, "Ih": 7, "g": 3})
    # 63*240*49/3 + 9*63*49/4 + 240*63*49/12 = 246,960 + 27,783/4 + 61,740
    assert ev.macs == 246_960 + Fraction(27_783, 4) + 61_740
    assert ev.macs.denominator == 4
    assert exact_json(ev.macs) == "1262583/4"
    assert exact_text(ev.macs) == "1,262,583/4 (≈ 315,645.75)"
    assert any("Iw·Ih/4 = 49/4 is not whole" in n for n in ev.notes)
    assert exact_json(Fraction(10, 2)) == 5 and exact_text(52_283_392) == "52,283,392"



@pytest.mark.parametrize("name, values, message", [
    ("gconv", {"K": 3, "M": 10, "N": 12, "Iw": 7, "Ih": 7, "g": 3}, "gconv: --M 10 is not divisible by --g 3"),
    ("gconv", {"K": 3, "M": 12, "N": 10, "Iw": 7, "Ih": 7, "g": 3}, "gconv: --N 10 is not divisible by --g 3"),
    ("unit-c", {"M": 240, "N": 61, "Iw": 7, "Ih": 7, "g": 3}, "unit-c: --N 61 is not divisible by --g 3"),
])
def test_channels_that_do_not_split_into_groups_are_an_error(name: str, values: dict, message: str) -> None:
    """As the engine refuses a conv2d whose channels do not divide by its groups (tests/spec/test_layers.py)."""
    with pytest.raises(ShufflecalcError, match=message):
        evaluate(name, values)


def test_resnet_and_resnext_units_by_hand() -> None:
    """ShuffleNet section 3.2: ResNet hw(2cm + 9m²), ResNeXt hw(2cm + 9m²/g), ShuffleNet hw(2cm/g + 9m).
    ResNet-50's layer1.unit1: c = 256, m = 64 on 56x56 (hw = 3,136):
      3,136 * (2*256*64 + 9*64²) = 3,136 * (32,768 + 36,864) = 3,136 * 69,632 = 218,365,952.
    ResNeXt-50 32x4d's layer1.unit1: c = 256, m = 128, g = 32:
      3,136 * (2*256*128 + 9*128²/32) = 3,136 * (65,536 + 4,608) = 3,136 * 70,144 = 219,971,584."""
    resnet = evaluate("resnet-unit", {"M": 256, "N": 64, "Iw": 56, "Ih": 56})
    assert resnet.macs == 218_365_952
    assert [m for _, m in resnet.parts] == [51_380_224, 115_605_504, 51_380_224]  # 256*64*3136, 9*64*64*3136
    assert "give --g to compare with resnext-unit" in " ".join(resnet.notes)
    assert [c.formula.name for c in resnet.comparisons] == ["unit-a"]  # 2*64*256*3136 + 9*64*3136 = 104,566,784
    assert resnet.comparisons[0].macs == 104_566_784
    resnext = evaluate("resnext-unit", {"M": 256, "N": 128, "Iw": 56, "Ih": 56, "g": 32})
    assert resnext.macs == 219_971_584
    assert resnext.baseline_macs == 3_136 * (65_536 + 9 * 128 * 128)  # the same without groups: 667,942,912
    # ShuffleNet unit (b) at the same c, m, g: 3,136 * (2*256*128/32 + 9*128) = 3,136 * (2,048 + 1,152)
    (unit_b,) = resnext.comparisons
    assert unit_b.formula.name == "unit-b" and unit_b.macs == 3_136 * 3_200 == 10_035_200
    assert unit_b.ratio == Fraction(3_200, 70_144)
    assert not resnext.notes  # N = 128 divides by 32; M = 256 is in no grouped conv


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 2000), m=st.integers(1, 2000), g=st.integers(1, 64), size=st.integers(1, 60))
def test_shufflenet_unit_costs_least(c: int, m: int, g: int, size: int) -> None:
    """The paper's claim: at the same c, m, g (channels that split into g groups), ShuffleNet <= ResNeXt <= ResNet;
    all equal only at g = 1 for the first two (then unit-b is unit (a), which has a depthwise 3x3: 9m <= 9m²)."""
    c, m = c * g, m * g
    v = {"M": c, "N": m, "Iw": size, "Ih": size, "g": g}
    b, x, r = (evaluate(n, v).macs for n in ("unit-b", "resnext-unit", "resnet-unit"))
    assert b <= x <= r
    assert (x == r) == (g == 1)


def test_inverted_residual_by_hand() -> None:
    """MobileNetV2 section 3.3, h·w·d'·t(d' + k² + d''), on Table 2's rows.
    Stride 1, 56x56x24 -> 24, t = 6, k = 3: 3,136 * 24 * 6 * (24 + 9 + 24) = 3,136 * 144 * 57 = 25,740,288
      = expansion 24*144*3,136 (10,838,016) + depthwise 9*144*3,136 (4,064,256) + projection 144*24*3,136 (10,838,016).
    Stride 2, 112x112x16 -> 24, t = 6: expansion 16*96*12,544 = 19,267,584 on the input; depthwise 9*96*3,136 =
      2,709,504 and projection 96*24*3,136 = 7,225,344 on the 56x56 output: 29,202,432."""
    s1 = evaluate("inverted-residual", {"K": 3, "M": 24, "N": 24, "t": 6, "Iw": 56, "Ih": 56})
    assert s1.macs == 25_740_288 and [m for _, m in s1.parts] == [10_838_016, 4_064_256, 10_838_016]
    s2 = evaluate("inverted-residual-s2", {"K": 3, "M": 16, "N": 24, "t": 6, "Iw": 112, "Ih": 112})
    assert s2.macs == 29_202_432 and [m for _, m in s2.parts] == [19_267_584, 2_709_504, 7_225_344]
    # MobileNetV3-Small's second block lists 72 hidden channels on 16 inputs: t = 72/16 = 9/2, k = 3, 56x56 -> 28x28
    # 16*72*3,136 + 9*72*784 + 72*24*784 = 3,612,672 + 508,032 + 1,354,752 = 5,475,456
    v3 = evaluate("inverted-residual-s2", {"K": 3, "M": 16, "N": 24, "t": "9/2", "Iw": 56, "Ih": 56})
    assert v3.values["t"] == Fraction(9, 2) and v3.macs == 5_475_456
    assert v3.substituted == "56·56·16·(9/2)·(16 + (3² + 24)/4)"
    assert evaluate("inverted-residual-s2", {**v3.values, "t": "4.5"}).macs == v3.macs
    odd = evaluate("inverted-residual", {"K": 3, "M": 5, "N": 8, "t": "3/2", "Iw": 7, "Ih": 7})
    assert odd.macs == 49 * 5 * Fraction(3, 2) * (5 + 9 + 8)  # tM = 7.5: not a real layer, given exactly
    assert any("tM = (3/2)·5 = 15/2 is not a whole number" in n for n in odd.notes)


def test_shufflenet_v2_units_by_hand() -> None:
    """No closed form in the ShuffleNet V2 paper; derived from its Figure 3 and checked on torchvision's 1.0x.
    Stride 1, stage 2 (116 channels, c' = 58, 28x28): 784 * (2*58² + 9*58) = 784 * (6,728 + 522) = 5,684,000
      = 58*58*784 (2,637,376) + 9*58*784 (409,248) + 58*58*784.
    Stride 2, stage 2's first unit (24 -> 116 channels, N = 58, 56x56 input, 3,136 -> 784 positions):
      branch 1: 9*24*784 = 169,344 and 24*58*784 = 1,091,328; branch 2: 24*58*3,136 = 4,365,312,
      9*58*784 = 409,248 and 58*58*784 = 2,637,376: 8,672,608."""
    s1 = evaluate("shufflenet-v2-unit", {"N": 58, "Iw": 28, "Ih": 28})
    assert s1.macs == 5_684_000 and [m for _, m in s1.parts] == [2_637_376, 409_248, 2_637_376]
    s2 = evaluate("shufflenet-v2-unit-s2", {"M": 24, "N": 58, "Iw": 56, "Ih": 56})
    assert [m for _, m in s2.parts] == [169_344, 1_091_328, 4_365_312, 409_248, 2_637_376]
    assert s2.macs == 8_672_608
    assert "no closed form in the paper" in s2.formula.source


def test_fixed_kernel_and_bad_ratios() -> None:
    with pytest.raises(ShufflecalcError, match="resnet-unit is written for a 3x3 conv"):
        evaluate("resnet-unit", {"K": 5, "M": 8, "N": 8, "Iw": 4, "Ih": 4})
    with pytest.raises(ShufflecalcError, match="needs --K, --M, --N, --t, --Iw, --Ih"):
        evaluate("inverted-residual", {"K": 3, "M": 8, "N": 8, "Iw": 4, "Ih": 4})
    for bad in ("0", "3/0", "-2", "1e3", "x"):
        with pytest.raises(ShufflecalcError, match=re.escape(f"--t '{bad}': expected a positive whole number or "
                                                             f"fraction")):
            parse_values({"t": bad})

# --- the printed text is what the function computes ---------------------------------------------------------------

positive = st.integers(min_value=1, max_value=2000)
ratios = st.one_of(st.integers(1, 12), st.fractions(min_value=Fraction(1, 10), max_value=12, max_denominator=40))


def _symbols(g: int) -> st.SearchStrategy[dict[str, Any]]:
    """Symbol values with channels that split into g groups (other values are refused, as by the engine)."""
    grouped = st.integers(1, max(1, 2000 // g)).map(lambda k: k * g)
    return st.fixed_dictionaries({"K": st.integers(1, 11), "M": grouped, "N": grouped, "t": ratios,
                                  "Iw": st.integers(1, 300), "Ih": st.integers(1, 300), "g": st.just(g)})


symbols = st.integers(1, 64).flatmap(_symbols)


@settings(max_examples=60, deadline=None)
@given(symbols)
def test_texts_templates_and_parts_agree_with_the_closed_forms(v: dict[str, int]) -> None:
    for name, f in FORMULAS.items():
        values = {**v, "K": 3} if f.fixed_kernel else v
        ev = evaluate(name, values)
        assert blog_eval(f.text, ev.values) == ev.macs, name
        for form in f.other_forms:
            assert blog_eval(form, ev.values) == ev.macs, (name, form)
        assert template_eval(ev.substituted) == ev.macs, name
        assert sum(m for _, m in ev.parts) == ev.macs, name
        for part, m in ev.parts:
            assert blog_eval(part.text, ev.values) == m == template_eval(substitute(part.template, ev.values))
        if f.baseline is not None:
            base_values = {**ev.values, **f.baseline.overrides}
            assert blog_eval(f.baseline.text, base_values) == ev.baseline_macs, name
            if f.baseline.ratio_text:
                assert blog_eval(f.baseline.ratio_text, ev.values) == ev.ratio == ev.closed_ratio
        if f.paper:
            assert blog_eval(f.paper[0], ev.values, dict(f.paper[1])) == ev.macs, name
        assert [c.formula.name for c in ev.comparisons] == list(f.compare), name  # every symbol was given
        for c in ev.comparisons:
            assert blog_eval(c.formula.text, values) == c.macs and c.ratio == c.macs / ev.macs, (name, c.formula.name)


@settings(max_examples=60, deadline=None)
@given(symbols)
def test_ratios(v: dict[str, int]) -> None:
    """dwsep / conv = 1/N + 1/K² (MobileNet eq. 5 over the standard cost); gconv / conv = 1/g; g = 1 changes nothing."""
    assert evaluate("dwsep", v).ratio == Fraction(1, v["N"]) + Fraction(1, v["K"] ** 2)
    assert evaluate("gconv", v).ratio == Fraction(1, v["g"])
    one = {**v, "g": 1, "K": 3}
    assert evaluate("unit-b", one).macs == evaluate("unit-a", one).macs
    assert evaluate("gconv", one).macs == evaluate("conv", one).macs


# --- input checks -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("given_values, message", [
    ({"M": "abc"}, "--M 'abc': expected a positive whole number"),
    ({"M": "0"}, "--M '0': expected a positive whole number"),
    ({"N": "-3"}, "--N '-3': expected a positive whole number"),
    ({"Iw": "2.5"}, "--Iw '2.5'"),
    ({"g": "²"}, "--g '²'"),
    ({"Q": 3}, "unknown symbol 'Q'"),
])
def test_bad_values(given_values: dict, message: str) -> None:
    with pytest.raises(ShufflecalcError, match=re.escape(message)):
        parse_values(given_values)


def test_missing_symbols_unknown_formula_and_kernel() -> None:
    message = "unit-b needs --M, --N, --Iw, --Ih, --g (missing: --Ih, --g)"
    with pytest.raises(ShufflecalcError, match=re.escape(message)):
        evaluate("unit-b", {"M": 1, "N": 1, "Iw": 1})
    with pytest.raises(ShufflecalcError, match="unknown formula 'unit-d'"):
        evaluate("unit-d", EXAMPLE)
    with pytest.raises(ShufflecalcError, match="written for a 3x3 depthwise conv"):
        evaluate("unit-b", {**EXAMPLE, "K": 5})
    ev = evaluate("conv", EXAMPLE)
    assert ev.unused == {"g": 3} and "g" not in ev.values
    assert parse_values({"M": " 12 ", "N": None}) == {"M": 12}
