"""The closed-form formulas: published values, hand computations, and the printed text against the functions."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shufflecalc.errors import ShufflecalcError
from shufflecalc.formulas import FORMULAS, evaluate, exact_json, exact_text, parse_values, substitute

EXAMPLE = {"K": 3, "M": 240, "N": 60, "Iw": 28, "Ih": 28, "g": 3}


def blog_eval(text: str, values: dict[str, int]) -> Fraction:
    """Evaluate a formula as the papers write it ('2NM·IwIh/g + 9N·IwIh'): adjacent factors multiply, ² squares.

    Written independently of formulas.py, so that the text a user reads is checked against the function that computes.
    """
    tokens = re.findall(r"[0-9]+|Iw|Ih|[KMNg]|[()+/·²]", text)
    assert "".join(tokens) == text.replace(" ", ""), text
    out: list[str] = []
    prev_operand = False
    for t in tokens:
        number = t[0] in "0123456789"
        operand_start = number or t in values or t == "("
        if operand_start and prev_operand:
            out.append("*")
        out.append({"·": "*", "²": "**2"}.get(t, f"Fraction({values[t]})" if t in values else
                                              f"Fraction({t})" if number else t))
        prev_operand = number or t in values or t in (")", "²")
    return eval("".join(out), {"Fraction": Fraction})  # noqa: S307 - test-only, tokens checked above


def template_eval(substituted: str) -> Fraction:
    """Evaluate a substituted template ('3²·512·14·14 + ...') exactly."""
    assert re.fullmatch(r"[0-9·²+/() ]+", substituted), substituted
    expr = re.sub(r"[0-9]+", lambda m: f"Fraction({m.group()})", substituted.replace("²", "**2").replace("·", "*"))
    return eval(expr, {"Fraction": Fraction})  # noqa: S307


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
    ev = evaluate("unit-c", {"M": 240, "N": 61, "Iw": 7, "Ih": 7, "g": 3})
    # 61*240*49/3 + 9*61*49/4 + 240*61*49/12 = 239,120 + 26,901/4 + 59,780
    assert ev.macs == 239_120 + Fraction(26_901, 4) + 59_780
    assert ev.macs.denominator == 4
    assert exact_json(ev.macs) == "1222501/4"
    assert exact_text(ev.macs) == "1,222,501/4 (≈ 305,625.25)"
    assert any("Iw·Ih/4 = 49/4 is not whole" in n for n in ev.notes)
    assert any("N = 61 is not divisible by g = 3" in n for n in ev.notes)
    assert exact_json(Fraction(10, 2)) == 5 and exact_text(52_283_392) == "52,283,392"


# --- the printed text is what the function computes ---------------------------------------------------------------

positive = st.integers(min_value=1, max_value=2000)
symbols = st.fixed_dictionaries({"K": st.integers(1, 11), "M": positive, "N": positive, "Iw": st.integers(1, 300),
                                 "Ih": st.integers(1, 300), "g": st.integers(1, 64)})


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
    with pytest.raises(ShufflecalcError, match=re.escape("unit-b needs --M, --N, --Iw, --Ih, --g (missing: --Ih, --g)")):
        evaluate("unit-b", {"M": 1, "N": 1, "Iw": 1})
    with pytest.raises(ShufflecalcError, match="unknown formula 'unit-d'"):
        evaluate("unit-d", EXAMPLE)
    with pytest.raises(ShufflecalcError, match="written for a 3x3 depthwise conv"):
        evaluate("unit-b", {**EXAMPLE, "K": 5})
    ev = evaluate("conv", EXAMPLE)
    assert ev.unused == {"g": 3} and "g" not in ev.values
    assert parse_values({"M": " 12 ", "N": None}) == {"M": 12}
