"""Budgets: limits on what a model costs, read from a YAML file and checked with the analytic engine.

A budget file::

    budgets:
      - model: shufflenet            # a built-in spec name, or a spec path relative to this file's directory
        config: {g: 3, width: 1.0}   # parameter values; the spec's defaults for the rest
        max_macs: 150M               # max_<metric> / min_<metric>, for every metric in cost.ALL_METRICS
        max_ptflops_pytorch: 160M    # and every other counter's convention (analysis.peers.NAMES)
        max_params: 2.0M
        max_latency_ms: {device: cpu, batch: 1, value: 40}   # timed only when asked (check --latency)
        max_predicted_latency_ms: {profile: cpu.json, value: 40}  # predicted from a profile, without torch
      - model: nets.py:build         # a TARGET (a PyTorch model; a file's path relative to this file's directory)
        args: {width: 0.5}           # its callable's keyword arguments
        input: [3, 160, 160]         # the input it is traced on (default [3, 224, 224])
        max_macs: 100M

Conventions:
- counts are exact integers at batch size 1, named as in `cost.CONVENTIONS` or, for the other counters'
  conventions (``max_ptflops_pytorch``, ``min_thop``, ...), as in `analysis.peers` (their totals, reproduced without
  torch, counted only for the entries that limit them; a baseline compares the `cost.ALL_METRICS` alone); limits are
  written as integers or with K (or k), M, G (powers of 1000; `units.parse_count`, the spellings a table file's
  units use too): ``2.0M`` is exactly 2,000,000, and a limit that is not a whole number is an error;
- a value equal to its limit passes; headroom is ``(limit - value) / limit`` for ``max_`` limits and
  ``(value - limit) / limit`` for ``min_`` limits, in percent (negative: exceeded);
- against a baseline, a metric fails when ``value > baseline * (1 + max_increase)``, computed with exact fractions;
  a metric that follows another (`DERIVED`: flops, fvcore_flops and macs_without_classifier follow macs,
  params_without_classifier follows params) is compared in its root's group, so that one change is one regression
  (`BaselineGroup`), reported under the metric the budget entry names (else the root);
- a predicted latency limit (``max_predicted_latency_ms``) is `analysis.predict` with the profile file named (a
  path relative to the budget file, made by `shufflecalc calibrate -o`), at the profile's batch, device and dtype:
  checked on every run, without torch;
- a latency limit is timed by a `LatencyMeter`, whose `LatencyMeasurement` carries the harness's warnings (noise, a
  busy machine, the warm-up cap); a result timed with IQR/median at or above the meter's noise limit is *noisy*,
  and says so; ``latency_batch`` (check --batch) sets the batch of the latency limits that state none;
- every count (a limit, a baseline's value) is a whole number from 0 to `units.MAX_COUNT` (10**18); a latency limit is
  a positive finite number of milliseconds; a baseline is a JSON file of at most `yamlsrc.MAX_FILE_BYTES` (1 MiB)
  without NaN or Infinity, read like every YAML file (`yamlsrc.read_text_file`: a regular file only, never a FIFO).

Nothing here imports torch: latency limits are timed by the `LatencyMeter` given to `check`
(`shufflecalc.latency.budget.BenchLatency`).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from shufflecalc.analysis.cost import ALL_METRICS, CONVENTION_NAMES, Analysis, analyze
from shufflecalc.analysis.predict import Profile, load_profile, predict_layers
from shufflecalc.errors import ShufflecalcError, shown
from shufflecalc.spec.load import (
    Spec,
    builtin_names,
    check_value,
    format_value,
    is_target,
    load_spec,
    resolve_config,
    split_ref,
    target_label,
)
from shufflecalc.spec.yamlsrc import Document, check_file_name, load_file, read_text_file
from shufflecalc.units import MAX_COUNT, parse_count

LATENCY_KEY = "max_latency_ms"
PREDICTED_KEY = "max_predicted_latency_ms"
# the optional keys of a latency limit, with their defaults ("value" is required)
LATENCY_KEYS = {"device": "cpu", "batch": 1}
DEVICES = ("cpu", "cuda")
ENTRY_KEYS = ("model", "config", "args", "input")
MAX_INPUT = 65_536  # a TARGET's input C, H and W (`input: [C, H, W]`), as the command line's --input
_PERCENT_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*$")

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
# What max_<metric> / min_<metric> can name: the analytic metrics, then the other counters' conventions.
LIMIT_METRICS: tuple[str, ...] = ALL_METRICS + CONVENTION_NAMES
_METRICS_TEXT = f"metrics: {', '.join(ALL_METRICS)}; conventions: {', '.join(CONVENTION_NAMES)}"


# --- the budget file --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """One limit of an entry: ``max_macs: 150M`` is Limit("max_macs", "macs", "max", 150_000_000, line)."""

    key: str
    metric: str  # a LIMIT_METRICS name, or "latency_ms"
    bound: str  # "max" or "min"
    value: int | float  # a count, or milliseconds for latency
    line: int | None
    device: str = ""  # latency only
    batch: int = 0  # latency only
    batch_stated: bool = False  # latency only: the file gives `batch` (else check --batch may set it)
    profile: Profile | None = None  # predicted latency only

    @property
    def is_latency(self) -> bool:
        return self.metric == "latency_ms"

    @property
    def is_predicted(self) -> bool:
        return self.metric == "predicted_latency_ms"


@dataclass(frozen=True)
class Entry:
    """One model of a budget file with its configuration and limits, in the order written."""

    index: int
    model: str  # as written in the file
    spec: Spec
    overrides: Mapping[str, Any]  # the values under `config`, validated
    config: Mapping[str, Any]  # every parameter's value (defaults filled in)
    limits: tuple[Limit, ...]
    line: int | None
    target: Mapping[str, Any] = field(default_factory=dict)  # a TARGET's `args` and `input` (spec.load.load_spec)

    @property
    def label(self) -> str:
        """The model as written and its configuration as given: ``shufflenet g=3 width=1.0``."""
        model = target_label(split_ref(self.model)[0], self.target)  # its own parameters are among the overrides
        return " ".join([model] + [f"{k}={format_value(v)}" for k, v in self.overrides.items()])


@dataclass(frozen=True)
class Budgets:
    file: str
    entries: tuple[Entry, ...]


def load_budgets(path: str | Path) -> Budgets:
    """Load and validate a budget file; any mistake raises ShufflecalcError naming the file, line and key."""
    doc = load_file(path)
    data = doc.data
    if not isinstance(data, dict) or "budgets" not in data:
        raise doc.error((), "a budget file is a mapping with a 'budgets' list")
    for key in data:
        if key != "budgets":
            raise doc.error((key,), f"unknown key '{key}' (a budget file has only 'budgets')")
    raw = data["budgets"]
    if not isinstance(raw, list) or not raw:
        raise doc.error(("budgets",), "'budgets' must be a non-empty list of entries with 'model' and limits")
    base = Path(path).parent
    profiles: dict[Path, Profile] = {}  # each profile file read once
    entries = tuple(_entry(doc, i, item, base, profiles) for i, item in enumerate(raw))
    seen: dict[tuple, Entry] = {}
    for e in entries:
        key = model_key(e.spec.name, e.config)
        if key in seen:
            first = seen[key]
            raise doc.error(("budgets", e.index), f"'{e.label}' has the same model and configuration as "
                            f"budgets[{first.index}] (line {first.line}): merge their limits")
        seen[key] = e
    return Budgets(str(path), entries)


def _entry(doc: Document, i: int, item: Any, base: Path, profiles: dict[Path, Profile]) -> Entry:
    path: tuple = ("budgets", i)
    if not isinstance(item, dict):
        raise doc.error(path, "an entry is a mapping with 'model', optional 'config' and limits such as max_macs: 150M")
    if "model" not in item:
        raise doc.error(path, "missing 'model' (a built-in spec name or a spec path)")
    model, own = _split_model(doc, (*path, "model"), item["model"])
    target = _target(doc, path, item, model)
    spec = _spec(doc, (*path, "model"), model, base, target)
    config = item.get("config", {})
    for name in own:
        if isinstance(config, dict) and name in config:
            raise doc.error((*path, "config", name), f"'{name}' is set twice: in 'model' ({item['model']}) and here")
    overrides = _config(doc, (*path, "model"), own, spec) if own else {}
    overrides.update(_config(doc, (*path, "config"), config, spec))
    limits = [_predicted(doc, (*path, key), value, base, profiles) if key == PREDICTED_KEY
              else _limit(doc, (*path, key), key, value) for key, value in item.items() if key not in ENTRY_KEYS]
    if not limits:
        raise doc.error(path, f"no limits: add max_<metric> or min_<metric> ({_METRICS_TEXT})")
    _check_ranges(doc, path, limits)
    config = resolve_config(spec, overrides)
    return Entry(i, str(item["model"]), spec, overrides, config, tuple(limits), doc.line((*path, "model")), target)


def _split_model(doc: Document, path: tuple, model: Any) -> tuple[Any, dict[str, str]]:
    """`model: shufflenet:g=3,width=0.5` (as on the command line): the spec and the parameter values it sets."""
    if not isinstance(model, str):
        return model, {}
    try:
        return split_ref(model)
    except ShufflecalcError as exc:
        raise doc.error(path, exc.message) from None


def _target(doc: Document, path: tuple, item: Mapping[str, Any], model: Any) -> dict[str, Any]:
    """A TARGET's `args:` (keyword arguments of its callable) and `input:` ([C, H, W] it is traced on)."""
    given = [k for k in ("args", "input") if k in item]
    if not given:
        return {}
    if not (isinstance(model, str) and is_target(model)):
        raise doc.error((*path, given[0]), f"'{given[0]}' is for a TARGET model (a PyTorch model such as "
                        "mypkg.nets:build, whose callable's keyword arguments and traced input it sets), not for a "
                        "spec")
    target: dict[str, Any] = {}
    args = item.get("args")
    if "args" in item:
        if not isinstance(args, dict) or not all(isinstance(k, str) and k.isidentifier() for k in args):
            raise doc.error((*path, "args"), "'args' must be a mapping of keyword arguments, such as {width: 0.5}")
        target["args"] = dict(args)
    shape = item.get("input")
    if "input" in item:
        if not (isinstance(shape, list) and len(shape) == 3 and all(
                isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_INPUT for v in shape)):
            raise doc.error((*path, "input"), f"'input' must be [C, H, W]: three whole numbers from 1 to {MAX_INPUT:,}")
        target["input"] = tuple(shape)
    return target


