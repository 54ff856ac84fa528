"""The spatial kinds of issue 14: [h, w] windows, `same` / `valid` padding, conv_transpose2d, adaptive pooling,
upsample, and pairs in the spec language (YAML, expressions, declared `pair` / `padding` parameters and block
arguments).

Every number here comes from outside the engine: hand arithmetic written out beside each case (PyTorch's size rules
per axis; MACs out * in / groups * kh * kw * H' * W' for conv2d, in * out / groups * kh * kw * H * W for
conv_transpose2d), the torch modules' own output shapes, parameters and outputs, and fvcore 0.1.5 and FlopCounterMode
run on torch modules built here by hand: ``aten::_convolution`` counted as prod(weight shape) x the output's spatial
size (the input's when transposed), ``aten::adaptive_avg_pool2d`` 1 per input element whatever the output size,
``aten::upsample_nearest2d`` 1 and ``aten::upsample_bilinear2d`` 4 per output element, ``aten::adaptive_max_pool2d``,
``aten::max_pool2d`` and ``aten::avg_pool2d`` unsupported, and ``nn.Conv2d(padding='same')`` traced as
``aten::_convolution_mode``, which fvcore does not support.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from typing import Any

import pytest

from shufflecalc.analysis.cost import analyze, config_text, labels
from shufflecalc.errors import ShufflecalcError
from shufflecalc.spec.graph import expand
from shufflecalc.spec.layers import KINDS, MAX_SPATIAL, MAX_WINDOW, LayerError, conv_class
from shufflecalc.spec.load import format_value, load_spec
from shufflecalc.spec.templates import Numbers, evaluate

from ..conftest import rejected


def _numbers(op: str, shape: tuple[int, ...], **attrs: Any) -> tuple[dict[str, Any], Numbers]:
    full, numbers = evaluate(op, tuple(sorted(attrs.items())), (shape,))
    return dict(full), numbers


# --- hand-computed shapes, parameters, MACs, fvcore counts, memory access ------------------------------------------


def test_conv2d_with_a_1x7_kernel() -> None:
    # 4 -> 6 channels, kernel 1x7 with padding [0, 3] on 9x11: the size is kept (9 + 0 - 0 - 1 + 1, 11 + 6 - 6 - 1 + 1)
    full, n = _numbers("conv2d", (4, 9, 11), out=6, kernel=(1, 7), padding=(0, 3), bias=True)
    assert n.out == (6, 9, 11)
    assert n.params == 6 * 4 * 1 * 7 + 6 == 174
    assert n.macs == n.fvcore_flops == 6 * 4 * 1 * 7 * 9 * 11 == 16_632
    assert n.activations == 6 * 9 * 11 == 594
    assert n.memory_access == 4 * 99 + 594 + 174 == 1_164
    assert n.op_class == "standard conv"
    assert full["kernel"] == (1, 7) and full["padding"] == (0, 3)


def test_conv2d_default_padding_is_per_axis() -> None:
    # kernel [3, 5], dilation [2, 1]: padding (2 * 2 // 2, 1 * 4 // 2) = (2, 2): H 9 + 4 - 4 - 1 + 1 = 9,
    # W 11 + 4 - 4 - 1 + 1 = 11
    _, n = _numbers("conv2d", (4, 9, 11), out=6, kernel=(3, 5), dilation=(2, 1))
    assert n.out == (6, 9, 11) and n.params == 6 * 4 * 15 == 360 and n.macs == 360 * 99 == 35_640


def test_conv2d_same_and_valid() -> None:
    # same keeps 9x11 whatever the kernel (stride 1): 6 * 4 * (2 * 4) * 99
    _, n = _numbers("conv2d", (4, 9, 11), out=6, kernel=(2, 4), dilation=(1, 2), padding="same")
    assert n.out == (6, 9, 11) and n.macs == 6 * 4 * 8 * 99 == 19_008
    # valid: no padding; kernel [3, 2] stride [2, 1]: H (9 - 3) // 2 + 1 = 4, W (11 - 2) // 1 + 1 = 10
    _, n = _numbers("conv2d", (4, 9, 11), out=6, kernel=(3, 2), stride=(2, 1), padding="valid")
    assert n.out == (6, 4, 10) and n.macs == 6 * 4 * 6 * 40 == 5_760


def test_an_int_stays_an_int_and_a_pair_a_tuple() -> None:
    full, _ = _numbers("conv2d", (4, 8, 8), out=4, kernel=3)
    assert full["kernel"] == 3 and type(full["kernel"]) is int and full["padding"] is None
    full, _ = _numbers("conv2d", (4, 8, 8), out=4, kernel=(3, 3))
    assert full["kernel"] == (3, 3)
    hash(tuple(full.items()))  # attrs are cached: every value hashable


@pytest.mark.parametrize("kernel, groups, expected", [
    ((1, 1), 1, "ungrouped 1x1 conv"), ((1, 1), 2, "grouped 1x1 conv"), (1, 2, "grouped 1x1 conv"),
    ((1, 3), 1, "standard conv"), ((3, 1), 2, "grouped conv"), ((1, 7), 4, "depthwise conv"),
])
def test_conv_class_reads_pairs(kernel: Any, groups: int, expected: str) -> None:
    assert conv_class(4, 8, kernel, groups) == expected


def test_conv_transpose2d() -> None:
    # in 8, out 6, groups 2; kernel [3, 2], stride [2, 3], padding [1, 0], output_padding [1, 2], dilation [1, 2]
    # H' = (5 - 1) * 2 - 2 * 1 + 1 * (3 - 1) + 1 + 1 = 10; W' = (7 - 1) * 3 - 0 + 2 * (2 - 1) + 2 + 1 = 23
    # weight 8 x (6 / 2) x 3 x 2 = 144; MACs: every input element times the weights of its group, 144 * 5 * 7
    _, n = _numbers("conv_transpose2d", (8, 5, 7), out=6, kernel=(3, 2), stride=(2, 3), padding=(1, 0),
                    output_padding=(1, 2), dilation=(1, 2), groups=2)
    assert n.out == (6, 10, 23)
    assert n.params == 144 + 6 == 150  # bias: true by default, as in PyTorch
    assert n.macs == n.fvcore_flops == 144 * 35 == 5_040
    assert n.activations == 6 * 10 * 23 == 1_380
    assert n.memory_access == 8 * 35 + 1_380 + 150 == 1_810
    assert n.op_class == "transposed conv"


def test_pools_with_pairs() -> None:
    # maxpool kernel [3, 2], stride [1, 2], padding [1, 0], dilation [2, 1] on 9x11:
    # H (9 + 2 - 2 * 2 - 1) // 1 + 1 = 7, W (11 - 1 - 1) // 2 + 1 = 5
    _, n = _numbers("maxpool", (4, 9, 11), kernel=(3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1))
    assert n.out == (4, 7, 5) and (n.macs, n.fvcore_flops, n.params) == (0, 0, 0)
    assert n.memory_access == 4 * 99 + 4 * 35 == 536
    # ceil mode: W ceil(9 / 2) + 1 = 6 (the last window starts at 10, inside the 11 columns)
    _, n = _numbers("maxpool", (4, 9, 11), kernel=(3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1),
                    ceil_mode=True)
    assert n.out == (4, 7, 6)
    # avgpool same: kernel [3, 1] at stride 1 pads (1, 0) and keeps 9x11; valid: (9 - 3) // 3 + 1 = 3, 11 // 1
    assert _numbers("avgpool", (4, 9, 11), kernel=(3, 1), stride=1, padding="same")[1].out == (4, 9, 11)
    assert _numbers("avgpool", (4, 9, 11), kernel=(3, 1), padding="valid")[1].out == (4, 3, 11)


def test_adaptive_pools() -> None:
    # fvcore: 1 per input element of the average (8 * 7 * 9 = 504) whatever the output size; the maximum: 0
    _, n = _numbers("adaptive_avgpool", (8, 7, 9), output=(3, 5))
    assert n.out == (8, 3, 5) and n.fvcore_flops == 504 and n.macs == 0
    assert n.memory_access == 504 + 8 * 15 == 624
    _, n = _numbers("adaptive_maxpool", (8, 7, 9), output=2)
    assert n.out == (8, 2, 2) and n.fvcore_flops == 0
    assert _numbers("adaptive_avgpool", (8, 3, 3), output=(5, 7))[1].out == (8, 5, 7)  # larger than the input


def test_upsample() -> None:
    # nearest, scale [1.5, 2]: floor(5 * 1.5) = 7, floor(7 * 2) = 14; fvcore 1 per output element
    _, n = _numbers("upsample", (4, 5, 7), scale=(1.5, 2.0))
    assert n.out == (4, 7, 14) and n.fvcore_flops == 4 * 7 * 14 == 392 and n.macs == 0
    assert n.memory_access == 140 + 392 == 532
    # bilinear to 9x11: 4 per output element
    _, n = _numbers("upsample", (4, 5, 7), size=(9, 11), mode="bilinear", align_corners=True)
    assert n.out == (4, 9, 11) and n.fvcore_flops == 4 * 4 * 99 == 1_584
    # scale 1.7: floor(8.5) = 8, floor(11.9) = 11; 0.5 halves (floor(2.5) = 2)
    assert _numbers("upsample", (4, 5, 7), scale=1.7)[1].out == (4, 8, 11)
    assert _numbers("upsample", (4, 5, 7), scale=0.5)[1].out == (4, 2, 3)


@pytest.mark.parametrize("op, shape, attrs, message", [
    ("conv2d", (4, 8, 8), {"out": 4, "kernel": 3, "stride": 2, "padding": "same"}, "same needs stride 1"),
    ("conv2d", (4, 8, 8), {"out": 4, "kernel": 3, "stride": (1, 2), "padding": "same"}, "got stride 1x2"),
    ("conv2d", (4, 2, 9), {"out": 4, "kernel": (3, 1), "padding": "valid"}, "the spatial size reaches zero"),
    ("maxpool", (4, 8, 8), {"kernel": 3, "padding": "same"}, "the stride defaults to the kernel size"),
    ("maxpool", (4, 8, 8), {"kernel": 2, "stride": 1, "padding": "same"}, "needs an even dilation"),
    ("maxpool", (4, 8, 8), {"kernel": 3, "stride": 1, "dilation": 2, "padding": "same"},
     "padding 2 must be at most half the kernel size 3"),
    ("avgpool", (4, 8, 8), {"kernel": (3, 2), "padding": (1, 2)}, "padding 1x2 must be at most half the kernel"),
    ("conv_transpose2d", (4, 8, 8), {"out": 4, "kernel": 3, "stride": 2, "output_padding": 2},
     "output_padding 2 must be smaller than the stride 2 or the dilation 1"),
    ("conv_transpose2d", (4, 8, 8), {"out": 4, "kernel": 3, "stride": (2, 1), "output_padding": (0, 1)},
     "output_padding 0x1 must be smaller"),
    ("conv_transpose2d", (4, 8, 8), {"out": 4, "kernel": 1, "padding": 4}, "the spatial size reaches zero"),
    ("conv_transpose2d", (6, 8, 8), {"out": 4, "kernel": 1, "groups": 4}, "input channels 6 are not divisible"),
    ("upsample", (4, 8, 8), {}, "exactly one of scale and size"),
    ("upsample", (4, 8, 8), {"scale": 2.0, "size": 3}, "exactly one of scale and size"),
    ("upsample", (4, 8, 8), {"scale": 0.1}, "scale 0.1 gives 0x0"),
    ("upsample", (4, 8, 8), {"scale": 2.0, "align_corners": True}, "align_corners applies to mode bilinear only"),
    ("adaptive_avgpool", (8,), {"output": 2}, "needs a C x H x W input"),
])
def test_rule_errors(op: str, shape: tuple, attrs: dict, message: str) -> None:
    with pytest.raises(LayerError, match=message):
        _numbers(op, shape, **attrs)


# --- against torch: shapes, parameters, the module's outputs --------------------------------------------------------


@pytest.fixture(scope="module")
def torch() -> Any:
    torch = pytest.importorskip("torch")
    pytest.importorskip("fvcore")
    return torch


def _module(op: str, full: dict, shape: tuple) -> Any:
    from shufflecalc.bridge.modules import torch_module

    return torch_module(op, full, (shape,)).eval()


def _check_against_torch(torch: Any, op: str, shape: tuple, attrs: dict) -> None:
    full, n = _numbers(op, shape, **attrs)
    module = _module(op, full, shape)
    with torch.no_grad():
        y = module(torch.zeros(1, *shape))
    assert n.out == tuple(y.shape[1:]), (op, shape, attrs)
    assert n.params == sum(p.numel() for p in module.parameters()), (op, attrs)


PAIRS = [1, 2, 3, (1, 3), (3, 1), (2, 3)]


@pytest.mark.parametrize("kernel, stride, dilation, padding", [
    c for c in itertools.product([(1, 7), (3, 2), 2], [1, (2, 1), (1, 3)], [1, (2, 1)],
                                 [None, (0, 3), 1, "same", "valid"])
    if c[3] != "same" or c[1] == 1])
def test_conv2d_matches_torch(torch: Any, kernel: Any, stride: Any, dilation: Any, padding: Any) -> None:
    _check_against_torch(torch, "conv2d", (4, 9, 12), {"out": 6, "kernel": kernel, "stride": stride,
                                                      "dilation": dilation, "padding": padding, "groups": 2,
                                                      "bias": True})


@pytest.mark.parametrize("kernel, stride, padding, output_padding, dilation", [
    ((3, 2), (2, 3), (1, 0), (1, 2), (1, 2)), (2, 2, 0, 0, 1), (3, 2, 1, 1, 1), ((1, 4), (3, 1), (0, 1), (2, 0), 1),
    (3, 1, 0, (0, 1), (1, 2)), ((2, 2), (1, 1), (1, 1), 0, (3, 3)),
])
def test_conv_transpose2d_matches_torch(torch: Any, kernel: Any, stride: Any, padding: Any, output_padding: Any,
                                        dilation: Any) -> None:
    for groups, bias in ((1, True), (2, False)):
        _check_against_torch(torch, "conv_transpose2d", (4, 5, 6), {
            "out": 6, "kernel": kernel, "stride": stride, "padding": padding, "output_padding": output_padding,
            "dilation": dilation, "groups": groups, "bias": bias})


@pytest.mark.parametrize("op", ["maxpool", "avgpool"])
@pytest.mark.parametrize("kernel, stride, padding, ceil", [
    c for c in itertools.product([(3, 2), (2, 3), 3], [None, (1, 2), 2], [0, (1, 0), (1, 1), "valid"],
                                 [False, True])])
def test_pools_match_torch(torch: Any, op: str, kernel: Any, stride: Any, padding: Any, ceil: bool) -> None:
    kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    ph, pw = padding if isinstance(padding, tuple) else (0, 0) if padding == "valid" else (padding, padding)
    if 2 * ph > kh or 2 * pw > kw:
        return
    extra = {"dilation": (1, 2)} if op == "maxpool" else {"count_include_pad": False, "divisor_override": 3}
    _check_against_torch(torch, op, (4, 9, 10), {"kernel": kernel, "stride": stride, "padding": padding,
                                                 "ceil_mode": ceil, **extra})


@pytest.mark.parametrize("op", ["maxpool", "avgpool"])
@pytest.mark.parametrize("kernel", [3, (3, 1), (1, 5), (5, 3)])
def test_pool_same_keeps_the_size_in_torch(torch: Any, op: str, kernel: Any) -> None:
    _check_against_torch(torch, op, (4, 9, 10), {"kernel": kernel, "stride": 1, "padding": "same"})


@pytest.mark.parametrize("op", ["adaptive_avgpool", "adaptive_maxpool"])
@pytest.mark.parametrize("output", [1, 4, (3, 5), (7, 2), (11, 13)])
def test_adaptive_pools_match_torch(torch: Any, op: str, output: Any) -> None:
    _check_against_torch(torch, op, (3, 7, 9), {"output": output})


@pytest.mark.parametrize("scale", [0.3, 1 / 3, 0.5, 0.7, 1.1, 1.5, 1.7, 2.0, 2.1, 2.5, 3.3, (0.5, 2.9), (3.0, 1.01)])
@pytest.mark.parametrize("size", [(3, 7), (10, 29), (13, 10), (30, 21)])
def test_upsample_scale_sizes_match_torch(torch: Any, scale: Any, size: tuple) -> None:
    # floor(H * scale) in double precision, as aten computes it: 0.7 * 10, 1/3 * 30 and 1.1 * 10 land near integers
    h, w = size
    sh, sw = scale if isinstance(scale, tuple) else (scale, scale)
    if int(h * sh) < 1 or int(w * sw) < 1:
        return
    for mode in ("nearest", "bilinear"):
        _check_against_torch(torch, "upsample", (2, h, w), {"scale": scale, "mode": mode})


def test_the_modules_compute_what_torch_does(torch: Any) -> None:
    """Not only the shapes: each module is the torch operation (nn.Conv2d(padding='same') included)."""
    from shufflecalc.bridge.modules import SamePadConv2d

    x = torch.randn(2, 4, 9, 10)
    for kernel, dilation in (((2, 4), (1, 2)), ((2, 2), 1), (4, 1), ((3, 4), (2, 3)), ((3, 5), 1)):
        full, _ = _numbers("conv2d", (4, 9, 10), out=6, kernel=kernel, dilation=dilation, padding="same", bias=True)
        module = _module("conv2d", full, (4, 9, 10))
        odd = any((d * (k - 1)) % 2 for k, d in zip(*(v if isinstance(v, tuple) else (v, v)
                                                       for v in (kernel, dilation)), strict=True))
        assert isinstance(module, SamePadConv2d) == odd
        reference = torch.nn.Conv2d(4, 6, kernel, 1, "same", dilation, bias=True)
        reference.load_state_dict(module.state_dict())  # the same parameters, the same names
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns that an even 'same' pads a copy of the input
            torch.testing.assert_close(module(x), reference(x))
    full, _ = _numbers("upsample", (4, 9, 10), size=(5, 13), mode="bilinear", align_corners=True)
    torch.testing.assert_close(_module("upsample", full, (4, 9, 10))(x), torch.nn.functional.interpolate(
        x, size=(5, 13), mode="bilinear", align_corners=True))
    full, _ = _numbers("avgpool", (4, 9, 10), kernel=(3, 2), padding=(1, 1), count_include_pad=False,
                       divisor_override=None)
    torch.testing.assert_close(_module("avgpool", full, (4, 9, 10))(x), torch.nn.functional.avg_pool2d(
        x, (3, 2), (3, 2), (1, 1), count_include_pad=False))


# --- fvcore and FlopCounterMode, measured on modules built here --------------------------------------------------


def _measure(torch: Any, module: Any, shape: tuple) -> tuple[int, dict, dict, int]:
    from fvcore.nn import FlopCountAnalysis
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(1, *shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fa = FlopCountAnalysis(module.eval(), x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total, by_op, unsupported = int(fa.total()), dict(fa.by_operator()), dict(fa.unsupported_ops())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(x)
    return total, by_op, unsupported, int(counter.get_total_flops())


def test_fvcore_and_flop_counter_on_the_torch_modules(torch: Any) -> None:
    nn = torch.nn
    # the transposed conv of test_conv_transpose2d: weight 8 x 3 x 3 x 2 = 144 times the 5 x 7 input positions
    deconv = nn.ConvTranspose2d(8, 6, (3, 2), (2, 3), (1, 0), (1, 2), 2, True, (1, 2))
    assert _measure(torch, deconv, (8, 5, 7)) == (5_040, {"conv": 5_040}, {}, 2 * 5_040)
    # adaptive average pooling: the 8 * 7 * 9 input elements, for any output size; FlopCounterMode: 0
    for output in ((3, 5), 1, (7, 9), (11, 2)):
        assert _measure(torch, nn.AdaptiveAvgPool2d(output), (8, 7, 9)) == (504, {"adaptive_avg_pool2d": 504}, {}, 0)
    assert _measure(torch, nn.AdaptiveMaxPool2d((3, 5)), (8, 7, 9)) == (0, {}, {"aten::adaptive_max_pool2d": 1}, 0)
    # upsampling: 1 (nearest) or 4 (bilinear, align_corners or not) per output element
    assert _measure(torch, nn.Upsample(scale_factor=(1.5, 2.0)), (4, 5, 7)) == (
        392, {"upsample_nearest2d": 392}, {}, 0)
    for corners in (False, True):
        assert _measure(torch, nn.Upsample(size=(9, 11), mode="bilinear", align_corners=corners), (4, 5, 7)) == (
            1_584, {"upsample_bilinear2d": 1_584}, {}, 0)
    # pooling is unsupported, dilation and divisor_override or not
    assert _measure(torch, nn.MaxPool2d((3, 2), (1, 2), (1, 0), (2, 1)), (4, 9, 11))[:3] == (
        0, {}, {"aten::max_pool2d": 1})
    assert _measure(torch, nn.AvgPool2d(3, 1, 1, divisor_override=2), (4, 9, 11))[:3] == (
        0, {}, {"aten::avg_pool2d": 1})
    # why the builder gives torch integer paddings: a string padding traces as _convolution_mode, which fvcore
    # does not support (0), where FlopCounterMode counts the convolution (2 x 6 * 4 * 9 * 99)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same = nn.Conv2d(4, 6, 3, padding="same")
    assert _measure(torch, same, (4, 9, 11)) == (0, {}, {"aten::_convolution_mode": 1}, 2 * 6 * 4 * 9 * 99)


SPEC = """
name: spatial
input: [4, 9, 11]
layers:
  - {op: conv2d, name: c17, out: 6, kernel: [1, 7], padding: [0, 3], bias: true}
  - {op: conv2d, name: even_same, out: 6, kernel: [2, 4], padding: same, dilation: [1, 2]}
  - {op: conv2d, name: same, out: 6, kernel: 3, padding: same}
  - {op: conv2d, name: valid, out: 6, kernel: [3, 2], stride: [2, 1], padding: valid, groups: 3}
  - {op: conv_transpose2d, name: deconv, out: 4, kernel: [3, 2], stride: [2, 3], padding: [1, 0],
     output_padding: [1, 2], groups: 2, dilation: [1, 2]}
  - {op: maxpool, name: maxpool, kernel: [3, 2], stride: [1, 2], padding: [1, 0], dilation: [2, 1], ceil_mode: true}
  - {op: avgpool, name: avgpool, kernel: 3, stride: 1, padding: same, count_include_pad: false, divisor_override: 2}
  - {op: adaptive_avgpool, name: adaptive_avg, output: [3, 5]}
  - {op: upsample, name: nearest, scale: [1.5, 2.0]}
  - {op: upsample, name: bilinear, size: [9, 7], mode: bilinear, align_corners: true}
  - {op: adaptive_maxpool, name: adaptive_max, output: 2}
  - {op: upsample, name: scaled, scale: 1.7, mode: bilinear}
  - {op: flatten, name: flat}
