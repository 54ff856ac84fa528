"""Pointwise kinds: normalization, activations and dropout (the output has the input's shape)."""

from __future__ import annotations

from math import prod
from typing import Any

from shufflecalc.spec.layers.base import MAX_EPS, Arg, Attrs, Eval, LayerKind, Shape, elementwise, nn_module


def _batchnorm(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    shape = ins[0]
    n = prod(shape)
    return Eval(shape, 2 * shape[0] if a["affine"] else 0, 0, (2 if a["affine"] else 1) * n, "batchnorm")


def _batchnorm_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    cls = t.nn.BatchNorm2d if len(ins[0]) == 3 else t.nn.BatchNorm1d
    return cls(ins[0][0], eps=a["eps"], affine=a["affine"])


def _dropout_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.nn.Dropout(a["p"])


KINDS: list[LayerKind] = [
    LayerKind(
        "batchnorm",
        {"affine": Arg(bool, True), "eps": Arg(float, 1e-5, minimum=0, maximum=MAX_EPS)},
        _batchnorm,
        _batchnorm_torch,
        "counted",
        ("aten::batch_norm",),
        doc="batch normalization (eval mode)",
    ),
    LayerKind("relu", {}, elementwise("elementwise"), nn_module("ReLU"), "ignored", ("aten::relu",)),
    LayerKind("relu6", {}, elementwise("elementwise"), nn_module("ReLU6"), "unsupported", ("aten::hardtanh",)),
    LayerKind(
        "hardswish", {}, elementwise("elementwise"), nn_module("Hardswish"), "unsupported", ("aten::hardswish",),
        doc="x * relu6(x + 3) / 6 (MobileNetV3)",
    ),
    LayerKind(
        "hardsigmoid", {}, elementwise("elementwise"), nn_module("Hardsigmoid"), "unsupported",
        ("aten::hardsigmoid",), doc="relu6(x + 3) / 6 (MobileNetV3's squeeze-and-excitation gate)",
    ),
    LayerKind("sigmoid", {}, elementwise("elementwise"), nn_module("Sigmoid"), "unsupported", ("aten::sigmoid",)),
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
]
