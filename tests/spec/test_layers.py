"""Layer kinds: shape rules against torch itself, parameter counts against torch modules."""

from __future__ import annotations

import itertools

import pytest

from shufflecalc.spec.layers import KINDS, LayerError

torch = pytest.importorskip("torch")

from shufflecalc.bridge.modules import torch_module  # noqa: E402 (needs torch)


def _eval(op: str, ins: tuple, **attrs: object):
    kind = KINDS[op]
    full = {**kind.defaults, **attrs}
    return full, kind.rule(full, ins)


@pytest.mark.parametrize(
    "size, kernel, stride, padding, dilation",
    [c for c in itertools.product([7, 8, 13, 28, 225], [1, 3, 5], [1, 2, 3], [0, 1, 2], [1, 2])
     if (c[0] + 2 * c[3] - c[4] * (c[1] - 1) - 1) >= 0],
)
def test_conv_shape_and_params_match_torch(size: int, kernel: int, stride: int, padding: int, dilation: int) -> None:
    full, ev = _eval("conv2d", ((6, size, size + 1),), out=9, kernel=kernel, stride=stride, padding=padding,
                     dilation=dilation, groups=3, bias=True)
    module = torch_module("conv2d", full, ((6, size, size + 1),))
    y = module(torch.zeros(1, 6, size, size + 1))
    assert ev.out == tuple(y.shape[1:])
    assert ev.params == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("op", ["maxpool", "avgpool"])
@pytest.mark.parametrize("size, kernel, stride, padding, ceil", [
    c for c in itertools.product([5, 7, 14, 15, 112], [2, 3], [1, 2, 3], [0, 1], [False, True]) if 2 * c[3] <= c[1]])
def test_pool_shape_matches_torch(op: str, size: int, kernel: int, stride: int, padding: int, ceil: bool) -> None:
    full, ev = _eval(op, ((4, size, size),), kernel=kernel, stride=stride, padding=padding, ceil_mode=ceil)
    module = torch_module(op, full, ((4, size, size),))
    assert ev.out == tuple(module(torch.zeros(1, 4, size, size)).shape[1:])


def test_every_kind_builds_a_module_with_the_same_parameter_count() -> None:
    cases = {
        "conv2d": ((8, 10, 10), {"out": 16, "kernel": 3}),
        "batchnorm": ((8, 10, 10), {}),
        "relu": ((8, 10, 10), {}),
        "relu6": ((8, 10, 10), {}),
        "maxpool": ((8, 10, 10), {"kernel": 3, "stride": 2, "padding": 1}),
        "avgpool": ((8, 10, 10), {"kernel": 3, "stride": 2, "padding": 1}),
        "global_avgpool": ((8, 10, 10), {}),
        "flatten": ((8, 10, 10), {}),
        "linear": ((80,), {"out": 10}),
        "channel_shuffle": ((8, 10, 10), {"groups": 4}),
        "hardswish": ((8, 10, 10), {}),
        "hardsigmoid": ((8, 10, 10), {}),
        "sigmoid": ((80,), {}),
        "dropout": ((80,), {"p": 0.2}),
        "mean": ((8, 10, 10), {}),
        "split": ((8, 10, 10), {"parts": 4, "index": 3}),
        # pointwise kinds of issue 14 (tests/spec/test_layers_pointwise.py has their own tests)
        "silu": ((8, 10, 10), {}), "gelu": ((80,), {"approximate": "tanh"}), "leaky_relu": ((8, 10, 10), {}),
        "elu": ((8, 10, 10), {}), "tanh": ((8, 10, 10), {}), "hardtanh": ((8, 10, 10), {}),
        "prelu": ((8, 10, 10), {"num_parameters": 8}), "softmax": ((8, 10, 10), {"dim": 0}),
        "layernorm": ((8, 10, 10), {}), "groupnorm": ((8, 10, 10), {"groups": 4}), "instancenorm": ((8, 10, 10), {}),
        "drop_path": ((8, 10, 10), {"p": 0.2}), "layer_scale": ((8, 10, 10), {}),
        # token kinds of issue 14 (tests/spec/test_layers_tokens.py has their own tests)
        "to_tokens": ((8, 3, 5), {}), "class_token": ((15, 8), {}), "position_embedding": ((15, 8), {}),
        "from_tokens": ((15, 8), {"height": 3}), "select_token": ((15, 8), {"index": 2}),
        "multihead_attention": ((15, 8), {"heads": 2}),
        # spatial kinds of issue 14 (tests/spec/test_layers_spatial.py has their own tests)
        "conv_transpose2d": ((8, 5, 7), {"out": 4, "kernel": (3, 2), "stride": 2, "groups": 2}),
        "adaptive_avgpool": ((8, 10, 10), {"output": (3, 4)}), "adaptive_maxpool": ((8, 10, 10), {"output": 3}),
        "upsample": ((8, 5, 7), {"scale": 2.0}),
    }
    assert set(cases) == {k for k, v in KINDS.items() if v.inputs == 1}
    for op, (shape, attrs) in cases.items():
        full, ev = _eval(op, (shape,), **attrs)
        module = torch_module(op, full, (shape,)).eval()
        y = module(torch.zeros((1, *shape)))
        assert ev.out == tuple(y.shape[1:]), op
        assert ev.params == sum(p.numel() for p in module.parameters()), op


