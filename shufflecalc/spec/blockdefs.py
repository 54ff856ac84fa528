"""User-defined blocks: the ``blocks:`` of a spec and of the files it includes, read and checked.

A block is declared like a small spec::

    blocks:
      fire:
        args:                        # like params: type, default, choices, min, max, help (no default: required)
          squeeze: {type: int}
          expand: {type: int}
        define:                      # block-local values (expressions over args, params, in_channels, ...)
          both: "2 * expand"
        layers:                      # primitives or other blocks; inputs name local layers or `input`
          - {op: conv2d, name: squeeze, out: squeeze, kernel: 1, bias: true}
          - ...
        output: cat                  # optional: the default is the last layer present

A layer's ``name``, ``op`` and ``inputs`` may hold ``{expression}`` parts (``name: "dw_{act}"``, ``op: "{act}"``): the
value of each part, as text; a templated op is a layer kind. ``require:`` lists conditions on the arguments and the
input, checked in order before any layer: ``{that: "out % groups == 0", error: "... {out} ...", arg: out}``; the
error is a template like a name, and `arg` names the argument it is about (a built-in block's error is reported at
that argument of the use).

``include: [other.yaml, ...]`` (paths relative to the including file) brings in the blocks of other files, which hold
``blocks:`` and may ``include`` further files. This module only reads and checks the declarations (names, keys, argument
declarations, that every op is known, that no block uses itself, that no name is defined twice); `templates` expands
a block instance into layers.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shufflecalc.errors import ShufflecalcError, shown
from shufflecalc.spec.blocks import BLOCKS
from shufflecalc.spec.expr import BUILTINS, MAX_ABS_INT, MAX_LENGTH, RESERVED_PREFIX, ExprError, compile_expr
from shufflecalc.spec.layers import KINDS, Arg, reserved_name
from shufflecalc.spec.load import MODULE_PATH_RE, NAME_RE, Spec, builtin_dir, read_declaration
from shufflecalc.spec.yamlsrc import Document, check_file_name, load_file

BLOCK_KEYS = {"args", "define", "require", "layers", "output", "help"}
REQUIRE_KEYS = {"that", "error", "arg"}
LAYER_KEYS = {"op", "name", "inputs", "when"}  # besides the op's own arguments
# the block input's size, visible to its expressions: C x H x W; tokens T x C (in_channels = C, in_tokens = T); a
# flat vector of C features (in_channels)
INPUT_NAMES = ("in_channels", "in_height", "in_width", "in_tokens")
BLOCK_INPUT = "input"  # what `inputs` calls the block's input
MAX_INCLUDES = 64  # files one spec may bring in, directly or not
SHIPPED = ("blocks", "builtin.yaml")  # the built-in blocks, under the built-in specs' folder
SHIPPED_JSON = "builtin.json"  # the same data, quick to load (see _shipped_document)
TEMPLATE_PART = re.compile(r"\{([^{}]*)\}")  # an {expression} part of a name, op, input or message


@dataclass(eq=False)
class BlockDef:
    """One user-defined block: its declaration as read, where it is, and the names its expressions read from the
    spec around it (`free`: parameters, defines, functions), which with its arguments and input shape determine its
    layers."""

    name: str
    args: dict[str, Arg]
    define: dict[str, Any]
    layers: list[dict[str, Any]]
    output: str | None
    doc: Document
    path: tuple
    free: frozenset[str] = field(default=frozenset())
    library: dict[str, BlockDef] = field(default_factory=dict, repr=False)  # the blocks it can use
    require: list[dict[str, Any]] = field(default_factory=list)
    help: str = ""
    shipped: bool = False  # one of shufflecalc's built-in blocks (specs/blocks/builtin.yaml)
    spatial: bool = False  # its expressions read in_height or in_width

    def where(self, path: tuple) -> str:
        """`net.yaml:9 blocks.fire.layers[4].out` for a path inside this block's declaration."""
        line = self.doc.line(path)
        from shufflecalc.errors import format_path

        return f"{self.doc.file}:{line} {format_path(path)}" if line else f"{self.doc.file} {format_path(path)}"


Library = dict[str, BlockDef]

_LIBRARIES: dict[int, tuple[Spec, Library, tuple[str, ...], tuple[int, ...]]] = {}


