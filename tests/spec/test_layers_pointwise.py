"""The pointwise kinds of issue 14: activations, norms, stochastic depth and layer scale.

Every number here comes from outside the engine: hand arithmetic written out beside each case (fvcore 0.1.5's
``norm_flop_counter`` counts 5 per input element with an affine weight, 4 without; the activations are unsupported
by fvcore and count 0), fvcore's FlopCountAnalysis and torch's FlopCounterMode run on the module, the torch modules'
own parameters and output shapes, and the operations' formulas written out with torch primitives (the model is the
right model, not only the right count).
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

import shufflecalc
from shufflecalc.spec.blocks import BLOCKS
from shufflecalc.spec.layers import KINDS, LayerError
from shufflecalc.spec.templates import evaluate

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")
nn = torch.nn

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from shufflecalc.bridge.modules import torch_module  # noqa: E402 (needs torch)
from shufflecalc.bridge.verify import fvcore_operator, verify  # noqa: E402

NEW_KINDS = {"silu", "gelu", "leaky_relu", "elu", "tanh", "hardtanh", "prelu", "softmax", "layernorm", "groupnorm",
             "instancenorm", "drop_path", "layer_scale"}

IMAGE, FLAT, TOKENS = (8, 5, 6), (20,), (4, 6)  # C x H x W, a flat vector, tokens T x C
N_IMAGE, N_FLAT, N_TOKENS = 8 * 5 * 6, 20, 4 * 6  # elements: 240, 20, 24

# (kind, arguments, input shape, params, fvcore count, operator class), all written out by hand.
EXPECTED: list[tuple[str, dict[str, Any], tuple[int, ...], int, int, str]] = [
    ("silu", {}, IMAGE, 0, 0, "elementwise"),
    ("silu", {}, TOKENS, 0, 0, "elementwise"),
    ("gelu", {}, IMAGE, 0, 0, "elementwise"),
    ("gelu", {"approximate": "tanh"}, FLAT, 0, 0, "elementwise"),
    ("gelu", {}, TOKENS, 0, 0, "elementwise"),
    ("leaky_relu", {"negative_slope": 0.2}, IMAGE, 0, 0, "elementwise"),
    ("elu", {"alpha": 0.5}, FLAT, 0, 0, "elementwise"),
    ("tanh", {}, TOKENS, 0, 0, "elementwise"),
    ("hardtanh", {"min_val": 0.0, "max_val": 6.0}, IMAGE, 0, 0, "elementwise"),
    ("prelu", {}, IMAGE, 1, 0, "elementwise"),  # one shared slope
    ("prelu", {"num_parameters": 8}, IMAGE, 8, 0, "elementwise"),  # one per channel
    ("prelu", {"num_parameters": 20}, FLAT, 20, 0, "elementwise"),  # one per feature
    ("prelu", {"num_parameters": 4}, TOKENS, 4, 0, "elementwise"),  # PyTorch's rule: torch's dim 1, the T tokens
    ("softmax", {"dim": 0}, IMAGE, 0, 0, "softmax"),
    ("softmax", {"dim": -1}, TOKENS, 0, 0, "softmax"),
    ("softmax", {"dim": 0}, FLAT, 0, 0, "softmax"),
    ("layernorm", {}, IMAGE, 2 * 8, 5 * N_IMAGE, "layernorm"),  # gamma, beta over C = 8
    ("layernorm", {"bias": False}, IMAGE, 8, 5 * N_IMAGE, "layernorm"),  # fvcore looks at the weight only
    ("layernorm", {"elementwise_affine": False}, IMAGE, 0, 4 * N_IMAGE, "layernorm"),
    ("layernorm", {"eps": 1e-6}, TOKENS, 2 * 6, 5 * N_TOKENS, "layernorm"),  # over C = 6, the last axis
    ("layernorm", {}, FLAT, 2 * 20, 5 * N_FLAT, "layernorm"),
    ("groupnorm", {"groups": 4}, IMAGE, 2 * 8, 5 * N_IMAGE, "groupnorm"),
    ("groupnorm", {"groups": 1, "affine": False}, IMAGE, 0, 4 * N_IMAGE, "groupnorm"),
    ("instancenorm", {}, IMAGE, 0, 4 * N_IMAGE, "instancenorm"),  # no affine by default, as nn.InstanceNorm2d
    ("instancenorm", {"affine": True}, IMAGE, 2 * 8, 5 * N_IMAGE, "instancenorm"),
    ("drop_path", {"p": 0.1}, IMAGE, 0, 0, "other"),
    ("drop_path", {"p": 0.5}, TOKENS, 0, 0, "other"),
    ("layer_scale", {}, IMAGE, 8, 0, "elementwise"),  # a C x 1 x 1 parameter
    ("layer_scale", {"init": 0.1}, TOKENS, 6, 0, "elementwise"),  # one per channel, the last axis
    ("layer_scale", {}, FLAT, 20, 0, "elementwise"),
]


def _full(op: str, **attrs: Any) -> dict[str, Any]:
    return {**KINDS[op].defaults, **attrs}


def _module(op: str, shape: tuple[int, ...], **attrs: Any) -> Any:
    return torch_module(op, _full(op, **attrs), (shape,)).eval()


def _fvcore(module: Any, x: Any) -> tuple[int, dict[str, int]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        fa = FlopCountAnalysis(module, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(fa.total()), dict(fa.unsupported_ops())


def test_every_new_kind_has_a_hand_written_case() -> None:
    assert set(KINDS) >= NEW_KINDS
    assert {case[0] for case in EXPECTED} == NEW_KINDS


@pytest.mark.parametrize("op, attrs, shape, params, fvcore_flops, op_class", EXPECTED)
def test_rule_and_torch_module_against_hand_counts(op: str, attrs: dict, shape: tuple, params: int,
                                                   fvcore_flops: int, op_class: str) -> None:
    """The rule's numbers are the hand counts; the torch module has those parameters and that output shape; fvcore
    reports that count and leaves out exactly the kind's aten op where it is unsupported; FlopCounterMode counts 0."""
    full, numbers = evaluate(op, tuple(sorted(attrs.items())), (shape,))
    assert (numbers.out, numbers.params, numbers.macs, numbers.fvcore_flops, numbers.op_class) == (
        shape, params, 0, fvcore_flops, op_class)
    n = math.prod(shape)
    assert numbers.activations == 0
    assert numbers.memory_access == (0 if op == "drop_path" else n + n + params)  # input + output + parameters

    module = torch_module(op, full, (shape,)).eval()
    x = torch.randn(1, *shape)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        y = module(x)
    assert tuple(y.shape[1:]) == shape
    assert sum(p.numel() for p in module.parameters()) == params
    assert counter.get_total_flops() == 0
    total, unsupported = _fvcore(module, x)
    assert total == fvcore_flops
    kind = KINDS[op]
    assert unsupported == ({kind.aten[0]: 1} if kind.fvcore == "unsupported" else {})
    assert (total > 0) == (kind.fvcore == "counted")