def test_channel_shuffle_is_the_blog_permutation_and_torch_channelshuffle() -> None:
    full, _ = _eval("channel_shuffle", ((9, 1, 1),), groups=3)
    module = torch_module("channel_shuffle", full, ((9, 1, 1),))
    x = torch.arange(9.0).view(1, 9, 1, 1)
    assert module(x).flatten().tolist() == [0, 3, 6, 1, 4, 7, 2, 5, 8]
    assert torch.equal(module(x), torch.nn.ChannelShuffle(3)(x))


@pytest.mark.parametrize("op, ins, attrs, message", [
    ("conv2d", ((6, 8, 8),), {"out": 8, "kernel": 1, "groups": 4}, "input channels 6 are not divisible by groups=4"),
    ("conv2d", ((6, 2, 2),), {"out": 6, "kernel": 5, "padding": 0}, "the spatial size reaches zero"),
    ("channel_shuffle", ((10, 2, 2),), {"groups": 3}, "10 channels are not divisible by groups=3"),
    ("add", ((6, 2, 2), (6, 2, 3)), {}, "add needs inputs of one shape"),
    ("concat", ((6, 2, 2), (6, 3, 3)), {}, "concat needs inputs of one spatial size"),
    ("mul", ((6, 2, 2), (3, 1, 1)), {}, "mul needs inputs that broadcast"),
    ("mul", ((6, 2, 2), (6,)), {}, "mul needs inputs of one rank"),
    ("mean", ((6,),), {}, "mean needs a C x H x W input"),
    ("split", ((6, 2, 2),), {"parts": 4, "index": 0}, "6 channels are not divisible into parts=4"),
    ("split", ((6, 2, 2),), {"parts": 2, "index": 2}, "index 2 is out of range for parts=2"),
])
def test_rule_errors(op: str, ins: tuple, attrs: dict, message: str) -> None:
    with pytest.raises(LayerError, match=message):
        _eval(op, ins, **attrs)


def test_split_is_torch_chunk() -> None:
    x = torch.randn(1, 12, 3, 3)
    for index in range(3):
        full, ev = _eval("split", ((12, 3, 3),), parts=3, index=index)
        y = torch_module("split", full, ((12, 3, 3),))(x)
        assert torch.equal(y, x[:, 4 * index : 4 * index + 4]) and ev.out == tuple(y.shape[1:])


@pytest.mark.parametrize("shapes", [((6, 4, 5), (6, 1, 1)), ((6, 1, 1), (6, 4, 5)), ((6, 4, 5), (6, 4, 5)),
                                    ((6, 4, 1), (1, 1, 5)), ((10,), (10,))])