def _spec(doc: Document, path: tuple, model: Any, base: Path, target: Mapping[str, Any] | None = None) -> Spec:
    if not isinstance(model, str) or not model.strip():
        raise doc.error(path, "'model' must be a built-in spec name or a spec path")
    try:
        check_file_name(model, "spec")
    except ShufflecalcError as exc:
        raise doc.error(path, exc.message) from None
    if is_target(model):  # a PyTorch model; a file.py target's path is relative to the budget file
        where, _, name = model.rpartition(":")
        local = not model.startswith("torchvision:") and (where.endswith(".py") or "/" in where)
        try:
            return load_spec(f"{base / where}:{name}" if local else model, target)
        except ShufflecalcError as exc:
            raise doc.error(path, exc.message) from None
    if model.endswith((".yaml", ".yml", ".onnx")) or "/" in model or os.sep in model:
        file = base / model
        if not file.exists():  # anything else (a directory, a FIFO) is refused by the reader, with its reason
            raise doc.error(path, f"unknown spec '{model}': no such file {file} "
                                  "(paths are relative to the budget file)")
        return load_spec(str(file))
    if model not in builtin_names():
        raise doc.error(path, f"unknown spec '{model}': not a built-in spec ({', '.join(builtin_names())}); "
                        "a spec file is given by a path ending in .yaml")
    return load_spec(model)