# --- through verify: analytic == fvcore == FlopCounterMode == torch, layer by layer ----------------------------------

IMAGE_SPEC = """
name: pointwise_image
input: [8, 5, 6]
layers:
  - {op: conv2d, name: conv, out: 8, kernel: 3}
  - {op: silu, name: silu}
  - {op: gelu, name: gelu}
  - {op: gelu, name: gelu_tanh, approximate: tanh}
  - {op: leaky_relu, name: leaky, negative_slope: 0.2}
  - {op: elu, name: elu, alpha: 0.5}
  - {op: tanh, name: tanh}
  - {op: hardtanh, name: hardtanh, min_val: -2.0, max_val: 3.0}
  - {op: prelu, name: prelu1}
  - {op: prelu, name: prelu8, num_parameters: 8}
  - {op: softmax, name: softmax_c, dim: 0}
  - {op: softmax, name: softmax_w, dim: -1}
  - {op: layernorm, name: ln, eps: 1.0e-6}
  - {op: layernorm, name: ln_nobias, bias: false}
  - {op: layernorm, name: ln_plain, elementwise_affine: false}
  - {op: groupnorm, name: gn, groups: 4}
  - {op: groupnorm, name: gn_plain, groups: 2, affine: false}
  - {op: instancenorm, name: inorm}
  - {op: instancenorm, name: inorm_affine, affine: true}
  - {op: layer_scale, name: ls}
  - {op: drop_path, name: dp, p: 0.1}
  - {op: add, name: residual, inputs: [dp, conv]}
  - {op: global_avgpool, name: pool}
  - {op: flatten, name: flat}
  - {op: layernorm, name: ln_flat}
  - {op: gelu, name: gelu_flat}
  - {op: softmax, name: softmax_flat, dim: 0}
  - {op: prelu, name: prelu_flat, num_parameters: 8}
  - {op: layer_scale, name: ls_flat, init: 0.5}
  - {op: drop_path, name: dp_flat, p: 0.2}
  - {op: linear, name: fc, out: 3}
"""

