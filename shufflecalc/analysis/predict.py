"""Latency predicted from the spec: a device profile (made by `shufflecalc calibrate`) applied layer by layer.

Pure Python, never torch: a CI job holds a latency budget without the device.

**The model.** Every layer belongs to a *predictor class* (`predictor_class`: the convolution's operator class --
standard, grouped, depthwise, ungrouped or grouped 1x1 -- for conv2d, the layer kind otherwise). Per class the
profile holds three fitted numbers, and a layer's predicted time is the sum of three terms::

    time = overhead + flops / compute + bytes / bandwidth

- ``overhead``: the fixed cost of one layer call (Python, dispatch, allocation of the output);
- ``flops`` = 2 x macs x batch, the layer's FLOPs (`analysis.cost` conventions); ``compute`` the class's attained
  FLOP/s;
- ``bytes`` = (input + output elements) x batch + parameters, times the dtype's size: `memory_access` in bytes;
  ``bandwidth`` the class's attained bytes/s.

Each class has two sets of numbers, measured in two contexts (`latency.calibrate`): *cold*, where the layers run
between other layers that push its data out of the caches (a network whose forward pass moves more than the caches
hold), and *warm*, where its data stays in them (a small network). A network's layers take the blend
``warm + w x (cold - warm)`` (each term), where ``w`` (`cold_weight`) places the network's memory traffic per
forward pass between the CPU's L2 (w = 0) and L3 (w = 1) sizes on a log scale; w = 1 where the profile knows no
cache sizes.

A layer is *bound* by its largest term (overhead, compute or memory). The network's time is the sum over its layers
plus the model's own work: the profile's ``forward_overhead`` (once per call) and ``layer_overhead`` (the forward
loop's bookkeeping, per layer). The microbenchmarks' times are each case's fastest (a low percentile of its passes),
so the prediction is of the fastest forward pass `bench` times (``min_ms``), the number that repeats on a shared
machine; the median lies above it by the calls' own spread. The numbers are fitted (`fit_class`) by
non-negative least squares on *relative* errors over the class's microbenchmarks, so a 10 us layer counts as much as
a 10 ms one. The profile also states the roofline's ceilings: the highest attained compute and bandwidth of any
class.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, TypeGuard

from shufflecalc.errors import ShufflecalcError
from shufflecalc.spec.graph import Layer
from shufflecalc.spec.layers import conv_class
from shufflecalc.spec.layers.spatial import conv_padding
from shufflecalc.spec.yamlsrc import read_text_file
from shufflecalc.units import sig

PROFILE_FORMAT = "shufflecalc latency profile"
PROFILE_VERSION = 2  # 1: each case's median over its passes
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
TERMS = ("overhead", "compute", "memory")  # a layer's bound is one of these
MAX_PROFILE_BYTES = 8 * 1024 * 1024

PREDICT_CONVENTIONS: dict[str, str] = {
    "predicted_ms": "milliseconds per forward pass of the batch, predicted: the sum over layers of overhead + "
    "flops / compute + bytes / bandwidth (the layer's class's fitted numbers), plus the model's own work (the "
    "profile's forward_overhead_us once, layer_overhead_us per layer); it estimates the fastest call bench times "
    "(min_ms), the machine's speed while nothing else slows it",
    "flops": "2 x macs x batch (macs: multiply-accumulates of convolutions, linear layers and attention matmuls)",
    "bytes": "memory_access in bytes: (input + output elements) x batch + parameters, times the dtype's size",
    "cold_weight": "w in warm + w x (cold - warm): the network's memory traffic per forward pass between the CPU's L2 "
    "(0) and L3 (1) sizes, on a log scale",
    "bound": "the largest of the layer's three terms: overhead, compute (flops / compute) or memory "
    "(bytes / bandwidth)",
    "intensity": "arithmetic intensity, flops / bytes (FLOP per byte)",
    "attained_gflops": "flops / predicted time / 1e9",
}


def predictor_class(layer: Layer) -> str:
    """The class whose fitted numbers predict `layer`: a convolution's operator class (with " (padded)" where PyTorch's
    `same` padding needs an extra pad: an even kernel), else the layer kind."""
    if layer.op == "conv2d":
        a = layer.attrs
        cls = conv_class(layer.in_shapes[0][0], layer.out[0], a["kernel"], a["groups"])
        return cls + " (padded)" if conv_padding(a)[1] != (0, 0) else cls
    return layer.op


def layer_features(layer: Layer, batch: int, dtype_bytes: int) -> tuple[int, int]:
    """(flops, bytes) of one layer at this batch size (see the module's conventions)."""
    moved = layer.memory_access - layer.params if layer.memory_access else 0
    return 2 * layer.macs * batch, (moved * batch + (layer.params if layer.memory_access else 0)) * dtype_bytes


# --- fitting ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassFit:
    """One class's fitted numbers: milliseconds of overhead, FLOP/s and bytes/s (None: the term is zero)."""

    overhead_ms: float
    compute_flops: float | None
    bandwidth_bytes: float | None
    samples: int = 0
    mape: float = 0.0  # mean absolute percentage error of the fit on its own microbenchmarks

    def terms(self, flops: float, nbytes: float) -> tuple[float, float, float]:
        """(overhead, compute, memory) milliseconds of a layer."""
        compute = flops / self.compute_flops * 1e3 if self.compute_flops else 0.0
        memory = nbytes / self.bandwidth_bytes * 1e3 if self.bandwidth_bytes else 0.0
        return self.overhead_ms, compute, memory

    def predict(self, flops: float, nbytes: float) -> float:
        return sum(self.terms(flops, nbytes))

    def to_dict(self) -> dict[str, Any]:
        return {
            "overhead_us": sig(self.overhead_ms * 1e3),
            "compute_gflops": sig(self.compute_flops / 1e9) if self.compute_flops else None,
            "bandwidth_gbs": sig(self.bandwidth_bytes / 1e9) if self.bandwidth_bytes else None,
            "samples": self.samples,
            "mape_percent": round(100 * self.mape, 2),
        }


def _solve(a: list[list[float]], b: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting for a small square system; None when singular."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-300:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def nnls_relative(rows: Sequence[Sequence[float]], times: Sequence[float]) -> list[float]:
    """Non-negative coefficients c minimizing sum(((row . c) - t) / t)^2: every subset of the columns is solved by
    least squares, the best one with no negative coefficient wins (exact for the three columns used here)."""
    k = len(rows[0])
    scaled = [[v / t for v in row] for row, t in zip(rows, times, strict=True)]  # each row divided by its time
    # column scales, so that the normal equations are well conditioned
    norms = [math.sqrt(sum(r[j] ** 2 for r in scaled)) or 1.0 for j in range(k)]
    x = [[r[j] / norms[j] for j in range(k)] for r in scaled]
    best: tuple[float, list[float]] | None = None
    for size in range(1, k + 1):
        for cols in combinations(range(k), size):
            ata = [[sum(r[i] * r[j] for r in x) for j in cols] for i in cols]
            atb = [sum(r[i] for r in x) for i in cols]  # target: every scaled time is 1
            sol = _solve(ata, atb)
            if sol is None or any(v < 0 for v in sol):
                continue
            coef = [0.0] * k
            for c, v in zip(cols, sol, strict=True):
                coef[c] = v
            residual = sum((sum(r[j] * coef[j] for j in range(k)) - 1.0) ** 2 for r in x)
            if best is None or residual < best[0]:
                best = (residual, coef)
    if best is None:
        raise ValueError("no non-negative fit")
    return [c / n for c, n in zip(best[1], norms, strict=True)]


def fit_class(samples: Sequence[tuple[float, float, float]]) -> ClassFit:
    """The numbers of one class from its microbenchmarks: (flops, bytes, milliseconds) each."""
    rows = [(1.0, f, b) for f, b, _ in samples]
    times = [t for _, _, t in samples]
    o, per_flop, per_byte = nnls_relative(rows, times)
    fit = ClassFit(o, 1e3 / per_flop if per_flop > 0 else None, 1e3 / per_byte if per_byte > 0 else None)
    errors = [abs(fit.predict(f, b) - t) / t for f, b, t in samples]
    return ClassFit(fit.overhead_ms, fit.compute_flops, fit.bandwidth_bytes, len(samples),
                    math.fsum(errors) / len(errors))


# --- the profile ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """A device profile: where it was measured, and the fitted numbers."""

    source: str
    environment: Mapping[str, Any]
    classes: Mapping[str, ClassFit]  # the cold context
    classes_warm: Mapping[str, ClassFit]
    caches: Mapping[str, int | None]
    forward_overhead_ms: float
    layer_overhead_ms: float
    doc: Mapping[str, Any]

    @property
    def batch(self) -> int:
        return int(self.environment["batch"])

    @property
    def dtype(self) -> str:
        return str(self.environment["dtype"])

    @property
    def threads(self) -> int:
        return int(self.environment["threads"])

    @property
    def device(self) -> str:
        return str(self.environment["device"])

    def ceilings(self) -> tuple[float, float]:
        """(compute FLOP/s, bandwidth bytes/s): the roofline's ceilings (`ceilings`)."""
        return ceilings(self.classes.values())

    def describe(self) -> str:
        e = self.environment
        return (f"{e['device_name']} ({e['device']}), {e['threads']} thread(s), {e['dtype']}, batch {e['batch']}, "
                f"torch {e['torch']}")

    def check(self, device: str | None = None, threads: int | None = None, dtype: str | None = None,
              batch: int | None = None) -> None:
        """A ShufflecalcError when the profile was made for another device, thread count, dtype or batch than
        asked (None: not asked)."""
        asked = {"device": device, "threads": threads, "dtype": dtype, "batch": batch}
        for key, value in asked.items():
            if value is not None and value != self.environment[key]:
                raise ShufflecalcError(
                    f"{self.source}: the profile was calibrated with {key} {self.environment[key]}, not {value}: "
                    f"run `shufflecalc calibrate --{key} {value}` for a profile of that setting")


def ceilings(fits: Iterable[ClassFit]) -> tuple[float, float]:
    """(compute FLOP/s, bandwidth bytes/s): the highest attained by any class, in the cold context (the roofline's
    ceilings)."""
    fits = list(fits)
    return max((c.compute_flops or 0.0) for c in fits), max((c.bandwidth_bytes or 0.0) for c in fits)


ENV_KEYS: dict[str, type | tuple[type, ...]] = {
    "device": str, "device_name": str, "threads": int, "dtype": str, "batch": int, "torch": str,
}


def profile_from_dict(doc: Any, source: str) -> Profile:
    """A profile from its JSON document; a one-line ShufflecalcError naming the key for a malformed one."""

    def fail(where: str, what: str) -> ShufflecalcError:
        return ShufflecalcError(f"{source}: {where}: {what} (not a profile written by `shufflecalc calibrate`?)")

    if not isinstance(doc, dict) or doc.get("format") != PROFILE_FORMAT:
        raise fail("format", f"expected {PROFILE_FORMAT!r}")
    if doc.get("version") == 1:  # each case's median over its passes, not its fastest times: predicts another thing
        raise ShufflecalcError(f"{source}: version 1, made by an earlier `shufflecalc calibrate` from median times; "
                               "calibrate again (profiles now hold each case's fastest times, as bench's min_ms)")
    if doc.get("version") != PROFILE_VERSION:
        raise fail("version", f"expected {PROFILE_VERSION}, got {doc.get('version')!r}")
    env = doc.get("environment")
    if not isinstance(env, dict):
        raise fail("environment", "missing or not a mapping")
    for key, kind in ENV_KEYS.items():
        if not isinstance(env.get(key), kind) or isinstance(env.get(key), bool):
            raise fail(f"environment.{key}", "missing or of the wrong type")
    if env["dtype"] not in DTYPE_BYTES:
        raise fail("environment.dtype", f"expected one of {', '.join(DTYPE_BYTES)}")
    if env["batch"] < 1 or env["threads"] < 1:
        raise fail("environment", "batch and threads must be at least 1")
    fits = [_classes(doc, key, fail) for key in ("classes", "classes_warm")]
    if set(fits[0]) != set(fits[1]):
        raise fail("classes_warm", "not the same classes as classes")
    caches = doc.get("caches")
    if not isinstance(caches, dict) or any(caches.get(k) is not None and not (_number(caches[k]) and caches[k] > 0)
                                           for k in ("l2_bytes", "l3_bytes")):
        raise fail("caches", "expected l2_bytes and l3_bytes, positive numbers or null")
    overheads = []
    for key in ("forward_overhead_us", "layer_overhead_us"):
        v = doc.get(key)
        if not (_number(v) and v >= 0):
            raise fail(key, f"expected a non-negative number, got {v!r}")
        overheads.append(v / 1e3)
    return Profile(source, env, fits[0], fits[1], {k: caches.get(k) for k in ("l2_bytes", "l3_bytes")},
                   overheads[0], overheads[1], doc)


def _classes(doc: dict[str, Any], key: str, fail: Any) -> dict[str, ClassFit]:
    raw = doc.get(key)
    if not isinstance(raw, dict) or not raw:
        raise fail(key, "missing or empty")
    classes = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise fail(f"{key}.{name}", "not a mapping")
        o = entry.get("overhead_us")
        if not (_number(o) and o >= 0):
            raise fail(f"{key}.{name}.overhead_us", f"expected a non-negative number, got {o!r}")
        rates: list[float | None] = []
        for rate in ("compute_gflops", "bandwidth_gbs"):
            v = entry.get(rate)
            if v is not None and not (_number(v) and v > 0):
                raise fail(f"{key}.{name}.{rate}", f"expected a positive number or null, got {v!r}")
            rates.append(None if v is None else float(v) * 1e9)
        mape = entry.get("mape_percent", 0.0)
        samples = entry.get("samples", 0)
        classes[name] = ClassFit(float(o) / 1e3, rates[0], rates[1], samples if isinstance(samples, int) else 0,
                                 float(mape) / 100 if _number(mape) else 0.0)
    return classes


def _number(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load_profile(path: str | Path) -> Profile:
    """A profile JSON file (`shufflecalc calibrate -o`); one-line errors for a missing, unreadable or malformed
    one."""
    p = Path(path)
    try:  # a regular file only, never a FIFO: the project's reader of user files
        text = read_text_file(p, str(p), "profile file", MAX_PROFILE_BYTES)
    except ShufflecalcError as exc:
        hint = f" (make one with `shufflecalc calibrate -o {p.name}`)" if not p.exists() else ""
        raise ShufflecalcError(str(exc) + hint) from None
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ShufflecalcError(f"{p}: not a JSON profile ({exc})") from None
    return profile_from_dict(doc, str(p))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a profile holds")


# --- prediction -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerPrediction:
    name: str
    cls: str
    flops: int
    bytes: int
    overhead_ms: float
    compute_ms: float
    memory_ms: float

    @property
    def predicted_ms(self) -> float:
        return self.overhead_ms + self.compute_ms + self.memory_ms

    @property
    def bound(self) -> str:
        terms = (self.overhead_ms, self.compute_ms, self.memory_ms)
        return TERMS[terms.index(max(terms))]

    def to_dict(self) -> dict[str, Any]:
        t = self.predicted_ms
        return {
            "name": self.name, "class": self.cls, "predicted_ms": sig(t), "bound": self.bound,
            "overhead_ms": sig(self.overhead_ms), "compute_ms": sig(self.compute_ms),
            "memory_ms": sig(self.memory_ms), "flops": self.flops, "bytes": self.bytes,
            "intensity": sig(self.flops / self.bytes) if self.bytes else None,
            "attained_gflops": sig(self.flops / t / 1e6) if t > 0 else None,
        }


@dataclass(frozen=True)
class Prediction:
    layers: tuple[LayerPrediction, ...]
    forward_overhead_ms: float
    layer_overhead_ms: float
    cold_weight: float  # w of the blend warm + w x (cold - warm)

    @property
    def model_overhead_ms(self) -> float:
        """The model's own work beyond its layers' calls: once per forward, and per layer."""
        return self.forward_overhead_ms + len(self.layers) * self.layer_overhead_ms

    @property
    def predicted_ms(self) -> float:
        return self.model_overhead_ms + math.fsum(p.predicted_ms for p in self.layers)

    def by_class(self) -> dict[str, dict[str, Any]]:
        """Per predictor class: layers, predicted ms, share of the total, flops, and the bound of most of its time."""
        out: dict[str, dict[str, Any]] = {}
        total = self.predicted_ms
        for p in self.layers:
            row = out.setdefault(p.cls, {"layers": 0, "predicted_ms": 0.0, "flops": 0, "bytes": 0,
                                         "overhead_ms": 0.0, "compute_ms": 0.0, "memory_ms": 0.0})
            row["layers"] += 1
            row["flops"] += p.flops
            row["bytes"] += p.bytes
            for key in ("predicted_ms", "overhead_ms", "compute_ms", "memory_ms"):
                row[key] += getattr(p, key)
        for row in out.values():
            terms = (row.pop("overhead_ms"), row.pop("compute_ms"), row.pop("memory_ms"))
            row["bound"] = TERMS[terms.index(max(terms))]
            row["share"] = round(row["predicted_ms"] / total, 6) if total else 0.0
            row["predicted_ms"] = sig(row["predicted_ms"])
        return dict(sorted(out.items(), key=lambda kv: (-kv[1]["predicted_ms"], kv[0])))


def missing_classes(layers: Iterable[Layer], profile: Profile) -> dict[str, list[str]]:
    """The predictor classes of these layers that the profile has no numbers for, with their layers' names."""
    missing: dict[str, list[str]] = {}
    for layer in layers:
        cls = predictor_class(layer)
        if cls not in profile.classes:
            missing.setdefault(cls, []).append(layer.name)
    return missing


def predict_layers(layers: Sequence[Layer], profile: Profile, model: str = "the model") -> Prediction:
    """Each layer's predicted time at the profile's batch and dtype. A layer of a class the profile lacks is an
    error naming every such class and its first layer (never a silent zero)."""
    missing = missing_classes(layers, profile)
    if missing:
        listed = "; ".join(f"{cls} ({len(names)} layer{'s' if len(names) > 1 else ''}, first {names[0]})"
                           for cls, names in missing.items())
        raise ShufflecalcError(f"{model}: the profile {profile.source} has no numbers for: {listed} (calibrate "
                               f"again with this version of shufflecalc)")
    size = DTYPE_BYTES[profile.dtype]
    features = [layer_features(layer, profile.batch, size) for layer in layers]
    w = cold_weight(sum(b for _, b in features), profile.caches)
    out = []
    for layer, (flops, nbytes) in zip(layers, features, strict=True):
        cls = predictor_class(layer)
        cold = profile.classes[cls].terms(flops, nbytes)
        warm = profile.classes_warm[cls].terms(flops, nbytes)
        terms = (wt + w * (ct - wt) for ct, wt in zip(cold, warm, strict=True))
        out.append(LayerPrediction(layer.name, cls, flops, nbytes, *terms))
    return Prediction(tuple(out), profile.forward_overhead_ms, profile.layer_overhead_ms, w)


def cold_weight(traffic_bytes: float, caches: Mapping[str, int | None]) -> float:
    """Where a network's memory traffic per forward pass lies between the L2 (0: warm) and L3 (1: cold) sizes, on a
    log scale; 1 where either size is unknown."""
    l2, l3 = caches.get("l2_bytes"), caches.get("l3_bytes")
    if not l2 or not l3 or l3 <= l2:
        return 1.0
    if traffic_bytes <= l2:
        return 0.0
    return min(1.0, math.log(traffic_bytes / l2) / math.log(l3 / l2))


__all__ = [
    "PREDICT_CONVENTIONS",
    "PROFILE_FORMAT",
    "PROFILE_VERSION",
    "ClassFit",
    "LayerPrediction",
    "Prediction",
    "Profile",
    "ceilings",
    "cold_weight",
    "fit_class",
    "layer_features",
    "load_profile",
    "missing_classes",
    "nnls_relative",
    "predict_layers",
    "predictor_class",
    "profile_from_dict",
]