def library(spec: Spec) -> Library:
    """The user-defined blocks a spec can use: its own and those of the files it includes (read once per spec)."""
    cached = _LIBRARIES.get(id(spec))
    if cached is not None and cached[0] is spec and _stamps(cached[2]) == cached[3]:
        return cached[1]  # the same spec, and none of its included files changed since
    blocks: Library = {}
    seen: list[str] = []
    base = Path(spec.file).parent if spec.file else None  # a built-in spec's: the built-in specs' folder
    _collect(spec.doc, spec.data, base, blocks, seen, [spec.file] if spec.file else [])
    _check_uses(blocks)
    for defn in blocks.values():
        defn.library = blocks
    if len(_LIBRARIES) > 256:
        _LIBRARIES.clear()
    _LIBRARIES[id(spec)] = (spec, blocks, tuple(seen), _stamps(seen))
    return blocks


def _stamps(files: Sequence[str]) -> tuple[int, ...]:
    """The modification times of included files (-1 for one that is gone): an edited include is read again."""
    stamps = []
    for f in files:
        try:
            stamps.append(os.stat(f).st_mtime_ns)
        except OSError:
            stamps.append(-1)
    return tuple(stamps)


_SHIPPED: list[Library] = []


def shipped_library() -> Library:
    """shufflecalc's built-in blocks, read once from specs/blocks/builtin.yaml. Every spec can use them (through
    `blocks.BLOCKS`); they read nothing of the spec around them, and their mistakes are reported at the use."""
    if _SHIPPED:
        return _SHIPPED[0]
    doc = _shipped_document()
    if not isinstance(doc.data, dict) or set(doc.data) - {"blocks", "description"}:
        raise doc.error((), "the built-in blocks' file is a mapping with 'blocks' (and 'description')")
    blocks: Library = {}
    for name, decl in doc.data.get("blocks", {}).items():
        blocks[name] = _block(doc, name, decl, shipped=True)
    for defn in blocks.values():
        defn.library = blocks
        for i, layer in enumerate(defn.layers):
            op = layer["op"]
            if op not in KINDS and not is_template(op):
                raise doc.error((*defn.path, "layers", i, "op"), f"a built-in block's layers are layer kinds, got "
                                                                 f"'{op}'")
    _SHIPPED.append(blocks)
    return blocks