# fvcore's count per layer of IMAGE_SPEC, by hand: conv 8 * 8 * 9 * 5 * 6 MACs; the norms 5 (affine weight) or 4
# per element of 8 x 5 x 6 = 240; global_avgpool 1 per input element; the layernorm on the flat 8: 5 * 8; fc 8 * 3.
FVCORE = {"conv": 8 * 8 * 9 * 30, "ln": 5 * 240, "ln_nobias": 5 * 240, "ln_plain": 4 * 240, "gn": 5 * 240,
          "gn_plain": 4 * 240, "inorm": 4 * 240, "inorm_affine": 5 * 240, "pool": 240, "ln_flat": 5 * 8, "fc": 24}
PARAMS = {"conv": 8 * 8 * 9, "prelu1": 1, "prelu8": 8, "ln": 16, "ln_nobias": 8, "gn": 16, "inorm_affine": 16,
          "ls": 8, "ln_flat": 16, "prelu_flat": 8, "ls_flat": 8, "fc": 8 * 3 + 3}


@pytest.fixture(scope="module")
def image_verification(tmp_path_factory) -> Any:
    path = tmp_path_factory.mktemp("pointwise") / "image.yaml"
    path.write_text(IMAGE_SPEC)
    return verify(str(path))


def test_verify_passes_on_every_new_kind(image_verification: Any) -> None:
    v = image_verification
    assert v.ok and v.mismatches == ()
    assert {layer.op for layer in v.layers} >= NEW_KINDS
    assert {layer.name: layer.fvcore for layer in v.layers if layer.fvcore} == FVCORE
    assert {layer.name: layer.torch_params for layer in v.layers if layer.torch_params} == PARAMS
    assert v.torch_flops == 2 * (8 * 8 * 9 * 30 + 24)  # FlopCounterMode: the conv and the linear layer only
    assert v.fvcore_by_operator == {"conv": 17_280, "layer_norm": 1200 + 1200 + 960 + 40, "group_norm": 1200 + 960,
                                    "instance_norm": 960 + 1200, "adaptive_avg_pool2d": 240, "linear": 24}
    for layer in v.layers:
        assert layer.torch_out == layer.out, layer.name


