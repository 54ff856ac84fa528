"""thop 0.1.1.post2209072238 (``thop.profile``), as measured on shufflecalc's torch models.

A forward hook per leaf module, matched by exact type (``register_hooks``; a subclass of a counted module counts 0);
the totals are float64 sums. Conv and linear count the MACs without the bias; batchnorm, layernorm and instancenorm
2 per element, 4 with affine; average pooling 1 per output element, adaptive average pooling (input/output size
ratio + 1) per output element; upsampling 1 (nearest) or 11 (bilinear) per output element; softmax 3 per element
less 1 per row; PReLU 1 per element. ReLU, ReLU6, LeakyReLU (a rule that returns 0), max pooling and dropout are
``zero_ops``; every other activation, GroupNorm, nn.MultiheadAttention's subclass and the small modules shufflecalc
defines have no rule: 0.
"""

from __future__ import annotations

from shufflecalc.analysis.peers.base import (
    Peer,
    Rule,
    Term,
    in_elements,
    no_macs,
    out_elements,
    per_output,
    term,
    zero,
)
from shufflecalc.spec.graph import Layer
from shufflecalc.spec.layers.spatial import conv_padding

VERSION = "0.1.1.post2209072238"

_SUBCLASS = "shufflecalc builds it as a subclass of {}, and thop matches modules by exact type: 0"
_NO_RULE = "0: no rule for the module"


def _conv(layer: Layer) -> tuple[Term, ...]:
    if conv_padding(layer.attrs)[1] != (0, 0):
        return (Term("convolution", -layer.macs, _SUBCLASS.format("nn.Conv2d (SamePadConv2d: odd 'same' padding)")),)
    return ()


def _conv_transpose(layer: Layer) -> tuple[Term, ...]:
    """thop's conv rule: output elements x input channels / groups x kernel area, for a transposed conv too."""
    cin = layer.in_shapes[0][0]
    kh, kw = (layer.attrs["kernel"], layer.attrs["kernel"]) if isinstance(layer.attrs["kernel"], int) else \
        layer.attrs["kernel"]
    counted = out_elements(layer) * (cin // layer.attrs["groups"]) * kh * kw
    return (Term("convolution", counted - layer.macs, "thop counts a transposed conv as a conv: output elements x "
                 "input channels / groups x kernel, where the MACs are input elements x output channels / groups x "
                 "kernel (a bug)"),)


def _adaptive_avg(layer: Layer) -> int:
    """int((H / oh * W / ow + 1) * output elements), in float64 as thop computes it."""
    _, h, w = layer.in_shapes[0]
    _, oh, ow = layer.out
    return int(((h / oh) * (w / ow) + 1.0) * out_elements(layer))


def _softmax(layer: Layer) -> int:
    shape, dim = layer.in_shapes[0], layer.attrs["dim"]
    features = shape[dim]
    return (in_elements(layer) // features) * (3 * features - 1)


def _norm(flag: str, what: str) -> Rule:
    return Rule(f"2 per element, 4 with {flag}", term("batchnorm" if what == "batchnorm" else "norms",
                                                      f"thop counts 2 per element of a {what}, 4 with {flag}")(
        lambda layer: (4 if layer.attrs[flag] else 2) * in_elements(layer)))


_ZERO_OPS = zero("0: zero_ops")

RULES: dict[str, Rule] = {
    "conv2d": Rule("MACs (bias not counted); 0 for the odd-'same' conv (SamePadConv2d)", _conv),
    "conv_transpose2d": Rule("output elements x Cin / groups x kernel (its conv rule)", _conv_transpose),
    "maxpool": _ZERO_OPS,
    "avgpool": Rule("1 per output element", per_output("pooling", "thop counts 1 per output element of an average "
                                                                  "pool")),
    "global_avgpool": Rule("(H x W + 1) per output element", term(
        "pooling", "thop counts (input/output size ratio + 1) per output element of adaptive average pooling")(
        _adaptive_avg)),
    "adaptive_avgpool": Rule("int((H / oh x W / ow + 1) x output elements), in float64", term(
        "pooling", "thop counts (input/output size ratio + 1) per output element of adaptive average pooling")(
        _adaptive_avg)),
    "adaptive_maxpool": _ZERO_OPS,
    "upsample": Rule("1 (nearest) or 11 (bilinear) per output element", term(
        "upsample", "thop counts 1 per output element of nearest upsampling, 11 of bilinear")(
        lambda layer: (11 if layer.attrs["mode"] == "bilinear" else 1) * out_elements(layer))),
    "batchnorm": _norm("affine", "batchnorm"),
    "relu": _ZERO_OPS,
    "relu6": _ZERO_OPS,
    "hardswish": zero(_NO_RULE),
    "hardsigmoid": zero(_NO_RULE),
    "sigmoid": zero(_NO_RULE),
    "silu": zero(_NO_RULE),
    "tanh": zero(_NO_RULE),
    "gelu": zero(_NO_RULE),
    "leaky_relu": zero("0: its rule (count_relu) returns 0"),
    "elu": zero(_NO_RULE),
    "hardtanh": zero(_NO_RULE),
    "prelu": Rule("1 per element (eval mode)", per_output("activations", "thop counts 1 per element of PReLU")),
    "softmax": Rule("3 per element less 1 per row", term(
        "activations", "thop counts exp, add and divide per element of softmax, less one add per row")(_softmax)),
    "layernorm": Rule(
        "nn.LayerNorm (tokens, flat): 2 per element, 4 with elementwise_affine; LayerNorm2d (C x H x W), a "
        "subclass: 0",
        term("norms", "thop counts 2 per element of nn.LayerNorm, 4 with elementwise_affine; 0 for shufflecalc's "
                      "LayerNorm2d, a subclass")(
            lambda layer: 0 if len(layer.out) == 3 else
            (4 if layer.attrs["elementwise_affine"] else 2) * in_elements(layer))),
    "groupnorm": zero(_NO_RULE),
    "instancenorm": _norm("affine", "instancenorm"),
    "dropout": _ZERO_OPS,
    "drop_path": zero(_NO_RULE),
    "layer_scale": zero(_NO_RULE),
    "mean": zero(_NO_RULE),
    "flatten": zero(_NO_RULE),
    "linear": Rule("MACs (in_features x output elements; bias not counted)"),
    "channel_shuffle": zero(_NO_RULE),
    "add": zero(_NO_RULE),
    "concat": zero(_NO_RULE),
    "mul": zero(_NO_RULE),
    "split": zero(_NO_RULE),
    "to_tokens": zero(_NO_RULE),
    "from_tokens": zero(_NO_RULE),
    "class_token": zero(_NO_RULE),
    "position_embedding": zero(_NO_RULE),
    "select_token": zero(_NO_RULE),
    "multihead_attention": Rule("0: no rule for nn.MultiheadAttention", no_macs(
        "attention", "thop has no rule for attention: its projections and matmuls count 0")),
}

THOP = Peer(
    "thop",
    f"thop {VERSION} profile(model, inputs)",
    VERSION,
    RULES,
    header=f"thop {VERSION} MACs",
    summary="module rules by exact type: MACs without bias, 2 or 4 per norm element, pooling and upsampling per "
    "output element; most activations and attention 0",
)
