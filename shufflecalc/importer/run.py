"""The whole import of a TARGET: made, traced, written as a spec, the spec read back and proven against the model."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shufflecalc.errors import ShufflecalcError
from shufflecalc.importer.against import Comparison, compare
from shufflecalc.importer.emit import spec_text
from shufflecalc.importer.proof import Proof, prove
from shufflecalc.importer.target import load_model, parse_input, split_target
from shufflecalc.importer.trace import ImportedModel, import_model

__all__ = ["Import", "compare_target", "import_target", "parse_input", "read_spec", "spec_name"]
from shufflecalc.spec.graph import Graph, expand
from shufflecalc.spec.layers import Shape
from shufflecalc.spec.load import Spec, load_spec


@dataclass(frozen=True)
class Import:
    """An imported TARGET: the mapped model, its spec's text, that spec expanded, and the proof."""

    imported: ImportedModel
    text: str
    graph: Graph
    proof: Proof
    seconds: float  # making, tracing, writing and proving (the torch import not counted)

    @property
    def lines(self) -> int:
        return self.text.count("\n")


def spec_name(target: str) -> str:
    """The spec's name: torchvision's model name, or the callable's."""
    return split_target(target)[1]


def read_spec(text: str, name: str) -> Spec:
    """A spec from YAML text (written to a temporary file, as the loader reads files)."""
    with tempfile.TemporaryDirectory(prefix="shufflecalc-import-") as folder:
        path = Path(folder) / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        return load_spec(str(path))


def import_target(target: str, shape: Shape, kwargs: Mapping[str, Any] | None = None, fold: bool = True) -> Import:
    """Import TARGET on a 1 x C x H x W input and prove the spec against the model. With `fold` (the default), repeated
    modules become blocks and stages (`importer.fold`) where that expands to the very layers of the flat spec."""
    import torch

    start = time.perf_counter()
    model = load_model(target, kwargs)
    imported = import_model(model, shape, target)
    name = spec_name(target)
    version = torch.__version__.split("+")[0]
    text = spec_text(imported, name, version, fold=False)
    try:
        graph = expand(read_spec(text, name))
    except ShufflecalcError as exc:  # a mapping the engine refuses: a bug of the import, said as such
        raise ShufflecalcError(f"{target}: the imported spec is refused by the engine ({exc})") from None
    try:
        folded = spec_text(imported, name, version) if fold else text
    except Exception:  # folding is for readability: the flat spec is the fallback, never a failure
        folded = text
    if folded != text:  # kept only where it expands to the flat spec's very layers; the flat spec is the fallback
        try:
            other = expand(read_spec(folded, name))
        except ShufflecalcError:
            other = None
        if other is not None and _same_layers(graph, other):
            text, graph = folded, other
    proof = prove(graph, imported.model, target, imported.renames)
    return Import(imported, text, graph, proof, time.perf_counter() - start)


def _same_layers(a: Graph, b: Graph) -> bool:
    """Whether two graphs are one network: the same layers (names, kinds, arguments, inputs, shapes, numbers), in the
    same order, and the same unused ones."""
    def rows(layers: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return [(ly.name, ly.op, sorted(ly.attrs.items()), ly.inputs, ly.in_shapes, ly.out, ly.params, ly.macs,
                 ly.fvcore_flops, ly.activations, ly.memory_access) for ly in layers]

    return rows(a.layers) == rows(b.layers) and rows(a.unused_layers) == rows(b.unused_layers)


def compare_target(spec: Spec, config: Mapping[str, Any], target: str,
                   kwargs: Mapping[str, Any] | None = None) -> Comparison:
    """`spec` (with `config`) against TARGET imported on the spec's input size: layer by layer, after the import's
    round-trip proof."""
    graph = expand(spec, config)
    result = import_target(target, graph.input, kwargs)
    sources = {ly.name: ly.source for ly in result.imported.layers}
    return compare(graph, result.graph, sources, target, result.proof)
