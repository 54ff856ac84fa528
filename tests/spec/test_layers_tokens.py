"""Token kinds (to_tokens, class_token, position_embedding, select_token, multihead_attention), linear on any rank,
user blocks on tokens, and the built-in `vit` spec against torchvision's figures and a hand-written torch ViT."""

from __future__ import annotations

import json

import pytest

from shufflecalc import analyze
from shufflecalc.errors import ShufflecalcError
from shufflecalc.spec.layers import KINDS, MACS_TERMS, LayerError

# torchvision 0.29.1's ViTs (weights=None, eval, one 3 x 224 x 224 image), measured in the torchvision virtualenv
# (torch 2.14.1, fvcore 0.1.5.post20221221) with:
#   m = getattr(torchvision.models, f"vit_{size}")(weights=None).eval(); x = torch.randn(1, 3, 224, 224)
#   params = sum(p.numel() for p in m.parameters())
#   torch.backends.mha.set_fastpath_enabled(False)
#   with sdpa_kernel(SDPBackend.MATH), torch.no_grad(), FlopCounterMode(display=False) as c: m(x)
#   macs = c.get_total_flops() // 2;  fvcore = FlopCountAnalysis(m, x).total()
TORCHVISION = {  # size: (params, MACs, fvcore)
    "b_16": (86_567_656, 17_563_828_224, 16_867_412_736),
    "b_32": (88_224_232, 4_409_186_304, 4_367_906_304),
    "l_16": (304_326_632, 61_554_712_576, 59_696_595_968),
    "l_32": (306_535_400, 15_377_539_072, 15_267_203_072),
}
# The same model with torch's default attention kernel (Q.K^T and A.V not seen by FlopCounterMode): vit_b_16 counts
# 16,848,500,736 MACs, and 11,271,124,992 under no_grad with MultiheadAttention's fast path on (no attention at all).


def _eval(op: str, ins: tuple, **attrs: object):
    kind = KINDS[op]
    full = {**kind.defaults, **attrs}
    return full, kind.rule(full, ins)


# --- the vit spec, analytic (no torch) ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", sorted(TORCHVISION))
def test_vit_equals_torchvision(size: str) -> None:
    a = analyze("vit", size=size)
    assert (a.params, a.macs, a.fvcore_flops) == TORCHVISION[size]
    assert a.graph.input == (3, 224, 224) and a.graph.output == (1000,)


def test_vit_b_16_by_hand() -> None:
    """vit_b_16: 14 x 14 patches + the class token = 197 tokens of 768, 12 layers, MLP 3072, 1000 classes."""
    t, c, mlp, layers = 197, 768, 3072, 12
    patch = 768 * 3 * 16 * 16 * 14 * 14  # conv_proj
    attention = 3 * t * c * c + t * t * c + t * t * c + t * c * c
    per_layer = attention + 2 * t * c * mlp
    a = analyze("vit")
    assert a.macs == patch + layers * per_layer + c * 1000
    params_layer = 4 * c * c + 4 * c + 2 * (2 * c) + (c * mlp + mlp) + (mlp * c + c)
    assert a.params == (c * 3 * 16 * 16 + c) + c + t * c + layers * params_layer + 2 * c + (c * 1000 + 1000)
    # fvcore: the projections only (scaled_dot_product_attention unsupported), 5 per layernorm element, no gelu
    layernorms = (2 * layers + 1) * t * c
    assert a.fvcore_flops == a.macs - layers * 2 * t * t * c + 5 * layernorms
    assert a.metrics(["macs_without_classifier"]) == {"macs_without_classifier": a.macs - c * 1000}


def test_vit_layer_names_follow_torchvision() -> None:
    names = {layer.name for layer in analyze("vit", size="l_32").layers}
    for name in ["conv_proj", "class_token", "encoder.pos_embedding", "encoder.dropout", "encoder.ln", "heads.head",
                 "encoder.layers.encoder_layer_0.ln_1", "encoder.layers.encoder_layer_0.self_attention",
                 "encoder.layers.encoder_layer_23.ln_2", "encoder.layers.encoder_layer_23.mlp.linear_2"]:
        assert name in names
    assert "encoder.layers.encoder_layer_24.ln_1" not in names
    assert "encoder.layers.encoder_layer_12.ln_1" not in {layer.name for layer in analyze("vit").layers}


def test_vit_resolution_must_be_divisible_by_the_patch(cli) -> None:
    from ..conftest import rejected

    message = rejected(cli, "vit", "--resolution", "225")
    assert message.startswith("specs/vit.yaml:") and "layers[3] (encoder)" in message
    assert "resolution 225 is not divisible by the patch size 16 of vit b_16" in message
    assert analyze("vit", size="b_32", resolution=256).graph.layers[1].out == (64, 768)  # 8 x 8 tokens


