"""Closed forms of the units of ResNet / ResNeXt, MobileNetV2 (and V3) and ShuffleNetV2, as data (see formula_types).

Where each comes from, and how much of it the paper states:

- ``resnet-unit`` hw(2cm + 9m²) and ``resnext-unit`` hw(2cm + 9m²/g): ShuffleNet (Zhang et al. 2018), section 3.2,
  for a c x h x w input and m bottleneck channels, stride 1. The ResNet unit is the blog's "unit (a) without
  depthwise": its 3x3 conv is a full (for ResNeXt, grouped) conv. Here c = M, m = N, h x w = Ih x Iw.
- ``inverted-residual``: MobileNetV2 (Sandler et al. 2018), section 3.3: h·w·d'·t(d' + k² + d'') for an h x w
  input with d' input and d'' output channels, expansion t and a k x k depthwise conv. Here d' = M, d'' = N, k = K.
  The paper's expression assumes stride 1 (every layer on h x w). ``inverted-residual-s2`` is the stride-2 case,
  derived from the paper's Table 1 (at stride s the depthwise conv and the projection produce h/s x w/s): the
  expansion runs on IwIh positions, the depthwise conv and the projection on IwIh/4 (even Iw, Ih).
  MobileNetV3 (Howard et al. 2019) lists the hidden width tM itself, so t = hidden / M may be a fraction (72/16 = 9/2);
  its squeeze-and-excitation is in no formula (explain reports its two 1x1 convs as extra MACs).
- ``shufflenet-v2-unit`` and ``shufflenet-v2-unit-s2``: ShuffleNet V2 (Ma et al. 2018) gives no closed form for its
  unit (it argues with memory access cost, not FLOPs). These two are derived here from the unit's layers (its
  Figure 3(c) and (d)), the way the ShuffleNet paper writes its own units: at stride 1 the channel split leaves
  c' = c/2 channels to the branch, hw(2c'² + 9c'); at stride 2 both branches read all M input channels and produce
  N each.
"""

from __future__ import annotations

from shufflecalc.formulas.types import Baseline, F, Fn, Formula, Part, area, const, dw, dw3, hidden, pw, quarter, sym

_M, _N, _G, _ONE, _K = sym("M"), sym("N"), sym("g"), const(1), sym("K")

# --- ResNet and ResNeXt (ShuffleNet paper, section 3.2) -----------------------------------------------------------

_RESNET_MEANINGS = {
    "M": "input (and output) channels, the paper's c",
    "N": "bottleneck channels (the 3x3 conv's), the paper's m",
    "Iw": "input (= output) feature-map width, the paper's w",
    "Ih": "input (= output) feature-map height, the paper's h",
    "g": "groups of the 3x3 conv (ResNeXt's cardinality)",
}
_RESNET_ASSUMES = (
    "a stride-1 ResNet bottleneck whose output has its input's M channels (every unit but a stage's first): 1x1 conv "
    "M -> N, 3x3 {conv} N -> N, 1x1 conv N -> M, identity shortcut; BN, ReLU and the add have no MACs"
)


def _resnet(grouped: bool) -> Formula:
    gt, gtemplate = ("/g", "/{g}") if grouped else ("", "")
    if grouped:
        compute: Fn = lambda v: F(area(v)) * (2 * v["M"] * v["N"] + F(9 * v["N"] ** 2, v["g"]))  # noqa: E731
    else:
        compute = lambda v: F(area(v) * (2 * v["M"] * v["N"] + 9 * v["N"] ** 2))  # noqa: E731
    conv = Part("conv", f"9N²·IwIh{gt}", "9·{N}²·{Iw}·{Ih}" + gtemplate,
                "3x3 group conv N -> N in g groups" if grouped else "3x3 conv N -> N", _N, _N, const(3),
                _G if grouped else _ONE, area)
    return Formula(
        "resnext-unit" if grouped else "resnet-unit",
        "ResNeXt bottleneck unit, stride 1 (its 3x3 conv in g groups)" if grouped
        else "ResNet bottleneck unit, stride 1 (unit (a) without depthwise: a full 3x3 conv)",
        f"IwIh(2MN + 9N²{gt})", "{Iw}·{Ih}·(2·{M}·{N} + 9·{N}²" + gtemplate + ")",
        ("M", "N", "Iw", "Ih", "g") if grouped else ("M", "N", "Iw", "Ih"),
        compute,
        (pw("pw1", "MN·IwIh", "{M}·{N}·{Iw}·{Ih}", "1x1 conv M -> N", _M, _N, _ONE, area), conv,
         pw("pw2", "NM·IwIh", "{N}·{M}·{Iw}·{Ih}", "1x1 conv N -> M", _N, _M, _ONE, area)),
        "ShuffleNet (Zhang et al. 2018), section 3.2 (the " + ("ResNeXt unit of Xie et al. 2017)" if grouped
                                                                else "ResNet unit of He et al. 2016)"),
        _RESNET_ASSUMES.format(conv="conv in g groups" if grouped else "conv"),
        meanings=_RESNET_MEANINGS,
        other_forms=(f"2MN·IwIh + 9N²·IwIh{gt}",),
        fixed_kernel=3,
        paper=(f"hw(2cm + 9m²{gt})", {"h": "Ih", "w": "Iw", "c": "M", "m": "N", "g": "g"}),
        baseline=Baseline("resnet-unit", "ResNet unit, the same without groups", "resnet-unit", "IwIh(2MN + 9N²)")
        if grouped else None,
        compare=("unit-b",) if grouped else ("unit-a", "resnext-unit", "unit-b"),
        grouped=("N",),
    )


