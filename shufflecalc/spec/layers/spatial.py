"""Spatial kinds: convolution, transposed convolution, pooling, adaptive pooling and upsampling over a C x H x W map
(PyTorch's size rules).

Window arguments (`kernel`, `stride`, `padding`, `dilation`, `output_padding`, adaptive pooling's `output`,
upsample's `size`) are an int or a pair ``[h, w]`` (`base.Pair`): an int stays an int in the layer's arguments, a
pair is a tuple (h, w). conv2d's and the pools' `padding` may also be ``same`` (stride 1 only, as in PyTorch: the
output has the input's size) or ``valid`` (no padding).

fvcore 0.1.5 (measured, tests/spec/test_layers_spatial.py): ``aten::_convolution`` is counted, transposed or not, as
batch x prod(weight shape) x the output's (the input's, when transposed) spatial size, which is the MACs;
``aten::adaptive_avg_pool2d`` is counted 1 per input element whatever the output size; ``aten::upsample_nearest2d``
1 per output element, ``aten::upsample_bilinear2d`` 4 per output element (with or without align_corners);
``aten::max_pool2d``, ``aten::avg_pool2d`` and ``aten::adaptive_max_pool2d`` are unsupported (0, with a warning).
A conv2d written in torch with ``padding='same'`` or ``'valid'`` traces as ``aten::_convolution_mode``, which fvcore
does not support (0): the builder gives torch the integer padding PyTorch computes for them instead (the same
convolution), so fvcore counts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shufflecalc.spec.layers.base import (
    MAX_CHANNELS,
    MAX_SPATIAL,
    MAX_WINDOW,
    POS,
    Arg,
    Attrs,
    Eval,
    FloatPair,
    LayerError,
    LayerKind,
    Padding,
    Pair,
    Shape,
    Size,
    image,
    nn_module,
    out_hw,
    pair,
    text,
)


def conv_class(c_in: int, c_out: int, kernel: Size, groups: int) -> str:
    """Operator class of a convolution, as the cost breakdowns and the profiler use it (`kernel` an int or a pair)."""
    if groups == c_in and groups > 1 and c_out % c_in == 0:
        return "depthwise conv"
    if pair(kernel) == (1, 1):
        return "ungrouped 1x1 conv" if groups == 1 else "grouped 1x1 conv"
    return "standard conv" if groups == 1 else "grouped conv"


def _same(kernel: Size, dilation: Size) -> tuple[Size, tuple[int, int]]:
    """PyTorch's ``padding='same'`` (at::_convolution_mode): a total of dilation * (kernel - 1) per axis, half of it
    (rounded down) on both sides, and where the total is odd one more row or column at the bottom or right. Returns
    the symmetric part (an int when kernel and dilation are ints) and those extra rows and columns."""
    (kh, kw), (dh, dw) = pair(kernel), pair(dilation)
    th, tw = dh * (kh - 1), dw * (kw - 1)
    left: Size = th // 2 if isinstance(kernel, int) and isinstance(dilation, int) else (th // 2, tw // 2)
    return left, (th % 2, tw % 2)


def _unit_stride(stride: Size, kind: str, default: bool = False) -> None:
    if pair(stride) != (1, 1):
        why = f" (the stride defaults to the kernel size, {text(stride)}: give stride: 1)" if default else ""
        raise LayerError(f"same needs stride 1 ({kind}; PyTorch's rule), got stride {text(stride)}{why}", "padding")


def conv_padding(a: Attrs) -> tuple[Size, tuple[int, int]]:
    """conv2d's padding for torch: the symmetric part (an int or a pair) and the extra bottom / right rows and
    columns of an odd ``same`` total. Omitted: (dilation * (kernel - 1)) // 2 per axis, which keeps the size at
    stride 1 (an int when kernel and dilation are ints)."""
    p, k, d = a.get("padding"), a["kernel"], a.get("dilation", 1)
    if p is None:
        if isinstance(k, int) and isinstance(d, int):
            return d * (k - 1) // 2, (0, 0)
        (kh, kw), (dh, dw) = pair(k), pair(d)
        return (dh * (kh - 1) // 2, dw * (kw - 1) // 2), (0, 0)
    if p == "valid":
        return 0, (0, 0)
    if p == "same":
        _unit_stride(a["stride"], "conv2d")
        return _same(k, d)
    return p, (0, 0)


def _conv2d(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c, h, w = image(ins, "conv2d")
    out, k, s, g, d = a["out"], a["kernel"], a["stride"], a["groups"], a["dilation"]
    if c % g:
        raise LayerError(f"input channels {c} are not divisible by groups={g}", "groups")
    if out % g:
        raise LayerError(f"{out} is not divisible by groups={g}", "out")
    p, _ = conv_padding(a)
    if a.get("padding") == "same":
        oh, ow = h, w  # stride 1: the output has the input's size (PyTorch's rule, padding included)
    else:
        oh, ow = out_hw(h, w, k, s, p, d)
    kh, kw = pair(k)
    weights = out * (c // g) * kh * kw
    macs = weights * oh * ow
    return Eval((out, oh, ow), weights + (out if a["bias"] else 0), macs, 0, conv_class(c, out, k, g))


def _conv2d_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    p, extra = conv_padding(a)
    args = (ins[0][0], a["out"], a["kernel"], a["stride"], p, a["dilation"], a["groups"])
    if extra != (0, 0):
        return t.SamePadConv2d(*args, bias=a["bias"], extra=extra)
    return t.nn.Conv2d(*args, bias=a["bias"])


def _conv_transpose2d(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    """PyTorch's rule: (H - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1 per axis;
    output_padding below the stride or the dilation on each axis. MACs: every input element times every weight of
    its group, Cin * Cout / groups * kh * kw * H * W (FlopCounterMode's and fvcore's count)."""
    c, h, w = image(ins, "conv_transpose2d")
    out, g = a["out"], a["groups"]
    if c % g:
        raise LayerError(f"input channels {c} are not divisible by groups={g}", "groups")
    if out % g:
        raise LayerError(f"{out} is not divisible by groups={g}", "out")
    (kh, kw), (sh, sw), (ph, pw) = pair(a["kernel"]), pair(a["stride"]), pair(a["padding"])
    (dh, dw), (oph, opw) = pair(a["dilation"]), pair(a["output_padding"])
    if not (oph < max(sh, dh) and opw < max(sw, dw)):
        raise LayerError(f"output_padding {text(a['output_padding'])} must be smaller than the stride "
                         f"{text(a['stride'])} or the dilation {text(a['dilation'])} on each axis (PyTorch's rule)",
                         "output_padding")
    oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    ow = (w - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    if oh < 1 or ow < 1:
        raise LayerError(f"the spatial size reaches zero: {h}x{w} input, kernel {text(a['kernel'])}, stride "
                         f"{text(a['stride'])}, padding {text(a['padding'])} gives {oh}x{ow}")
    weights = c * (out // g) * kh * kw
    return Eval((out, oh, ow), weights + (out if a["bias"] else 0), weights * h * w, 0, "transposed conv")


def _conv_transpose2d_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.ConvTranspose2d(ins[0][0], a["out"], a["kernel"], a["stride"], a["padding"], a["output_padding"],
                                a["groups"], a["bias"], a["dilation"])


def _pool_stride(a: Attrs) -> Size:
    s = a["stride"]
    return a["kernel"] if s is None else s


def pool_padding(a: Attrs, kind: str) -> Size:
    """A pool's padding for torch: ``valid`` is 0; ``same`` (stride 1) half of dilation * (kernel - 1) on each
    side, which must be even: a pool cannot pad one side more than the other."""
    p = a["padding"]
    if p == "valid":
        return 0
    if p == "same":
        _unit_stride(_pool_stride(a), kind, default=a["stride"] is None)
        left, extra = _same(a["kernel"], a.get("dilation", 1))
        if extra != (0, 0):
            raise LayerError(f"same needs an even dilation * (kernel - 1) in {kind}, an odd kernel (a pool is padded "
                             f"equally on both sides), got kernel {text(a['kernel'])}", "padding")
        return left
    return p


def _pool(kind: str) -> Callable[[Attrs, tuple[Shape, ...]], Eval]:
    def rule(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
        c, h, w = image(ins, kind)
        k, d = a["kernel"], a.get("dilation", 1)
        p, s = pool_padding(a, kind), _pool_stride(a)
        (kh, kw), (ph, pw) = pair(k), pair(p)
        if 2 * ph > kh or 2 * pw > kw:
            raise LayerError(f"padding {text(p)} must be at most half the kernel size {text(k)}", "padding")
        oh, ow = out_hw(h, w, k, s, p, d, a["ceil_mode"])
        return Eval((c, oh, ow), op_class="pooling")

    return rule


def _maxpool_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.MaxPool2d(a["kernel"], _pool_stride(a), pool_padding(a, "maxpool"), a["dilation"],
                          ceil_mode=a["ceil_mode"])


def _avgpool_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.AvgPool2d(a["kernel"], _pool_stride(a), pool_padding(a, "avgpool"), a["ceil_mode"],
                          a["count_include_pad"], a["divisor_override"])


def _global_avgpool(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c, h, w = image(ins, "global_avgpool")
    return Eval((c, 1, 1), fvcore_extra=c * h * w, op_class="pooling")


def _adaptive(kind: str, fvcore_per_input: int) -> Callable[[Attrs, tuple[Shape, ...]], Eval]:
    """Adaptive pooling to `output` (PyTorch's bins: output i of n on an axis of size H covers floor(i * H / n) to
    ceil((i + 1) * H / n)); fvcore counts `fvcore_per_input` per input element (1 for the average, whatever the
    output size; the maximum is unsupported)."""

    def rule(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
        c, h, w = image(ins, kind)
        oh, ow = pair(a["output"])
        return Eval((c, oh, ow), fvcore_extra=fvcore_per_input * c * h * w, op_class="pooling")

    return rule


def _adaptive_torch(name: str) -> Callable[[Attrs, tuple[Shape, ...], Any], Any]:
    def make(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
        return getattr(t.nn, name)(a["output"])

    return make


UPSAMPLE_FVCORE = {"nearest": 1, "bilinear": 4}  # fvcore 0.1.5's count per output element
UPSAMPLE_ATEN = {"nearest": "aten::upsample_nearest2d", "bilinear": "aten::upsample_bilinear2d"}


def _upsample(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    """PyTorch's size: `size` as given, or floor(H * scale) per axis (in double precision, as aten computes it)."""
    c, h, w = image(ins, "upsample")
    scale, size, mode = a["scale"], a["size"], a["mode"]
    if (scale is None) == (size is None):
        raise LayerError("upsample takes exactly one of scale and size", None if scale is None else "size")
    if a["align_corners"] and mode != "bilinear":
        raise LayerError(f"align_corners applies to mode bilinear only (PyTorch refuses it with {mode})",
                         "align_corners")
    if size is not None:
        oh, ow = pair(size)
    else:
        sh, sw = pair(scale)
        oh, ow = int(h * sh), int(w * sw)
        if oh < 1 or ow < 1:
            raise LayerError(f"the spatial size reaches zero: {h}x{w} input, scale {text(scale)} gives {oh}x{ow}",
                             "scale")
    return Eval((c, oh, ow), fvcore_extra=UPSAMPLE_FVCORE[mode] * c * oh * ow, op_class="upsample")


