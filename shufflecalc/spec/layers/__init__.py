"""Primitive layer kinds: one entry per kind, each defining everything about it in one place.

For every kind: its arguments, its shape rule (PyTorch's), its parameter count, its MACs, its fvcore count, how
fvcore treats it, its operator class and the torch module it becomes. Adding a kind is one entry in `KINDS`.

Counting conventions (per layer, in elements or operations, batch size 1):

- ``macs``: multiply-accumulates of conv2d and linear layers only (bias adds are not counted). This is what the
  MobileNet and ShuffleNet papers call "FLOPs" or "mult-adds".
- ``flops``: 2 x macs (computed by the caller).
- ``fvcore_flops``: what fvcore 0.1.5's FlopCountAnalysis reports for the layer in eval mode: conv and linear MACs,
  2 per output element of an affine batchnorm, 1 per input element of adaptive average pooling, 0 for everything
  fvcore ignores (relu, cat, chunk, view, transpose, flatten, dropout) or does not support (add, mul, mean,
  max/avg pooling, relu6's hardtanh, hardswish, hardsigmoid, sigmoid).
- ``params``: weights, biases, batchnorm gamma and beta (running statistics are buffers, not parameters).
- ``activations``: output elements of conv2d and linear layers (fvcore's ActivationCountAnalysis convention).
- ``memory_access``: input elements + output elements + parameters: ShuffleNet V2's memory access cost (MAC), for
  every layer as eager execution runs it. A layer whose output aliases its input in eager execution (`LayerKind.view`:
  flatten, split's chunk, dropout in eval mode) moves no memory and counts 0.
"""

from __future__ import annotations

from shufflecalc.spec.layers import pointwise, spatial, structure
from shufflecalc.spec.layers.base import (
    MAX_CHANNELS,
    MAX_EPS,
    MAX_FEATURES,
    MAX_RATIO,
    MAX_SPATIAL,
    MAX_WINDOW,
    RESERVED_NAMES,
    Arg,
    Attrs,
    Eval,
    LayerError,
    LayerKind,
    Shape,
    reserved_name,
)
from shufflecalc.spec.layers.spatial import conv_class

# Every kind, by name: one module per family, each a list of `LayerKind` entries.
KINDS: dict[str, LayerKind] = {k.name: k for family in (spatial, pointwise, structure) for k in family.KINDS}

__all__ = [
    "KINDS",
    "MAX_CHANNELS",
    "MAX_EPS",
    "MAX_FEATURES",
    "MAX_RATIO",
    "MAX_SPATIAL",
    "MAX_WINDOW",
    "RESERVED_NAMES",
    "Arg",
    "Attrs",
    "Eval",
    "LayerError",
    "LayerKind",
    "Shape",
    "conv_class",
    "reserved_name",
]