def test_fvcore_treats_each_layer_as_its_kind_says(image_verification: Any) -> None:
    """Counted kinds: fvcore counts their first aten op and at most ignores the others (layernorm's two permutes
    on C x H x W); unsupported kinds: fvcore left out their aten op, once; drop_path: no operator at all."""
    for layer in image_verification.layers:
        kind = KINDS[layer.op]
        if layer.op not in NEW_KINDS:
            continue
        if kind.fvcore == "counted":
            assert set(layer.fvcore_counted) == {fvcore_operator(layer.op)}, layer.name
            assert not layer.fvcore_unsupported and set(layer.fvcore_ignored) <= set(kind.aten[1:]), layer.name
        elif kind.fvcore == "unsupported":
            assert layer.fvcore_unsupported == {kind.aten[0]: 1} and not layer.fvcore_counted, layer.name
        else:
            assert set(layer.fvcore_ignored) == set(kind.aten) and not layer.fvcore_unsupported, layer.name
    layers = {layer.name: layer for layer in image_verification.layers}
    assert layers["ln"].fvcore_ignored == {"aten::permute": 2} and layers["ln_flat"].fvcore_ignored == {}
    assert layers["dp"].fvcore_ignored == {} and layers["dp"].fvcore_counted == {}


def test_memory_access_of_the_identity_kinds_is_zero(image_verification: Any) -> None:
    layers = {layer.name: layer for layer in shufflecalc.analyze(image_verification.source).layers}
    assert layers["dp"].memory_access == layers["dp_flat"].memory_access == 0
    assert layers["ln"].memory_access == 240 + 240 + 16  # input + output + gamma and beta
    assert layers["ls_flat"].memory_access == 8 + 8 + 8


# --- the model is the right model: each module against the operation written out ---------------------------------


