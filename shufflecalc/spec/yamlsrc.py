"""Safe YAML loading that remembers the line of every value, so errors can point at it.

Every YAML file shufflecalc reads (specs, budget files, paper tables) goes through `load_file`, and every file it
reads at all (the YAML files and a baseline's JSON) through `read_text_file`:

- only a regular file is read (a FIFO, a device, a socket is refused, never waited on), of at most `MAX_FILE_BYTES`
  (1 MiB), UTF-8;
- only PyYAML's safe composer is used, and the values are built here, not by PyYAML's constructor: no Python tags,
  no arbitrary objects, only the tags of `ALLOWED_TAGS`;
- nesting is at most `MAX_DEPTH` (100) levels, a document at most `MAX_NODES` values after aliases (alias bombs), and
  an alias that contains itself (``a: &x [*x]``) is an error;
- merge keys (``<<: *defaults``) work as YAML defines them: the mapping's own keys override the merged ones, and an
  earlier mapping of a merged list overrides a later one; a duplicate among a mapping's own keys is an error;
- a key must be printable text or a number (no control character, newline or tab); a string value must not hold a
  control character other than newline and tab, nor a bidirectional override (shown escaped in the error, such as
  ``\\x1b``);
- numbers are finite and at most `MAX_NUMBER` (2**62) in magnitude: ``.nan``, ``.inf``, ``-.inf`` and floats that
  overflow (``1.0e+999``) are refused, and so is an integer with more digits than any allowed value.

YAML 1.1 number forms (PyYAML reads YAML 1.1), decided here:

- read as a person would: ``1_000`` is 1000 (underscores between digits are ignored), ``0x10`` is 16, ``0b101`` is 5;
- refused, with a message saying what to write instead: base 60 (``1:30``, which YAML 1.1 reads as 90) and a leading
  zero (``010``, which YAML 1.1 reads as octal 8): write the plain number, or quote the text;
- not a number: ``0o17`` (YAML 1.2's octal) is the text '0o17' in YAML 1.1, and stays text (a field that needs a
  number says so), as does ``1e6`` (YAML 1.1 floats need a dot: ``1.0e+6``).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shufflecalc.errors import ShufflecalcError, YamlPath, one_line, shown

MAX_FILE_BYTES = 1 << 20  # 1 MiB: the built-in specs are under 3 KB
MAX_NODES = 200_000  # values in a document, after aliases
MAX_DEPTH = 100  # levels of nesting
MAX_NUMBER = 2**62  # the largest magnitude of a number (int or float) in a YAML file
_SHOWN_LEVELS = 8  # of the path of a value nested too deeply
_MAX_DIGITS = 70  # an integer written longer (0b and 63 binary digits is 2**62) is refused before it is converted
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present: same nodes, faster
_TAG = "tag:yaml.org,2002:"
ALLOWED_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge")}
_BOOLS = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}  # YAML 1.1's spellings
_NULLS = ("", "~", "null")
_INT_RE = re.compile(r"[-+]?(?:0|[1-9][0-9]*|0x[0-9a-fA-F]+|0b[01]+)")
_BAD_VALUE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


@dataclass
class Document:
    """A loaded YAML document: plain Python data plus the line of each path."""

    data: Any
    file: str
    lines: dict[YamlPath, int] = field(default_factory=dict)

    def line(self, path: YamlPath) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)

    def error(self, path: YamlPath, message: str) -> ShufflecalcError:
        return ShufflecalcError(message, file=self.file, line=self.line(path), path=path)


# --- reading files ----------------------------------------------------------------------------------------------------


def check_file_name(text: str, what: str = "file") -> None:
    """Refuse, as one error, a name no file can have: a NUL character, a component over 255 bytes or a path over
    4,096 (Path.exists() raises for them instead of answering)."""
    encoded = os.fsencode(text)
    if b"\x00" in encoded:
        raise ShufflecalcError(f"{one_line(text[:60])}: not a {what} name (it contains a NUL character)")
    if len(encoded) > 4096 or any(len(os.fsencode(part)) > 255 for part in Path(text).parts):
        raise ShufflecalcError(f"{one_line(text[:60])}...: not a {what} name (too long for a file name)")


def read_text_file(path: str | Path, display: str | None = None, what: str = "file",
                   limit: int = MAX_FILE_BYTES) -> str:
    """The text of a regular UTF-8 file of at most `limit` bytes; anything else is a one-line ShufflecalcError.

    Never blocks: the file is stat'ed before it is opened (a FIFO or a device is refused), opened non-blocking, and at
    most `limit` + 1 bytes are read (a file in /proc says it is empty). `what` names the file in messages ("file",
    "baseline file")."""
    name = display or str(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ShufflecalcError(_not_regular(info.st_mode, what), file=name)
        if info.st_size > limit:
            raise ShufflecalcError(f"too large ({info.st_size:,} bytes): the limit is {limit:,} bytes", file=name)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # replaced between the stat and the open
                raise ShufflecalcError(_not_regular(os.fstat(f.fileno()).st_mode, what), file=name)
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise ShufflecalcError(f"no such {what}", file=name) from None
    except OSError as exc:
        raise ShufflecalcError(f"cannot read the {what} ({exc.strerror or exc})", file=name) from None
    if len(data) > limit:
        raise ShufflecalcError(f"too large (more than {limit:,} bytes, the limit)", file=name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ShufflecalcError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} cannot be decoded)", file=name,
                               line=line) from None


def _not_regular(mode: int, what: str) -> str:
    kind = next((k for test, k in _FILE_KINDS if test(mode)), "not a file")
    if kind == "a directory":
        return f"is a directory, not a {'YAML file' if what == 'file' else what}"
    return f"not a regular file ({kind})"


def load_file(path: str | Path, display: str | None = None) -> Document:
    name = display or str(path)
    return load_text(read_text_file(path, name), name)


# --- parsing ----------------------------------------------------------------------------------------------------------


def load_text(text: str, file: str) -> Document:
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        if "maximum nesting depth" in problem:  # libyaml's own limit, 1,000 levels
            problem = f"nested too deeply (more than {MAX_DEPTH} levels)"
        raise ShufflecalcError(f"malformed YAML: {problem}", file=file, line=line) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow; `position` counts characters
        line = text.count("\n", 0, exc.position) + 1
        raise ShufflecalcError(f"malformed YAML: {_reader_problem(exc)}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        raise ShufflecalcError(f"malformed YAML: {problem}", file=file) from None
    except RecursionError:  # PyYAML's pure-Python composer recurses (libyaml stops at 1,000 levels itself)
        raise ShufflecalcError(f"malformed YAML: nested too deeply (more than {MAX_DEPTH} levels)", file=file,
                               line=1) from None
    doc = Document(data=None, file=file)
    if node is None:
        raise ShufflecalcError("the document is empty", file=file, line=1)
    try:
        doc.data = _Converter(doc).convert(node, (), 0)
    except RecursionError:  # pragma: no cover - MAX_DEPTH stops the converter long before
        raise ShufflecalcError(f"nested too deeply (more than {MAX_DEPTH} levels)", file=file, line=1) from None
    return doc


def _reader_problem(exc: yaml.reader.ReaderError) -> str:
    char = exc.character
    code = char if isinstance(char, int) else ord(char[0]) if char else 0
    return f"{exc.reason} (character #x{code:04x})"


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Converter:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.nodes = 0
        self.active: set[int] = set()  # the collections being converted: an alias to one of them is a cycle

    def error(self, path: YamlPath, message: str, node: yaml.Node | None = None) -> ShufflecalcError:
        if node is None:
            return self.doc.error(path, message)
        return ShufflecalcError(message, file=self.doc.file, line=_line(node), path=path)

    def convert(self, node: yaml.Node, path: YamlPath, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.doc.error(path, f"document too large (more than {MAX_NODES} YAML nodes after aliases)")
        self.doc.lines.setdefault(path, _line(node))
        if node.tag not in ALLOWED_TAGS:
            raise self.doc.error(path, f"invalid value: unsupported YAML tag '{node.tag}'")
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path, key=False)
        if depth >= MAX_DEPTH:  # the path shown stops at a few levels: the line says where
            raise self.error(path[:_SHOWN_LEVELS], f"nested too deeply (more than {MAX_DEPTH} levels)", node)
        if id(node) in self.active:
            raise self.doc.error(path, "recursive alias: the value contains itself")
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, path, depth)
            if isinstance(node, yaml.SequenceNode):
                if node.tag != f"{_TAG}seq":
                    raise self.doc.error(path, f"invalid value: a list cannot be tagged '{node.tag}'")
                return [self.convert(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
            raise self.doc.error(path, "invalid value")  # pragma: no cover - the composer makes only these nodes
        finally:
            self.active.discard(id(node))

    def mapping(self, node: yaml.MappingNode, path: YamlPath, depth: int) -> dict[Any, Any]:
        if node.tag != f"{_TAG}map":
            raise self.doc.error(path, f"invalid value: a mapping cannot be tagged '{node.tag}'")
        merged: list[dict[Any, Any]] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        merge_key = False
        for key_node, value_node in node.value:
            if key_node.tag == f"{_TAG}merge" and isinstance(key_node, yaml.ScalarNode):
                if merge_key:
                    raise self.error(path, "duplicate key '<<' (merge several mappings with <<: [*a, *b])", key_node)
                merge_key = True
                merged.extend(self.merge(key_node, value_node, path, depth))
            else:
                own.append((key_node, value_node))
        # in PyYAML's order: the merged keys first (an earlier mapping's value wins), then the mapping's own keys
        result: dict[Any, Any] = {}
        for source in merged:
            for key, value in source.items():
                result.setdefault(key, value)
        explicit: set[Any] = set()
        for key_node, value_node in own:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in ALLOWED_TAGS:
                raise self.doc.error(path, "a mapping key must be a plain value")
            key = self.scalar(key_node, path, key=True)
            if key in explicit:
                raise self.error(path, f"duplicate key '{key}'", key_node)
            explicit.add(key)
            key_path = (*path, key)
            self.doc.lines[key_path] = _line(key_node)
            result[key] = self.convert(value_node, key_path, depth + 1)
        return result

    def merge(self, key_node: yaml.Node, value: yaml.Node, path: YamlPath, depth: int) -> list[dict[Any, Any]]:
        """The mappings a merge key ``<<`` brings in, in the order written."""
        if isinstance(value, yaml.MappingNode):
            sources = [value]
        elif isinstance(value, yaml.SequenceNode) and all(isinstance(v, yaml.MappingNode) for v in value.value):
            sources = list(value.value)
        else:
            raise self.error(path, "a merge key '<<' takes a mapping or a list of mappings (such as <<: *defaults)",
                             key_node)
        result = []
        for source in sources:
            data = self.convert(source, path, depth + 1)
            result.append(data)
        return result

    def scalar(self, node: yaml.ScalarNode, path: YamlPath, key: bool) -> Any:
        """A scalar's value, built here rather than by PyYAML's constructor, so that every mistake is a clean error."""
        tag, text = node.tag[len(_TAG):], str(node.value)
        if tag == "str" or tag == "merge":
            if key and not text.isprintable():
                raise self.error(path, f"a key must be printable text: {shown(text)} holds a control character, "
                                       "newline or tab", node)
            if not key and (bad := _BAD_VALUE_CHARS.search(text)):
                raise self.error(path, f"text must not hold the control character {repr(bad.group())[1:-1]}: "
                                       f"{shown(text)}", node)
            return text
        if tag == "null":
            if text.lower() not in _NULLS:
                raise self.error(path, f"cannot read {shown(text)} as null", node)
            return None
        if tag == "bool":
            if text.lower() not in _BOOLS:
                raise self.error(path, f"cannot read {shown(text)} as a boolean (true or false)", node)
            return _BOOLS[text.lower()]
        if tag == "int":
            return self.integer(node, path, text)
        if tag == "float":
            return self.real(node, path, text)
        raise self.error(path, f"invalid value: a plain value cannot be tagged '{node.tag}'", node)

    def integer(self, node: yaml.ScalarNode, path: YamlPath, text: str) -> int:
        digits = _digits(text)
        if ":" in digits:
            raise self.error(path, _sexagesimal(text), node)
        if len(digits) > _MAX_DIGITS:  # before int(), which refuses more than 4,300 digits with a ValueError
            raise self.error(path, _too_big(shown(text)), node)
        if re.fullmatch(r"[-+]?0[0-9]+", digits):
            raise self.error(path, f"{shown(text)} has a leading zero, which YAML 1.1 reads as an octal number: write "
                                   f"{int(digits):d} (or quote it for text)", node)
        if not _INT_RE.fullmatch(digits):
            raise self.error(path, f"cannot read {shown(text)} as an integer", node)
        number = int(digits, 0)
        if abs(number) > MAX_NUMBER:
            raise self.error(path, _too_big(shown(text)), node)
        return number

    def real(self, node: yaml.ScalarNode, path: YamlPath, text: str) -> float:
        digits = _digits(text).lower()
        if ":" in digits:
            raise self.error(path, _sexagesimal(text), node)
        if digits.lstrip("+-") in (".inf", ".nan", "inf", "nan", "infinity"):
            raise self.error(path, f"{shown(text)} is not a finite number", node)
        try:
            number = float(digits)
        except ValueError:
            raise self.error(path, f"cannot read {shown(text)} as a number", node) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise self.error(path, f"{shown(text)} is not a finite number", node)
        if abs(number) > MAX_NUMBER:
            raise self.error(path, _too_big(shown(text)), node)
        return number


def _digits(text: str) -> str:
    """A YAML 1.1 number without its underscores (``1_000`` -> ``1000``), as PyYAML reads it."""
    return text.replace("_", "")


def _too_big(shown: str) -> str:
    return f"{shown} is too large: numbers are at most 2**62 ({MAX_NUMBER:,}) in magnitude"


def _sexagesimal(text: str) -> str:
    """The message for YAML 1.1's base 60 (``1:30`` is 90), with the number it would be when that is short."""
    value = ""
    digits = _digits(text)
    if len(digits) <= 40:
        try:
            sign = -1 if digits.startswith("-") else 1
            parts = [float(p) if "." in p else int(p) for p in digits.lstrip("+-").split(":")]
            number = sum(p * 60**i for i, p in enumerate(reversed(parts)))
            value = f" {sign * number:g}" if isinstance(number, float) else f" {sign * number}"
        except ValueError:
            value = ""
    return (f"{shown(text)} is a YAML 1.1 base-60 number{value and ' (' + value.strip() + ')'}: write"
            f"{value or ' the plain number'}, or quote it ({shown(text)}) for text")


__all__ = ["ALLOWED_TAGS", "MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "MAX_NUMBER", "Document", "load_file",
           "load_text", "read_text_file"]