# --- MobileNetV2's inverted residual (section 3.3, Table 1) -------------------------------------------------------

_IR_MEANINGS = {
    "K": "depthwise kernel size, the paper's k",
    "M": "input channels, the paper's d'",
    "N": "output channels, the paper's d''",
    "t": "expansion ratio: tM hidden channels (MobileNetV3 lists tM itself, so t may be a fraction)",
    "Iw": "input feature-map width (the paper's w; = output at stride 1)",
    "Ih": "input feature-map height (the paper's h; = output at stride 1)",
}
_IR_SOURCE = "MobileNetV2 (Sandler et al. 2018), section 3.3 and Table 1"
_IR_LAYERS = ("a 1x1 expansion conv M -> tM (t ≠ 1: without it the block is a dwsep), a KxK depthwise conv on tM "
              "channels, a linear 1x1 projection tM -> N")
_IR_ZERO = "; BN, ReLU6 / hardswish and the add have no MACs; no squeeze-and-excitation"


def _inverted_residual(stride2: bool) -> Formula:
    positions = quarter if stride2 else area
    q, qt = ("/4", "/4") if stride2 else ("", "")
    parts = (
        pw("pw1", "tM·M·IwIh", "{t}·{M}·{M}·{Iw}·{Ih}", "1x1 expansion conv M -> tM", _M, hidden, _ONE, area),
        dw("dw", f"K²·tM·IwIh{q}", "{K}²·{t}·{M}·{Iw}·{Ih}" + qt, "KxK depthwise conv on tM channels"
           + (", stride 2" if stride2 else ""), hidden, _K, positions),
        pw("pw2", f"tM·N·IwIh{q}", "{t}·{M}·{N}·{Iw}·{Ih}" + qt, "1x1 projection tM -> N"
           + (" at stride-2 size" if stride2 else ""), hidden, _N, _ONE, positions),
    )
    if stride2:
        return Formula(
            "inverted-residual-s2", "MobileNetV2 inverted residual block, stride 2 (derived from Table 1)",
            "IwIh·M·t·(M + (K² + N)/4)", "{Iw}·{Ih}·{M}·{t}·({M} + ({K}² + {N})/4)", ("K", "M", "N", "t", "Iw", "Ih"),
            lambda v: F(area(v)) * v["M"] * F(v["t"]) * (v["M"] + F(v["K"] ** 2 + v["N"], 4)), parts,
            "derived here from MobileNetV2 (Sandler et al. 2018), Table 1 at stride s = 2",
            f"a stride-2 inverted residual on an even Iw x Ih input: {_IR_LAYERS}, the last two on the IwIh/4 "
            f"output positions{_IR_ZERO}",
            meanings=_IR_MEANINGS, other_forms=("tM·M·IwIh + K²·tM·IwIh/4 + tM·N·IwIh/4",),
        )
    return Formula(
        "inverted-residual", "MobileNetV2 inverted residual block, stride 1", "IwIh·M·t·(M + K² + N)",
        "{Iw}·{Ih}·{M}·{t}·({M} + {K}² + {N})", ("K", "M", "N", "t", "Iw", "Ih"),
        lambda v: F(area(v)) * v["M"] * F(v["t"]) * (v["M"] + v["K"] ** 2 + v["N"]), parts, _IR_SOURCE,
        f"a stride-1 inverted residual: {_IR_LAYERS}, all on the Iw x Ih input (= output){_IR_ZERO}",
        meanings=_IR_MEANINGS, other_forms=("tM·M·IwIh + K²·tM·IwIh + tM·N·IwIh",),
        paper=("h·w·d'·t(d' + k² + d'')", {"h": "Ih", "w": "Iw", "d'": "M", "d''": "N", "k": "K", "t": "t"}),
    )


