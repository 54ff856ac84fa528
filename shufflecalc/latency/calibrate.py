"""`shufflecalc calibrate`: microbenchmarks of every predictor class on this device, fitted into a latency profile.

**The design.** `design()` lays out a fixed grid of single-layer cases per predictor class (`analysis.predict`):
convolutions of every class over channels 3 to 1024, feature maps 4 to 112, kernels 1 to 7, strides 1 and 2 and the
groups real networks use; linear layers and attention on flat inputs and tokens; and every other layer kind over
the element counts networks give it. Each case is written in the spec language and expanded by the engine, so a
case's layer, its FLOPs and its bytes are exactly what a network of that kind holds.

**The measurement.** Layers are timed as they run in a network's forward pass: each call alone
(``time.perf_counter_ns`` around ``module(*inputs)``, as the forward loop makes it), on an input freshly written (as
the previous layer's output is), its output freed after the call, and in turn with other layers of its class, in
groups of up to `GROUP` (a network runs its few kinds of layers in turn: the code of a kind stays warm). Between two
calls of a layer, its group-mates run; what they leave in the caches is the *context*, timed twice:

- ``cold``: groups drawn at random from the class, so that large cases push a layer's weights out of the caches, as
  a network whose forward pass moves more than the caches hold does (every CNN at ImageNet sizes);
- ``warm``: groups of neighbouring sizes, each run `WARM_ROUNDS` times in a row and timed the last time, so that a
  small layer's data, its code and oneDNN's compiled kernel for its shapes are where a network that fits in the
  caches, run again and again, leaves them. (Timed once per pass, after the grid's 1,100 other cases, a tiny 3x3
  convolution took 75 to 90 us; after up to 400 other convolutions, 10 to 16 us, as in a network of a few layers.)

(Timed thousands of times in a loop of its own, a layer looks faster than in any network; timed between layers of
every other kind, slower.) Per context two untimed passes (one-time initialization, such as oneDNN's kernel
creation), then `passes` timed ones, the groups in a new order each pass; a case's time is `fastest` of them, their
10th percentile: what the layer takes while nothing else slows the machine, the time `bench` reports as a network's
fastest call (``min_ms``). (On a shared machine other tenants' work slows a layer by up to 1.6x for seconds at a
time; the median of nine passes depends on how many of them fell in such seconds, a low percentile far less.)
The model's own work beyond its layers' calls is timed on models of 1 and 65 identity layers, the same way: once per
call (``forward_overhead``) and per layer (``layer_overhead``, the forward loop's bookkeeping). The CPU's L2 and L3
sizes (sysfs) go in the profile, for `analysis.predict` to blend the two contexts.

The fit, per class, is `analysis.predict.fit_class`; the profile is JSON (`analysis.predict.profile_from_dict`
reads it) and keeps the samples, so that baselines can be fitted on the same data (benchmarks/predict.py).
"""

from __future__ import annotations

import datetime
import math
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shufflecalc.analysis.predict import (
    DTYPE_BYTES,
    PROFILE_FORMAT,
    PROFILE_VERSION,
    ClassFit,
    ceilings,
    fit_class,
    layer_features,
    predictor_class,
)
from shufflecalc.errors import ShufflecalcError
from shufflecalc.latency.bench import BenchOptions, environment, require_torch
from shufflecalc.latency.timing import quantile
from shufflecalc.spec.graph import Layer, expand
from shufflecalc.spec.load import load_spec
from shufflecalc.units import sig

Progress = Callable[[int, int, str], None]

MAX_MACS = 250_000_000  # per case at batch 1: the grid stays within about 5 minutes on one CPU core
MAX_ELEMENTS = 1_700_000  # input elements per case at batch 1
CHANNELS = (8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 384, 512, 768, 1024)
SIZES = (4, 7, 8, 14, 16, 28, 32, 56, 112)


# the arguments the grid gives the kinds that need some
KIND_ARGS: dict[str, dict[str, Any]] = {
    "groupnorm": {"groups": 8}, "channel_shuffle": {"groups": 4}, "split": {"parts": 2, "index": 0},
    "softmax": {"dim": 0}, "dropout": {"p": 0.0}, "drop_path": {"p": 0.0},
}


