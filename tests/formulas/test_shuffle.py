"""The channel shuffle as a permutation: the blog's example, the closed form of the permutation, and torch itself."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shufflecalc.bridge.shuffle import check_torch
from shufflecalc.errors import ShufflecalcError
from shufflecalc.formulas.shuffle import Shuffle, make_shuffle


def test_the_blog_example() -> None:
    s = make_shuffle(3, 9)
    assert " ".join(s.labels(s.before)) == "A1 A2 A3 B1 B2 B3 C1 C2 C3"
    assert [s.labels(r) for r in s.reshaped] == [["A1", "A2", "A3"], ["B1", "B2", "B3"], ["C1", "C2", "C3"]]
    assert [s.labels(r) for r in s.transposed] == [["A1", "B1", "C1"], ["A2", "B2", "C2"], ["A3", "B3", "C3"]]
    assert " ".join(s.labels(s.permutation)) == "A1 B1 C1 A2 B2 C2 A3 B3 C3"
    assert s.permutation == [0, 3, 6, 1, 4, 7, 2, 5, 8]


@settings(max_examples=100, deadline=None)
@given(g=st.integers(1, 40), n=st.integers(1, 40))
def test_permutation_closed_form(g: int, n: int) -> None:
    """Output channel i comes from group i mod g, position i div g: input channel (i mod g) * n + i div g."""
    s = Shuffle(g, g * n)
    assert s.permutation == [(i % g) * n + i // g for i in range(g * n)]
    assert sorted(s.permutation) == s.before
    assert len(s.reshaped) == g and len(s.transposed) == n


def test_labels_past_26_groups_are_indices() -> None:
    assert Shuffle(26, 52).label(51) == "Z2"
    s = Shuffle(27, 54)
    assert not s.lettered and s.labels([0, 2, 53]) == ["0", "2", "53"]


@pytest.mark.parametrize("g, c, message", [
    (3, 10, "--channels 10 is not divisible by --g 3"),
    (0, 9, "--g 0: expected a positive whole number"),
    ("x", 9, "--g 'x'"),
    (None, 9, "--g is required"),
    (3, None, "--channels is required"),
    (3, "-9", "--channels '-9'"),
])
def test_bad_input(g, c, message: str) -> None:
    with pytest.raises(ShufflecalcError, match=message):
        make_shuffle(g, c)


# --- against torch ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("g, c", [(1, 4), (3, 9), (3, 240), (8, 384), (27, 54)])
def test_builder_shuffle_is_the_permutation_and_torch_channelshuffle(g: int, c: int) -> None:
    torch = pytest.importorskip("torch")
    s = make_shuffle(g, c)
    result = check_torch(s)
    assert result.ok and result.module == "shufflecalc.bridge.modules.structure.ChannelShuffle"
    # independently: torch's own ChannelShuffle moves input channel permutation[i] to output channel i
    x = torch.arange(c, dtype=torch.float32).view(1, c, 1, 1)
    assert torch.nn.ChannelShuffle(g)(x).flatten().long().tolist() == s.permutation


def test_a_wrong_shuffle_fails_the_check(monkeypatch) -> None:
    pytest.importorskip("torch")
    import shufflecalc.bridge.modules.structure as tm

    monkeypatch.setattr(tm, "channel_shuffle", lambda x, groups: x)  # the identity: no shuffle at all
    result = check_torch(make_shuffle(3, 9))
    assert not result.ok and not result.is_permutation and not result.equals_nn
    assert check_torch(make_shuffle(1, 9)).ok  # with one group the identity is right


@pytest.mark.parametrize("channels, message", [
    ("9" * 5000, "--channels: at most 100,000, got a 5000-digit number"),  # past Python's int-string limit
    ("99999999999999999999", "--channels: at most 100,000, got a 20-digit number"),
    ("0", "--channels '0': expected a positive whole number"),
])
def test_channels_are_bounded_before_conversion(channels: str, message: str) -> None:
    with pytest.raises(ShufflecalcError) as exc:
        make_shuffle("3", channels)
    assert str(exc.value) == message


def test_leading_zeros_are_a_plain_number() -> None:
    assert make_shuffle("3", "000000000000000000000000012").channels == 12
