"""onnx-tool (the `dev` extra's pinned version) against `shufflecalc import model.onnx`: its MACs per node and in
total equal the import's per-layer MACs plus what onnx-tool counts beyond shufflecalc's convention, by a rule per op
type written out here (`beyond`) and measured first on one-node graphs (`test_onnx_tool_rules_on_one_node_graphs`).

onnx-tool prices every node in its own units (onnx_tool/node.py: an add, a multiply or a comparison is 1, a division
4, a square root 24, an exponential 32): bias adds, batchnorms, activations, adds, pools and the shape arithmetic
exporters leave in the graph are MACs to it, and none is a multiply-accumulate of shufflecalc's ``macs``. The table
of docs/import.md ("onnx-tool's count") is this file's rules."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pytest

onnx = pytest.importorskip("onnx")
onnx_tool = pytest.importorskip("onnx_tool")
np = pytest.importorskip("numpy")

# onnx-tool's count of one node beyond shufflecalc's macs, per element of the node's output
PER_OUTPUT = {
    "Relu": 1,  # a comparison
    "Clip": 2,  # two comparisons
    "HardSigmoid": 4,  # a multiply, an add, two comparisons
    "HardSwish": 5,  # two multiplies, an add, two comparisons
    "Sigmoid": 32,  # an exponential
    "Gelu": 32 + 2,  # an exponential and two multiplies
    "Softmax": 32 + 4,  # an exponential and a division
    "BatchNormalization": 1 + 24 + 4 + 1 + 1,  # add, sqrt, div, add, mul: every element, as if nothing were folded
    "Add": 1,
    "Sub": 1,
    "Mul": 1,
    "Div": 4,
    "Sqrt": 24,
    "Equal": 1,  # a comparison
    "Mod": 1,
}
# nodes onnx-tool counts 0 (Erf too: GELU's Erf pattern costs its Div, Add and Muls only)
FREE = {"Identity", "Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Reshape", "Transpose", "Flatten",
        "Concat", "Split", "Slice", "Dropout", "Erf", "Cast", "Expand", "Where", "ConstantOfShape"}


def _volume(shape: Any) -> int:
    return math.prod(int(d) for d in shape)


def _attr(node: Any, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def matmul_macs(node: Any, shapes: dict[str, list[int]]) -> int:
    """The multiply-accumulates of a Conv, Gemm or MatMul node by hand: output elements x the products each sums."""
    out = _volume(shapes[node.output[0]])
    if node.op_type == "Conv":
        w = shapes[node.input[1]]
        return out * w[1] * w[2] * w[3]  # (C_in / groups) x kh x kw per output element
    if node.op_type == "Gemm":
        a = shapes[node.input[0]]
        return out * (a[0] if _attr(node, "transA", 0) else a[1])
    if node.op_type == "MatMul":
        return out * shapes[node.input[0]][-1]
    return 0


def beyond(node: Any, shapes: dict[str, list[int]]) -> int:
    """What onnx-tool 1.0.1 counts for `node` beyond shufflecalc's macs (a node of an op type without a rule fails
    the test: measure it first on a one-node graph)."""
    op = node.op_type
    out = _volume(shapes[node.output[0]]) if shapes[node.output[0]] else 1
    if op in PER_OUTPUT:
        return PER_OUTPUT[op] * out
    if op in FREE:
        return 0
    if op in ("Conv", "Gemm"):  # the bias: one add per output element
        return out if len(node.input) > 2 and node.input[2] else 0
    if op == "MatMul":
        return 0
    x = shapes[node.input[0]]
    if op == "GlobalAveragePool":  # an add per input element, a division per output element
        return _volume(x) + 4 * out
    if op == "ReduceMean":  # an add per input element (the division is not counted)
        return _volume(x)
    if op in ("MaxPool", "AveragePool"):  # kh x kw comparisons (or adds) per output element
        kh, kw = _attr(node, "kernel_shape", [])
        return out * kh * kw
    if op == "LayerNormalization":  # 3 multiplies and 4 adds per element, an add, sqrt and div per normalized row
        axis = _attr(node, "axis", -1) % len(x)
        return 7 * _volume(x) + (1 + 24 + 4) * _volume(x) // x[axis]
    raise AssertionError(f"no rule for onnx-tool's count of {op}: measure it on a one-node graph first")


def profile(model: Any, shape: list[int]) -> tuple[dict[str, int], dict[str, list[int]], int]:
    """onnx-tool's MACs per node (by node name) and in total, and its shapes of every tensor."""
    m = onnx_tool.Model(model, {"verbose": False})
    g = m.graph
    g.graph_reorder_nodes()
    g.shape_infer({g.input[0]: np.zeros(shape, np.float32)})
    shapes = {name: list(t.get_shape()) for name, t in g.tensormap.items()}
    g.profile()
    return {name: int(n.macs[0]) for name, n in g.nodemap.items()}, shapes, int(g.macs[0])


