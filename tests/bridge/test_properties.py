"""Property-based proof: for random valid specs, the analytic counts equal fvcore's and torch's, exactly.

Hypothesis writes random specs as YAML text: channel counts divisible by random group counts, kernels 1/3/5, strides
1/2, paddings and dilations (square or [h, w]; conv2d's and the pools' padding also `same` and `valid`), transposed
convolutions, adaptive pooling and upsampling, small (odd and non-square) inputs, residual adds and concatenations
through `inputs:`, channel shuffles, pooling, the activations, norms, stochastic depth and layer scale (on C x H x W
and on the flat vector of the head), the built-in block types (conv_bn_act, dwsep, bottleneck, shufflenet_unit, with
shuffle on and off, with every `act`) and stages of them, with and without a classifier head. Every spec is valid by
construction; the generator tracks shapes with PyTorch's size rule written out here, and the final shape is asserted
too.

Deterministic (derandomize=True, no example database): CI runs the same examples every time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("fvcore")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from shufflecalc.bridge.verify import verify  # noqa: E402

EXAMPLES = 250
KERNELS = (1, 3, 5)


def size(n: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """PyTorch's output size along one axis (convolution and pooling, ceil mode as PyTorch computes it)."""
    span = n + 2 * p - d * (k - 1) - 1
    if span < 0:
        return 0
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= n + p else out


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass
class Net:
    """A spec under construction: YAML lines, the current entry's name and shape."""

    shape: tuple[int, ...]
    lines: list[str] = field(default_factory=list)
    current: str = "input"
    count: int = 0

    def name(self) -> str:
        self.count += 1
        return f"e{self.count}"

    def add(self, entry: str, shape: tuple[int, ...], name: str) -> None:
        self.lines.append(f"  - {entry}")
        self.shape, self.current = shape, name

    def yaml(self, input_shape: tuple[int, int, int]) -> str:
        return f"name: random\ninput: [{', '.join(map(str, input_shape))}]\nlayers:\n" + "\n".join(self.lines) + "\n"