def _ref_layernorm(x: Any, axis: int, weight: Any, bias: Any, eps: float) -> Any:
    mean = x.mean(axis, keepdim=True)
    var = ((x - mean) ** 2).mean(axis, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def test_activations_compute_their_formulas() -> None:
    x = torch.randn(2, *IMAGE, generator=torch.Generator().manual_seed(1)) * 3
    sig = 1 / (1 + torch.exp(-x))
    refs = {
        ("silu", ()): x * sig,
        ("gelu", ()): 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
        ("gelu", (("approximate", "tanh"),)):
            0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
        ("leaky_relu", ()): torch.where(x > 0, x, 0.01 * x),
        ("leaky_relu", (("negative_slope", 0.2),)): torch.where(x > 0, x, 0.2 * x),
        ("elu", ()): torch.where(x > 0, x, torch.exp(x) - 1),
        ("elu", (("alpha", 0.5),)): torch.where(x > 0, x, 0.5 * (torch.exp(x) - 1)),
        ("tanh", ()): (torch.exp(2 * x) - 1) / (torch.exp(2 * x) + 1),
        ("hardtanh", ()): torch.minimum(torch.maximum(x, torch.tensor(-1.0)), torch.tensor(1.0)),
        ("hardtanh", (("max_val", 6.0), ("min_val", 0.0))): torch.minimum(torch.relu(x), torch.tensor(6.0)),
        ("prelu", ()): torch.where(x >= 0, x, 0.25 * x),  # PyTorch's initial slope
    }
    for (op, attrs), expected in refs.items():
        y = _module(op, IMAGE, **dict(attrs))(x)
        assert torch.allclose(y, expected, atol=1e-5), (op, attrs)


def test_prelu_per_channel_and_softmax_axes() -> None:
    x = torch.randn(2, *IMAGE)
    prelu = _module("prelu", IMAGE, num_parameters=8, init=0.1)
    with torch.no_grad():
        prelu.weight.copy_(torch.arange(8.0) / 8)
    slope = (torch.arange(8.0) / 8).view(1, 8, 1, 1)
    assert torch.allclose(prelu(x), torch.where(x >= 0, x, slope * x))

    e = torch.exp(x)
    channels = _module("softmax", IMAGE, dim=0)(x)  # the spec's axis 0: the channels, torch's dim 1
    assert torch.allclose(channels, e / e.sum(1, keepdim=True), atol=1e-6)
    assert torch.allclose(channels.sum(1), torch.ones(2, 5, 6))
    for dim in (2, -1):  # the last axis (W), counted from either end
        assert torch.allclose(_module("softmax", IMAGE, dim=dim)(x), e / e.sum(3, keepdim=True), atol=1e-6)
    t = torch.randn(3, *TOKENS)
    assert torch.allclose(_module("softmax", TOKENS, dim=-1)(t), torch.exp(t) / torch.exp(t).sum(2, keepdim=True))
    assert torch.allclose(_module("softmax", TOKENS, dim=0)(t), torch.exp(t) / torch.exp(t).sum(1, keepdim=True))
    f = torch.randn(3, *FLAT)
    assert torch.allclose(_module("softmax", FLAT, dim=0)(f), torch.exp(f) / torch.exp(f).sum(1, keepdim=True))


def test_norms_compute_their_formulas() -> None:
    x = torch.randn(2, *IMAGE) * 2 + 1
    w, b = torch.randn(8), torch.randn(8)

    ln = _module("layernorm", IMAGE, eps=1e-6)  # over the channels at each position (ConvNeXt's LayerNorm2d)
    with torch.no_grad():
        ln.weight.copy_(w)
        ln.bias.copy_(b)
    assert torch.allclose(ln(x), _ref_layernorm(x, 1, w.view(1, 8, 1, 1), b.view(1, 8, 1, 1), 1e-6), atol=1e-5)
    ln_plain = _module("layernorm", IMAGE, elementwise_affine=False)
    assert torch.allclose(ln_plain(x), _ref_layernorm(x, 1, 1.0, 0.0, 1e-5), atol=1e-5)
    t = torch.randn(3, *TOKENS)
    ln_tokens = _module("layernorm", TOKENS)  # over C, the last axis, as nn.LayerNorm
    assert ln_tokens.weight.shape == (6,)
    assert torch.allclose(ln_tokens(t), _ref_layernorm(t, -1, 1.0, 0.0, 1e-5), atol=1e-5)
    f = torch.randn(3, *FLAT)
    assert torch.allclose(_module("layernorm", FLAT)(f), _ref_layernorm(f, -1, 1.0, 0.0, 1e-5), atol=1e-5)

    gn = _module("groupnorm", IMAGE, groups=4)
    with torch.no_grad():
        gn.weight.copy_(w)
        gn.bias.copy_(b)
    grouped = _ref_layernorm(x.reshape(2, 4, -1), 2, 1.0, 0.0, 1e-5).reshape(x.shape)  # 2 channels x 30 per group
    assert torch.allclose(gn(x), grouped * w.view(1, 8, 1, 1) + b.view(1, 8, 1, 1), atol=1e-5)

    inorm = _module("instancenorm", IMAGE)  # each channel of each sample over its H x W
    per_channel = _ref_layernorm(x.reshape(2, 8, -1), 2, 1.0, 0.0, 1e-5).reshape(x.shape)
    assert torch.allclose(inorm(x), per_channel, atol=1e-5)
    assert list(inorm.buffers()) == []  # no running statistics: eval mode normalizes by the input's own


def test_layer_scale_is_convnexts() -> None:
    """torchvision's CNBlock: ``nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)``, applied as ``layer_scale * x``."""
    ls = _module("layer_scale", IMAGE)
    (scale,) = ls.parameters()
    assert scale.shape == (8, 1, 1) and torch.equal(scale, torch.ones(8, 1, 1) * 1e-6)
    x = torch.randn(2, *IMAGE)
    with torch.no_grad():
        scale.copy_(torch.arange(1.0, 9.0).view(8, 1, 1))
    assert torch.equal(ls(x), torch.arange(1.0, 9.0).view(1, 8, 1, 1) * x)
    tokens = _module("layer_scale", TOKENS, init=0.5)
    (scale,) = tokens.parameters()
    t = torch.randn(3, *TOKENS)
    assert scale.shape == (6,) and torch.equal(tokens(t), 0.5 * t)


def test_drop_path_is_the_identity_in_eval_and_stochastic_depth_in_training() -> None:
    """torchvision.ops.stochastic_depth(x, p, "row", training), written out: in training, an (N, 1, ..., 1) mask of
    bernoulli(1 - p) draws divided by 1 - p; in eval mode (or at p = 0) the input itself."""
    torch.manual_seed(0)  # a fixed input: an element that is exactly 0.0 would make a kept row look half dropped
    x = torch.randn(2000, *TOKENS)
    assert bool((x != 0).all())
    dp = _module("drop_path", TOKENS, p=0.3)
    assert dp(x) is x
    assert _module("drop_path", TOKENS, p=0.0).train()(x) is x
    dp.train()
    torch.manual_seed(7)
    y = dp(x)
    torch.manual_seed(7)
    mask = torch.empty(2000, 1, 1).bernoulli_(0.7) / 0.7
    assert torch.equal(y, x * mask)
    kept = (y != 0).flatten(1).all(1)
    assert torch.equal(kept | (y == 0).flatten(1).all(1), torch.ones(2000, dtype=torch.bool))  # whole rows only
    assert torch.allclose(y[kept], x[kept] / 0.7)
    assert 1300 < int(kept.sum()) < 1500  # 2000 x 0.7 = 1400, 5 standard deviations (20.5 each) either side
    assert torch.equal(_module("drop_path", TOKENS, p=1.0).train()(x), torch.zeros_like(x))


# --- block activations: the `act` choices and the modules they build --------------------------------------------

ACT_REFERENCE = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hardswish": nn.Hardswish, "silu": nn.SiLU, "gelu": nn.GELU,
                 "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "tanh": nn.Tanh}


def test_block_act_choices_are_the_argument_free_activations() -> None:
    for block in ("conv_bn_act", "dwsep", "inverted_residual", "squeeze_excitation"):
        assert set(BLOCKS[block].args["act"].choices) == set(ACT_REFERENCE) | {"none"}, block
    for block, gate in (("squeeze_excitation", "scale_act"), ("inverted_residual", "se_scale")):
        assert set(BLOCKS[block].args[gate].choices) == {"sigmoid", "hardsigmoid"}, block
    for act in ACT_REFERENCE:
        assert all(not arg.required for arg in KINDS[act].args.values()), act


def _copy_weights(model: Any, reference: Any) -> None:
    """The reference's parameters and buffers into the model, position by position (one order of modules)."""
    model.load_state_dict(dict(zip(model.state_dict(), reference.state_dict().values(), strict=True)))


def _randomize_batchnorms(module: Any) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)


