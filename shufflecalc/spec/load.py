"""Architecture specs: finding, loading and validating the YAML, and resolving parameter values.

A spec declares parameters (``params``), optional helper functions and derived values (``functions``, ``define``),
the input shape and the list of layers. `graph.expand` turns a spec and a configuration into a `Graph`.
The format is documented in docs/spec-format.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from shufflecalc.errors import ShufflecalcError, shown
from shufflecalc.spec.expr import MAX_ABS_INT, MAX_LENGTH, RESERVED_PREFIX
from shufflecalc.spec.layers.base import Padding, Pair, is_pair_type
from shufflecalc.spec.yamlsrc import Document, check_file_name, load_file

TOP_KEYS = {"name", "description", "reference", "notes", "params", "functions", "define", "include", "blocks", "input",
            "layers"}
PARAM_KEYS = {"type", "default", "choices", "min", "max", "help"}
# A declared type: `pair` is a whole number or [h, w] (a kernel, stride, padding or dilation to pass on),
# `padding` a pair or one of the words same and valid (conv2d's and the pools' padding).
PARAM_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str, "pair": Pair,
                                "padding": Padding}
_PAIR_TEXT = re.compile(r"^\[?\s*([+-]?\d+)\s*[x,]\s*([+-]?\d+)\s*\]?$")  # 1x7, [1, 7], 1,7
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MODULE_PATH_RE = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")  # a layer name may be a module path: features.0
FUNC_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*([A-Za-z0-9_,\s]*)\)\s*$")
MAX_PARAM = MAX_ABS_INT  # magnitude of an int or float parameter value (and of min, max, choices): 2**62
MAX_PARAM_TEXT = MAX_LENGTH  # characters of a str parameter value, or of a number written as text


@lru_cache(maxsize=1)
def builtin_dir() -> Path:
    """Where the built-in specs are: packaged as shufflecalc/specs, or the repository's specs/ in a checkout."""
    here = Path(__file__).resolve().parent.parent  # the shufflecalc package
    packaged = here / "specs"
    return packaged if packaged.is_dir() else here.parent / "specs"


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


@dataclass(frozen=True)
class Param:
    name: str
    type: type
    default: Any
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    help: str = ""

    def describe(self) -> str:
        if self.choices:
            return ", ".join(format_value(c) for c in self.choices)
        lo = "" if self.min is None else f">= {format_value(self.min)}"
        hi = "" if self.max is None else f"<= {format_value(self.max)}"
        name = self.type.name if is_pair_type(self.type) else self.type.__name__
        return " and ".join(x for x in (lo, hi) if x) or "any " + name


@dataclass(frozen=True)
class Spec:
    name: str
    source: str  # the built-in name or the path the user gave
    description: str
    reference: str
    params: dict[str, Param]
    doc: Document
    file: str = ""  # the file it was read from ("" for a spec made in code); includes are relative to it
    builtin: bool = False
    notes: tuple[str, ...] = ()  # lines `show`, `compare` and `conventions` print under their tables (JSON: "notes")

    @property
    def data(self) -> dict[str, Any]:
        return self.doc.data

    def error(self, path: tuple, message: str) -> ShufflecalcError:
        return self.doc.error(path, message)


