"""A torch model traced with torch.fx and every node mapped to a spec layer kind (`import_model`).

The model is traced by ``torch.fx.symbolic_trace`` (a tracer that remembers which module it is in, so that a
trace that fails names it) and run once on a random input by an ``fx.Interpreter`` that records every tensor's
shape and every other value (sizes, sums of sizes). Then each node that computes a tensor the output depends on
becomes one spec layer, named by its module path:

- a torch.nn module (``call_module``): ``features.0`` (a module called again, which can only be one without
  parameters such as a reused ReLU, gets ``_1``, ``_2``);
- a function or method (``call_function``, ``call_method``): the path of the module whose forward called it, then
  the operation: ``layer1.0.add``, ``stage2.1.chunk1``;
- a run of layout operations (view, reshape, transpose, permute, contiguous, flatten) is replayed on a tensor of
  distinct numbers and recognized by what it does to them: the identity, a flatten, a channel shuffle of some
  number of groups (ShuffleNet's view-transpose-view), tokens (ViT's reshape-permute);
- ``chunk`` and ``split`` into equal channel groups, then indexing, are `split` layers; sizes and shape arithmetic
  are no layers.

Nothing is dropped silently: every node without a mapping is reported, all at once, with its module path and count
(`UnmappedOps`). A module with parameters that the eval forward never calls (Inception v3's auxiliary classifier)
is looked for in a trace of the model in training mode and becomes ``unused: true`` layers; if it is not found
there, its parameters are an error that names it.
"""

from __future__ import annotations

import copy
import math
import operator
import time
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from shufflecalc.bridge.builder import INSTALL_HINT
from shufflecalc.errors import MissingDependency, ShufflecalcError, one_line
from shufflecalc.importer.model import ImportedLayer, ImportedModel, UnmappedOps, layout_kind, spec_pair
from shufflecalc.importer.model import Unmapped as _Unmapped
from shufflecalc.spec.graph import INPUT
from shufflecalc.spec.layers import Shape

try:
    import torch
    import torch.fx as fx
    import torch.nn.functional as F
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised by the no-torch test in a subprocess
    raise MissingDependency(f"{INSTALL_HINT} ({exc})") from None


class _Tracer(fx.Tracer):
    """symbolic_trace's tracer, remembering the modules being traced so that a failure names the innermost."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def call_module(self, m: Any, forward: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        self.stack.append(self.path_of_module(m))
        try:
            result = super().call_module(m, forward, args, kwargs)
        except Exception:
            raise  # the stack keeps the innermost module for the error
        self.stack.pop()
        return result


def trace(model: Any, target: str) -> Any:
    """The fx GraphModule of `model` (in its current mode); an untraceable model is a one-line error naming the
    module whose forward failed and why."""
    tracer = _Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:
        where = tracer.stack[-1] if tracer.stack and tracer.stack[-1] else "the model's own forward"
        cls = type(model.get_submodule(tracer.stack[-1])).__name__ if tracer.stack else type(model).__name__
        reason = one_line(str(exc)).split(" (see ")[0][:300] or type(exc).__name__
        raise ShufflecalcError(f"{target}: cannot trace {where} ({cls}) with torch.fx: {type(exc).__name__}: "
                               f"{reason}") from None
    return fx.GraphModule(model, graph)


class _Recorder(fx.Interpreter):
    """Runs the traced graph, keeping every tensor's shape and every other value (sizes, their arithmetic)."""

    def __init__(self, gm: Any) -> None:
        super().__init__(gm)
        self.shapes: dict[Any, tuple[int, ...]] = {}
        self.values: dict[Any, Any] = {}

    def run_node(self, n: Any) -> Any:
        result = super().run_node(n)
        if isinstance(result, torch.Tensor):
            self.shapes[n] = tuple(result.shape)
        elif isinstance(result, (tuple, list)) and result and all(isinstance(r, torch.Tensor) for r in result):
            self.values[n] = tuple(tuple(r.shape) for r in result)
        else:
            self.values[n] = result
        return result


def _record(gm: Any, shape: Shape, batch: int, target: str) -> _Recorder:
    recorder = _Recorder(gm)
    x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's notes on padding='same' and the like
            recorder.run(x)
    except Exception as exc:
        raise ShufflecalcError(f"{target}: the traced model fails on a {batch} x {' x '.join(map(str, shape))} input: "
                               f"{type(exc).__name__}: {one_line(str(exc).strip().split(chr(10))[0])[:300]}") from None
    return recorder


# --- what the nodes are ---------------------------------------------------------------------------------------------

LAYOUT_METHODS = {"view", "reshape", "transpose", "permute", "contiguous", "flatten"}
LAYOUT_FUNCTIONS: set[Any] = {torch.flatten, torch.reshape, torch.transpose, torch.permute}

_ACTIVATION_MODULES: dict[type, str] = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid",
    nn.Sigmoid: "sigmoid", nn.SiLU: "silu", nn.Tanh: "tanh",
}
_ACTIVATION_FUNCTIONS: dict[Any, str] = {
    F.relu: "relu", torch.relu: "relu", torch.relu_: "relu", F.relu6: "relu6", F.hardswish: "hardswish",
    F.hardsigmoid: "hardsigmoid", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", F.silu: "silu",
    torch.tanh: "tanh", F.tanh: "tanh",
}
_ACTIVATION_METHODS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "sigmoid_": "sigmoid", "tanh": "tanh",
                       "tanh_": "tanh"}
_ADD = {operator.add, operator.iadd, torch.add}
_MUL = {operator.mul, operator.imul, torch.mul}
# The kinds that act on a channels-last map (N x H x W x C, the spec's tokens) as on tokens: along the last axis or
# element by element.
_CHANNELS_LAST = {"layernorm", "linear", "relu", "relu6", "hardswish", "hardsigmoid", "sigmoid", "silu", "tanh",
                  "gelu", "leaky_relu", "elu", "hardtanh", "dropout", "drop_path", "layer_scale", "add", "mul"}


