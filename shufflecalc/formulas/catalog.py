"""The closed-form cost formulas, as data: text, symbols, and exact functions; and their evaluation.

These are the formulas the papers (and the blog post that retells them) write down, kept apart from the engine
(`ops`, `blocks`, `graph`), which counts layer by layer. `explain` compares the two for every unit of a model.
MobileNet's and ShuffleNet's are here; those of ResNet / ResNeXt, MobileNetV2 and ShuffleNetV2 are in
`formulas_families`; the data model (`Formula`, `Part`) is in `formula_types`.

Conventions:

- every value is in MACs (multiply-accumulates, bias excluded), the papers' "FLOPs" / "mult-adds", for one image;
- arithmetic is exact: values are `fractions.Fraction`; a formula that does not come out whole (``IwIh/4`` on an odd
  feature map, ``tM`` channels that are not whole) is reported as an exact fraction, never rounded; channels that a
  group conv cannot split into g equal groups are an error, as in the engine;
- symbols: K filter size, M input channels, N output channels (conv, dwsep, gconv, inverted residual) or bottleneck
  channels (the units), t an inverted residual's expansion ratio, Iw x Ih the feature map (input) width and height,
  g groups.

Each formula also lists its `parts`: the convolutions it counts, each as (input channels, output channels, kernel,
groups, output positions) in terms of the symbols. A part's MACs are ``out * in / groups * kernel² * positions``,
the engine's rule for conv2d, so `explain` can say which factor of which layer differs from the formula's, and why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from shufflecalc.errors import ShufflecalcError
from shufflecalc.formulas.families import FAMILY_FORMULAS
from shufflecalc.formulas.types import (
    SYMBOL_ORDER,
    SYMBOLS,
    Baseline,
    F,
    Formula,
    Part,
    Values,
    area,
    const,
    dw3,
    pw,
    quarter,
    sym,
)

_WHOLE = re.compile(r"[0-9]{1,18}")
_RATIONAL = re.compile(r"([0-9]{1,18})(?:/([0-9]{1,18})|\.([0-9]{1,18}))?")
_M, _N, _G, _ONE = sym("M"), sym("N"), sym("g"), const(1)
_SAME_SIZE = {"N": "output channels", "Iw": "feature-map width (output = input at stride 1)",
              "Ih": "feature-map height (output = input at stride 1)"}
_UNIT_MEANINGS = {"N": "bottleneck channels (the 3x3 depthwise conv's)", "M": "input (and output) channels"}


def _unit_parts(grouped: bool) -> tuple[Part, ...]:
    g, gt = (_G, "/g") if grouped else (_ONE, "")
    gtemplate = "/{g}" if grouped else ""
    kind = "group conv" if grouped else "conv"
    return (
        pw("pw1", f"NM·IwIh{gt}", "{N}·{M}·{Iw}·{Ih}" + gtemplate, f"1x1 {kind} M -> N", _M, _N, g, area),
        dw3("9N·IwIh", "9·{N}·{Iw}·{Ih}", area),
        pw("pw2", f"NM·IwIh{gt}", "{N}·{M}·{Iw}·{Ih}" + gtemplate, f"1x1 {kind} N -> M", _N, _M, g, area),
    )


_UNIT_SOURCE = "ShuffleNet (Zhang et al. 2018), section 3.2 and Figure 2"

_V1: tuple[Formula, ...] = (
        Formula(
            "conv", "standard convolution", "K²·M·N·Iw·Ih", "{K}²·{M}·{N}·{Iw}·{Ih}", ("K", "M", "N", "Iw", "Ih"),
            lambda v: F(v["K"] ** 2 * v["M"] * v["N"] * area(v)),
            (Part("conv", "K²·M·N·Iw·Ih", "{K}²·{M}·{N}·{Iw}·{Ih}", "KxK conv M -> N", _M, _N, sym("K"), _ONE,
                  area),),
            "MobileNet (Howard et al. 2017), section 3.1",
            "a KxK conv whose output keeps the Iw x Ih size (stride 1, 'same' padding); at other strides, Iw x Ih is "
            "the output size",
            meanings=_SAME_SIZE,
        ),
        Formula(
            "dwsep", "depthwise-separable convolution",
            "K²·M·Iw·Ih + N·M·Iw·Ih", "{K}²·{M}·{Iw}·{Ih} + {N}·{M}·{Iw}·{Ih}",
            ("K", "M", "N", "Iw", "Ih"),
            lambda v: F(v["K"] ** 2 * v["M"] * area(v) + v["N"] * v["M"] * area(v)),
            (Part("dw", "K²·M·Iw·Ih", "{K}²·{M}·{Iw}·{Ih}", "KxK depthwise conv on M channels", _M, _M,
                  lambda v: v["K"], _M, area),
             pw("pw", "N·M·Iw·Ih", "{N}·{M}·{Iw}·{Ih}", "1x1 conv M -> N", _M, _N, _ONE, area)),
            "MobileNet (Howard et al. 2017), section 3.1, equation 5",
            "a KxK depthwise conv and a 1x1 conv on an Iw x Ih output (MobileNet's D_F x D_F: at stride 2, the "
            "output size)",
            meanings={"N": "output channels", "Iw": "feature-map width (the output's; = input at stride 1)",
                      "Ih": "feature-map height (the output's; = input at stride 1)"},
            baseline=Baseline("conv", "standard conv", "conv", "K²·M·N·Iw·Ih", ratio_text="1/N + 1/K²",
                              ratio_template="1/{N} + 1/{K}²", ratio=lambda v: F(1, v["N"]) + F(1, v["K"] ** 2)),
        ),
        Formula(
            "gconv", "group convolution", "K²·N·M/g·Iw·Ih", "{K}²·{N}·{M}/{g}·{Iw}·{Ih}",
            ("K", "M", "N", "Iw", "Ih", "g"),
            lambda v: F(v["K"] ** 2 * v["N"] * v["M"], v["g"]) * area(v),
            (Part("conv", "K²·N·M/g·Iw·Ih", "{K}²·{N}·{M}/{g}·{Iw}·{Ih}", "KxK group conv M -> N in g groups", _M, _N,
                  lambda v: v["K"], _G, area),),
            "ShuffleNet (Zhang et al. 2018), section 3.1",
            "a KxK conv in g groups whose output keeps the Iw x Ih size",
            meanings=_SAME_SIZE,
            baseline=Baseline("conv", "standard conv", "conv", "K²·M·N·Iw·Ih", ratio_text="1/g", ratio_template="1/{g}",
                              ratio=lambda v: F(1, v["g"])),
            per_position=("K²·N·M/g", "{K}²·{N}·{M}/{g}", lambda v: F(v["K"] ** 2 * v["N"] * v["M"], v["g"])),
        ),
        Formula(
            "unit-a", "bottleneck unit (a) with a 3x3 depthwise conv, stride 1", "2NM·IwIh + 9N·IwIh",
            "2·{N}·{M}·{Iw}·{Ih} + 9·{N}·{Iw}·{Ih}", ("M", "N", "Iw", "Ih"),
            lambda v: F(2 * v["N"] * v["M"] * area(v) + 9 * v["N"] * area(v)),
            _unit_parts(grouped=False), _UNIT_SOURCE,
            "a stride-1 residual unit: 1x1 conv M -> N, 3x3 depthwise conv (the 9 is 3²), 1x1 conv N -> M; "
            "BN, ReLU and the add have no MACs",
            meanings=_UNIT_MEANINGS, fixed_kernel=3, compare=("resnet-unit",),
        ),
        Formula(
            "unit-b", "ShuffleNet unit (b), stride 1",
            "2NM·IwIh/g + 9N·IwIh", "2·{N}·{M}·{Iw}·{Ih}/{g} + 9·{N}·{Iw}·{Ih}",
            ("M", "N", "Iw", "Ih", "g"),
            lambda v: F(2 * v["N"] * v["M"] * area(v), v["g"]) + 9 * v["N"] * area(v),
            _unit_parts(grouped=True), _UNIT_SOURCE,
            "a stride-1 ShuffleNet unit: 1x1 group conv M -> N, channel shuffle, 3x3 depthwise conv, 1x1 group conv "
            "N -> M, both 1x1 convs in g groups; BN, ReLU, the shuffle and the add have no MACs",
            meanings=_UNIT_MEANINGS, fixed_kernel=3,
            baseline=Baseline("unit-a", "unit (a), the same without groups", "unit-a", "2NM·IwIh + 9N·IwIh"),
            compare=("resnet-unit", "resnext-unit"),
        ),
        Formula(
            "unit-c", "ShuffleNet unit (c), stride 2", "NM·IwIh/g + 9N·IwIh/4 + MN·IwIh/(4g)",
            "{N}·{M}·{Iw}·{Ih}/{g} + 9·{N}·{Iw}·{Ih}/4 + {M}·{N}·{Iw}·{Ih}/(4·{g})", ("M", "N", "Iw", "Ih", "g"),
            lambda v: F(5 * v["N"] * v["M"] * area(v), 4 * v["g"]) + F(9 * v["N"] * area(v), 4),
            (
                pw("pw1", "NM·IwIh/g", "{N}·{M}·{Iw}·{Ih}/{g}", "1x1 group conv M -> N on the Iw x Ih input",
                    _M, _N, _G, area),
                dw3("9N·IwIh/4", "9·{N}·{Iw}·{Ih}/4", quarter),
                pw("pw2", "MN·IwIh/(4g)", "{M}·{N}·{Iw}·{Ih}/(4·{g})", "1x1 group conv N -> M at stride-2 size",
                    _N, _M, _G, quarter),
            ),
            _UNIT_SOURCE,
            "a stride-2 unit on an even Iw x Ih input whose branch produces M channels (out = 2 x in, as in "
            "ShuffleNet's stages 3 and 4), both 1x1 convs in g groups, 3x3 depthwise conv; the 3x3 avg-pool "
            "shortcut, BN, ReLU, shuffle and concat have no MACs",
            meanings={"N": "bottleneck channels (the 3x3 depthwise conv's)",
                      "M": "input channels (and the branch's output channels)"},
            other_forms=("5NM·IwIh/(4g) + 9N·IwIh/4",), fixed_kernel=3,
            baseline=Baseline("unit-c", "unit (a) at stride 2 (unit-c, g = 1)", "unit-c(g=1)",
                              "NM·IwIh + 9N·IwIh/4 + MN·IwIh/4",
                              overrides={"g": 1}),
        ),
    )

FORMULAS: dict[str, Formula] = {f.name: f for f in _V1 + FAMILY_FORMULAS}


# --- evaluation ---------------------------------------------------------------------------------------------------


def _parse(name: str, value: Any) -> int | Fraction:
    """One symbol's value: a positive whole number; t may also be a fraction ('9/2') or a decimal ('4.5')."""
    text = str(value).strip()
    if name == "t" and isinstance(value, Fraction) and value > 0:
        return value.numerator if value.denominator == 1 else value
    kind = "a positive whole number or fraction (9/2, 4.5)" if name == "t" else "a positive whole number"
    match = None if isinstance(value, bool) else (_RATIONAL if name == "t" else _WHOLE).fullmatch(text)
    zero_denominator = match is not None and name == "t" and match.group(2) is not None and not int(match.group(2))
    x = Fraction(text) if match and not zero_denominator else Fraction(0)
    if x <= 0:
        raise ShufflecalcError(f"--{name} {value!r}: expected {kind} ({SYMBOLS[name]})")
    return x.numerator if x.denominator == 1 else x


