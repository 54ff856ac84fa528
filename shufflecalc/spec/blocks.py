"""Composite units: built-in block types that expand into primitive layers.

Each block kind declares its arguments and an `expand` function: given the evaluated arguments and the input shape
(C, H, W) it returns the primitive layers (`Prim`) with local names; the graph prefixes them with the block's name
(``stage3.unit0`` + ``gconv1``). A block's cost is, by construction, the sum of its layers' costs; the closed-form
formulas of the ShuffleNet paper live apart, in `formulas.py`, and are checked against these sums.

Unit names follow the ShuffleNet paper, Figure 2: (a) ``bottleneck`` with a 3x3 depthwise conv, (b) the stride-1
``shufflenet_unit``, (c) its stride-2 form (the same kind with stride 2). The other units reproduce torchvision's
building blocks layer for layer, in the order torchvision registers their modules: ``inverted_residual``
(MobileNetV2/V3), ``squeeze_excitation``, ``shufflenet_v2_unit`` and ``resnet_bottleneck`` (ResNet-50, ResNeXt).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shufflecalc.spec.expr import make_divisible
from shufflecalc.spec.layers import MAX_CHANNELS, MAX_EPS, MAX_RATIO, MAX_WINDOW, Arg, LayerError, Shape

IN = ""  # the block's input, as a Prim input reference


@dataclass(frozen=True)
class Prim:
    """One primitive layer of an expanded block. `inputs` are local names, or IN for the block's input."""

    name: str
    op: str
    attrs: Mapping[str, Any]
    inputs: tuple[str, ...] = ()  # empty: the previous prim's output (the block input for the first)


@dataclass(frozen=True)
class BlockKind:
    name: str
    args: dict[str, Arg]
    expand: Callable[[Mapping[str, Any], Shape], list[Prim]]
    doc: str


ACTS = ("relu", "relu6", "hardswish", "none")
SCALE_ACTS = ("hardsigmoid", "sigmoid")


def _act(name: str, act: str) -> list[Prim]:
    return [] if act == "none" else [Prim(name, act, {})]


def _conv_bn_act(a: Mapping[str, Any], shape: Shape) -> list[Prim]:
    conv = {"out": a["out"], "kernel": a["kernel"], "stride": a["stride"], "groups": a["groups"]}
    if a["padding"] is not None:
        conv["padding"] = a["padding"]
    return [Prim("conv", "conv2d", conv), Prim("bn", "batchnorm", {"eps": a["eps"]}), *_act(a["act"], a["act"])]


def _dwsep(a: Mapping[str, Any], shape: Shape) -> list[Prim]:
    c = shape[0]
    return [
        Prim("dw", "conv2d", {"out": c, "kernel": a["kernel"], "stride": a["stride"], "groups": c}),
        Prim("dw_bn", "batchnorm", {}),
        *_act(f"dw_{a['act']}", a["act"]),
        Prim("pw", "conv2d", {"out": a["out"], "kernel": 1}),
        Prim("pw_bn", "batchnorm", {}),
        *_act(f"pw_{a['act']}", a["act"]),
    ]


def _residual_unit(names: tuple[str, str, str]) -> Callable[[Mapping[str, Any], Shape], list[Prim]]:
    """Units (a), (b), (c): 1x1 conv, BN, ReLU, [shuffle], KxK depthwise conv, BN, 1x1 conv, BN, merge, ReLU.

    Stride 1: the branch keeps the channel count and is added to the input. Stride 2: the branch produces
    out - in channels and is concatenated with a 3x3 stride-2 average pool of the input.
    """
    conv1, dwconv, conv2 = names

    def expand(a: Mapping[str, Any], shape: Shape) -> list[Prim]:
        c_in, out, stride = shape[0], a["out"], a["stride"]
        groups = a.get("groups", 1)
        groups1 = groups if a.get("pw1_grouped", True) else 1
        mid = int(round(out * a["bottleneck"], 9))
        if mid < 1:
            raise LayerError(f"bottleneck {a['bottleneck']} of {out} channels leaves no channels", "bottleneck")
        if stride == 1:
            if c_in != out:
                raise LayerError(
                    f"a stride-1 unit adds its input back, so out must equal the input channels ({c_in}), got {out}",
                    "out",
                )
            branch_out = out
        else:
            if out <= c_in:
                raise LayerError(
                    f"a stride-{stride} unit concatenates its input, so out must exceed the input channels "
                    f"({c_in}), got {out}",
                    "out",
                )
            branch_out = out - c_in
        for value, what in ((mid, "bottleneck channels"), (branch_out, "branch output channels")):
            if value % groups:
                raise LayerError(
                    f"{what} {value} (out={out}, input {c_in}) are not divisible by groups={groups}", "out"
                )
        if c_in % groups1:
            raise LayerError(f"input channels {c_in} are not divisible by groups={groups1}", "groups")
        prims = [
            Prim(conv1, "conv2d", {"out": mid, "kernel": 1, "groups": groups1}, (IN,)),
            Prim("bn1", "batchnorm", {}),
            Prim("relu1", "relu", {}),
        ]
        if a.get("shuffle", False) and groups > 1:
            prims.append(Prim("shuffle", "channel_shuffle", {"groups": groups}))
        prims += [
            Prim(dwconv, "conv2d", {"out": mid, "kernel": a["kernel"], "stride": stride, "groups": mid}),
            Prim("bn2", "batchnorm", {}),
            Prim(conv2, "conv2d", {"out": branch_out, "kernel": 1, "groups": groups}),
            Prim("bn3", "batchnorm", {}),
        ]
        if stride == 1:
            prims.append(Prim("add", "add", {}, ("bn3", IN)))
        else:
            prims += [
                Prim("shortcut", "avgpool", {"kernel": 3, "stride": stride, "padding": 1}, (IN,)),
                Prim("concat", "concat", {}, ("shortcut", "bn3")),
            ]
        return [*prims, Prim("relu", "relu", {})]

    return expand


