"""`shufflecalc import` of ConvNeXt and ViT in small (tests/importer/nets.py, written as torchvision writes them):
parameters the forward reads directly (layer scale, class token, position embedding, LayerNorm2d's weight and bias),
channels-last blocks (Permute, LayerNorm, Linear, GELU, Linear, Permute), MultiheadAttention called with q = k = v,
``x[:, 0]``. Each proof compares the spec with independent measurements of the original model (numel,
FlopCounterMode, fvcore, its output after the state dict is loaded); the totals asserted are calculated by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from shufflecalc.importer.run import import_target
from shufflecalc.spec.graph import expand
from shufflecalc.spec.load import load_spec
from tests.importer.test_import import NETS, layers_of

CONVNEXT, VIT = f"{NETS}:TinyConvNeXt", f"{NETS}:TinyViT"
CHECKS = ["params", "macs", "fvcore_flops", "activations", "state_dict", "output"]


def convnext_macs(r: int) -> int:
    """TinyConvNeXt's MACs at resolution r, by hand: stem 4x4/4 conv 3->8 on an s x s output (s = r / 4); two
    CNBlocks of 8 channels (depthwise 7x7, Linear 8->32 and 32->8 per position); the 2x2/2 conv 8->16; one CNBlock
    of 16 channels on (s/2)^2 positions (Linear 16->64 and 64->16); the head 16->10."""
    s, q = r // 4, (r // 4) // 2
    stem = 8 * s * s * 3 * 16
    blocks = 2 * (8 * s * s * 49 + s * s * 8 * 32 * 2)
    down = 16 * q * q * 8 * 4
    block = 16 * q * q * 49 + q * q * 16 * 64 * 2
    return stem + blocks + down + block + 16 * 10


# params by hand: stem conv 8*3*16 + 8 = 392 and LayerNorm2d 2*8; a CNBlock(C): depthwise C*49 + C, LayerNorm 2C,
# Linear C*4C + 4C and 4C*C + C, layer scale C (976 for C=8, 2,976 for C=16); downsample LayerNorm2d 16 and conv
# 16*8*4 + 16 = 528; classifier LayerNorm2d 32 and Linear 16*10 + 10 = 170
CONVNEXT_PARAMS = 392 + 16 + 2 * 976 + 16 + 528 + 2_976 + 32 + 170
# TinyViT (image 16, patch 4: T = 16 + 1 tokens of C = 16; heads 2, MLP 32): conv_proj 16*48 + 16 = 784, class token
# 16, position embedding 17*16 = 272; an encoder block: 2 LayerNorms 2*32, attention 4*16*16 + 4*16 = 1,088, MLP
# 16*32 + 32 + 32*16 + 16 = 1,072 (2,224); final LayerNorm 32, head 170
VIT_PARAMS = 784 + 16 + 272 + 2 * 2_224 + 32 + 170
T, C = 17, 16
ATTENTION = 3 * T * C * C + T * T * C + T * T * C + T * C * C  # in-projection, Q.K^T, A.V, out-projection
VIT_MACS = 16 * 16 * 48 + 2 * (ATTENTION + 2 * T * C * 32) + 16 * 10


@pytest.mark.parametrize("target, shape, params, macs", [
    (CONVNEXT, (3, 32, 32), CONVNEXT_PARAMS, convnext_macs(32)),
    (VIT, (3, 16, 16), VIT_PARAMS, VIT_MACS),
])
def test_proof_passes_and_the_counts_are_the_hand_calculation(target: str, shape: tuple, params: int,
                                                              macs: int) -> None:
    result = import_target(target, shape)
    checks = {c.what: c for c in result.proof.checks}
    assert list(checks) == CHECKS and result.proof.ok, [c for c in result.proof.checks if not c.ok]
    assert checks["params"].model == checks["params"].spec == params  # numel of the original model
    assert checks["macs"].model == checks["macs"].spec == macs  # FlopCounterMode / 2 on the original model
    assert "bitwise equal" in checks["output"].note


def test_vits_fvcore_counts_by_hand() -> None:
    """fvcore counts the attention projections' linear but not Q.K^T and A.V, 5 per element of each of the five
    LayerNorms; its ActivationCountAnalysis counts the outputs of every linear, the in-projection's 3 x T x C included
    (the spec's activations convention counts an attention layer's output only: the proof adds them)."""
    checks = {c.what: c for c in import_target(VIT, (3, 16, 16)).proof.checks}
    assert checks["fvcore_flops"].model == VIT_MACS - 2 * 2 * T * T * C + 5 * 5 * T * C == 88_880
    by_block = 3 * T * C + T * C + T * 32 + T * C  # in-projection, out-projection, the MLP's two linears
    assert checks["activations"].model == 16 * 16 + 2 * by_block + 10 == 4_074
    assert "attention in-projections' 1,632" in checks["activations"].note  # 2 * 3 * T * C


def test_convnext_mapping() -> None:
    result = import_target(CONVNEXT, (3, 32, 32), fold=False)
    got = layers_of(result.text)
    # LayerNorm2d (permute, F.layer_norm with the module's weight and bias, permute): one layernorm over the channels
    assert got["features.0.1"] == "  - {op: layernorm, name: features.0.1, eps: 1.0e-06}"
    assert got["classifier.0"] == "  - {op: layernorm, name: classifier.0, eps: 1.0e-06}"
    # the channels-last block: the map as its tokens, Linear on each, back to the map
    block = [name for name in got if name.startswith("features.1.0.")]
    assert block == ["features.1.0.block.0", "features.1.0.block.1.to_tokens", "features.1.0.block.2",
                     "features.1.0.block.3", "features.1.0.block.4", "features.1.0.block.5",
                     "features.1.0.block.6.from_tokens", "features.1.0.layer_scale", "features.1.0.add"]
    assert got["features.1.0.block.3"] == "  - {op: linear, name: features.1.0.block.3, out: 32}"
    assert got["features.1.0.layer_scale"] == "  - {op: layer_scale, name: features.1.0.layer_scale}"  # init 1e-6
    assert result.imported.renames["features.3.0.layer_scale"] == "features.3.0.layer_scale.scale"
    shapes = {ly.name: (ly.in_shapes, ly.out) for ly in result.graph.layers}
    assert shapes["features.1.0.block.3"] == (((64, 8),), (64, 32))  # 8 x 8 positions of 8 channels
    assert shapes["features.1.0.block.6.from_tokens"] == (((64, 8),), (8, 8, 8))


def test_vit_mapping() -> None:
    result = import_target(VIT, (3, 16, 16), fold=False)
    got = layers_of(result.text)
    assert got["to_tokens"] == "  - {op: to_tokens, name: to_tokens}"  # reshape, permute
    assert got["class_token"] == "  - {op: class_token, name: class_token}"  # expand, cat
    assert got["encoder.pos_embedding"] == "  - {op: position_embedding, name: encoder.pos_embedding}"
    assert got["encoder.layers.0.self_attention"] == (
        "  - {op: multihead_attention, name: encoder.layers.0.self_attention, heads: 2}")
    assert got["select_token"] == "  - {op: select_token, name: select_token}"  # x[:, 0]
    assert result.imported.renames == {"class_token": "class_token.weight",
                                       "encoder.pos_embedding": "encoder.pos_embedding.weight"}
    assert not result.imported.unused_modules  # MultiheadAttention's out_proj is its own, not an uncalled module


def test_imported_convnext_takes_another_resolution(tmp_path: Path) -> None:
    """from_tokens makes a square map of its tokens, so the imported spec's `resolution` works."""
    path = tmp_path / "convnext.yaml"
    path.write_text(import_target(CONVNEXT, (3, 32, 32)).text)
    graph = expand(load_spec(str(path)), {"resolution": 64})
    assert graph.sums.macs == convnext_macs(64) and graph.output == (10,)


@pytest.mark.parametrize("name, shape, message", [
    ("ParameterBias", (3, 8, 8), "1 operation without a layer kind: operator.add of the tensor attribute 'shift' of "
                                 "shape (1, 4, 1, 1) to an N x 4 x 8 x 8 tensor"),
    ("AttentionWeights", (4, 8, 8), "nn.MultiheadAttention with need_weights=True (the kind computes attention as "
                                    "need_weights=False does) at attention; "),
    ("AttentionWeights", (4, 8, 8), "F.max_pool2d on a channels-last tensor (N x H x W x C) at (top level)"),
    ("RolledChannelsLast", (3, 8, 8), "1 operation without a layer kind: torch.roll at (top level)"),
])
def test_what_has_no_layer_kind_is_listed(cli, name: str, shape: tuple, message: str) -> None:
    r = cli("import", f"{NETS}:{name}", "--input", ",".join(map(str, shape)))
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1
    assert message in r.stderr
