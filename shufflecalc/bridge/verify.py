"""Verification: the engine's counts against the same network built in torch and measured by fvcore and torch.

For one configuration, `verify()` builds the model once (`builder.build_model`) and measures it in two passes:

- one fvcore trace (``FlopCountAnalysis``, eval mode): the total, the count of every layer's module (``by_module``),
  the count per operator (``by_operator``), and the operators fvcore left out, per layer: those it does not support
  (``unsupported_ops``) and those it ignores by design;
- one forward pass of a random one-image input under ``torch.utils.flop_counter.FlopCounterMode``, with a forward
  hook on every layer's module: the total and per-layer FLOPs, and every layer's output shape.

Both passes run under `attention_counted` (``scaled_dot_product_attention``'s MATH kernel, MultiheadAttention's fast
path off), so that FlopCounterMode sees attention's Q.K^T and A.V as the matmuls they are. Under torch's defaults it
does not: the fused kernels it picks have no FLOP formula, or none it is given. For torchvision's vit_b_16 (torch
2.14.1, one 224 x 224 image) FlopCounterMode / 2 gives 17,563,828,224 this way, 16,848,500,736 with the default
kernel (Q.K^T and A.V, 2 x 197^2 x 768 MACs per layer, missing), and 11,271,124,992 under ``torch.no_grad()`` with
the fast path on (every attention layer missing: ``_native_multi_head_attention`` is not counted at all).

It then compares, exactly: parameters (``numel`` of the model's and of each layer's parameters) with ``params``;
every output shape with the engine's; fvcore's total, per-layer and per-operator counts with ``fvcore_flops``; and
FlopCounterMode's total and per-layer counts with ``flops`` (2 x ``macs``). Counts are for batch size 1. The layers
of entries marked ``unused: true`` are checked apart (`UnusedCheck`): each module's parameters, and that the forward
never calls it; the model's parameters are ``params`` + ``unused_params``.

Importing this module imports torch and fvcore; without them it raises `MissingDependency` (the CLI prints the
install hint and exits 2).
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from shufflecalc.bridge.builder import INSTALL_HINT, build_model  # raises MissingDependency without torch
from shufflecalc.errors import MissingDependency, ShufflecalcError
from shufflecalc.spec.graph import Graph, expand
from shufflecalc.spec.layers import KINDS, Shape
from shufflecalc.spec.load import Spec, load_spec, resolve_config

try:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with warnings.catch_warnings():  # fvcore's imports use torch.jit.script: deprecated (2.13), a FutureWarning (2.14)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        from fvcore.nn import FlopCountAnalysis
except ImportError as exc:  # pragma: no cover - exercised by the no-torch test in a subprocess
    raise MissingDependency(f"{INSTALL_HINT} ({exc})") from None

@dataclass(frozen=True)
class LayerCheck:
    """One spec layer: the engine's numbers next to what torch and fvcore measured on its module."""

    name: str
    op: str
    out: Shape  # the engine's output shape (batch excluded)
    torch_out: Shape | None  # the forward hook's (None: the module never ran)
    params: int
    torch_params: int
    flops: int  # 2 x macs
    torch_flops: int  # FlopCounterMode, this module
    fvcore_flops: int  # the engine's fvcore-convention count
    fvcore: int  # FlopCountAnalysis.by_module()[name]
    fvcore_counted: dict[str, int]  # fvcore operator -> count, for this module
    fvcore_unsupported: dict[str, int]  # aten op -> occurrences fvcore did not support (counted 0, with a warning)
    fvcore_ignored: dict[str, int]  # aten op -> occurrences fvcore ignores by design (counted 0)

    def pairs(self) -> tuple[tuple[str, Any, Any], ...]:
        """(check, analytic, measured) for every comparison made on this layer."""
        return (
            ("shape", self.out, self.torch_out),
            ("params", self.params, self.torch_params),
            ("fvcore_flops", self.fvcore_flops, self.fvcore),
            ("flops", self.flops, self.torch_flops),
        )

    @property
    def ok(self) -> bool:
        return all(analytic == measured for _, analytic, measured in self.pairs())


@dataclass(frozen=True)
class UnusedCheck:
    """A layer marked ``unused: true``: its module holds the engine's parameters and the eval forward never calls
    it."""

    name: str
    op: str
    params: int
    torch_params: int
    ran: bool  # a forward hook on its module fired

    def pairs(self) -> tuple[tuple[str, Any, Any], ...]:
        return (("params", self.params, self.torch_params),
                ("unused", "never runs", "runs" if self.ran else "never runs"))

    @property
    def ok(self) -> bool:
        return all(analytic == measured for _, analytic, measured in self.pairs())


