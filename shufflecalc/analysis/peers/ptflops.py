"""ptflops 0.7.5 (``get_model_complexity_info``), both backends, as measured on shufflecalc's torch models.

``pytorch`` (its default backend): a forward hook per module, matched by exact type (``type(m) in MODULES_MAPPING``:
a subclass of a counted module counts 0), and, on top, patched ``torch.nn.functional`` functions and
``torch``/``Tensor`` ops (``count_functional=True``, the default). A module whose forward calls a patched function
is counted twice: ReLU, GELU, ELU, PReLU and every pooling (module hook + functional call). Conv and linear count
their bias adds; batchnorm 1 per element (2 with affine); upsampling 1 per output element plus its interpolate call.

``aten``: a ``TorchDispatchMode`` counting only ``aten.convolution`` (with its bias adds), ``aten.mm``,
``aten.addmm`` (with the bias), ``aten.bmm`` and ``aten.matmul``: the MACs, plus the bias adds of conv and linear
layers; attention's Q.K^T and A.V run inside the fused CPU kernel ``_scaled_dot_product_flash_attention_for_cpu``
and count 0.
"""

from __future__ import annotations

from shufflecalc.analysis.peers.base import (
    Peer,
    Rule,
    Term,
    bias_outputs,
    in_elements,
    no_macs,
    out_elements,
    per_input,
    per_output,
    strided,
    term,
    zero,
)
from shufflecalc.spec.graph import Graph, Layer
from shufflecalc.spec.layers.base import pair
from shufflecalc.spec.layers.spatial import conv_padding

VERSION = "0.7.5"

_BIAS = "ptflops counts 1 per output element for the bias of a conv or linear layer"
_TWICE = "counted twice: ptflops' module hook and its patched functional call both fire"
_SUBCLASS = ("shufflecalc builds it as a subclass of {}, and ptflops matches modules by exact type: not counted "
             "(the torch.nn module itself would be)")


def _conv(layer: Layer) -> tuple[Term, ...]:
    if conv_padding(layer.attrs)[1] != (0, 0):  # an odd total 'same' padding: SamePadConv2d, a Conv2d subclass
        return (Term("convolution", -layer.macs, _SUBCLASS.format("nn.Conv2d (SamePadConv2d: odd 'same' padding)")),)
    return (Term("bias adds", bias_outputs(layer), _BIAS),)


def _linear(layer: Layer) -> tuple[Term, ...]:
    return (Term("bias adds", bias_outputs(layer), _BIAS),)


def _upsample(layer: Layer) -> tuple[Term, ...]:
    """The module hook: 1 per output element; F.interpolate's hook: C x prod(size), or, for a scale, the input's
    elements times scale ** 2 (a float) or, for a pair of scales, times the product of their integer parts (cast
    to int64 first)."""
    a, n = layer.attrs, out_elements(layer)
    if a["size"] is not None:
        oh, ow = pair(a["size"])
        functional: float = layer.in_shapes[0][0] * oh * ow
    elif isinstance(a["scale"], tuple):
        functional = in_elements(layer) * int(a["scale"][0]) * int(a["scale"][1])
    else:
        functional = in_elements(layer) * float(a["scale"]) ** 2
    if functional == int(functional):
        functional = int(functional)
    return (Term("upsample", n, "ptflops' nn.Upsample hook: 1 per output element"),
            Term("upsample", functional, "plus its patched F.interpolate: channels x the size, or input elements x "
                 "scale^2 (the integer parts of a pair of scales: a bug)"))


def _pool(what: str) -> Rule:
    return Rule(f"{what}: 2 per input element", per_input("pooling", f"1 per input element, {_TWICE}", 2))


def _act(factor: int, how: str) -> Rule:
    reason = f"1 per element, {_TWICE}" if factor == 2 else f"1 per element ({how})"
    return Rule(f"{factor} per element ({how})", per_output("activations", reason, factor))


_ZERO_ACT = zero("0: no module rule, no patched function")