def test_mul_broadcasts_as_torch(shapes: tuple) -> None:
    full, ev = _eval("mul", shapes)
    xs = [torch.randn(1, *s) for s in shapes]
    y = torch_module("mul", full, shapes)(*xs)
    assert ev.out == tuple(y.shape[1:]) and torch.equal(y, xs[0] * xs[1])


def test_mean_is_the_spatial_mean() -> None:
    full, ev = _eval("mean", ((5, 3, 4),))
    x = torch.randn(2, 5, 3, 4)
    y = torch_module("mean", full, ((5, 3, 4),))(x)
    assert ev.out == (5,) and torch.allclose(y, x.mean([2, 3]))


CASES = {
    "conv2d": (((8, 6, 6),), {"out": 4, "kernel": 3, "groups": 2, "bias": True}),
    "batchnorm": (((8, 6, 6),), {}),
    "relu": (((8, 6, 6),), {}),
    "relu6": (((8, 6, 6),), {}),
    "hardswish": (((8, 6, 6),), {}),
    "hardsigmoid": (((8, 6, 6),), {}),
    "sigmoid": (((8, 6, 6),), {}),
    "dropout": (((8, 6, 6),), {"p": 0.2}),
    "maxpool": (((8, 6, 6),), {"kernel": 3, "stride": 2, "padding": 1}),
    "avgpool": (((8, 6, 6),), {"kernel": 3, "stride": 2, "padding": 1}),
    "global_avgpool": (((8, 6, 6),), {}),
    "mean": (((8, 6, 6),), {}),
    "flatten": (((8, 6, 6),), {}),
    "linear": (((80,),), {"out": 10}),
    "channel_shuffle": (((8, 6, 6),), {"groups": 4}),
    "add": (((8, 6, 6), (8, 6, 6)), {}),
    "concat": (((8, 6, 6), (4, 6, 6)), {}),
    "mul": (((8, 1, 1), (8, 6, 6)), {}),
    "split": (((8, 6, 6),), {"index": 1}),
    # pointwise kinds of issue 14 (tests/spec/test_layers_pointwise.py has their own tests)
    "silu": (((8, 6, 6),), {}), "gelu": (((8, 6, 6),), {}), "leaky_relu": (((8, 6, 6),), {}), "elu": (((8, 6, 6),), {}),
    "tanh": (((8, 6, 6),), {}), "hardtanh": (((8, 6, 6),), {}), "prelu": (((8, 6, 6),), {"num_parameters": 8}),
    "softmax": (((8, 6, 6),), {"dim": -1}), "layernorm": (((8, 6, 6),), {}),
    "groupnorm": (((8, 6, 6),), {"groups": 2, "affine": False}), "instancenorm": (((8, 6, 6),), {"affine": True}),
    "drop_path": (((8, 6, 6),), {"p": 0.5}), "layer_scale": (((8, 6, 6),), {}),
    # token kinds of issue 14 (tests/spec/test_layers_tokens.py has their own tests)
    "to_tokens": (((8, 3, 5),), {}), "class_token": (((15, 8),), {}), "position_embedding": (((15, 8),), {}),
    "from_tokens": (((15, 8),), {"height": 5}), "select_token": (((15, 8),), {}),
    "multihead_attention": (((15, 8),), {"heads": 4}),
    # spatial kinds of issue 14 (tests/spec/test_layers_spatial.py has their own tests)
    "conv_transpose2d": (((8, 5, 7),), {"out": 6, "kernel": (3, 2), "stride": 2, "groups": 2}),
    "adaptive_avgpool": (((8, 6, 6),), {"output": (2, 3)}), "adaptive_maxpool": (((8, 6, 6),), {"output": 4}),
    "upsample": (((8, 5, 7),), {"size": (7, 9), "mode": "bilinear"}),
}