@dataclass(frozen=True)
class Mismatch:
    """One count (or shape) on which the engine and a measurement disagree."""

    check: str  # params | shape | flops | fvcore_flops | fvcore_by_operator | unused
    where: str  # "total", a layer name, or (fvcore_by_operator) an fvcore operator name
    analytic: Any
    measured: Any

    @property
    def difference(self) -> int | None:
        """measured - analytic, for counts."""
        if isinstance(self.analytic, int) and isinstance(self.measured, int):
            return self.measured - self.analytic
        return None


@dataclass(frozen=True)
class Omission:
    """Operators fvcore left out (counted 0) in the layers of one kind."""

    treatment: str  # "unsupported" (fvcore warns) or "ignored" (by design)
    op: str  # the spec's layer kind ("" for operators outside any layer)
    operators: dict[str, int]  # aten op -> occurrences
    layers: tuple[str, ...]


@dataclass(frozen=True)
class Verification:
    """The result of `verify()` for one configuration. Totals are for batch size 1."""

    name: str
    source: str
    config: dict[str, Any]
    input: Shape
    output: Shape
    torch_output: Shape
    macs: int
    params: int
    fvcore_flops: int
    torch_params: int
    torch_flops: int  # FlopCounterMode total
    fvcore: int  # FlopCountAnalysis total
    fvcore_by_operator: dict[str, int]  # fvcore's
    analytic_by_operator: dict[str, int]  # the engine's, in fvcore's operator names
    layers: tuple[LayerCheck, ...]
    omissions: tuple[Omission, ...]
    seconds: float = field(compare=False, default=0.0)  # wall time of build + measurement (never in JSON)
    unused: tuple[UnusedCheck, ...] = ()  # the layers marked `unused: true`

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def unused_params(self) -> int:
        """The parameters of the layers the eval forward never runs (`params` counts those it runs)."""
        return sum(u.params for u in self.unused)

    def pairs(self) -> tuple[tuple[str, Any, Any], ...]:
        """(check, analytic, measured) for the totals."""
        return (
            ("params", self.params + self.unused_params, self.torch_params),
            ("shape", self.output, self.torch_output),
            ("fvcore_flops", self.fvcore_flops, self.fvcore),
            ("flops", self.flops, self.torch_flops),
        )

    @property
    def result(self) -> str:
        return "FAIL" if self.mismatches else "PASS"

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def mismatches(self) -> tuple[Mismatch, ...]:
        return _mismatches(self)


@dataclass(frozen=True)
class Problem:
    """A configuration that could not be verified: the engine rejects it (INVALID), or torch or fvcore fails on a
    network the engine accepts (FAIL)."""

    name: str
    source: str
    config: dict[str, Any]
    result: str  # INVALID | FAIL
    message: str

    @property
    def ok(self) -> bool:
        return self.result != "FAIL"


Outcome = Verification | Problem


# --- fvcore's operator names --------------------------------------------------------------------------------------


def fvcore_operator(op: str, attrs: Mapping[str, Any] | None = None) -> str:
    """The name under which fvcore's ``by_operator()`` reports a counted layer kind with these arguments: its aten
    op (``LayerKind.ops``: upsample's depends on its mode) without the namespace, except convolution, whose handle
    reports ``conv``."""
    name = KINDS[op].ops(attrs)[0].split("::", 1)[-1]
    return "conv" if name == "_convolution" else name


def analytic_by_operator(graph: Graph) -> dict[str, int]:
    """The engine's fvcore_flops grouped by fvcore operator name (zero totals dropped, as fvcore's Counter does)."""
    totals: Counter[str] = Counter()
    for layer in graph.layers:
        if KINDS[layer.op].fvcore in ("counted", "partial"):  # partial: fvcore counts the kind's first aten op
            totals[fvcore_operator(layer.op, layer.attrs)] += layer.fvcore_flops
    return {k: v for k, v in sorted(totals.items()) if v}