def test_show_states_the_attention_terms(cli) -> None:
    """`show` gives attention's MACs term by term: in a note under the table, and as `macs_terms` in the JSON, only on
    the attention layers; the terms sum to the layer's macs."""
    t, c = 50, 768  # vit_b_32: 7 x 7 patches + the class token
    terms = {"in_projection": 3 * t * c * c, "qk": t * t * c, "av": t * t * c, "out_projection": t * c * c}
    data = json.loads(cli("show", "vit", "--set", "size=b_32", "--format", "json").stdout)
    layers = data["models"][0]["layers"]
    with_terms = [layer for layer in layers if "macs_terms" in layer]
    assert {layer["op"] for layer in with_terms} == {"multihead_attention"} and len(with_terms) == 12
    assert all(layer["macs_terms"] == terms and layer["macs"] == sum(terms.values()) for layer in with_terms)
    text = cli("show", "vit", "--set", "size=b_32").stdout
    # 3 * 50 * 768^2, 50^2 * 768 twice, 50 * 768^2
    assert ("multihead_attention MACs = in_projection 88,473,600 + qk (Q.K^T) 1,920,000 + av (A.V) 1,920,000 + "
            "out_projection 29,491,200 = 121,804,800 (encoder.layers.encoder_layer_*.self_attention: 12 layers, "
            "each).") in text
    assert "macs_terms" not in cli("show", "shufflenet", "--format", "json").stdout


# --- the kinds' rules -----------------------------------------------------------------------------------------------


def test_token_shapes_and_params() -> None:
    assert _eval("to_tokens", ((768, 14, 14),))[1].out == (196, 768)
    ev = _eval("class_token", ((196, 768),))[1]
    assert (ev.out, ev.params) == ((197, 768), 768)
    ev = _eval("position_embedding", ((197, 768),))[1]
    assert (ev.out, ev.params, ev.macs) == ((197, 768), 197 * 768, 0)
    assert _eval("select_token", ((197, 768),), index=5)[1].out == (768,)


def test_from_tokens_is_the_inverse_of_to_tokens() -> None:
    ev = _eval("from_tokens", ((196, 768),))[1]  # 196 = 14 x 14: a square map by default
    assert (ev.out, ev.params, ev.macs, ev.fvcore_extra) == ((768, 14, 14), 0, 0, 0)
    assert _eval("from_tokens", ((12, 5),), height=3)[1].out == (5, 3, 4)
    assert KINDS["from_tokens"].view and KINDS["from_tokens"].fvcore == "ignored"


def test_attention_rule_by_hand() -> None:
    full, ev = _eval("multihead_attention", ((10, 48),), heads=4)
    assert ev.out == (10, 48) and ev.op_class == "attention"
    assert ev.params == 3 * 48 * 48 + 3 * 48 + 48 * 48 + 48  # in_proj weight and bias, out_proj weight and bias
    assert ev.macs == 3 * 10 * 48 * 48 + 10 * 10 * 48 + 10 * 10 * 48 + 10 * 48 * 48 == 101_760
    assert ev.macs + ev.fvcore_extra == 4 * 10 * 48 * 48  # fvcore: the two projections' linear only
    assert MACS_TERMS["multihead_attention"](full, ((10, 48),)) == {
        "in_projection": 69_120, "qk": 4_800, "av": 4_800, "out_projection": 23_040}
    assert _eval("multihead_attention", ((10, 48),), heads=3, bias=False, dim=48)[1].params == 4 * 48 * 48


def test_linear_applies_to_the_last_axis() -> None:
    ev = _eval("linear", ((80,),), out=10)[1]
    assert (ev.out, ev.params, ev.macs) == ((10,), 810, 800)  # a flat input: as before
    ev = _eval("linear", ((7, 80),), out=10)[1]
    assert (ev.out, ev.params, ev.macs) == ((7, 10), 810, 7 * 800)
    ev = _eval("linear", ((3, 4, 80),), out=10, bias=False)[1]
    assert (ev.out, ev.params, ev.macs) == ((3, 4, 10), 800, 12 * 800)


