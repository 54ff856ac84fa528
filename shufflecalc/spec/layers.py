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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from math import prod
from typing import Any

Shape = tuple[int, ...]
Attrs = Mapping[str, Any]

# Bounds of every number a layer or block takes, and of every tensor a layer produces (docs/spec-format.md).
MAX_CHANNELS = 2**20  # channels: out, hidden, planes, squeeze, se_channels; groups, parts; a C x H x W tensor's C
MAX_WINDOW = 2**12  # kernel, stride, padding, dilation
MAX_SPATIAL = 2**16  # height and width of every C x H x W tensor, the input's included
MAX_FEATURES = MAX_CHANNELS * MAX_SPATIAL**2  # elements of a flat tensor (the flatten of the largest C x H x W)
MAX_RATIO = 1024.0  # ratios: bottleneck, expand; expansion, width_per_group
MAX_EPS = 1.0  # batchnorm epsilon

# Layer and stage names that cannot be module names in torch: every public attribute of torch.nn.Module and of the
# torch builder's GraphModule (tests/bridge/test_builder.py checks this list against the installed torch). Names
# starting with "_" are refused as well: torch keeps its own state under them.
# Names a module's own code assigns as attributes while it runs: nn.Module.train() sets `training` on every module,
# the builder's GraphModule sets `graph`, `output_name` and `annotate`. A submodule under such a name makes that
# assignment fail (torch refuses to replace a child module by a value), so `bench` and `profile` crashed. Every
# other attribute name (`half`, `eval`, `forward`, ...) is fine: the builder registers modules in `_modules` directly
# and calls them from its plan (tests/bridge/test_builder.py builds and runs each one).
RESERVED_NAMES = frozenset({"training", "graph", "output_name", "annotate"})


def reserved_name(name: str) -> str | None:
    """Why `name` cannot name a layer or stage (a module in torch), or None if it can."""
    if name.startswith("_"):
        return "names starting with '_' are reserved"
    if name in RESERVED_NAMES:
        return "torch assigns an attribute of that name on modules"
    return None


class LayerError(Exception):
    """Invalid arguments or input shapes for a layer; `arg` names the offending argument, if one does."""

    def __init__(self, message: str, arg: str | None = None) -> None:
        super().__init__(message)
        self.arg = arg


@dataclass(frozen=True)
class Arg:
    """One argument of a layer or block kind. `type` is int, float, bool or str; `minimum` and `maximum` bound
    numbers (both required for a number: no spec value is unbounded)."""

    type: type
    default: Any = None
    required: bool = False
    minimum: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""
    maximum: float | None = None

    def __post_init__(self) -> None:
        if self.type in (int, float) and (self.minimum is None or self.maximum is None):
            raise TypeError("a number argument needs a minimum and a maximum")


@dataclass(frozen=True)
class Eval:
    """What a kind's rule returns for one layer."""

    out: Shape
    params: int = 0
    macs: int = 0
    fvcore_extra: int = 0  # fvcore's count beyond macs
    op_class: str = "other"


@dataclass(frozen=True)
class LayerKind:
    name: str
    args: dict[str, Arg]
    rule: Callable[[Attrs, tuple[Shape, ...]], Eval]
    torch: Callable[[Attrs, tuple[Shape, ...], Any], Any]  # (attrs, input shapes, shufflecalc.bridge.modules)
    fvcore: str  # "counted", "ignored" (0, silently) or "unsupported" (0, with a warning): fvcore's treatment
    aten: tuple[str, ...]  # the aten ops fvcore sees for this layer
    inputs: int = 1  # number of inputs; 0 means two or more
    counts_activations: bool = False
    view: bool = False  # the output aliases the input in eager execution (a view or the identity): memory_access 0
    doc: str = ""
    defaults: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", {k: a.default for k, a in self.args.items() if not a.required})


# --- shape helpers ------------------------------------------------------------------------------------------------


def _spatial(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False) -> int:
    """PyTorch's output-size rule for convolution and pooling along one axis."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + padding:  # the last window must start inside the input or left padding
            out -= 1
    else:
        out = span // stride + 1
    return out


def _image(ins: tuple[Shape, ...], kind: str) -> Shape:
    shape = ins[0]
    if len(shape) != 3:
        raise LayerError(f"{kind} needs a C x H x W input, got {_fmt(shape)} (flattened already?)")
    return shape


def _fmt(shape: Shape) -> str:
    return "x".join(str(s) for s in shape)


def _out_hw(h: int, w: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> tuple[int, int]:
    oh, ow = _spatial(h, k, s, p, d, ceil_mode), _spatial(w, k, s, p, d, ceil_mode)
    if oh < 1 or ow < 1:
        raise LayerError(
            f"the spatial size reaches zero: {h}x{w} input, kernel {k}, stride {s}, padding {p} gives {oh}x{ow}"
        )
    return oh, ow


def _padding(a: Attrs) -> int:
    """Default padding keeps the size at stride 1: (dilation * (kernel - 1)) // 2."""
    p = a.get("padding")
    return a.get("dilation", 1) * (a["kernel"] - 1) // 2 if p is None else p


