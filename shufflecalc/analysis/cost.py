"""The analytic cost engine: totals and breakdowns of a `Graph`, and the JSON form every output is built from.

Conventions (all counts at batch size 1, exact integers; see `ops` for the per-layer rules):
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shufflecalc.spec.graph import Graph, Layer, expand
from shufflecalc.spec.layers import MACS_TERMS
from shufflecalc.spec.load import Spec, format_value
from shufflecalc.spec.totals import Totals

CONVENTIONS: dict[str, str] = {
    "macs": "multiply-accumulates of convolutions (transposed included), linear layers and attention's matrix "
    "products (Q.K^T and A.V), bias excluded (what the MobileNet and ShuffleNet papers call FLOPs or mult-adds; "
    "'conv+linear' in table headers)",
    "flops": "2 x macs (one multiply-accumulate = two floating-point operations; torch's FlopCounterMode convention)",
    "fvcore_flops": "fvcore 0.1.5 FlopCountAnalysis in eval mode: macs + 2 per batchnorm output element + 1 per "
    "adaptive-average-pool input element + 5 per affine layer/group/instance-norm element (4 without affine) + 1 "
    "(nearest) or 4 (bilinear) per upsampled output element - attention's Q.K^T and A.V (fvcore does not count "
    "them); relu and every other activation, pooling, add, mul, concat and shuffle count 0",
    "params": "trainable parameters: weights, biases, normalization gamma and beta, learned tokens and embeddings",
    "activations": "output elements of convolution, linear and attention layers (fvcore's ActivationCountAnalysis "
    "convention for convolutions and linear layers; an attention layer counts its output only)",
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
# The other counters' conventions, by name, in report order (`analysis.peers.NAMES`, which holds it to this list):
# named here so that validating a name (a budget limit, a column) does not import the reproductions.
CONVENTION_NAMES: tuple[str, ...] = (
    "fvcore", "ptflops_pytorch", "ptflops_aten", "thop", "torchinfo", "torchprofile", "flop_counter",
)
_WITHOUT = "_without_classifier"


# How `Analysis.breakdown` groups the layers: by operator class, stage (first name component) or block.
GROUP_KEYS: dict[str, Callable[[Layer], str]] = {
    "class": lambda layer: layer.op_class,
    "stage": lambda layer: layer.stage,
    "block": lambda layer: layer.block or layer.name,
}


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
    def unused_params(self) -> int:
        """Parameters of the layers marked ``unused: true``: built with the model, never run by its eval forward, and
        so not in `params` (nor in any breakdown); the torch model holds `params` + `unused_params`."""
        return self.graph.unused_params

    @property
    def unused_entries(self) -> list[str]:
        """The names of the entries marked ``unused: true`` (the first component of their layers' names)."""
        return list(dict.fromkeys(layer.stage for layer in self.graph.unused_layers))

    @property
    def activations(self) -> int:
        return self.totals.activations

    @property
    def memory_access(self) -> int:
        return self.totals.memory_access

    @property
    def classifier(self) -> Totals:
        """The linear layers on a flat input (the classifier; a transformer's linear layers on tokens are not):
        papers' tables often leave them out. Read from the graph's segments, so that a sweep asking for it never
        materializes the per-layer records."""
        return Totals.of(e.numbers for seg in self.graph.segments for e in seg.entries
                         if e.op == "linear" and len(e.in_shapes[0]) == 1)

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
        key = GROUP_KEYS[by]
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
            **({"notes": list(g.spec.notes)} if g.spec.notes else {}),  # only where the spec has notes
            **self.metrics(),
            **({"unused_params": self.unused_params} if g.unused else {}),  # only where a spec marks entries unused
            "by_class": {k: t.to_dict() for k, t in sorted(self.breakdown("class").items())},
            "by_stage": {k: t.to_dict() for k, t in self.breakdown("stage").items()},
        }
        if layers:
            data["layers"] = [layer_dict(layer) for layer in self.layers]
        return data


def layer_dict(layer: Layer) -> dict[str, Any]:
    data: dict[str, Any] = {
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
    terms = macs_terms(layer)
    if terms is not None:  # only on the layers whose MACs are distinct matmuls (attention): they sum to macs
        data["macs_terms"] = terms
    return data


def macs_terms(layer: Layer) -> dict[str, int] | None:
    """A layer's MACs term by term, for the kinds whose MACs are a sum of distinct matmuls (`MACS_TERMS`: attention's
    in_projection, qk, av, out_projection); None for the others."""
    terms = MACS_TERMS.get(layer.op)
    return terms(layer.attrs, layer.in_shapes) if terms is not None else None


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
