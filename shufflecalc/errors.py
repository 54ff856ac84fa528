"""The one exception type for user mistakes, carrying where the mistake is.

A `ShufflecalcError` is printed by the CLI as a single line such as::

    my.yaml:14 layers[3].out: 250 is not divisible by groups=3

and ends the program with exit code 2. Library code raises it for anything a user can fix (a spec, an option, a
budget file); it never uses `assert` for that.
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence

YamlPath = tuple  # a path into a YAML document: keys (str) and list indices (int)


def one_line(text: str) -> str:
    """`text` safe to print as one terminal line: newlines, tabs and other control or invisible format characters
    (an escape sequence, a NUL, a bidirectional override) are shown escaped (``\\n``, ``\\x1b``, ``\\u202e``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlong = 40
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = 8
_REPR.maxlevel = 3


def shown(value: object) -> str:
    """`repr(value)` for a message, shortened: a long string, a long list or a huge number cannot flood it."""
    try:
        return _REPR.repr(value)
    except ValueError:  # an integer too large to print
        return "a very large number"


def format_path(path: Sequence[object]) -> str:
    """Render a YAML path as ``layers[3].unit.out``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


class ShufflecalcError(Exception):
    """A user-facing error with an optional location (file, line, YAML path)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        path: Sequence[object] | str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.path = path if isinstance(path, str) or path is None else format_path(path)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.path:
            where.append(self.path)
        prefix = " ".join(where)
        return one_line(f"{prefix}: {self.message}" if prefix else self.message)


class MissingDependency(ShufflecalcError):
    """An optional dependency (the ``torch`` or ``plot`` extra) is not installed."""