def _config(doc: Document, path: tuple, raw: Any, spec: Spec) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise doc.error(path, "'config' must be a mapping of parameter values, such as {g: 3, width: 1.0}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in spec.params:
            known = ", ".join(spec.params) or "none"
            raise doc.error((*path, name), f"unknown parameter '{name}' for {spec.name} (parameters: {known})")
        values[name] = check_value(spec.params[name], value, lambda m, n=name: doc.error((*path, n), m))
    return values


def _limit(doc: Document, path: tuple, key: Any, value: Any) -> Limit:
    line = doc.line(path)
    if key == LATENCY_KEY:
        return _latency(doc, path, value)
    bound, _, metric = str(key).partition("_")
    if bound not in ("max", "min") or not metric:
        raise doc.error(path, f"unknown key '{key}' (expected model, config, args, input, max_<metric>, "
                        f"min_<metric>, {LATENCY_KEY} or {PREDICTED_KEY})")
    if metric == "predicted_latency_ms":
        raise doc.error(path, f"unknown metric in '{key}': predicted latency takes only a maximum, {PREDICTED_KEY}")
    if metric == "latency_ms":
        raise doc.error(path, f"unknown metric in '{key}': latency takes only a maximum, {LATENCY_KEY}")
    if metric not in LIMIT_METRICS:
        raise doc.error(path, f"unknown metric '{metric}' in '{key}' ({_METRICS_TEXT})")
    return Limit(str(key), metric, bound, parse_count(value, lambda m: doc.error(path, m)), line)


def _latency(doc: Document, path: tuple, raw: Any) -> Limit:
    """``max_latency_ms: 40`` or ``{device: cpu, batch: 1, value: 40}``: the median time of one forward pass, in ms."""
    spec = raw if isinstance(raw, dict) else {"value": raw}
    for key in spec:
        if key not in LATENCY_KEYS and key != "value":
            raise doc.error((*path, key), f"unknown key '{key}' (a latency limit has device, batch and value)")
    if "value" not in spec:
        raise doc.error(path, "missing 'value' (milliseconds)")
    value = spec["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise doc.error((*path, "value"), f"cannot read {shown(value)} as milliseconds: expected a positive "
                        "number")
    device = spec.get("device", LATENCY_KEYS["device"])
    if device not in DEVICES:
        raise doc.error((*path, "device"), f"device must be one of {', '.join(DEVICES)}, got {shown(device)}")
    batch = spec.get("batch", LATENCY_KEYS["batch"])
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise doc.error((*path, "batch"), f"batch must be a positive integer, got {shown(batch)}")
    return Limit(LATENCY_KEY, "latency_ms", "max", float(value), doc.line(path), device, batch, "batch" in spec)


def _predicted(doc: Document, path: tuple, raw: Any, base: Path, profiles: dict[Path, Profile]) -> Limit:
    """``max_predicted_latency_ms: {profile: cpu.json, value: 40}``: milliseconds predicted from a device profile."""
    if not isinstance(raw, dict):
        raise doc.error(path, "expected {profile: <profile.json>, value: <milliseconds>}: a predicted latency needs "
                        "the device profile it is predicted from (shufflecalc calibrate -o)")
    for key in raw:
        if key not in ("profile", "value"):
            raise doc.error((*path, key), f"unknown key '{key}' (a predicted latency limit has profile and value)")
    for key in ("profile", "value"):
        if key not in raw:
            raise doc.error(path, f"missing '{key}'")
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise doc.error((*path, "value"), f"cannot read {shown(value)} as milliseconds: expected a positive "
                        "number")
    name = raw["profile"]
    if not isinstance(name, str) or not name.strip():
        raise doc.error((*path, "profile"), "expected the path of a profile JSON file (relative to the budget file)")
    file = (base / name).resolve()
    if file not in profiles:
        try:
            profiles[file] = load_profile(file)
        except ShufflecalcError as exc:
            raise doc.error((*path, "profile"), str(exc)) from None
    profile = profiles[file]
    return Limit(PREDICTED_KEY, "predicted_latency_ms", "max", float(value), doc.line(path), profile.device,
                 profile.batch, True, profile)


def _check_ranges(doc: Document, path: tuple, limits: Sequence[Limit]) -> None:
    by_key = {(limit.bound, limit.metric): limit for limit in limits}
    for (bound, metric), low in by_key.items():
        high = by_key.get(("max", metric))
        if bound == "min" and high is not None and low.value > high.value:
            raise doc.error((*path, low.key), f"{low.key} {low.value:,} is above {high.key} {high.value:,}")


def parse_percent(text: str, option: str = "--max-increase") -> Fraction:
    """'2%' or '2' -> Fraction(2); '0.5%' -> Fraction(1, 2). Exact, never a float."""
    m = _PERCENT_RE.match(text)
    if not m:
        raise ShufflecalcError(f"{option} {text!r}: expected a percentage such as 2% or 0.5%")
    try:
        return Fraction(Decimal(m.group(1)))
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise ShufflecalcError(f"{option} {text!r}: expected a percentage such as 2% or 0.5%") from None


def model_key(name: str, config: Mapping[str, Any]) -> tuple:
    """How models are matched with a baseline: spec name and every parameter value (1.0 == 1)."""
    return (name, tuple(sorted(config.items())))


# --- checking ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyMeasurement:
    """What a `LatencyMeter` measured for one latency limit: the median, its spread and the harness's warnings."""

    median_ms: float
    iqr_over_median: float  # (p75 - p25) / median of the samples
    samples: int
    noise_limit: float  # the IQR/median at or above which the meter calls a timing noisy (bench's warning)
    warnings: tuple[str, ...] = ()  # the harness's warnings on this timing: noise, busy machine, warm-up cap, timer

    @property
    def noisy(self) -> bool:
        return self.iqr_over_median >= self.noise_limit


@dataclass(frozen=True)
class LimitResult:
    limit: Limit  # for a latency limit, the batch it was timed at (check --batch may have set it)
    value: int | float | None  # None when skipped
    status: str  # PASS, FAIL or SKIP
    reason: str = ""  # why it was skipped
    measurement: LatencyMeasurement | None = None  # a timed latency limit: how it was measured

    @property
    def noisy(self) -> bool:
        """A latency limit timed with IQR/median at or above the meter's noise limit: its verdict is doubtful."""
        return self.measurement is not None and self.measurement.noisy

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.measurement.warnings if self.measurement is not None else ()

    @property
    def headroom(self) -> float | None:
        """Percent of the limit left (negative: exceeded); None when skipped or the limit is 0."""
        if self.value is None or not self.limit.value:
            return None
        spare = self.limit.value - self.value if self.limit.bound == "max" else self.value - self.limit.value
        return float(Fraction(spare) / Fraction(self.limit.value) * 100)


@dataclass(frozen=True)
class Delta:
    """One metric against the baseline."""

    metric: str
    baseline: int
    value: int
    status: str

    @property
    def delta(self) -> int:
        return self.value - self.baseline

    @property
    def percent(self) -> float | None:
        return float(Fraction(self.delta, self.baseline) * 100) if self.baseline else None


# A metric that follows another (flops = 2 x macs; fvcore's count and the MACs without the classifier move with the
# MACs; the parameters without the classifier with the parameters): against a baseline, one change is one regression.
DERIVED: dict[str, str] = {"flops": "macs", "fvcore_flops": "macs", "macs_without_classifier": "macs",
                           "params_without_classifier": "params"}


@dataclass(frozen=True)
class BaselineGroup:
    """A root metric and the metrics derived from it, against the baseline: one check, shown by its headline delta
    (`deltas[0]`): the first failing metric among those the budget entry names, the root, the rest; when none
    fails, the first named one or the root."""

    root: str
    deltas: tuple[Delta, ...]  # the headline first, then the others in ALL_METRICS order

    @property
    def headline(self) -> Delta:
        return self.deltas[0]

    @property
    def metric(self) -> str:
        return self.headline.metric

    @property
    def others(self) -> tuple[Delta, ...]:
        return self.deltas[1:]

    @property
    def status(self) -> str:
        return FAIL if any(d.status == FAIL for d in self.deltas) else PASS


def root_metric(metric: str) -> str:
    return DERIVED.get(metric, metric)


def group_deltas(deltas: Sequence[Delta], named: Sequence[str] = ()) -> tuple[BaselineGroup, ...]:
    """The deltas in groups by root metric (roots in ALL_METRICS order); `named`: the metrics a budget entry limits,
    in its order, which choose each group's headline."""
    groups: dict[str, list[Delta]] = {}
    for d in deltas:
        groups.setdefault(root_metric(d.metric), []).append(d)
    order = {m: i for i, m in enumerate(ALL_METRICS)}
    out = []
    for root, members in sorted(groups.items(), key=lambda item: order.get(item[0], len(order))):
        by = {d.metric: d for d in members}
        candidates = list(dict.fromkeys([m for m in named if m in by] + ([root] if root in by else [])
                                        + [d.metric for d in members]))
        failing = [m for m in candidates if by[m].status == FAIL]
        head = failing[0] if failing else candidates[0]
        out.append(BaselineGroup(root, (by[head], *[d for d in members if d.metric != head])))
    return tuple(out)


@dataclass(frozen=True)
class ModelResult:
    entry: Entry
    analysis: Analysis
    values: Mapping[str, int]  # every ALL_METRICS value, then the total of each convention the entry limits
    limits: tuple[LimitResult, ...]
    deltas: tuple[Delta, ...] | None  # None: no baseline given, or the model is not in it

    @property
    def failed(self) -> bool:
        return any(r.status == FAIL for r in self.limits) or any(d.status == FAIL for d in self.deltas or ())

    @property
    def groups(self) -> tuple[BaselineGroup, ...] | None:
        """The deltas as one check per root metric (`group_deltas`); None when `deltas` is None."""
        if self.deltas is None:
            return None
        return group_deltas(self.deltas, [limit.metric for limit in self.entry.limits if not limit.is_latency])


@dataclass(frozen=True)
class Baseline:
    file: str
    models: Mapping[tuple, Mapping[str, int]]  # model_key -> metric values


@dataclass(frozen=True)
class CheckResult:
    file: str
    models: tuple[ModelResult, ...]
    baseline: Baseline | None
    max_increase: Fraction  # percent
    latency_method: str = ""  # how latency was measured, when it was

    @property
    def failed(self) -> bool:
        return any(m.failed for m in self.models)

    def count(self, status: str) -> int:
        return sum(r.status == status for m in self.models for r in m.limits)

    def count_deltas(self, status: str) -> int:
        """Metrics against the baseline with this status (every metric on its own)."""
        return sum(d.status == status for m in self.models for d in m.deltas or ())

    def count_groups(self, status: str) -> int:
        """Checks against the baseline with this status: a metric and those derived from it count once."""
        return sum(g.status == status for m in self.models for g in m.groups or ())

    @property
    def warnings(self) -> list[tuple[ModelResult, LimitResult, str]]:
        """Every warning of the latency timings, by model and limit, in file order."""
        return [(m, r, w) for m in self.models for r in m.limits for w in r.warnings]


class LatencyMeter(Protocol):
    """Times a model for latency limits (`shufflecalc.latency.budget.BenchLatency` is the one the CLI uses)."""

    def method(self) -> str:
        """How it measures, in one line for the report."""
        ...

    def measure(self, analysis: Analysis, device: str, batch: int) -> LatencyMeasurement | None:
        """The median forward time, its spread and the warnings on it; None when the device is not available."""
        ...


def check(budgets: Budgets, latency: LatencyMeter | None = None, baseline: Baseline | None = None,
          max_increase: Fraction = Fraction(0), latency_batch: int | None = None) -> CheckResult:
    """Analyze every entry and compare it with its limits (and the baseline). Latency limits are timed by `latency`
    when one is given, at `latency_batch` where the limit states no batch; otherwise they are skipped."""
    analyses = [_analyze(budgets.file, e) for e in budgets.entries]
    results = []
    for entry, a in zip(budgets.entries, analyses, strict=False):
        values = {**a.metrics(), **_convention_totals(a, entry)}
        limits = tuple(_check_limit(a, _batched(limit, latency_batch), values, latency) for limit in entry.limits)
        base = baseline.models.get(model_key(entry.spec.name, entry.config)) if baseline is not None else None
        deltas = compare_values(values, base, max_increase) if base is not None else None
        results.append(ModelResult(entry, a, values, limits, deltas))
    timed = any(r.limit.is_latency and r.value is not None for m in results for r in m.limits)
    method = latency.method() if timed and latency is not None else ""
    return CheckResult(budgets.file, tuple(results), baseline, max_increase, method)


def _convention_totals(a: Analysis, entry: Entry) -> dict[str, int]:
    """The totals of the other counters' conventions the entry limits (the reproductions imported only then)."""
    names = list(dict.fromkeys(limit.metric for limit in entry.limits if limit.metric in CONVENTION_NAMES))
    if not names:
        return {}
    from shufflecalc.analysis.peers import totals

    return totals(a.graph, names)


def _analyze(file: str, entry: Entry) -> Analysis:
    try:
        return analyze(entry.spec, entry.overrides)
    except ShufflecalcError as exc:  # the spec is invalid with this configuration: say which budget entry asked
        raise ShufflecalcError(f"{exc} (configuration of {file}:{entry.line} budgets[{entry.index}])") from None


def _batched(limit: Limit, batch: int | None) -> Limit:
    """The latency limit at `batch` (check --batch) when it states no batch of its own."""
    if batch is None or not limit.is_latency or limit.batch_stated:
        return limit
    return replace(limit, batch=batch)


def _check_limit(a: Analysis, limit: Limit, values: Mapping[str, int], latency: LatencyMeter | None) -> LimitResult:
    measurement = None
    if limit.is_predicted:
        assert limit.profile is not None
        value_ms = predict_layers(a.layers, limit.profile, a.name).predicted_ms
        return LimitResult(limit, value_ms, PASS if value_ms <= limit.value else FAIL)
    if limit.is_latency:
        if latency is None:
            return LimitResult(limit, None, SKIP, "needs --latency")
        measurement = latency.measure(a, limit.device, limit.batch)
        if measurement is None:
            return LimitResult(limit, None, SKIP, f"{limit.device} is not available")
        value: int | float = measurement.median_ms
    else:
        value = values[limit.metric]
    ok = value <= limit.value if limit.bound == "max" else value >= limit.value
    return LimitResult(limit, value, PASS if ok else FAIL, measurement=measurement)


def compare_values(values: Mapping[str, int], base: Mapping[str, int], max_increase: Fraction) -> tuple[Delta, ...]:
    """Every metric present in both, in ALL_METRICS order; FAIL when value > base * (1 + max_increase / 100)."""
    deltas = []
    for m in ALL_METRICS:
        if m in base:
            grew = values[m] * 100 > base[m] * (100 + max_increase)
            deltas.append(Delta(m, base[m], values[m], FAIL if grew else PASS))
    return tuple(deltas)


# --- baselines --------------------------------------------------------------------------------------------------------


def load_baseline(path: str) -> Baseline:
    """Read a JSON report with a "models" list (compare --format json, check --format json, --write-baseline)."""
    text = read_text_file(path, path, "baseline file")
    try:
        data = json.loads(text, parse_constant=_json_constant, parse_int=_json_int, parse_float=_json_float)
    except json.JSONDecodeError as exc:
        raise ShufflecalcError(f"not valid JSON: {exc.msg}", file=path, line=exc.lineno) from None
    except _JsonNumberError as exc:
        raise ShufflecalcError(f"not a baseline report: {exc}", file=path) from None
    except RecursionError:
        raise ShufflecalcError(f"{path}: the JSON is nested too deeply to be a baseline report") from None
    except ValueError as exc:  # pragma: no cover - the parse_* hooks above catch what the json module lets through
        raise ShufflecalcError(f"not valid JSON: {exc}", file=path) from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise ShufflecalcError(f"{path}: a baseline is a JSON report with a \"models\" list (from compare --format "
                               "json or check --write-baseline)")
    result: dict[tuple, dict[str, int]] = {}
    for i, m in enumerate(models):
        where = f"{path}: models[{i}]"
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not isinstance(m.get("config"), dict):
            raise ShufflecalcError(f"{where}: expected an object with \"name\" and \"config\"")
        for name, value in m["config"].items():
            if isinstance(value, (dict, list)):
                raise ShufflecalcError(f"{where}.config.{name}: expected a parameter value (a number, string, "
                                       f"boolean or null), got {shown(value)}")
        values = {k: m[k] for k in ALL_METRICS if k in m}
        for k, v in values.items():
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_COUNT:
                raise ShufflecalcError(f"{where}.{k}: expected a count (an integer from 0 to 10**18), got "
                                       f"{shown(v)}")
        result.setdefault(model_key(m["name"], m["config"]), values)
    return Baseline(path, result)


class _JsonNumberError(ValueError):
    """A number in a baseline that no report writes: NaN, Infinity, or one too large to be a count."""


def _json_constant(text: str) -> Any:
    raise _JsonNumberError(f"{text} is not a finite number")


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > len(str(MAX_COUNT)):  # before int(), which refuses 4,300 digits with a ValueError
        raise _JsonNumberError(f"the integer {shown(text)} is too large: a count is at most 10**18")
    return int(text)


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JsonNumberError(f"{shown(text)} is not a finite number")
    return value
