"""An imported model as a spec: readable YAML, one flow mapping per layer, named by module path.

An argument is written only where it differs from the layer kind's default (conv2d's padding where it differs from
``dilation * (kernel - 1) // 2``, a pool's stride where it differs from its kernel), and ``inputs`` only where a
layer does not read the one before it. A square input declares ``resolution``; a linear head declares ``classes``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shufflecalc.importer.trace import ImportedLayer, ImportedModel
from shufflecalc.spec.graph import INPUT
from shufflecalc.spec.layers import KINDS

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def scalar(value: Any) -> str:
    return _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text or "E" in text:  # YAML reads 1e-05 as text: write 1.0e-05
            mantissa, _, exponent = text.lower().partition("e")
            if "." not in mantissa:
                mantissa += ".0"
            sign = "" if exponent.startswith(("-", "+")) else "+"
            return f"{mantissa}e{sign}{exponent}"
        return text
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _WORDS:
        return text
    return "'" + text.replace("'", "''") + "'"


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _written_args(layer: ImportedLayer) -> dict[str, Any]:
    """The arguments that differ from the kind's defaults."""
    return written_args(layer.op, layer.args)


def written_args(op: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of a layer of kind `op` that differ from the kind's defaults."""
    kind = KINDS[op]
    written = {}
    for key, value in args.items():
        if value is None:
            continue
        default = kind.args[key].default
        if op == "conv2d" and key == "padding" and not isinstance(value, str):
            (kh, kw), (dh, dw) = _pair(args["kernel"]), _pair(args["dilation"])
            if _pair(value) == (dh * (kh - 1) // 2, dw * (kw - 1) // 2):
                continue
            written[key] = value
            continue
        if op in ("maxpool", "avgpool") and key == "stride" and _pair(value) == _pair(args["kernel"]):
            continue
        if value != default or (isinstance(value, bool) != isinstance(default, bool)):
            written[key] = value
    return written


def spec_text(imported: ImportedModel, name: str, torch_version: str = "", fold: bool = True) -> str:
    """The YAML of an imported model: its repeated modules folded into blocks and stages (see `importer.fold`), or
    with `fold=False` (or nothing to fold) one line per layer."""
    c, h, w = imported.input
    params: dict[str, str] = {}
    if h == w:
        params["resolution"] = f"{{type: int, default: {h}, min: 1, help: input height and width}}"
    head = next((ly for ly in imported.layers if ly.name == imported.output), None)
    classes = head is not None and head.op == "linear"
    if classes and head is not None:
        params["classes"] = f"{{type: int, default: {head.args['out']}, min: 1, help: outputs of the linear head}}"
    count = sum(not ly.unused for ly in imported.layers)
    unused = sum(ly.unused for ly in imported.layers)
    lines = [
        f"# shufflecalc import {imported.target}" + (f" (torch {torch_version})" if torch_version else ""),
        f"# {count} layers named by module path" + (f", {unused} unused in eval" if unused else ""),
        f"name: {_scalar(name)}",
        f"description: {_scalar(f'{imported.target}, imported from its torch.fx trace')}",
        f"reference: {_scalar(imported.target)}",
    ]
    if params:
        lines.append("params:")
        lines += [f"  {k}: {v}" for k, v in params.items()]
    size = ("resolution", "resolution") if h == w else (h, w)
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


def flow(entry: Mapping[str, Any]) -> str:
    """A mapping as one YAML flow mapping: ``{op: conv2d, name: conv1, out: 64}``."""
    return "{" + ", ".join(f"{k}: {flow(v) if isinstance(v, Mapping) else _scalar(v)}" for k, v in entry.items()) + "}"


_flow = flow