def _shipped_document() -> Document:
    """The shipped blocks' declarations: from builtin.json, the same data as builtin.yaml (the file people read and
    edit) kept in a form that loads in a fraction of the time, for the start of every command;
    tests/spec/test_blocks.py holds the two equal, and `python -m shufflecalc.spec.blockdefs` writes the JSON again.
    Without the JSON (a checkout mid-edit), the YAML itself."""
    folder = builtin_dir().joinpath(*SHIPPED[:-1])
    shown_name = "specs/" + "/".join(SHIPPED)
    try:
        data = json.loads(folder.joinpath(SHIPPED_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return load_file(folder / SHIPPED[-1], shown_name)
    return Document(data=data, file=shown_name)


def write_shipped_json() -> Path:
    """Write builtin.json from builtin.yaml (after editing the YAML)."""
    folder = builtin_dir().joinpath(*SHIPPED[:-1])
    data = load_file(folder / SHIPPED[-1]).data
    target = folder / SHIPPED_JSON
    target.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    return target


def is_template(text: str) -> bool:
    """Text with {expression} parts."""
    return "{" in text or "}" in text


def template_parts(text: str) -> list[str]:
    """The expressions of a template's {...} parts."""
    return TEMPLATE_PART.findall(text)


def _check_template(doc: Document, path: tuple, text: str, what: str) -> None:
    rest = TEMPLATE_PART.sub("", text)
    if "{" in rest or "}" in rest:
        raise doc.error(path, f"unbalanced braces in {what} {shown(text)} (an {{expression}} part is in braces)")
    for part in template_parts(text):
        try:
            compile_expr(part)
        except ExprError as exc:
            raise doc.error(path, f"{what} {shown(text)}: {exc}") from None


def _collect(doc: Document, data: Mapping[str, Any], base: Path | None, blocks: Library, seen: list[str],
             chain: list[str]) -> None:
    """Read the `blocks` of `data`, then those of its `include`s, depth first; `chain` holds the files including
    this one (an include cycle is an error naming it)."""
    raw = data.get("blocks", {})
    if not isinstance(raw, dict):
        raise doc.error(("blocks",), "'blocks' must be a mapping of block name -> {args, define, layers, output}")
    for name, decl in raw.items():
        defn = _block(doc, name, decl)
        if name in blocks:
            other = blocks[name]
            raise doc.error(("blocks", name), f"block '{name}' is defined twice: here and at "
                                              f"{other.where(other.path)}")
        blocks[name] = defn
    includes = data.get("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list):
        raise doc.error(("include",), "'include' must be a list of file paths (relative to this file)")
    for i, ref in enumerate(includes):
        where = ("include", i)
        if not isinstance(ref, str) or not ref.strip():
            raise doc.error(where, f"an include is a file path, got {shown(ref)}")
        if base is None:
            raise doc.error(where, "a spec made in code, without a file, includes no files")
        try:
            check_file_name(ref, "include file")
        except ShufflecalcError as exc:
            raise doc.error(where, exc.message) from None
        path = (base / ref).resolve()
        key = str(path)
        if key in chain:
            cycle = " -> ".join([*[Path(c).name for c in chain[chain.index(key):]], Path(key).name])
            raise doc.error(where, f"include cycle: {cycle}")
        if key in seen:
            continue  # included twice along different paths: its blocks are here already
        if len(seen) >= MAX_INCLUDES:
            raise doc.error(where, f"more than {MAX_INCLUDES} included files")
        if not path.exists():
            raise doc.error(where, f"no such file {ref} (include paths are relative to {doc.file})")
        seen.append(key)
        included = load_file(path, str(Path(doc.file).parent / ref))
        if not isinstance(included.data, dict):
            raise included.error((), "an included file is a mapping with 'blocks' (and 'include')")
        for key_name in included.data:
            if key_name not in ("blocks", "include", "description"):
                raise included.error((key_name,), f"unknown key '{key_name}' in an included file (expected: "
                                                  "blocks, include, description)")
        _collect(included, included.data, path.parent, blocks, seen, [*chain, key])


def _block(doc: Document, name: Any, decl: Any, shipped: bool = False) -> BlockDef:
    path = ("blocks", name)
    if not isinstance(name, str) or not NAME_RE.match(name) or name.startswith(RESERVED_PREFIX):
        raise doc.error(path, f"invalid block name {shown(name)} (letters, digits and _, not starting with __)")
    if name in KINDS or (not shipped and name in BLOCKS):
        what = "a layer kind" if name in KINDS else "a built-in block"
        raise doc.error(path, f"block '{name}' is defined twice: here and as {what} of shufflecalc")
    if not isinstance(decl, dict):
        raise doc.error(path, "a block is a mapping with 'layers' (and 'args', 'define', 'output')")
    for key in decl:
        if key not in BLOCK_KEYS:
            raise doc.error((*path, key), f"unknown key '{key}' (expected one of: {', '.join(sorted(BLOCK_KEYS))})")
    args = _args(doc, path, decl.get("args", {}), exact_bounds=shipped)
    define = decl.get("define", {})
    if not isinstance(define, dict):
        raise doc.error((*path, "define"), "'define' must be a mapping of name -> value")
    for key in define:
        _local_name(doc, (*path, "define", key), key, args)
    require = decl.get("require", [])
    if not isinstance(require, list):
        raise doc.error((*path, "require"), "'require' must be a list of {that, error, arg}")
    for i, item in enumerate(require):
        _require(doc, (*path, "require", i), item, args)
    layers = decl.get("layers")
    if not isinstance(layers, list) or not layers:
        raise doc.error(path, f"block '{name}' has no layers: 'layers' must be a non-empty list")
    names: set[str] = set()
    for i, layer in enumerate(layers):
        _layer(doc, (*path, "layers", i), layer, names)
    output = decl.get("output")
    if output is not None and (not isinstance(output, str) or output not in names):
        raise doc.error((*path, "output"), f"output must name a layer of the block, got {shown(output)}")
    defn = BlockDef(name, args, define, layers, output, doc, path, require=require, help=str(decl.get("help", "")),
                    shipped=shipped)
    names_read = _names_read(defn)
    defn.free = frozenset(names_read - _local(defn))
    defn.spatial = bool(names_read & {"in_height", "in_width"})
    return defn


def _require(doc: Document, path: tuple, item: Any, args: Mapping[str, Arg]) -> None:
    if not isinstance(item, dict) or "that" not in item or "error" not in item:
        raise doc.error(path, "a requirement is a mapping {that: <condition>, error: <message>, arg: <argument>}")
    for key in item:
        if key not in REQUIRE_KEYS:
            raise doc.error((*path, key), f"unknown key '{key}' (expected one of: {', '.join(sorted(REQUIRE_KEYS))})")
    if not isinstance(item["that"], (str, bool)):
        raise doc.error((*path, "that"), f"that must be an expression that is true or false, got "
                                         f"{shown(item['that'])}")
    if not isinstance(item["error"], str) or not item["error"].strip():
        raise doc.error((*path, "error"), "error must be a message (text, with {expression} parts)")
    _check_template(doc, (*path, "error"), item["error"], "message")
    if "arg" in item and item["arg"] not in args:
        raise doc.error((*path, "arg"), f"arg must name an argument of the block, got {shown(item['arg'])}")


def _args(doc: Document, path: tuple, raw: Any, exact_bounds: bool = False) -> dict[str, Arg]:
    """The declared arguments. `exact_bounds`: a whole-number bound of a float argument stays an int (so that a
    message says "at least 0", as the layer kinds' do)."""
    if not isinstance(raw, dict):
        raise doc.error((*path, "args"), "'args' must be a mapping of name -> {type, default, ...}")
    args: dict[str, Arg] = {}
    for name, decl in raw.items():
        where = (*path, "args", name)
        if not isinstance(name, str) or not NAME_RE.match(name) or name.startswith(RESERVED_PREFIX):
            raise doc.error(where, f"invalid argument name {shown(name)}")
        if name in LAYER_KEYS or name in INPUT_NAMES or name in BUILTINS:
            raise doc.error(where, f"'{name}' cannot name an argument (it is a key of every layer, or built in)")
        p = read_declaration(doc, where, name, decl, "argument", exact_bounds)
        number = p.type in (int, float)
        lo = p.min if p.min is not None or not number else -MAX_ABS_INT
        hi = p.max if p.max is not None or not number else MAX_ABS_INT
        args[name] = Arg(p.type, p.default, required="default" not in decl, minimum=lo, maximum=hi,
                         choices=p.choices, help=p.help)
    return args


def _local_name(doc: Document, path: tuple, name: Any, args: Mapping[str, Arg]) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name) or name.startswith(RESERVED_PREFIX):
        raise doc.error(path, f"invalid name {shown(name)}")
    if name in args or name in INPUT_NAMES or name in BUILTINS:
        raise doc.error(path, f"'{name}' is already defined (an argument, a built-in or the input's size)")


def _layer(doc: Document, path: tuple, layer: Any, names: set[str]) -> None:
    if not isinstance(layer, dict) or "op" not in layer:
        raise doc.error(path, "a block's layer is a mapping with 'op' (a layer kind or a block)")
    op = layer["op"]
    if not isinstance(op, str):
        raise doc.error((*path, "op"), f"op must be a layer kind or block name (a string), got {shown(op)}")
    if is_template(op):
        _check_template(doc, (*path, "op"), op, "op")
        if "name" not in layer:
            raise doc.error((*path, "op"), "a layer whose op is a template needs a 'name'")
    name = layer.get("name", f"{op}_{path[-1]}")
    where = (*path, "name") if "name" in layer else path
    if isinstance(name, str) and is_template(name):
        _check_template(doc, where, name, "layer name")
        if not NAME_RE.match(TEMPLATE_PART.sub("x", name)):
            raise doc.error(where, f"invalid layer name {shown(name)} (letters, digits, _ and {{expression}} parts)")
        _layer_rest(doc, path, layer)
        return
    if not isinstance(name, str) or not (NAME_RE.match(name) or MODULE_PATH_RE.match(name)):
        raise doc.error(where, f"invalid layer name {shown(name)} (letters, digits and _, or a module path: parts "
                               "of letters, digits, _ and - joined by dots)")
    why = next((w for part in name.split(".") if (w := reserved_name(part)) is not None), None)
    if why is not None or name == BLOCK_INPUT:
        reason = why or "it names the block's input"
        raise doc.error(where, f"layer name '{name}' is reserved ({reason})")
    if name in names:
        raise doc.error(where, f"duplicate layer name '{name}' in the block")
    parents = {name[:i] for i, ch in enumerate(name) if ch == "."}
    inside = next((n for n in names if n in parents or n.startswith(name + ".")), None)
    if inside is not None:  # a module path: the torch model nests the module there
        raise doc.error(where, f"layer name '{name}' nests a module inside '{inside}', or the other way round (torch "
                               "could not build both)")
    names.add(name)
    _layer_rest(doc, path, layer)


def _layer_rest(doc: Document, path: tuple, layer: Mapping[str, Any]) -> None:
    when = layer.get("when")
    if when is not None and not isinstance(when, (str, bool)):
        raise doc.error((*path, "when"), f"when must be an expression that is true or false, got {shown(when)}")
    inputs = layer.get("inputs")
    if inputs is not None:
        items = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            raise doc.error((*path, "inputs"), "inputs must be a list of local layer names, `input`, or expressions "
                                               "giving one")
        for j, item in enumerate(items):
            if is_template(item):
                _check_template(doc, (*path, "inputs", j), item, "input")


def _local(defn: BlockDef) -> set[str]:
    return set(defn.args) | set(defn.define) | set(INPUT_NAMES) | set(BUILTINS)


def _expressions(value: Any, key: str) -> list[str]:
    """The expressions in a layer's value under `key`: the {...} parts of a templated name, op or input; any other
    string of an input or an argument as a whole (a plain name or op is no expression)."""
    texts: list[str] = []
    for v in value if isinstance(value, list) else [value]:
        if not isinstance(v, str):
            continue
        if key in ("op", "name", "inputs") and is_template(v):
            texts += template_parts(v)
        elif key not in ("op", "name"):
            texts.append(v)
    return texts


def _names_read(defn: BlockDef) -> set[str]:
    """Every name the block's expressions read (its define values, conditions, messages, layer arguments, and the
    {...} parts of names, ops and inputs); those it does not define itself are spec parameters, defines, functions."""
    texts: list[str] = [v for v in defn.define.values() for v in _strings(v)]
    for item in defn.require:
        texts += _expressions(item.get("that"), "that")
        texts += template_parts(item.get("error", ""))
    for layer in defn.layers:
        for key, value in layer.items():
            texts += _expressions(value, key)
    names: set[str] = set()
    for t in texts:
        names |= expression_names(t)
    return names


def _strings(value: Any) -> list[str]:
    """The strings in a define value, inside lists and tables too (each is an expression)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def expression_names(text: str) -> set[str]:
    """The names an expression reads (nothing for text that is not an expression). Python's own compiler lists them
    (`co_names`): the evaluator allows no attributes, lambdas or comprehensions, so these are exactly its names."""
    if len(text) > MAX_LENGTH:
        return set()
    try:
        return set(compile(text.strip(), "<expression>", "eval").co_names)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()


def _check_uses(blocks: Library) -> None:
    """Every op of every block is a layer kind or a block, and no block uses itself, directly or through others."""
    for defn in blocks.values():
        for i, layer in enumerate(defn.layers):
            op = layer["op"]
            if is_template(op):
                continue  # a layer kind, checked where it is expanded
            if op not in KINDS and op not in BLOCKS and op not in blocks:
                known = ", ".join(sorted(KINDS) + sorted(BLOCKS) + sorted(blocks))
                raise defn.doc.error((*defn.path, "layers", i, "op"), f"unknown op '{op}' (known: {known})")
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, chain: list[str]) -> None:
        state[name] = 1
        defn = blocks[name]
        for i, layer in enumerate(defn.layers):
            op = layer["op"]
            if op not in blocks:
                continue
            if state.get(op) == 1:
                cycle = " -> ".join([*chain[chain.index(op):], name, op]) if op in chain else f"{name} -> {op}"
                raise defn.doc.error((*defn.path, "layers", i, "op"), f"block cycle: {cycle} (a block cannot use "
                                                                      "itself, directly or through others)")
            if state.get(op) is None:
                visit(op, [*chain, name])
        state[name] = 2

    for name in blocks:
        if name not in state:
            visit(name, [])


__all__ = ["BLOCK_INPUT", "INPUT_NAMES", "LAYER_KEYS", "TEMPLATE_PART", "BlockDef", "Library", "expression_names",
           "is_template", "library", "shipped_library", "template_parts"]


if __name__ == "__main__":
    print(f"wrote {write_shipped_json()}")