PYTORCH_RULES: dict[str, Rule] = {
    "conv2d": Rule("MACs + 1 per output element with a bias; 0 for the odd-'same' conv (SamePadConv2d)", _conv),
    "conv_transpose2d": Rule("MACs (input positions x weights) + 1 per output element with a bias", _conv),
    "maxpool": _pool("nn.MaxPool2d + F.max_pool2d"),
    "avgpool": _pool("nn.AvgPool2d + F.avg_pool2d"),
    "global_avgpool": _pool("nn.AdaptiveAvgPool2d + F.adaptive_avg_pool2d"),
    "adaptive_avgpool": _pool("nn.AdaptiveAvgPool2d + F.adaptive_avg_pool2d"),
    "adaptive_maxpool": _pool("nn.AdaptiveMaxPool2d + F.adaptive_max_pool2d"),
    "upsample": Rule("1 per output element + F.interpolate's count", _upsample),
    "batchnorm": Rule("1 per element, 2 with affine", term("batchnorm", "ptflops counts 2 per element of an affine "
                                                              "batchnorm (1 without affine)")(
        lambda layer: (2 if layer.attrs["affine"] else 1) * in_elements(layer))),
    "relu": _act(2, "nn.ReLU + F.relu"),
    "relu6": _act(1, "nn.ReLU6's hook; F.hardtanh is not patched"),
    "hardswish": _ZERO_ACT,
    "hardsigmoid": _ZERO_ACT,
    "sigmoid": _ZERO_ACT,
    "silu": _act(1, "F.silu patched; nn.SiLU has no module rule"),
    "tanh": _ZERO_ACT,
    "gelu": _act(2, "nn.GELU + F.gelu"),
    "leaky_relu": _act(1, "nn.LeakyReLU's hook; F.leaky_relu is not patched"),
    "elu": _act(2, "nn.ELU + F.elu"),
    "hardtanh": _ZERO_ACT,
    "prelu": _act(2, "nn.PReLU + F.prelu"),
    "softmax": _act(1, "F.softmax patched; nn.Softmax has no module rule"),
    "layernorm": Rule(
        "nn.LayerNorm (tokens, flat): 1 per element (its 'affine' test reads an attribute LayerNorm lacks); on "
        "C x H x W LayerNorm2d, a subclass: 0",
        term("norms", "ptflops' norm hook: 1 per element of nn.LayerNorm, affine or not (it tests .affine, which "
                      "LayerNorm lacks); 0 for LayerNorm2d, a subclass")(
            lambda layer: 0 if len(layer.out) == 3 else out_elements(layer))),
    "groupnorm": Rule("1 per element, 2 with affine", term("norms", "ptflops counts 2 per element with affine, 1 "
                                                                    "without")(
        lambda layer: (2 if layer.attrs["affine"] else 1) * out_elements(layer))),
    "instancenorm": Rule("1 per element, 2 with affine", term("norms", "ptflops counts 2 per element with affine, 1 "
                                                                       "without")(
        lambda layer: (2 if layer.attrs["affine"] else 1) * out_elements(layer))),
    "dropout": zero("0: no module rule"),
    "drop_path": zero("0: the identity in eval mode"),
    "layer_scale": zero("0: `scale * x` is Tensor.__mul__, which ptflops does not patch (it patches Tensor.mul)"),
    "mean": zero("0: x.mean is not patched"),
    "flatten": zero("0"),
    "linear": Rule("MACs + 1 per output element with a bias", _linear),
    "channel_shuffle": zero("0: view, transpose, contiguous"),
    "add": zero("0: `a + b` is Tensor.__add__, which ptflops does not patch (it patches Tensor.add)"),
    "concat": zero("0"),
    "mul": zero("0: `a * b` is Tensor.__mul__, which ptflops does not patch"),
    "split": zero("0"),
    "to_tokens": zero("0"),
    "from_tokens": zero("0"),
    "class_token": zero("0"),
    "position_embedding": zero("0: `x + weight` is not patched"),
    "select_token": zero("0"),
    "multihead_attention": Rule(
        "0: nn.MultiheadAttention's rule matches the exact type, and shufflecalc's SelfAttention is a subclass",
        no_macs("attention", _SUBCLASS.format("nn.MultiheadAttention (SelfAttention)"))),
}

PYTORCH = Peer(
    "ptflops_pytorch",
    f"ptflops {VERSION} get_model_complexity_info(backend='pytorch'), its default backend",
    VERSION,
    PYTORCH_RULES,
    header=f"ptflops {VERSION} (pytorch) MACs",
    summary="module hooks by exact type plus patched functional calls: MACs, bias adds, norms, activations and "
    "pooling, with the functional ones of ReLU, GELU, ELU, PReLU and pooling counted twice",
)

_ATEN_BIAS = "ptflops' aten backend counts the bias of aten.convolution and aten.addmm: 1 per output element"

ATEN_RULES: dict[str, Rule] = {kind: zero("0: only convolution, mm, addmm, bmm and matmul are counted")
                               for kind in PYTORCH_RULES}
ATEN_RULES.update({
    "conv2d": Rule("aten.convolution: MACs + 1 per output element with a bias",
                   term("bias adds", _ATEN_BIAS)(bias_outputs)),
    "conv_transpose2d": Rule("aten.convolution: MACs + 1 per output element with a bias",
                             term("bias adds", _ATEN_BIAS)(bias_outputs)),
    "linear": Rule("aten.addmm with a bias (MACs + 1 per output element), aten.mm without; on a non-contiguous "
                   "token tensor mm then add_: the bias not counted",
                   term("bias adds", _ATEN_BIAS)(bias_outputs)),
    "multihead_attention": Rule(
        "the projections' aten.addmm (with their bias adds); Q.K^T and A.V run in the fused SDPA CPU kernel: 0",
        lambda layer: (
            Term("attention", -2 * layer.out[0] * layer.out[0] * layer.out[1],
                 "Q.K^T and A.V run inside _scaled_dot_product_flash_attention_for_cpu, which ptflops does not count"),
            Term("bias adds", 4 * out_elements(layer) if layer.attrs["bias"] else 0, _ATEN_BIAS),
        )),
})



def _aten_context(graph: Graph) -> dict[str, tuple[Term, ...]]:
    """On a non-contiguous token tensor (after to_tokens' transpose) torch's linear runs matmul (aten.mm) and adds
    the bias with aten.add_, which ptflops does not count; on a contiguous one it runs one aten.addmm, bias
    included. So a linear layer's bias, and attention's in-projection bias (3 per output element), count 0 there."""
    strided_inputs = strided(graph)
    context: dict[str, tuple[Term, ...]] = {}
    for layer in graph.layers:
        if len(layer.in_shapes[0]) != 2 or layer.inputs[0] not in strided_inputs:
            continue
        if layer.op == "linear":
            context[layer.name] = ()
        elif layer.op == "multihead_attention":
            terms = ATEN_RULES["multihead_attention"].terms(layer)
            bias = out_elements(layer) if layer.attrs["bias"] else 0  # the out-projection's, on a contiguous tensor
            context[layer.name] = (terms[0], Term("bias adds", bias, _ATEN_BIAS))
    return context


ATEN = Peer(
    "ptflops_aten",
    f"ptflops {VERSION} get_model_complexity_info(backend='aten')",
    VERSION,
    ATEN_RULES,
    header=f"ptflops {VERSION} (aten) MACs",
    context=_aten_context,
    summary="aten.convolution, mm, addmm, bmm and matmul only: the MACs plus the bias adds of conv and linear layers",
)