# --- ShuffleNetV2 (no closed form in the paper: derived from its Figure 3) ----------------------------------------

_V2_SOURCE = "derived here from ShuffleNet V2 (Ma et al. 2018), Figure 3({fig}): no closed form in the paper"
_V2_ZERO = "; split, BN, ReLU, concat and the channel shuffle have no MACs"


def _shufflenet_v2(stride2: bool) -> Formula:
    if not stride2:
        return Formula(
            "shufflenet-v2-unit", "ShuffleNetV2 unit, stride 1", "IwIh(2N² + 9N)", "{Iw}·{Ih}·(2·{N}² + 9·{N})",
            ("N", "Iw", "Ih"), lambda v: F(area(v) * (2 * v["N"] ** 2 + 9 * v["N"])),
            (pw("pw1", "N²·IwIh", "{N}²·{Iw}·{Ih}", "1x1 conv N -> N (branch 2)", _N, _N, _ONE, area),
             dw3("9N·IwIh", "9·{N}·{Iw}·{Ih}", area),
             pw("pw2", "N²·IwIh", "{N}²·{Iw}·{Ih}", "1x1 conv N -> N", _N, _N, _ONE, area)),
            _V2_SOURCE.format(fig="c"),
            "a stride-1 ShuffleNetV2 unit on 2N channels: the split passes N channels unchanged, the other N go "
            "through a 1x1 conv N -> N, a 3x3 depthwise conv and a 1x1 conv N -> N" + _V2_ZERO,
            meanings={"N": "branch channels c' = c/2: half the unit's input (= output) channels",
                      "Iw": "input (= output) feature-map width", "Ih": "input (= output) feature-map height"},
            other_forms=("2N²·IwIh + 9N·IwIh",), fixed_kernel=3,
        )
    return Formula(
        "shufflenet-v2-unit-s2", "ShuffleNetV2 unit, stride 2 (both branches)",
        "MN·IwIh + (9M + MN + 9N + N²)·IwIh/4", "{M}·{N}·{Iw}·{Ih} + (9·{M} + {M}·{N} + 9·{N} + {N}²)·{Iw}·{Ih}/4",
        ("M", "N", "Iw", "Ih"),
        lambda v: F(v["M"] * v["N"] * area(v)) + F((9 * v["M"] + v["M"] * v["N"] + 9 * v["N"] + v["N"] ** 2)
                                                   * area(v), 4),
        (dw3("9M·IwIh/4", "9·{M}·{Iw}·{Ih}/4", quarter, channels="M", role="b1dw", where=", stride 2 (branch 1)"),
         pw("b1pw", "MN·IwIh/4", "{M}·{N}·{Iw}·{Ih}/4", "1x1 conv M -> N (branch 1)", _M, _N, _ONE, quarter),
         pw("pw1", "MN·IwIh", "{M}·{N}·{Iw}·{Ih}", "1x1 conv M -> N on the input (branch 2)", _M, _N, _ONE, area),
         dw3("9N·IwIh/4", "9·{N}·{Iw}·{Ih}/4", quarter, where=", stride 2"),
         pw("pw2", "N²·IwIh/4", "{N}²·{Iw}·{Ih}/4", "1x1 conv N -> N", _N, _N, _ONE, quarter)),
        _V2_SOURCE.format(fig="d"),
        "a stride-2 ShuffleNetV2 unit on an even Iw x Ih input: branch 1 (3x3 depthwise conv with stride 2 on the M "
        "input channels, 1x1 conv M -> N) and branch 2 (1x1 conv M -> N, 3x3 depthwise conv with stride 2, 1x1 conv "
        "N -> N) both read the input; N = out / 2" + _V2_ZERO,
        meanings={"M": "input channels", "N": "channels of each branch (out / 2)"},
        other_forms=("9M·IwIh/4 + MN·IwIh/4 + MN·IwIh + 9N·IwIh/4 + N²·IwIh/4",), fixed_kernel=3,
    )


FAMILY_FORMULAS: tuple[Formula, ...] = (
    _resnet(grouped=False), _resnet(grouped=True), _inverted_residual(stride2=False), _inverted_residual(stride2=True),
    _shufflenet_v2(stride2=False), _shufflenet_v2(stride2=True),
)

__all__ = ["FAMILY_FORMULAS"]