@pytest.mark.parametrize("op, ins, attrs, message", [
    ("to_tokens", ((12, 8),), {}, "to_tokens needs a C x H x W input"),
    ("class_token", ((8, 3, 3),), {}, r"class_token needs tokens \(T x C\), got 8x3x3 \(to_tokens turns"),
    ("position_embedding", ((8,),), {}, r"position_embedding needs tokens \(T x C\), got 8$"),
    ("select_token", ((5, 8),), {"index": 5}, r"index 5 is out of range for 5 tokens \(0 to 4\)"),
    ("from_tokens", ((12, 8),), {}, r"12 tokens are no square map: give the height \(tokens = height x width\)"),
    ("from_tokens", ((12, 8),), {"height": 5}, "12 tokens are not divisible by height=5"),
    ("from_tokens", ((4, 3, 3),), {}, r"from_tokens needs tokens \(T x C\), got 4x3x3"),
    ("multihead_attention", ((5, 8),), {"heads": 3}, "the embedding dim 8 is not divisible by heads=3"),
    ("multihead_attention", ((5, 8),), {"heads": 2, "dim": 16}, "dim 16 must equal the input's features C = 8"),
    ("multihead_attention", ((4, 5, 8),), {"heads": 2}, r"multihead_attention needs tokens \(T x C\)"),
])
def test_rule_errors(op: str, ins: tuple, attrs: dict, message: str) -> None:
    with pytest.raises(LayerError, match=message):
        _eval(op, ins, **attrs)


def test_a_mistake_on_tokens_names_file_line_and_path(write_spec) -> None:
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - {op: conv2d, out: 6, kernel: 4, stride: 4, padding: 0}\n"
                      "  - {op: to_tokens}\n  - {op: multihead_attention, name: att, heads: 4}\n")
    with pytest.raises(ShufflecalcError) as info:
        analyze(path)
    assert str(info.value).endswith("my.yaml:5 layers[2].heads: the embedding dim 6 is not divisible by heads=4 "
                                    "(in att)")


BLOCK_ON_TOKENS = """
blocks:
  widen:
    define:
      wide: "2 * in_channels + in_tokens"
    layers:
      - {op: linear, name: up, out: wide}
      - {op: linear, name: down, out: in_channels}
  head:
    layers:
      - {op: linear, name: fc, out: "in_channels // 2"}
input: [4, 6, 6]
layers:
  - {op: conv2d, name: patch, out: 8, kernel: 3, stride: 3, padding: 0}
  - {op: to_tokens, name: tokens}
  - {op: widen, name: block}
  - {op: select_token, name: first}
  - {op: head, name: heads}
"""


def test_a_user_block_takes_tokens_and_flat_inputs(write_spec) -> None:
    """On tokens T x C a block reads in_channels = C and in_tokens = T; on a flat vector in_channels."""
    a = analyze(write_spec(BLOCK_ON_TOKENS))
    layers = {layer.name: layer for layer in a.layers}
    assert layers["block.up"].out == (4, 2 * 8 + 4) and layers["block.down"].out == (4, 8)
    assert layers["heads.fc"].out == (4,)
    assert layers["block.up"].macs == 4 * 8 * 20
    built_in = write_spec("input: [4, 6, 6]\nlayers:\n  - {op: to_tokens}\n  - {op: conv_bn_act, name: b, out: 4}\n",
                          "builtin.yaml")
    with pytest.raises(ShufflecalcError, match=r"builtin.yaml:4 layers\[1\]: a conv_bn_act block needs a C x H x W "
                                               "input"):
        analyze(built_in)


# --- against torch --------------------------------------------------------------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def test_modules_match_torchvisions_operations(torch) -> None:
    from shufflecalc.bridge.modules import torch_module

    x = torch.randn(2, 6, 3, 4)
    full, ev = _eval("to_tokens", ((6, 3, 4),))
    y = torch_module("to_tokens", full, ((6, 3, 4),))(x)
    assert torch.equal(y, x.reshape(2, 6, 12).permute(0, 2, 1)) and tuple(y.shape[1:]) == ev.out
    tokens = torch.randn(2, 12, 6)
    module = torch_module("class_token", *_eval("class_token", ((12, 6),))[:1], ((12, 6),))
    assert [tuple(p.shape) for p in module.parameters()] == [(1, 1, 6)]
    y = module(tokens)
    assert torch.equal(y[:, 1:], tokens) and torch.equal(y[:, 0], module.weight[0].expand(2, 6))
    module = torch_module("position_embedding", *_eval("position_embedding", ((12, 6),))[:1], ((12, 6),))
    assert [tuple(p.shape) for p in module.parameters()] == [(1, 12, 6)]
    assert torch.equal(module(tokens), tokens + module.weight)
    module = torch_module("select_token", *_eval("select_token", ((12, 6),), index=3)[:1], ((12, 6),))
    assert torch.equal(module(tokens), tokens[:, 3])
    # from_tokens: ConvNeXt's permute back of a channels-last map, the inverse of to_tokens
    full, ev = _eval("from_tokens", ((12, 6),), height=3)
    module = torch_module("from_tokens", full, ((12, 6),))
    assert torch.equal(module(tokens), tokens.reshape(2, 3, 4, 6).permute(0, 3, 1, 2)) and ev.out == (6, 3, 4)
    assert torch.equal(module(torch_module("to_tokens", {}, ((6, 3, 4),))(x)), x)


