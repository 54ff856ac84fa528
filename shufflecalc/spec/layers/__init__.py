"""Primitive layer kinds: one entry per kind, each defining everything about it in one place.

For every kind: its arguments, its shape rule (PyTorch's), its parameter count, its MACs, its fvcore count, how
fvcore treats it, its operator class and the torch module it becomes. Adding a kind is one entry in `KINDS`.

Counting conventions (per layer, in elements or operations, batch size 1):

- ``macs``: multiply-accumulates of convolutions (conv2d, and conv_transpose2d: every input element times the
  weights of its group) and linear layers and of attention's matmuls (multihead_attention: its
  projections, Q.K^T and A.V; `MACS_TERMS` gives them term by term) only (bias adds are not counted). This is what
  the MobileNet and ShuffleNet papers call "FLOPs" or "mult-adds".
- ``flops``: 2 x macs (computed by the caller).
- ``fvcore_flops``: what fvcore 0.1.5's FlopCountAnalysis reports for the layer in eval mode: conv and linear MACs,
  2 per output element of an affine batchnorm, 1 per input element of adaptive average pooling (any output size),
  1 per output element of nearest and 4 of bilinear upsampling, 0 for everything fvcore ignores (relu, cat, chunk,
  view, transpose, flatten, dropout) or does not support (add, mul, mean, max/avg pooling, adaptive max pooling,
  relu6's hardtanh, hardswish, hardsigmoid, sigmoid). A kind whose `fvcore` treatment is "partial" has some of its
  operators counted (its first aten op) and others left out (multihead_attention: the projections' linear counted,
  scaled_dot_product_attention unsupported). The norms (layernorm, groupnorm, instancenorm): 5 per input element
  with an affine weight, 4 without (layernorm's permutes ignored); silu, gelu, leaky_relu, elu, tanh, hardtanh, prelu,
  softmax and layer_scale's mul are unsupported (0).
- ``params``: weights, biases, batchnorm gamma and beta (running statistics are buffers, not parameters).
- ``activations``: output elements of conv2d, conv_transpose2d and linear layers (fvcore's ActivationCountAnalysis
  convention).
- ``memory_access``: input elements + output elements + parameters: ShuffleNet V2's memory access cost (MAC), for
  every layer as eager execution runs it. A layer whose output aliases its input in eager execution (`LayerKind.view`:
  flatten, split's chunk, dropout and drop_path in eval mode) moves no memory and counts 0.
"""

from __future__ import annotations

from shufflecalc.spec.layers import pointwise, spatial, structure, tokens
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
KINDS: dict[str, LayerKind] = {k.name: k for family in (spatial, pointwise, structure, tokens) for k in family.KINDS}
# The MACs of a layer term by term, for the kinds whose MACs are a sum of distinct matmuls (attention).
MACS_TERMS = tokens.MACS_TERMS

__all__ = [
    "KINDS",
    "MACS_TERMS",
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