BLOCKS_SPEC = "input: [6, 7, 7]\nlayers:\n" + "".join(
    f"  - {{op: conv_bn_act, name: u_{act}, out: 6, act: {act}}}\n" for act in ACT_REFERENCE) + (
    "  - {op: dwsep, name: sep, out: 8, act: gelu}\n"
    "  - {op: squeeze_excitation, name: se, squeeze: 4, act: silu}\n"
)


def _reference_blocks() -> Any:
    """The network of BLOCKS_SPEC written by hand: torchvision's Conv2dNormActivation for each act, MobileNet's
    depthwise-separable pair with GELU, EfficientNet's squeeze-and-excitation (SiLU inside, sigmoid gate)."""

    def conv_bn(c_in: int, c_out: int, k: int, groups: int, act: Any) -> list[Any]:
        return [nn.Conv2d(c_in, c_out, k, 1, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out), act()]

    class SqueezeExcitation(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.avgpool, self.fc1, self.activation = nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 4, 1), nn.SiLU()
            self.fc2, self.scale_activation = nn.Conv2d(4, 8, 1), nn.Sigmoid()

        def forward(self, x: Any) -> Any:
            return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x

    layers = [m for act in ACT_REFERENCE.values() for m in conv_bn(6, 6, 3, 1, act)]
    layers += conv_bn(6, 6, 3, 6, nn.GELU) + conv_bn(6, 8, 1, 1, nn.GELU)
    return nn.Sequential(*layers, SqueezeExcitation())


