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


def _scalar(value: Any) -> str:
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
    kind = KINDS[layer.op]
    written = {}
    for key, value in layer.args.items():
        if value is None:
            continue
        default = kind.args[key].default
        if layer.op == "conv2d" and key == "padding" and not isinstance(value, str):
            (kh, kw), (dh, dw) = _pair(layer.args["kernel"]), _pair(layer.args["dilation"])
            if _pair(value) == (dh * (kh - 1) // 2, dw * (kw - 1) // 2):
                continue
            written[key] = value
            continue
        if layer.op in ("maxpool", "avgpool") and key == "stride" and _pair(value) == _pair(layer.args["kernel"]):
            continue
        if value != default or (isinstance(value, bool) != isinstance(default, bool)):
            written[key] = value
    return written


def spec_text(imported: ImportedModel, name: str, torch_version: str = "") -> str:
    """The YAML of an imported model."""
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
    lines.append(f"input: [{c}, {size[0]}, {size[1]}]")
    lines.append("layers:")
    last = INPUT
    for layer in imported.layers:
        entry: dict[str, Any] = {"op": layer.op, "name": layer.name, **_written_args(layer)}
        if classes and layer.name == imported.output:
            entry["out"] = "classes"
        if layer.unused or layer.inputs != (last,):
            entry["inputs"] = list(layer.inputs)
        if layer.unused:
            entry["unused"] = True
        else:
            last = layer.name
        lines.append("  - " + _flow(entry))
    return "\n".join(lines) + "\n"


def _flow(entry: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in entry.items()) + "}"