def _upsample_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    corners = a["align_corners"] if a["mode"] == "bilinear" else None  # nearest takes none
    return t.nn.Upsample(a["size"], a["scale"], a["mode"], corners)


def _window(default: Any = None, required: bool = False, minimum: int = 1, help: str = "",
            kind: type = Pair) -> Arg:
    return Arg(kind, default, required=required, minimum=minimum, maximum=MAX_WINDOW, help=help)


_CHANNELS = Arg(int, required=True, minimum=POS, help="output channels", maximum=MAX_CHANNELS)
_GROUPS = Arg(int, 1, minimum=1, maximum=MAX_CHANNELS)
_POOL_ARGS = {
    "kernel": _window(required=True),
    "stride": _window(None, help="defaults to the kernel size, as in PyTorch"),
    "padding": _window(0, minimum=0, kind=Padding, help="at most half the kernel; same (stride 1) or valid"),
    "ceil_mode": Arg(bool, False),
}


KINDS: list[LayerKind] = [
    LayerKind(
        "conv2d",
        {
            "out": _CHANNELS,
            "kernel": _window(required=True, help="kernel size, an int or [h, w]"),
            "stride": _window(1),
            "padding": _window(None, minimum=0, kind=Padding,
                               help="default (dilation * (kernel - 1)) // 2; same (stride 1) or valid"),
            "dilation": _window(1),
            "groups": _GROUPS,
            "bias": Arg(bool, False),
        },
        _conv2d,
        _conv2d_torch,
        "counted",
        ("aten::_convolution",),
        counts_activations=True,
        doc="2-D convolution; groups = input channels makes it depthwise",
    ),
    LayerKind(
        "conv_transpose2d",
        {
            "out": _CHANNELS,
            "kernel": _window(required=True, help="kernel size, an int or [h, w]"),
            "stride": _window(1),
            "padding": _window(0, minimum=0),
            "output_padding": _window(0, minimum=0, help="below the stride or the dilation on each axis"),
            "groups": _GROUPS,
            "dilation": _window(1),
            "bias": Arg(bool, True, help="true, as in PyTorch"),
        },
        _conv_transpose2d,
        _conv_transpose2d_torch,
        "counted",
        ("aten::_convolution",),
        counts_activations=True,
        doc="2-D transposed convolution (nn.ConvTranspose2d); MACs Cin * Cout / groups * kh * kw * H * W, fvcore's "
            "count and FlopCounterMode's / 2",
    ),
    LayerKind(
        "maxpool", {**_POOL_ARGS, "dilation": _window(1)}, _pool("maxpool"), _maxpool_torch, "unsupported",
        ("aten::max_pool2d",),
    ),
    LayerKind(
        "avgpool",
        {**_POOL_ARGS, "count_include_pad": Arg(bool, True),
         "divisor_override": Arg(int, None, minimum=1, maximum=MAX_WINDOW**2, help="divide by this, not the window")},
        _pool("avgpool"), _avgpool_torch, "unsupported", ("aten::avg_pool2d",),
    ),
    LayerKind(
        "global_avgpool", {}, _global_avgpool, nn_module("AdaptiveAvgPool2d", output_size=1), "counted",
        ("aten::adaptive_avg_pool2d",),
    ),
    LayerKind(
        "adaptive_avgpool",
        {"output": Arg(Pair, required=True, minimum=1, maximum=MAX_SPATIAL, help="output size, an int or [h, w]")},
        _adaptive("adaptive_avgpool", 1), _adaptive_torch("AdaptiveAvgPool2d"), "counted",
        ("aten::adaptive_avg_pool2d",),
        doc="average over PyTorch's adaptive bins; fvcore counts 1 per input element, whatever the output size",
    ),
    LayerKind(
        "adaptive_maxpool",
        {"output": Arg(Pair, required=True, minimum=1, maximum=MAX_SPATIAL, help="output size, an int or [h, w]")},
        _adaptive("adaptive_maxpool", 0), _adaptive_torch("AdaptiveMaxPool2d"), "unsupported",
        ("aten::adaptive_max_pool2d",),
        doc="maximum over PyTorch's adaptive bins",
    ),
    LayerKind(
        "upsample",
        {
            "mode": Arg(str, "nearest", choices=("nearest", "bilinear")),
            "scale": Arg(FloatPair, None, minimum=0, maximum=MAX_SPATIAL,
                         help="output size floor(H * scale): a number or [h, w]"),
            "size": Arg(Pair, None, minimum=1, maximum=MAX_SPATIAL, help="output size, an int or [h, w]"),
            "align_corners": Arg(bool, False, help="bilinear only"),
        },
        _upsample,
        _upsample_torch,
        "counted",
        tuple(UPSAMPLE_ATEN.values()),
        doc="nn.Upsample: exactly one of scale and size; fvcore counts 1 (nearest) or 4 (bilinear) per output "
            "element, FlopCounterMode 0",
        aten_of=lambda a: (UPSAMPLE_ATEN[a["mode"]],),
    ),
]
