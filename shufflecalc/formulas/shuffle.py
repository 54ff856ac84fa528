"""ShuffleNet's channel shuffle as a permutation: reshape the channels to (g, C/g), transpose, flatten.

Channels are labelled as the blog labels them: a letter per group (A, B, C, ...) and a number within the group
(A1 A2 A3 B1 ...); with more than 26 groups, by their plain 0-based index. After the shuffle, output channel ``i``
holds input channel ``permutation[i]``: with g = 3 and 9 channels, A1 B1 C1 A2 B2 C2 A3 B3 C3, i.e. 0 3 6 1 4 7 2 5 8.

`shufflecalc.bridge.shuffle.check_torch` runs the module the model builder uses for a ``channel_shuffle`` layer on a
real tensor.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from shufflecalc.errors import ShufflecalcError

MAX_CHANNELS = 100_000  # the shuffle prints its channels: more is not a readable answer
MAX_DIGITS = len(str(MAX_CHANNELS))


@dataclass(frozen=True)
class Shuffle:
    """The channel shuffle of `channels` channels in `groups` groups, with the blog's intermediate matrices."""

    groups: int
    channels: int

    @property
    def per_group(self) -> int:
        return self.channels // self.groups

    @property
    def lettered(self) -> bool:
        return self.groups <= 26

    def label(self, channel: int) -> str:
        """A1, A2, ... B1, ...: the group's letter and the 1-based position in the group; a plain index past 26
        groups."""
        if not self.lettered:
            return str(channel)
        return f"{string.ascii_uppercase[channel // self.per_group]}{channel % self.per_group + 1}"

    @property
    def before(self) -> list[int]:
        return list(range(self.channels))

    @property
    def reshaped(self) -> list[list[int]]:
        """(g, C/g): row r holds group r's channels."""
        n = self.per_group
        return [list(range(r * n, (r + 1) * n)) for r in range(self.groups)]

    @property
    def transposed(self) -> list[list[int]]:
        """(C/g, g): row j holds the j-th channel of every group."""
        return [list(col) for col in zip(*self.reshaped, strict=False)]

    @property
    def permutation(self) -> list[int]:
        """Output channel i takes input channel permutation[i] (the transposed matrix, flattened row by row)."""
        return [c for row in self.transposed for c in row]

    def labels(self, channels: list[int]) -> list[str]:
        return [self.label(c) for c in channels]


def make_shuffle(groups: Any, channels: Any) -> Shuffle:
    """Validate the command line's values (positive whole numbers, channels divisible by groups)."""
    values = {}
    for name, value in (("g", groups), ("channels", channels)):
        if value is None:
            raise ShufflecalcError(f"--{name} is required (shuffle --g 3 --channels 9)")
        text = str(value).strip()
        digits = text.lstrip("0")
        if isinstance(value, bool) or not text.isascii() or not text.isdigit() or not digits:
            shown = repr(value) if len(text) <= 40 else repr(text[:40]) + "..."
            raise ShufflecalcError(f"--{name} {shown}: expected a positive whole number")
        if len(digits) > MAX_DIGITS:  # before int(): Python refuses to convert more than 4,300 digits
            raise ShufflecalcError(f"--{name}: at most {MAX_CHANNELS:,}, got a {len(digits)}-digit number")
        values[name] = int(digits)
    g, c = values["g"], values["channels"]
    if c % g:
        raise ShufflecalcError(f"--channels {c} is not divisible by --g {g}: the shuffle reshapes to (g, channels/g)")
    if c > MAX_CHANNELS:
        raise ShufflecalcError(f"--channels {c}: at most {MAX_CHANNELS:,} channels")
    return Shuffle(g, c)


__all__ = ["Shuffle", "make_shuffle"]