def parse_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Symbol values from the command line (strings) or Python (ints; t also a Fraction); None means not given.

    Every value must be a positive whole number (t: a positive rational); anything else is a ShufflecalcError naming
    the option.
    """
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            continue
        if name not in SYMBOLS:
            raise ShufflecalcError(f"unknown symbol '{name}' (symbols: {', '.join(SYMBOL_ORDER)})")
        values[name] = _parse(name, value)
    return values


def get(name: str) -> Formula:
    if name not in FORMULAS:
        raise ShufflecalcError(f"unknown formula '{name}' (formulas: {', '.join(FORMULAS)})")
    return FORMULAS[name]


def number_text(x: Any) -> str:
    """A symbol's value inside a formula: 512, or (9/2) for a fraction, so that the substituted text reads right."""
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"({x.numerator}/{x.denominator})"


def substitute(template: str, values: Values) -> str:
    """Fill a template's {symbol} placeholders with numbers: '{K}²·{M}' -> '3²·512'."""
    return template.format(**{s: number_text(values[s]) if s in values else s for s in SYMBOL_ORDER})


def symbolic(template: str) -> str:
    return template.format(**{s: s for s in SYMBOL_ORDER})


@dataclass(frozen=True)
class Comparison:
    """Another formula at the same symbol values (the ShuffleNet paper's ResNet / ResNeXt / ShuffleNet unit costs)."""

    formula: Formula
    macs: Fraction
    ratio: Fraction | None  # its MACs / the evaluated formula's


