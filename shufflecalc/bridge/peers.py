"""The other counters, measured: ptflops (both backends), thop, torchinfo and torchprofile run on the torch model of a
graph, in total and per layer, as a user calls them.

`measure(graph)` builds a fresh model for each tool call (the tools leave state on a model: ptflops' aten backend never
removes its hooks) and returns, per tool, the total of the tool's own entry point (``get_model_complexity_info``,
``thop.profile``, ``torchinfo.summary(...).total_mult_adds``, ``profile_macs``) and the count of every spec layer,
taken from the tool's own counters (for ptflops, during a second, instrumented pass):

- ptflops, ``pytorch`` backend: each layer's module counter (``__flops__``, summed over the supported modules
  inside it) plus the functional and tensor-op counts (its patched ``torch.nn.functional`` and ``torch.Tensor``
  functions) recorded while the layer ran;
- ptflops, ``aten`` backend: its ``FlopCounterMode`` with each layer's name pushed on its stack of parents while the
  layer runs (the tool itself pushes only the model's direct children);
- thop: ``profile(..., ret_layer_info=True)``, the total and the nested per-module counts of one call;
- torchinfo: the ``macs`` of the executed leaf modules (its ``summary_list``) inside each layer's module, from the
  same ``summary`` call as the total;
- torchprofile: the per-node counts (``reduction=None``, whose ``sum`` is the total ``profile_macs`` returns) with
  the trace's scopes set to the layer names (the scope map ``torch.jit.trace_module`` sets; ``profile_macs`` alone
  traces without one, so its nodes name no module).

`reproduce(graph)` compares each tool's measurement with its torch-free reproduction (`shufflecalc.analysis.peers`),
in total and layer by layer: what `shufflecalc verify --conventions` reports and the tests assert.

Importing this module imports torch (`MissingDependency` without it); a tool that is not installed is left out of
`available()`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from shufflecalc.analysis.peers import PEERS, Number, layer_counts, total
from shufflecalc.bridge.builder import INSTALL_HINT, build_model
from shufflecalc.errors import MissingDependency
from shufflecalc.spec.graph import Graph

try:
    import torch
except ImportError as exc:  # pragma: no cover - builder raised first
    raise MissingDependency(f"{INSTALL_HINT} ({exc})") from None

# The tools' import names, by the convention names they measure.
MODULES = {
    "ptflops_pytorch": "ptflops",
    "ptflops_aten": "ptflops",
    "thop": "thop",
    "torchinfo": "torchinfo",
    "torchprofile": "torchprofile",
}
# Their distributions, for the installed version (the `peers` extra pins them).
DISTRIBUTIONS = {"ptflops": "ptflops", "thop": "thop", "torchinfo": "torchinfo", "torchprofile": "torchprofile"}
PEERS_HINT = "pip install 'shufflecalc[peers]' installs the versions reproduced"


@dataclass(frozen=True)
class Measured:
    """One tool on one model: the total its entry point returns, and the count of every spec layer."""

    tool: str
    total: int
    layers: dict[str, int]


def available() -> tuple[str, ...]:
    """The conventions whose tool is installed."""
    return tuple(name for name, module in MODULES.items() if importlib.util.find_spec(module) is not None)


def installed_version(name: str) -> str | None:
    """The installed version of the tool that measures the convention `name`; None when it is not installed."""
    if importlib.util.find_spec(MODULES[name]) is None:
        return None
    try:
        version = importlib.metadata.version(DISTRIBUTIONS[MODULES[name]])
    except importlib.metadata.PackageNotFoundError:  # importable, but not from a distribution (a source checkout)
        return "unknown"
    # PEP 440's implicit post release, as thop's metadata spells it: 0.1.1-2209072238 is 0.1.1.post2209072238
    return re.sub(r"^(\d+(?:\.\d+)*)-(\d+)$", r"\1.post\2", version)


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _hooks(model: Any, graph: Graph, pre: Callable[[str], Any], post: Callable[[str], Any]) -> list[Any]:
    """Calls `pre(name)` before and `post(name)` after each layer's module runs (their results are dropped: a hook
    that returns a value replaces the module's input or output)."""

    def before(name: str) -> Callable[..., None]:
        return lambda *_: (pre(name), None)[1]

    def after(name: str) -> Callable[..., None]:
        return lambda *_: (post(name), None)[1]

    handles = []
    for layer in graph.layers:
        module = model.get_submodule(layer.name)
        handles.append(module.register_forward_pre_hook(before(layer.name)))
        handles.append(module.register_forward_hook(after(layer.name)))
    return handles