def _bind(args: Sequence[Any], kwargs: Mapping[str, Any], names: Sequence[str],
          defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Positional and keyword arguments of a call, by parameter name (a parameter not given takes its default)."""
    bound = dict(defaults)
    bound.update(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound


_pair = spec_pair  # a torch size argument as the spec writes it: an int, or (h, w) when the two differ


class _Reported(Exception):
    """A node whose input has no layer, an unmapped operation already listed: no layer, nothing more to list."""


def _float(v: Any) -> float:
    return float(v)


class _Mapper:
    """Maps the live nodes of one traced graph to spec layers."""

    def __init__(self, gm: Any, rec: _Recorder, target: str, every: bool = False) -> None:
        self.gm, self.rec, self.target = gm, rec, target
        self.modules = dict(gm.named_modules())
        self.names: dict[Any, str] = {}  # node -> the layer (name) whose value it is
        self.layers: list[ImportedLayer] = []
        self.taken: set[str] = set(self.modules)  # module paths are reserved for their modules
        self.used: set[str] = set()
        self.calls: Counter[str] = Counter()  # module path -> calls
        self.unmapped: Counter[tuple[str, str]] = Counter()  # (operation, module path) -> count
        self.layout: dict[Any, tuple[Any, list[Any]]] = {}  # node -> (the tensor node it lays out, the nodes)
        self.groups: dict[Any, tuple[Any, int]] = {}  # chunk/split node -> (its input, equal parts)
        self.attrs: dict[Any, str] = {}  # get_attr node of a tensor -> its path (``class_token``)
        self.expanded: dict[Any, Any] = {}  # ``attr.expand(n, -1, -1)`` node -> the get_attr node
        self.channels_last: dict[Any, tuple[int, int]] = {}  # N x H x W x C node, tokens in the spec -> (H, W)
        self.attention: dict[Any, tuple[Any, dict[str, Any]]] = {}  # MultiheadAttention call -> (input, arguments)
        self.read: set[str] = set()  # parameters the forward reads directly, each now a layer's
        self.resolving: set[Any] = set()  # layout runs being resolved
        self.failed: set[Any] = set()  # nodes without a layer: unmapped, or reading an unmapped one
        self.renames: dict[str, str] = {}  # such a parameter's state-dict key -> its layer's (``P`` -> ``P.weight``)
        self.live = set(gm.graph.nodes) if every else self._live()  # every: what training mode calls, used or not

    # -- bookkeeping --

    def _live(self) -> set[Any]:
        """The nodes the output depends on."""
        graph = self.gm.graph
        out = next(n for n in graph.nodes if n.op == "output")
        live, todo = {out}, [out]
        while todo:
            for m in todo.pop().all_input_nodes:
                if m not in live:
                    live.add(m)
                    todo.append(m)
        return live

    @staticmethod
    def owner(node: Any) -> str:
        """The path of the module whose forward made `node` ("" for the model's own forward)."""
        stack = node.meta.get("nn_module_stack") or {}
        paths = [v[0] if isinstance(v, tuple) else k for k, v in stack.items()]
        if node.op == "call_module" and paths and paths[-1] == node.target:
            paths = paths[:-1]
        return paths[-1] if paths else ""

    def fresh(self, base: str, module: bool = False) -> str:
        """A unique layer name: `base` itself for a module's first call, else `base` with _1, _2, ..."""
        if module and base not in self.used:
            self.used.add(base)
            return base
        k = 0
        while True:
            name = base if k == 0 else f"{base}_{k}"
            if name not in self.used and name not in self.taken:
                self.used.add(name)
                return name
            k += 1

    def op_name(self, node: Any, what: str) -> str:
        owner = self.owner(node)
        return self.fresh(f"{owner}.{what}" if owner else what)

    def shape(self, node: Any) -> tuple[int, ...] | None:
        return self.rec.shapes.get(node)

    def is_tensor(self, x: Any) -> bool:
        return isinstance(x, fx.Node) and x in self.rec.shapes

    def miss(self, node: Any, what: str) -> None:
        owner = node.target if node.op == "call_module" else self.owner(node)
        self.unmapped[(what, owner or "(top level)")] += 1

    def cl(self, node: Any) -> tuple[int, int] | None:
        """(H, W) of a channels-last map (N x H x W x C, the spec's H*W tokens), else None; a layout run ending at
        `node` is resolved first."""
        if node in self.layout and node not in self.names and node not in self.resolving:
            self._resolve_layout(node)
        return self.channels_last.get(node)

    def spec_shape(self, node: Any) -> Shape:
        """The spec's shape of a tensor node: torch's without the batch, a channels-last map's as its tokens."""
        shape = self.shape(node)
        assert shape is not None
        if self.cl(node) is not None:
            h, w = self.channels_last[node]
            return (h * w, shape[-1])
        return shape[1:]

    def add(self, node: Any, name: str, op: str, args: dict[str, Any], inputs: Sequence[Any], source: str) -> None:
        for i in inputs:
            if i in self.attrs or i in self.expanded:
                raise _Unmapped(f"{source} of the tensor attribute '{self.attr_of(i)}'")
        sources = [self.value_of(i) for i in inputs]
        if any(s is None for s in sources):
            if self.unmapped:
                self.failed.add(node)
                self._taint(node)
                return  # an input is unmapped: already reported
            raise _Unmapped(f"{source} of an input without a layer")  # never a silent gap
        if op not in ("to_tokens", "from_tokens"):  # these two enter and leave the channels-last layout
            where = {self.cl(i) for i in inputs}
            if where != {None}:
                if op not in _CHANNELS_LAST or len(where) != 1:
                    raise _Unmapped(f"{source} on a channels-last tensor (N x H x W x C)")
                self.channels_last[node] = where.pop()  # type: ignore[assignment]
        in_shapes = tuple(self.spec_shape(i) for i in inputs)
        out = self.spec_shape(node)
        self.layers.append(ImportedLayer(name, op, args, tuple(sources), in_shapes, out, source))  # type: ignore[arg-type]
        self.names[node] = name

    def _taint(self, node: Any) -> None:
        """A node without a layer: a 4-D result of a channels-last input is taken to be channels-last, so that the
        operations after it are judged as they would be (Swin's LayerNorm after its unmapped window attention is not
        listed)."""
        shape = self.shape(node)
        if shape is not None and len(shape) == 4 and any(self.cl(i) is not None for i in node.all_input_nodes):
            self.channels_last[node] = (shape[1], shape[2])

    def attr_of(self, node: Any) -> str:
        """The path of the parameter a get_attr node (or its expand) reads."""
        return self.attrs[node] if node in self.attrs else self.attrs[self.expanded[node]]

    def value_of(self, node: Any) -> str | None:
        """The layer whose output `node` is (a layout run ending here is resolved now)."""
        if node in self.attrs or node in self.expanded:
            raise _Unmapped(f"an operation on the tensor attribute '{self.attr_of(node)}'")
        if node in self.names:
            return self.names[node]
        if node in self.layout:
            self._resolve_layout(node)
            return self.names.get(node)
        return None

    # -- the walk --

    def run(self) -> None:
        for node in self.gm.graph.nodes:
            if node not in self.live:
                if node.op == "call_module" and any(True for _ in self.modules[node.target].parameters()):
                    self.miss(node, f"{type(self.modules[node.target]).__name__} whose result is never used")
                continue
            try:
                self._node(node)
            except _Unmapped as exc:
                self.miss(node, exc.what)
                self.failed.add(node)
                self._taint(node)
            except _Reported:
                self.failed.add(node)
                self._taint(node)

    def _node(self, node: Any) -> None:
        if node.op == "placeholder":
            if node in self.rec.shapes and INPUT not in self.names.values():
                self.names[node] = INPUT
                return
            raise _Unmapped("a second input of forward()")
        if node.op == "output":
            return
        if node.op == "get_attr":
            if node in self.rec.shapes:
                self.attrs[node] = node.target  # a parameter read directly: its reader decides (class token, ...)
            return
        if node.op == "call_module":
            self._module(node)
            return
        if node not in self.rec.shapes and node not in self.rec.values:
            raise _Unmapped(self._what(node))
        if node not in self.rec.shapes:
            if self._is_groups(node):
                return
            return  # a size, a sum of sizes, an assertion: no layer
        self._function(node)

    @staticmethod
    def _what(node: Any) -> str:
        if node.op == "call_method":
            return f"Tensor.{node.target}"
        if node.op == "get_attr":
            return f"tensor attribute '{node.target}'"
        t = node.target
        mod = getattr(t, "__module__", None) or ""
        name = getattr(t, "__name__", str(t))
        if mod.startswith("torch.nn.functional") or mod == "torch.nn.functional":
            return f"F.{name}"
        if mod == "_operator":
            return f"operator.{name}"
        if isinstance(t, type(torch.cat)) or mod == "torch" or mod.startswith("torch."):
            return f"torch.{name}"
        return f"{mod}.{name}" if mod else name

    # -- modules --

    def _module(self, node: Any) -> None:
        m = self.modules[node.target]
        path = node.target
        self.calls[path] += 1
        has_params = any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False))
        if self.calls[path] > 1 and has_params:
            raise _Unmapped(f"{type(m).__name__} called {self.calls[path]} times (shared weights: a spec layer owns "
                            "its parameters)")
        if isinstance(m, nn.MultiheadAttention):
            self._attention(node, m)
            return
        tensors = [a for a in node.args if isinstance(a, fx.Node)]
        if len(tensors) != 1 or node.kwargs:
            raise _Unmapped(f"nn.{type(m).__name__} with {len(tensors)} tensor inputs")
        x = tensors[0]
        if isinstance(m, nn.Identity):
            self.names[node] = self._source(x)
            return
        op, args = self._module_kind(m, x, node)
        self.add(node, self.fresh(path, module=True), op, args, [x], f"nn.{type(m).__name__}")

    def _attention(self, node: Any, m: Any) -> None:
        """``nn.MultiheadAttention`` called as self-attention (q = k = v), batch first, without the weights: the
        `multihead_attention` kind, made when the output is taken (``attention(x, x, x, ...)[0]``)."""
        what = "nn.MultiheadAttention"
        b = _bind(node.args, node.kwargs, ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask",
                                           "average_attn_weights", "is_causal"),
                  {"key_padding_mask": None, "need_weights": True, "attn_mask": None, "is_causal": False})
        x = b["query"]
        if not (b["key"] is x and b["value"] is x and self.is_tensor(x)):
            raise _Unmapped(what + " other than self-attention (query, key and value one tensor)")
        if b["need_weights"] is not False:
            raise _Unmapped(what + " with need_weights=True (the kind computes attention as need_weights=False "
                            "does)")
        if b["key_padding_mask"] is not None or b["attn_mask"] is not None or b["is_causal"]:
            raise _Unmapped(what + " with a mask")
        if not m.batch_first or len(self.shape(x) or ()) != 3 or self.cl(x) is not None:
            raise _Unmapped(what + " other than batch_first on tokens (N x T x C)")
        biases = (m.in_proj_bias is not None, m.out_proj.bias is not None)
        if not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn or biases[0] != biases[1]:
            raise _Unmapped(what + " with kdim or vdim, add_bias_kv, add_zero_attn, or a bias on one projection only")
        self.attention[node] = (x, {"heads": m.num_heads, "dim": None, "bias": biases[0], "dropout": _float(m.dropout)})

    def _source(self, x: Any) -> str:
        name = self.value_of(x)
        if name is None:
            if self.unmapped:
                raise _Reported()
            raise _Unmapped("an operation on an input without a layer")
        return name

    def _module_kind(self, m: Any, x: Any, node: Any) -> tuple[str, dict[str, Any]]:
        t = type(m)
        rank = len(self.spec_shape(x)) + 1  # torch's rank of the spec's shape (a channels-last map: its tokens')
        what = f"nn.{t.__name__}"
        if t is nn.Conv2d and m.padding_mode == "zeros":
            padding = m.padding if isinstance(m.padding, str) else _pair(m.padding)
            return "conv2d", {"out": m.out_channels, "kernel": _pair(m.kernel_size), "stride": _pair(m.stride),
                              "padding": padding, "dilation": _pair(m.dilation), "groups": m.groups,
                              "bias": m.bias is not None}
        if t is nn.ConvTranspose2d and m.padding_mode == "zeros" and not isinstance(m.padding, str):
            return "conv_transpose2d", {"out": m.out_channels, "kernel": _pair(m.kernel_size),
                                        "stride": _pair(m.stride), "padding": _pair(m.padding),
                                        "output_padding": _pair(m.output_padding), "groups": m.groups,
                                        "dilation": _pair(m.dilation), "bias": m.bias is not None}
        if ((t is nn.BatchNorm2d and rank == 4) or (t is nn.BatchNorm1d and rank == 2)) and m.track_running_stats:
            return "batchnorm", {"affine": m.affine, "eps": _float(m.eps)}
        if t in _ACTIVATION_MODULES:
            return _ACTIVATION_MODULES[t], {}
        if t is nn.GELU:
            return "gelu", {"approximate": m.approximate}
        if t is nn.LeakyReLU:
            return "leaky_relu", {"negative_slope": _float(m.negative_slope)}
        if t is nn.ELU:
            return "elu", {"alpha": _float(m.alpha)}
        if t is nn.Hardtanh:
            return "hardtanh", {"min_val": _float(m.min_val), "max_val": _float(m.max_val)}
        if t is nn.PReLU:
            return "prelu", {"num_parameters": m.num_parameters}
        if t is nn.Softmax and m.dim is not None and m.dim != 0:
            return "softmax", {"dim": m.dim - 1 if m.dim > 0 else m.dim}
        if t is nn.LayerNorm and rank != 4 and len(m.normalized_shape) == 1:
            return "layernorm", {"eps": _float(m.eps), "elementwise_affine": m.elementwise_affine,
                                 "bias": m.bias is not None}
        if t is nn.GroupNorm and rank == 4:
            return "groupnorm", {"groups": m.num_groups, "eps": _float(m.eps), "affine": m.affine}
        if t is nn.InstanceNorm2d and not m.track_running_stats:
            return "instancenorm", {"affine": m.affine, "eps": _float(m.eps)}
        if t is nn.Dropout:
            return "dropout", {"p": _float(m.p)}
        if t is nn.MaxPool2d and not m.return_indices:
            return "maxpool", {"kernel": _pair(m.kernel_size), "stride": _pair(m.stride or m.kernel_size),
                               "padding": _pair(m.padding), "dilation": _pair(m.dilation), "ceil_mode": m.ceil_mode}
        if t is nn.AvgPool2d:
            return "avgpool", {"kernel": _pair(m.kernel_size), "stride": _pair(m.stride or m.kernel_size),
                               "padding": _pair(m.padding), "ceil_mode": m.ceil_mode,
                               "count_include_pad": m.count_include_pad, "divisor_override": m.divisor_override}
        if t is nn.AdaptiveAvgPool2d:
            return self._adaptive("avg", node)
        if t is nn.AdaptiveMaxPool2d and not m.return_indices:
            return self._adaptive("max", node)
        if t is nn.Upsample and m.mode in ("nearest", "bilinear") and rank == 4:
            size = None if m.size is None else _pair(m.size)
            scale = None if m.scale_factor is None else m.scale_factor
            if isinstance(scale, (tuple, list)):
                scale = tuple(float(s) for s in scale) if scale[0] != scale[1] else float(scale[0])
            elif scale is not None:
                scale = float(scale)
            corners = bool(m.align_corners) if m.mode == "bilinear" else False
            return "upsample", {"mode": m.mode, "size": size, "scale": scale, "align_corners": corners}
        if t is nn.Flatten and m.start_dim == 1 and m.end_dim == -1:
            return "flatten", {}
        if t is nn.Linear:
            return "linear", {"out": m.out_features, "bias": m.bias is not None}
        if t is nn.ChannelShuffle and rank == 4:
            return "channel_shuffle", {"groups": m.groups}
        raise _Unmapped(what)

    def _adaptive(self, kind: str, node: Any) -> tuple[str, dict[str, Any]]:
        out = self.shape(node)
        assert out is not None and len(out) == 4
        if kind == "avg" and out[2:] == (1, 1):
            return "global_avgpool", {}
        return f"adaptive_{kind}pool", {"output": _pair(out[2:])}

    # -- functions and methods --

    def _is_groups(self, node: Any) -> bool:
        """chunk / split of a 4-D tensor into equal channel groups: remembered, its items become split layers."""
        if not self._call(node, ("chunk", "split"), (torch.chunk, torch.split)):
            return False
        x = node.args[0] if node.args else None
        shapes = self.rec.values.get(node)
        if not self.is_tensor(x) or not isinstance(shapes, tuple):
            return False
        rank = len(self.shape(x) or ())
        dim = _bind(node.args[1:], node.kwargs, ("size", "dim"), {"dim": 0}).get("dim", 0)
        if rank != 4 or dim not in (1, -3) or len({s[1] for s in shapes}) != 1:
            raise _Unmapped(f"{self._what(node)} other than into equal channel groups")
        self.groups[node] = (x, len(shapes))
        return True

    @staticmethod
    def _call(node: Any, methods: Iterable[str], functions: Iterable[Any]) -> bool:
        if node.op == "call_method":
            return node.target in methods
        return node.op == "call_function" and node.target in set(functions)

    def _tensor_args(self, node: Any) -> list[Any]:
        return [a for a in node.args if self.is_tensor(a)]

    def _function(self, node: Any) -> None:
        t, args, kwargs = node.target, node.args, node.kwargs
        method = node.op == "call_method"
        what = self._what(node)
        if (method and t in LAYOUT_METHODS) or (not method and t in LAYOUT_FUNCTIONS):
            x = args[0]
            if not self.is_tensor(x) or any(self.is_tensor(a) for a in list(args[1:]) + list(kwargs.values())):
                raise _Unmapped(what)
            if x in self.attrs or x in self.expanded:
                self.value_of(x)  # raises: a layout of a parameter read directly
            base, nodes = self.layout.get(x, (x, []))
            self.layout[node] = (base, [*nodes, node])
            return
        if method and t == "expand" and args and args[0] in self.attrs:
            self._expand(node)
            return
        if t is operator.getitem and not method:
            src, index = args
            if src in self.attention and index == 0:  # MultiheadAttention's output (index 1: its weights, unused)
                x, a = self.attention[src]
                self.add(node, self.fresh(src.target, module=True), "multihead_attention", a, [x],
                         "nn.MultiheadAttention")
                return
            if self._is_select(src, index):
                t_count = self.spec_shape(src)[0]
                self.add(node, self.op_name(node, "select_token"), "select_token", {"index": index[1] % t_count},
                         [src], what)
                return
            if src in self.groups and isinstance(index, int):
                x, parts = self.groups[src]
                index = index % parts
                self.add(node, self.op_name(node, f"chunk{index}"), "split", {"parts": parts, "index": index}, [x],
                         what + " of " + self._what(src))
                return
            raise _Unmapped("indexing a tensor")
        tensors = self._tensor_args(node)
        if (not method and t in _ACTIVATION_FUNCTIONS) or (method and t in _ACTIVATION_METHODS):
            op = _ACTIVATION_FUNCTIONS[t] if not method else _ACTIVATION_METHODS[t]
            self.add(node, self.op_name(node, op), op, {}, [args[0]], what)
            return
        if not method and t in (F.gelu, F.leaky_relu, F.elu, F.hardtanh, F.softmax, F.dropout):
            self._functional(node, t, what)
            return
        if not method and t is F.layer_norm:
            self._layer_norm(node, what)
            return
        if not method and getattr(t, "__name__", "") == "stochastic_depth" and "torchvision" in getattr(
                t, "__module__", ""):
            b = _bind(args, kwargs, ("input", "p", "mode", "training"), {"training": True})
            if b["mode"] != "row":
                raise _Unmapped(what + f" with mode {b['mode']!r}")
            self.add(node, self.op_name(node, "stochastic_depth"), "drop_path", {"p": _float(b["p"])}, [args[0]], what)
            return
        if (not method and t in _ADD) or (method and t in ("add", "add_")):
            if len(args) == 2 and not kwargs and self._position_embedding(node, args, what):
                return
            if len(tensors) != 2 or len(args) != 2 or kwargs or self.shape(args[0]) != self.shape(args[1]):
                raise _Unmapped(what + " other than of two tensors of one shape")
            self.add(node, self.op_name(node, "add"), "add", {}, list(args), what)
            return
        if (not method and t in _MUL) or (method and t in ("mul", "mul_")):
            if len(args) == 2 and not kwargs and self._layer_scale(node, args, what):
                return
            if len(tensors) != 2 or len(args) != 2 or kwargs:
                raise _Unmapped(what + " other than of two tensors")
            self.add(node, self.op_name(node, "mul"), "mul", {}, list(args), what)
            return
        if not method and t is torch.cat:
            b = _bind(args, kwargs, ("tensors", "dim"), {"dim": 0})
            pieces = list(b["tensors"])
            if len(pieces) == 1 and self.is_tensor(pieces[0]):  # torch.cat([x]) is x (DenseNet's first layers)
                self.names[node] = self._source(pieces[0])
                return
            if self._class_token(node, pieces, b["dim"], what):
                return
            if len(pieces) < 2 or not all(self.is_tensor(p) and len(self.shape(p) or ()) == 4 for p in pieces) or \
                    b["dim"] not in (1, -3):
                raise _Unmapped(what + " other than of feature maps along the channels")
            self.add(node, self.op_name(node, "cat"), "concat", {}, pieces, what)
            return
        if (method and t == "mean") or (not method and t is torch.mean):
            b = _bind(args, kwargs, ("input", "dim", "keepdim"), {"dim": None, "keepdim": False})
            dims = b["dim"]
            dims = sorted(d % 4 for d in dims) if isinstance(dims, (list, tuple)) else None
            if len(self.shape(args[0]) or ()) != 4 or dims != [2, 3] or b["keepdim"] or b.get("dtype"):
                raise _Unmapped(what + " other than over the height and width, without keepdim")
            self.add(node, self.op_name(node, "mean"), "mean", {}, [args[0]], what)
            return
        if not method and t in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
            kind = "avg" if t is F.adaptive_avg_pool2d else "max"
            op, a = self._adaptive(kind, node)
            self.add(node, self.op_name(node, op), op, a, [args[0]], what)
            return
        if not method and t in (F.max_pool2d, F.avg_pool2d):
            self._pool(node, t, what)
            return
        raise _Unmapped(what)

    # -- parameters read directly (fx get_attr) and the token patterns --

    def _parameter(self, node: Any) -> Any:
        """The tensor a get_attr node reads."""
        value: Any = self.gm
        for part in str(node.target).split("."):
            value = getattr(value, part)
        return value

    def _own(self, attr: Any, layer: str, key: str) -> None:
        """Parameter `attr` becomes layer `layer`'s tensor `key` (its state-dict key renamed so)."""
        path = self.attrs[attr]
        self.read.add(path)
        if key:
            self.renames[path] = f"{layer}.{key}"

    def _expand(self, node: Any) -> None:
        """``class_token.expand(n, -1, -1)``: remembered for the concat that prepends it."""
        attr = node.args[0]
        shape, out = self.shape(attr), self.shape(node)
        if shape is None or out is None or shape[0] != 1 or out[1:] != shape[1:]:
            raise _Unmapped(f"Tensor.expand of the tensor attribute '{self.attrs[attr]}' other than over the batch")
        self.expanded[node] = attr

    def _is_select(self, src: Any, index: Any) -> bool:
        """``x[:, i]`` (or ``x[:, i, :]``) of tokens N x T x C: one token."""
        if not self.is_tensor(src) or self.cl(src) is not None or len(self.shape(src) or ()) != 3:
            return False
        if not isinstance(index, tuple) or len(index) not in (2, 3) or index[0] != slice(None):
            return False
        return isinstance(index[1], int) and not isinstance(index[1], bool) and (
            len(index) == 2 or index[2] == slice(None))

    def _position_embedding(self, node: Any, args: Sequence[Any], what: str) -> bool:
        """``tokens + pos_embedding`` (a 1 x T x C parameter): `position_embedding`, named by the parameter."""
        attrs = [a for a in args if a in self.attrs]
        x = next((a for a in args if a not in self.attrs), None)
        if len(attrs) != 1 or not self.is_tensor(x):
            return False
        tokens = self.cl(x) is None and len(self.shape(x) or ()) == 3
        if not tokens or self.shape(attrs[0]) != (1, *self.spec_shape(x)):
            shown = " x ".join(map(str, (self.shape(x) or ())[1:]))
            raise _Unmapped(f"{what} of the tensor attribute '{self.attrs[attrs[0]]}' of shape "
                            f"{tuple(self.shape(attrs[0]) or ())} to an N x {shown} tensor (only a 1 x T x C position "
                            "embedding added to tokens has a layer kind)")
        name = self.fresh(self.attrs[attrs[0]], module=True)
        self._own(attrs[0], name, "weight")
        self.add(node, name, "position_embedding", {}, [x], f"{what} of a parameter")
        return True

    def _layer_scale(self, node: Any, args: Sequence[Any], what: str) -> bool:
        """``gamma * x`` or ``x * gamma`` with a parameter of the shape `layer_scale` makes: C x 1 x 1 on a map,
        C on tokens or a channels-last map (ConvNeXt's ``self.layer_scale * x``)."""
        attrs = [a for a in args if a in self.attrs]
        x = next((a for a in args if a not in self.attrs), None)
        if len(attrs) != 1 or not self.is_tensor(x):
            return False
        shape = self.spec_shape(x)
        want = (shape[0], 1, 1) if len(shape) == 3 else (shape[-1],)
        got = tuple(self.shape(attrs[0]) or ())
        if got != want:
            raise _Unmapped(f"{what} of the tensor attribute '{self.attrs[attrs[0]]}' of shape {got} (a layer "
                            f"scale on {' x '.join(map(str, shape))} is {want})")
        tensor = self._parameter(attrs[0]).detach()
        first = float(tensor.reshape(-1)[0].item())
        init = float(f"{first:.7g}") if bool((tensor == tensor.reshape(-1)[0]).all()) else 1e-6
        name = self.fresh(self.attrs[attrs[0]], module=True)
        self._own(attrs[0], name, "scale")
        self.add(node, name, "layer_scale", {"init": init}, [x], f"{what} by a parameter")
        return True

    def _class_token(self, node: Any, pieces: Sequence[Any], dim: Any, what: str) -> bool:
        """``torch.cat([class_token.expand(n, -1, -1), x], dim=1)`` on tokens: `class_token`, named by the
        parameter (1 x 1 x C)."""
        if len(pieces) != 2 or pieces[0] not in self.expanded:
            return False
        attr, x = self.expanded[pieces[0]], pieces[1]
        tokens = self.is_tensor(x) and self.cl(x) is None and len(self.shape(x) or ()) == 3
        if not tokens or dim not in (1, -2) or self.shape(attr) != (1, 1, self.spec_shape(x)[1]):
            raise _Unmapped(f"{what} of the tensor attribute '{self.attrs[attr]}' other than a 1 x 1 x C class token "
                            "put before tokens")
        name = self.fresh(self.attrs[attr], module=True)
        self._own(attr, name, "weight")
        self.add(node, name, "class_token", {}, [x], f"{what} of a parameter")
        return True

    def _layer_norm(self, node: Any, what: str) -> None:
        """``F.layer_norm`` over the last axis, its weight and bias the parameters of one module that holds nothing
        else (torchvision's LayerNorm2d): `layernorm`, named by that module."""
        b = _bind(node.args, node.kwargs, ("input", "normalized_shape", "weight", "bias", "eps"),
                  {"weight": None, "bias": None, "eps": 1e-5})
        x = b["input"]
        if not self.is_tensor(x):
            raise _Unmapped(what)
        shape = self.spec_shape(x)
        normalized = tuple(b["normalized_shape"]) if isinstance(b["normalized_shape"], (tuple, list)) else (
            b["normalized_shape"],)
        if len(shape) == 3 or normalized != (shape[-1],):
            raise _Unmapped(what + " other than over the last axis (the channels of a channels-last map)")
        weight, bias = b["weight"], b["bias"]
        if weight is None:
            if bias is not None:
                raise _Unmapped(what + " with a bias and no weight")
            self.add(node, self.op_name(node, "layer_norm"), "layernorm",
                     {"eps": _float(b["eps"]), "elementwise_affine": False, "bias": False}, [x], what)
            return
        owner = str(self.attrs.get(weight, "")).rpartition(".")[0]
        module = self.modules.get(owner) if owner else None
        expected = {f"{owner}.weight"} | ({f"{owner}.bias"} if bias is not None else set())
        read = {self.attrs.get(weight)} | ({self.attrs.get(bias)} if bias is not None else set())
        if module is None or read != expected or any(True for _ in module.children()) or {
                f"{owner}.{k}" for k, _ in module.named_parameters(recurse=False)} != expected or owner in self.used:
            raise _Unmapped(what + " with a weight and bias other than those of one module of its own")
        for a in (weight, bias):
            if a is not None:
                self.read.add(self.attrs[a])
        self.add(node, self.fresh(owner, module=True), "layernorm",
                 {"eps": _float(b["eps"]), "elementwise_affine": True, "bias": bias is not None}, [x], what)

    def _functional(self, node: Any, t: Any, what: str) -> None:
        args, kwargs = node.args, node.kwargs
        if t is F.gelu:
            b = _bind(args, kwargs, ("input", "approximate"), {"approximate": "none"})
            op, a = "gelu", {"approximate": b["approximate"]}
        elif t is F.leaky_relu:
            b = _bind(args, kwargs, ("input", "negative_slope", "inplace"), {"negative_slope": 0.01})
            op, a = "leaky_relu", {"negative_slope": _float(b["negative_slope"])}
        elif t is F.elu:
            b = _bind(args, kwargs, ("input", "alpha", "inplace"), {"alpha": 1.0})
            op, a = "elu", {"alpha": _float(b["alpha"])}
        elif t is F.hardtanh:
            b = _bind(args, kwargs, ("input", "min_val", "max_val", "inplace"), {"min_val": -1.0, "max_val": 1.0})
            lo, hi = _float(b["min_val"]), _float(b["max_val"])
            op, a = ("relu6", {}) if (lo, hi) == (0.0, 6.0) else ("hardtanh", {"min_val": lo, "max_val": hi})
        elif t is F.softmax:
            b = _bind(args, kwargs, ("input", "dim", "_stacklevel", "dtype"), {"dim": None, "dtype": None})
            if b["dim"] is None or b["dim"] == 0 or b["dtype"] is not None:
                raise _Unmapped(what + " without a dim, over the batch, or with a dtype")
            op, a = "softmax", {"dim": b["dim"] - 1 if b["dim"] > 0 else b["dim"]}
        else:
            b = _bind(args, kwargs, ("input", "p", "training", "inplace"), {"p": 0.5})
            op, a = "dropout", {"p": _float(b["p"])}
        self.add(node, self.op_name(node, op), op, a, [args[0]], what)

    def _pool(self, node: Any, t: Any, what: str) -> None:
        if t is F.max_pool2d:
            b = _bind(node.args, node.kwargs, ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                                               "return_indices"),
                      {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False})
            if b["return_indices"]:
                raise _Unmapped(what + " with return_indices")
            op, a = "maxpool", {"dilation": _pair(b["dilation"])}
        else:
            b = _bind(node.args, node.kwargs, ("input", "kernel_size", "stride", "padding", "ceil_mode",
                                               "count_include_pad", "divisor_override"),
                      {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True,
                       "divisor_override": None})
            op, a = "avgpool", {"count_include_pad": b["count_include_pad"], "divisor_override": b["divisor_override"]}
        stride = b["stride"] if b["stride"] not in (None, [], ()) else b["kernel_size"]
        a.update({"kernel": _pair(b["kernel_size"]), "stride": _pair(stride), "padding": _pair(b["padding"]),
                  "ceil_mode": bool(b["ceil_mode"])})
        self.add(node, self.op_name(node, op), op, a, [node.args[0]], what)

    # -- layout runs --

    def _resolve_layout(self, node: Any) -> None:
        self.resolving.add(node)
        try:
            self._resolve(node)
        finally:
            self.resolving.discard(node)

    def _resolve(self, node: Any) -> None:
        base, nodes = self.layout[node]
        shape = self.shape(base)
        source = self.value_of(base)
        if shape is None or source is None:
            return
        probe = torch.arange(math.prod(shape), dtype=torch.float64).reshape(shape)
        current, last = probe, base
        for n in nodes:
            def arg(a: Any, last: Any = last, current: Any = current) -> Any:
                return current if a is last else self.rec.values.get(a, a)

            call_args = fx.node.map_arg(n.args, arg)
            call_kwargs = fx.node.map_arg(n.kwargs, arg)
            if n.op == "call_method":
                current = getattr(call_args[0], n.target)(*call_args[1:], **call_kwargs)
            else:
                current = n.target(*call_args, **call_kwargs)
            last = n
        what = ", ".join(self._what(n).split(".")[-1] for n in nodes)
        if self._channels_last(node, base, nodes, probe, current, what):
            return
        kind = layout_kind(probe, current)
        if kind is None:
            shown = " x ".join(map(str, shape[1:]))
            after = " x ".join(map(str, current.shape[1:]))
            self.miss(node, f"{what} ({shown} -> {after}: no layer kind does this)")
            return
        op, args = kind
        if op == "identity":
            self.names[node] = source
            return
        self.add_layout(node, base, op, args, what)

    def _channels_last(self, node: Any, base: Any, nodes: list[Any], probe: Any, current: Any, what: str) -> bool:
        """A layout run into or out of the channels-last layout (ConvNeXt's and Swin's ``permute(0, 2, 3, 1)``,
        ``permute(0, 3, 1, 2)``). The spec holds an N x H x W x C tensor as its H*W tokens of C features (the same
        numbers, in the same order): into it is `to_tokens`, out of it `from_tokens`, and a flatten of its H and W
        axes (N x H*W x C) is no layer at all. A layer norm alone in the layout (torchvision's LayerNorm2d: permute,
        layer norm, permute) is one `layernorm` over the channels of the map."""
        if self.cl(base) is not None:
            h, w = self.channels_last[base]
            n, c = probe.shape[0], probe.shape[-1]
            if torch.equal(current, probe):
                self.names[node] = self.names[base]
                self.channels_last[node] = (h, w)
            elif tuple(current.shape) == (n, h * w, c) and torch.equal(current, probe.reshape(n, h * w, c)):
                self.names[node] = self.names[base]  # the tokens themselves
            elif tuple(current.shape) == (n, c, h, w) and torch.equal(current, probe.permute(0, 3, 1, 2)):
                if not self._layernorm2d(node, base, nodes, what):
                    self.add(node, self.op_name(node, "from_tokens"), "from_tokens", {"height": h} if h != w else {},
                             [base], what)
            else:
                shown = " x ".join(map(str, probe.shape[1:]))
                self._taint(node)
                self.miss(node, f"{what} of a channels-last map ({shown} -> {' x '.join(map(str, current.shape[1:]))}: "
                          "no layer kind does this)")
            return True
        if probe.ndim == 4 and tuple(current.shape) == tuple(probe.permute(0, 2, 3, 1).shape) and torch.equal(
                current, probe.permute(0, 2, 3, 1)):
            self.channels_last[node] = (probe.shape[2], probe.shape[3])
            self.add(node, self.op_name(node, "to_tokens"), "to_tokens", {}, [base], what)
            return True
        return False

    def _layernorm2d(self, node: Any, base: Any, nodes: list[Any], what: str) -> bool:
        """Whether the channels-last run ending at `node` is one layer norm between `to_tokens` and here, read by
        nothing else: then it becomes a `layernorm` over the channels of the C x H x W map (in place of the three)."""
        if len(self.layers) < 2:
            return False
        tokens, norm = self.layers[-2], self.layers[-1]
        entry = next((k for k, v in self.names.items() if v == tokens.name), None)
        if (tokens.op, norm.op) != ("to_tokens", "layernorm") or norm.inputs != (tokens.name,) or \
                self.names.get(base) != norm.name or entry is None:
            return False
        if len(entry.users) != 1 or len(base.users) != 1 or any(len(n.users) != 1 for n in nodes[:-1]):
            return False
        del self.layers[-2:]
        for n in (entry, base):
            del self.names[n]
            self.channels_last.pop(n, None)
        shape = tokens.in_shapes[0]
        self.layers.append(ImportedLayer(norm.name, "layernorm", norm.args, tokens.inputs, (shape,), shape,
                                         f"{tokens.source}, {norm.source}, {what}"))
        self.names[node] = norm.name
        return True

    def add_layout(self, node: Any, base: Any, op: str, args: dict[str, Any], what: str) -> None:
        base_name = {"channel_shuffle": "shuffle"}.get(op, op)
        self.add(node, self.op_name(node, base_name), op, args, [base], what)