def _se(prefix: str, source: str, channels: int, squeeze: int, act: str, scale_act: str) -> list[Prim]:
    """torchvision's SqueezeExcitation on `source`: adaptive avg-pool to 1x1, fc1 (1x1 conv with bias, `squeeze`
    channels), activation, fc2 (1x1 conv with bias, back to `channels`), scale activation, product with `source`."""
    return [
        Prim(prefix + "pool", "global_avgpool", {}, (source,)),
        Prim(prefix + "fc1", "conv2d", {"out": squeeze, "kernel": 1, "bias": True}),
        *_act(prefix + act, act),
        Prim(prefix + "fc2", "conv2d", {"out": channels, "kernel": 1, "bias": True}),
        Prim(prefix + scale_act, scale_act, {}),
        Prim(prefix + "mul", "mul", {}, (prefix + scale_act, source)),
    ]


def _squeeze_excitation(a: Mapping[str, Any], shape: Shape) -> list[Prim]:
    return _se("", IN, shape[0], a["squeeze"], a["act"], a["scale_act"])


def _inverted_residual(a: Mapping[str, Any], shape: Shape) -> list[Prim]:
    """MobileNetV2's inverted residual (and MobileNetV3's, with `se` and `act`), as torchvision builds it.

    Hidden channels: `hidden` if given (MobileNetV3 lists them; the expansion conv is left out when hidden equals the
    input channels), else int(round(in * expand)) (MobileNetV2; left out when expand is 1). The residual add is
    present only at stride 1 with out equal to the input channels.
    """
    c_in, out, stride, act = shape[0], a["out"], a["stride"], a["act"]
    if a["hidden"] is not None:
        hidden, expand = a["hidden"], a["hidden"] != c_in
    else:
        hidden, expand = round(c_in * a["expand"]), a["expand"] != 1
    if hidden < 1:
        raise LayerError(f"expand {a['expand']} of {c_in} input channels leaves no hidden channels", "expand")
    bn = {"eps": a["eps"]}
    prims = []
    if expand:
        prims += [Prim("expand", "conv2d", {"out": hidden, "kernel": 1}), Prim("expand_bn", "batchnorm", bn)]
        prims += _act(f"expand_{act}", act)
    prims += [
        Prim("dw", "conv2d", {"out": hidden, "kernel": a["kernel"], "stride": stride, "groups": hidden}),
        Prim("dw_bn", "batchnorm", bn),
        *_act(f"dw_{act}", act),
    ]
    if a["se"]:
        squeeze = a["se_channels"] if a["se_channels"] is not None else make_divisible(hidden // 4, 8)
        prims += _se("se_", prims[-1].name, hidden, squeeze, "relu", a["se_scale"])
    prims += [Prim("project", "conv2d", {"out": out, "kernel": 1}), Prim("project_bn", "batchnorm", bn)]
    if stride == 1 and c_in == out:
        prims.append(Prim("add", "add", {}, ("project_bn", IN)))
    return prims


def _shufflenet_v2_unit(a: Mapping[str, Any], shape: Shape) -> list[Prim]:
    """ShuffleNetV2's unit, as torchvision builds it; each branch produces out / 2 channels.

    Stride 1: the input is split into two channel halves; the second goes through branch 2 (1x1 conv, BN, ReLU, KxK
    depthwise conv, BN, 1x1 conv, BN, ReLU) and is concatenated after the first. Stride > 1: branch 1 (KxK depthwise
    conv with the stride, BN, 1x1 conv, BN, ReLU) and branch 2 both read the whole input. Then a channel shuffle with
    2 groups.
    """
    c_in, out, stride, k = shape[0], a["out"], a["stride"], a["kernel"]
    if out % 2:
        raise LayerError(f"the two branches produce out / 2 channels each, so out must be even, got {out}", "out")
    half = out // 2
    if stride == 1:
        if c_in != out:
            raise LayerError(
                f"a stride-1 unit splits its input in two halves, so out must equal the input channels ({c_in}), "
                f"got {out}",
                "out",
            )
        prims = [Prim("split0", "split", {"parts": 2, "index": 0}, (IN,)),
                 Prim("split1", "split", {"parts": 2, "index": 1}, (IN,))]
        left, right_in = "split0", "split1"
    else:
        prims = [
            Prim("branch1_dw", "conv2d", {"out": c_in, "kernel": k, "stride": stride, "groups": c_in}, (IN,)),
            Prim("branch1_bn1", "batchnorm", {}),
            Prim("branch1_pw", "conv2d", {"out": half, "kernel": 1}),
            Prim("branch1_bn2", "batchnorm", {}),
            Prim("branch1_relu", "relu", {}),
        ]
        left, right_in = "branch1_relu", IN
    prims += [
        Prim("branch2_pw1", "conv2d", {"out": half, "kernel": 1}, (right_in,)),
        Prim("branch2_bn1", "batchnorm", {}),
        Prim("branch2_relu1", "relu", {}),
        Prim("branch2_dw", "conv2d", {"out": half, "kernel": k, "stride": stride, "groups": half}),
        Prim("branch2_bn2", "batchnorm", {}),
        Prim("branch2_pw2", "conv2d", {"out": half, "kernel": 1}),
        Prim("branch2_bn3", "batchnorm", {}),
        Prim("branch2_relu2", "relu", {}),
        Prim("concat", "concat", {}, (left, "branch2_relu2")),
        Prim("shuffle", "channel_shuffle", {"groups": 2}),
    ]
    return prims


def _resnet_bottleneck(a: Mapping[str, Any], shape: Shape) -> list[Prim]:
    """torchvision's ResNet Bottleneck (v1.5: the stride is on the 3x3 conv), with ResNeXt's groups.

    Width of the 3x3 conv: int(planes * width_per_group / 64) * groups; output planes * expansion channels. The
    shortcut is a projection (1x1 conv with the stride, BN) when the stride is not 1 or the channels change, else the
    identity.
    """
    c_in, stride, groups = shape[0], a["stride"], a["groups"]
    width = int(a["planes"] * (a["width_per_group"] / 64.0)) * groups
    out = a["planes"] * a["expansion"]
    if width < 1:
        raise LayerError(f"planes {a['planes']} with width_per_group {a['width_per_group']} leave no channels",
                         "width_per_group")
    prims = [
        Prim("conv1", "conv2d", {"out": width, "kernel": 1}),
        Prim("bn1", "batchnorm", {}),
        Prim("relu1", "relu", {}),
        Prim("conv2", "conv2d", {"out": width, "kernel": 3, "stride": stride, "groups": groups}),
        Prim("bn2", "batchnorm", {}),
        Prim("relu2", "relu", {}),
        Prim("conv3", "conv2d", {"out": out, "kernel": 1}),
        Prim("bn3", "batchnorm", {}),
    ]
    shortcut = IN
    if stride != 1 or c_in != out:
        prims += [Prim("downsample", "conv2d", {"out": out, "kernel": 1, "stride": stride}, (IN,)),
                  Prim("downsample_bn", "batchnorm", {})]
        shortcut = "downsample_bn"
    return [*prims, Prim("add", "add", {}, ("bn3", shortcut)), Prim("relu", "relu", {})]


_OUT = Arg(int, required=True, minimum=1, help="output channels", maximum=MAX_CHANNELS)
_STRIDE = Arg(int, 1, minimum=1, maximum=MAX_WINDOW)
_KERNEL = Arg(int, 3, minimum=1, help="depthwise kernel size", maximum=MAX_WINDOW)
_EPS = Arg(float, 1e-5, minimum=0, help="batchnorm epsilon", maximum=MAX_EPS)
_UNIT_ARGS = {
    "out": _OUT,
    "stride": _STRIDE,
    "kernel": _KERNEL,
    "bottleneck": Arg(float, 0.25, minimum=0, help="bottleneck channels as a fraction of out", maximum=MAX_RATIO),
}

BLOCKS: dict[str, BlockKind] = {
    b.name: b
    for b in [
        BlockKind(
            "conv_bn_act",
            {
                "out": _OUT,
                "kernel": Arg(int, 3, minimum=1, maximum=MAX_WINDOW),
                "stride": _STRIDE,
                "padding": Arg(int, None, minimum=0, maximum=MAX_WINDOW),
                "groups": Arg(int, 1, minimum=1, maximum=MAX_CHANNELS),
                "act": Arg(str, "relu", choices=ACTS),
                "eps": _EPS,
            },
            _conv_bn_act,
            "conv2d, batchnorm, activation",
        ),
        BlockKind(
            "dwsep",
            {"out": _OUT, "stride": _STRIDE, "kernel": Arg(int, 3, minimum=1, maximum=MAX_WINDOW),
             "act": Arg(str, "relu", choices=ACTS)},
            _dwsep,
            "MobileNet's depthwise-separable block: KxK depthwise conv, BN, ReLU, 1x1 conv, BN, ReLU",
        ),
        BlockKind(
            "bottleneck",
            dict(_UNIT_ARGS),
            _residual_unit(("conv1", "dwconv", "conv2")),
            "unit (a): 1x1 conv, BN, ReLU, 3x3 depthwise conv, BN, 1x1 conv, BN, add (or avg-pool shortcut and concat "
            "at stride 2), ReLU",
        ),
        BlockKind(
            "shufflenet_unit",
            {
                **_UNIT_ARGS,
                "groups": Arg(int, 1, minimum=1, help="groups of both pointwise convolutions", maximum=MAX_CHANNELS),
                "shuffle": Arg(bool, True, help="channel shuffle after the first pointwise conv"),
                "pw1_grouped": Arg(bool, True, help="false: the first pointwise conv is not grouped"),
            },
            _residual_unit(("gconv1", "dwconv", "gconv2")),
            "units (b) and (c): 1x1 GConv, BN, ReLU, channel shuffle, 3x3 DWConv, BN, 1x1 GConv, BN, add (stride 1) "
            "or 3x3 stride-2 avg-pool shortcut and concat (stride 2), ReLU",
        ),
        BlockKind(
            "squeeze_excitation",
            {
                "squeeze": Arg(int, required=True, minimum=1, help="channels of the squeeze (fc1) layer",
                               maximum=MAX_CHANNELS),
                "act": Arg(str, "relu", choices=ACTS),
                "scale_act": Arg(str, "sigmoid", choices=SCALE_ACTS),
            },
            _squeeze_excitation,
            "torchvision's SqueezeExcitation: adaptive avg-pool, 1x1 conv, activation, 1x1 conv, scale activation, "
            "product with the input",
        ),
        BlockKind(
            "inverted_residual",
            {
                "out": _OUT,
                "stride": _STRIDE,
                "kernel": _KERNEL,
                "expand": Arg(float, 6.0, minimum=0, help="expansion ratio t: hidden = int(round(in * t))",
                              maximum=MAX_RATIO),
                "hidden": Arg(int, None, minimum=1, help="hidden (expanded) channels; replaces expand",
                              maximum=MAX_CHANNELS),
                "act": Arg(str, "relu6", choices=ACTS),
                "se": Arg(bool, False, help="squeeze-and-excitation after the depthwise conv"),
                "se_channels": Arg(int, None, minimum=1, help="default make_divisible(hidden // 4, 8)",
                                   maximum=MAX_CHANNELS),
                "se_scale": Arg(str, "hardsigmoid", choices=SCALE_ACTS),
                "eps": _EPS,
            },
            _inverted_residual,
            "MobileNetV2/V3: 1x1 expansion conv, BN, act, KxK depthwise conv, BN, act, [SE], 1x1 projection, BN, "
            "[add]",
        ),
        BlockKind(
            "shufflenet_v2_unit",
            {"out": _OUT, "stride": _STRIDE, "kernel": _KERNEL},
            _shufflenet_v2_unit,
            "ShuffleNetV2: channel split (stride 1) or two branches (stride 2), concat, channel shuffle (2 groups)",
        ),
        BlockKind(
            "resnet_bottleneck",
            {
                "planes": Arg(int, required=True, minimum=1, help="output channels / expansion", maximum=MAX_CHANNELS),
                "stride": _STRIDE,
                "groups": Arg(int, 1, minimum=1, help="groups of the 3x3 conv (ResNeXt's cardinality)",
                              maximum=MAX_CHANNELS),
                "width_per_group": Arg(int, 64, minimum=1, maximum=int(MAX_RATIO) * 64),
                "expansion": Arg(int, 4, minimum=1, maximum=int(MAX_RATIO)),
            },
            _resnet_bottleneck,
            "ResNet-50's bottleneck: 1x1 conv, BN, ReLU, 3x3 conv (grouped for ResNeXt), BN, ReLU, 1x1 conv, BN, add "
            "(projection shortcut when the shape changes), ReLU",
        ),
    ]
}
