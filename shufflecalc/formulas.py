"""The closed-form cost formulas of MobileNet and ShuffleNet, as data: text, symbols, and exact functions.

These are the formulas the papers (and the blog post that retells them) write down, kept apart from the engine
(`ops`, `blocks`, `graph`), which counts layer by layer. `explain` compares the two for every unit of a model.

Conventions:

- every value is in MACs (multiply-accumulates, bias excluded), the papers' "FLOPs" / "mult-adds", for one image;
- arithmetic is exact: values are `fractions.Fraction`; a formula that does not come out whole (``IwIh/4`` on an odd
  feature map, ``M/g`` with M not divisible by g) is reported as an exact fraction, never rounded;
- symbols: K filter size, M input channels, N output channels (conv, dwsep, gconv) or bottleneck channels (the
  units), Iw x Ih the feature map (input) width and height, g groups of the 1x1 group convolutions.

Each formula also lists its `parts`: the convolutions it counts, each as (input channels, output channels, kernel,
groups, output positions) in terms of the symbols. A part's MACs are ``out * in / groups * kernel² * positions``,
the engine's rule for conv2d, so `explain` can say which factor of which layer differs from the formula's, and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Mapping

from .errors import ShufflecalcError

Values = Mapping[str, int]
Fn = Callable[[Values], Any]

SYMBOLS: dict[str, str] = {
    "K": "filter size (K x K kernel)",
    "M": "input channels",
    "N": "output channels (conv, dwsep, gconv) or bottleneck channels (units a, b, c)",
    "Iw": "input feature-map width",
    "Ih": "input feature-map height",
    "g": "groups of the 1x1 group convolutions",
}
SYMBOL_ORDER = tuple(SYMBOLS)
_WHOLE = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class Part:
    """One convolution a formula counts, as functions of the symbols; `text` is its term in the formula."""

    role: str  # conv | dw | pw | pw1 | pw2: which layer of a block it stands for
    text: str
    template: str  # `text` with {symbol} placeholders and explicit operators, for substitution
    what: str
    c_in: Fn
    c_out: Fn
    kernel: Fn
    groups: Fn
    positions: Fn  # output positions (may be a fraction: the formula's, not a real layer's)

    def macs(self, v: Values) -> Fraction:
        """out * in / groups * kernel² * positions: the conv2d rule of `ops`, applied to the formula's layer."""
        return Fraction(self.c_out(v) * self.c_in(v) * self.kernel(v) ** 2) * Fraction(self.positions(v)) / self.groups(v)


@dataclass(frozen=True)
class Baseline:
    """The standard form a formula's saving is measured against: `formula` evaluated with `overrides`."""

    formula: str
    label: str
    short: str  # the label in a few characters, for "unit-c / <short>"
    text: str
    overrides: Mapping[str, int] = field(default_factory=dict)
    ratio_text: str = ""  # the ratio's closed form, where the paper gives one
    ratio_template: str = ""
    ratio: Fn | None = None


@dataclass(frozen=True)
class Formula:
    name: str
    title: str
    text: str  # as the paper / blog writes it
    template: str  # the same with {symbol} placeholders and explicit operators
    symbols: tuple[str, ...]
    compute: Fn  # the closed form exactly as written (independent of `parts`)
    parts: tuple[Part, ...]
    source: str
    assumes: str  # when the formula equals the exact count of a block's layers
    meanings: Mapping[str, str] = field(default_factory=dict)  # symbol meanings specific to this formula
    other_forms: tuple[str, ...] = ()
    baseline: Baseline | None = None
    per_position: tuple[str, str, Fn] | None = None  # (text, template, function): the cost of one output position
    fixed_kernel: int | None = None  # the kernel the formula is written for (the blog's 9 = 3²)

    def meaning(self, symbol: str) -> str:
        return self.meanings.get(symbol, SYMBOLS[symbol])


F = Fraction


def _area(v: Values) -> int:
    return v["Iw"] * v["Ih"]


def _quarter(v: Values) -> Fraction:
    return F(_area(v)) / 4


def _pw(role: str, text: str, template: str, what: str, c_in: Fn, c_out: Fn, groups: Fn, positions: Fn) -> Part:
    return Part(role, text, template, what, c_in, c_out, lambda v: 1, groups, positions)


def _dw3(text: str, template: str, positions: Fn) -> Part:
    """The units' depthwise conv: 3x3 (the blog's 9), on the N bottleneck channels."""
    return Part("dw", text, template, "3x3 depthwise conv on N channels", lambda v: v["N"], lambda v: v["N"],
                lambda v: 3, lambda v: v["N"], positions)


_M, _N, _G, _ONE = (lambda v: v["M"]), (lambda v: v["N"]), (lambda v: v["g"]), (lambda v: 1)
_SAME_SIZE = {"N": "output channels", "Iw": "feature-map width (output = input at stride 1)",
              "Ih": "feature-map height (output = input at stride 1)"}
