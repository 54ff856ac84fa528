"""The analytic cost engine: totals and breakdowns of a `Graph`, and the JSON form every output is built from.

Conventions (all counts at batch size 1, exact integers; see `ops` for the per-layer rules):
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shufflecalc.spec.graph import Graph, Layer, expand
from shufflecalc.spec.load import Spec, format_value
from shufflecalc.spec.totals import Totals

CONVENTIONS: dict[str, str] = {
    "macs": "multiply-accumulates of conv2d and linear layers, bias excluded (what the MobileNet and ShuffleNet "
    "papers call FLOPs or mult-adds)",
    "flops": "2 x macs (one multiply-accumulate = two floating-point operations; torch's FlopCounterMode convention)",
    "fvcore_flops": "fvcore 0.1.5 FlopCountAnalysis in eval mode: macs + 2 per batchnorm output element + 1 per "
    "adaptive-average-pool input element; relu, pooling, add, concat and shuffle count 0",
    "params": "trainable parameters: weights, biases, batchnorm gamma and beta",
    "activations": "output elements of conv2d and linear layers (fvcore's ActivationCountAnalysis convention)",
    "memory_access": "input + output feature-map elements + parameters of every layer (ShuffleNet V2's memory "
    "access cost, in elements, not bytes); 0 for a layer whose output aliases its input in eager execution "
    "(flatten, split, dropout in eval mode)",
}
__doc__ = (__doc__ or "") + "".join(f"\n- ``{k}``: {v}." for k, v in CONVENTIONS.items())

METRICS = tuple(CONVENTIONS)
assert tuple(Totals().to_dict()) == METRICS  # Totals.to_dict names the metrics in this order
HEADERS: dict[str, str] = {
    "macs": "MACs (conv+linear)",
    "flops": "FLOPs (2×MACs)",
    "fvcore_flops": "fvcore flops",
    "params": "params",
    "activations": "activations (conv+linear out)",
    "memory_access": "memory access (elements)",
}

# The papers' "without the classifier" variants (ShuffleNet's Table 1 leaves out the FC layer): with METRICS, every
# metric a budget limit, a sweep column or a paper table can name (`Analysis.metrics`).
EXTRA_METRICS: dict[str, str] = {
    "macs_without_classifier": "macs of every layer except the linear (classifier) layers, as ShuffleNet's Table 1",
    "params_without_classifier": "params of every layer except the linear (classifier) layers",
}
ALL_METRICS: tuple[str, ...] = METRICS + tuple(EXTRA_METRICS)
_WITHOUT = "_without_classifier"


@dataclass(frozen=True)
class Analysis:
    """Everything the analytic commands report about one configured model."""

    graph: Graph
    totals: Totals

    @property
    def name(self) -> str:
        return self.graph.spec.name

    @property
    def spec(self) -> Spec:
        return self.graph.spec

    @property
    def config(self) -> Mapping[str, Any]:
        return self.graph.config

    @property
    def layers(self) -> tuple[Layer, ...]:
        return self.graph.layers

    @property
    def macs(self) -> int:
        return self.totals.macs

    @property
    def flops(self) -> int:
        return self.totals.flops

    @property
    def fvcore_flops(self) -> int:
        return self.totals.fvcore_flops

    @property
    def params(self) -> int:
        return self.totals.params

    @property
    def activations(self) -> int:
        return self.totals.activations

    @property
    def memory_access(self) -> int:
        return self.totals.memory_access

    @property
    def classifier(self) -> Totals:
        """The linear layers (the classifier): papers' tables often leave them out. Read from the graph's segments,
        so that a sweep asking for it never materializes the per-layer records."""
        return Totals.of(e.numbers for seg in self.graph.segments for e in seg.entries if e.op == "linear")

    def metrics(self, keys: Iterable[str] = ALL_METRICS) -> dict[str, int]:
        """The named metrics (default: every one of `ALL_METRICS`), exact integers, in the order asked. A
        ``<metric>_without_classifier`` is the total less the linear layers' (`classifier`)."""
        values: dict[str, int] = {}
        classifier: Totals | None = None
        for key in keys:
            if key in METRICS:
                values[key] = getattr(self.totals, key)
            elif key in EXTRA_METRICS:
                classifier = classifier or self.classifier
                base = key.removesuffix(_WITHOUT)
                values[key] = getattr(self.totals, base) - getattr(classifier, base)
            else:
                raise KeyError(f"unknown metric {key!r} (metrics: {', '.join(ALL_METRICS)})")
        return values

    def breakdown(self, by: str) -> dict[str, Totals]:
        """Totals grouped by 'class' (operator class), 'stage' (first name component) or 'block' (a top-level layer
        is its own group), each with its number of layers; groups in order of their first layer."""
        key = {
            "class": lambda layer: layer.op_class,
            "stage": lambda layer: layer.stage,
            "block": lambda layer: layer.block or layer.name,
        }[by]
        groups: dict[str, list[Layer]] = {}
        for layer in self.layers:
            groups.setdefault(key(layer), []).append(layer)
        return {k: Totals.of(v) for k, v in groups.items()}

    def to_dict(self, layers: bool = True) -> dict[str, Any]:
        """The JSON contract: exact integers, keys named by convention (see CONVENTIONS)."""
        g = self.graph
        data: dict[str, Any] = {
            "name": self.name,
            "spec": g.spec.source,
            "config": dict(g.config),
            "input": list(g.input),
            "output": list(g.output),
            **self.metrics(),
            "by_class": {k: t.to_dict() for k, t in sorted(self.breakdown("class").items())},
            "by_stage": {k: t.to_dict() for k, t in self.breakdown("stage").items()},
        }
        if layers:
            data["layers"] = [layer_dict(layer) for layer in self.layers]
        return data


def layer_dict(layer: Layer) -> dict[str, Any]:
    return {
        "name": layer.name,
        "op": layer.op,
        "class": layer.op_class,
        "inputs": list(layer.inputs),
        "input": list(layer.in_shapes[0]),
        "output": list(layer.out),
        "macs": layer.macs,
        "flops": layer.flops,
        "fvcore_flops": layer.fvcore_flops,
        "params": layer.params,
        "activations": layer.activations,
        "memory_access": layer.memory_access,
    }


def analyze(spec: Spec | str, overrides: Mapping[str, Any] | None = None, **params: Any) -> Analysis:
    """Analyze a spec (built-in name, path, or Spec) with parameter values, e.g. ``analyze("shufflenet", g=3)``."""
    graph = expand(spec, {**(overrides or {}), **params})
    return Analysis(graph, graph.sums)


def config_text(config: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={format_value(v)}" for k, v in config.items())


def labels(analyses: Sequence[Analysis]) -> list[str]:
    """Model labels, short and distinct: the spec name; where several models share one, ``name:k=v,k=v`` with the
    parameters whose values differ among them (the way they are written on the command line); models alike in every
    parameter are numbered (``name #2``)."""
    result = []
    for a in analyses:
        same = [b for b in analyses if b.name == a.name]
        keys = [k for k in a.config if len({format_value(b.config.get(k)) for b in same}) > 1]
        differing = ",".join(f"{k}={format_value(a.config[k])}" for k in keys)
        result.append(f"{a.name}:{differing}" if differing else a.name)
    for label in set(result):
        indices = [i for i, x in enumerate(result) if x == label]
        for n, i in enumerate(indices[1:], start=2):
            result[i] = f"{label} #{n}"
    return result