def format_value(value: Any) -> str:
    """A value as the command line writes it: ``true``, ``1.0``, a pair ``1x7``."""
    if isinstance(value, tuple):
        return "x".join(format_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return str(value)


_REF = re.compile(r"^(?P<ref>.+?):(?P<params>[A-Za-z_][A-Za-z0-9_]*=[^,]*(?:,[A-Za-z_][A-Za-z0-9_]*=[^,]*)*)$")


def split_ref(text: str) -> tuple[str, dict[str, str]]:
    """``NAME_OR_PATH:k=v,k=v`` -> the spec and its own parameter values (text, typed by `resolve_config`);
    a plain NAME_OR_PATH has none. A parameter named twice is an error."""
    match = _REF.match(text)
    if match is None:
        return text, {}
    values: dict[str, str] = {}
    for item in match.group("params").split(","):
        name, _, value = item.partition("=")
        if name in values:
            raise ShufflecalcError(f"{text}: parameter '{name}' is given twice")
        values[name] = value.strip()
    return match.group("ref"), values


def is_target(text: str) -> bool:
    """Whether `text` reads as a TARGET (a PyTorch model: ``torchvision:NAME``, ``pkg.module:callable``,
    ``path/to/file.py:callable``) rather than a spec (a built-in name or a YAML path)."""
    where, sep, name = text.rpartition(":")
    if not (sep and where and name.isidentifier()) or where.endswith((".yaml", ".yml")):
        return False
    if where in builtin_names():  # `shufflenet:g`: a spec whose parameter lacks its value, not a module
        raise ShufflecalcError(f"{text}: a parameter of '{where}' needs a value ({where}:{name}=VALUE)")
    return True


# (TARGET or .onnx path, its import's options: ``args``, keyword arguments of the callable, and ``input``, the
# C, H, W it is traced on; empty for the defaults) -> the path of its imported spec
TargetResolver = Callable[[str, Mapping[str, Any]], str]
_TARGETS: list[TargetResolver] = []  # at most one: set by set_target_resolver


def set_target_resolver(resolver: TargetResolver | None) -> None:
    """Let `load_spec` read TARGETs: `resolver(target, options)` returns the path of the target's imported spec (the
    importer wing's cache sets it: this wing never imports torch or the importer, so a wing above plugs it in)."""
    _TARGETS[:] = [] if resolver is None else [resolver]


def target_label(text: str, options: Mapping[str, Any] | None) -> str:
    """A TARGET's name with its import's options: ``nets.py:build(width=0.5)@1x28x28``."""
    options = options or {}
    args = options.get("args") or {}
    label = text + ("(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")" if args else "")
    return label + ("@" + "x".join(str(v) for v in options["input"]) if options.get("input") else "")


def load_spec(ref: str | Path, target: Mapping[str, Any] | None = None) -> Spec:
    """Load a built-in spec by name, a spec file by path, or a TARGET's imported spec (see `set_target_resolver`);
    `target`: the TARGET's import options (``args``, ``input``), an error for anything else."""
    text = str(ref)
    check_file_name(text, "spec")
    path = Path(text)
    if is_target(text) and not path.exists():
        if not _TARGETS:
            raise ShufflecalcError(f"{text}: a TARGET (a PyTorch model) is read through the importer: call "
                                   "shufflecalc.importer.cache.install() first (the command line does)")
        resolved = Path(_TARGETS[0](text, dict(target or {}))).resolve()
        spec = _load(str(resolved), resolved.stat().st_mtime_ns, text, builtin=False)
        # named by the TARGET (torchvision:resnet50 beside the built-in resnet50), with its options
        return replace(spec, name=target_label(text, target))
    if target:
        raise ShufflecalcError(f"{text}: keyword arguments and an input shape are for a TARGET (a PyTorch model such "
                               "as mypkg.nets:build), not for a spec or an ONNX file")
    if path.suffix == ".onnx":  # an ONNX model: read by the importer's ONNX reader through the same slot
        if not _TARGETS:
            raise ShufflecalcError(f"{text}: an ONNX model is read through the importer: call "
                                   "shufflecalc.importer.cache.install() first (the command line does)")
        resolved = Path(_TARGETS[0](text, {})).resolve()
        return replace(_load(str(resolved), resolved.stat().st_mtime_ns, text, builtin=False), name=text)
    if path.suffix in (".yaml", ".yml") or path.is_file() or "/" in text or "\\" in text:
        if not path.exists():
            raise ShufflecalcError(f"{text}: no such spec file")
        resolved = path.resolve()
        return _load(str(resolved), resolved.stat().st_mtime_ns, text, builtin=False)
    builtin = builtin_dir() / f"{text}.yaml"
    if not builtin.exists():
        names = ", ".join(builtin_names())
        raise ShufflecalcError(f"unknown spec '{text}': not a file, and not a built-in spec ({names})")
    return _load(str(builtin), 0, text, builtin=True)


@lru_cache(maxsize=64)
def _load(path: str, mtime: int, display: str, builtin: bool) -> Spec:
    """Parse and validate a spec file; `mtime` keys the cache (0 for built-ins, which do not change)."""
    shown = f"specs/{Path(path).name}" if builtin else display
    doc = load_file(path, shown)
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "a spec must be a mapping with 'params', 'input' and 'layers'")
    for key in data:
        if key not in TOP_KEYS:
            raise doc.error((key,), f"unknown key '{key}' (expected one of: {', '.join(sorted(TOP_KEYS))})")
    for key in ("input", "layers"):
        if key not in data:
            raise doc.error((), f"missing required key '{key}'")
    if not isinstance(data["layers"], list) or not data["layers"]:
        raise doc.error(("layers",), "'layers' must be a non-empty list")
    for key in ("functions", "define"):
        if not isinstance(data.get(key, {}), dict):
            raise doc.error((key,), f"'{key}' must be a mapping")
    name = data.get("name", Path(path).stem)
    for key in ("name", "description", "reference"):
        if key in data and not isinstance(data[key], str):
            raise doc.error((key,), f"'{key}' must be a string")
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise doc.error(("notes",), "'notes' must be a list of strings")
    params = _params(doc, data.get("params", {}))
    return Spec(name, display, data.get("description", ""), data.get("reference", ""), params, doc, path, builtin,
                tuple(notes))


