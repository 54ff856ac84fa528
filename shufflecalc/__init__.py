"""shufflecalc: exact FLOPs / parameters / memory / latency of efficient CNNs, from YAML architecture specs.

Python API::

    import shufflecalc
    a = shufflecalc.analyze("shufflenet", g=3)   # built-in name or a path to a spec file
    a.macs, a.flops, a.fvcore_flops, a.params, a.activations, a.memory_access
    a.to_dict()                                  # the JSON the CLI prints
    model = shufflecalc.build_model("shufflenet", g=3)   # the same network in torch (needs the torch extra)

Nothing here imports torch; the torch-backed features import it when called. The names below are imported on first
use, so that the console script starts (and a Ctrl-C during its start is handled) before the engine loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shufflecalc.analysis.cost import CONVENTIONS, Analysis, analyze
    from shufflecalc.errors import ShufflecalcError
    from shufflecalc.spec.graph import Graph, expand
    from shufflecalc.spec.load import builtin_names, load_spec

__version__ = "0.1.0"

_LAZY = {
    "CONVENTIONS": "shufflecalc.analysis.cost", "Analysis": "shufflecalc.analysis.cost",
    "analyze": "shufflecalc.analysis.cost", "ShufflecalcError": "shufflecalc.errors", "Graph": "shufflecalc.spec.graph",
    "expand": "shufflecalc.spec.graph", "builtin_names": "shufflecalc.spec.load", "load_spec": "shufflecalc.spec.load",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'shufflecalc' has no attribute {name!r}")


def build_model(spec, overrides=None, **params):
    """Build the torch model of a spec, in eval mode (imports torch; needs the torch extra). See `builder`."""
    from shufflecalc.bridge.builder import build_model as build

    return build(spec, overrides, **params)


__all__ = [
    "CONVENTIONS", "Analysis", "Graph", "ShufflecalcError", "analyze", "build_model", "builtin_names", "expand",
    "load_spec",
]