# --- the import ---------------------------------------------------------------------------------------------------


def _unmapped_error(target: str, unmapped: Counter[tuple[str, str]]) -> UnmappedOps:
    """The one-line error listing every operation without a layer kind; its `ops` attribute holds them as
    ``{(what, module path): count}`` (benchmarks/zoo.py groups them)."""
    items = "; ".join(f"{what} at {where}" + (f" (x{n})" if n > 1 else "") for (what, where), n in unmapped.items())
    total = sum(unmapped.values())
    error = UnmappedOps(f"{target}: {total} operation{'s' if total != 1 else ''} without a layer kind: {items}")
    error.ops = dict(unmapped)  # type: ignore[attr-defined]
    return error


def _map(gm: Any, shape: Shape, batch: int, target: str, every: bool = False) -> _Mapper:
    mapper = _Mapper(gm, _record(gm, shape, batch, target), target, every)
    mapper.run()
    return mapper


def _uncalled(model: Any, called: set[str], read: Collection[str] = ()) -> dict[str, int]:
    """Parameters that no called module owns (nor one inside a called module: MultiheadAttention's out_proj) and that
    the forward does not read directly (`read`), grouped under the outermost module that holds them and none of the
    called ones (a whole auxiliary classifier, not each of its convolutions; a parameter of a module the trace went
    through is its own group): path -> parameters under it."""
    def holds_called(path: str) -> bool:
        return any(c == path or c.startswith(path + ".") for c in called) if path else bool(called)

    roots: dict[str, int] = {}
    for full, p in model.named_parameters():
        owner = full.rpartition(".")[0]
        parts = owner.split(".") if owner else []
        if full in read or any(".".join(parts[:i]) in called for i in range(1, len(parts) + 1)):
            continue
        root = next((".".join(parts[:i]) for i in range(1, len(parts) + 1) if not holds_called(".".join(parts[:i]))),
                    full)
        roots[root] = roots.get(root, 0) + p.numel()
    return roots