# --- the rules, one node at a time ------------------------------------------------------------------------------------

X = [1, 4, 6, 6]  # 144 elements; C = 4


def _ones(*shape: int) -> Any:
    return np.ones(shape, np.float32)


def _i64(*values: int) -> Any:
    return np.array(values, np.int64)


# (op, attributes, initializers, opset, onnx-tool's MACs by hand); the node reads x, then the initializers
READING_X: list[tuple[str, dict[str, Any], dict[str, Any], int, int]] = [
    ("Conv", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, {"w": _ones(2, 4, 3, 3)}, 17, 72 * 36),  # 2x6x6 out
    ("Conv", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, {"w": _ones(2, 4, 3, 3), "b": _ones(2)}, 17,
     72 * 36 + 72),  # and one add per output element for the bias
    ("Conv", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "group": 4}, {"w": _ones(4, 1, 3, 3), "b": _ones(4)},
     17, 144 * 9 + 144),
    ("BatchNormalization", {}, {k: _ones(4) for k in ("s", "b", "m", "v")}, 17, 144 * 31),
    ("Relu", {}, {}, 17, 144),
    ("Clip", {}, {"lo": np.float32(0), "hi": np.float32(6)}, 17, 144 * 2),
    ("HardSigmoid", {}, {}, 17, 144 * 4),
    ("HardSwish", {}, {}, 17, 144 * 5),
    ("Sigmoid", {}, {}, 17, 144 * 32),
    ("Gelu", {}, {}, 20, 144 * 34),
    ("Erf", {}, {}, 17, 0),
    ("Softmax", {}, {}, 17, 144 * 36),
    ("Sqrt", {}, {}, 17, 144 * 24),
    ("Add", {}, {"c": _ones(4, 1, 1)}, 17, 144),
    ("Mul", {}, {"c": _ones(4, 1, 1)}, 17, 144),
    ("Div", {}, {"c": _ones(4, 1, 1)}, 17, 144 * 4),
    ("Equal", {}, {"c": _ones(4, 1, 1)}, 17, 144),
    ("Mod", {"fmod": 1}, {"c": _ones(4, 1, 1)}, 17, 144),
    ("Concat", {"axis": 1}, {"c": _ones(1, 4, 6, 6)}, 17, 0),
    ("GlobalAveragePool", {}, {}, 17, 144 + 4 * 4),  # 4 x 1 x 1 out
    ("ReduceMean", {"keepdims": 0}, {"axes": _i64(2, 3)}, 18, 144),
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, {}, 17, 36 * 9),  # 4x3x3 out
    ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2]}, {}, 17, 36 * 4),
    ("LayerNormalization", {"axis": -1}, {"s": _ones(6), "b": _ones(6)}, 17, 144 * 7 + 24 * 29),  # 24 rows of 6
    ("Transpose", {"perm": [0, 2, 3, 1]}, {}, 17, 0),
    ("Reshape", {}, {"shape": _i64(1, -1)}, 17, 0),
    ("Flatten", {}, {}, 17, 0),
    ("Slice", {}, {"starts": _i64(0), "ends": _i64(2), "axes": _i64(1)}, 17, 0),
    ("Gather", {"axis": 1}, {"index": np.array(0, np.int64)}, 17, 0),
    ("Cast", {"to": 7}, {}, 17, 0),
    ("Expand", {}, {"shape": _i64(2, 4, 6, 6)}, 17, 0),
    ("MatMul", {}, {"w": _ones(6, 7)}, 17, 24 * 7 * 6),  # 1x4x6x7 out, 6 products each
    ("Identity", {}, {}, 17, 0),
]
# and nodes that read other inputs, named last (x is read by an Identity beside them)
ONE_NODE: list[tuple[str, dict[str, Any], dict[str, Any], int, int, list[str]]] = [
    *((*row, ["x", *row[2]]) for row in READING_X),
    ("ConstantOfShape", {}, {"shape": _i64(1, 4, 6, 6)}, 17, 0, ["shape"]),
    ("Where", {}, {"c": np.ones((1, 4, 6, 6), bool)}, 17, 0, ["c", "x", "x"]),
    ("MatMul", {}, {}, 17, 144 * 6, ["x", "x"]),  # two activations (Q.K^T): 1x4x6x6 out, 6 products each
]


