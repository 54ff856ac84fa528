"""Comma lists: one parser for every option that takes a list (sweep values, --batch)."""

from __future__ import annotations

import pytest

from shufflecalc.errors import ShufflecalcError
from shufflecalc.lists import comma_list, positive_ints


def test_comma_list() -> None:
    assert comma_list("1, 8,32 ", "--batch") == ["1", "8", "32"]
    assert comma_list("a,a", "--g") == ["a", "a"]  # duplicates are the caller's to drop


@pytest.mark.parametrize("text", ["", " ", "1,,2", "1,", ",1", "1, ,2"])
def test_an_empty_item_is_an_error(text: str) -> None:
    with pytest.raises(ShufflecalcError, match=f"--batch {text!r}: empty value in the comma list"):
        comma_list(text, "--batch")


def test_positive_ints() -> None:
    assert positive_ints("1,8, 32", "--batch") == [1, 8, 32]
    with pytest.raises(ShufflecalcError, match="expected whole numbers separated by commas"):
        positive_ints("1,x", "--batch")
    with pytest.raises(ShufflecalcError, match="expected positive whole numbers"):
        positive_ints("1,0", "--batch")