"""


def test_verify_every_form(torch: Any, write_spec) -> None:
    """analytic == fvcore == FlopCounterMode == torch (shapes, params), layer by layer and per fvcore operator."""
    from shufflecalc.bridge.verify import verify

    v = verify(write_spec(SPEC))
    assert v.ok, v.mismatches
    layers = {layer.name: layer for layer in v.layers}
    # c17 as in test_conv2d_with_a_1x7_kernel; deconv on valid's 6 x 4 x 10 output: H' (4 - 1) * 2 - 2 + 2 + 1 + 1 = 8,
    # W' (10 - 1) * 3 + 2 + 2 + 1 = 32; weight 6 x 2 x 3 x 2 = 72, MACs 72 * 40
    assert (layers["c17"].flops, layers["deconv"].out, layers["deconv"].flops) == (2 * 16_632, (4, 8, 32), 2 * 2_880)
    assert layers["deconv"].params == 72 + 4
    assert v.fvcore_by_operator["upsample_bilinear2d"] == 4 * 4 * (9 * 7 + 3 * 3)  # bilinear 9x7, scaled 3x3
    left_out = {(o.treatment, o.op): o.operators for o in v.omissions}
    assert left_out["ignored", "conv2d"] == {"aten::constant_pad_nd": 1}  # even_same's odd row / column
    assert left_out["unsupported", "adaptive_maxpool"] == {"aten::adaptive_max_pool2d": 1}


# --- pairs in the spec language -------------------------------------------------------------------------------------

BLOCKS = """
params:
  k: {type: pair, default: [1, 7], min: 1, max: 9}
  pad: {type: padding, default: same}