def _params(doc: Document, raw: Any) -> dict[str, Param]:
    if not isinstance(raw, dict):
        raise doc.error(("params",), "'params' must be a mapping of name -> {type, default, ...}")
    params: dict[str, Param] = {}
    for name, decl in raw.items():
        path = ("params", name)
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise doc.error(path, f"invalid parameter name {shown(name)}")
        if name.startswith(RESERVED_PREFIX):
            raise doc.error(path, f"invalid parameter name '{name}': names starting with '__' are reserved")
        if isinstance(decl, dict) and "default" not in decl:
            raise doc.error(path, "missing 'default'")
        params[name] = read_declaration(doc, path, name, decl, "parameter")
    return params


def read_declaration(doc: Document, path: tuple, name: str, decl: Any, what: str,
                     exact_bounds: bool = False) -> Param:
    """A declared spec parameter or block argument, ``{type, default, choices, min, max, help}``: its type known,
    min <= max, every choice within them, and a default that is given (and not null) one of the choices, within
    them. A default not given is None. `exact_bounds`: a whole-number bound of a float stays an int (so that a
    message says "at least 0", as the layer kinds' do)."""
    if not isinstance(decl, dict):
        raise doc.error(path, f"a {what} is declared as {{type: {'|'.join(PARAM_TYPES)}, default: ...}}")
    for key in decl:
        if key not in PARAM_KEYS:
            raise doc.error((*path, key), f"unknown key '{key}' (expected one of: {', '.join(sorted(PARAM_KEYS))})")
    ptype = PARAM_TYPES.get(decl.get("type"))  # type: ignore[arg-type]
    if ptype is None:
        raise doc.error((*path, "type"), f"type must be one of {', '.join(PARAM_TYPES)}, got "
                                         f"{shown(decl.get('type'))}")

    def fail(at: tuple) -> Any:
        return lambda message: doc.error(at, message)

    bounds: dict[str, Any] = {}
    for key in ("min", "max"):
        if key in decl:
            if ptype not in (int, float) and not is_pair_type(ptype):
                raise doc.error((*path, key), f"'{key}' applies to int, float and pair {what}s only")
            bounds[key] = _coerce(decl[key], int if is_pair_type(ptype) else ptype, fail((*path, key)))
            if exact_bounds and ptype is float and type(decl[key]) is int:
                bounds[key] = decl[key]
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        lo, hi = format_value(bounds["min"]), format_value(bounds["max"])
        raise doc.error((*path, "max"), f"max {hi} is below min {lo}")
    choices = None
    if "choices" in decl:
        if not isinstance(decl["choices"], list) or not decl["choices"]:
            raise doc.error((*path, "choices"), "choices must be a non-empty list")
        unbounded = Param(name, ptype, None, None, bounds.get("min"), bounds.get("max"))
        choices = tuple(check_value(unbounded, c, fail((*path, "choices", i))) for i, c in enumerate(decl["choices"]))
    param = Param(name, ptype, None, choices, bounds.get("min"), bounds.get("max"), str(decl.get("help", "")))
    if decl.get("default") is None:
        return param
    default = check_value(param, decl["default"], fail((*path, "default")))
    return Param(name, ptype, default, choices, param.min, param.max, param.help)