@pytest.mark.parametrize("op", sorted(KINDS))
def test_fvcore_count_and_treatment_are_fvcores(op: str) -> None:
    """Each kind's fvcore count (macs + fvcore_extra) and its 'counted' / 'ignored' / 'unsupported' label are what
    fvcore's FlopCountAnalysis itself reports for the torch module the kind builds."""
    import warnings

    assert set(CASES) == set(KINDS)
    ins, attrs = CASES[op]
    full, ev = _eval(op, ins, **attrs)
    kind = KINDS[op]
    module = torch_module(kind.name, full, ins).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        fa = FlopCountAnalysis(module, tuple(torch.randn(1, *s) for s in ins))
        fa.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total, unsupported = fa.total(), dict(fa.unsupported_ops())
    assert total == ev.macs + ev.fvcore_extra
    if kind.fvcore == "unsupported":
        assert set(unsupported) == set(kind.aten) and total == 0
    elif kind.fvcore == "partial":  # its first aten op counted, the others unsupported
        assert set(unsupported) == set(kind.aten[1:]) and total > 0
    else:
        assert unsupported == {}
        assert (total > 0) == (kind.fvcore == "counted")


SINGLE_INPUT = [
    # (kind, arguments, input shape): every kind that takes one input
    ("conv2d", {"out": 4, "kernel": 3}, (4, 6, 6)), ("batchnorm", {}, (4, 6, 6)), ("relu", {}, (4, 6, 6)),
    ("relu6", {}, (4, 6, 6)), ("hardswish", {}, (4, 6, 6)), ("hardsigmoid", {}, (4, 6, 6)), ("sigmoid", {}, (4, 6, 6)),
    ("dropout", {"p": 0.5}, (4, 6, 6)), ("maxpool", {"kernel": 2}, (4, 6, 6)), ("avgpool", {"kernel": 2}, (4, 6, 6)),
    ("global_avgpool", {}, (4, 6, 6)), ("mean", {}, (4, 6, 6)), ("flatten", {}, (4, 1, 1)),
    ("linear", {"out": 3}, (4,)),
    ("channel_shuffle", {"groups": 2}, (4, 6, 6)), ("split", {"parts": 2, "index": 1}, (4, 6, 6)),
    # pointwise kinds of issue 14
    ("silu", {}, (4, 6, 6)), ("gelu", {}, (4, 6, 6)), ("leaky_relu", {}, (4, 6, 6)), ("elu", {}, (4, 6, 6)),
    ("tanh", {}, (4, 6, 6)), ("hardtanh", {}, (4, 6, 6)), ("prelu", {}, (4, 6, 6)), ("softmax", {"dim": 0}, (4, 6, 6)),
    ("layernorm", {}, (4, 6, 6)), ("groupnorm", {"groups": 2}, (4, 6, 6)), ("instancenorm", {}, (4, 6, 6)),
    ("drop_path", {"p": 0.5}, (4, 6, 6)), ("layer_scale", {}, (4, 6, 6)),
    # token kinds of issue 14
    ("to_tokens", {}, (4, 6, 6)), ("class_token", {}, (36, 4)), ("position_embedding", {}, (36, 4)),
    ("from_tokens", {}, (36, 4)),
    ("select_token", {"index": 1}, (36, 4)), ("multihead_attention", {"heads": 2}, (36, 4)),
    # spatial kinds of issue 14
    ("conv_transpose2d", {"out": 4, "kernel": 2, "stride": 2}, (4, 6, 6)),
    ("adaptive_avgpool", {"output": 6}, (4, 6, 6)), ("adaptive_maxpool", {"output": (3, 2)}, (4, 6, 6)),
    ("upsample", {"scale": 1.0}, (4, 6, 6)),
]


def test_every_single_input_kind_is_listed() -> None:
    assert {k for k, _, _ in SINGLE_INPUT} == {name for name, kind in KINDS.items() if kind.inputs == 1}


@pytest.mark.parametrize("op, attrs, shape", SINGLE_INPUT)
def test_view_flag_matches_eager_torch(op: str, attrs: dict, shape: tuple) -> None:
    """A kind is a view exactly when torch, in eval mode, returns a tensor sharing the input's memory."""
    full, _ = _eval(op, (shape,), **attrs)
    module = torch_module(op, full, (shape,)).eval()
    x = torch.randn(1, *shape)
    with torch.inference_mode():
        y = module(x)
    aliases = y.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    assert KINDS[op].view == aliases