define:
  kk: [7, 1]
blocks:
  basic:
    args:
      out: {type: int, min: 1}
      kernel: {type: pair, min: 1}
      stride: {type: pair, default: 1}
      padding: {type: padding, default: null}
    layers:
      - {op: conv2d, name: conv, out: out, kernel: kernel, stride: stride, padding: padding}
      - {op: relu, name: relu}
  indexed:
    args:
      kernel: {type: pair}
    layers:
      - {op: conv2d, name: conv, out: 6, kernel: kernel, padding: "[kernel[0] // 2, kernel[1] // 2]"}
input: [4, 9, 11]
layers:
  - {op: basic, name: b1, out: 6, kernel: k, padding: [0, 3]}
  - {op: basic, name: b2, out: 6, kernel: kk, padding: "[3, 0]"}
  - {op: basic, name: b3, out: 6, kernel: [1, "2 + 1"], padding: pad}
  - {op: basic, name: b4, out: 6, kernel: 3}
  - {op: basic, name: b5, out: 6, kernel: "[3, 3]", stride: [2, 1], padding: valid}
  - {op: indexed, name: b6, kernel: [5, 3]}
"""


def test_pairs_from_yaml_expressions_defines_parameters_and_blocks(write_spec) -> None:
    path = write_spec(BLOCKS)
    a = analyze(path)
    convs = {layer.name: layer for layer in a.layers if layer.op == "conv2d"}
    assert {n: (c.attrs["kernel"], c.attrs["padding"], c.out) for n, c in convs.items()} == {
        "b1.conv": ((1, 7), (0, 3), (6, 9, 11)), "b2.conv": ((7, 1), (3, 0), (6, 9, 11)),
        "b3.conv": ((1, 3), "same", (6, 9, 11)),
        "b4.conv": (3, None, (6, 9, 11)),  # padding null passed on: conv2d's default, (3 - 1) // 2
        "b5.conv": ((3, 3), "valid", (6, 4, 9)),  # (9 - 3) // 2 + 1, (11 - 3) // 1 + 1
        "b6.conv": ((5, 3), (2, 1), (6, 4, 9)),  # the pair indexed inside the block: padding (5 // 2, 3 // 2)
    }
    assert convs["b1.conv"].macs == 6 * 4 * 7 * 99 and convs["b5.conv"].macs == 6 * 6 * 9 * 36  # b4 gives 6 channels
    assert a.graph.config == {"k": (1, 7), "pad": "same"}
    # the command line's forms: 3x5, [3, 5], a number; shown as 3x5 (no comma: a label NAME:k=3x5 reads back)
    for value in ("3x5", "[3, 5]", " [3,5] "):
        assert analyze(path, k=value).graph.config["k"] == (3, 5)
    assert analyze(path, k="3").graph.config["k"] == 3
    b = analyze(path, k="3x5", pad="valid")
    assert config_text(b.graph.config) == "k=3x5 pad=valid" and format_value((1, 7)) == "1x7"
    assert labels([a, b])[1].endswith(":k=3x5,pad=valid")
    assert load_spec(path).params["k"].describe() == ">= 1 and <= 9"


@pytest.mark.parametrize("layer, expected", [
    ("{op: conv2d, out: 4, kernel: [1, 5000]}", "my.yaml:3 layers[0].kernel[1]: must be at most 4,096, got 5000"),
    ("{op: conv2d, out: 4, kernel: '[1, 5000]'}", "my.yaml:3 layers[0].kernel: must be at most 4,096, got 5000"),
    ("{op: conv2d, out: 4, kernel: [1, 2, 3]}",
     "layers[0].kernel: must be a whole number or a pair [h, w] of them, got a list of 3"),
    ("{op: conv2d, out: 4, kernel: []}", "layers[0].kernel: must be a whole number or a pair [h, w] of them, got a "
                                         "list of 0"),
    ("{op: conv2d, out: 4, kernel: [1, 2.5]}", "layers[0].kernel[1]: must be a whole number, got 2.5"),
    ("{op: conv2d, out: 4, kernel: [1, true]}", "layers[0].kernel[1]: must be a whole number, got True"),
    ("{op: conv2d, out: 4, kernel: [[1, 2], 3]}", "layers[0].kernel[0]: must be a whole number, got [1, 2]"),
    ("{op: conv2d, out: 4, kernel: [0, 1]}", "layers[0].kernel[0]: must be at least 1, got 0"),
    ("{op: conv2d, out: 4, kernel: 3, padding: [-1, 0]}", "layers[0].padding[0]: must be at least 0, got -1"),
    ("{op: conv2d, out: 4, kernel: 3, padding: samee}",
     "layers[0].padding: must be a whole number, a pair [h, w] of them, same or valid, got 'samee'"),
    ("{op: conv2d, out: 4, kernel: 3, padding: same, stride: 2}",
     "layers[0].padding: same needs stride 1 (conv2d; PyTorch's rule), got stride 2 (in conv2d_0)"),
    ("{op: conv2d, out: 4, kernel: [1, 20], padding: valid}",
     "layers[0]: conv2d_0: the spatial size reaches zero: 9x11 input, kernel 1x20, stride 1, padding 0 gives 9x-8"),
    ("{op: maxpool, kernel: 3, padding: same}", "layers[0].padding: same needs stride 1 (maxpool; PyTorch's rule), "
                                                "got stride 3 (the stride defaults to the kernel size, 3: give "
                                                "stride: 1)"),
    ("{op: avgpool, kernel: 3, divisor_override: 0}", "layers[0].divisor_override: must be at least 1, got 0"),
    ("{op: conv_transpose2d, out: 4, kernel: 3, stride: 2, output_padding: 2}",
     "layers[0].output_padding: output_padding 2 must be smaller than the stride 2 or the dilation 1"),
    ("{op: conv_transpose2d, out: 4, kernel: 1, output_padding: 5000}",
     "layers[0].output_padding: must be at most 4,096, got 5000"),
    ("{op: adaptive_avgpool, output: [0, 3]}", "layers[0].output[0]: must be at least 1, got 0"),
    ("{op: adaptive_maxpool, output: 100000}", "layers[0].output: must be at most 65,536, got 100000"),
    ("{op: adaptive_maxpool}", "layers[0]: missing required argument 'output'"),
    ("{op: upsample}", "layers[0]: upsample_0: upsample takes exactly one of scale and size"),
    ("{op: upsample, scale: 2, size: 3}", "layers[0].size: upsample takes exactly one of scale and size"),
    ("{op: upsample, scale: -1}", "layers[0].scale: must be at least 0, got -1.0"),
    ("{op: upsample, scale: '1e300'}", "layers[0].scale: must be at most 65,536, got 1e+300"),
    ("{op: upsample, scale: [2, 3, 4]}", "layers[0].scale: must be a number or a pair [h, w] of numbers, got a "
                                         "list of 3"),
    ("{op: upsample, scale: 60000}", "the output is 540000x660000, larger than the maximum 65,536"),
    ("{op: upsample, size: [2, 1.5]}", "layers[0].size[1]: must be a whole number, got 1.5"),
    ("{op: upsample, size: [2, 70000]}", "layers[0].size[1]: must be at most 65,536, got 70000"),
    ("{op: upsample, scale: 2, align_corners: true}", "layers[0].align_corners: align_corners applies to mode "
                                                      "bilinear only"),
    ("{op: upsample, scale: 2, mode: bicubic}", "layers[0].mode: must be one of nearest, bilinear, got 'bicubic'"),
    ("{op: conv_transpose2d, out: 4, kernel: 4096, dilation: 4096}",
     "larger than the maximum 65,536 in height and width"),
])
def test_bad_values_are_one_line_errors(cli, write_spec, layer: str, expected: str) -> None:
    path = write_spec("input: [4, 9, 11]\nlayers:\n  - " + layer + "\n")
    start = time.perf_counter()
    message = rejected(cli, path).replace(path, "my.yaml")
    assert time.perf_counter() - start < 2.0
    assert expected in message, message


@pytest.mark.parametrize("text, expected", [
    ("params:\n  k: {type: pair, default: [0, 3], min: 1}\n", "my.yaml:2 params.k.default: 0x3 is below the minimum 1"),
    ("params:\n  k: {type: pair, default: [1, 50], max: 9}\n",
     "my.yaml:2 params.k.default: 1x50 is above the maximum 9"),
    ("params:\n  k: {type: pair, default: [1, 2, 3]}\n",
     "params.k.default: [1, 2, 3] is not a whole number or a pair [h, w] of them (a list of 3)"),
    ("params:\n  k: {type: pair, default: [1, 2.5]}\n", "params.k.default: 2.5 is not an integer"),
    ("params:\n  k: {type: pair, default: same}\n", "params.k.default: 'same' is not a whole number or a pair"),
    ("params:\n  k: {type: padding, default: samee}\n",
     "params.k.default: 'samee' is not a whole number, a pair [h, w] of them, same or valid"),
    ("params:\n  k: {type: pair, default: 1, choices: [1, [1, 7]]}\n", None),
    ("params:\n  k: {type: bool, default: true, min: 1}\n", "'min' applies to int, float and pair parameters only"),
    ("params:\n  k: {type: tuple, default: 1}\n", "type must be one of int, float, bool, str, pair, padding"),
])
def test_pair_declarations(write_spec, text: str, expected: str | None) -> None:
    path = write_spec(text + "input: [3, 8, 8]\nlayers:\n  - {op: conv2d, out: 4, kernel: k}\n")
    if expected is None:
        assert load_spec(path).params["k"].choices == (1, (1, 7))
        assert expand(path, {"k": "1x7"}).layers[0].attrs["kernel"] == (1, 7)
        with pytest.raises(ShufflecalcError, match="3x3 is not one of 1, 1x7"):
            expand(path, {"k": "[3, 3]"})
        return
    with pytest.raises(ShufflecalcError) as info:
        load_spec(path)
    assert expected in str(info.value).replace(path, "my.yaml"), str(info.value)


def test_a_block_argument_out_of_its_declared_bounds(cli, write_spec) -> None:
    path = write_spec(BLOCKS.replace("out: 6, kernel: 3}", "out: 6, kernel: [3, 0]}"))
    message = rejected(cli, path)
    assert message.endswith("layers[3].kernel[1]: must be at least 1, got 0 (block 'basic' declares its arguments "
                            f"at {path}:9 blocks.basic.args)"), message


@pytest.mark.parametrize("expression, expected", [
    ("kernel * 2", "arithmetic on the pair [5, 3] and int 2"),
    ("kernel[2]", "index 2 out of range for a list of length 2"),
    ("kernel + [1, 1]", "arithmetic on the pair [5, 3] and a list"),
])
def test_expressions_on_a_pair_argument(cli, write_spec, expression: str, expected: str) -> None:
    text = BLOCKS.replace('padding: "[kernel[0] // 2, kernel[1] // 2]"', f'padding: "{expression}"')
    message = rejected(cli, write_spec(text))
    assert expected in message and "blocks.indexed.layers[0].padding" in message, message


def test_bounds_of_the_new_arguments_are_the_documented_limits() -> None:
    for op, arg, maximum in [("conv2d", "kernel", MAX_WINDOW), ("conv2d", "padding", MAX_WINDOW),
                             ("conv_transpose2d", "output_padding", MAX_WINDOW), ("maxpool", "dilation", MAX_WINDOW),
                             ("adaptive_avgpool", "output", MAX_SPATIAL), ("upsample", "size", MAX_SPATIAL),
                             ("upsample", "scale", MAX_SPATIAL), ("avgpool", "divisor_override", MAX_WINDOW**2)]:
        a = KINDS[op].args[arg]
        assert a.maximum == maximum and a.minimum is not None and math.isfinite(a.maximum), (op, arg)


def test_explain_reads_pairs(write_spec) -> None:
    """formulas.explain's readers of kernel and stride: a [h, w] kernel is kh·kw in a product, a square pair compares
    with a formula's K as the number, a pair stride is shown 2x1."""
    from shufflecalc.formulas.explain import _extra, _layer_factors, _product

    path = write_spec("input: [4, 9, 11]\nlayers:\n  - {op: conv2d, name: a, out: 6, kernel: [1, 7], stride: [2, 1]}\n"
                      "  - {op: conv2d, name: b, out: 6, kernel: [3, 3]}\n")
    a, b = expand(path).layers
    assert a.out == (6, 5, 11) and _product(a) == "6·4·1·7·5·11" and _layer_factors(a)["kernel"] == (1, 7)
    assert _product(b) == "6·6·3²·5·11" and _layer_factors(b)["kernel"] == 3
    assert "with stride 2x1 on 11x5 output positions: 6·4·1·7·5·11 = 9,240 MACs" in _extra(a, "downsample").reason
