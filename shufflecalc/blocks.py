"""Composite units: built-in block types that expand into primitive layers.

Each block kind declares its arguments and an `expand` function: given the evaluated arguments and the input shape
(C, H, W) it returns the primitive layers (`Prim`) with local names; the graph prefixes them with the block's name
(``stage3.unit0`` + ``gconv1``). A block's cost is, by construction, the sum of its layers' costs; the closed-form
formulas of the ShuffleNet paper live apart, in `formulas.py`, and are checked against these sums.

Unit names follow the ShuffleNet paper, Figure 2: (a) ``bottleneck`` with a 3x3 depthwise conv, (b) the stride-1
``shufflenet_unit``, (c) its stride-2 form (the same kind with stride 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .ops import Arg, LayerError, Shape

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


ACTS = ("relu", "relu6", "none")


def _act(name: str, act: str) -> list[Prim]:
    return [] if act == "none" else [Prim(name, act, {})]


def _conv_bn_act(a: Mapping[str, Any], shape: Shape) -> list[Prim]:
    conv = {"out": a["out"], "kernel": a["kernel"], "stride": a["stride"], "groups": a["groups"]}
    if a["padding"] is not None:
        conv["padding"] = a["padding"]
    return [Prim("conv", "conv2d", conv), Prim("bn", "batchnorm", {})] + _act(a["act"], a["act"])


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
                raise LayerError(f"{what} {value} (out={out}, input {c_in}) are not divisible by groups={groups}", "out")
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
        return prims + [Prim("relu", "relu", {})]

    return expand


_OUT = Arg(int, required=True, minimum=1, help="output channels")
_STRIDE = Arg(int, 1, minimum=1)
_UNIT_ARGS = {
    "out": _OUT,
    "stride": _STRIDE,
    "kernel": Arg(int, 3, minimum=1, help="depthwise kernel size"),
    "bottleneck": Arg(float, 0.25, minimum=0, help="bottleneck channels as a fraction of out"),
}

BLOCKS: dict[str, BlockKind] = {
    b.name: b
    for b in [
        BlockKind(
            "conv_bn_act",
            {
                "out": _OUT,
                "kernel": Arg(int, 3, minimum=1),
                "stride": _STRIDE,
                "padding": Arg(int, None, minimum=0),
                "groups": Arg(int, 1, minimum=1),
                "act": Arg(str, "relu", choices=ACTS),
            },
            _conv_bn_act,
            "conv2d, batchnorm, activation",
        ),
        BlockKind(
            "dwsep",
            {"out": _OUT, "stride": _STRIDE, "kernel": Arg(int, 3, minimum=1), "act": Arg(str, "relu", choices=ACTS)},
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
                "groups": Arg(int, 1, minimum=1, help="groups of both pointwise convolutions"),
                "shuffle": Arg(bool, True, help="channel shuffle after the first pointwise conv"),
                "pw1_grouped": Arg(bool, True, help="false: the first pointwise conv is not grouped"),
            },
            _residual_unit(("gconv1", "dwconv", "gconv2")),
            "units (b) and (c): 1x1 GConv, BN, ReLU, channel shuffle, 3x3 DWConv, BN, 1x1 GConv, BN, add (stride 1) "
            "or 3x3 stride-2 avg-pool shortcut and concat (stride 2), ReLU",
        ),
    ]
}
