"""An ONNX model as a spec, without torch: ``shufflecalc import model.onnx`` and ``.onnx`` files wherever a spec is
named (`importer.cache` resolves them here).

Imports only ``onnx`` (and numpy, which onnx needs), never torch. The reading, in order:

- the file is parsed (a truncated file or one that is not ONNX is a one-line error);
- the graph input is fixed to batch 1 and the given C x H x W (``--input``); a symbolic dimension other than the batch
  without ``--input`` is an error that names it;
- shapes come from ``onnx.shape_inference`` (run on a copy of the graph whose initializers are declared, not copied:
  a 100 MB file is not serialized again), and constant subgraphs (the shape arithmetic exporters emit: Shape, Gather,
  Unsqueeze, Concat, Div, ...) are evaluated with numpy and folded: they are no layers and count nothing; inference
  runs again with their values, which fills the gaps it left (a Reshape to a computed shape);
- every other node becomes a layer kind (`OPS` lists them), named by the node's scope (``/layer1/layer1.0/conv1/Conv``
  -> ``layer1.0.conv1``); patterns are recognized as the kinds they are: x * sigmoid(x) is ``silu``, the Erf form of
  GELU is ``gelu``, a run of Reshape / Transpose / Flatten replayed on distinct numbers is the identity, a
  ``flatten``, a ``channel_shuffle`` or ``to_tokens``, MatMul with a weight then Add of a bias is ``linear``; a
  vision transformer's Concat of a 1 x 1 x C initializer before its tokens is ``class_token``, its Add of a T x C
  initializer ``position_embedding``, its Gather of one token ``select_token``, and torch.nn.MultiheadAttention as
  exported (projections, reshapes, the scaled Q.K^T, Softmax, A.V, out-projection) one ``multihead_attention``
  (`_Attention`);
- an operation without a layer kind is listed with every other one, by op type, count and node names, in one line.

The layers are the PyTorch importer's (`importer.model`) and are written by the same writer (`importer.emit`): a
linear head declares ``classes``; a square input declares ``resolution`` where the graph, read again on a 2H x 2W
input, gives the same layers with the engine's shapes at that resolution and the same weights (a Reshape to a fixed
size forbids it, and the spec's header says so); repeated module paths of the node scopes are folded into blocks and
stages (`importer.fold`; ONNX keeps no class names, see `_modules`), kept only where the folded spec expands to the
flat spec's very layers.

The counts are of the graph as given: an exporter that folded BatchNormalization into the convolutions leaves convs
with a bias and no batchnorm, so the spec's params and fvcore's count differ from the torch model's (the spec's
header and the import's report say how many BatchNormalization nodes the graph has; where the exporter folded them,
`_folded_note`, the spec's ``notes:`` says so, and show, compare and conventions print it). The spec is expanded by
the engine once, and every layer's output shape is checked against the ONNX graph's.
"""

from __future__ import annotations

import hashlib
import math
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shufflecalc.errors import MissingDependency, ShufflecalcError, one_line
from shufflecalc.importer.emit import write_spec
from shufflecalc.importer.model import ImportedLayer, ImportedModel, UnmappedOps, layout_kind, same_layers, scalar
from shufflecalc.importer.model import Unmapped as _Unmapped
from shufflecalc.importer.model import spec_pair as _pair
from shufflecalc.spec.graph import INPUT, Graph, expand
from shufflecalc.spec.layers import Shape
from shufflecalc.spec.load import Spec, load_spec

INSTALL_HINT = 'an ONNX model needs the onnx extra: pip install "shufflecalc[onnx]"'

OPS = (
    "Conv, ConvTranspose, BatchNormalization, Relu, Clip, HardSwish, HardSigmoid, Sigmoid, Tanh, LeakyRelu, Elu, "
    "Gelu, Erf (GELU's pattern), Mul, Add, Concat, Split, Slice, Reshape, Transpose, Flatten, Squeeze, Unsqueeze, "
    "GlobalAveragePool, GlobalMaxPool, AveragePool, MaxPool, ReduceMean, Gemm, MatMul, Dropout, Identity, Resize, "
    "LayerNormalization, Softmax, Gather (one token), self-attention (MultiheadAttention as exported)"
)
_LAYOUT = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze"}
_ALIAS = {"Identity", "Dropout"}
_WEIGHT_OPS = {"Transpose", "Identity", "Reshape", "Cast", "Unsqueeze", "Squeeze"}  # a weight laid out, still a weight
_BIG = 2**62


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependency(f"{INSTALL_HINT} ({exc})") from None
    return onnx


@dataclass
class OnnxImport:
    """The result of `import_onnx`."""

    path: str
    input: Shape
    layers: list[ImportedLayer]
    output: str
    text: str = ""
    graph: Graph | None = None
    nodes: int = 0  # nodes of the graph
    folded: int = 0  # constant nodes folded (no layers)
    batchnorms: int = 0  # BatchNormalization nodes of the graph
    batchnorm_folded: bool = False  # the exporter folded BatchNormalization into the convolutions (`_folded_note`)
    initializer_elements: int = 0  # elements of every initializer (each stored once)
    opset: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return self.text.count("\n")


class _Failed(Exception):
    """A node reading the output of an unmapped node (reported once, at that node)."""


# --- reading --------------------------------------------------------------------------------------------------------


def parse_shape(text: str) -> Shape:
    """``--input 3,224,224`` -> (3, 224, 224)."""
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    if len(parts) != 3 or not all(p.isdigit() and 0 < int(p) <= 65_536 for p in parts):
        raise ShufflecalcError(f"--input {text!r}: expected C,H,W (three whole numbers from 1 to 65,536)")
    c, h, w = (int(p) for p in parts)
    return (c, h, w)


def file_hash(path: str | Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise ShufflecalcError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return h.hexdigest()


def _load(path: str) -> Any:
    onnx = _onnx()
    p = Path(path)
    if not p.is_file():
        raise ShufflecalcError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and the like: truncated, or not ONNX at all
        raise ShufflecalcError(f"{path}: not a readable ONNX model ({type(exc).__name__}: "
                               f"{one_line(str(exc))[:200] or 'cannot parse'})") from None
    if not model.graph.node or not model.graph.output:
        raise ShufflecalcError(f"{path}: not an ONNX model with a graph (no nodes or no outputs; truncated or not "
                               "ONNX)")
    if any(f.name for f in model.functions):
        pass  # local functions are listed as unmapped where a node calls one
    return model


def _dims(value_info: Any) -> list[int | str] | None:
    t = value_info.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.tensor_type.shape.dim]


def _graph_input(model: Any, path: str, given: Shape | None) -> tuple[Any, Shape]:
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs) or "none"
        raise ShufflecalcError(f"{path}: the graph must take one input tensor, it takes {len(inputs)} ({names})")
    x = inputs[0]
    dims = _dims(x)
    if dims is None or len(dims) != 4:
        shown = "unknown" if dims is None else f"{len(dims)}-d"
        raise ShufflecalcError(f"{path}: input '{x.name}' must be N x C x H x W, its shape is {shown}")
    if isinstance(dims[0], int) and dims[0] not in (0, 1):
        raise ShufflecalcError(f"{path}: input '{x.name}' has batch {dims[0]}: shufflecalc counts batch 1")
    axes = ("channels", "height", "width")
    if given is not None:
        for axis, have, want in zip(axes, dims[1:], given, strict=True):
            if isinstance(have, int) and have > 0 and have != want:
                raise ShufflecalcError(f"{path}: --input gives {axis} {want}, the graph fixes it at {have}")
        return x, given
    for i, (axis, have) in enumerate(zip(axes, dims[1:], strict=True), start=1):
        if not isinstance(have, int) or have <= 0:
            raise ShufflecalcError(f"{path}: input '{x.name}' dimension {i} ({axis}) is symbolic ('{have}'): give "
                                   "--input C,H,W")
    c, h, w = (int(d) for d in dims[1:])
    return x, (c, h, w)


# --- shapes and constants -------------------------------------------------------------------------------------------