def _coerce(value: Any, ptype: type, fail: Any) -> Any:
    """Convert a YAML or command-line value to the parameter type, or raise via `fail(message)`."""
    if is_pair_type(ptype):
        return _coerce_pair(value, ptype, fail)
    if isinstance(value, str) and ptype is not str:
        text = value.strip().lower()
        if len(text) > MAX_PARAM_TEXT:
            raise fail(f"{shown(value)} is not a valid {ptype.__name__} (more than {MAX_PARAM_TEXT:,} characters)")
        try:
            if ptype is bool:
                if text in ("true", "yes", "on", "1"):
                    return True
                if text in ("false", "no", "off", "0"):
                    return False
                raise ValueError
            value = float(text) if ptype is float else int(text)
        except ValueError:  # not a number, or too many digits for Python's int()
            raise fail(f"{shown(value)} is not a valid {ptype.__name__}") from None
    if ptype is bool:
        if not isinstance(value, bool):
            raise fail(f"{shown(value)} is not a boolean (true or false)")
        return value
    if ptype in (int, float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise fail(f"{value} is not a finite number")
        if isinstance(value, (int, float)) and abs(value) > MAX_PARAM:
            raise fail(f"{shown(value)} is too large (at most 2**62 in magnitude)")
    if ptype is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(f"{shown(value)} is not an integer")
        return value
    if ptype is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"{shown(value)} is not a number")
        return float(value)
    if not isinstance(value, str):
        raise fail(f"{shown(value)} is not a string")
    if len(value) > MAX_PARAM_TEXT:
        raise fail(f"{shown(value)} is too long (more than {MAX_PARAM_TEXT:,} characters)")
    return value


def _coerce_pair(value: Any, ptype: type[Pair], fail: Any) -> Any:
    """A `pair` (or `padding`) value: a whole number, [h, w] (in YAML, or on the command line as ``1x7`` or
    ``[1, 7]``), or for `padding` one of its words."""
    if isinstance(value, str):
        text = value.strip()
        if text in ptype.words:
            return text
        match = _PAIR_TEXT.match(text) if len(text) <= MAX_PARAM_TEXT else None
        if match:
            value = [match.group(1), match.group(2)]
        elif not re.fullmatch(r"\s*[+-]?\d+\s*", text[:MAX_PARAM_TEXT + 1]):
            raise fail(f"{shown(value)} is not {ptype.what}")
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise fail(f"{shown(value)} is not {ptype.what} (a list of {len(value)})")
        return tuple(_coerce(v, int, fail) for v in value)
    return _coerce(value, int, fail)


def _below(value: Any, bound: Any) -> bool:
    return any(v < bound for v in value) if isinstance(value, tuple) else value < bound


def _above(value: Any, bound: Any) -> bool:
    return any(v > bound for v in value) if isinstance(value, tuple) else value > bound


def check_value(param: Param, value: Any, fail: Any) -> Any:
    """`value` converted to the parameter's type (finite and at most MAX_PARAM if a number, at most MAX_PARAM_TEXT
    characters if a string), one of its choices, within its min and max; else `fail(message)` is raised."""
    value = _coerce(value, param.type, fail)
    if param.choices is not None and value not in param.choices:
        raise fail(f"{format_value(value)} is not one of {param.describe()}")
    if isinstance(value, str):  # a word of a padding
        return value
    if param.min is not None and _below(value, param.min):
        raise fail(f"{format_value(value)} is below the minimum {format_value(param.min)}")
    if param.max is not None and _above(value, param.max):
        raise fail(f"{format_value(value)} is above the maximum {format_value(param.max)}")
    return value


def resolve_config(spec: Spec, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter values for `spec`: defaults, replaced by `overrides` (validated against type and choices)."""
    config = {name: p.default for name, p in spec.params.items()}
    for name, value in overrides.items():
        if name not in spec.params:
            known = ", ".join(spec.params) or "none"
            raise ShufflecalcError(f"{spec.name}: unknown parameter '{name}' (parameters: {known})")
        config[name] = check_value(
            spec.params[name], value, lambda m, n=name: ShufflecalcError(f"{spec.name}: parameter {n}: {m}")
        )
    return config
