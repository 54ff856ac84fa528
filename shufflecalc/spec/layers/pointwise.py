"""Pointwise kinds: normalization, activations, dropout, stochastic depth and the learnable per-channel scale (the
output has the input's shape).

Axes: a spec's shapes leave out the batch axis (C x H x W, a flat vector of F features, tokens T x C); torch's have
it in front. So the spec's axis ``i`` is torch's dim ``i + 1``, and a negative axis is the same axis in both
(``softmax``'s ``dim``). "Channels" are axis 0 of a C x H x W map; on any other rank the per-channel kinds
(``layernorm``, ``layer_scale``) use the last axis, as ``nn.LayerNorm`` and ViT / ConvNeXt's channels-last blocks do.

fvcore 0.1.5 (measured, tests/spec/test_layers_pointwise.py): ``aten::layer_norm``, ``aten::group_norm`` and
``aten::instance_norm`` are counted by its ``norm_flop_counter``, 5 per input element with an affine weight, 4
without (a bias alone changes nothing: fvcore looks only at the weight); every activation here (``silu``, ``gelu``,
``leaky_relu``, ``elu``, ``tanh``, ``hardtanh``, ``prelu``, ``softmax``) and the ``mul`` of ``layer_scale`` are
unsupported (0, with a warning). FlopCounterMode counts none of them (0). MACs are 0 for all (the ``macs``
convention counts convolutions, linear layers and attention matmuls only).
"""

from __future__ import annotations

from math import prod
from typing import Any

from shufflecalc.spec.layers.base import (
    MAX_CHANNELS,
    MAX_EPS,
    Arg,
    Attrs,
    Eval,
    LayerError,
    LayerKind,
    Shape,
    elementwise,
    fmt,
    image,
    nn_module,
)

# The magnitude of an activation's constant (`negative_slope`, `alpha`, `min_val`, `max_val`) and of an initial
# value (prelu's and layer_scale's `init`).
MAX_CONSTANT = 1024.0
# The most axes of a tensor (C x H x W): bounds softmax's `dim`.
MAX_RANK = 3

# fvcore's norm_flop_counter: per input element, with and without an affine weight.
NORM_FVCORE_AFFINE, NORM_FVCORE_PLAIN = 5, 4


def _constant(default: float, help: str = "") -> Arg:
    return Arg(float, default, minimum=-MAX_CONSTANT, maximum=MAX_CONSTANT, help=help)


def _eps(default: float = 1e-5) -> Arg:
    return Arg(float, default, minimum=0, maximum=MAX_EPS)


def _channels(shape: Shape) -> int:
    """The per-channel axis: C of C x H x W, else the last axis (C of tokens T x C, F of a flat vector)."""
    return shape[0] if len(shape) == 3 else shape[-1]


# --- batchnorm, dropout -------------------------------------------------------------------------------------------