@dataclass(frozen=True)
class Evaluation:
    """A formula evaluated at given symbol values; every number exact."""

    formula: Formula
    values: dict[str, Any]  # the symbols the formula uses
    unused: dict[str, Any]  # symbols given but used neither by this formula nor by a comparison shown
    macs: Fraction
    parts: tuple[tuple[Part, Fraction], ...]
    baseline_macs: Fraction | None
    notes: tuple[str, ...]
    comparisons: tuple[Comparison, ...] = ()

    @property
    def substituted(self) -> str:
        return substitute(self.formula.template, self.values)

    @property
    def ratio(self) -> Fraction | None:
        """This formula's MACs / the baseline's (None without a baseline)."""
        if self.baseline_macs is None or self.baseline_macs == 0:
            return None
        return self.macs / self.baseline_macs

    @property
    def closed_ratio(self) -> Fraction | None:
        b = self.formula.baseline
        return b.ratio(self.values) if b and b.ratio else None


def _check_kernel(f: Formula, values: Values) -> None:
    k = f.fixed_kernel
    if k is not None and values.get("K", k) != k:
        kind = "depthwise conv" if any(p.role == "dw" for p in f.parts) else "conv"
        raise ShufflecalcError(
            f"{f.name} is written for a {k}x{k} {kind} (its 9 is K² with K = {k}); --K {values['K']} does not "
            f"apply (explain compares a spec's units of any kernel size with the formula)"
        )


