"""The round-trip proof: an imported spec is the model it was imported from.

Compared exactly, for one image of the spec's input size:

- params: the spec's (those the eval forward runs, plus those of its ``unused: true`` layers) and the model's numel;
- MACs: the spec's analytic MACs and torch's ``FlopCounterMode`` total / 2 on the original model, counted with the
  MATH attention kernel and MultiheadAttention's fast path off (`bridge.verify.attention_counted`);
- fvcore: the spec's ``fvcore_flops`` and ``FlopCountAnalysis(model, x).total()`` (eval);
- activations: the spec's and ``ActivationCountAnalysis(model, x).total()``, the spec's with the in-projection output
  of each attention layer added (3 x T x C: fvcore counts it; the ``activations`` convention counts an attention
  layer's output only);
- the state dict: ``build_model(spec)`` loads the original's, by name, with ``strict=True`` (a parameter the forward
  reads directly, such as ViT's ``class_token`` or ConvNeXt's ``layer_scale``, is the tensor of the layer named by it:
  its key gains the module's tensor name, ``class_token`` -> ``class_token.weight``; the import lists these renames);
- the output: after every floating-point parameter and buffer of a copy of the original is randomized (batchnorm
  statistics included: weights ~ N(0, 1 / fan-in), vectors uniform in [0.75, 1.25], so that outputs are of order 1
  rather than torchvision's ~0.006 and a wrong gate or concat order cannot hide in a tolerance), both models run on
  one random input and must agree to within 1e-5 of the output's largest magnitude (float32 rounding).
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from math import prod
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from shufflecalc.bridge.builder import build_model  # raises MissingDependency without torch, before this module runs
from shufflecalc.bridge.verify import attention_counted
from shufflecalc.errors import one_line
from shufflecalc.spec.graph import Graph

with warnings.catch_warnings():  # fvcore's imports use torch.jit.script: deprecated (2.13), a FutureWarning (2.14)
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis

TOLERANCE = 1e-5  # of the output's largest magnitude


@dataclass(frozen=True)
class Check:
    """One part of the proof: the spec's value next to the model's."""

    what: str  # params | macs | fvcore_flops | activations | state_dict | output
    spec: Any
    model: Any
    ok: bool
    note: str = ""


@dataclass(frozen=True)
class Proof:
    target: str
    checks: tuple[Check, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def result(self) -> str:
        return "PASS" if self.ok else "FAIL"


@contextmanager
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def randomize(model: Any, seed: int = 0) -> None:
    """Every floating-point parameter and buffer of `model`, in place: tensors of rank >= 2 ~ N(0, 1 / fan-in),
    vectors (biases, batchnorm weights and statistics) uniform in [0.75, 1.25]."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if not t.is_floating_point():
                continue
            if t.dim() >= 2:
                t.copy_(torch.randn(t.shape, generator=g) / max(1, t[0].numel()) ** 0.5)
            else:
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.75)


def _count(what: str, spec: int, model: int, note: str = "") -> Check:
    return Check(what, spec, model, spec == model, note)


def prove(graph: Graph, model: Any, target: str, renames: Mapping[str, str] | None = None) -> Proof:
    """The round-trip proof of `graph` (the imported spec, expanded) against `model` (left unchanged). `renames`: the
    state-dict keys of the parameters the forward reads directly, and their keys in the spec's torch model."""
    start = time.perf_counter()
    with _one_thread():
        checks = _prove(graph, model, dict(renames or {}))
    return Proof(target, tuple(checks), time.perf_counter() - start)


def _prove(graph: Graph, model: Any, renames: dict[str, str]) -> list[Check]:
    original = copy.deepcopy(model).eval()
    randomize(original)
    x = torch.randn(1, *graph.input, generator=torch.Generator().manual_seed(1))
    checks = [_count("params", graph.sums.params + graph.unused_params, sum(p.numel() for p in original.parameters()),
                     f"{graph.unused_params:,} of them in layers unused in eval" if graph.unused_params else "")]
    with attention_counted(), torch.no_grad(), FlopCounterMode(display=False) as counter, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's notes on padding='same' and the like
        expected = original(x)
    flops = int(counter.get_total_flops())
    checks.append(Check("macs", graph.sums.macs, flops / 2 if flops % 2 else flops // 2, 2 * graph.sums.macs == flops,
                        "torch: FlopCounterMode / 2"))
    with warnings.catch_warnings(), attention_counted():
        warnings.simplefilter("ignore")
        fv = FlopCountAnalysis(original, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        fvcore = int(fv.tracer_warnings("none").total())
        act = ActivationCountAnalysis(original, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        activations = int(act.tracer_warnings("none").total())
    checks.append(_count("fvcore_flops", graph.sums.fvcore_flops, fvcore, "fvcore FlopCountAnalysis"))
    in_projections = sum(3 * prod(ly.in_shapes[0]) for ly in graph.layers if ly.op == "multihead_attention")
    checks.append(_count("activations", graph.sums.activations + in_projections, activations,
                         "fvcore ActivationCountAnalysis" + (f"; the spec's {graph.sums.activations:,} and the "
                                                             f"attention in-projections' {in_projections:,}, which "
                                                             "fvcore counts" if in_projections else "")))
    built = build_model(graph)
    state = {renames.get(k, k): v for k, v in original.state_dict().items()}
    try:
        built.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError) as exc:
        checks.append(Check("state_dict", "loads", "refused", False, one_line(str(exc))[:400]))
        return checks
    note = "by name, strict=True"
    if renames:
        first = next(iter(renames.items()))
        note += (f"; {len(renames)} parameter{'s' if len(renames) > 1 else ''} read directly by the forward under "
                 f"{'their layers' if len(renames) > 1 else 'its layer'}' names ({first[0]} -> {first[1]}"
                 + (", ...)" if len(renames) > 1 else ")"))
    checks.append(Check("state_dict", f"{len(state)} tensors", "loaded (strict)", True, note))
    with attention_counted(), torch.no_grad():
        got = built(x)
    if tuple(got.shape) != tuple(expected.shape):
        checks.append(Check("output", tuple(got.shape[1:]), tuple(expected.shape[1:]), False, "output shapes differ"))
        return checks
    scale = float(expected.abs().max())
    diff = float((got - expected).abs().max())
    ok = diff <= TOLERANCE * max(scale, 1e-30)
    note = "bitwise equal" if torch.equal(got, expected) else f"max |diff| {diff:.3g}"
    checks.append(Check("output", f"std {float(got.std()):.4g}", f"std {float(expected.std()):.4g}", ok,
                        f"{note} (max |output| {scale:.4g}, tolerance {TOLERANCE:g} of it)"))
    return checks
