"""`shufflecalc import model.onnx` and .onnx files wherever a spec is named: the torch-free ONNX reader
(shufflecalc/importer/onnxread.py) on a file made by tests/data/make_onnx.py, on shufflecalc's own built-in models
exported by torch.onnx.export (BN kept and BN folded), and on hostile files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shufflecalc.spec.graph import expand
from shufflecalc.spec.load import load_spec

from ..conftest import ROOT, run_cli

onnx = pytest.importorskip("onnx")

SMALL = ROOT / "tests" / "data" / "small_net.onnx"

# small_net.onnx by hand (tests/data/make_onnx.py): 3 x 32 x 32 in
#   conv1 3->16 3x3 stride 2: 16 x 16 x 16 out, 16*3*9*256 = 110,592 MACs, 432 params
#   bn: 2*16 = 32 params (running mean and variance are buffers)
#   dw 16 groups 3x3 + bias: 16*9*256 = 36,864 MACs, 144 + 16 params
#   pw 16->24 1x1 + bias: 24*16*256 = 98,304 MACs, 384 + 24 params
#   fc 24->10 + bias: 240 MACs, 240 + 10 params
SMALL_MACS = 110_592 + 36_864 + 98_304 + 240
SMALL_PARAMS = 432 + 32 + 144 + 16 + 384 + 24 + 240 + 10
SMALL_KINDS = ["conv2d", "batchnorm", "relu", "conv2d", "relu6", "conv2d", "silu", "channel_shuffle", "global_avgpool",
               "flatten", "linear"]


def test_the_small_file_is_the_script_s() -> None:
    sys.path.insert(0, str(ROOT / "tests" / "data"))
    try:
        import make_onnx
    finally:
        sys.path.pop(0)
    assert make_onnx.build().SerializeToString() == onnx.load(str(SMALL)).SerializeToString()


def test_small_net_imports_without_torch(tmp_path: Path) -> None:
    """The whole command, torch made unimportable: the spec, its counts by hand, and torch never imported."""
    out = tmp_path / "small.yaml"
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "from shufflecalc.cli import run\n"
        f"code = run(['import', {str(SMALL)!r}, '-o', {str(out)!r}, '-f', 'json'], prog_name='shufflecalc')\n"
        "assert not any(m.split('.')[0] == 'torch' and sys.modules[m] for m in sys.modules), 'torch imported'\n"
        "sys.exit(code)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                       env={"SHUFFLECALC_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    import json

    data = json.loads(r.stdout)
    assert (data["macs"], data["params"], data["batchnorm_nodes"]) == (SMALL_MACS, SMALL_PARAMS, 1)
    assert data["constant_nodes_folded"] == 3  # Shape, Gather, Constant: shape arithmetic, no layers
    text = out.read_text()
    assert "{op: conv2d, name: conv1, out: 16, kernel: 3, stride: 2}" in text
    assert "{op: channel_shuffle, name: shuffle.reshape_1, groups: 2}" in text


def test_an_onnx_file_wherever_a_spec_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUFFLECALC_CACHE_DIR", str(tmp_path / "cache"))
    r = run_cli("show", str(SMALL), "-f", "json")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    rows = data["layers"] if "layers" in data else data["models"][0]["layers"]
    assert [row["op"] for row in rows] == SMALL_KINDS
    assert sum(row["macs"] for row in rows) == SMALL_MACS
    cached = list((tmp_path / "cache" / "imports").glob("small_net.onnx-*.yaml"))
    assert len(cached) == 1
    nets = tmp_path / "nets"
    nets.mkdir()
    (nets / "small.onnx").write_bytes(SMALL.read_bytes())
    budget = tmp_path / "budget.yaml"
    for limit, code in ((SMALL_MACS, 0), (SMALL_MACS - 1, 1)):  # exactly the MACs, then one short
        budget.write_text(f"budgets:\n  - model: nets/small.onnx\n    max_macs: {limit}\n")
        r = run_cli("check", str(budget))
        assert r.exit_code == code, (r.stdout, r.stderr)


def _one_line_error(*args: str) -> str:
    r = run_cli("import", *args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_hostile_files(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(SMALL.read_bytes()[:3000])
    assert "not a readable ONNX model" in _one_line_error(str(truncated))
    text = tmp_path / "text.onnx"
    text.write_text("name: not onnx\n")
    assert "not a readable ONNX model" in _one_line_error(str(text))

    from onnx import TensorProto, helper

    def save(name: str, nodes: list, dims: list) -> str:
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        path = tmp_path / name
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        return str(path)

    unmapped = save("unmapped.onnx", [helper.make_node("Cos", ["x"], ["a"], name="/c1/Cos"),
                                      helper.make_node("Relu", ["a"], ["b"], name="/r/Relu"),
                                      helper.make_node("Cos", ["b"], ["c"], name="/c2/Cos"),
                                      helper.make_node("Sin", ["c"], ["y"], name="/s/Sin")], [1, 3, 8, 8])
    line = _one_line_error(unmapped)
    # every op type without a kind, with count and nodes; the Relu that reads an unmapped node is not reported again
    assert line.endswith("unmapped.onnx: 3 nodes without a layer kind: Cos (x2: /c1/Cos, /c2/Cos); Sin (x1: /s/Sin)")
    symbolic = save("symbolic.onnx", [helper.make_node("Relu", ["x"], ["y"], name="/r/Relu")], ["N", 3, "H", "W"])
    assert "dimension 2 (height) is symbolic ('H'): give --input C,H,W" in _one_line_error(symbolic)
    r = run_cli("import", symbolic, "--input", "3,8,8", "-f", "json", "-o", str(tmp_path / "s.yaml"))
    assert r.exit_code == 0, r.stderr
    assert r.json()["input"] == [3, 8, 8]
    asym = save("asym.onnx", [helper.make_node("MaxPool", ["x"], ["y"], name="/p/MaxPool", kernel_shape=[2, 2],
                                               strides=[2, 2], pads=[0, 0, 1, 1])], [1, 3, 8, 8])
    assert "MaxPool with asymmetric pads [0, 0, 1, 1] (no layer kind pads so)" in _one_line_error(asym)


# --- the built-in models, exported and read back ---------------------------------------------------------------

MODELS = [("shufflenet_v2", 64), ("mobilenet_v3_small", 64), ("resnet50", 32), ("shufflenet", 64),
          ("mobilenet_v2", 32), ("efficientnet", 32), ("convnext", 32)]


@pytest.mark.parametrize(("name", "resolution"), MODELS)
def test_built_in_models_round_trip_through_onnx(name: str, resolution: int, tmp_path: Path) -> None:
    """Exported by torch.onnx.export with BN kept (training=PRESERVE, no constant folding) and folded (the default):
    read back, the MACs and every layer's output shape are the spec's; params are the spec's with BN kept, and the
    spec's less one per batchnorm channel with BN folded (gamma and beta, 2C, go; the conv's bias, C, comes)."""
    torch = pytest.importorskip("torch")
    import warnings

    import shufflecalc
    from shufflecalc.importer.onnxread import import_onnx

    graph = shufflecalc.expand(shufflecalc.load_spec(name), {"resolution": resolution})
    model = shufflecalc.build_model(name, resolution=resolution).eval()
    x = torch.randn(1, *graph.input)
    macs = sum(ly.macs for ly in graph.layers)
    params = sum(ly.params for ly in graph.layers)
    bn_channels = sum(ly.out[0] for ly in graph.layers if ly.op == "batchnorm")
    shapes = sorted(tuple(ly.out) for ly in graph.layers if ly.op in ("conv2d", "linear"))
    for folded in (False, True):
        path = tmp_path / f"{name}_{folded}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(path), dynamo=False, do_constant_folding=folded,
                              training=torch.onnx.TrainingMode.EVAL if folded else torch.onnx.TrainingMode.PRESERVE)
        result = import_onnx(str(path))
        assert result.graph is not None
        got = result.graph.layers
        assert sum(ly.macs for ly in got) == macs
        assert sorted(tuple(ly.out) for ly in got if ly.op in ("conv2d", "linear")) == shapes
        assert tuple(got[-1].out) == tuple(graph.layers[-1].out)
        n_bn = sum(ly.op == "batchnorm" for ly in graph.layers)
        if folded:
            assert sum(ly.params for ly in got) == params - bn_channels
            assert result.batchnorms == 0
            assert result.batchnorm_folded == bool(n_bn)
            assert (not n_bn) or any("BatchNormalization folded" in note for note in result.notes)
        else:
            assert sum(ly.params for ly in got) == params
            assert result.batchnorms == n_bn


# --- resolution, classes and folding, as PyTorch imports have them ---------------------------------------------


def _resizable_net(path: Path) -> None:
    """Conv 3->8 3x3 pad 1 (no bias), Relu, GlobalAveragePool, Flatten, Gemm 8->5 (bias): no size fixed anywhere."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("conv.weight", (8, 3, 3, 3)), ("fc.weight", (5, 8)), ("fc.bias", (5,)))]
    nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["c"], name="/conv/Conv", kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="/pool/GlobalAveragePool"),
             helper.make_node("Flatten", ["p"], ["f"], name="/flatten/Flatten"),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_resolution_where_the_graph_allows_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUFFLECALC_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "resizable.onnx"
    _resizable_net(path)
    from shufflecalc.importer.onnxread import import_onnx

    text = import_onnx(str(path)).text
    assert "  resolution: {type: int, default: 32, min: 1, help: input height and width}\n" in text
    assert "input: [3, resolution, resolution]\n" in text
    assert "  - {op: linear, name: fc, out: classes}\n" in text
    # by hand: conv 8*3*9 = 216 MACs per output pixel, fc 8*5 = 40; params 216 + 8*5 + 5 = 261 at any size
    for args, macs, params in (((), 216 * 32 * 32 + 40, 261), (("--resolution", "160"), 216 * 160 * 160 + 40, 261),
                               (("--set", "classes=3"), 216 * 32 * 32 + 24, 216 + 24 + 3)):
        r = run_cli("show", str(path), *args, "-f", "json")
        assert r.exit_code == 0, r.stderr
        rows = r.json()["layers"] if "layers" in r.json() else r.json()["models"][0]["layers"]
        assert (sum(row["macs"] for row in rows), sum(row["params"] for row in rows)) == (macs, params)