def import_model(model: Any, shape: Shape, target: str = "model") -> ImportedModel:
    """Trace `model` (eval mode) on a 1 x C x H x W input and map every node to a spec layer. Raises a one-line
    `ShufflecalcError`: untraceable, unmapped operations (all listed), parameters the forward never uses."""
    start = time.perf_counter()
    model = model.eval()
    gm = trace(model, target)
    mapper = _map(gm, shape, 1, target)
    if mapper.unmapped:
        raise _unmapped_error(target, mapper.unmapped)
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    result = out_node.args[0]
    output = mapper.value_of(result) if isinstance(result, fx.Node) else None
    if output is None or output == INPUT:
        raise ShufflecalcError(f"{target}: the forward must return one tensor computed from its input")
    layers = mapper.layers
    unused = _uncalled(model, {n.target for n in gm.graph.nodes if n.op == "call_module"}, mapper.read)
    if unused:
        layers = _with_unused(model, shape, target, layers, unused)
    return ImportedModel(target, model, tuple(shape), layers, output, unused, time.perf_counter() - start,
                         modules=module_classes(model), renames=dict(mapper.renames))


def module_classes(model: Any) -> list[tuple[str, str]]:
    """(path, class name) of every submodule other than a plain container (``nn.Sequential``, ``nn.ModuleList``,
    ``nn.ModuleDict``), pre-order: the module tree `importer.fold` folds by."""
    plain = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    return [(path, type(m).__name__) for path, m in model.named_modules() if path and type(m) not in plain]


