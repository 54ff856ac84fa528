"""Safe YAML loading that remembers the line of every value, so errors can point at it.

Only PyYAML's safe composer and safe scalar constructor are used: no Python tags, no arbitrary objects. Merge keys
(``<<``) are resolved as YAML defines them; duplicate keys are an error; alias bombs are stopped by a node budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shufflecalc.errors import ShufflecalcError, YamlPath

MAX_NODES = 200_000
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present: same nodes, faster
ALLOWED_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge")}


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


def load_file(path: str | Path, display: str | None = None) -> Document:
    p = Path(path)
    name = display or str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ShufflecalcError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ShufflecalcError(f"{name}: is a directory, not a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ShufflecalcError(f"{name}: cannot read file ({exc})") from None
    return load_text(text, name)


def load_text(text: str, file: str) -> Document:
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ShufflecalcError(f"malformed YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ShufflecalcError(f"malformed YAML: {exc}", file=file) from None
    doc = Document(data=None, file=file)
    if node is None:
        raise ShufflecalcError("the document is empty", file=file, line=1)
    doc.data = _Converter(doc).convert(node, ())
    return doc


class _Converter:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.constructor = yaml.SafeLoader("")  # only its scalar constructor and merge-key handling are used
        self.nodes = 0

    def convert(self, node: yaml.Node, path: YamlPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.doc.error(path, f"document too large (more than {MAX_NODES} YAML nodes after aliases)")
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if node.tag not in ALLOWED_TAGS:
            raise self.doc.error(path, f"invalid value: unsupported YAML tag '{node.tag}'")
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in ALLOWED_TAGS:
                    raise self.doc.error(path, "a mapping key must be a plain value")
                key = self.constructor.construct_object(key_node)
                if key in result:
                    raise ShufflecalcError(
                        f"duplicate key '{key}'", file=self.doc.file, line=key_node.start_mark.line + 1, path=path
                    )
                key_path = (*path, key)
                self.doc.lines[key_path] = key_node.start_mark.line + 1
                result[key] = self.convert(value_node, key_path)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(child, (*path, i)) for i, child in enumerate(node.value)]
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.doc.error(path, f"invalid value: {exc}") from None