# --- the kinds ----------------------------------------------------------------------------------------------------


def conv_class(c_in: int, c_out: int, kernel: int, groups: int) -> str:
    """Operator class of a convolution, as the cost breakdowns and the profiler use it."""
    if groups == c_in and groups > 1 and c_out % c_in == 0:
        return "depthwise conv"
    if kernel == 1:
        return "ungrouped 1x1 conv" if groups == 1 else "grouped 1x1 conv"
    return "standard conv" if groups == 1 else "grouped conv"


def _conv2d(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c, h, w = _image(ins, "conv2d")
    out, k, s, g, d = a["out"], a["kernel"], a["stride"], a["groups"], a["dilation"]
    if c % g:
        raise LayerError(f"input channels {c} are not divisible by groups={g}", "groups")
    if out % g:
        raise LayerError(f"{out} is not divisible by groups={g}", "out")
    p = _padding(a)
    oh, ow = _out_hw(h, w, k, s, p, d)
    weights = out * (c // g) * k * k
    macs = weights * oh * ow
    return Eval((out, oh, ow), weights + (out if a["bias"] else 0), macs, 0, conv_class(c, out, k, g))


def _conv2d_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.Conv2d(
        ins[0][0], a["out"], a["kernel"], a["stride"], _padding(a), a["dilation"], a["groups"], bias=a["bias"]
    )


def _batchnorm(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    shape = ins[0]
    n = prod(shape)
    return Eval(shape, 2 * shape[0] if a["affine"] else 0, 0, (2 if a["affine"] else 1) * n, "batchnorm")


def _batchnorm_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    cls = t.nn.BatchNorm2d if len(ins[0]) == 3 else t.nn.BatchNorm1d
    return cls(ins[0][0], eps=a["eps"], affine=a["affine"])


def _elementwise(op_class: str) -> Callable[[Attrs, tuple[Shape, ...]], Eval]:
    return lambda a, ins: Eval(ins[0], op_class=op_class)


def _module(name: str, **fixed: Any) -> Callable[[Attrs, tuple[Shape, ...], Any], Any]:
    def make(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
        return getattr(t.nn, name)(**fixed)

    return make


def _pool(kind: str) -> Callable[[Attrs, tuple[Shape, ...]], Eval]:
    def rule(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
        c, h, w = _image(ins, kind)
        k, p = a["kernel"], a["padding"]
        s = a["stride"] if a["stride"] is not None else k
        if 2 * p > k:
            raise LayerError(f"padding {p} must be at most half the kernel size {k}", "padding")
        oh, ow = _out_hw(h, w, k, s, p, 1, a["ceil_mode"])
        return Eval((c, oh, ow), op_class="pooling")

    return rule


def _pool_torch(name: str) -> Callable[[Attrs, tuple[Shape, ...], Any], Any]:
    def make(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
        s = a["stride"] if a["stride"] is not None else a["kernel"]
        return getattr(t.nn, name)(a["kernel"], s, a["padding"], ceil_mode=a["ceil_mode"])

    return make


def _global_avgpool(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c, h, w = _image(ins, "global_avgpool")
    return Eval((c, 1, 1), fvcore_extra=c * h * w, op_class="pooling")


def _flatten(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    return Eval((prod(ins[0]),))


def _linear(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    if len(ins[0]) != 1:
        raise LayerError(f"linear needs a flat input, got {_fmt(ins[0])}: add a flatten layer before it")
    n_in, out = ins[0][0], a["out"]
    return Eval((out,), n_in * out + (out if a["bias"] else 0), n_in * out, 0, "linear")


def _linear_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.Linear(ins[0][0], a["out"], bias=a["bias"])


def _channel_shuffle(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c = _image(ins, "channel_shuffle")[0]
    if c % a["groups"]:
        raise LayerError(f"{c} channels are not divisible by groups={a['groups']}", "groups")
    return Eval(ins[0], op_class="channel shuffle")


def _channel_shuffle_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.ChannelShuffle(a["groups"])


def _add(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    if any(s != ins[0] for s in ins[1:]):
        raise LayerError("add needs inputs of one shape, got " + ", ".join(_fmt(s) for s in ins))
    return Eval(ins[0], op_class="elementwise")


def _concat(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    for s in ins:
        _image((s,), "concat")
    if any(s[1:] != ins[0][1:] for s in ins[1:]):
        raise LayerError("concat needs inputs of one spatial size, got " + ", ".join(_fmt(s) for s in ins))
    return Eval((sum(s[0] for s in ins), *ins[0][1:]), op_class="other")


def _mul(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    """Elementwise product with PyTorch broadcasting: each axis equal, or 1 in all inputs but one (SE's scale)."""
    if any(len(s) != len(ins[0]) for s in ins[1:]):
        raise LayerError("mul needs inputs of one rank, got " + ", ".join(_fmt(s) for s in ins))
    out = []
    for sizes in zip(*ins, strict=False):
        size = max(sizes)
        if any(n not in (1, size) for n in sizes):
            shown = ", ".join(_fmt(s) for s in ins)
            raise LayerError(f"mul needs inputs that broadcast (each axis equal, or 1), got {shown}")
        out.append(size)
    return Eval(tuple(out), op_class="elementwise")


def _mean(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c = _image(ins, "mean")[0]
    return Eval((c,), op_class="pooling")


def _split(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c, h, w = _image(ins, "split")
    parts, index = a["parts"], a["index"]
    if c % parts:
        raise LayerError(f"{c} channels are not divisible into parts={parts}", "parts")
    if index >= parts:
        raise LayerError(f"index {index} is out of range for parts={parts} (0 to {parts - 1})", "index")
    return Eval((c // parts, h, w), op_class="other")


def _split_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.Split(a["parts"], a["index"])


def _dropout_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.Dropout(a["p"])


def _torch_local(name: str) -> Callable[[Attrs, tuple[Shape, ...], Any], Any]:
    def make(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
        return getattr(t, name)()

    return make


_POS = 1
_POOL_ARGS = {
    "kernel": Arg(int, required=True, minimum=1, maximum=MAX_WINDOW),
    "stride": Arg(int, None, minimum=1, help="defaults to the kernel size, as in PyTorch", maximum=MAX_WINDOW),
    "padding": Arg(int, 0, minimum=0, maximum=MAX_WINDOW),
    "ceil_mode": Arg(bool, False),
}

KINDS: dict[str, LayerKind] = {
    k.name: k
    for k in [
        LayerKind(
            "conv2d",
            {
                "out": Arg(int, required=True, minimum=_POS, help="output channels", maximum=MAX_CHANNELS),
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
            "batchnorm",
            {"affine": Arg(bool, True), "eps": Arg(float, 1e-5, minimum=0, maximum=MAX_EPS)},
            _batchnorm,
            _batchnorm_torch,
            "counted",
            ("aten::batch_norm",),
            doc="batch normalization (eval mode)",
        ),
        LayerKind("relu", {}, _elementwise("elementwise"), _module("ReLU"), "ignored", ("aten::relu",)),
        LayerKind("relu6", {}, _elementwise("elementwise"), _module("ReLU6"), "unsupported", ("aten::hardtanh",)),
        LayerKind(
            "hardswish", {}, _elementwise("elementwise"), _module("Hardswish"), "unsupported", ("aten::hardswish",),
            doc="x * relu6(x + 3) / 6 (MobileNetV3)",
        ),
        LayerKind(
            "hardsigmoid", {}, _elementwise("elementwise"), _module("Hardsigmoid"), "unsupported",
            ("aten::hardsigmoid",), doc="relu6(x + 3) / 6 (MobileNetV3's squeeze-and-excitation gate)",
        ),
        LayerKind("sigmoid", {}, _elementwise("elementwise"), _module("Sigmoid"), "unsupported", ("aten::sigmoid",)),
        LayerKind(
            "dropout",
            {"p": Arg(float, 0.5, minimum=0, maximum=1.0,
                       help="drop probability (training only; the identity in eval mode)")},
            _elementwise("other"),
            _dropout_torch,
            "ignored",
            ("aten::dropout",),
            view=True,
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
            "global_avgpool", {}, _global_avgpool, _module("AdaptiveAvgPool2d", output_size=1), "counted",
            ("aten::adaptive_avg_pool2d",),
        ),
        LayerKind(
            "mean", {}, _mean, _torch_local("Mean"), "unsupported", ("aten::mean",),
            doc="x.mean([2, 3]): the spatial mean as a flat vector (ShuffleNetV2's global pool)",
        ),
        LayerKind("flatten", {}, _flatten, _module("Flatten"), "ignored", ("aten::flatten",), view=True),
        LayerKind(
            "linear",
            {"out": Arg(int, required=True, minimum=_POS, maximum=MAX_CHANNELS), "bias": Arg(bool, True)},
            _linear,
            _linear_torch,
            "counted",
            ("aten::linear",),
            counts_activations=True,
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
        LayerKind("add", {}, _add, _torch_local("Add"), "unsupported", ("aten::add",), inputs=0),
        LayerKind("concat", {}, _concat, _torch_local("Concat"), "ignored", ("aten::cat",), inputs=0),
        LayerKind(
            "mul", {}, _mul, _torch_local("Mul"), "unsupported", ("aten::mul",), inputs=0,
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
}