class _FlopCount(FlopCountAnalysis):
    """fvcore's FlopCountAnalysis, also recording the operators it ignores by design, per module (fvcore itself keeps
    only the unsupported ones). It hooks `_should_ignore_node` of fvcore 0.1.5, the version the torch extra pins.

    Tracing also records shape arithmetic (``aten::size``, ``aten::Int``, ``floor_divide`` on 0-d tensors): only
    operators producing a tensor of rank >= 1, i.e. feature-map operators, are recorded."""

    def __init__(self, model: Any, inputs: Any) -> None:
        super().__init__(model, inputs)
        self.ignored: dict[str, Counter[str]] = {}
        self.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")

    def _should_ignore_node(self, node: Any) -> bool:
        ignore = super()._should_ignore_node(node)
        if ignore and not node.kind().startswith("prim::") and _makes_feature_map(node):
            scope = node.scopeName().split("/")[-1]
            self.ignored.setdefault(scope, Counter())[node.kind()] += 1
        return ignore


def _makes_feature_map(node: Any) -> bool:
    """A tensor of rank >= 1, or a list of tensors (``aten::chunk``, ShuffleNetV2's channel split)."""
    for value in node.outputs():
        t = value.type()
        if isinstance(t, torch._C.TensorType) and (t.dim() or 0) >= 1:
            return True
        if isinstance(t, torch._C.ListType) and isinstance(t.getElementType(), torch._C.TensorType):
            return True
    return False


# --- measuring ----------------------------------------------------------------------------------------------------


def _measure_forward(model: Any, x: Any, names: Iterable[str]) -> tuple[Shape, dict[str, Shape], Counter[str], int]:
    """One forward pass under FlopCounterMode with shape hooks: (output shape, shape per layer, FLOPs per layer,
    total FLOPs)."""
    modules = dict(model.named_modules())
    shapes: dict[str, Shape] = {}

    def hook(name: str) -> Callable[..., None]:
        return lambda module, args, out: shapes.__setitem__(name, tuple(out.shape[1:]))

    handles = [modules[n].register_forward_hook(hook(n)) for n in names]
    try:
        with attention_counted(), torch.no_grad(), FlopCounterMode(display=False) as counter:
            y = model(x)
    finally:
        for h in handles:
            h.remove()
    root = type(model).__name__ + "."  # FlopCounterMode names a module by the model's class name and its path
    per_module = {k[len(root):]: sum(v.values()) for k, v in counter.get_flop_counts().items() if k.startswith(root)}
    return tuple(y.shape[1:]), shapes, Counter(per_module), int(counter.get_total_flops())


def verify(spec: Spec | Graph | str, overrides: Mapping[str, Any] | None = None, **params: Any) -> Verification:
    """Build the model of `spec` (built-in name, path, Spec or Graph) with the given parameters and compare every count
    and shape with torch and fvcore. Raises ShufflecalcError for a configuration the engine rejects."""
    graph = spec if isinstance(spec, Graph) else expand(spec, {**(overrides or {}), **params})
    with _one_thread():
        return _verify(graph)


