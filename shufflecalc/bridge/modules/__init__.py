"""The torch module of a layer kind (`torch_module`), and the small modules for the kinds torch.nn lacks.

Each layer kind's entry in `shufflecalc.spec.layers.KINDS` says which module it becomes; its factory receives this
package as its namespace (``t.nn.Conv2d``, ``t.ChannelShuffle``), so the spec language itself never imports torch.
The modules torch.nn lacks live in one module per family of kinds, as the kinds do in `shufflecalc.spec.layers`.
"""

from __future__ import annotations

import sys
from typing import Any

from torch import nn

from shufflecalc.bridge.modules.pointwise import DropPath, LayerNorm2d, LayerScale, stochastic_depth
from shufflecalc.bridge.modules.spatial import SamePadConv2d
from shufflecalc.bridge.modules.structure import Add, ChannelShuffle, Concat, Mean, Mul, Split, channel_shuffle
from shufflecalc.bridge.modules.tokens import (
    ClassToken,
    FromTokens,
    PositionEmbedding,
    SelectToken,
    SelfAttention,
    ToTokens,
)
from shufflecalc.spec.layers import KINDS, Attrs, Shape


def torch_module(op: str, attrs: Attrs, in_shapes: tuple[Shape, ...]) -> nn.Module:
    """The torch module that layer kind `op` becomes with these (complete) arguments and input shapes."""
    module: nn.Module = KINDS[op].torch(attrs, in_shapes, _NAMESPACE)
    return module


_NAMESPACE: Any = sys.modules[__name__]  # this package: the factories' `t`

__all__ = [
    "Add",
    "ChannelShuffle",
    "ClassToken",
    "Concat",
    "DropPath",
    "FromTokens",
    "LayerNorm2d",
    "LayerScale",
    "Mean",
    "Mul",
    "PositionEmbedding",
    "SamePadConv2d",
    "SelectToken",
    "SelfAttention",
    "Split",
    "ToTokens",
    "channel_shuffle",
    "nn",
    "stochastic_depth",
    "torch_module",
]