def test_no_resolution_where_a_reshape_fixes_the_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """small_net.onnx's channel shuffle reshapes to the constant [1, 2, 12, 16, 16]: at another size it cannot run."""
    monkeypatch.setenv("SHUFFLECALC_CACHE_DIR", str(tmp_path / "cache"))
    from shufflecalc.importer.onnxread import import_onnx

    result = import_onnx(str(SMALL))
    assert "resolution" not in result.text.split("\nlayers:\n")[0].replace("no resolution parameter", "")
    assert "input: [3, 32, 32]\n" in result.text
    assert any("no resolution parameter" in note for note in result.notes)
    r = run_cli("show", str(SMALL), "--resolution", "160")
    assert r.exit_code == 2 and "parameter 'resolution' is not declared" in r.stderr


def test_torch_exported_resnet_folds_by_its_node_scopes(tmp_path: Path) -> None:
    """torch.onnx.export's node scopes (/layer2/layer2.0/downsample/downsample.0/Conv) give module paths: the blocks
    and stages of the PyTorch import, the layer names the module paths, the MACs FlopCounterMode's."""
    torch = pytest.importorskip("torch")
    import warnings

    from torch.utils.flop_counter import FlopCounterMode

    from shufflecalc.importer.onnxread import import_onnx
    from tests.importer.nets import TinyResNet

    model = TinyResNet().eval()
    x = torch.randn(1, 3, 32, 32)
    path = tmp_path / "resnet.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False)
    with FlopCounterMode(display=False) as counter:
        model(x)
    result = import_onnx(str(path))
    text = result.text
    assert "  - {stage: layer2, numbered: true, repeat: 3, stride: 2, unit: {op: Layer1}, " \
           "first: {with_downsample: true}}\n" in text
    assert "  - {stage: layer1, numbered: true, repeat: 2, stride: 1, unit: {op: Layer1, conv1_out: 8}}\n" in text
    assert "      - {op: add, name: add, inputs: [conv2, '''downsample.0'' if with_downsample else ''input''']}\n" \
        in text
    assert result.graph is not None
    names = {ly.name for ly in result.graph.layers}
    convs = {k.rsplit(".", 1)[0] for k, v in model.state_dict().items() if k.endswith(".weight") and v.dim() == 4}
    assert convs <= names  # every conv by its module path (the batchnorms are folded into them by the export)
    assert sum(ly.macs for ly in result.graph.layers) == counter.get_total_flops() // 2
    # and it resizes: the folded spec at 64 x 64 is the flat spec's layers, convolutions 4x, the head the same
    flat_head = 16 * 10
    big = expand(load_spec(_write(tmp_path / "r.yaml", text)), {"resolution": 64})
    assert sum(ly.macs for ly in big.layers) == (counter.get_total_flops() // 2 - flat_head) * 4 + flat_head


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_show_compare_and_conventions_say_when_batchnorm_was_folded(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """TinyResNet exported with BN folded (the default) and kept: the folded graph's spec carries the note, and show,
    compare and conventions print it under their tables and give it in their JSON (`notes`); the kept one has none.
    By hand: 12 convolutions, each with a batchnorm, all folded; batchnorm channels 8 (bn1) + 2 x 2 x 8 (layer1) +
    3 x 16 (layer2.0, with its downsample) + 2 x 2 x 16 (layer2.1, layer2.2) = 152, each one param less when folded
    (2C gamma and beta go, C of bias comes)."""
    torch = pytest.importorskip("torch")
    import warnings

    from tests.importer.nets import TinyResNet

    monkeypatch.setenv("SHUFFLECALC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    model = TinyResNet().eval()
    for name, folded in (("folded.onnx", True), ("kept.onnx", False)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.randn(1, 3, 32, 32),), name, dynamo=False, do_constant_folding=folded,
                              training=torch.onnx.TrainingMode.EVAL if folded else torch.onnx.TrainingMode.PRESERVE)
    note = "BatchNormalization folded into the convolutions by the exporter (no BatchNormalization node; 12 of 12"

    r = run_cli("import", "folded.onnx", "-o", "folded.yaml", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert (r.json()["batchnorm_folded"], r.json()["batchnorm_nodes"]) == (True, 0)
    assert "\nnotes:\n  - 'BatchNormalization folded into the convolutions" in Path("folded.yaml").read_text()
    r = run_cli("import", "kept.onnx", "-o", "kept.yaml", "-f", "json")
    assert (r.json()["batchnorm_folded"], r.json()["batchnorm_nodes"]) == (False, 12)
    assert "notes:" not in Path("kept.yaml").read_text()

    shown = {}
    for name in ("folded.onnx", "kept.onnx"):
        r = run_cli("show", name, "-f", "json")
        assert r.exit_code == 0, r.stderr
        shown[name] = r.json()["models"][0]
    assert shown["folded.onnx"]["notes"][0].startswith(note)
    assert "notes" not in shown["kept.onnx"]
    assert shown["kept.onnx"]["params"] - shown["folded.onnx"]["params"] == 152
    assert shown["kept.onnx"]["macs"] == shown["folded.onnx"]["macs"]

    text = run_cli("show", "folded.onnx", columns=400).stdout
    assert [line for line in text.splitlines() if line.startswith(note)], text
    assert "BatchNormalization folded" not in run_cli("show", "kept.onnx", columns=400).stdout
    r = run_cli("compare", "folded.onnx", "kept.onnx", columns=400)
    assert r.exit_code == 0, r.stderr
    assert [line for line in r.stdout.splitlines() if line.startswith(f"folded.onnx: {note}")], r.stdout
    assert "kept.onnx: BatchNormalization" not in r.stdout
    models = run_cli("compare", "folded.onnx", "kept.onnx", "-f", "json").json()["models"]
    assert [m.get("notes", [""])[0][:len(note)] for m in models] == [note, ""]
    r = run_cli("conventions", "folded.onnx", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["models"][0]["notes"][0].startswith(note)


TINY_VIT = ROOT / "tests" / "data" / "tiny_vit.yaml"
# tests/data/tiny_vit.yaml by hand: T = 16 patches + the class token = 17 tokens of C = 32, 2 heads, MLP 64
#   conv_proj 3->32 8x8 stride 8 (bias): 16 positions x 32 x 192 = 98,304 MACs, 32 x 192 + 32 = 6,176 params
#   class_token C = 32 params; pos_embedding T x C = 544 params
#   per encoder block: ln_1, ln_2 2C = 64 params each; multihead_attention 3TC^2 + T^2C + T^2C + TC^2 = 52,224 +
#   9,248 + 9,248 + 17,408 = 88,128 MACs, 4C^2 + 4C = 4,224 params; mlp 17 x 32 x 64 = 34,816 MACs twice,
#   32 x 64 + 64 = 2,112 and 64 x 32 + 32 = 2,080 params
#   ln 64 params; head 32 x 10 = 320 MACs, 330 params
VIT_KINDS = {"conv2d": (98_304, 6_176), "class_token": (0, 32), "position_embedding": (0, 544),
             "layernorm": (0, 2 * 128 + 64), "multihead_attention": (2 * 88_128, 2 * 4_224),
             "linear": (2 * 69_632 + 320, 2 * 4_192 + 330), "add": (0, 0), "gelu": (0, 0), "to_tokens": (0, 0),
             "select_token": (0, 0)}


@pytest.mark.parametrize("folded", [False, True])
def test_vit_round_trips_through_onnx(folded: bool, tmp_path: Path) -> None:
    """A ViT (tests/data/tiny_vit.yaml: the built-in vit's layers, small) built by shufflecalc.build_model and
    exported by torch.onnx.export: torch's MultiheadAttention as exported (projections, reshapes, the scaled
    Q.K^T, Softmax, A.V) reads back as one multihead_attention layer per block, the class token's Concat, the
    position embedding's Add and the Gather of the class token as their kinds; MACs and params per kind are the hand
    counts above and the spec's."""
    torch = pytest.importorskip("torch")
    import warnings

    import shufflecalc
    from shufflecalc.importer.onnxread import import_onnx

    spec = shufflecalc.expand(shufflecalc.load_spec(str(TINY_VIT)))
    model = shufflecalc.build_model(str(TINY_VIT)).eval()
    path = tmp_path / "vit.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 32, 32),), str(path), dynamo=False, do_constant_folding=folded,
                          training=torch.onnx.TrainingMode.EVAL if folded else torch.onnx.TrainingMode.PRESERVE)
    result = import_onnx(str(path))
    assert result.graph is not None

    def by_kind(layers: Any) -> dict[str, tuple[int, int]]:
        kinds: dict[str, tuple[int, int]] = {}
        for ly in layers:
            if ly.op != "dropout":
                macs, params = kinds.get(ly.op, (0, 0))
                kinds[ly.op] = (macs + ly.macs, params + ly.params)
        return kinds

    assert by_kind(result.graph.layers) == VIT_KINDS == by_kind(spec.layers)
    assert (sum(ly.macs for ly in result.graph.layers), sum(ly.params for ly in result.graph.layers)) == \
        (414_144, 24_234) == (sum(m for m, _ in VIT_KINDS.values()), sum(p for _, p in VIT_KINDS.values()))
    attention = [ly for ly in result.graph.layers if ly.op == "multihead_attention"]
    assert [(ly.attrs["heads"], ly.in_shapes[0], ly.out) for ly in attention] == [(2, (17, 32), (17, 32))] * 2
    assert [ly.out for ly in result.graph.layers if ly.op in ("class_token", "select_token")] == [(17, 32), (32,)]


def test_a_spec_s_notes_are_checked(tmp_path: Path) -> None:
    """`notes:` (what the ONNX import writes for a folded BatchNormalization) is a list of strings; anything else is
    a one-line error at its line."""
    spec = tmp_path / "noted.yaml"
    body = "input: [3, 8, 8]\nlayers:\n  - {op: conv2d, out: 4, kernel: 3}\n"
    spec.write_text("notes: 3\n" + body)
    r = run_cli("show", str(spec))
    assert r.exit_code == 2 and r.stderr.strip().endswith("noted.yaml:1 notes: 'notes' must be a list of strings")
    spec.write_text("notes: ['counted by hand: 4 x 27 x 64 = 6,912 MACs']\n" + body)
    r = run_cli("show", str(spec), "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert (r.json()["models"][0]["notes"], r.json()["models"][0]["macs"]) == (
        ["counted by hand: 4 x 27 x 64 = 6,912 MACs"], 4 * 27 * 64)