def _batchnorm(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    shape = ins[0]
    n = prod(shape)
    return Eval(shape, 2 * shape[0] if a["affine"] else 0, 0, (2 if a["affine"] else 1) * n, "batchnorm")


def _batchnorm_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    cls = t.nn.BatchNorm2d if len(ins[0]) == 3 else t.nn.BatchNorm1d
    return cls(ins[0][0], eps=a["eps"], affine=a["affine"])


def _dropout_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.Dropout(a["p"])


# --- activations with arguments -----------------------------------------------------------------------------------


def _gelu_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.GELU(approximate=a["approximate"])


def _leaky_relu_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.LeakyReLU(a["negative_slope"])


def _elu_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.ELU(a["alpha"])


def _hardtanh(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    if a["min_val"] >= a["max_val"]:
        raise LayerError(f"max_val {a['max_val']:g} must be above min_val {a['min_val']:g}", "max_val")
    return Eval(ins[0], op_class="elementwise")


def _hardtanh_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.Hardtanh(a["min_val"], a["max_val"])


def _prelu(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    """PyTorch's rule: one weight, or one per entry of torch's dim 1, the spec's axis 0."""
    shape, n = ins[0], a["num_parameters"]
    if n not in (1, shape[0]):
        what = {3: "channels", 1: "features"}.get(len(shape), "size of axis 0 (torch's PReLU scales dim 1)")
        raise LayerError(f"num_parameters must be 1 or the input's {what} ({shape[0]}), got {n}", "num_parameters")
    return Eval(shape, n, op_class="elementwise")


def _prelu_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.PReLU(a["num_parameters"], a["init"])


def _softmax(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    shape, dim = ins[0], a["dim"]
    if not -len(shape) <= dim < len(shape):
        raise LayerError(
            f"dim {dim} is out of range for a {fmt(shape)} input: -{len(shape)} to {len(shape) - 1} (the batch axis "
            "is not counted: 0 is the first axis of the spec's shape)", "dim",
        )
    return Eval(shape, op_class="softmax")


def _softmax_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    dim = a["dim"]
    return t.nn.Softmax(dim + 1 if dim >= 0 else dim)  # torch's input has the batch axis in front


# --- normalization ------------------------------------------------------------------------------------------------


def _norm_fvcore(affine: bool, shape: Shape) -> int:
    return (NORM_FVCORE_AFFINE if affine else NORM_FVCORE_PLAIN) * prod(shape)


def _layernorm(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    shape = ins[0]
    c, affine = _channels(shape), a["elementwise_affine"]
    params = (2 * c if a["bias"] else c) if affine else 0
    return Eval(shape, params, 0, _norm_fvcore(affine, shape), "layernorm")


def _layernorm_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    shape = ins[0]
    cls = t.LayerNorm2d if len(shape) == 3 else t.nn.LayerNorm
    return cls(_channels(shape), eps=a["eps"], elementwise_affine=a["elementwise_affine"], bias=a["bias"])


def _groupnorm(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c, h, w = image(ins, "groupnorm")
    g = a["groups"]
    if c % g:
        raise LayerError(f"{c} channels are not divisible by groups={g}", "groups")
    if c // g * h * w == 1:
        raise LayerError(f"groups={g} leaves one value per group on a {fmt(ins[0])} input (nothing to normalize)",
                         "groups")
    return Eval(ins[0], 2 * c if a["affine"] else 0, 0, _norm_fvcore(a["affine"], ins[0]), "groupnorm")


def _groupnorm_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.GroupNorm(a["groups"], ins[0][0], eps=a["eps"], affine=a["affine"])


def _instancenorm(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c, h, w = image(ins, "instancenorm")
    if h * w == 1:
        raise LayerError(f"instancenorm needs more than one spatial element, got {fmt(ins[0])}")
    return Eval(ins[0], 2 * c if a["affine"] else 0, 0, _norm_fvcore(a["affine"], ins[0]), "instancenorm")


def _instancenorm_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.InstanceNorm2d(ins[0][0], eps=a["eps"], affine=a["affine"], track_running_stats=False)


# --- stochastic depth, layer scale --------------------------------------------------------------------------------


def _drop_path_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.DropPath(a["p"])


def _layer_scale(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    return Eval(ins[0], _channels(ins[0]), op_class="elementwise")


def _layer_scale_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    shape = ins[0]
    return t.LayerScale((shape[0], 1, 1) if len(shape) == 3 else (shape[-1],), a["init"])


def _activation(name: str, module: str, aten: str, doc: str = "") -> LayerKind:
    """An activation without arguments: torch.nn's module, unsupported by fvcore (0, with a warning)."""
    return LayerKind(name, {}, elementwise("elementwise"), nn_module(module), "unsupported", (aten,), doc=doc)


KINDS: list[LayerKind] = [
    LayerKind(
        "batchnorm",
        {"affine": Arg(bool, True), "eps": _eps()},
        _batchnorm,
        _batchnorm_torch,
        "counted",
        ("aten::batch_norm",),
        doc="batch normalization (eval mode)",
    ),
    LayerKind("relu", {}, elementwise("elementwise"), nn_module("ReLU"), "ignored", ("aten::relu",)),
    _activation("relu6", "ReLU6", "aten::hardtanh"),
    _activation("hardswish", "Hardswish", "aten::hardswish", "x * relu6(x + 3) / 6 (MobileNetV3)"),
    _activation("hardsigmoid", "Hardsigmoid", "aten::hardsigmoid",
                "relu6(x + 3) / 6 (MobileNetV3's squeeze-and-excitation gate)"),
    _activation("sigmoid", "Sigmoid", "aten::sigmoid"),
    _activation("silu", "SiLU", "aten::silu", "x * sigmoid(x) (swish; EfficientNet)"),
    _activation("tanh", "Tanh", "aten::tanh"),
    LayerKind(
        "gelu",
        {"approximate": Arg(str, "none", choices=("none", "tanh"), help="'tanh': the tanh approximation")},
        elementwise("elementwise"), _gelu_torch, "unsupported", ("aten::gelu",),
        doc="x * Phi(x) (ViT, ConvNeXt)",
    ),
    LayerKind(
        "leaky_relu", {"negative_slope": _constant(0.01, "slope for x < 0")},
        elementwise("elementwise"), _leaky_relu_torch, "unsupported", ("aten::leaky_relu",),
    ),
    LayerKind(
        "elu", {"alpha": _constant(1.0, "alpha * (exp(x) - 1) for x < 0")},
        elementwise("elementwise"), _elu_torch, "unsupported", ("aten::elu",),
    ),
    LayerKind(
        "hardtanh", {"min_val": _constant(-1.0), "max_val": _constant(1.0)},
        _hardtanh, _hardtanh_torch, "unsupported", ("aten::hardtanh",),
        doc="clamp(x, min_val, max_val)",
    ),
    LayerKind(
        "prelu",
        {
            "num_parameters": Arg(int, 1, minimum=1, maximum=MAX_CHANNELS,
                                  help="1, or one slope per entry of axis 0 (the channels of C x H x W)"),
            "init": _constant(0.25, "initial slope"),
        },
        _prelu, _prelu_torch, "unsupported", ("aten::prelu",),
        doc="leaky ReLU with learned slopes",
    ),
    LayerKind(
        "softmax",
        {"dim": Arg(int, required=True, minimum=-MAX_RANK, maximum=MAX_RANK - 1,
                    help="axis of the spec's shape, batch excluded: 0 = channels of C x H x W, -1 = the last")},
        _softmax, _softmax_torch, "unsupported", ("aten::softmax",),
    ),
    LayerKind(
        "layernorm",
        {"eps": _eps(), "elementwise_affine": Arg(bool, True), "bias": Arg(bool, True)},
        _layernorm, _layernorm_torch, "counted", ("aten::layer_norm", "aten::permute"),
        doc="over the channels at each position on C x H x W (ConvNeXt's LayerNorm2d: permute, layer_norm, "
        "permute), else over the last axis (nn.LayerNorm)",
    ),
    LayerKind(
        "groupnorm",
        {"groups": Arg(int, required=True, minimum=1, maximum=MAX_CHANNELS), "eps": _eps(),
         "affine": Arg(bool, True)},
        _groupnorm, _groupnorm_torch, "counted", ("aten::group_norm",),
    ),
    LayerKind(
        "instancenorm",
        {"affine": Arg(bool, False), "eps": _eps()},
        _instancenorm, _instancenorm_torch, "counted", ("aten::instance_norm",),
        doc="nn.InstanceNorm2d without running statistics",
    ),
    LayerKind(
        "dropout",
        {"p": Arg(float, 0.5, minimum=0, maximum=1.0,
                   help="drop probability (training only; the identity in eval mode)")},
        elementwise("other"),
        _dropout_torch,
        "ignored",
        ("aten::dropout",),
        view=True,
    ),
    LayerKind(
        "drop_path",
        {"p": Arg(float, required=True, minimum=0, maximum=1.0,
                  help="probability of zeroing a sample's whole tensor (training only; the identity in eval mode)")},
        elementwise("other"),
        _drop_path_torch,
        "ignored",
        (),  # the identity in eval mode: fvcore's trace holds no operator
        view=True,
        doc="stochastic depth, torchvision's StochasticDepth(p, 'row')",
    ),
    LayerKind(
        "layer_scale",
        {"init": _constant(1e-6, "initial value of every scale")},
        _layer_scale, _layer_scale_torch, "unsupported", ("aten::mul",),
        doc="learned per-channel scale (ConvNeXt's CNBlock): a C x 1 x 1 parameter on C x H x W, else one per "
        "entry of the last axis",
    ),
]
