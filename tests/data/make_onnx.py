"""Writes tests/data/small_net.onnx (and nothing else) with onnx.helper, no torch: the ONNX file of the torch-free
import test (tests/importer/test_onnx.py). Run: python tests/data/make_onnx.py

The network, 3 x 32 x 32 in, batch dynamic ('N'):
conv1 3->16 3x3 stride 2 pad 1 (no bias), BatchNormalization, Relu; dw 16->16 3x3 groups 16 pad 1 (bias), Clip(0, 6);
pw 16->24 1x1 (bias), x * sigmoid(x); Reshape-Transpose-Reshape (channel shuffle, 2 groups); GlobalAveragePool;
Flatten; Gemm 24->10 (bias). The shape arithmetic of a Shape -> Gather node pair is left for the reader to fold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent


def build() -> onnx.ModelProto:
    rng = np.random.default_rng(0)

    def init(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    inits = [
        init("conv1.weight", 16, 3, 3, 3), init("bn.weight", 16), init("bn.bias", 16), init("bn.running_mean", 16),
        numpy_helper.from_array(np.ones(16, np.float32), "bn.running_var"),
        init("dw.weight", 16, 1, 3, 3), init("dw.bias", 16), init("pw.weight", 24, 16, 1, 1), init("pw.bias", 24),
        init("fc.weight", 10, 24), init("fc.bias", 10),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"), numpy_helper.from_array(np.array(6.0, np.float32),
                                                                                             "six"),
        numpy_helper.from_array(np.array([1, 2, 12, 16, 16], np.int64), "shape5"),
        numpy_helper.from_array(np.array([0], np.int64), "idx0"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight"], ["c1"], name="/conv1/Conv", kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
                         ["b1"], name="/bn/BatchNormalization", epsilon=1e-5),
        helper.make_node("Relu", ["b1"], ["r1"], name="/relu/Relu"),
        helper.make_node("Conv", ["r1", "dw.weight", "dw.bias"], ["d1"], name="/dw/Conv", kernel_shape=[3, 3],
                         group=16, pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["d1", "zero", "six"], ["a1"], name="/relu6/Clip"),
        helper.make_node("Conv", ["a1", "pw.weight", "pw.bias"], ["p1"], name="/pw/Conv", kernel_shape=[1, 1]),
        helper.make_node("Sigmoid", ["p1"], ["s1"], name="/act/Sigmoid"),
        helper.make_node("Mul", ["p1", "s1"], ["m1"], name="/act/Mul"),
        helper.make_node("Shape", ["m1"], ["sh"], name="/shuffle/Shape"),
        helper.make_node("Gather", ["sh", "idx0"], ["n0"], name="/shuffle/Gather", axis=0),
        helper.make_node("Reshape", ["m1", "shape5"], ["v1"], name="/shuffle/Reshape"),
        helper.make_node("Transpose", ["v1"], ["t1"], name="/shuffle/Transpose", perm=[0, 2, 1, 3, 4]),
        helper.make_node("Constant", [], ["shape4"], name="/shuffle/Constant",
                         value=numpy_helper.from_array(np.array([1, 24, 16, 16], np.int64))),
        helper.make_node("Reshape", ["t1", "shape4"], ["v2"], name="/shuffle/Reshape_1"),
        helper.make_node("GlobalAveragePool", ["v2"], ["g1"], name="/pool/GlobalAveragePool"),
        helper.make_node("Flatten", ["g1"], ["f1"], name="/flatten/Flatten", axis=1),
        helper.make_node("Gemm", ["f1", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1),
    ]
    graph = helper.make_graph(nodes, "small_net", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                 ["N", 3, 32, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                              producer_name="tests/data/make_onnx.py")
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    onnx.save(build(), HERE / "small_net.onnx")