def _flow(**kv: object) -> str:
    def text(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(map(str, v)) + "]"
        return str(v)

    return "{" + ", ".join(f"{k}: {text(v)}" for k, v in kv.items() if v is not None) + "}"


# --- primitive entries ----------------------------------------------------------------------------------------------


def window(draw, values: tuple[int, ...]) -> tuple[int | list[int], int, int]:
    """A kernel, stride, padding or dilation: a number, or one time in three a pair [h, w] (non-square); the YAML
    value and its (h, w)."""
    if draw(st.integers(0, 2)) == 0:
        h, w = draw(st.sampled_from(values)), draw(st.sampled_from(values))
        return [h, w], h, w
    v = draw(st.sampled_from(values))
    return v, v, v


def conv(draw, net: Net) -> None:
    """A conv2d with square or [h, w] kernels, strides, dilations and paddings (a number, a pair, omitted, `same`
    with PyTorch's odd total padded at the bottom / right, or `valid`)."""
    c, h, w = net.shape
    groups = draw(st.sampled_from(divisors(c)))
    out = groups * draw(st.integers(1, 3))
    (k, kh, kw), (s, sh, sw), (d, dh, dw) = window(draw, KERNELS), window(draw, (1, 2)), window(draw, (1, 1, 2))
    p = draw(st.one_of(st.none(), st.integers(0, 2), st.sampled_from(("same", "valid", "pair"))))
    if p == "pair":
        ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        p = [ph, pw]
    elif p == "valid":
        ph = pw = 0
    elif p is None:
        ph, pw = dh * (kh - 1) // 2, dw * (kw - 1) // 2
    elif p != "same":
        ph = pw = p
    oh, ow = (h, w) if p == "same" else (size(h, kh, sh, ph, dh), size(w, kw, sw, pw, dw))
    if p == "same" or oh < 1 or ow < 1:  # same (stride 1 only), or too small for this padding: same instead
        if draw(st.booleans()):  # an even kernel: PyTorch pads the odd row / column at the bottom / right
            k, d = [draw(st.sampled_from((2, 3, 4))), draw(st.sampled_from((1, 2)))], 1
        p, s, oh, ow = "same", 1, h, w
    name = net.name()
    net.add(_flow(op="conv2d", name=name, out=out, kernel=k, stride=s, padding=p, dilation=d, groups=groups,
                  bias=draw(st.booleans())), (out, oh, ow), name)


def pool(draw, net: Net) -> None:
    """maxpool (with a dilation) or avgpool (count_include_pad, divisor_override), square or [h, w] windows, padding
    a number, a pair, `valid` or (stride 1, odd kernel) `same`."""
    c, h, w = net.shape
    op = draw(st.sampled_from(("maxpool", "avgpool")))
    (k, kh, kw), (s, sh, sw) = window(draw, (2, 3)), window(draw, (1, 2))
    s = draw(st.sampled_from((None, s)))
    if s is None:
        sh, sw = kh, kw
    (d, dh, dw) = window(draw, (1, 2)) if op == "maxpool" else (None, 1, 1)
    p = draw(st.sampled_from(("number", "pair", "valid", "same")))
    if p == "same":  # stride 1 and an odd kernel (a pool pads both sides equally)
        (k, kh, kw), (s, sh, sw), (d, dh, dw) = draw(st.sampled_from(((3, 3, 3), ([3, 1], 3, 1), ([1, 3], 1, 3)))), (
            1, 1, 1), ((1, 1, 1) if op == "maxpool" else (None, 1, 1))
        ph, pw = kh // 2, kw // 2
    elif p == "pair":
        ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
        p = [ph, pw]
    elif p == "valid":
        ph = pw = 0
    else:
        ph = pw = p = draw(st.integers(0, min(kh, kw) // 2))
    ceil = draw(st.booleans())
    oh, ow = size(h, kh, sh, ph, dh, ceil), size(w, kw, sw, pw, dw, ceil)
    if oh < 1 or ow < 1:
        return
    extra: dict = {"dilation": d} if op == "maxpool" else {
        "count_include_pad": draw(st.booleans()), "divisor_override": draw(st.sampled_from((None, 2)))}
    name = net.name()
    net.add(_flow(op=op, name=name, kernel=k, stride=s, padding=p, ceil_mode=ceil, **extra), (c, oh, ow), name)


def deconv(draw, net: Net) -> None:
    """A conv_transpose2d: PyTorch's size (H - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding
    + 1, output_padding below the stride or the dilation on each axis."""
    c, h, w = net.shape
    if h * w > 144:  # it grows the map: keep the examples quick
        return
    groups = draw(st.sampled_from(divisors(c)))
    out = groups * draw(st.integers(1, 3))
    (k, kh, kw), (s, sh, sw), (d, dh, dw) = window(draw, (1, 2, 3)), window(draw, (1, 2)), window(draw, (1, 2))
    p, ph, pw = window(draw, (0, 1))
    oph, opw = draw(st.integers(0, max(sh, dh) - 1)), draw(st.integers(0, max(sw, dw) - 1))
    op = draw(st.sampled_from((None, [oph, opw])))
    if op is None:
        oph = opw = 0
    oh, ow = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1, (w - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    if oh < 1 or ow < 1:
        return
    name = net.name()
    net.add(_flow(op="conv_transpose2d", name=name, out=out, kernel=k, stride=s, padding=p, output_padding=op,
                  dilation=d, groups=groups, bias=draw(st.booleans())), (out, oh, ow), name)


def resize(draw, net: Net) -> None:
    """adaptive_avgpool / adaptive_maxpool to a number or [h, w] (smaller or larger than the input), or upsample
    (nearest or bilinear, align_corners) by a scale (floor(H * scale)) or to a size."""
    c, h, w = net.shape
    op = draw(st.sampled_from(("adaptive_avgpool", "adaptive_maxpool", "upsample", "upsample")))
    name = net.name()
    if op != "upsample":
        output, oh, ow = window(draw, (1, 2, 3, 5))
        net.add(_flow(op=op, name=name, output=output), (c, oh, ow), name)
        return
    if h * w > 144:
        return
    mode = draw(st.sampled_from(("nearest", "bilinear")))
    corners = draw(st.booleans()) if mode == "bilinear" else None
    if draw(st.booleans()):
        size_, oh, ow = window(draw, (1, 4, 7))
        net.add(_flow(op=op, name=name, mode=mode, size=size_, align_corners=corners), (c, oh, ow), name)
        return
    scale, sh, sw = window(draw, (0.5, 1.5, 1.7, 2, 2.5))
    oh, ow = int(h * sh), int(w * sw)  # PyTorch's floor(H * scale)
    if oh < 1 or ow < 1:
        return
    net.add(_flow(op=op, name=name, mode=mode, scale=scale, align_corners=corners), (c, oh, ow), name)


def simple(draw, net: Net) -> None:
    op = draw(st.sampled_from(("batchnorm", "relu", "relu6", "channel_shuffle")))
    name = net.name()
    if op == "channel_shuffle":
        groups = [g for g in divisors(net.shape[0]) if g > 1]
        if not groups:
            return
        net.add(_flow(op=op, name=name, groups=draw(st.sampled_from(groups))), net.shape, name)
    elif op == "batchnorm":
        net.add(_flow(op=op, name=name, affine=draw(st.booleans())), net.shape, name)
    else:
        net.add(_flow(op=op, name=name), net.shape, name)


ACTS = ("relu", "relu6", "hardswish", "silu", "gelu", "leaky_relu", "elu", "tanh", "none")  # the blocks' `act`
POINTWISE = ("layernorm", "groupnorm", "instancenorm", "softmax", "prelu", "gelu", "silu", "layer_scale", "drop_path",
             "hardtanh", "leaky_relu", "elu", "tanh")  # the ones with arguments first: Hypothesis favours them


def pointwise(draw, net: Net) -> None:
    """An activation, a norm, stochastic depth or a layer scale with random arguments; the shape is kept. On a flat
    vector (the head), the kinds that take any shape."""
    shape = net.shape
    op = draw(st.sampled_from(POINTWISE))
    args: dict = {}
    if op == "gelu":
        args["approximate"] = draw(st.sampled_from(("none", "tanh")))
    elif op == "leaky_relu":
        args["negative_slope"] = draw(st.sampled_from((None, 0.2)))
    elif op == "elu":
        args["alpha"] = draw(st.sampled_from((None, 0.5)))
    elif op == "hardtanh":
        args["min_val"], args["max_val"] = draw(st.sampled_from(((None, None), (0.0, 6.0))))
    elif op == "prelu":
        args["num_parameters"] = draw(st.sampled_from((1, shape[0])))
    elif op == "softmax":
        args["dim"] = draw(st.integers(-len(shape), len(shape) - 1))
    elif op == "layernorm":
        args.update(elementwise_affine=draw(st.booleans()), bias=draw(st.booleans()))
    elif op in ("groupnorm", "instancenorm"):
        if len(shape) != 3 or shape[1] * shape[2] == 1:
            return
        if op == "groupnorm":
            args["groups"] = draw(st.sampled_from(divisors(shape[0])))
            if shape[0] // args["groups"] * shape[1] * shape[2] == 1:
                return
        args["affine"] = draw(st.booleans())
    elif op == "layer_scale":
        args["init"] = draw(st.sampled_from((None, 0.5)))
    elif op == "drop_path":
        args["p"] = draw(st.sampled_from((0.0, 0.2)))
    name = net.name()
    net.add(_flow(op=op, name=name, **args), shape, name)


def residual(draw, net: Net) -> None:
    """source -> conv (same shape) [-> batchnorm] ; add(source, branch[, source])."""
    c = net.shape[0]
    source = net.current
    branch = net.name()
    net.add(_flow(op="conv2d", name=branch, out=c, kernel=draw(st.sampled_from(KERNELS)),
                  groups=draw(st.sampled_from(divisors(c)))), net.shape, branch)
    if draw(st.booleans()):
        bn = net.name()
        net.add(_flow(op="batchnorm", name=bn), net.shape, bn)
        branch = bn
    inputs = [source, branch] + ([source] if draw(st.booleans()) else [])
    name = net.name()
    net.add(_flow(op="add", name=name, inputs=inputs), net.shape, name)


def concat(draw, net: Net) -> None:
    """Two branches of one stride from the same source (a conv, and a conv or a 3x3 average pool), concatenated."""
    c, h, w = net.shape
    source, s = net.current, draw(st.sampled_from((1, 2)))
    oh, ow = size(h, 3, s, 1), size(w, 3, s, 1)
    names, channels = [], 0
    for i in range(2):
        name = net.name()
        if i == 1 and draw(st.booleans()):
            entry, out = _flow(op="avgpool", name=name, inputs=[source], kernel=3, stride=s, padding=1), c
        else:
            out = draw(st.integers(1, 6))
            entry = _flow(op="conv2d", name=name, inputs=[source], out=out, kernel=draw(st.sampled_from(KERNELS)),
                          stride=s)
        net.add(entry, (out, oh, ow), name)
        names.append(name)
        channels += out
    name = net.name()
    net.add(_flow(op="concat", name=name, inputs=names), (channels, oh, ow), name)


# --- blocks and stages ----------------------------------------------------------------------------------------------


def unit_args(draw, c: int, stride: int, kind: str, repeat: int = 1) -> dict | None:
    """Arguments of a residual unit (`bottleneck` or `shufflenet_unit`) valid for input channels c at `stride`, and
    for `repeat - 1` further stride-1 units."""
    options = []
    for g, b, m in itertools.product((1, 2, 3, 4) if kind == "shufflenet_unit" else (1,), (0.25, 0.5, 1.0), (1, 2, 3)):
        out = c if stride == 1 else c + g * m
        if stride == 1 and m > 1:
            continue
        mid, branch = int(round(out * b, 9)), (out if stride == 1 else out - c)
        if mid < 1 or mid % g or branch % g or (repeat > 1 and out % g):
            continue
        options.append((g, b, out))
    if not options:
        return None
    g = draw(st.sampled_from(sorted({o[0] for o in options})))  # groups first: most options have g = 1
    g, b, out = draw(st.sampled_from([o for o in options if o[0] == g]))
    args: dict = {"out": out, "bottleneck": b, "kernel": draw(st.sampled_from(KERNELS))}
    if kind == "shufflenet_unit":
        args.update(groups=g, shuffle=draw(st.booleans()), pw1_grouped=c % g == 0 and draw(st.booleans()))
    return args


def block(draw, net: Net) -> None:
    c, h, w = net.shape
    kind = draw(st.sampled_from(("conv_bn_act", "dwsep", "bottleneck", "shufflenet_unit")))
    stride = draw(st.sampled_from((1, 2)))
    oh, ow = size(h, 3, stride, 1), size(w, 3, stride, 1)  # odd kernels at their default padding
    if kind == "conv_bn_act":
        g = draw(st.sampled_from(divisors(c)))
        args = {"out": g * draw(st.integers(1, 3)), "kernel": draw(st.sampled_from(KERNELS)), "groups": g,
                "act": draw(st.sampled_from(ACTS))}
    elif kind == "dwsep":
        args = {"out": draw(st.integers(1, 12)), "kernel": draw(st.sampled_from(KERNELS)),
                "act": draw(st.sampled_from(ACTS))}
    else:
        args = unit_args(draw, c, stride, kind)
        if args is None:
            return
    name = net.name()
    net.add(_flow(op=kind, name=name, stride=stride, **args), (args["out"], oh, ow), name)


def stage(draw, net: Net) -> None:
    c, h, w = net.shape
    kind = draw(st.sampled_from(("conv_bn_act", "dwsep", "bottleneck", "shufflenet_unit")))
    repeat, stride = draw(st.integers(1, 3)), draw(st.sampled_from((1, 2)))
    if kind == "conv_bn_act":
        g = draw(st.sampled_from(divisors(c)))
        args = {"out": g * draw(st.integers(1, 3)), "groups": g, "kernel": draw(st.sampled_from(KERNELS))}
    elif kind == "dwsep":
        args = {"out": draw(st.integers(1, 12)), "kernel": draw(st.sampled_from(KERNELS))}
    else:
        args = unit_args(draw, c, stride, kind, repeat)
        if args is None:
            return
    first = {}
    if kind == "shufflenet_unit":
        first = {"pw1_grouped": args.pop("pw1_grouped")}
    name = net.name()
    oh, ow = size(h, 3, stride, 1), size(w, 3, stride, 1)
    stride_text = "" if stride == 2 and draw(st.booleans()) else f", stride: {stride}"  # the default stride is 2
    first_text = f", first: {_flow(**first)}" if first else ""
    net.lines.append(f"  - {{stage: {name}, repeat: {repeat}{stride_text}, "
                     f"unit: {_flow(op=kind, **args)}{first_text}}}")
    net.shape, net.current = (args["out"], oh, ow), name


def shufflenet_stage(draw, net: Net) -> None:
    """ShuffleNet's pattern: a 1x1 conv to a multiple of g channels, then a stage of grouped units whose width is a
    multiple of 4g (so that the bottleneck, a quarter, splits into g groups)."""
    g = draw(st.sampled_from((2, 3, 4)))
    c0 = g * draw(st.integers(1, 3))
    name = net.name()
    net.add(_flow(op="conv2d", name=name, out=c0, kernel=1), (c0, *net.shape[1:]), name)
    out = 4 * g * draw(st.integers(c0 // (4 * g) + 1, c0 // (4 * g) + 2))
    unit = _flow(op="shufflenet_unit", out=out, groups=g, shuffle=draw(st.booleans()),
                 kernel=draw(st.sampled_from(KERNELS)))
    name = net.name()
    first = _flow(pw1_grouped=draw(st.booleans()))
    net.lines.append(f"  - {{stage: {name}, repeat: {draw(st.integers(1, 3))}, unit: {unit}, first: {first}}}")
    h, w = net.shape[1:]
    net.shape, net.current = (out, size(h, 3, 2, 1), size(w, 3, 2, 1)), name


def head(draw, net: Net) -> None:
    if draw(st.booleans()):
        name = net.name()
        net.add(_flow(op="global_avgpool", name=name), (net.shape[0], 1, 1), name)
    name = net.name()
    n = net.shape[0] * net.shape[1] * net.shape[2]
    net.add(_flow(op="flatten", name=name), (n,), name)
    if draw(st.booleans()):
        name = net.name()
        net.add(_flow(op="batchnorm", name=name), (n,), name)
    if draw(st.booleans()):
        pointwise(draw, net)
    name, out = net.name(), draw(st.integers(1, 10))
    net.add(_flow(op="linear", name=name, out=out, bias=draw(st.booleans())), (out,), name)


STEPS = (conv, pool, simple, pointwise, residual, concat, block, stage, shufflenet_stage, deconv, resize)


@st.composite
def random_specs(draw) -> tuple[str, tuple[int, ...]]:
    """(YAML text, the expected output shape)."""
    c = draw(st.sampled_from((1, 2, 3, 4, 6, 8, 12)))
    h = draw(st.integers(3, 17))
    w = h if draw(st.booleans()) else draw(st.integers(3, 17))
    net = Net((c, h, w))
    for step in draw(st.lists(st.sampled_from(STEPS), min_size=1, max_size=6)):
        step(draw, net)
    if not net.lines:
        conv(draw, net)
    if draw(st.booleans()):
        head(draw, net)
    return net.yaml((c, h, w)), net.shape


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("specs")


_counter = itertools.count()


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=random_specs())
def test_analytic_equals_fvcore_equals_torch(spec_dir: Path, case: tuple[str, tuple[int, ...]]) -> None:
    text, expected_out = case
    path = spec_dir / f"random{next(_counter)}.yaml"  # a new file each time: specs are cached by path and mtime
    path.write_text(text)
    assert_verified(path, text, expected_out)


def assert_verified(path: Path, text: str, expected_out: tuple[int, ...] | None) -> Any:
    """`verify` of the spec at `path` (YAML `text`, shown on failure): analytic == fvcore == torch in total, per
    operator and per layer, and the output shape `expected_out` (None: not checked). Returns the verification."""
    v = verify(str(path))
    if expected_out is not None:
        assert v.output == expected_out, text
    assert v.torch_output == v.output, text
    assert v.torch_params == v.params, text
    assert v.fvcore == v.fvcore_flops, text
    assert v.fvcore_by_operator == v.analytic_by_operator, text
    assert v.torch_flops == 2 * v.macs, text
    for layer in v.layers:
        assert (layer.torch_out, layer.torch_params, layer.torch_flops, layer.fvcore) == (
            layer.out, layer.params, layer.flops, layer.fvcore_flops), (layer.name, text)
    assert v.mismatches == () and v.result == "PASS", (v.mismatches, text)
    return v
