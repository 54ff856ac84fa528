"""torchprofile 0.1.0 (``profile_macs(model, x)``), as measured on shufflecalc's torch models.

It traces the model with ``torch.jit`` and counts per traced aten operator (``HANDLER_MAP``): ``_convolution``
(output elements x input channels per group x kernel: the MACs, bias not counted; for a transposed conv it reads
the weight's axes by comparing channel counts, a bug), ``linear``/``matmul`` (the MACs),
``scaled_dot_product_attention`` (Q.K^T and A.V), 1 per output element of an affine batch_norm, layer_norm,
group_norm and instance_norm (0 without affine), of average pooling and mean (whatever the window: input-size
independent), of ``mul`` (layer scale, element-wise products, and each multiplication of two sizes in attention's
shape arithmetic, which counts 1) and of ``leaky_relu``, 4 per output element of bilinear upsampling. Everything
else (relu, max pooling, add, cat, views, nearest upsampling, the other activations) is 0, some with a "No handlers
found" warning (hardswish, hardsigmoid, elu, prelu).
"""

from __future__ import annotations

from shufflecalc.analysis.peers.base import (
    Peer,
    Rule,
    Term,
    out_elements,
    per_output,
    term,
    zero,
)
from shufflecalc.spec.graph import Layer
from shufflecalc.spec.layers.base import pair

VERSION = "0.1.0"

_ZERO = "0: a zero-cost operator"
_NO_HANDLER = "0: no handler (skipped with a warning)"


def _conv_transpose(layer: Layer) -> tuple[Term, ...]:
    """Weight (Cin, Cout / groups, kh, kw): torchprofile takes the input channels from axis 1 when the output has
    weight.shape[0] channels (Cout == Cin), else from axis 0: output elements x that x kernel area."""
    cin, cout, g = layer.in_shapes[0][0], layer.out[0], layer.attrs["groups"]
    kh, kw = pair(layer.attrs["kernel"])
    counted = out_elements(layer) * (cout // g if cout == cin else cin) * kh * kw
    return (Term("convolution", counted - layer.macs, "torchprofile counts a transposed conv as output elements x "
                 "the weight's channel axis it takes for the input's (Cin, or Cout / groups when Cout = Cin) x "
                 "kernel, where the MACs are input elements x Cout / groups x kernel (a bug)"),)


def _mul(layer: Layer) -> int:
    """One aten::mul per input after the first, each counting its output's elements (the broadcast so far)."""
    total, shape = 0, layer.in_shapes[0]
    for other in layer.in_shapes[1:]:
        shape = tuple(max(a, b) for a, b in zip(shape, other, strict=True))
        total += out_elements(layer._replace(out=shape))
    return total


def _affine(flag: str, op_class: str) -> Rule:
    return Rule(f"1 per output element with {flag}, 0 without", term(
        op_class, f"torchprofile counts 1 per output element of an affine norm ({flag}), 0 without")(
        lambda layer: out_elements(layer) if layer.attrs[flag] else 0))


# attention's shape arithmetic in torch's multi_head_attention_forward, traced: bsz * num_heads (q, k and v views)
# and bsz * tgt_len (the output view), each an aten::mul of two sizes counted as 1
_ATTENTION_SIZE_MULS = 4

RULES: dict[str, Rule] = {
    "conv2d": Rule("MACs (bias not counted)"),
    "conv_transpose2d": Rule("output elements x (Cin, or Cout / groups when Cout = Cin) x kernel", _conv_transpose),
    "maxpool": zero(_ZERO),
    "avgpool": Rule("1 per output element", per_output("pooling", "torchprofile counts 1 per output element of an "
                                                                  "average pool, whatever the window")),
    "global_avgpool": Rule("1 per output element (C)", per_output(
        "pooling", "torchprofile counts 1 per output element of adaptive average pooling: C for a global pool, "
        "whatever the input size")),
    "adaptive_avgpool": Rule("1 per output element", per_output(
        "pooling", "torchprofile counts 1 per output element of adaptive average pooling")),
    "adaptive_maxpool": zero(_ZERO),
    "upsample": Rule("4 per output element (bilinear), 0 (nearest)", term(
        "upsample", "torchprofile counts 4 per output element of bilinear upsampling, 0 of nearest")(
        lambda layer: 4 * out_elements(layer) if layer.attrs["mode"] == "bilinear" else 0)),
    "batchnorm": _affine("affine", "batchnorm"),
    "relu": zero(_ZERO),
    "relu6": zero(_ZERO + " (hardtanh)"),
    "hardswish": zero(_NO_HANDLER),
    "hardsigmoid": zero(_NO_HANDLER),
    "sigmoid": zero(_ZERO),
    "silu": zero(_ZERO),
    "tanh": zero(_ZERO),
    "gelu": zero(_ZERO),
    "leaky_relu": Rule("1 per output element", per_output("activations", "torchprofile counts 1 per output element "
                                                                         "of leaky_relu")),
    "elu": zero(_NO_HANDLER),
    "hardtanh": zero(_ZERO),
    "prelu": zero(_NO_HANDLER),
    "softmax": zero(_ZERO),
    "layernorm": _affine("elementwise_affine", "norms"),
    "groupnorm": _affine("affine", "norms"),
    "instancenorm": _affine("affine", "norms"),
    "dropout": zero(_ZERO),
    "drop_path": zero("0: the identity in eval mode (nothing traced)"),
    "layer_scale": Rule("1 per output element (aten::mul)", per_output(
        "element-wise add/mul", "torchprofile counts 1 per output element of aten::mul")),
    "mean": Rule("1 per output element (C)", per_output(
        "pooling", "torchprofile counts 1 per output element of aten::mean: C, whatever the input size")),
    "flatten": zero(_ZERO),
    "linear": Rule("MACs (aten::linear, bias not counted)"),
    "channel_shuffle": zero(_ZERO + " (view, transpose, contiguous)"),
    "add": zero(_ZERO),
    "concat": zero(_ZERO),
    "mul": Rule("1 per output element of each aten::mul", term(
        "element-wise add/mul", "torchprofile counts 1 per output element of aten::mul")(_mul)),
    "split": zero(_ZERO),
    "to_tokens": zero(_ZERO),
    "from_tokens": zero(_ZERO),
    "class_token": zero(_ZERO + " (expand, cat)"),
    "position_embedding": zero(_ZERO + " (add)"),
    "select_token": zero(_ZERO),
    "multihead_attention": Rule(
        "MACs (linear, scaled_dot_product_attention) + 1 per multiplication of two sizes in the traced shape "
        "arithmetic",
        term("shape arithmetic", "torchprofile counts 1 for each aten::mul of two sizes in attention's traced "
                                 "reshapes (bsz * num_heads, bsz * tgt_len)")(lambda layer: _ATTENTION_SIZE_MULS)),
}

TORCHPROFILE = Peer(
    "torchprofile",
    f"torchprofile {VERSION} profile_macs(model, x)",
    VERSION,
    RULES,
    header=f"torchprofile {VERSION} MACs",
    summary="traced aten operators: the MACs (attention included), 1 per output element of affine norms, average "
    "pooling, mean, mul and leaky_relu, 4 of bilinear upsampling",
)
