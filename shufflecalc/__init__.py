"""shufflecalc: exact FLOPs / parameters / memory / latency of efficient CNNs, from YAML architecture specs.

Python API::

    import shufflecalc
    a = shufflecalc.analyze("shufflenet", g=3)   # built-in name or a path to a spec file
    a.macs, a.flops, a.fvcore_flops, a.params, a.activations, a.memory_access
    a.to_dict()                                  # the JSON the CLI prints

Nothing here imports torch; the torch-backed features import it when called.
"""

from __future__ import annotations

from .cost import CONVENTIONS, Analysis, analyze
from .errors import ShufflecalcError
from .graph import Graph, expand
from .spec import builtin_names, load_spec

__version__ = "0.1.0"

__all__ = ["CONVENTIONS", "Analysis", "Graph", "ShufflecalcError", "analyze", "builtin_names", "expand", "load_spec"]
