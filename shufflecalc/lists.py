"""Comma lists as options write them (``--batch 1,8,32``, sweep's ``--g 1,2,3``, ``--set g=1,2``): one parser, so
that every option that takes a list reads it alike.

Items are stripped of spaces; an empty item (``1,,2``, ``1,``, an empty option) is an error, never skipped.
"""

from __future__ import annotations

from shufflecalc.errors import ShufflecalcError


def comma_list(text: str, option: str) -> list[str]:
    """'1, 8,32' -> ['1', '8', '32'], in the order written (duplicates kept: the caller decides)."""
    items = [item.strip() for item in text.split(",")]
    if any(not item for item in items):
        raise ShufflecalcError(f"{option} {text!r}: empty value in the comma list")
    return items


def positive_ints(text: str, option: str, example: str = "1,8,32") -> list[int]:
    """A comma list of whole numbers >= 1: '1,8,32' -> [1, 8, 32]."""
    values = []
    for item in comma_list(text, option):
        try:
            value = int(item)
        except ValueError:
            raise ShufflecalcError(f"{option} {text!r}: expected whole numbers separated by commas, e.g. {example}") \
                from None
        if value < 1:
            raise ShufflecalcError(f"{option} {text!r}: expected positive whole numbers such as {example}")
        values.append(value)
    return values


__all__ = ["comma_list", "positive_ints"]
