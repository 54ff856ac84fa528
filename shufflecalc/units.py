"""Counts written with a unit, exactly: what budget limits and paper tables share.

Spellings (the same in a budget file and a table file):
- a unit: ``1``, ``K`` or ``k`` (10^3), ``M`` (10^6), ``G`` (10^9): powers of 1000, never 1024;
- a count: an integer (``1500``), or a decimal number with an optional unit (``150M``, ``2.0M``, ``150k``,
  ``1.5 G``). YAML numbers are taken as written: ``2.1`` is the decimal 2.1, not its nearest binary float;
- a count is a whole number from 0 to `MAX_COUNT` (10**18, that is 1,000,000,000G); NaN and infinity are not counts.

Everything is exact (`fractions.Fraction`); no float arithmetic touches a count.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

from shufflecalc.errors import shown

UNITS: dict[str, int] = {"1": 1, "K": 10**3, "k": 10**3, "M": 10**6, "G": 10**9}
UNIT_NAMES = "1, K (or k), M, G"
MAX_COUNT = 10**18  # the largest count a budget limit or a table's published value may be
_COUNT_RE = re.compile(r"^\s*([0-9]{1,30}(?:\.[0-9]{1,30})?)\s*([KkMG]?)\s*$")  # longer is never a valid count


def unit_factor(unit: Any) -> int | None:
    """The factor of a unit written alone (1, '1', 'K', 'k', 'M', 'G'); None for anything else, including 1.0, true
    and lists."""
    if isinstance(unit, bool):
        return None
    if isinstance(unit, int):
        return 1 if unit == 1 else None
    if isinstance(unit, str):
        return UNITS.get(unit.strip())
    return None


def unit_name(factor: int) -> str:
    """'1', 'K', 'M' or 'G' for a factor of `UNITS`."""
    return next(name for name, f in UNITS.items() if f == factor)


def exact(value: Any) -> Fraction | None:
    """An int, or a finite float as written in the file (its shortest repr), as an exact fraction; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float) and math.isfinite(value):
        return Fraction(Decimal(repr(value)))
    return None


def parse_count(value: Any, fail: Callable[[str], Exception]) -> int:
    """A count in human units, exactly: 150M -> 150_000_000, '2.0M' -> 2_000_000, 1500 -> 1500, '150k' -> 150_000.

    `fail(message)` builds the exception to raise (so that it can name the file, line and key)."""
    as_written = shown(value)
    number = exact(value)
    if number is None and isinstance(value, str) and (m := _COUNT_RE.match(value)):
        number = Fraction(Decimal(m.group(1))) * UNITS[m.group(2) or "1"]
    if number is None:
        raise fail(f"cannot read {as_written} as a count: expected an integer or a number with K, M or G (powers of "
                   "1000), such as 150M or 2.5G")
    if number < 0:
        raise fail(f"{as_written} is negative: a count is at least 0")
    if number > MAX_COUNT:
        raise fail(f"{as_written} is too large: a count is at most 10**18 (1,000,000,000G)")
    if number.denominator != 1:
        raise fail(f"{as_written} is not a whole number ({float(number):,} after scaling): counts are integers")
    return int(number)


def sig(x: float, digits: int = 6) -> float:
    """`x` rounded to `digits` significant digits (measured and predicted times in JSON)."""
    return float(f"{x:.{digits}g}")


__all__ = ["MAX_COUNT", "UNITS", "UNIT_NAMES", "exact", "parse_count", "sig", "unit_factor", "unit_name"]