def _input(graph: Graph) -> torch.Tensor:
    return torch.randn(1, *graph.input)


def ptflops_pytorch(graph: Graph) -> Measured:
    from ptflops import get_model_complexity_info
    from ptflops import pytorch_engine as engine

    total, _ = get_model_complexity_info(build_model(graph), tuple(graph.input), print_per_layer_stat=False,
                                         as_strings=False, backend="pytorch", ost=io.StringIO())
    model = engine.add_flops_counting_methods(build_model(graph))
    model.start_flops_count(ost=io.StringIO(), verbose=False, ignore_list=[])
    collector: list[Any] = []
    start: dict[str, int] = {}
    functional: dict[str, int] = {}

    def post(name: str) -> None:
        functional[name] = int(sum(collector[start[name]:]))

    handles = _hooks(model, graph, lambda n: start.__setitem__(n, len(collector)), post)
    engine.patch_functional(collector)
    engine.patch_tensor_ops(collector)
    try:
        model(_input(graph))
    finally:
        engine.unpatch_functional()
        engine.unpatch_tensor_ops()
    layers = {}
    for layer in graph.layers:
        module = model.get_submodule(layer.name)
        supported = [m for m in module.modules() if engine.is_supported_instance(m)]
        # accumulate_flops: a supported module's own counter, else its children's (no supported module nests here)
        layers[layer.name] = int(sum(m.__flops__ for m in supported)) + functional[layer.name]
    for handle in handles:
        handle.remove()
    model.stop_flops_count()
    return Measured("ptflops_pytorch", int(total or 0), layers)


def ptflops_aten(graph: Graph) -> Measured:
    from ptflops import get_model_complexity_info
    from ptflops.aten_engine import FlopCounterMode

    total, _ = get_model_complexity_info(build_model(graph), tuple(graph.input), print_per_layer_stat=False,
                                         as_strings=False, backend="aten", ost=io.StringIO())
    model = build_model(graph)
    counter = FlopCounterMode(None, output_params={"serialize_params": {}, "print_params": {"file": io.StringIO()}})
    handles = _hooks(model, graph, counter.parents.append, lambda n: counter.parents.pop())
    with counter:
        model(_input(graph))
    for handle in handles:
        handle.remove()
    layers = {layer.name: int(sum(counter.flop_counts[layer.name].values())) for layer in graph.layers}
    return Measured("ptflops_aten", int(total or 0), layers)


def thop(graph: Graph) -> Measured:
    from thop import profile

    total, _, tree = profile(build_model(graph), (_input(graph),), verbose=False, ret_layer_info=True)
    layers = {}
    for layer in graph.layers:
        *path, leaf = layer.name.split(".")
        node = tree
        for part in path:
            node = node[part][2]
        layers[layer.name] = int(node[leaf][0])
    return Measured("thop", int(total), layers)


def torchinfo(graph: Graph) -> Measured:
    from torchinfo import summary

    model = build_model(graph)
    stats = summary(model, input_size=(1, *graph.input), verbose=0)
    total = stats.total_mult_adds
    owner = {id(m): layer.name for layer in graph.layers for m in model.get_submodule(layer.name).modules()}
    layers = dict.fromkeys((layer.name for layer in graph.layers), 0)
    for info in stats.summary_list:
        if info.is_leaf_layer and info.layer_id in owner:
            layers[owner[info.layer_id]] += info.macs
    return Measured("torchinfo", int(total), layers)