def _with_unused(model: Any, shape: Shape, target: str, layers: list[ImportedLayer],
                 unused: Mapping[str, int]) -> list[ImportedLayer]:
    """The eval layers, with those of the modules only the training forward calls inserted as ``unused`` layers
    after the last layer they read. A module found nowhere is an error naming it."""
    def missing() -> ShufflecalcError:
        listed = ", ".join(f"{k} ({v:,} params)" for k, v in unused.items())
        return ShufflecalcError(f"{target}: the forward never calls modules with parameters, in eval mode or in "
                                f"training: {listed}")

    trained = copy.deepcopy(model).train()
    try:
        gm = trace(trained, target)
        mapper = _map(gm, shape, 2, target, every=True)  # batch 2: training batchnorm needs 2 values per channel
    except ShufflecalcError:
        raise missing() from None

    def under(name: str, root: str) -> bool:
        return name == root or name.startswith(root + ".")

    inside = [ly for ly in mapper.layers if any(under(ly.name, r) for r in unused)]
    theirs = Counter({k: n for k, n in mapper.unmapped.items() if any(under(k[1], r) for r in unused)})
    if theirs:
        raise _unmapped_error(target, theirs)
    still = _uncalled(trained, {n.target for n in gm.graph.nodes if n.op == "call_module"}, mapper.read)
    if any(not any(under(ly.name, r) for ly in inside) for r in unused) or any(
            under(k, r) for k in still for r in unused):
        raise missing()
    names = {ly.name: i for i, ly in enumerate(layers)}
    inside = _with_feeders(inside, mapper.layers, names, layers)
    if not inside:
        raise missing()
    position: dict[str, int] = {}
    by_position: dict[int, list[ImportedLayer]] = {}
    for ly in inside:
        if any(i not in position and i not in names and i != INPUT for i in ly.inputs):
            raise missing()
        ly.unused = True
        position[ly.name] = max((position[i] if i in position else names.get(i, -1) for i in ly.inputs), default=-1)
        by_position.setdefault(position[ly.name], []).append(ly)
    result = list(by_position.get(-1, []))
    for i, ly in enumerate(layers):
        result.append(ly)
        result += by_position.get(i, [])
    return result


def _with_feeders(inside: list[ImportedLayer], trained: list[ImportedLayer], names: Mapping[str, int],
                  layers: list[ImportedLayer]) -> list[ImportedLayer]:
    """The layers of the modules only training calls, with the layers of the training trace that feed them and that
    the eval forward does not run (``aux(x.mean([2, 3]))``'s mean), in the training trace's order. A layer of the eval
    forward they read must be the same there (kind and shape), else it is not theirs."""
    by_name = {ly.name: ly for ly in trained}
    chosen = {ly.name for ly in inside}
    todo = list(inside)
    while todo:
        for i in todo.pop().inputs:
            if i in chosen or i == INPUT:
                continue
            if i in names:
                mine, theirs = layers[names[i]], by_name.get(i)
                if theirs is None or (mine.op, mine.out) != (theirs.op, theirs.out):
                    chosen.add(i + "\0")  # no match: `_with_unused` finds the input missing
                continue
            if i in by_name:
                chosen.add(i)
                todo.append(by_name[i])
    if any(n.endswith("\0") for n in chosen):
        return []
    return [ly for ly in trained if ly.name in chosen]
