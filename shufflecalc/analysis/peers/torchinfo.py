"""torchinfo 1.8.0 (``summary(model, input_size).total_mult_adds``), as measured on shufflecalc's torch models.

Per executed leaf module, from its parameters alone: for a module whose class name contains "Conv", the number of
its ``weight`` and ``bias`` elements times the output's positions (batch x H x W); for any other module, that
number times the batch size; parameters named otherwise but containing "weight" or "bias" (attention's
``in_proj_weight``) times the output's first two axes. So a conv counts its MACs plus its bias adds, a linear layer
on a flat vector its MACs plus its bias, and every other layer with parameters (batchnorm, norms, PReLU, the class
token, the position embedding) its parameter count, whatever the size of its input: a bug. Modules with children
(nn.MultiheadAttention: its out_proj) are not leaves, and a leaf that never runs is not listed: attention counts 0.
"""

from __future__ import annotations

from shufflecalc.analysis.peers.base import Peer, Rule, Term, no_macs, term, zero
from shufflecalc.spec.graph import Layer
from shufflecalc.spec.layers.base import pair

VERSION = "1.8.0"

_PARAMS = "torchinfo counts a non-conv layer's weight and bias elements (x batch 1), whatever its input size: {}"
_NONE = "0: no parameters"


def _conv(layer: Layer) -> tuple[Term, ...]:
    bias = layer.out[0] * layer.out[1] * layer.out[2] if layer.attrs["bias"] else 0
    return (Term("bias adds", bias, "torchinfo counts a conv's bias elements x output positions: 1 per output "
                 "element"),)


def _conv_transpose(layer: Layer) -> tuple[Term, ...]:
    cin = layer.in_shapes[0][0]
    cout, oh, ow = layer.out
    kh, kw = pair(layer.attrs["kernel"])
    weights = cin * (cout // layer.attrs["groups"]) * kh * kw
    return (Term("convolution", weights * oh * ow - layer.macs, "torchinfo multiplies a transposed conv's weights by "
                 "the output's positions, where the MACs take the input's (a bug)"),
            *_conv(layer))


def _linear(layer: Layer) -> tuple[Term, ...]:
    *rest, n_in = layer.in_shapes[0]
    out = layer.attrs["out"]
    tokens = 1
    for r in rest:
        tokens *= r
    return (Term("bias adds", out if layer.attrs["bias"] else 0, "torchinfo counts a linear layer's bias elements "
                 "once: 1 per output element on a flat vector"),
            Term("linear on tokens", n_in * out * (1 - tokens), "torchinfo multiplies a linear layer's weights by "
                 "the batch size only: on T tokens it counts one token's MACs (a bug)"))


def _params(op_class: str, what: str) -> Rule:
    return Rule(f"its parameters: {what}", term(op_class, _PARAMS.format(what))(lambda layer: layer.params))


RULES: dict[str, Rule] = {
    "conv2d": Rule("weight and bias elements x output positions: MACs + 1 per output element with a bias", _conv),
    "conv_transpose2d": Rule("(weights + bias) x the output's positions (a bug: the MACs take the input's)",
                             _conv_transpose),
    "maxpool": zero(_NONE),
    "avgpool": zero(_NONE),
    "global_avgpool": zero(_NONE),
    "adaptive_avgpool": zero(_NONE),
    "adaptive_maxpool": zero(_NONE),
    "upsample": zero(_NONE),
    "batchnorm": _params("batchnorm", "2 per channel with affine (gamma, beta), 0 without"),
    "relu": zero(_NONE),
    "relu6": zero(_NONE),
    "hardswish": zero(_NONE),
    "hardsigmoid": zero(_NONE),
    "sigmoid": zero(_NONE),
    "silu": zero(_NONE),
    "tanh": zero(_NONE),
    "gelu": zero(_NONE),
    "leaky_relu": zero(_NONE),
    "elu": zero(_NONE),
    "hardtanh": zero(_NONE),
    "prelu": _params("activations", "PReLU's slopes"),
    "softmax": zero(_NONE),
    "layernorm": _params("norms", "weight and bias, 1 or 2 per channel"),
    "groupnorm": _params("norms", "2 per channel with affine"),
    "instancenorm": _params("norms", "2 per channel with affine"),
    "dropout": zero(_NONE),
    "drop_path": zero(_NONE),
    "layer_scale": zero("0: its parameter is named 'scale', neither weight nor bias"),
    "mean": zero(_NONE),
    "flatten": zero(_NONE),
    "linear": Rule("(weights + bias) x batch: MACs + bias on a flat vector, one token's worth on tokens", _linear),
    "channel_shuffle": zero(_NONE),
    "add": zero(_NONE),
    "concat": zero(_NONE),
    "mul": zero(_NONE),
    "split": zero(_NONE),
    "to_tokens": zero(_NONE),
    "from_tokens": zero(_NONE),
    "class_token": _params("tokens", "the class token's C"),
    "position_embedding": _params("tokens", "the table's T x C"),
    "select_token": zero(_NONE),
    "multihead_attention": Rule(
        "0: a module with children is no leaf, and its out_proj never runs as a module",
        no_macs("attention", "torchinfo sums leaf modules only: nn.MultiheadAttention has a child (out_proj) that "
                "never runs as a module, so attention counts 0")),
}

TORCHINFO = Peer(
    "torchinfo",
    f"torchinfo {VERSION} summary(model, input_size).total_mult_adds",
    VERSION,
    RULES,
    header=f"torchinfo {VERSION} mult-adds",
    summary="parameters x output positions for convs (MACs + bias adds), parameters x batch for every other layer "
    "(linear on a flat vector: MACs + bias; norms: their parameter count); attention 0",
)