class _Graph:
    """The graph's tensors: shapes (inference plus folding) and constant values."""

    def __init__(self, model: Any, path: str, x: Any, shape: Shape) -> None:
        onnx = _onnx()
        from onnx import numpy_helper

        self.onnx, self.numpy_helper = onnx, numpy_helper
        self.model, self.path = model, path
        self.input_name = x.name
        self.nodes = list(model.graph.node)
        self.inits = {i.name: i for i in model.graph.initializer}
        self.shapes: dict[str, tuple[int, ...]] = {x.name: (1, *shape)}
        self.dtypes: dict[str, int] = {x.name: x.type.tensor_type.elem_type}
        for name, t in self.inits.items():
            self.shapes[name] = tuple(int(d) for d in t.dims)
            self.dtypes[name] = t.data_type
        self.values: dict[str, Any] = {}  # constant tensors (small initializers, Constant nodes, folded nodes)
        self.constant_nodes: set[int] = set()  # indexes of folded nodes
        self.derived: set[str] = set()  # large weights laid out by constant nodes: shapes, no values
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = {}
        for i, n in enumerate(self.nodes):
            for o in n.output:
                self.producer[o] = i
            for t_name in n.input:
                if t_name:
                    self.consumers.setdefault(t_name, []).append(i)
        for _ in range(4):
            before = (len(self.shapes), len(self.values))
            self._infer(x, shape)
            self._fold()
            if (len(self.shapes), len(self.values)) == before:
                break

    def value(self, name: str) -> Any:
        """A constant tensor's value as a numpy array, or None (an activation)."""
        if name in self.values:
            return self.values[name]
        t = self.inits.get(name)
        if t is not None and math.prod(t.dims) <= 1 << 16:
            self.values[name] = self.numpy_helper.to_array(t)
            return self.values[name]
        return None

    def is_const(self, name: str) -> bool:
        return name in self.inits or name in self.values or name in self.derived or name == ""

    def _infer(self, x: Any, shape: Shape) -> None:
        """onnx.shape_inference on a copy of the graph: initializers declared as typed inputs (large ones) or kept
        (small ones, so that data propagation sees them), folded values as initializers."""
        onnx, helper = self.onnx, self.onnx.helper
        g = self.model.graph
        inputs = [helper.make_tensor_value_info(x.name, x.type.tensor_type.elem_type, [1, *shape])]
        initializers = []
        for name, t in self.inits.items():
            if name in self.values or math.prod(t.dims) <= 64:
                continue
            inputs.append(helper.make_tensor_value_info(name, t.data_type, list(t.dims)))
        for name in set(self.values) | {n for n, t in self.inits.items() if math.prod(t.dims) <= 64}:
            v = self.value(name)
            if v is not None:
                initializers.append(self.numpy_helper.from_array(v, name))
        light = helper.make_graph(list(g.node), "light", inputs, list(g.output), initializers)
        model = helper.make_model(light, opset_imports=list(self.model.opset_import),
                                  ir_version=self.model.ir_version)
        model.functions.extend(self.model.functions)
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        except Exception:  # inference refuses the graph: the propagation below is all there is
            return
        for vi in [*inferred.graph.value_info, *inferred.graph.output]:
            dims = _dims(vi)
            if vi.name not in self.dtypes:
                self.dtypes[vi.name] = vi.type.tensor_type.elem_type
            if dims is not None and all(isinstance(d, int) and d > 0 for d in dims) and vi.name not in self.shapes:
                self.shapes[vi.name] = tuple(int(d) for d in dims)
            elif dims == [] and vi.name not in self.shapes:
                self.shapes[vi.name] = ()

    def _fold(self) -> None:
        for i, n in enumerate(self.nodes):
            if i in self.constant_nodes:
                continue
            if n.op_type == "Shape" and n.input[0] in self.shapes:
                s = self.shapes[n.input[0]]
                start = _attr(n, "start", 0)
                end = _attr(n, "end", None)
                self._set(i, [_np().array(s[start:end], dtype=_np().int64)])
                continue
            if n.op_type == "Size" and n.input[0] in self.shapes:
                self._set(i, [_np().array(math.prod(self.shapes[n.input[0]]), dtype=_np().int64)])
                continue
            if n.op_type in ("RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial"):
                continue
            if not all(self.is_const(t) for t in n.input):
                continue
            ins = [self.value(t) if t else None for t in n.input]
            if any(v is None for v, t in zip(ins, n.input, strict=True) if t):
                if n.op_type in _WEIGHT_OPS and all(o in self.shapes for o in n.output):
                    self.constant_nodes.add(i)  # a large weight laid out (MatMul's transposed weight): its shape only
                    self.derived.update(n.output)
                continue  # a large initializer: a weight, not shape arithmetic
            try:
                outs = _evaluate(n, ins, self)
            except Exception:
                continue
            self._set(i, outs)

    def _set(self, i: int, outs: Sequence[Any]) -> None:
        n = self.nodes[i]
        self.constant_nodes.add(i)
        for name, v in zip(n.output, outs, strict=False):
            v = _np().asarray(v)
            self.values[name] = v
            self.shapes[name] = tuple(int(d) for d in v.shape)


def _np() -> Any:
    import numpy

    return numpy