@dataclass(frozen=True)
class Case:
    """One microbenchmark: a spec whose last layer is the one timed."""

    input: tuple[int, ...]
    entries: tuple[str, ...]  # YAML flow mappings

    def yaml(self) -> str:
        return (f"name: calibration\ninput: [{', '.join(map(str, self.input))}]\nlayers:\n"
                + "".join(f"  - {e}\n" for e in self.entries))


def _flow(**kv: Any) -> str:
    def text(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(map(str, v)) + "]"
        return str(v)

    return "{" + ", ".join(f"{k}: {text(v)}" for k, v in kv.items() if v is not None) + "}"


def _fits(c: int, h: int, w: int, macs: int = 0) -> bool:
    return c * h * w <= MAX_ELEMENTS and macs <= MAX_MACS


def _conv_cases(rnd: random.Random, n: int, make: Callable[[random.Random], tuple[int, int, int, dict[str, Any]]],
                ) -> list[Case]:
    """`n` convolution cases from `make` (input c, out channels, size, conv arguments), within the grid's bounds."""
    cases: list[Case] = []
    tries = 0
    while len(cases) < n and tries < 100 * n:
        tries += 1
        c, out, s, args = make(rnd)
        k, stride, groups = args.get("kernel", 1), args.get("stride", 1), args.get("groups", 1)
        kh, kw = (k, k) if isinstance(k, int) else k
        o = (s - 1) // stride + 1
        if not _fits(c, s, s, kh * kw * c // groups * out * o * o) or not _fits(out, o, o):
            continue
        cases.append(Case((c, s, s), (_flow(op="conv2d", name="x", out=out, **args),)))
    return cases


def _ch(rnd: random.Random, low: int = 8, high: int = 1024) -> int:
    return rnd.choice([c for c in CHANNELS if low <= c <= high])


def design(seed: int = 0) -> list[Case]:
    """The calibration grid: every predictor class over the shapes networks give it (fixed by `seed`)."""
    rnd = random.Random(seed)
    size = lambda r: r.choice(SIZES)  # noqa: E731
    cases: list[Case] = []
    # convolutions, one class at a time
    cases += _conv_cases(rnd, 70, lambda r: (_ch(r, 8, 512), _ch(r, 8, 512), size(r),
                                             {"kernel": r.choice((3, 3, 3, 5, 7)), "stride": r.choice((1, 1, 2))}))
    cases += _conv_cases(rnd, 8, lambda r: (3, r.choice((16, 24, 32, 64)), r.choice((56, 112, 224)),
                                            {"kernel": r.choice((3, 7)), "stride": 2}))
    cases += _conv_cases(rnd, 80, lambda r: (_ch(r), _ch(r), size(r), {"kernel": 1, "stride": r.choice((1, 1, 1, 2))}))
    cases += _conv_cases(rnd, 60, lambda r: _grouped_1x1(r, size(r)))
    cases += _conv_cases(rnd, 60, lambda r: _depthwise(r, size(r)))
    cases += _conv_cases(rnd, 40, lambda r: _grouped(r, size(r)))
    # PyTorch's `same` padding with an even kernel: an extra pad before the convolution
    cases += _conv_cases(rnd, 12, lambda r: (_ch(r, 8, 256), _ch(r, 8, 256), size(r),
                                             {"kernel": r.choice((2, 4)), "padding": "same"}))
    cases += _conv_cases(rnd, 8, lambda r: _padded(_grouped(r, size(r))))
    cases += _conv_cases(rnd, 8, lambda r: _padded(_depthwise(r, size(r))))
    # other spatial kinds
    for op, n in (("maxpool", 20), ("avgpool", 20)):
        for _ in range(n):
            c, s = _ch(rnd, 8, 512), rnd.choice((8, 14, 16, 28, 56, 112))
            if _fits(c, s, s):
                k = rnd.choice((2, 3))
                cases.append(Case((c, s, s), (_flow(op=op, name="x", kernel=k, stride=2, padding=k // 2 if k == 3
                                                     else None),)))
    cases += _each(rnd, 14, lambda c, s: (_flow(op="global_avgpool", name="x"),))
    cases += _each(rnd, 8, lambda c, s: (_flow(op="adaptive_avgpool", name="x", output=rnd.choice((1, 2, 7))),))
    cases += _each(rnd, 8, lambda c, s: (_flow(op="adaptive_maxpool", name="x", output=rnd.choice((1, 2, 7))),))
    cases += _each(rnd, 12, lambda c, s: (_flow(op="upsample", name="x", scale=2,
                                                mode=rnd.choice(("nearest", "bilinear"))),), high=256, small=True)
    for _ in range(20):
        c, s = _ch(rnd, 8, 256), rnd.choice((4, 7, 8, 14, 16, 28))
        kernel, stride = rnd.choice(((2, 2), (3, 2), (4, 2), (3, 1)))
        out = _ch(rnd, 8, 256)
        if _fits(c, 2 * s, 2 * s, 2 * s * 2 * s * c * out * kernel**2 // 4):
            cases.append(Case((c, s, s), (_flow(op="conv_transpose2d", name="x", out=out, kernel=kernel,
                                                stride=stride, padding=kernel // 2 if kernel == 3 else 0),)))
    # pointwise kinds on feature maps (and batchnorm on flat vectors)
    for op in ("batchnorm", "relu", "relu6", "hardswish", "hardsigmoid", "sigmoid", "silu", "gelu", "tanh",
               "leaky_relu", "elu", "hardtanh", "prelu", "dropout", "drop_path", "layer_scale", "layernorm",
               "groupnorm", "instancenorm", "softmax", "mean", "flatten", "channel_shuffle", "split"):
        n = 8 if op in ("dropout", "drop_path", "flatten") else 20 if op == "batchnorm" else 14
        extra = KIND_ARGS.get(op, {})
        entry = _flow(op=op, name="x", **extra)
        cases += _each(rnd, n, _same_entry(entry))
    cases += [_flat(n, _flow(op="batchnorm", name="x")) for n in (256, 1024, 4096, 25088)]
    # several inputs: residual add, the SE gate's mul, concat
    cases += _each(rnd, 20, lambda c, s: (_flow(op="add", name="x", inputs=["input", "input"]),))
    cases += _each(rnd, 16, lambda c, s: (_flow(op="global_avgpool", name="g"),
                                          _flow(op="mul", name="x", inputs=["input", "g"])))
    cases += _each(rnd, 6, lambda c, s: (_flow(op="mul", name="x", inputs=["input", "input"]),))
    cases += _each(rnd, 20, lambda c, s: (_flow(op="concat", name="x", inputs=["input", "input"]),))
    # linear layers: classifiers on flat vectors, and on tokens
    for _ in range(20):
        i, o = rnd.choice((64, 256, 576, 960, 1024, 1280, 2048, 4096, 9216)), rnd.choice((10, 100, 1000, 1024, 4096))
        if i * o <= MAX_MACS:
            cases.append(_flat(i, _flow(op="linear", name="x", out=o)))
    for _ in range(16):
        c = rnd.choice((64, 192, 384, 768))
        cases.append(_tokens(rnd, c, _flow(op="linear", name="x", out=rnd.choice((c, 3 * c, 4 * c)))))
    # tokens
    for _ in range(12):
        c = rnd.choice((64, 192, 384, 768))
        cases.append(_tokens(rnd, c, _flow(op="multihead_attention", name="x", heads=rnd.choice((1, 4, 8, 16)))))
    for op in ("class_token", "position_embedding", "select_token", "layernorm", "softmax", "gelu"):
        for _ in range(6):
            extra = {"dim": -1} if op == "softmax" else {"index": 0} if op == "select_token" else {}
            cases.append(_tokens(rnd, rnd.choice((64, 192, 384, 768)), _flow(op=op, name="x", **extra)))
    for _ in range(6):
        c, s = rnd.choice((64, 192, 384, 768)), rnd.choice((4, 7, 14))
        cases.append(Case((c, s, s), (_flow(op="to_tokens", name="x"),)))
        cases.append(Case((c, s, s), (_flow(op="to_tokens", name="t"), _flow(op="from_tokens", name="x"))))
    return cases + _tiny(rnd)


TINY_CHANNELS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 36)
TINY_SIZES = (3, 5, 8, 11, 13, 17)
TINY_KINDS = ("batchnorm", "relu", "relu6", "hardswish", "hardsigmoid", "sigmoid", "silu", "gelu", "tanh",
              "leaky_relu", "elu", "hardtanh", "prelu", "layer_scale", "layernorm", "groupnorm", "instancenorm",
              "softmax", "mean", "global_avgpool", "flatten", "dropout", "drop_path")


def _tiny(rnd: random.Random) -> list[Case]:
    """Tiny layers (1 to 36 channels, maps of 3 to 17): where the overhead is nearly all of the time."""
    cases = []

    def draw() -> tuple[int, int]:
        return rnd.choice(TINY_CHANNELS), rnd.choice(TINY_SIZES)

    for kernel, n in ((3, 10), (5, 4), (1, 10)):
        for _ in range(n):
            c, s = draw()
            cases.append(Case((c, s, s), (_flow(op="conv2d", name="x", out=rnd.choice(TINY_CHANNELS), kernel=kernel,
                                                stride=rnd.choice((1, 2))),)))
    for kernel, n in ((3, 8), (1, 8)):  # grouped and depthwise
        for _ in range(n):
            g, s = rnd.choice((2, 3, 4)), rnd.choice(TINY_SIZES)
            c = g * rnd.choice((1, 2, 4))
            cases.append(Case((c, s, s), (_flow(op="conv2d", name="x", out=g * rnd.choice((1, 2, 3)), kernel=kernel,
                                                groups=g),)))
    for _ in range(8):
        c, s = rnd.choice((4, 6, 8, 12, 16)), rnd.choice(TINY_SIZES)
        cases.append(Case((c, s, s), (_flow(op="conv2d", name="x", out=c, kernel=rnd.choice((3, 5)), groups=c,
                                            stride=rnd.choice((1, 2))),)))
    for op in TINY_KINDS:
        for _ in range(4):
            c, s = draw()
            cases.append(Case((c, s, s), (_flow(op=op, name="x", **KIND_ARGS.get(op, {}) if op != "groupnorm"
                                                else {"groups": 1}),)))
    for _ in range(6):
        c, s = draw()
        cases.append(Case((c, s, s), (_flow(op="maxpool", name="x", kernel=rnd.choice((2, 3)), stride=2),)))
        cases.append(Case((c, s, s), (_flow(op="avgpool", name="x", kernel=rnd.choice((2, 3)), stride=2),)))
        cases.append(Case((c, s, s), (_flow(op="add", name="x", inputs=["input", "input"]),)))
        cases.append(Case((c, s, s), (_flow(op="concat", name="x", inputs=["input", "input"]),)))
        cases.append(Case((c, s, s), (_flow(op="global_avgpool", name="g"),
                                      _flow(op="mul", name="x", inputs=["input", "g"]))))
        cases.append(_flat(c * s, _flow(op="linear", name="x", out=rnd.choice(TINY_CHANNELS))))
    for _ in range(4):
        g, s = rnd.choice((2, 3)), rnd.choice(TINY_SIZES)
        cases.append(Case((2 * g, s, s), (_flow(op="channel_shuffle", name="x", groups=g),)))
        cases.append(Case((2 * g, s, s), (_flow(op="split", name="x", parts=2, index=1),)))
    return cases


def _flat(n: int, entry: str) -> Case:
    """A case on a flat vector of `n` features (an n x 1 x 1 input, flattened)."""
    return Case((n, 1, 1), (_flow(op="flatten", name="f"), entry))


def _tokens(rnd: random.Random, c: int, entry: str) -> Case:
    """A case on tokens: 16, 49, 64 or 196 patches of `c` features, with a class token one time in two."""
    s = rnd.choice((4, 7, 8, 14))
    prefix = (_flow(op="to_tokens", name="t"),) + ((_flow(op="class_token", name="c"),) if rnd.random() < 0.5 else ())
    return Case((c, s, s), (*prefix, entry))


def _padded(case: tuple[int, int, int, dict[str, Any]]) -> tuple[int, int, int, dict[str, Any]]:
    """The convolution with an even kernel and `same` padding (stride 1), its groups kept."""
    c, out, s, args = case
    return c, out, s, {"kernel": 2, "padding": "same", "groups": args.get("groups", 1)}


def _same_entry(entry: str) -> Callable[[int, int], tuple[str, ...]]:
    return lambda c, s: (entry,)


def _grouped_1x1(r: random.Random, s: int) -> tuple[int, int, int, dict[str, Any]]:
    g = r.choice((2, 3, 4, 8))
    c, out = g * r.choice((4, 8, 16, 30, 32, 60, 64, 120)), g * r.choice((4, 8, 16, 30, 32, 60, 64, 120))
    return c, out, s, {"kernel": 1, "groups": g}


def _depthwise(r: random.Random, s: int) -> tuple[int, int, int, dict[str, Any]]:
    c = r.choice((16, 24, 32, 48, 64, 96, 120, 144, 192, 240, 384, 480, 576, 960))
    return c, c, s, {"kernel": r.choice((3, 3, 5)), "stride": r.choice((1, 1, 2)), "groups": c}


def _grouped(r: random.Random, s: int) -> tuple[int, int, int, dict[str, Any]]:
    width = r.choice((4, 8, 16, 24, 32, 64))
    g = r.choice((2, 4, 8, 16, 32))
    return g * width, g * width, s, {"kernel": 3, "stride": r.choice((1, 1, 2)), "groups": g}


def _each(rnd: random.Random, n: int, entries: Callable[[int, int], tuple[str, ...]], high: int = 1024,
          small: bool = False) -> list[Case]:
    """`n` cases of C x H x W inputs (C from 8 to `high`; small maps only with `small`)."""
    cases: list[Case] = []
    while len(cases) < n:
        c, s = _ch(rnd, 8, high), rnd.choice(SIZES[:6] if small else SIZES)
        if _fits(c, s, s):
            cases.append(Case((c, s, s), entries(c, s)))
    return cases


# --- measurement ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    cls: str
    kind: str
    shape: str
    flops: int
    bytes: int
    ms: float  # in the cold context (groups of the class at random)
    warm_ms: float  # in the warm context (groups of neighbouring sizes)

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.cls, "kind": self.kind, "shape": self.shape, "flops": self.flops, "bytes": self.bytes,
                "ms": sig(self.ms), "warm_ms": sig(self.warm_ms)}


def layers_of(cases: Sequence[Case]) -> list[Layer]:
    """Each case's timed layer, expanded by the engine from its spec."""
    out = []
    with tempfile.TemporaryDirectory(prefix="shufflecalc-calibrate-") as tmp:
        for i, case in enumerate(cases):
            path = Path(tmp) / f"case{i}.yaml"
            path.write_text(case.yaml())
            out.append(expand(load_spec(str(path))).layers[-1])
    return out


def calibrate(options: BenchOptions, passes: int = 9, progress: Progress | None = None, seed: int = 0,
              cases: Sequence[Case] | None = None) -> dict[str, Any]:
    """Time the grid (`design(seed)`, or `cases`) on the device of `options` (CPU), fit every class, and return the
    profile document."""
    if options.device != "cpu":
        raise ShufflecalcError(f"calibrate --device {options.device}: calibrate measures CPU layers only (cpu)")
    options = options.validated()
    if passes < 3:
        raise ShufflecalcError(f"--passes {passes}: at least 3")
    torch = require_torch()
    from shufflecalc.bridge.builder import build_model
    from shufflecalc.bridge.modules import torch_module

    (batch,) = options.batches
    dtype = getattr(torch, options.dtype)
    previous_threads = torch.get_num_threads()
    if options.threads:
        torch.set_num_threads(options.threads)
    try:
        env = environment(options)
        cases = design(seed) if cases is None else cases
        layers = layers_of(cases)
        modules = [torch_module(layer.op, layer.attrs, layer.in_shapes).to(dtype=dtype).eval() for layer in layers]
        largest = max(math.prod(s) for layer in layers for s in layer.in_shapes) * batch
        source = torch.randn(largest, dtype=dtype)
        times: dict[str, list[list[float]]] = {context: [[] for _ in cases] for context in CONTEXTS}
        shuffler = random.Random(seed)
        total, done = len(CONTEXTS) * (passes + 2), 0
        with torch.inference_mode():
            for context in CONTEXTS:
                groups = _groups(layers, shuffler, by_size=context == "warm")
                for p in range(passes + 2):
                    if progress:
                        progress(done, total, f"{context}: " + ("warm-up pass" if p < 2 else
                                                                 f"timed pass {p - 1} of {passes}"))
                    done += 1
                    shuffler.shuffle(groups)
                    rounds = WARM_ROUNDS if context == "warm" else 1
                    for group in groups:
                        for r in range(rounds):
                            for i in group:
                                layer, module = layers[i], modules[i]
                                inputs = [source[: math.prod(s) * batch].view(batch, *s).clone()
                                          for s in layer.in_shapes]
                                start = time.perf_counter_ns()
                                y = module(*inputs)
                                stop = time.perf_counter_ns()
                                del y, inputs
                                if p >= 2 and r == rounds - 1:
                                    times[context][i].append((stop - start) / 1e6)
            overhead = _forward_overhead(torch, build_model, dtype, batch)
        if progress:
            progress(total, total, "fitting")
    finally:
        torch.set_num_threads(previous_threads)
    size = DTYPE_BYTES[options.dtype]
    samples = []
    for layer, cold, warm in zip(layers, times["cold"], times["warm"], strict=True):
        flops, nbytes = layer_features(layer, batch, size)
        shape = " ".join("x".join(map(str, s)) for s in layer.in_shapes)
        samples.append(Sample(predictor_class(layer), layer.op, shape, flops, nbytes, fastest(cold), fastest(warm)))
    return profile_document(env, batch, samples, overhead, passes)


def fastest(times: Sequence[float]) -> float:
    """A case's time from its passes: their 10th percentile (linear interpolation, `latency.timing.quantile`), the
    machine's speed while nothing else slows it, not thrown off by one lucky call."""
    return quantile(sorted(times), 1, 10)


GROUP = 12  # cases of one class timed in turn, as a network runs its layers of a few kinds in turn
CONTEXTS = ("cold", "warm")
WARM_ROUNDS = 3  # warm: each group runs this many times in a row, the last one timed


def _groups(layers: Sequence[Layer], rnd: random.Random, by_size: bool) -> list[list[int]]:
    """The cases in groups of up to GROUP of one class, the order in which a pass runs them: drawn at random from
    the class (cold: the other cases' data passes through the caches between two calls of one), or of neighbouring
    sizes (`by_size`, warm: a small case's group-mates are small too, and its data stays in the caches)."""
    by_class: dict[str, list[int]] = {}
    for i, layer in enumerate(layers):
        by_class.setdefault(predictor_class(layer), []).append(i)
    groups = []
    for members in by_class.values():
        if by_size:
            members.sort(key=lambda i: (layer_features(layers[i], 1, 4)[::-1], i))  # by bytes, then FLOPs
        else:
            rnd.shuffle(members)
        groups += [members[j: j + GROUP] for j in range(0, len(members), GROUP)]
    for group in groups:
        rnd.shuffle(group)
    return groups


def cache_sizes() -> dict[str, int | None]:
    """This CPU's per-core L2 and shared L3 in bytes (Linux sysfs), None where the system does not say."""
    sizes: dict[str, int | None] = {"l2_bytes": None, "l3_bytes": None}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        units = {"K": 1024, "M": 1024**2, "G": 1024**3}
        number, unit = (text[:-1], units[text[-1]]) if text[-1:] in units else (text, 1)
        if level in (2, 3) and number.isdigit():
            sizes[f"l{level}_bytes"] = int(number) * unit
    return sizes


def _forward_overhead(torch: Any, build_model: Callable[..., Any], dtype: Any,
                      batch: int) -> tuple[float, float]:
    """Milliseconds of the model's own work, beyond its layers' calls: (per forward call, per layer). Timed on a
    model of one identity layer (dropout, p=0) and one of 65, beside the identity module called alone."""

    def loop(fn: Callable[[], Any], calls: int) -> float:
        runs = []
        for _ in range(9):
            start = time.perf_counter_ns()
            for _ in range(calls):
                fn()
            runs.append((time.perf_counter_ns() - start) / 1e6 / calls)
        return fastest(runs)

    models = []
    with tempfile.TemporaryDirectory(prefix="shufflecalc-calibrate-") as tmp:
        for n in (1, 65):
            path = Path(tmp) / f"identity{n}.yaml"
            path.write_text(Case((8, 4, 4), tuple(_flow(op="dropout", name=f"x{i}", p=0.0) for i in range(n))).yaml())
            models.append(build_model(str(path)).to(dtype=dtype).eval())
    x = torch.randn(batch, 8, 4, 4, dtype=dtype)
    small, large = models
    one = loop(lambda: small(x), 200)
    many = loop(lambda: large(x), 10)
    layer = small.x0
    alone = loop(lambda: layer(x), 200)
    per_layer = max(0.0, (many - one) / 64 - alone)
    return max(0.0, one - alone - per_layer), per_layer


def profile_document(env: dict[str, Any], batch: int, samples: Sequence[Sample],
                     overhead_ms: tuple[float, float], passes: int,
                     caches: dict[str, int | None] | None = None) -> dict[str, Any]:
    """The profile JSON: environment, the fitted classes (cold and warm), the model's own work, the caches, the
    samples."""
    by_class: dict[str, list[Sample]] = {}
    for s in samples:
        by_class.setdefault(s.cls, []).append(s)
    # fitted on the times as the profile writes them, so that its samples give its numbers again
    fits: dict[str, ClassFit] = {cls: fit_class([(s.flops, s.bytes, sig(s.ms)) for s in group])
                                 for cls, group in sorted(by_class.items())}
    warm: dict[str, ClassFit] = {cls: fit_class([(s.flops, s.bytes, sig(s.warm_ms)) for s in group])
                                 for cls, group in sorted(by_class.items())}
    compute, bandwidth = ceilings(fits.values())
    environment_ = {**env, "batch": batch,
                    "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    return {
        "format": PROFILE_FORMAT,
        "version": PROFILE_VERSION,
        "environment": environment_,
        "model": "per layer: overhead + flops / compute + bytes / bandwidth, fitted per class by non-negative least "
                 "squares on relative errors, once for the cold context (classes) and once for the warm one "
                 "(classes_warm), blended by the network's memory traffic against the caches; per forward pass: "
                 "forward_overhead_us, and layer_overhead_us per layer (the forward loop's own work)",
        "method": f"{len(samples)} single-layer microbenchmarks timed in {passes} passes per context, in groups of up "
                  f"to {GROUP} of one class (cold: drawn at random; warm: of neighbouring sizes, each group run "
                  f"{WARM_ROUNDS} times in a row and timed the last time), each call alone on a fresh input, its "
                  "output freed, as a forward pass runs them; per case the 10th percentile of its passes",
        "passes": passes,
        "forward_overhead_us": sig(overhead_ms[0] * 1e3),
        "layer_overhead_us": sig(overhead_ms[1] * 1e3),
        "ceilings": {"compute_gflops": sig(compute / 1e9),
                     "bandwidth_gbs": sig(bandwidth / 1e9)},
        "caches": caches if caches is not None else cache_sizes(),
        "classes": {cls: fit.to_dict() for cls, fit in fits.items()},
        "classes_warm": {cls: fit.to_dict() for cls, fit in warm.items()},
        "samples": [s.to_dict() for s in samples],
    }


def pooled(docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One profile from several calibrations of the same grid on one machine (taken at different times): each case's
    time is the median of its times, every class fitted again on those, and the model's own work the median too. A
    machine whose speed moves from minute to minute is then described by more than one moment of it."""
    first = docs[0]
    if any(doc.get("version") != PROFILE_VERSION or "passes" not in doc for doc in docs):  # same statistic, passes
        raise ShufflecalcError("pooled calibrations must be profiles of this version of `shufflecalc calibrate`")
    cases = [(s["class"], s["shape"], s["flops"], s["bytes"]) for s in first["samples"]]
    keys = ("device", "threads", "dtype", "batch", "torch")
    for doc in docs[1:]:
        if [(s["class"], s["shape"], s["flops"], s["bytes"]) for s in doc["samples"]] != cases:
            raise ShufflecalcError("pooled calibrations must time the same cases")
        if any(doc["environment"].get(k) != first["environment"].get(k) for k in keys):
            raise ShufflecalcError(f"pooled calibrations must share {', '.join(keys)}")
    samples = [Sample(s["class"], s["kind"], s["shape"], s["flops"], s["bytes"],
                      statistics.median(g["ms"] for g in group), statistics.median(g["warm_ms"] for g in group))
               for group in zip(*(doc["samples"] for doc in docs), strict=True) for s in group[:1]]
    overhead = (statistics.median(d["forward_overhead_us"] for d in docs) / 1e3,
                statistics.median(d["layer_overhead_us"] for d in docs) / 1e3)
    env = {k: v for k, v in first["environment"].items() if k not in ("batch", "created")}
    doc = profile_document(env, first["environment"]["batch"], samples, overhead, first["passes"], first["caches"])
    doc["method"] += f"; pooled from {len(docs)} calibrations (the median of each case)"
    return doc


__all__ = ["Case", "Sample", "calibrate", "design", "fastest", "layers_of", "pooled", "profile_document"]