def test_blocks_with_each_act_are_the_hand_written_networks(tmp_path: Path) -> None:
    path = tmp_path / "acts.yaml"
    path.write_text(BLOCKS_SPEC)
    model = shufflecalc.build_model(str(path))
    names = [layer.name for layer in model.graph.layers]
    assert [f"u_{act}.{act}" in names for act in ACT_REFERENCE] == [True] * len(ACT_REFERENCE)
    assert {"sep.dw_gelu", "sep.pw_gelu", "se.silu", "se.sigmoid"} <= set(names)
    torch.manual_seed(0)
    reference = _reference_blocks().eval()
    _randomize_batchnorms(reference)
    _copy_weights(model, reference)
    x = torch.randn(2, 6, 7, 7)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-5)
    for act, cls in ACT_REFERENCE.items():
        assert type(dict(model.named_modules())[f"u_{act}.{act}"]) is cls, act
    v = verify(str(path))
    assert v.ok and v.torch_params == sum(p.numel() for p in reference.parameters())


# --- mistakes --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op, shape, attrs, arg, message", [
    ("prelu", IMAGE, {"num_parameters": 3}, "num_parameters", "num_parameters must be 1 or the input's channels (8)"),
    ("prelu", FLAT, {"num_parameters": 8}, "num_parameters", "must be 1 or the input's features (20), got 8"),
    ("prelu", TOKENS, {"num_parameters": 6}, "num_parameters",
     "num_parameters must be 1 or the input's size of axis 0 (torch's PReLU scales dim 1) (4), got 6"),
    ("softmax", IMAGE, {"dim": -4}, "dim", "dim -4 is out of range for a 8x5x6 input: -3 to 2"),
    ("softmax", FLAT, {"dim": 1}, "dim", "dim 1 is out of range for a 20 input: -1 to 0"),
    ("hardtanh", IMAGE, {"min_val": 1.0, "max_val": 1.0}, "max_val", "max_val 1 must be above min_val 1"),
    ("groupnorm", IMAGE, {"groups": 3}, "groups", "8 channels are not divisible by groups=3"),
    ("groupnorm", (8, 1, 1), {"groups": 8}, "groups", "groups=8 leaves one value per group"),
    ("groupnorm", FLAT, {"groups": 2}, None, "groupnorm needs a C x H x W input, got 20"),
    ("instancenorm", TOKENS, {}, None, "instancenorm needs a C x H x W input, got 4x6"),
    ("instancenorm", (8, 1, 1), {}, None, "instancenorm needs more than one spatial element, got 8x1x1"),
])
def test_rule_errors(op: str, shape: tuple, attrs: dict, arg: str | None, message: str) -> None:
    with pytest.raises(LayerError, match=re.escape(message)) as info:
        KINDS[op].rule(_full(op, **attrs), (shape,))
    assert info.value.arg == arg


def test_errors_name_the_file_line_and_argument(write_spec) -> None:
    cases = [
        ("  - {op: prelu, name: p, num_parameters: 3}\n",
         "my.yaml:4 layers[1].num_parameters: num_parameters must be 1 or the input's channels (6), got 3 (in p)"),
        ("  - {op: groupnorm, name: g, groups: 4}\n",
         "my.yaml:4 layers[1].groups: 6 channels are not divisible by groups=4 (in g)"),
        ("  - {op: softmax, name: s}\n", "my.yaml:4 layers[1]: missing required argument 'dim'"),
        ("  - {op: softmax, name: s, dim: 3}\n", "my.yaml:4 layers[1].dim: must be at most 2, got 3"),
        ("  - {op: gelu, name: g, approximate: fast}\n",
         "my.yaml:4 layers[1].approximate: must be one of none, tanh, got 'fast'"),
        ("  - {op: drop_path, name: d, p: 1.5}\n", "my.yaml:4 layers[1].p: must be at most 1.0, got 1.5"),
    ]
    for line, message in cases:
        path = write_spec("input: [3, 5, 5]\nlayers:\n  - {op: conv2d, name: c, out: 6, kernel: 1}\n" + line)
        with pytest.raises(shufflecalc.ShufflecalcError) as info:
            shufflecalc.analyze(path)
        assert str(info.value).replace(path, "my.yaml") == message
