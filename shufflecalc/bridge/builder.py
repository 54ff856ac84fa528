"""The torch builder: the same Graph the engine counts, built as a real `torch.nn.Module`.

Module names are the graph's dotted layer names (``stage3.unit0.gconv1``), nested as submodules, so every count can
be joined layer by layer with fvcore's ``by_module()`` or with forward hooks. The forward pass interprets the graph
in order and frees each intermediate tensor after its last use. Importing this module imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shufflecalc.errors import MissingDependency
from shufflecalc.spec.graph import INPUT, Graph, Layer, expand, segment_layers
from shufflecalc.spec.load import Spec

INSTALL_HINT = 'this command needs the torch extra: pip install "shufflecalc[torch]" (docs/index.md says which torch)'

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised by the no-torch test in a subprocess
    raise MissingDependency(f"{INSTALL_HINT} ({exc})") from None

from shufflecalc.bridge.modules import torch_module  # noqa: E402 (after the torch check)

RANGE_PREFIX = "shufflecalc/"  # profiler range names: RANGE_PREFIX + dotted layer name


class GraphModule(nn.Module):
    """A network built from a Graph. `self.graph` keeps the analytic description it was built from.

    With ``annotate = True`` (off by default) each layer call runs inside ``torch.profiler.record_function`` named
    ``RANGE_PREFIX + layer name``, so profiler time can be joined with the graph layer by layer.
    """

    annotate: bool = False

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.graph = graph
        plan = []
        last_use: dict[str, int] = {}
        unused: dict[int, list[Layer]] = {}  # modules built and never called, by the number of layers before them
        for u in graph.unused:
            unused.setdefault(u.at, []).extend(segment_layers(u.segment))
        for i, layer in enumerate(graph.layers):
            self._register_unused(unused.pop(i, ()))
            module = torch_module(layer.op, layer.attrs, layer.in_shapes)
            self._register(layer.name, module)
            plan.append((layer.name, module, layer.inputs))
            for name in layer.inputs:
                last_use[name] = i
        # names whose tensors can be dropped after step i (the output is kept)
        self._plan = [
            (name, module, inputs, tuple(n for n in set(inputs) if last_use[n] == i and n != graph.layers[-1].name))
            for i, (name, module, inputs) in enumerate(plan)
        ]
        self.output_name = graph.layers[-1].name
        self._register_unused(unused.pop(len(graph.layers), ()))

    def _register_unused(self, layers: Iterable[Layer]) -> None:
        """The modules of layers marked ``unused: true``: registered where the spec lists them (so that state_dict
        order is the spec's), never in the forward plan."""
        for layer in layers:
            self._register(layer.name, torch_module(layer.op, layer.attrs, layer.in_shapes))

    def _register(self, dotted: str, module: nn.Module) -> None:
        """Nest `module` under its dotted name. Written into `_modules` directly: a layer may be named like an
        nn.Module attribute (`half`, `eval`, `train`), which add_module refuses; named_modules() and fvcore's
        by_module() see it all the same, and the forward pass calls modules from the plan, not by attribute."""
        parent: nn.Module = self
        *path, leaf = dotted.split(".")
        for part in path:
            child = parent._modules.get(part)
            if child is None:
                child = nn.Module()
                parent._modules[part] = child
            parent = child
        parent._modules[leaf] = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.annotate:
            return self._annotated_forward(x)
        values: dict[str, torch.Tensor] = {INPUT: x}
        for name, module, inputs, dead in self._plan:
            values[name] = module(*[values[i] for i in inputs])
            for n in dead:
                del values[n]
        return values[self.output_name]

    def _annotated_forward(self, x: torch.Tensor) -> torch.Tensor:
        from torch.profiler import record_function

        values: dict[str, torch.Tensor] = {INPUT: x}
        for name, module, inputs, dead in self._plan:
            with record_function(RANGE_PREFIX + name):
                values[name] = module(*[values[i] for i in inputs])
            for n in dead:
                del values[n]
        return values[self.output_name]


def build_model(spec: Spec | Graph | str, overrides: Mapping[str, Any] | None = None, **params: Any) -> GraphModule:
    """Build the torch model of a spec (built-in name, path, Spec) or Graph, in eval mode.

    ``build_model("shufflenet", g=3)``; its input is ``torch.randn(batch, *model.graph.input)``.
    """
    graph = spec if isinstance(spec, Graph) else expand(spec, {**(overrides or {}), **params})
    return GraphModule(graph).eval()
