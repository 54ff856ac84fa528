"""Structural kinds: the classifier's flatten and linear, the spatial mean, and the kinds that route channels and
join branches (channel shuffle, split, add, concat, mul)."""

from __future__ import annotations

from math import prod
from typing import Any

from shufflecalc.spec.layers.base import (
    MAX_CHANNELS,
    POS,
    Arg,
    Attrs,
    Eval,
    LayerError,
    LayerKind,
    Shape,
    fmt,
    image,
    local_module,
    nn_module,
)


def _mean(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c = image(ins, "mean")[0]
    return Eval((c,), op_class="pooling")


def _flatten(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    return Eval((prod(ins[0]),))


def _linear(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    """nn.Linear on the last axis (a flat vector's features, tokens' C), once per entry of the other axes."""
    *rest, n_in = ins[0]
    out = a["out"]
    return Eval((*rest, out), n_in * out + (out if a["bias"] else 0), n_in * out * prod(rest), 0, "linear")


def _linear_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.Linear(ins[0][-1], a["out"], bias=a["bias"])


def _channel_shuffle(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c = image(ins, "channel_shuffle")[0]
    if c % a["groups"]:
        raise LayerError(f"{c} channels are not divisible by groups={a['groups']}", "groups")
    return Eval(ins[0], op_class="channel shuffle")


def _channel_shuffle_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.ChannelShuffle(a["groups"])


def _add(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    if any(s != ins[0] for s in ins[1:]):
        raise LayerError("add needs inputs of one shape, got " + ", ".join(fmt(s) for s in ins))
    return Eval(ins[0], op_class="elementwise")


def _concat(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    for s in ins:
        image((s,), "concat")
    if any(s[1:] != ins[0][1:] for s in ins[1:]):
        raise LayerError("concat needs inputs of one spatial size, got " + ", ".join(fmt(s) for s in ins))
    return Eval((sum(s[0] for s in ins), *ins[0][1:]), op_class="other")


def _mul(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    """Elementwise product with PyTorch broadcasting: each axis equal, or 1 in all inputs but one (SE's scale)."""
    if any(len(s) != len(ins[0]) for s in ins[1:]):
        raise LayerError("mul needs inputs of one rank, got " + ", ".join(fmt(s) for s in ins))
    out = []
    for sizes in zip(*ins, strict=False):
        size = max(sizes)
        if any(n not in (1, size) for n in sizes):
            shown = ", ".join(fmt(s) for s in ins)
            raise LayerError(f"mul needs inputs that broadcast (each axis equal, or 1), got {shown}")
        out.append(size)
    return Eval(tuple(out), op_class="elementwise")


def _split(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c, h, w = image(ins, "split")
    parts, index = a["parts"], a["index"]
    if c % parts:
        raise LayerError(f"{c} channels are not divisible into parts={parts}", "parts")
    if index >= parts:
        raise LayerError(f"index {index} is out of range for parts={parts} (0 to {parts - 1})", "index")
    return Eval((c // parts, h, w), op_class="other")


def _split_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.Split(a["parts"], a["index"])


KINDS: list[LayerKind] = [
    LayerKind(
        "mean", {}, _mean, local_module("Mean"), "unsupported", ("aten::mean",),
        doc="x.mean([2, 3]): the spatial mean as a flat vector (ShuffleNetV2's global pool)",
    ),
    LayerKind("flatten", {}, _flatten, nn_module("Flatten"), "ignored", ("aten::flatten",), view=True),
    LayerKind(
        "linear",
        {"out": Arg(int, required=True, minimum=POS, maximum=MAX_CHANNELS), "bias": Arg(bool, True)},
        _linear,
        _linear_torch,
        "counted",
        ("aten::linear",),
        counts_activations=True,
        doc="nn.Linear on the last axis: a flat vector, or each token of T x C (each row of any shape)",
    ),
    LayerKind(
        "channel_shuffle",
        {"groups": Arg(int, required=True, minimum=1, maximum=MAX_CHANNELS)},
        _channel_shuffle,
        _channel_shuffle_torch,
        "ignored",
        ("aten::view", "aten::transpose", "aten::contiguous"),
        doc="reshape to (groups, C/groups), transpose, flatten",
    ),
    LayerKind("add", {}, _add, local_module("Add"), "unsupported", ("aten::add",), inputs=0),
    LayerKind("concat", {}, _concat, local_module("Concat"), "ignored", ("aten::cat",), inputs=0),
    LayerKind(
        "mul", {}, _mul, local_module("Mul"), "unsupported", ("aten::mul",), inputs=0,
        doc="elementwise product, broadcasting axes of size 1 (C x 1 x 1 scale times C x H x W)",
    ),
    LayerKind(
        "split",
        {
            "parts": Arg(int, 2, minimum=1, help="number of equal channel groups", maximum=MAX_CHANNELS),
            "index": Arg(int, required=True, minimum=0, help="which group this layer outputs, from 0",
                         maximum=MAX_CHANNELS),
        },
        _split,
        _split_torch,
        "ignored",
        ("aten::chunk",),
        view=True,
        doc="one of `parts` equal channel groups: x.chunk(parts, dim=1)[index]",
    ),
]