def evaluate(name: str, given: Mapping[str, Any]) -> Evaluation:
    """Evaluate formula `name` at the given symbol values (ints or strings; missing ones are errors).

    The formula's `compare` list is evaluated at the same values where they are all given (g for the grouped ones).
    """
    f = get(name)
    values = parse_values(given)
    missing = [s for s in f.symbols if s not in values]
    if missing:
        raise ShufflecalcError(
            f"{name} needs {', '.join('--' + s for s in f.symbols)} (missing: {', '.join('--' + s for s in missing)})"
        )
    _check_kernel(f, values)
    _check_groups(f, values)
    used = {s: values[s] for s in f.symbols}
    macs = f.compute(used)
    baseline = None
    if f.baseline is not None:
        base = FORMULAS[f.baseline.formula]
        baseline = base.compute({**values, **f.baseline.overrides})
    comparisons, notes = [], _notes(f, used)
    seen = set(f.symbols)
    for other in (FORMULAS[c] for c in f.compare):
        lacking = [s for s in other.symbols if s not in values]
        if lacking:
            notes.append(f"give {', '.join('--' + s for s in lacking)} to compare with {other.name} ({other.title})")
            continue
        m = other.compute(values)
        comparisons.append(Comparison(other, m, m / macs if macs else None))
        seen.update(other.symbols)
    unused = {s: v for s, v in values.items() if s not in seen}
    parts = tuple((p, p.macs(used)) for p in f.parts)
    return Evaluation(f, used, unused, macs, parts, baseline, tuple(notes), tuple(comparisons))


def _check_groups(f: Formula, v: Values) -> None:
    """Channels a grouped conv of the formula splits into g groups must divide evenly, as the engine requires."""
    if "g" not in f.symbols or "g" not in v:
        return
    for s in f.grouped:
        if s in v and v[s] % v["g"]:
            raise ShufflecalcError(f"{f.name}: --{s} {v[s]} is not divisible by --g {v['g']}: a group conv splits its "
                                   "channels into g equal groups")


def _notes(f: Formula, v: Values) -> list[str]:
    notes = []
    if "t" in v and (F(v["t"]) * v["M"]).denominator != 1:
        notes.append(f"tM = {number_text(v['t'])}·{v['M']} = {F(v['t']) * v['M']} is not a whole number of "
                     f"channels; the formula's value is given exactly")
    if any(p.positions is quarter for p in f.parts) and area(v) % 4:
        notes.append(f"Iw·Ih/4 = {area(v)}/4 is not whole: a stride-2 conv on a {v['Iw']}x{v['Ih']} map has "
                     f"{-(-v['Iw'] // 2)}x{-(-v['Ih'] // 2)} output positions; the formula assumes even Iw and Ih")
    return notes


# --- exact numbers as text and JSON -------------------------------------------------------------------------------


def exact_text(x: Fraction | int) -> str:
    """52283392 -> '52,283,392'; a fraction -> '9,619,683/4 (≈ 2,404,920.75)'."""
    x = Fraction(x)
    if x.denominator == 1:
        return f"{x.numerator:,}"
    return f"{x.numerator:,}/{x.denominator:,} (≈ {float(x):,.2f})"


def exact_json(x: Fraction | int) -> int | str:
    """An exact value for JSON: an integer when whole, else the string 'numerator/denominator'."""
    x = Fraction(x)
    return x.numerator if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def plain(x: Fraction | int) -> int | Fraction:
    """An int when whole (so tables format it as a count), else the Fraction itself."""
    x = Fraction(x)
    return x.numerator if x.denominator == 1 else x


__all__ = ["FORMULAS", "SYMBOLS", "SYMBOL_ORDER", "Baseline", "Comparison", "Evaluation", "Formula", "Part",
           "evaluate", "exact_json", "exact_text", "get", "number_text", "parse_values", "plain", "substitute",
           "symbolic"]
