"""An imported model (a PyTorch trace or an ONNX graph, `importer.model`) as a spec: readable YAML, one flow
mapping per layer, named by module path. Torch-free.

An argument is written only where it differs from the layer kind's default (conv2d's padding where it differs from
``dilation * (kernel - 1) // 2``, a pool's stride where it differs from its kernel), and ``inputs`` only where a
layer does not read the one before it. A square input declares ``resolution``; a linear head declares ``classes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shufflecalc.importer.model import ImportedLayer, ImportedModel, flow, scalar, written_args
from shufflecalc.spec.graph import INPUT


def _written_args(layer: ImportedLayer) -> dict[str, Any]:
    """The arguments that differ from the kind's defaults."""
    return written_args(layer.op, layer.args)


def spec_text(imported: ImportedModel, name: str, torch_version: str = "", fold: bool = True) -> str:
    """The YAML of an imported PyTorch model: its repeated modules folded into blocks and stages (see
    `importer.fold`), or with `fold=False` (or nothing to fold) one line per layer."""
    count = sum(not ly.unused for ly in imported.layers)
    unused = sum(ly.unused for ly in imported.layers)
    header = [
        f"# shufflecalc import {imported.target}" + (f" (torch {torch_version})" if torch_version else ""),
        f"# {count} layers named by module path" + (f", {unused} unused in eval" if unused else ""),
    ]
    return write_spec(imported, name, header, f"{imported.target}, imported from its torch.fx trace", fold=fold)


def write_spec(imported: ImportedModel, name: str, header: Sequence[str], description: str, fold: bool = True,
               resolution: bool = True) -> str:
    """The YAML of an imported model (PyTorch's or ONNX's) under the comment lines `header`. A square input declares
    ``resolution`` (unless `resolution` is false: a graph fixed to its size); a linear head declares ``classes``."""
    c, h, w = imported.input
    params: dict[str, str] = {}
    square = resolution and h == w
    if square:
        params["resolution"] = f"{{type: int, default: {h}, min: 1, help: input height and width}}"
    head = next((ly for ly in imported.layers if ly.name == imported.output), None)
    classes = head is not None and head.op == "linear"
    if classes and head is not None:
        params["classes"] = f"{{type: int, default: {head.args['out']}, min: 1, help: outputs of the linear head}}"
    lines = [
        *header,
        f"name: {scalar(name)}",
        f"description: {scalar(description)}",
        f"reference: {scalar(imported.target)}",
    ]
    if params:
        lines.append("params:")
        lines += [f"  {k}: {v}" for k, v in params.items()]
    size = ("resolution", "resolution") if square else (h, w)
    folded = None
    if fold:
        from shufflecalc.importer.fold import fold_model

        folded = fold_model(imported, {"resolution", "classes"})
    body = _layers(imported, classes, folded) if folded is not None else None
    if folded is not None and body is not None:
        lines.append("blocks:")
        lines += folded.blocks
    lines.append(f"input: [{c}, {size[0]}, {size[1]}]")
    lines.append("layers:")
    lines += body if body is not None else _layers(imported, classes, None) or []
    return "\n".join(lines) + "\n"


def _layers(imported: ImportedModel, classes: bool, folded: Any) -> list[str] | None:
    """The lines of `layers:`; with `folded` (a `fold.Folded`), its uses in place of their layers, or None where a
    stage would not read the entry before it (a stage has no `inputs`)."""
    alias: Mapping[str, str] = folded.alias if folded is not None else {}
    uses: Mapping[str, Any] = folded.uses if folded is not None else {}
    lines = []
    last = INPUT
    for layer in imported.layers:
        if layer.name in uses:  # the first layer of a folded block use or stage: its one line
            use = uses[layer.name]
            written = dict(use.entry)
            source = alias.get(use.input, use.input)
            if source != last:
                if "stage" in written:
                    return None
                written["inputs"] = [source]
            lines.append("  - " + flow(written))
            last = use.output
            continue
        if layer.name in alias:
            continue  # inside a folded use
        entry: dict[str, Any] = {"op": layer.op, "name": layer.name, **_written_args(layer)}
        if classes and layer.name == imported.output:
            entry["out"] = "classes"
        inputs = tuple(alias.get(i, i) for i in layer.inputs)
        if layer.unused or inputs != (last,):
            entry["inputs"] = list(inputs)
        if layer.unused:
            entry["unused"] = True
        else:
            last = layer.name
        lines.append("  - " + flow(entry))
    return lines
