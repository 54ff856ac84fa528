"""Counts with K/M/G units, exactly: the spellings budget limits and table files share."""

from __future__ import annotations

from fractions import Fraction

import pytest

from shufflecalc.errors import ShufflecalcError, shown
from shufflecalc.units import MAX_COUNT, UNITS, exact, parse_count, unit_factor, unit_name


def fail(message: str) -> ShufflecalcError:
    return ShufflecalcError(message)


@pytest.mark.parametrize("text, value", [
    ("150M", 150_000_000), ("2.0M", 2_000_000), ("2M", 2_000_000), (1500, 1500), ("1500", 1500),
    ("1.5K", 1_500), ("4.5k", 4_500), ("0.25G", 250_000_000), ("3 M", 3_000_000), ("1.234567M", 1_234_567),
    (2_000_000.0, 2_000_000), (0, 0),
    # where float arithmetic is off by one ulp: float("1.001") * 10**6 == 1000999.9999999999
    ("1.001M", 1_001_000), ("0.067G", 67_000_000), ("1.001K", 1_001),
])
def test_parse_count_is_exact(text, value: int) -> None:
    assert parse_count(text, fail) == value


@pytest.mark.parametrize("text, message", [
    ("1.2345678M", "'1.2345678M' is not a whole number (1,234,567.8 after scaling)"),
    ("0.5", "is not a whole number"),
    (2.5, "2.5 is not a whole number"),
    ("150Q", "cannot read '150Q' as a count"),
    ("1e6", "cannot read '1e6' as a count"),
    ("150 MB", "cannot read '150 MB' as a count"),
    ("150m", "cannot read '150m' as a count"),  # milli is not a count unit
    ("-5", "cannot read '-5' as a count"),
    (-5, "-5 is negative: a count is at least 0"),
    (True, "cannot read True as a count"),
    (None, "cannot read None as a count"),
    (float("inf"), "cannot read inf as a count"),
    (float("nan"), "cannot read nan as a count"),
    # bounded: nothing past MAX_COUNT, and a long value is shown cut
    (MAX_COUNT + 1, "1000000000000000001 is too large: a count is at most 10**18 (1,000,000,000G)"),
    ("1000000001G", "'1000000001G' is too large"),
    (1.0e300, "1e+300 is too large"),
    pytest.param(10**5000, "a very large number is too large", id="5000-digit-int"),
    ("9" * 400 + ".5", "cannot read '" + "9" * 27 + "..." + "9" * 26 + ".5' as a count"),
    ("9" * 5000, "cannot read '" + "9" * 27 + "..." + "9" * 28 + "' as a count"),
])
def test_parse_count_errors(text, message: str) -> None:
    with pytest.raises(ShufflecalcError) as exc:
        parse_count(text, fail)
    assert message in str(exc.value)


def test_the_largest_count() -> None:
    assert parse_count(MAX_COUNT, fail) == parse_count("1000000000G", fail) == MAX_COUNT == 10**18
    assert len(shown("x" * 100)) < 70 and shown([1] * 100).endswith("...]") and shown(10**5000) == "a very large number"


@pytest.mark.parametrize("unit, factor", [(1, 1), ("1", 1), ("K", 1000), ("k", 1000), ("M", 10**6), ("G", 10**9),
                                          (" M ", 10**6)])
def test_unit_factor(unit, factor: int) -> None:
    assert unit_factor(unit) == factor


@pytest.mark.parametrize("unit", [1.0, True, False, 0, 1000, "m", "g", "KB", "", None, ["M"], {"M": 1}])
def test_unit_factor_rejects(unit) -> None:
    assert unit_factor(unit) is None


def test_a_count_and_a_unit_are_spelled_alike() -> None:
    for name, factor in UNITS.items():
        suffix = "" if name == "1" else name
        assert parse_count(f"3{suffix}", fail) == parse_count(f"3 {suffix}", fail) == 3 * factor
        assert 3 * factor == 3 * unit_factor(name)
        assert unit_name(factor) in ("1", "K", "M", "G")


def test_exact_takes_floats_as_written() -> None:
    assert exact(1.1) == Fraction(11, 10) and exact(3) == 3
    assert exact(float("inf")) is None and exact(float("nan")) is None and exact(True) is None and exact("1") is None
