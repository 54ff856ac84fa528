"""Composite units: the built-in block types.

The built-in blocks are written in the spec language, in the shipped file specs/blocks/builtin.yaml (read once, by
`blockdefs.shipped_library`); every spec can use them without an include. `BLOCKS` maps each block type's name to
its `BlockKind`: its arguments (their schema, as for a layer kind), its help and its declaration (`defn`, a
`blockdefs.BlockDef`). The graph prefixes a block's local layer names with the instance's name (``stage3.unit0`` +
``gconv1``). A block's cost is, by construction, the sum of its layers' costs; the closed-form formulas of the
ShuffleNet paper live apart, in `formulas`, and are checked against these sums.

Unit names follow the ShuffleNet paper, Figure 2: (a) ``bottleneck`` with a 3x3 depthwise conv, (b) the stride-1
``shufflenet_unit``, (c) its stride-2 form (the same kind with stride 2). The other units reproduce torchvision's
building blocks layer for layer, in the order torchvision registers their modules: ``inverted_residual``
(MobileNetV2/V3), ``squeeze_excitation``, ``shufflenet_v2_unit`` and ``resnet_bottleneck`` (ResNet-50, ResNeXt).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shufflecalc.spec.layers import Arg

IN = ""  # a block's input, as a layer's input reference in a template


@dataclass(frozen=True)
class BlockKind:
    name: str
    args: dict[str, Arg]
    doc: str
    defn: Any  # its blockdefs.BlockDef


class _Blocks(Mapping[str, BlockKind]):
    """The built-in block types, those of the shipped YAML file (read on first use)."""

    def __init__(self) -> None:
        self._kinds: dict[str, BlockKind] | None = None

    def _load(self) -> dict[str, BlockKind]:
        if self._kinds is None:
            from shufflecalc.spec.blockdefs import shipped_library

            self._kinds = {name: BlockKind(name, d.args, d.help, d) for name, d in shipped_library().items()}
        return self._kinds

    def __getitem__(self, name: str) -> BlockKind:
        return (self._kinds or self._load())[name]

    def __contains__(self, name: object) -> bool:
        return name in (self._kinds or self._load())

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds or self._load())

    def __len__(self) -> int:
        return len(self._kinds or self._load())


BLOCKS: Mapping[str, BlockKind] = _Blocks()
