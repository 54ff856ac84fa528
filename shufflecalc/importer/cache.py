"""TARGETs wherever a spec is named: a TARGET's imported spec, cached on disk so that naming it again costs no trace.

`cached_spec(target, kwargs, shape)` returns the path of the spec that `shufflecalc import TARGET` would write (traced
on a `shape` input, 3 x 224 x 224 unless given; `resolution` and `classes` stay declared parameters), imported and
proven on the first use and read from the cache afterwards. The cache key is the target, its keyword arguments, the
input shape, the hashes of the source files
involved (the file of a ``file.py:callable`` target; every ``.py`` file of the top-level package of a
``pkg.module:callable`` target, or the module's file when it is no package; torchvision's version for a
``torchvision:NAME`` target), the versions of torch and shufflecalc and the hash of this wing's own code. A hit reads
no model code and imports no torch: the files are found and hashed without being imported.

The cache folder is $SHUFFLECALC_CACHE_DIR, else $XDG_CACHE_HOME/shufflecalc, else ~/.cache/shufflecalc; imported
specs go to its ``imports/`` folder, one YAML file per key, written atomically.
`install()` plugs `cached_spec` into `spec.load.load_spec` (see `set_target_resolver`), which passes each TARGET's
options (``args``: keyword arguments; ``input``: C, H, W) from the command line's ``--arg`` and ``--input`` or a budget
entry's ``args:`` and ``input:``; the command line calls it.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shufflecalc.errors import ShufflecalcError
from shufflecalc.importer.target import TORCHVISION, split_target
from shufflecalc.spec.layers import Shape
from shufflecalc.spec.load import set_target_resolver

CACHE_ENV = "SHUFFLECALC_CACHE_DIR"
INPUT: Shape = (3, 224, 224)  # the input a TARGET named in place of a spec is traced on
INSTALL_HINT = 'a TARGET needs the torch extra: pip install "shufflecalc[torch]" (docs/index.md says which torch)'


def cache_dir() -> Path:
    """$SHUFFLECALC_CACHE_DIR, else $XDG_CACHE_HOME/shufflecalc, else ~/.cache/shufflecalc."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "shufflecalc"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return ""


def source_files(target: str) -> list[Path]:
    """The source files a TARGET's model comes from (none for torchvision's, keyed by its version instead), found
    without importing anything."""
    where, _ = split_target(target)
    if target.startswith(TORCHVISION):
        return []
    if where.endswith(".py") or "/" in where:
        path = Path(where)
        if not path.is_file():
            raise ShufflecalcError(f"{target}: no such file {where}")
        return [path]
    top, *rest = where.split(".")
    search = [str(Path.cwd()), *sys.path]  # as target._module looks for it
    found = importlib.machinery.PathFinder.find_spec(top, search) if top.isidentifier() else None
    if found is None or not all(part.isidentifier() for part in rest):
        raise ShufflecalcError(f"{target}: no module named '{top}'")
    folders = list(found.submodule_search_locations or [])
    if folders:  # a package: every .py file under it (the model may import any of them)
        return sorted(p for folder in folders for p in Path(folder).rglob("*.py"))
    if found.origin is None or not Path(found.origin).is_file():
        raise ShufflecalcError(f"{target}: module '{top}' has no source file to key the cache with")
    return [Path(found.origin)]


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ShufflecalcError(f"{path}: cannot read ({exc.strerror or exc})") from None
        h.update(str(path.resolve()).encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def cache_key(target: str, kwargs: Mapping[str, Any] | None = None, shape: Shape | None = None) -> str:
    """The hex key of a TARGET's imported spec (see the module's docstring)."""
    from shufflecalc import __version__

    here = Path(__file__).resolve().parent
    parts = {
        "target": target,
        "kwargs": sorted((k, repr(v)) for k, v in (kwargs or {}).items()),
        "input": list(shape or INPUT),
        "sources": _digest(source_files(target)),
        "torch": _version("torch"),
        "torchvision": _version("torchvision") if target.startswith(TORCHVISION) else "",
        "shufflecalc": __version__,
        "importer": _digest(sorted(here.glob("*.py"))),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def cached_spec(target: str, kwargs: Mapping[str, Any] | None = None, shape: Shape | None = None) -> str:
    """The path of TARGET's imported spec, traced on a 1 x `shape` input (default `INPUT`) with keyword arguments
    `kwargs`: from the cache, else imported, proven and cached (a failed round-trip proof is an error, and nothing is
    cached)."""
    if target.endswith(".onnx"):
        if kwargs or shape:
            raise ShufflecalcError(f"{target}: keyword arguments and an input shape are for a TARGET (a PyTorch "
                                   "model), not for an ONNX file")
        return cached_onnx(target)
    try:
        found = importlib.util.find_spec("torch")  # found, not imported: a cache hit never imports torch
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise ShufflecalcError(f"{target}: {INSTALL_HINT}")
    split_target(target)
    shape = tuple(shape or INPUT)
    key = cache_key(target, kwargs, shape)
    folder = cache_dir() / "imports"
    path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', target)[-80:]}-{key[:24]}.yaml"
    if path.is_file():
        return str(path)
    from shufflecalc.importer.run import import_target

    result = import_target(target, shape, kwargs)
    if not result.proof.ok:
        failed = ", ".join(c.what for c in result.proof.checks if not c.ok)
        raise ShufflecalcError(f"{target}: the imported spec fails its round-trip proof ({failed}); "
                               f"'shufflecalc import {target}' shows it")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".import-", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(result.text)
        os.replace(tmp, path)
    except OSError as exc:
        raise ShufflecalcError(f"{folder}: cannot write the import cache ({exc.strerror or exc}; set "
                               f"{CACHE_ENV} to a writable folder)") from None
    return str(path)


def cached_onnx(path: str) -> str:
    """The path of an ONNX file's imported spec (`importer.onnxread`, torch-free): from the cache, keyed by the file's
    hash, the onnx and shufflecalc versions and this wing's code, else read and cached."""
    from shufflecalc import __version__
    from shufflecalc.importer.onnxread import file_hash, import_onnx

    if not Path(path).is_file():
        raise ShufflecalcError(f"{path}: no such ONNX file")
    here = Path(__file__).resolve().parent
    parts = {"onnx_file": file_hash(path), "onnx": _version("onnx"), "shufflecalc": __version__,
             "importer": _digest(sorted(here.glob("*.py")))}
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    folder = cache_dir() / "imports"
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem)[-60:] or "model"
    cached = folder / f"{stem}.onnx-{key[:24]}.yaml"
    if cached.is_file():
        return str(cached)
    result = import_onnx(path, name=stem)
    _write(folder, cached, result.text)
    return str(cached)


def _write(folder: Path, path: Path, text: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".import-", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise ShufflecalcError(f"{folder}: cannot write the import cache ({exc.strerror or exc}; set "
                               f"{CACHE_ENV} to a writable folder)") from None


def _resolve(target: str, options: Mapping[str, Any]) -> str:
    """`spec.load`'s resolver: `cached_spec` with a TARGET's options (``args``, ``input``)."""
    unknown = set(options) - {"args", "input"}
    if unknown:
        raise ShufflecalcError(f"{target}: unknown import options {', '.join(sorted(unknown))} (args, input)")
    return cached_spec(target, options.get("args"), options.get("input"))


def install() -> None:
    """Let every spec name be a TARGET too (`spec.load.load_spec` resolves it through `cached_spec`)."""
    set_target_resolver(_resolve)
