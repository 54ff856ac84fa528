"""The package layout docs/architecture.md describes: a handful of top-level modules, one subpackage per wing, and
imports that point one way, down the wings (lazy imports inside functions included)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "shufflecalc"
# Lowest first. A module may import its own wing and any wing below it, never one above.
WINGS = ["foundation", "spec", "analysis", "formulas", "bridge", "importer", "latency", "report", "cli"]
FOUNDATION = {"errors", "units", "lists"}  # top-level modules every wing may use
TOP_LEVEL = {"__init__", "__main__", *FOUNDATION}
TORCH_FREE = ["spec", "analysis", "formulas", "report"]  # importing these never imports torch
# the importer's torch-free modules: the ONNX reader and the vocabulary, writer and folder both importers share
TORCH_FREE_IMPORTER = ["onnxread", "model", "emit", "fold"]


def wing_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "shufflecalc" or len(parts) < 2 or parts[1].startswith("__"):
        return None  # not shufflecalc's, or the package's own (__version__, __init__, __main__)
    return "foundation" if parts[1] in FOUNDATION else parts[1]


def imports(path: Path) -> list[tuple[int, str]]:
    """Every shufflecalc module (or name in one) that `path` imports, at any depth of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}:{node.lineno}: relative import (the package imports absolutely)"
            found += [(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "shufflecalc"]


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "specs" not in p.relative_to(PACKAGE).parts)


def test_top_level_holds_at_most_six_modules() -> None:
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top == TOP_LEVEL and len(top) <= 6
    wings = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert wings == set(WINGS[1:])


def test_every_module_belongs_to_a_known_wing() -> None:
    for path in modules():
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if name not in ("shufflecalc.__init__", "shufflecalc.__main__"):
            assert wing_of(name) in WINGS, name


def test_imports_point_down_the_wings() -> None:
    upward = []
    for path in modules():
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        own = wing_of(name)
        if own is None or (name.endswith(("__init__", "__main__")) and path.parent == PACKAGE):
            continue  # the package's own __init__ (public API) and __main__ sit above every wing
        for line, target in imports(path):
            other = wing_of(target)
            if other is not None and WINGS.index(other) > WINGS.index(own):
                upward.append(f"{path.relative_to(ROOT)}:{line}: {own} imports {target} ({other})")
    assert upward == []


@pytest.mark.parametrize("wing", [*TORCH_FREE, "importer"])
def test_wing_imports_without_torch(wing: str) -> None:
    """Every module of the torch-free wings (and the importer's torch-free modules) imports with torch, fvcore and
    matplotlib unimportable."""
    if wing == "importer":
        names = [f"shufflecalc.importer.{m}" for m in TORCH_FREE_IMPORTER]
    else:
        names = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (PACKAGE / wing).glob("*.py")]
    code = (
        "import sys\n"
        "for blocked in ('torch', 'fvcore', 'matplotlib'):\n"
        "    sys.modules[blocked] = None\n"
        f"for name in {names!r}:\n"
        "    __import__(name)\n"
        "assert not any(m.split('.')[0] in ('torch', 'fvcore') and sys.modules[m] for m in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