@pytest.mark.parametrize(("op", "attrs", "inits", "opset", "expected", "reads"), ONE_NODE,
                         ids=[f"{c[0]}-{k}" for k, c in enumerate(ONE_NODE)])
def test_onnx_tool_rules_on_one_node_graphs(op: str, attrs: dict[str, Any], inits: dict[str, Any], opset: int,
                                            expected: int, reads: list[str]) -> None:
    """onnx-tool's count of one node on a 1 x 4 x 6 x 6 input is the hand count of the comment beside it, and
    `matmul_macs` + `beyond` (the rules the exported models are held to) give the same number."""
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node(op, reads, ["y"], name=op, **attrs)
    keep = helper.make_node("Identity", ["x"], ["z"], name="keep")
    graph = helper.make_graph([node, keep], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, X)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ("y", "z")],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    per_node, shapes, total = profile(model, X)
    assert per_node == {op: expected, "keep": 0} and total == expected
    assert matmul_macs(node, shapes) + beyond(node, shapes) == expected


# --- the built-in models, exported, profiled and imported -------------------------------------------------------------

# BN kept (training=PRESERVE, no constant folding) and BN folded (the exporter's default), as test_onnx.py exports;
# and a ViT, the built-in vit's layers small (its attention, class token and position embedding)
TINY_VIT = str(Path(__file__).resolve().parent.parent / "data" / "tiny_vit.yaml")
MODELS = [("mobilenet_v3_small", 64, False), ("mobilenet_v2", 32, True), ("shufflenet_v2", 64, False),
          ("shufflenet", 64, True), ("efficientnet", 32, True), ("convnext", 32, True), (TINY_VIT, None, False)]


def _export(name: str, resolution: int | None, folded: bool, path: Path) -> list[int]:
    torch = pytest.importorskip("torch")
    import shufflecalc

    params = {"resolution": resolution} if resolution else {}
    model = shufflecalc.build_model(name, **params).eval()
    shape = [1, *shufflecalc.expand(shufflecalc.load_spec(name), params).input]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(*shape),), str(path), dynamo=False, do_constant_folding=folded,
                          training=torch.onnx.TrainingMode.EVAL if folded else torch.onnx.TrainingMode.PRESERVE)
    return shape


@pytest.mark.parametrize(("name", "resolution", "folded"), MODELS, ids=[Path(m[0]).stem for m in MODELS])
def test_onnx_tool_counts_the_import_s_macs_and_its_rules(name: str, resolution: int | None, folded: bool,
                                                          tmp_path: Path) -> None:
    """Per node: onnx-tool's MACs of the nodes of each imported layer are the layer's MACs plus `beyond` of each
    node, and a node that is no layer's (a folded constant, an Identity) is its `beyond` alone; in total, onnx-tool's
    MACs are the import's plus `beyond` of every node."""
    from shufflecalc.importer.onnxread import import_onnx

    path = tmp_path / f"{Path(name).stem}.onnx"
    shape = _export(name, resolution, folded, path)
    graph = onnx.load(str(path))
    per_node, shapes, total = profile(str(path), shape)
    nodes = {n.name: n for n in graph.graph.node}
    assert set(per_node) == set(nodes)  # onnx-tool profiles every node of the file, by its name

    result = import_onnx(str(path))
    assert result.graph is not None
    macs = {ly.name: ly.macs for ly in result.graph.layers}
    owner: dict[str, str] = {}
    for layer in result.layers:
        for n in layer.nodes:
            assert n not in owner, f"node {n} in two layers"
            owner[n] = layer.name
        tool = sum(per_node[n] for n in layer.nodes)
        assert tool == macs[layer.name] + sum(beyond(nodes[n], shapes) for n in layer.nodes), (layer.name,
                                                                                               layer.source)
    for n in set(nodes) - set(owner):
        assert per_node[n] == beyond(nodes[n], shapes), (n, nodes[n].op_type)
    extra = sum(beyond(n, shapes) for n in nodes.values())
    assert total == sum(macs.values()) + extra
    assert extra > 0