def _attention_by_hand(torch, x, w_in, b_in, w_out, b_out, heads: int):
    """Multi-head self-attention written out: q, k, v = x W^T + b; per head softmax(q k^T / sqrt(d)) v; out-proj."""
    n, t, c = x.shape
    d = c // heads
    q, k, v = (x @ w_in.T + b_in).split(c, dim=-1)
    q, k, v = (z.reshape(n, t, heads, d).transpose(1, 2) for z in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / d ** 0.5, dim=-1)
    return (weights @ v).transpose(1, 2).reshape(n, t, c) @ w_out.T + b_out


def test_attention_is_self_attention_and_is_counted_exactly(torch) -> None:
    import warnings

    from torch.utils.flop_counter import FlopCounterMode

    from shufflecalc.bridge.modules import torch_module
    from shufflecalc.bridge.verify import attention_counted

    full, ev = _eval("multihead_attention", ((10, 48),), heads=4)
    module = torch_module("multihead_attention", full, ((10, 48),)).eval()
    assert isinstance(module, torch.nn.MultiheadAttention) and module.batch_first
    assert sum(p.numel() for p in module.parameters()) == ev.params
    x = torch.randn(2, 10, 48)
    with torch.no_grad():
        expected = _attention_by_hand(torch, x, module.in_proj_weight, module.in_proj_bias, module.out_proj.weight,
                                      module.out_proj.bias, 4)
        assert torch.allclose(module(x), expected, atol=1e-5)
    x = x[:1]
    with attention_counted(), torch.no_grad(), FlopCounterMode(display=False) as counted:
        module(x)
    assert counted.get_total_flops() == 2 * ev.macs == 2 * 101_760
    # torch's defaults hide the attention matmuls: the default kernel leaves out Q.K^T and A.V (the projections,
    # 4 * T * C^2, remain), and under no_grad the fast path leaves out the whole layer
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as default_kernel:
            module(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    with torch.no_grad(), FlopCounterMode(display=False) as fast_path:
        module(x)
    assert (default_kernel.get_total_flops(), fast_path.get_total_flops()) == (2 * 4 * 10 * 48 * 48, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        fa = FlopCountAnalysis(module, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        assert fa.total() == ev.macs + ev.fvcore_extra == 4 * 10 * 48 * 48
        assert set(fa.unsupported_ops()) == set(KINDS["multihead_attention"].aten[1:])


def test_attention_counted_restores_the_fast_path(torch) -> None:
    from shufflecalc.bridge.verify import attention_counted

    for before in (True, False):
        torch.backends.mha.set_fastpath_enabled(before)
        with attention_counted():
            assert torch.backends.mha.get_fastpath_enabled() is False
        assert torch.backends.mha.get_fastpath_enabled() is before
    torch.backends.mha.set_fastpath_enabled(True)


CASES = {  # kind: (input shape, arguments)
    "to_tokens": ((8, 3, 5), {}), "class_token": ((15, 8), {}), "position_embedding": ((15, 8), {}),
    "from_tokens": ((15, 8), {"height": 3}), "select_token": ((15, 8), {"index": 14}),
    "multihead_attention": ((15, 8), {"heads": 2, "bias": False}),
}


@pytest.mark.parametrize("op", sorted(CASES))
def test_fvcore_count_treatment_and_views_are_torchs(torch, op: str) -> None:
    """fvcore's count and treatment of each token kind, FlopCounterMode's count, the parameter count, and whether the
    output aliases the input (memory_access 0), all measured on the module the kind builds."""
    import warnings

    from torch.utils.flop_counter import FlopCounterMode

    from shufflecalc.bridge.modules import torch_module
    from shufflecalc.bridge.verify import attention_counted

    shape, attrs = CASES[op]
    full, ev = _eval(op, (shape,), **attrs)
    kind = KINDS[op]
    module = torch_module(op, full, (shape,)).eval()
    x = torch.randn(1, *shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        fa = FlopCountAnalysis(module, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total, unsupported = fa.total(), dict(fa.unsupported_ops())
    assert total == ev.macs + ev.fvcore_extra
    expected_unsupported = {"unsupported": set(kind.aten), "partial": set(kind.aten[1:])}.get(kind.fvcore, set())
    assert set(unsupported) == expected_unsupported
    with attention_counted(), torch.inference_mode(), FlopCounterMode(display=False) as counter:
        y = module(x)
    assert counter.get_total_flops() == 2 * ev.macs
    assert tuple(y.shape[1:]) == ev.out and sum(p.numel() for p in module.parameters()) == ev.params
    assert kind.view == (y.untyped_storage().data_ptr() == x.untyped_storage().data_ptr())


def test_linear_on_tokens_is_counted_by_torch_and_fvcore(torch) -> None:
    import warnings

    from torch.utils.flop_counter import FlopCounterMode

    from shufflecalc.bridge.modules import torch_module

    full, ev = _eval("linear", ((7, 80),), out=10)
    module = torch_module("linear", full, ((7, 80),))
    x = torch.randn(1, 7, 80)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        assert tuple(module(x).shape[1:]) == ev.out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        fvcore = FlopCountAnalysis(module, x).total()
    assert counter.get_total_flops() == 2 * ev.macs and fvcore == ev.macs == 7 * 80 * 10


def _vit_by_hand(torch, state: dict, x, layers: int, heads: int, patch: int):
    """torchvision's VisionTransformer.forward written out with plain tensor operations, reading the spec model's
    state_dict (its names: conv_proj, class_token.weight, encoder.pos_embedding.weight, ...)."""
    import torch.nn.functional as F

    x = F.conv2d(x, state["conv_proj.weight"], state["conv_proj.bias"], stride=patch)
    n, c = x.shape[:2]
    x = x.reshape(n, c, -1).permute(0, 2, 1)
    x = torch.cat([state["class_token.weight"].expand(n, -1, -1), x], dim=1) + state["encoder.pos_embedding.weight"]
    for i in range(layers):
        p = f"encoder.layers.encoder_layer_{i}."

        def ln(z, name: str, p: str = p):
            return F.layer_norm(z, (c,), state[p + name + ".weight"], state[p + name + ".bias"], eps=1e-6)

        y = _attention_by_hand(torch, ln(x, "ln_1"), state[p + "self_attention.in_proj_weight"],
                               state[p + "self_attention.in_proj_bias"], state[p + "self_attention.out_proj.weight"],
                               state[p + "self_attention.out_proj.bias"], heads)
        x = x + y
        h = F.gelu(F.linear(ln(x, "ln_2"), state[p + "mlp.linear_1.weight"], state[p + "mlp.linear_1.bias"]))
        x = x + F.linear(h, state[p + "mlp.linear_2.weight"], state[p + "mlp.linear_2.bias"])
    x = F.layer_norm(x, (c,), state["encoder.ln.weight"], state["encoder.ln.bias"], eps=1e-6)
    return F.linear(x[:, 0], state["heads.head.weight"], state["heads.head.bias"])


def test_vit_model_equals_a_hand_written_vit(torch) -> None:
    """The torch model of `vit` (b_32 at 64 x 64: 4 patches + the class token) computes torchvision's ViT forward,
    written out here; the same check against torchvision itself, with its state_dict, is
    benchmarks/torchvision_match.py (bitwise equal for all four sizes)."""
    from shufflecalc import build_model

    torch.manual_seed(0)
    model = build_model("vit", size="b_32", resolution=64, classes=10)  # torch's random initialization
    with torch.no_grad():
        model.class_token.weight.normal_()  # zeros at first, as torchvision's
    state = model.state_dict()
    assert len(state) == 4 + 12 * 12 + 4  # conv_proj (2), tokens (2), 12 per layer, ln (2), head (2)
    x = torch.randn(2, 3, 64, 64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # speed only, on a shared machine
    try:
        with torch.no_grad():
            expected = _vit_by_hand(torch, state, x, layers=12, heads=12, patch=32)
            y = model(x)
    finally:
        torch.set_num_threads(threads)
    assert y.shape == (2, 10) and expected.std() > 0.1
    assert torch.allclose(y, expected, atol=1e-4, rtol=1e-4)


def test_verify_vit_passes(torch) -> None:
    pytest.importorskip("fvcore")
    from shufflecalc.bridge.verify import verify

    v = verify("vit", size="b_16", resolution=32, classes=10)
    assert v.ok and v.mismatches == ()
    assert v.torch_flops == 2 * v.macs and v.fvcore == v.fvcore_flops and v.torch_params == v.params
    attention = [layer for layer in v.layers if layer.op == "multihead_attention"]
    assert len(attention) == 12 and all(layer.torch_flops == layer.flops > 0 for layer in attention)
