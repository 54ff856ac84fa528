"""Spatial kinds: convolution and pooling over a C x H x W map (PyTorch's size rule)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shufflecalc.spec.layers.base import (
    MAX_CHANNELS,
    MAX_WINDOW,
    POS,
    Arg,
    Attrs,
    Eval,
    LayerError,
    LayerKind,
    Shape,
    image,
    nn_module,
    out_hw,
)


def conv_class(c_in: int, c_out: int, kernel: int, groups: int) -> str:
    """Operator class of a convolution, as the cost breakdowns and the profiler use it."""
    if groups == c_in and groups > 1 and c_out % c_in == 0:
        return "depthwise conv"
    if kernel == 1:
        return "ungrouped 1x1 conv" if groups == 1 else "grouped 1x1 conv"
    return "standard conv" if groups == 1 else "grouped conv"


def _padding(a: Attrs) -> int:
    """Default padding keeps the size at stride 1: (dilation * (kernel - 1)) // 2."""
    p = a.get("padding")
    return a.get("dilation", 1) * (a["kernel"] - 1) // 2 if p is None else p


def _conv2d(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c, h, w = image(ins, "conv2d")
    out, k, s, g, d = a["out"], a["kernel"], a["stride"], a["groups"], a["dilation"]
    if c % g:
        raise LayerError(f"input channels {c} are not divisible by groups={g}", "groups")
    if out % g:
        raise LayerError(f"{out} is not divisible by groups={g}", "out")
    p = _padding(a)
    oh, ow = out_hw(h, w, k, s, p, d)
    weights = out * (c // g) * k * k
    macs = weights * oh * ow
    return Eval((out, oh, ow), weights + (out if a["bias"] else 0), macs, 0, conv_class(c, out, k, g))


def _conv2d_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.Conv2d(
        ins[0][0], a["out"], a["kernel"], a["stride"], _padding(a), a["dilation"], a["groups"], bias=a["bias"]
    )


def _pool(kind: str) -> Callable[[Attrs, tuple[Shape, ...]], Eval]:
    def rule(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
        c, h, w = image(ins, kind)
        k, p = a["kernel"], a["padding"]
        s = a["stride"] if a["stride"] is not None else k
        if 2 * p > k:
            raise LayerError(f"padding {p} must be at most half the kernel size {k}", "padding")
        oh, ow = out_hw(h, w, k, s, p, 1, a["ceil_mode"])
        return Eval((c, oh, ow), op_class="pooling")

    return rule


def _pool_torch(name: str) -> Callable[[Attrs, tuple[Shape, ...], Any], Any]:
    def make(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
        s = a["stride"] if a["stride"] is not None else a["kernel"]
        return getattr(t.nn, name)(a["kernel"], s, a["padding"], ceil_mode=a["ceil_mode"])

    return make


def _global_avgpool(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c, h, w = image(ins, "global_avgpool")
    return Eval((c, 1, 1), fvcore_extra=c * h * w, op_class="pooling")


_POOL_ARGS = {
    "kernel": Arg(int, required=True, minimum=1, maximum=MAX_WINDOW),
    "stride": Arg(int, None, minimum=1, help="defaults to the kernel size, as in PyTorch", maximum=MAX_WINDOW),
    "padding": Arg(int, 0, minimum=0, maximum=MAX_WINDOW),
    "ceil_mode": Arg(bool, False),
}


KINDS: list[LayerKind] = [
    LayerKind(
        "conv2d",
        {
            "out": Arg(int, required=True, minimum=POS, help="output channels", maximum=MAX_CHANNELS),
            "kernel": Arg(int, required=True, minimum=1, help="square kernel size", maximum=MAX_WINDOW),
            "stride": Arg(int, 1, minimum=1, maximum=MAX_WINDOW),
            "padding": Arg(int, None, minimum=0, help="default (dilation * (kernel - 1)) // 2", maximum=MAX_WINDOW),
            "dilation": Arg(int, 1, minimum=1, maximum=MAX_WINDOW),
            "groups": Arg(int, 1, minimum=1, maximum=MAX_CHANNELS),
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
        "maxpool", dict(_POOL_ARGS), _pool("maxpool"), _pool_torch("MaxPool2d"), "unsupported",
        ("aten::max_pool2d",),
    ),
    LayerKind(
        "avgpool", dict(_POOL_ARGS), _pool("avgpool"), _pool_torch("AvgPool2d"), "unsupported",
        ("aten::avg_pool2d",),
    ),
    LayerKind(
        "global_avgpool", {}, _global_avgpool, nn_module("AdaptiveAvgPool2d", output_size=1), "counted",
        ("aten::adaptive_avg_pool2d",),
    ),
]