def _attr(node: Any, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            from onnx import helper

            v = helper.get_attribute_value(a)
            if isinstance(v, bytes):
                return v.decode()
            return v
    return default


_NUMPY_BINARY: dict[str, Callable[[Any, Any], Any]] = {}


def _evaluate(n: Any, ins: list[Any], g: _Graph) -> list[Any]:
    """A constant node's outputs: numpy for the shape arithmetic exporters emit, onnx's reference evaluator for any
    other op."""
    np = _np()
    op = n.op_type
    if op == "Constant":
        for a in n.attribute:
            if a.name == "value":
                return [g.numpy_helper.to_array(a.t)]
            if a.name in ("value_int", "value_float"):
                return [np.array(_attr(n, a.name, 0))]
            if a.name in ("value_ints", "value_floats"):
                return [np.array(_attr(n, a.name, []))]
        raise ValueError("Constant without a value")
    if op in ("Identity", "Cast") or (op == "Dropout" and len(n.output) == 1):
        if op == "Cast":
            from onnx import helper

            return [ins[0].astype(helper.tensor_dtype_to_np_dtype(_attr(n, "to", 1)))]
        return [ins[0]]
    if op == "Gather":
        return [np.take(ins[0], ins[1], axis=_attr(n, "axis", 0))]
    if op == "Unsqueeze":
        axes = list(ins[1]) if len(ins) > 1 and ins[1] is not None else list(_attr(n, "axes", []))
        out = ins[0]
        rank = out.ndim + len(axes)
        for a in sorted(int(a) % rank for a in axes):
            out = np.expand_dims(out, a)
        return [out]
    if op == "Squeeze":
        axes = list(ins[1]) if len(ins) > 1 and ins[1] is not None else list(_attr(n, "axes", []))
        return [np.squeeze(ins[0], axis=tuple(int(a) for a in axes) or None)]
    if op == "Concat":
        return [np.concatenate([np.atleast_1d(v) for v in ins], axis=_attr(n, "axis", 0))]
    if op in ("Add", "Sub", "Mul", "Div", "Equal", "Mod", "Pow", "Max", "Min") and len(ins) == 2:
        a, b = ins
        if op == "Div" and np.issubdtype(a.dtype, np.integer):
            return [(a // b).astype(a.dtype)]
        fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Equal": np.equal,
              "Mod": np.fmod if _attr(n, "fmod", 0) else np.mod, "Pow": np.power, "Max": np.maximum,
              "Min": np.minimum}[op]
        return [fn(a, b).astype(a.dtype) if op not in ("Equal",) else fn(a, b)]
    if op == "Sqrt":
        return [np.sqrt(ins[0])]
    if op == "Where":
        return [np.where(ins[0], ins[1], ins[2])]
    if op == "ConstantOfShape":
        t = _attr(n, "value", None)
        fill = g.numpy_helper.to_array(t).reshape(-1)[0] if t is not None else np.float32(0)
        return [np.full(tuple(int(d) for d in ins[0]), fill)]
    if op == "Expand":
        return [ins[0] * np.ones(tuple(int(d) for d in ins[1]), dtype=ins[0].dtype)]
    if op == "Reshape":
        return [ins[0].reshape(_reshape_to(ins[0].shape, ins[1], _attr(n, "allowzero", 0)))]
    if op == "Slice":
        return [_slice(ins[0], ins[1:])]
    from onnx.reference import ReferenceEvaluator

    helper = g.onnx.helper
    names = [f"i{k}" for k in range(len(ins))]
    node = helper.make_node(op, [nm if v is not None else "" for nm, v in zip(names, ins, strict=True)],
                            [f"o{k}" for k in range(len(n.output))], domain=n.domain or None)
    node.attribute.extend(n.attribute)
    graph = helper.make_graph([node], "c", [], [helper.make_tensor_value_info(f"o{k}", 0, None)
                                                for k in range(len(n.output))])
    model = helper.make_model(graph, opset_imports=list(g.model.opset_import), ir_version=g.model.ir_version)
    result = ReferenceEvaluator(model).run(None, {nm: v for nm, v in zip(names, ins, strict=True) if v is not None})
    return list(result)


def _reshape_to(shape: Sequence[int], target: Any, allowzero: int = 0) -> tuple[int, ...]:
    out = [int(d) for d in target]
    if not allowzero:
        out = [shape[i] if d == 0 else d for i, d in enumerate(out)]
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        out[out.index(-1)] = math.prod(shape) // known if known else 0
    return tuple(out)


def _slice(x: Any, args: list[Any]) -> Any:
    starts, ends = args[0], args[1]
    axes = args[2] if len(args) > 2 and args[2] is not None else range(len(starts))
    steps = args[3] if len(args) > 3 and args[3] is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        index[int(a) % x.ndim] = slice(int(s), int(e), int(st))
    return x[tuple(index)]


# --- mapping --------------------------------------------------------------------------------------------------------

_PART = re.compile(r"[^A-Za-z0-9_-]+")


def _scope(node: Any, index: int) -> tuple[str, str]:
    """A node's module path and its operation part: ``/layer1/layer1.0/conv1/Conv`` -> (``layer1.0.conv1``,
    ``conv``); a node without a scope is named by its op type."""
    parts = [p for p in node.name.split("/") if p]
    what = _PART.sub("_", parts[-1]).strip("_").lower() if parts else ""
    path = ""
    last = ""
    for p in parts[:-1]:  # each part a child's name, or its parent's part and its own: ``layer2.0``, ``conv.0.0``
        if not path or p.startswith(path + "."):
            path = p
        elif p.startswith(last + "."):
            path = f"{path}{p[len(last):]}"
        else:
            path = f"{path}.{p}"
        last = p
    pieces = [_PART.sub("_", s).strip("_") for s in path.split(".")] if path else []
    if not what:
        what = f"{node.op_type.lower()}_{index}"
    return ".".join(s for s in pieces if s), what


class _Mapper:
    def __init__(self, g: _Graph, path: str) -> None:
        self.g, self.path = g, path
        self.layers: list[ImportedLayer] = []
        self.names: dict[str, str] = {g.input_name: INPUT}  # tensor -> the layer whose output it is
        self.layout: dict[str, tuple[str, list[Any]]] = {}  # tensor -> (the tensor it lays out, the nodes)
        self.skip: set[int] = set()  # nodes a pattern consumed
        self.unmapped: dict[str, list[str]] = {}
        self.failed: set[str] = set()  # outputs of unmapped nodes: what reads them is not reported again
        self.batchnorms = 0
        self.biased_convs: list[str] = []  # the weights (initializer names) of the convolutions with a bias
        self.scopes = Counter(_scope(n, i)[0] for i, n in enumerate(g.nodes) if i not in g.constant_nodes)
        self.parents = {".".join(p.split(".")[:k]) for p in self.scopes for k in range(1, p.count(".") + 1)}
        self.used: set[str] = set()
        self.const_nodes = g.constant_nodes

    # -- helpers --

    def shape(self, tensor: str) -> tuple[int, ...]:
        s = self.g.shapes.get(tensor)
        if s is None:
            raise _Unmapped("without a known shape")
        return s

    def only_consumer(self, tensor: str) -> Any | None:
        users = self.g.consumers.get(tensor, [])
        if len(users) != 1 or tensor in {o.name for o in self.g.model.graph.output}:
            return None
        return users[0]

    def name_for(self, node: Any, index: int, weight: str | None = None) -> str:
        if weight and weight.endswith(".weight"):
            base = weight[: -len(".weight")]
            if all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in base.split(".")) and base not in self.used:
                self.used.add(base)
                return base
        path, what = _scope(node, index)
        # a scope of one node is its name, unless modules nest under it (a block's Add: ``layer1.0.add``)
        alone = path and self.scopes[path] == 1 and path not in self.parents
        base = path if alone else (f"{path}.{what}" if path else what)
        name, k = base, 0
        while name in self.used or name == INPUT:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    def source(self, tensor: str) -> str:
        if tensor in self.names:
            return self.names[tensor]
        if tensor in self.layout:
            self._resolve_layout(tensor)
            if tensor in self.names:
                return self.names[tensor]
        if tensor in self.failed:
            raise _Failed()
        raise _Unmapped("reading a tensor without a layer")

    def add(self, node: Any, index: int, op: str, args: dict[str, Any], inputs: Sequence[str],
            out: str | None = None, nodes: Sequence[Any] = (), weight: str | None = None, name: str = "") -> str:
        sources = tuple(self.source(t) for t in inputs)
        out = out or node.output[0]
        if name and name not in self.used and name != INPUT:
            self.used.add(name)
        else:
            name = self.name_for(node, index, weight)
        shape = self.shape(out)[1:]
        in_shapes = tuple(self.shape(t)[1:] for t in inputs)
        chain = (node, *nodes)
        self.layers.append(ImportedLayer(name, op, args, sources, in_shapes, shape, ", ".join(n.op_type for n in chain),
                                         nodes=tuple(n.name for n in chain)))
        self.names[out] = name
        return name

    def miss(self, node: Any, what: str) -> None:
        self.unmapped.setdefault(what, []).append(node.name or node.output[0])

    # -- the walk --

    def run(self) -> None:
        attention = _Attention(self)
        for i, n in enumerate(self.g.nodes):
            if n.op_type == "Softmax" and i not in self.const_nodes:
                attention.match(i)
        for i, n in enumerate(self.g.nodes):
            if i in self.const_nodes or i in self.skip:
                continue
            try:
                if i in attention.found:
                    attention.add(i)
                    continue
                self._node(i, n)
            except _Failed:
                self.failed.update(n.output)
            except _Unmapped as exc:
                self.failed.update(n.output)
                self.miss(n, f"{n.op_type} {exc.what}".strip() if exc.what else n.op_type)

    def _weight(self, n: Any, k: int, what: str) -> tuple[int, ...]:
        if len(n.input) <= k or not n.input[k]:
            raise _Unmapped(f"without its {what}")
        name = n.input[k]
        if not self.g.is_const(name):
            raise _Unmapped(f"with a computed {what} (not an initializer)")
        return self.shape(name)

    def _node(self, i: int, n: Any) -> None:
        op = n.op_type
        if n.domain not in ("", "ai.onnx"):
            raise _Unmapped(f"(domain {n.domain})")
        x = n.input[0] if n.input else ""
        if op in _ALIAS:
            if op == "Dropout" and len(n.output) > 1 and n.output[1] and self.g.consumers.get(n.output[1]):
                raise _Unmapped("whose mask is read")
            self.names[n.output[0]] = self.source(x)
            return
        if op in _LAYOUT:
            base = x
            if x in self.layout:
                base, chain = self.layout[x]
                self.layout[n.output[0]] = (base, [*chain, n])
            else:
                self.layout[n.output[0]] = (x, [n])
            return
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            raise _Unmapped("")
        handler(i, n)

    # -- ops --

    def _op_Conv(self, i: int, n: Any) -> None:
        w = self._weight(n, 1, "weight")
        if len(w) != 4:
            raise _Unmapped(f"on {len(w) - 2}-d data (2-d only)")
        kernel = (w[2], w[3])
        stride = tuple(_attr(n, "strides", [1, 1]))
        dilation = tuple(_attr(n, "dilations", [1, 1]))
        groups = _attr(n, "group", 1)
        padding = self._padding(n, kernel, stride, dilation, "conv2d")
        bias = len(n.input) > 2 and bool(n.input[2])
        if bias:
            self._weight(n, 2, "bias")
            self.biased_convs.append(n.input[1])
        args = {"out": w[0], "kernel": _pair(kernel), "stride": _pair(stride), "padding": padding,
                "dilation": _pair(dilation), "groups": groups, "bias": bias}
        self.add(n, i, "conv2d", args, [n.input[0]], weight=n.input[1])

    def _padding(self, n: Any, kernel: tuple[int, int], stride: Sequence[int], dilation: Sequence[int],
                 kind: str) -> Any:
        auto = _attr(n, "auto_pad", "NOTSET")
        in_shape = self.shape(n.input[0])
        if auto == "VALID":
            return 0
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            pads = []
            for size, k, s, d in zip(in_shape[2:], kernel, stride, dilation, strict=True):
                out = -(-size // s)
                total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
                pads.append(total)
            if all(p % 2 == 0 for p in pads):
                return _pair(tuple(p // 2 for p in pads))
            if auto == "SAME_UPPER" and kind == "conv2d" and tuple(stride) == (1, 1):
                return "same"
            raise _Unmapped(f"with auto_pad {auto} padding unequally (no layer kind pads so)")
        pads = list(_attr(n, "pads", [0, 0, 0, 0]))
        top, left, bottom, right = pads
        if (top, left) == (bottom, right):
            return _pair((top, left))
        if kind == "conv2d" and tuple(stride) == (1, 1) and all(
                (b - t, b + t) == (1, d * (k - 1)) or (t == b and 2 * t == d * (k - 1))
                for t, b, k, d in ((top, bottom, kernel[0], dilation[0]), (left, right, kernel[1], dilation[1]))):
            return "same"  # PyTorch's 'same': the odd pad at the bottom / right
        raise _Unmapped(f"with asymmetric pads {pads} (no layer kind pads so)")

    def _op_ConvTranspose(self, i: int, n: Any) -> None:
        w = self._weight(n, 1, "weight")
        if len(w) != 4:
            raise _Unmapped(f"on {len(w) - 2}-d data (2-d only)")
        groups = _attr(n, "group", 1)
        pads = list(_attr(n, "pads", [0, 0, 0, 0]))
        if _attr(n, "auto_pad", "NOTSET") not in ("NOTSET", "VALID") or pads[:2] != pads[2:]:
            raise _Unmapped(f"with asymmetric or automatic pads {pads}")
        stride = tuple(_attr(n, "strides", [1, 1]))
        dilation = tuple(_attr(n, "dilations", [1, 1]))
        output_padding = tuple(_attr(n, "output_padding", [0, 0]))
        bias = len(n.input) > 2 and bool(n.input[2])
        args = {"out": w[1] * groups, "kernel": _pair((w[2], w[3])), "stride": _pair(stride),
                "padding": _pair(tuple(pads[:2])), "output_padding": _pair(output_padding), "groups": groups,
                "dilation": _pair(dilation), "bias": bias}
        self.add(n, i, "conv_transpose2d", args, [n.input[0]], weight=n.input[1])

    def _op_BatchNormalization(self, i: int, n: Any) -> None:
        if _attr(n, "training_mode", 0) or len([o for o in n.output if o]) > 1:
            raise _Unmapped("in training mode")
        for k, what in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")):
            self._weight(n, k, what)
        self.batchnorms += 1
        weight = n.input[1] if n.input[1].endswith(".weight") else None
        self.add(n, i, "batchnorm", {"affine": True, "eps": _f32(_attr(n, "epsilon", 1e-5))}, [n.input[0]],
                 weight=weight)

    def _activation(self, i: int, n: Any, op: str, args: dict[str, Any] | None = None) -> None:
        self.add(n, i, op, args or {}, [n.input[0]])

    def _op_Relu(self, i: int, n: Any) -> None:
        self._activation(i, n, "relu")

    def _op_HardSwish(self, i: int, n: Any) -> None:
        self._activation(i, n, "hardswish")

    def _op_Tanh(self, i: int, n: Any) -> None:
        self._activation(i, n, "tanh")

    def _op_HardSigmoid(self, i: int, n: Any) -> None:
        alpha, beta = _attr(n, "alpha", 0.2), _attr(n, "beta", 0.5)
        if not (math.isclose(alpha, 1 / 6, rel_tol=1e-6) and math.isclose(beta, 0.5)):
            raise _Unmapped(f"with alpha {alpha:g}, beta {beta:g} (hardsigmoid is 1/6, 0.5)")
        self._activation(i, n, "hardsigmoid")

    def _op_LeakyRelu(self, i: int, n: Any) -> None:
        self._activation(i, n, "leaky_relu", {"negative_slope": _f32(_attr(n, "alpha", 0.01))})

    def _op_Elu(self, i: int, n: Any) -> None:
        self._activation(i, n, "elu", {"alpha": _f32(_attr(n, "alpha", 1.0))})

    def _op_Gelu(self, i: int, n: Any) -> None:
        self._activation(i, n, "gelu", {"approximate": _attr(n, "approximate", "none")})

    def _op_Softmax(self, i: int, n: Any) -> None:
        rank = len(self.shape(n.input[0]))
        axis = _attr(n, "axis", -1)
        if axis % rank == 0:
            raise _Unmapped("over the batch axis")
        self._activation(i, n, "softmax", {"dim": axis if axis < 0 else axis - 1})

    def _op_Clip(self, i: int, n: Any) -> None:
        np = _np()
        lo = _attr(n, "min", None)
        hi = _attr(n, "max", None)
        if len(n.input) > 1 and n.input[1]:
            v = self.g.value(n.input[1])
            if v is None:
                raise _Unmapped("with a computed minimum")
            lo = float(np.asarray(v).reshape(-1)[0])
        if len(n.input) > 2 and n.input[2]:
            v = self.g.value(n.input[2])
            if v is None:
                raise _Unmapped("with a computed maximum")
            hi = float(np.asarray(v).reshape(-1)[0])
        if lo == 0.0 and hi == 6.0:
            self._activation(i, n, "relu6")
        elif lo == 0.0 and (hi is None or math.isinf(hi)):
            self._activation(i, n, "relu")
        elif lo is not None and hi is not None and lo < hi:
            self._activation(i, n, "hardtanh", {"min_val": _f32(lo), "max_val": _f32(hi)})
        else:
            raise _Unmapped(f"with bounds {lo}, {hi}")

    def _op_Sigmoid(self, i: int, n: Any) -> None:
        users = self.g.consumers.get(n.output[0], [])
        if users and all(self.g.nodes[u].op_type == "Mul" and n.input[0] in self.g.nodes[u].input for u in users):
            return  # x * sigmoid(x): each Mul is a silu
        self._activation(i, n, "sigmoid")

    def _op_Mul(self, i: int, n: Any) -> None:
        a, b = n.input[0], n.input[1]
        for x, s in ((a, b), (b, a)):
            p = self.g.producer.get(s)
            if p is not None and self.g.nodes[p].op_type == "Sigmoid" and self.g.nodes[p].input[0] == x and \
                    x not in self.g.values:
                self.add(n, i, "silu", {}, [x], nodes=[self.g.nodes[p]])
                return
        ca, cb = self.g.is_const(a), self.g.is_const(b)
        if ca or cb:
            x, c = (b, a) if ca else (a, b)
            cs, xs = self.shape(c), self.shape(x)
            if c not in self.g.derived and ((len(xs) == 4 and cs in ((xs[1], 1, 1), (1, xs[1], 1, 1))) or
                                      (len(xs) != 4 and cs[-1:] == xs[-1:] and math.prod(cs) == xs[-1])):
                self.add(n, i, "layer_scale", {}, [x])
                return
            raise _Unmapped("by a constant other than a learned per-channel scale")
        self.add(n, i, "mul", {}, [a, b])

    def _op_Add(self, i: int, n: Any) -> None:
        a, b = n.input[0], n.input[1]
        ca, cb = self.g.is_const(a), self.g.is_const(b)
        if ca != cb:  # a learned T x C table added to T tokens: ViT's position embedding
            x, c = (b, a) if ca else (a, b)
            xs = self.shape(x)
            if len(xs) == 3 and c not in self.g.derived and self.shape(c) in (xs, xs[1:]):
                self.add(n, i, "position_embedding", {}, [x], weight=c)
                return
        if ca or cb:
            raise _Unmapped("of a constant (other than a MatMul's bias or a position embedding)")
        if self.shape(a) != self.shape(b):
            raise _Unmapped("of tensors of two shapes (broadcast)")
        self.add(n, i, "add", {}, [a, b])

    def _op_Concat(self, i: int, n: Any) -> None:
        ins = [t for t in n.input if t]
        rank = len(self.shape(ins[0]))
        if rank == 3 and len(ins) == 2 and _attr(n, "axis", 0) % 3 == 1 and self.g.is_const(ins[0]) and \
                not self.g.is_const(ins[1]) and self.shape(ins[0]) == (1, 1, self.shape(ins[1])[2]):
            self.add(n, i, "class_token", {}, [ins[1]])  # a learned 1 x 1 x C token before T tokens: ViT's
            return
        if rank != 4 or _attr(n, "axis", 0) % 4 != 1 or any(self.g.is_const(t) for t in ins):
            raise _Unmapped("other than of feature maps along the channels")
        if len(ins) == 1:
            self.names[n.output[0]] = self.source(ins[0])
            return
        self.add(n, i, "concat", {}, ins)

    def _op_Split(self, i: int, n: Any) -> None:
        shape = self.shape(n.input[0])
        if len(shape) != 4 or _attr(n, "axis", 0) % 4 != 1:
            raise _Unmapped("other than along the channels of a feature map")
        sizes = [self.shape(o)[1] for o in n.output]
        if len(set(sizes)) != 1 or sum(sizes) != shape[1]:
            raise _Unmapped(f"into unequal channel groups {sizes}")
        for k, o in enumerate(n.output):
            if self.g.consumers.get(o):
                self.add(n, i, "split", {"parts": len(sizes), "index": k}, [n.input[0]], out=o)

    def _op_Slice(self, i: int, n: Any) -> None:
        shape = self.shape(n.input[0])
        args = [self.g.value(t) if t else None for t in n.input[1:]]
        if any(v is None for v, t in zip(args, n.input[1:], strict=True) if t):
            raise _Unmapped("with computed bounds")
        starts, ends = list(args[0] if args[0] is not None else []), list(args[1] if args[1] is not None else [])
        axes = list(args[2]) if len(args) > 2 and args[2] is not None else list(range(len(starts)))
        steps = list(args[3]) if len(args) > 3 and args[3] is not None else [1] * len(starts)
        if len(shape) != 4 or len(axes) != 1 or int(axes[0]) % 4 != 1 or int(steps[0]) != 1:
            raise _Unmapped("other than a range of channels of a feature map")
        c = shape[1]
        lo, hi = (max(0, min(c, int(v) + c if int(v) < 0 else int(v))) for v in (starts[0], ends[0]))
        size = hi - lo
        if size <= 0 or c % size or lo % size:
            raise _Unmapped(f"of channels {lo}:{hi} of {c} (not one of equal groups)")
        if size == c:
            self.names[n.output[0]] = self.source(n.input[0])
            return
        self.add(n, i, "split", {"parts": c // size, "index": lo // size}, [n.input[0]])

    def _op_Gather(self, i: int, n: Any) -> None:
        """One token of N x T x C, x[:, k] (ViT's class token for the head): ``select_token``."""
        shape = self.shape(n.input[0])
        k = self.g.value(n.input[1]) if len(n.input) > 1 else None
        if len(shape) != 3 or _attr(n, "axis", 0) % 3 != 1 or k is None or _np().asarray(k).shape != ():
            raise _Unmapped("other than of one token (x[:, k] of N x T x C)")
        index = int(k) % shape[1]
        self.add(n, i, "select_token", {"index": index}, [n.input[0]])

    def _op_GlobalAveragePool(self, i: int, n: Any) -> None:
        if len(self.shape(n.input[0])) != 4:
            raise _Unmapped("on other than a feature map")
        self.add(n, i, "global_avgpool", {}, [n.input[0]])

    def _op_GlobalMaxPool(self, i: int, n: Any) -> None:
        if len(self.shape(n.input[0])) != 4:
            raise _Unmapped("on other than a feature map")
        self.add(n, i, "adaptive_maxpool", {"output": 1}, [n.input[0]])

    def _op_ReduceMean(self, i: int, n: Any) -> None:
        axes = _attr(n, "axes", None)
        if len(n.input) > 1 and n.input[1]:
            v = self.g.value(n.input[1])
            axes = None if v is None else [int(a) for a in v]
        shape = self.shape(n.input[0])
        if len(shape) != 4 or axes is None or sorted(a % 4 for a in axes) != [2, 3]:
            raise _Unmapped("other than over the height and width of a feature map")
        keep = _attr(n, "keepdims", 1)
        self.add(n, i, "global_avgpool" if keep else "mean", {}, [n.input[0]])

    def _pool(self, i: int, n: Any, op: str) -> None:
        if len(self.shape(n.input[0])) != 4 or (len(n.output) > 1 and n.output[1]):
            raise _Unmapped("other than 2-d, without indices")
        kernel = tuple(_attr(n, "kernel_shape", []))
        stride = tuple(_attr(n, "strides", [1, 1]))
        dilation = tuple(_attr(n, "dilations", [1, 1]))
        padding = self._padding(n, kernel, stride, dilation, op)
        args: dict[str, Any] = {"kernel": _pair(kernel), "stride": _pair(stride), "padding": padding,
                                "ceil_mode": bool(_attr(n, "ceil_mode", 0))}
        if op == "maxpool":
            args["dilation"] = _pair(dilation)
        else:
            if dilation != (1, 1):
                raise _Unmapped("with dilations")
            args["count_include_pad"] = bool(_attr(n, "count_include_pad", 0))
        self.add(n, i, op, args, [n.input[0]])

    def _op_MaxPool(self, i: int, n: Any) -> None:
        self._pool(i, n, "maxpool")

    def _op_AveragePool(self, i: int, n: Any) -> None:
        self._pool(i, n, "avgpool")

    def _op_Flatten(self, i: int, n: Any) -> None:  # reached only through a layout run; see _resolve_layout
        raise _Unmapped("")

    def _op_Gemm(self, i: int, n: Any) -> None:
        if _attr(n, "transA", 0) or _attr(n, "alpha", 1.0) != 1.0 or _attr(n, "beta", 1.0) != 1.0:
            raise _Unmapped("with transA, alpha or beta")
        w = self._weight(n, 1, "weight")
        out = w[0] if _attr(n, "transB", 0) else w[1]
        bias = len(n.input) > 2 and bool(n.input[2])
        if bias and self._weight(n, 2, "bias") not in ((out,), (1, out)):
            raise _Unmapped("with a bias that is not one per output")
        self.add(n, i, "linear", {"out": out, "bias": bias}, [n.input[0]], weight=n.input[1])

    def _op_MatMul(self, i: int, n: Any) -> None:
        if not self.g.is_const(n.input[1]) or self.g.is_const(n.input[0]):
            raise _Unmapped("of two activations (outside a self-attention recognized as multihead_attention)")
        w = self._weight(n, 1, "weight")
        if len(w) != 2:
            raise _Unmapped("with a weight that is not a matrix")
        user = self.only_consumer(n.output[0])
        nodes: list[Any] = []
        out = n.output[0]
        if user is not None:
            u = self.g.nodes[user]
            other = u.input[1] if u.input[0] == n.output[0] else u.input[0]
            if u.op_type == "Add" and self.g.is_const(other) and self.shape(other) == (w[1],):
                self.skip.add(user)
                nodes, out = [u], u.output[0]
        try:
            self.add(n, i, "linear", {"out": w[1], "bias": bool(nodes)}, [n.input[0]], out=out, nodes=nodes,
                     weight=None)
        except _Failed:  # reading an unmapped node: its bias Add fails with it (reported at that node)
            self.failed.add(out)
            raise

    def _op_Resize(self, i: int, n: Any) -> None:
        shape = self.shape(n.input[0])
        mode = _attr(n, "mode", "nearest")
        ct = _attr(n, "coordinate_transformation_mode", "half_pixel")
        if len(shape) != 4:
            raise _Unmapped("of other than a feature map")
        out = self.shape(n.output[0])
        if mode == "nearest" and ct == "asymmetric" and _attr(n, "nearest_mode", "round_prefer_floor") == "floor":
            args: dict[str, Any] = {"mode": "nearest"}
        elif mode == "linear" and ct in ("half_pixel", "pytorch_half_pixel", "align_corners"):
            args = {"mode": "bilinear", "align_corners": ct == "align_corners"}
        else:
            raise _Unmapped(f"with mode {mode}, coordinate_transformation_mode {ct}")
        args["size"] = _pair(out[2:])
        self.add(n, i, "upsample", args, [n.input[0]])

    def _op_LayerNormalization(self, i: int, n: Any) -> None:
        shape = self.shape(n.input[0])
        if _attr(n, "axis", -1) % len(shape) != len(shape) - 1:
            raise _Unmapped("over more than the last axis")
        x, out, nodes = n.input[0], n.output[0], list[Any]()
        if len(shape) == 4:  # ConvNeXt's LayerNorm2d: permute to channels-last, layer norm, permute back
            x, out, nodes = self._channels_last(n)
        scale = len(n.input) > 1 and bool(n.input[1])
        bias = len(n.input) > 2 and bool(n.input[2])
        self.add(n, i, "layernorm", {"eps": _f32(_attr(n, "epsilon", 1e-5)), "elementwise_affine": scale,
                                     "bias": bias}, [x], out=out, nodes=nodes)

    def _channels_last(self, n: Any) -> tuple[str, str, list[Any]]:
        """The feature map a channels-last node reads (a Transpose 0, 2, 3, 1 before it) and the tensor of the
        Transpose 0, 3, 1, 2 after it that restores channels-first, else unmapped."""
        before = self.layout.get(n.input[0])
        user = self.only_consumer(n.output[0])
        after = self.g.nodes[user] if user is not None else None
        if before is None or len(before[1]) != 1 or before[1][0].op_type != "Transpose" or \
                list(_attr(before[1][0], "perm", [])) != [0, 2, 3, 1] or after is None or \
                after.op_type != "Transpose" or list(_attr(after, "perm", [])) != [0, 3, 1, 2]:
            raise _Unmapped("on a channels-last feature map (other than between transposes to and from it)")
        self.skip.add(user)  # type: ignore[arg-type]
        return before[0], after.output[0], [before[1][0], after]

    def _op_Erf(self, i: int, n: Any) -> None:
        """GELU written out: x * 0.5 * (1 + erf(x / sqrt(2))), the factors in any order."""
        np = _np()
        g = self.g
        p = g.producer.get(n.input[0])
        if p is None:
            raise _Unmapped("other than in GELU's pattern")
        div = g.nodes[p]
        scaled = {"Div": math.sqrt(2), "Mul": 1 / math.sqrt(2)}.get(div.op_type)
        c = g.value(div.input[1]) if len(div.input) > 1 else None
        if scaled is None or c is None or not np.allclose(np.asarray(c, dtype=float), scaled, rtol=1e-4):
            raise _Unmapped("other than in GELU's pattern")
        x = div.input[0]
        chain = [div, n]
        t = n.output[0]
        seen_x = seen_half = seen_one = False
        while True:
            user = self.only_consumer(t)
            if user is None:
                break
            u = g.nodes[user]
            if u.op_type not in ("Add", "Mul") or len(u.input) != 2:
                break
            other = u.input[1] if u.input[0] == t else u.input[0]
            v = g.value(other)
            if u.op_type == "Add" and v is not None and np.allclose(v, 1.0) and not seen_one:
                seen_one = True
            elif u.op_type == "Mul" and v is not None and np.allclose(v, 0.5) and not seen_half:
                seen_half = True
            elif u.op_type == "Mul" and other == x and not seen_x:
                seen_x = True
            elif u.op_type == "Mul" and not seen_half and not seen_x and g.producer.get(other) is not None:
                q = g.nodes[g.producer[other]]  # (x * 0.5) * (1 + erf)
                qv = g.value(q.input[1]) if len(q.input) > 1 else None
                if q.op_type == "Mul" and q.input[0] == x and qv is not None and np.allclose(qv, 0.5):
                    seen_x = seen_half = True
                    chain.append(q)
                else:
                    break
            else:
                break
            chain.append(u)
            t = u.output[0]
            if seen_x and seen_half and seen_one:
                break
        if not (seen_x and seen_half and seen_one):
            raise _Unmapped("other than in GELU's pattern")
        indexes = {id(c): k for k, c in enumerate(g.nodes)}
        self.skip.update(indexes[id(c)] for c in chain)
        self.add(n, i, "gelu", {"approximate": "none"}, [x], out=t, nodes=chain)

    # -- layout runs --

    def _resolve_layout(self, tensor: str) -> None:
        np = _np()
        base, nodes = self.layout[tensor]
        shape = self.g.shapes.get(base)
        if shape is None:
            raise _Unmapped("reading a layout change of a tensor without a known shape")
        source = self.source(base)
        probe = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)
        current = probe
        for n in nodes:
            current = _replay(n, current, self.g)
        what = ", ".join(n.op_type for n in nodes)
        kind = layout_kind(probe, current)
        if kind is None:
            shown = " x ".join(map(str, shape[1:]))
            after = " x ".join(map(str, current.shape[1:]))
            self.miss(nodes[-1], f"{what} ({shown} -> {after}: no layer kind does this)")
            self.layout.pop(tensor)
            self.failed.add(tensor)
            raise _Failed()
        op, args = kind
        if op == "identity":
            self.names[tensor] = source
            return
        last = nodes[-1]
        index = next(k for k, m in enumerate(self.g.nodes) if m is last)
        self.layers.append(ImportedLayer(self.name_for(last, index), op, args, (source,), (tuple(shape[1:]),),
                                         tuple(current.shape[1:]), what, nodes=tuple(n.name for n in nodes)))
        self.names[tensor] = self.layers[-1].name


_SHAPING = {"Reshape", "Transpose", "Unsqueeze", "Squeeze", "Identity"}  # layout inside an attention
_PICKING = {"Gather", "Split", "Slice"}  # q, k and v taken from the packed projection


@dataclass
class _Projection:
    nodes: list[int]  # the MatMul (and its bias Add) or the Gemm
    input: str
    output: str
    features: tuple[int, int]  # (in, out)
    bias: bool


class _Attention:
    """Self-attention as exporters write ``torch.nn.MultiheadAttention`` (torch's multi_head_attention_forward), one
    ``multihead_attention`` layer: from a Softmax, its Q.K^T MatMul before (scaled before or after) and its A.V MatMul
    after; back from Q, K and V through layout nodes (Reshape, Transpose, (Un)Squeeze), the picking of q, k and v
    (Gather, Split, Slice) and scalings by a constant, to the in-projections (one packed C -> 3C, or three C -> C: a
    MatMul with a weight and its bias Add, or a Gemm), which read one tensor X of N x T x C through layout nodes only;
    forward from A.V through layout nodes to the out-projection (C -> C) and on to the tensor of X's shape, Y. The
    nodes between are the layer's, and only if none of their values is read from outside, the scalings multiply to
    1/sqrt(C / heads) (heads: Q.K^T's leading dimensions) and every projection has a bias or none has."""

    def __init__(self, mapper: _Mapper) -> None:
        self.m, self.g = mapper, mapper.g
        self.found: dict[int, tuple[str, str, dict[str, Any], list[int], str]] = {}  # last node -> the layer

    def _active(self, tensor: str) -> int | None:
        """The node that computes an activation (None for a constant or the graph's input)."""
        k = self.g.producer.get(tensor)
        return None if k is None or k in self.m.const_nodes or self.g.is_const(tensor) else k

    def _factor(self, n: Any) -> tuple[str, float] | None:
        """A Mul or Div of an activation by a constant scalar: (the activation, the factor), else None."""
        if n.op_type not in ("Mul", "Div") or len(n.input) != 2:
            return None
        for x, c, first in ((n.input[0], n.input[1], True), (n.input[1], n.input[0], False)):
            v = self.g.value(c)
            if v is not None and _np().asarray(v).size == 1 and not self.g.is_const(x):
                f = float(_np().asarray(v).reshape(-1)[0])
                if n.op_type == "Div":
                    if not first or f == 0:
                        return None
                    f = 1 / f
                return x, f
        return None

    def _weighted(self, k: int) -> tuple[str, tuple[int, int]] | None:
        """A MatMul or Gemm node with a constant 2-d weight: (its activation input, (in, out features))."""
        n = self.g.nodes[k]
        if n.op_type not in ("MatMul", "Gemm") or len(n.input) < 2 or not self.g.is_const(n.input[1]) or \
                self.g.is_const(n.input[0]):
            return None
        w = self.g.shapes.get(n.input[1])
        if w is None or len(w) != 2:
            return None
        if n.op_type == "Gemm":
            if _attr(n, "transA", 0) or _attr(n, "alpha", 1.0) != 1.0 or _attr(n, "beta", 1.0) != 1.0:
                return None
            return n.input[0], ((w[1], w[0]) if _attr(n, "transB", 0) else (w[0], w[1]))
        return n.input[0], (w[0], w[1])

    def _bias_add(self, k: int, features: int) -> bool:
        n = self.g.nodes[k]
        return n.op_type == "Add" and len(n.input) == 2 and any(
            self.g.is_const(t) and self.g.shapes.get(t) == (features,) for t in n.input)

    def _ending(self, k: int) -> _Projection | None:
        """The projection whose last node is `k` (a bias Add after a weighted MatMul, or the MatMul or Gemm)."""
        n = self.g.nodes[k]
        if n.op_type == "Add":
            for t in n.input:
                j = self._active(t)
                w = self._weighted(j) if j is not None and self.g.nodes[j].op_type == "MatMul" else None
                if j is not None and w is not None and self._bias_add(k, w[1][1]) and \
                        self.g.consumers.get(t) == [k]:
                    return _Projection([j, k], w[0], n.output[0], w[1], True)
            return None
        w = self._weighted(k)
        if w is None:
            return None
        bias = n.op_type == "Gemm" and len(n.input) > 2 and bool(n.input[2])
        if bias and self.g.shapes.get(n.input[2]) not in ((w[1][1],), (1, w[1][1])):
            return None
        return _Projection([k], w[0], n.output[0], w[1], bias)

    def _starting(self, k: int) -> _Projection | None:
        """The projection whose first node is `k` (with the bias Add that follows a MatMul)."""
        n = self.g.nodes[k]
        w = self._weighted(k)
        if w is None:
            return None
        if n.op_type == "MatMul":
            users = self.g.consumers.get(n.output[0], [])
            if len(users) == 1 and self._bias_add(users[0], w[1][1]):
                return _Projection([k, users[0]], w[0], self.g.nodes[users[0]].output[0], w[1], True)
        return self._ending(k)

    def _only_user(self, tensor: str) -> int | None:
        users = self.g.consumers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in {o.name for o in self.g.model.graph.output} else None

    def match(self, s: int) -> None:
        try:
            found = self._match(s)
        except (KeyError, IndexError, TypeError, ValueError):
            found = None
        if found is not None:
            y, region = found[1], found[3]
            last = self.g.producer[y]
            self.found[last] = found
            self.m.skip.update(k for k in region if k != last)

    def _match(self, s: int) -> tuple[str, str, dict[str, Any], list[int], str] | None:
        g, nodes = self.g, self.g.nodes
        softmax = nodes[s]
        region: set[int] = {s}
        scales: list[float] = []
        t = softmax.input[0]
        k = self._active(t)
        while k is not None and self._factor(nodes[k]) is not None:  # a scaling after Q.K^T
            x, f = self._factor(nodes[k])  # type: ignore[misc]
            scales.append(f)
            region.add(k)
            k = self._active(x)
        if k is None or nodes[k].op_type != "MatMul" or any(g.is_const(i) for i in nodes[k].input):
            return None
        qk = k
        region.add(qk)
        av = self._only_user(softmax.output[0])
        if av is None or nodes[av].op_type != "MatMul" or nodes[av].input[0] != softmax.output[0] or \
                g.is_const(nodes[av].input[1]):
            return None
        region.add(av)
        projections: list[_Projection] = []
        stack = [nodes[qk].input[0], nodes[qk].input[1], nodes[av].input[1]]
        while stack:
            k = self._active(stack.pop())
            if k is None:
                return None
            if k in region:
                continue
            n = nodes[k]
            proj = self._ending(k)
            if proj is not None:
                projections.append(proj)
                region.update(proj.nodes)
                continue
            scaled = self._factor(n)
            if scaled is not None:
                scales.append(scaled[1])
                stack.append(scaled[0])
            elif n.op_type in _SHAPING | _PICKING and all(g.is_const(i) for i in n.input[1:]):
                stack.append(n.input[0])
            else:
                return None
            region.add(k)
        inputs = set()
        for proj in projections:  # back from each in-projection through layout nodes to X (N x T x C)
            t = proj.input
            while len(g.shapes.get(t, ())) != 3 or g.shapes[t][0] != 1:
                k = self._active(t)
                if k is None or nodes[k].op_type not in _SHAPING:
                    return None
                region.add(k)
                t = nodes[k].input[0]
            inputs.add(t)
        if len(inputs) != 1:
            return None
        (x,) = inputs
        _, tokens, c = g.shapes[x]
        t, out_proj = nodes[av].output[0], None
        while out_proj is None:  # forward from A.V to the out-projection
            k = self._only_user(t)
            if k is None:
                return None
            out_proj = self._starting(k)
            if out_proj is None:
                if nodes[k].op_type not in _SHAPING:
                    return None
                region.add(k)
                t = nodes[k].output[0]
        region.update(out_proj.nodes)
        t = out_proj.output
        while g.shapes.get(t) != g.shapes[x]:  # and on to X's shape
            k = self._only_user(t)
            if k is None or nodes[k].op_type not in _SHAPING:
                return None
            region.add(k)
            t = nodes[k].output[0]
        y = t
        packed = [p.features for p in projections] == [(c, 3 * c)]
        if not (packed or sorted(p.features for p in projections) == [(c, c)] * 3) or out_proj.features != (c, c):
            return None
        biases = {p.bias for p in [*projections, out_proj]}
        if len(biases) != 1:
            return None
        scores = g.shapes[nodes[qk].output[0]]
        heads = math.prod(scores[:-2])
        if tuple(scores[-2:]) != (tokens, tokens) or heads < 1 or c % heads or \
                _attr(softmax, "axis", -1) % len(scores) != len(scores) - 1:
            return None
        if not math.isclose(math.prod(scales), 1 / math.sqrt(c // heads), rel_tol=1e-3):
            return None
        for k in region:  # the layer's values are read by its own nodes only, and it reads X and constants only
            for o in nodes[k].output:
                users = [u for u in g.consumers.get(o, []) if u not in self.m.const_nodes]  # not a Shape
                if o and o != y and (any(u not in region for u in users) or
                                     o in {v.name for v in g.model.graph.output}):
                    return None
            for i in nodes[k].input:
                if i and i != x and not g.is_const(i) and g.producer.get(i) not in region:
                    return None
        paths = {_scope(nodes[k], k)[0] for k in region}
        path = next(iter(paths)) if len(paths) == 1 else ""
        name = path if path and self.m.scopes[path] == len(region) else ""
        return x, y, {"heads": heads, "bias": biases.pop(), "dropout": 0.0}, sorted(region), name

    def add(self, i: int) -> None:
        x, y, args, region, name = self.found[i]
        nodes = [self.g.nodes[k] for k in region if k != i]
        self.m.add(self.g.nodes[i], i, "multihead_attention", args, [x], out=y, nodes=nodes, name=name)


def _replay(n: Any, x: Any, g: _Graph) -> Any:
    np = _np()
    op = n.op_type
    if op == "Reshape":
        target = g.value(n.input[1])
        if target is None:
            raise _Unmapped("a Reshape to a shape not known")
        return x.reshape(_reshape_to(x.shape, target, _attr(n, "allowzero", 0)))
    if op == "Transpose":
        perm = _attr(n, "perm", None)
        return np.transpose(x, perm)
    if op == "Flatten":
        axis = _attr(n, "axis", 1) % (x.ndim or 1)
        return x.reshape(math.prod(x.shape[:axis]), -1)
    axes = _attr(n, "axes", None)
    if len(n.input) > 1 and n.input[1]:
        axes = g.value(n.input[1])
    if op == "Squeeze":
        return np.squeeze(x, axis=None if axes is None else tuple(int(a) for a in axes))
    out = x
    rank = x.ndim + len(axes)
    for a in sorted(int(a) % rank for a in axes):
        out = np.expand_dims(out, a)
    return out


def _f32(v: Any) -> float:
    """An ONNX float attribute (float32) as the decimal it was written as: 1e-05, not 9.999999747378752e-06."""
    return float(f"{float(v):.7g}")


# --- the spec -------------------------------------------------------------------------------------------------------


def _unprefix(layers: list[ImportedLayer]) -> None:
    """No layer name may be a dotted prefix of another (torch nests modules by name): the shorter is renamed."""
    names = {ly.name for ly in layers}
    renamed: dict[str, str] = {}
    for ly in layers:
        if any(other.startswith(ly.name + ".") for other in names):
            new, k = f"{ly.name}_{ly.op}", 0
            while new in names or any(o.startswith(new + ".") for o in names):
                k += 1
                new = f"{ly.name}_{ly.op}_{k}"
            names.discard(ly.name)
            names.add(new)
            renamed[ly.name] = new
            ly.name = new
    if renamed:
        for ly in layers:
            ly.inputs = tuple(renamed.get(i, i) for i in ly.inputs)


def _live(layers: list[ImportedLayer], output: str) -> list[ImportedLayer]:
    """The layers the output depends on, in order (a layer whose value is never read is not part of the network)."""
    by_name = {ly.name: ly for ly in layers}
    keep, todo = {output}, [output]
    while todo:
        ly = by_name.get(todo.pop())
        for i in ly.inputs if ly else ():
            if i not in keep:
                keep.add(i)
                todo.append(i)
    return [ly for ly in layers if ly.name in keep]


def import_onnx(path: str, shape: Shape | None = None, name: str | None = None) -> OnnxImport:
    """Read the ONNX file at `path` into a spec (text and expanded graph). `shape` is the C x H x W input where the
    graph's is symbolic. Raises a one-line `ShufflecalcError` for anything that is not mapped exactly."""
    start = time.perf_counter()
    onnx = _onnx()
    model = _load(path)
    x, fixed = _graph_input(model, path, shape)
    g = _Graph(model, path, x, fixed)
    outputs = [o.name for o in model.graph.output]
    if len(outputs) != 1:
        raise ShufflecalcError(f"{path}: the graph must have one output, it has {len(outputs)} ({', '.join(outputs)})")
    mapper = _Mapper(g, path)
    mapper.run()
    output = None
    if not mapper.unmapped:
        try:
            output = mapper.source(outputs[0])
        except _Unmapped as exc:
            if not mapper.unmapped:
                mapper.unmapped.setdefault(f"graph output {exc.what}".strip(), []).append(outputs[0])
    if mapper.unmapped:
        total = sum(len(v) for v in mapper.unmapped.values())
        items = "; ".join(f"{what} (x{len(nodes)}: {', '.join(nodes[:3])}{', ...' if len(nodes) > 3 else ''})"
                          for what, nodes in sorted(mapper.unmapped.items()))
        raise UnmappedOps(f"{path}: {total} node{'s' if total != 1 else ''} without a layer kind: {items}")
    if output is None or output == INPUT:
        raise ShufflecalcError(f"{path}: the graph's output must be computed from its input")
    layers = _live(mapper.layers, output)
    _unprefix(layers)
    output = layers[-1].name if layers else output
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    result = OnnxImport(path, fixed, layers, output, nodes=len(g.nodes), folded=len(g.constant_nodes),
                        batchnorms=mapper.batchnorms, opset=opset,
                        initializer_elements=sum(math.prod(t.dims) for t in model.graph.initializer))
    folded_note = _folded_note(mapper, sum(ly.op == "conv2d" for ly in layers))
    if folded_note:
        result.batchnorm_folded = True
        result.notes.append(folded_note)
    stem = name or re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem) or "model"
    imported = ImportedModel(path, None, fixed, layers, output, modules=_modules(layers))
    header = [
        f"# shufflecalc import {path} (onnx {onnx.__version__}, opset {opset})",
        f"# {len(layers)} layers from {result.nodes} nodes ({result.folded} constant nodes folded); "
        f"{result.batchnorms} BatchNormalization nodes in the graph",
        *(f"# {note}" for note in result.notes),
    ]
    description = f"{Path(path).name}, imported from its ONNX graph"
    square = fixed[1] == fixed[2]
    notes = [folded_note] if folded_note else []  # the spec's `notes:`, which show, compare and conventions print
    result.text = _noted(write_spec(imported, stem, header, description, fold=False, resolution=square), notes)
    result.graph = _check(result, stem)
    if square and not _resizes(model, path, x, outputs[0], result, stem):
        square = False
        result.notes.append(f"no resolution parameter: the graph holds sizes of its {fixed[1]} x {fixed[2]} input")
        header.append(f"# {result.notes[-1]}")
        result.text = _noted(write_spec(imported, stem, header, description, fold=False, resolution=False), notes)
        result.graph = _check(result, stem)
    try:
        folded = _noted(write_spec(imported, stem, header, description, resolution=square), notes)
    except Exception:  # folding is for readability: the flat spec is the fallback, never a failure
        folded = result.text
    if folded != result.text:  # kept only where it expands to the flat spec's very layers (as `importer.run`)
        try:
            other = expand(_read(folded, stem))
        except ShufflecalcError:
            other = None
        if other is not None and same_layers(result.graph, other):
            result.text, result.graph = folded, other
    result.seconds = time.perf_counter() - start
    return result


def _folded_note(mapper: _Mapper, convs: int) -> str:
    """Where the exporter folded BatchNormalization into the convolutions, the note that says so, else "". Folded:
    the graph has no BatchNormalization node and convolutions with a bias whose weight is no module's own (its
    initializer is not named ``<module>.weight``: torch.onnx.export names a folded weight ``onnx::Conv_538``). A
    network whose convolutions have a bias of their own (ConvNeXt, VGG) keeps its parameters' names, and no note."""
    made = [w for w in mapper.biased_convs if not w.endswith(".weight")]
    if mapper.batchnorms or not made:
        return ""
    return (f"BatchNormalization folded into the convolutions by the exporter (no BatchNormalization node; "
            f"{len(made)} of {convs} convolutions have a bias and an exporter-made weight, {made[0]}): counts are "
            "the graph's, params C fewer per folded batchnorm of C channels and fvcore_flops without its 2 per "
            "output element")


def _noted(text: str, notes: Sequence[str]) -> str:
    """A spec's text with ``notes:`` after its ``reference:`` line."""
    if not notes:
        return text
    head, sep, rest = text.partition("\nreference: ")
    line, _, tail = rest.partition("\n")
    return f"{head}{sep}{line}\nnotes:\n" + "".join(f"  - {scalar(n)}\n" for n in notes) + tail


def _modules(layers: Sequence[ImportedLayer]) -> list[tuple[str, str]]:
    """The module tree the node scopes give, for `importer.fold`: every dotted prefix of a layer name, in forward
    order, parents first. ONNX keeps no class names: a path whose children are all numbered (``layer1.0``,
    ``layer1.1``) is taken for a plain ``nn.Sequential`` and left out, and paths whose layers (local name and kind)
    are one a subset of the other's (a bottleneck with and without its downsample) are one class, named after the
    first one's last unnumbered part."""
    paths: list[str] = []
    for ly in layers:
        parts = ly.name.split(".")
        for k in range(1, len(parts)):
            prefix = ".".join(parts[:k])
            if prefix not in paths:
                paths.append(prefix)
    children: dict[str, set[str]] = {}
    for q in paths:
        parent, _, last = q.rpartition(".")
        children.setdefault(parent, set()).add(last)
    kept = [q for q in paths if not (children.get(q) and all(c.isdigit() for c in children[q]))]
    content = {q: frozenset((ly.name[len(q) + 1:], ly.op) for ly in layers if ly.name.startswith(q + "."))
               for q in kept}
    root = {q: q for q in kept}

    def find(q: str) -> str:
        while root[q] != q:
            q = root[q]
        return q

    for k, a in enumerate(kept):
        for b in kept[k + 1:]:
            if (content[a] <= content[b] or content[b] <= content[a]) and find(a) != find(b):
                root[find(b)] = find(a)
    names: dict[str, str] = {}
    for q in kept:
        r = find(q)
        if r not in names:
            words = [w for w in r.split(".") if not w.isdigit()] or ["block"]
            base = words[-1][:1].upper() + words[-1][1:]
            names[r], k = base, 2
            while list(names.values()).count(names[r]) > 1:
                names[r], k = f"{base}_{k}", k + 1
    return [(q, names[find(q)]) for q in kept]


def _read(text: str, name: str) -> Spec:
    """A spec from YAML text (written to a temporary file, as the loader reads files)."""
    with tempfile.TemporaryDirectory(prefix="shufflecalc-onnx-") as folder:
        spec_path = Path(folder) / f"{name}.yaml"
        spec_path.write_text(text, encoding="utf-8")
        return load_spec(str(spec_path))


def _check(result: OnnxImport, name: str) -> Graph:
    """The spec expanded by the engine, every layer's output shape the ONNX graph's."""
    try:
        graph = expand(_read(result.text, name))
    except ShufflecalcError as exc:
        raise ShufflecalcError(f"{result.path}: the imported spec is refused by the engine ({exc.message})") \
            from None
    shapes = {ly.name: ly.out for ly in result.layers}
    for ly in graph.layers:
        if ly.name in shapes and tuple(ly.out) != tuple(shapes[ly.name]):
            raise ShufflecalcError(f"{result.path}: layer {ly.name} ({ly.op}) gives {ly.out} in the engine and "
                                   f"{shapes[ly.name]} in the ONNX graph")
    return graph


def _resizes(model: Any, path: str, x: Any, output: str, result: OnnxImport, name: str) -> bool:
    """Whether the graph runs at twice its input size as the spec's ``resolution`` says: read again on a 2H x 2W
    input, the same layers (names, kinds, arguments, inputs), every output shape the engine's at that resolution,
    and the same weights (a Reshape or a Gemm fixed to the input's size fails one of these)."""
    c, h, w = result.input
    try:
        g = _Graph(model, path, x, (c, 2 * h, 2 * w))
        mapper = _Mapper(g, path)
        mapper.run()
        if mapper.unmapped:
            return False
        layers = _live(mapper.layers, mapper.source(output))
        _unprefix(layers)
        spec = _read(result.text, name)
        large = expand(spec, {"resolution": 2 * h})
    except Exception:  # the graph or the engine refuses the larger input: the spec keeps its size
        return False
    def rows(ls: Sequence[ImportedLayer]) -> list[tuple[Any, ...]]:
        return [(ly.name, ly.op, ly.args, ly.inputs) for ly in ls]

    assert result.graph is not None
    if rows(layers) != rows(result.layers) or len(large.layers) != len(result.graph.layers):
        return False
    shapes = {ly.name: tuple(ly.out) for ly in layers}
    return all(shapes.get(b.name, tuple(b.out)) == tuple(b.out) and a.params == b.params
               for a, b in zip(result.graph.layers, large.layers, strict=True))