_UNIT_MEANINGS = {"N": "bottleneck channels (the 3x3 depthwise conv's)", "M": "input (and output) channels"}


def _unit_parts(grouped: bool) -> tuple[Part, ...]:
    g, gt = (_G, "/g") if grouped else (_ONE, "")
    gtemplate = "/{g}" if grouped else ""
    kind = "group conv" if grouped else "conv"
    return (
        _pw("pw1", f"NM·IwIh{gt}", "{N}·{M}·{Iw}·{Ih}" + gtemplate, f"1x1 {kind} M -> N", _M, _N, g, _area),
        _dw3("9N·IwIh", "9·{N}·{Iw}·{Ih}", _area),
        _pw("pw2", f"NM·IwIh{gt}", "{N}·{M}·{Iw}·{Ih}" + gtemplate, f"1x1 {kind} N -> M", _N, _M, g, _area),
    )


_UNIT_SOURCE = "ShuffleNet (Zhang et al. 2018), section 3.2 and Figure 2"

FORMULAS: dict[str, Formula] = {
    f.name: f
    for f in [
        Formula(
            "conv", "standard convolution", "K²·M·N·Iw·Ih", "{K}²·{M}·{N}·{Iw}·{Ih}", ("K", "M", "N", "Iw", "Ih"),
            lambda v: F(v["K"] ** 2 * v["M"] * v["N"] * _area(v)),
            (Part("conv", "K²·M·N·Iw·Ih", "{K}²·{M}·{N}·{Iw}·{Ih}", "KxK conv M -> N", _M, _N, lambda v: v["K"], _ONE,
                  _area),),
            "MobileNet (Howard et al. 2017), section 3.1",
            "a KxK conv whose output keeps the Iw x Ih size (stride 1, 'same' padding); at other strides, Iw x Ih is "
            "the output size",
            meanings=_SAME_SIZE,
        ),
        Formula(
            "dwsep", "depthwise-separable convolution", "K²·M·Iw·Ih + N·M·Iw·Ih", "{K}²·{M}·{Iw}·{Ih} + {N}·{M}·{Iw}·{Ih}",
            ("K", "M", "N", "Iw", "Ih"),
            lambda v: F(v["K"] ** 2 * v["M"] * _area(v) + v["N"] * v["M"] * _area(v)),
            (Part("dw", "K²·M·Iw·Ih", "{K}²·{M}·{Iw}·{Ih}", "KxK depthwise conv on M channels", _M, _M,
                  lambda v: v["K"], _M, _area),
             _pw("pw", "N·M·Iw·Ih", "{N}·{M}·{Iw}·{Ih}", "1x1 conv M -> N", _M, _N, _ONE, _area)),
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
            lambda v: F(v["K"] ** 2 * v["N"] * v["M"], v["g"]) * _area(v),
            (Part("conv", "K²·N·M/g·Iw·Ih", "{K}²·{N}·{M}/{g}·{Iw}·{Ih}", "KxK group conv M -> N in g groups", _M, _N,
                  lambda v: v["K"], _G, _area),),
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
            lambda v: F(2 * v["N"] * v["M"] * _area(v) + 9 * v["N"] * _area(v)),
            _unit_parts(grouped=False), _UNIT_SOURCE,
            "a stride-1 residual unit: 1x1 conv M -> N, 3x3 depthwise conv (the 9 is 3²), 1x1 conv N -> M; "
            "BN, ReLU and the add have no MACs",
            meanings=_UNIT_MEANINGS, fixed_kernel=3,
        ),
        Formula(
            "unit-b", "ShuffleNet unit (b), stride 1", "2NM·IwIh/g + 9N·IwIh", "2·{N}·{M}·{Iw}·{Ih}/{g} + 9·{N}·{Iw}·{Ih}",
            ("M", "N", "Iw", "Ih", "g"),
            lambda v: F(2 * v["N"] * v["M"] * _area(v), v["g"]) + 9 * v["N"] * _area(v),
            _unit_parts(grouped=True), _UNIT_SOURCE,
            "a stride-1 ShuffleNet unit: 1x1 group conv M -> N, channel shuffle, 3x3 depthwise conv, 1x1 group conv "
            "N -> M, both 1x1 convs in g groups; BN, ReLU, the shuffle and the add have no MACs",
            meanings=_UNIT_MEANINGS, fixed_kernel=3,
            baseline=Baseline("unit-a", "unit (a), the same without groups", "unit-a", "2NM·IwIh + 9N·IwIh"),
        ),
        Formula(
            "unit-c", "ShuffleNet unit (c), stride 2", "NM·IwIh/g + 9N·IwIh/4 + MN·IwIh/(4g)",
            "{N}·{M}·{Iw}·{Ih}/{g} + 9·{N}·{Iw}·{Ih}/4 + {M}·{N}·{Iw}·{Ih}/(4·{g})", ("M", "N", "Iw", "Ih", "g"),
            lambda v: F(5 * v["N"] * v["M"] * _area(v), 4 * v["g"]) + F(9 * v["N"] * _area(v), 4),
            (
                _pw("pw1", "NM·IwIh/g", "{N}·{M}·{Iw}·{Ih}/{g}", "1x1 group conv M -> N on the Iw x Ih input",
                    _M, _N, _G, _area),
                _dw3("9N·IwIh/4", "9·{N}·{Iw}·{Ih}/4", _quarter),
                _pw("pw2", "MN·IwIh/(4g)", "{M}·{N}·{Iw}·{Ih}/(4·{g})", "1x1 group conv N -> M at stride-2 size",
                    _N, _M, _G, _quarter),
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
    ]
}


# --- evaluation ---------------------------------------------------------------------------------------------------


def parse_values(raw: Mapping[str, Any]) -> dict[str, int]:
    """Symbol values from the command line (strings) or Python (ints); None means not given.

    Every value must be a positive whole number; anything else is a ShufflecalcError naming the option.
    """
    values: dict[str, int] = {}
    for name, value in raw.items():
        if value is None:
            continue
        if name not in SYMBOLS:
            raise ShufflecalcError(f"unknown symbol '{name}' (symbols: {', '.join(SYMBOL_ORDER)})")
        text = str(value).strip()
        if isinstance(value, bool) or not _WHOLE.fullmatch(text) or int(text) < 1:
            raise ShufflecalcError(f"--{name} {value!r}: expected a positive whole number ({SYMBOLS[name]})")
        values[name] = int(text)
    return values


def get(name: str) -> Formula:
    if name not in FORMULAS:
        raise ShufflecalcError(f"unknown formula '{name}' (formulas: {', '.join(FORMULAS)})")
    return FORMULAS[name]


def substitute(template: str, values: Values) -> str:
    """Fill a template's {symbol} placeholders with numbers: '{K}²·{M}' -> '3²·512'."""
    return template.format(**{s: values.get(s, s) for s in SYMBOL_ORDER})


def symbolic(template: str) -> str:
    return template.format(**{s: s for s in SYMBOL_ORDER})


@dataclass(frozen=True)
class Evaluation:
    """A formula evaluated at given symbol values; every number exact."""

    formula: Formula
    values: dict[str, int]  # the symbols the formula uses
    unused: dict[str, int]  # symbols given but not used by this formula
    macs: Fraction
    parts: tuple[tuple[Part, Fraction], ...]
    baseline_macs: Fraction | None
    notes: tuple[str, ...]

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


def evaluate(name: str, given: Mapping[str, Any]) -> Evaluation:
    """Evaluate formula `name` at the given symbol values (ints or strings; missing ones are errors)."""
    f = get(name)
    values = parse_values(given)
    missing = [s for s in f.symbols if s not in values]
    if missing:
        raise ShufflecalcError(
            f"{name} needs {', '.join('--' + s for s in f.symbols)} (missing: {', '.join('--' + s for s in missing)})"
        )
    if f.fixed_kernel is not None and values.get("K", f.fixed_kernel) != f.fixed_kernel:
        k = f.fixed_kernel
        raise ShufflecalcError(
            f"{name} is written for a {k}x{k} depthwise conv (its 9 is K² with K = {k}); --K {values['K']} does not "
            f"apply (explain compares a spec's units of any kernel size with the formula)"
        )
    used = {s: values[s] for s in f.symbols}
    unused = {s: v for s, v in values.items() if s not in f.symbols}
    baseline = None
    if f.baseline is not None:
        base = FORMULAS[f.baseline.formula]
        baseline = base.compute({**values, **f.baseline.overrides})
    parts = tuple((p, p.macs(used)) for p in f.parts)
    return Evaluation(f, used, unused, f.compute(used), parts, baseline, tuple(_notes(f, used)))


def _notes(f: Formula, v: Values) -> list[str]:
    notes = []
    if "g" in v:
        for s in ("M", "N"):
            if v[s] % v["g"]:
                notes.append(f"{s} = {v[s]} is not divisible by g = {v['g']}: no group conv has these shapes; the "
                             f"formula's value is given exactly")
    if any(p.positions is _quarter for p in f.parts) and _area(v) % 4:
        notes.append(f"Iw·Ih/4 = {_area(v)}/4 is not whole: a stride-2 conv on a {v['Iw']}x{v['Ih']} map has "
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


__all__ = ["FORMULAS", "SYMBOLS", "Baseline", "Evaluation", "Formula", "Part", "evaluate", "exact_json", "exact_text",
           "get", "parse_values", "substitute", "symbolic"]