@contextmanager
def attention_counted() -> Iterator[None]:
    """Run attention so that FlopCounterMode counts its matmuls: ``scaled_dot_product_attention`` restricted to its MATH
    kernel (plain bmm, which FlopCounterMode counts) and ``torch.backends.mha`` fast path off (its fused
    ``_native_multi_head_attention`` is not counted at all). The previous fast-path setting is restored after. Every
    count of `verify` is made under it; networks without attention count the same either way."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Measure on one CPU thread. The counts do not depend on it, and one-image passes over small tensors run several
    times faster without the intra-op thread pool on a machine shared with other work (benchmarks/verify.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _verify(graph: Graph) -> Verification:
    start = time.perf_counter()
    model = build_model(graph)
    x = torch.randn(1, *graph.input, generator=torch.Generator().manual_seed(0))
    names = [layer.name for layer in graph.layers]
    idle = graph.unused_layers
    modules = dict(model.named_modules())

    flop_count = _FlopCount(model, x)
    with warnings.catch_warnings(), attention_counted():  # fvcore traces here: attention as in the forward pass
        warnings.simplefilter("ignore")
        fvcore_total = int(flop_count.total())
    by_module = flop_count.by_module()
    out, shapes, torch_by_layer, torch_total = _measure_forward(model, x, names + [layer.name for layer in idle])

    layers = tuple(
        LayerCheck(
            layer.name, layer.op, layer.out, shapes.get(layer.name),
            layer.params, sum(p.numel() for p in modules[layer.name].parameters()),
            layer.flops, int(torch_by_layer.get(layer.name, 0)),
            layer.fvcore_flops, int(by_module.get(layer.name, 0)),
            {k: int(v) for k, v in flop_count.by_operator(layer.name).items()},
            dict(flop_count.unsupported_ops(layer.name)),
            dict(flop_count.ignored.get(layer.name, {})),
        )
        for layer in graph.layers
    )
    return Verification(
        graph.spec.name, graph.spec.source, dict(graph.config), graph.input, graph.output, out,
        graph.sums.macs, graph.sums.params, graph.sums.fvcore_flops,
        sum(p.numel() for p in model.parameters()), torch_total, fvcore_total,
        {k: int(v) for k, v in sorted(flop_count.by_operator().items())}, analytic_by_operator(graph),
        layers, _omissions(layers, flop_count), time.perf_counter() - start,
        tuple(UnusedCheck(layer.name, layer.op, layer.params, sum(p.numel() for p in modules[layer.name].parameters()),
                          layer.name in shapes) for layer in idle),
    )


def _omissions(layers: tuple[LayerCheck, ...], flop_count: _FlopCount) -> tuple[Omission, ...]:
    """Operators fvcore left out, grouped by treatment and layer kind, in order of first appearance."""
    groups: dict[tuple[str, str], tuple[Counter[str], list[str]]] = {}

    def add(treatment: str, op: str, ops: Mapping[str, int], name: str) -> None:
        if ops:
            counter, names = groups.setdefault((treatment, op), (Counter(), []))
            counter.update(ops)
            names.append(name)

    for treatment in ("unsupported", "ignored"):
        outside = Counter(
            flop_count.unsupported_ops("") if treatment == "unsupported" else flop_count.ignored.get("", {})
        )
        for layer in layers:
            ops = layer.fvcore_unsupported if treatment == "unsupported" else layer.fvcore_ignored
            add(treatment, layer.op, ops, layer.name)
            if treatment == "unsupported":
                outside.subtract(ops)
        add(treatment, "", +outside, "(outside any layer)")
    return tuple(Omission(t, op, dict(c), tuple(n)) for (t, op), (c, n) in groups.items())


def _mismatches(v: Verification) -> tuple[Mismatch, ...]:
    found = [Mismatch(check, "total", a, m) for check, a, m in v.pairs() if a != m]
    for op in sorted(set(v.analytic_by_operator) | set(v.fvcore_by_operator)):
        a, m = v.analytic_by_operator.get(op, 0), v.fvcore_by_operator.get(op, 0)
        if a != m:
            found.append(Mismatch("fvcore_by_operator", op, a, m))
    for layer in v.layers:
        found += [Mismatch(check, layer.name, a, m) for check, a, m in layer.pairs() if a != m]
    for u in v.unused:
        found += [Mismatch(check, u.name, a, m) for check, a, m in u.pairs() if a != m]
    return tuple(found)


# --- configurations -----------------------------------------------------------------------------------------------


def grid(spec: Spec, fixed: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """A spec's parameter grid: the product of every parameter's `choices` (a bool parameter's are false and true),
    in declaration order. Other parameters keep their default; those in `fixed` (validated) keep that value."""
    base = resolve_config(spec, fixed or {})
    axes = []
    for name, p in spec.params.items():
        choices = p.choices or ((False, True) if p.type is bool else None)
        axes.append([(name, c) for c in choices] if choices and name not in (fixed or {}) else [(name, base[name])])
    return [dict(combo) for combo in itertools.product(*axes)]


def verify_configs(spec: Spec, configs: Iterable[Mapping[str, Any]], strict: bool = False) -> list[Outcome]:
    """Verify each configuration of `spec`. A configuration the engine rejects becomes a `Problem` (INVALID; with
    `strict`, its ShufflecalcError is raised), and one on which torch or fvcore fails a `Problem` (FAIL)."""
    outcomes: list[Outcome] = []
    for config in configs:
        try:
            graph = expand(spec, config)
        except ShufflecalcError as exc:
            if strict:
                raise
            outcomes.append(Problem(spec.name, spec.source, dict(config), "INVALID", str(exc)))
            continue
        try:
            outcomes.append(verify(graph))
        except Exception as exc:
            outcomes.append(Problem(spec.name, spec.source, dict(graph.config), "FAIL", f"{type(exc).__name__}: {exc}"))
    return outcomes


def verify_grid(spec: Spec | str, fixed: Mapping[str, Any] | None = None) -> list[Outcome]:
    """Verify every configuration of a spec's parameter grid (see `grid`)."""
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    return verify_configs(spec, grid(spec, fixed))