def torchprofile(graph: Graph) -> Measured:
    from torchprofile import profile_macs

    x = _input(graph)
    model = build_model(graph)
    scopes = {model.get_submodule(layer.name): layer.name for layer in graph.layers}
    trace = torch.jit._trace
    saved = trace._trace_module_map
    trace._trace_module_map = scopes  # what torch.jit.trace_module sets: the trace records each module's scope
    try:
        nodes: dict[Any, int] = profile_macs(model, x, reduction=None)  # type: ignore[assignment]
    finally:
        trace._trace_module_map = saved
    total = sum(nodes.values())  # what profile_macs returns with its default reduction (sum)
    layers = dict.fromkeys((layer.name for layer in graph.layers), 0)
    for node, count in nodes.items():
        name = node.scope.rsplit("/", 1)[-1]  # "" for a node outside every layer (the graph's own shape ops)
        layers[name] = layers.get(name, 0) + count
    return Measured("torchprofile", int(total), layers)


MEASURES: dict[str, Callable[[Graph], Measured]] = {
    "ptflops_pytorch": ptflops_pytorch,
    "ptflops_aten": ptflops_aten,
    "thop": thop,
    "torchinfo": torchinfo,
    "torchprofile": torchprofile,
}


def measure(graph: Graph, tools: tuple[str, ...] | None = None) -> dict[str, Measured]:
    """Every installed tool (or those named) on the torch model of `graph`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as verify measures: faster on a small shared machine, and the counts do not change
    try:
        with _quiet():
            return {name: MEASURES[name](graph) for name in (tools or available())}
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class Mismatch:
    """A layer whose count by the tool differs from the reproduction's (None: the layer is absent on that side)."""

    layer: str
    analytic: Number | None
    measured: int | None


@dataclass(frozen=True)
class Reproduction:
    """One tool on one graph against its torch-free reproduction: the totals and every layer that differs."""

    tool: str  # the convention name
    analytic: int
    measured: Measured
    layers: int  # the layers compared
    mismatches: tuple[Mismatch, ...]

    @property
    def ok(self) -> bool:
        return self.analytic == self.measured.total and not self.mismatches


def compare_layers(name: str, graph: Graph, measured: Measured) -> Reproduction:
    """The tool's measurement against the reproduction, in total and layer by layer (`layer_counts`). torchprofile's
    nodes outside every layer (the name "") are compared as a layer of their own, except when they count 0."""
    analytic = layer_counts(PEERS[name], graph)
    names = list(analytic) + [n for n in measured.layers if n not in analytic]
    mismatches = tuple(Mismatch(n, analytic.get(n), measured.layers.get(n)) for n in names
                       if analytic.get(n) != measured.layers.get(n) and not (n == "" and measured.layers[n] == 0))
    return Reproduction(name, total(PEERS[name], graph), measured, len(analytic), mismatches)


def reproduce(graph: Graph, tools: tuple[str, ...] | None = None) -> dict[str, Reproduction]:
    """Every installed tool (or those named) measured on the torch model of `graph` and compared with its
    reproduction."""
    return {name: compare_layers(name, graph, m) for name, m in measure(graph, tools).items()}


@dataclass(frozen=True)
class ModelCheck:
    """`shufflecalc verify --conventions` on one graph: every installed tool against its reproduction, and the tools
    left out because they are not installed."""

    graph: Graph
    results: dict[str, Reproduction]  # by convention name, in `MODULES` order
    missing: tuple[str, ...]  # conventions whose tool is not installed
    versions: dict[str, str]  # the installed version of each tool measured

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results.values())


def verify_conventions(graph: Graph) -> ModelCheck:
    """Run every installed tool on the torch model of `graph` and compare it with the reproduction."""
    tools = available()
    results = reproduce(graph, tools) if tools else {}
    versions = {name: installed_version(name) or "" for name in tools}
    return ModelCheck(graph, results, tuple(n for n in MODULES if n not in tools), versions)
