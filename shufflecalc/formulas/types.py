"""The data model of the closed-form formulas: symbols, `Part`, `Baseline`, `Formula`, and the helpers that build them.

Conventions (shared by `formulas` and `formulas_families`):

- every value is in MACs (multiply-accumulates, bias excluded), the papers' "FLOPs" / "mult-adds", for one image;
- arithmetic is exact: values are `fractions.Fraction`;
- symbols: K filter size, M input channels, N output channels (conv, dwsep, gconv, the inverted residual) or
  bottleneck / branch channels (the other units), t the expansion ratio of an inverted residual (a positive rational:
  MobileNetV3 lists the hidden width tM itself), Iw x Ih the feature map (input) width and height, g groups.

A `Part` is one convolution a formula counts, as (input channels, output channels, kernel, groups, output positions)
in terms of the symbols; its MACs are ``out * in / groups * kernel² * positions``, the engine's rule for conv2d.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

Values = Mapping[str, Any]  # symbol -> int (t: int or Fraction)
Fn = Callable[[Values], Any]

SYMBOLS: dict[str, str] = {
    "K": "filter size (K x K kernel)",
    "M": "input channels",
    "N": "output channels (conv, dwsep, gconv, inverted residual) or bottleneck / branch channels (the units)",
    "t": "expansion ratio of an inverted residual: tM hidden channels (a whole number or a fraction such as 9/2)",
    "Iw": "input feature-map width",
    "Ih": "input feature-map height",
    "g": "groups of the 1x1 group convolutions",
}
SYMBOL_ORDER = tuple(SYMBOLS)
F = Fraction


@dataclass(frozen=True)
class Part:
    """One convolution a formula counts, as functions of the symbols; `text` is its term in the formula."""

    role: str  # which layer of a block it stands for (explain.ROLES maps roles to layer names)
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
        return F(self.c_out(v)) * F(self.c_in(v)) * self.kernel(v) ** 2 * F(self.positions(v)) / self.groups(v)


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
    text: str  # in shufflecalc's symbols (K, M, N, t, Iw, Ih, g)
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
    fixed_kernel: int | None = None  # the kernel the formula is written for (the papers' 9 = 3²)
    paper: tuple[str, Mapping[str, str]] | None = None  # as the paper writes it, and its letters -> our symbols
    compare: tuple[str, ...] = ()  # other formulas shown at the same symbol values (as the paper compares them)
    grouped: tuple[str, ...] = ("M", "N")  # symbols that a grouped conv of the formula divides by g

    def meaning(self, symbol: str) -> str:
        return self.meanings.get(symbol, SYMBOLS[symbol])


# --- building blocks of the formula tables ------------------------------------------------------------------------


def area(v: Values) -> int:
    return v["Iw"] * v["Ih"]


def quarter(v: Values) -> Fraction:
    """IwIh/4: the output positions of a stride-2 layer on an even Iw x Ih map."""
    return F(area(v)) / 4


def hidden(v: Values) -> Fraction:
    """tM: the hidden (expanded) channels of an inverted residual."""
    return F(v["t"]) * v["M"]


def sym(name: str) -> Fn:
    return lambda v: v[name]


def const(x: int) -> Fn:
    return lambda v: x


def pw(role: str, text: str, template: str, what: str, c_in: Fn, c_out: Fn, groups: Fn, positions: Fn) -> Part:
    """A 1x1 convolution."""
    return Part(role, text, template, what, c_in, c_out, const(1), groups, positions)


def dw(role: str, text: str, template: str, what: str, channels: Fn, kernel: Fn, positions: Fn) -> Part:
    """A depthwise convolution (groups = channels)."""
    return Part(role, text, template, what, channels, channels, kernel, channels, positions)


def dw3(text: str, template: str, positions: Fn, channels: str = "N", role: str = "dw", where: str = "") -> Part:
    """The units' 3x3 depthwise conv (the papers' 9 = 3²) on the `channels` symbol's channels."""
    return dw(role, text, template, f"3x3 depthwise conv on {channels} channels{where}", sym(channels), const(3),
              positions)


__all__ = [
    "SYMBOLS",
    "SYMBOL_ORDER",
    "Baseline",
    "F",
    "Fn",
    "Formula",
    "Part",
    "Values",
    "area",
    "const",
    "dw",
    "dw3",
    "hidden",
    "pw",
    "quarter",
    "sym",
]
