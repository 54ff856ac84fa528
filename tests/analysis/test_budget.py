"""Budget files: exact limits in human units, validation with file/line/key, checking, baselines, latency timing."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import pytest

from shufflecalc.analysis.budget import (
    DERIVED,
    FAIL,
    PASS,
    SKIP,
    Delta,
    LatencyMeasurement,
    check,
    compare_values,
    group_deltas,
    load_baseline,
    load_budgets,
    parse_percent,
)
from shufflecalc.analysis.cost import ALL_METRICS, analyze
from shufflecalc.errors import ShufflecalcError
from shufflecalc.report.cost import compare_json

from ..conftest import ROOT

MOBILENET_MACS = 568_740_352  # papers.md: 567,716,352 body + 1,024,000 FC
MOBILENET_PARAMS = 4_231_976

# A two-unit ShuffleNet (docs/spec-format.md's worked example): 173,376 MACs at g=2.
TINY = """\
name: tiny
params:
  g: {type: int, default: 2, choices: [1, 2, 4]}
  res: {type: int, default: 32, min: 8}
define:
  widths: {1: [16, 32], 2: [16, 32], 4: [32, 64]}
input: [3, res, res]
layers:
  - {op: conv_bn_act, name: stem, out: "widths[g][0]", kernel: 3, stride: 2}
  - stage: stage1
    repeat: 2
    unit: {op: shufflenet_unit, out: "widths[g][1]", groups: g}
    first: {pw1_grouped: false}
  - {op: global_avgpool, name: pool}
  - {op: flatten, name: flat}
  - {op: linear, name: fc, out: 10}
"""


def fail(message: str) -> ShufflecalcError:
    return ShufflecalcError(message)


# --- percentages ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [("2%", 2), ("2", 2), ("0.5%", Fraction(1, 2)), (" 1.25 % ", Fraction(5, 4)),
                                         ("0%", 0)])
def test_parse_percent(text: str, value: Fraction) -> None:
    assert parse_percent(text) == value


@pytest.mark.parametrize("text", ["-1%", "two", "2%%", "1e2", ""])
def test_parse_percent_errors(text: str) -> None:
    with pytest.raises(ShufflecalcError, match="expected a percentage such as 2%"):
        parse_percent(text)


# --- loading -----------------------------------------------------------------------------------------------------


@pytest.fixture
def budget_file(tmp_path: Path):
    """Write a budget file (and, optionally, the tiny spec next to it) and return its path."""

    def write(text: str, spec: bool = False) -> str:
        (tmp_path / "specs").mkdir(exist_ok=True)
        if spec:
            (tmp_path / "specs" / "tiny.yaml").write_text(TINY)
        path = tmp_path / "b.yaml"
        path.write_text(text)
        return str(path)

    return write


ISSUE_EXAMPLE = """\
budgets:
  - model: shufflenet            # built-in name or a path to a spec, relative to the budget file
    config: {g: 3, width: 1.0}
    max_macs: 150M
    max_params: 2.0M
    max_activations: 3M
  - model: specs/tiny.yaml
    max_macs: 300K
    max_fvcore_flops: 320K
    max_memory_access: 20M
    max_latency_ms: {device: cpu, batch: 1, value: 40}   # checked only with --latency
"""


def test_the_issue_example_loads_relative_to_the_budget_file(budget_file, tmp_path, monkeypatch) -> None:
    path = budget_file(ISSUE_EXAMPLE, spec=True)
    monkeypatch.chdir(ROOT)  # the spec path is relative to the budget file, not to the working directory
    budgets = load_budgets(path)
    shuffle, tiny = budgets.entries
    assert shuffle.spec.name == "shufflenet" and dict(shuffle.overrides) == {"g": 3, "width": 1.0}
    assert shuffle.config["resolution"] == 224 and shuffle.label == "shufflenet g=3 width=1.0"
    assert [(limit.key, limit.metric, limit.bound, limit.value, limit.line) for limit in shuffle.limits] == [
        ("max_macs", "macs", "max", 150_000_000, 4),
        ("max_params", "params", "max", 2_000_000, 5),
        ("max_activations", "activations", "max", 3_000_000, 6),
    ]
    assert tiny.spec.name == "tiny" and tiny.line == 7 and shuffle.line == 2
    latency = tiny.limits[-1]
    assert (latency.key, latency.metric, latency.value, latency.device, latency.batch, latency.line) == (
        "max_latency_ms", "latency_ms", 40.0, "cpu", 1, 11)
    assert [limit.value for limit in tiny.limits[:3]] == [300_000, 320_000, 20_000_000]


def test_latency_shorthand_and_defaults(budget_file) -> None:
    budgets = load_budgets(budget_file(
        "budgets:\n  - model: mobilenet\n    max_latency_ms: 12.5\n"
        "  - model: shufflenet\n    max_latency_ms: {value: 3, batch: 8, device: cuda}\n"))
    a, b = (e.limits[0] for e in budgets.entries)
    assert (a.value, a.device, a.batch) == (12.5, "cpu", 1)
    assert (b.value, b.device, b.batch) == (3.0, "cuda", 8)


B = "budgets:\n  - model: mobilenet\n"  # line 2 is the model


@pytest.mark.parametrize("text, where, message", [
    # unknown metric / key
    (B + "    max_foo: 1M\n", ":3 budgets[0].max_foo", "unknown metric 'foo' in 'max_foo' (metrics: macs, flops, "
     "fvcore_flops, params, activations, memory_access, macs_without_classifier, params_without_classifier; "
     "conventions: fvcore, ptflops_pytorch, ptflops_aten, thop, torchinfo, torchprofile, flop_counter)"),
    (B + "    min_latency_ms: 3\n", ":3 budgets[0].min_latency_ms", "latency takes only a maximum, max_latency_ms"),
    (B + "    comment: small\n", ":3 budgets[0].comment", "unknown key 'comment' (expected model, config, args, "
     "input, max_<metric>, min_<metric>, max_latency_ms or max_predicted_latency_ms)"),
    (B + "    min_predicted_latency_ms: 3\n", ":3 budgets[0].min_predicted_latency_ms",
     "predicted latency takes only a maximum, max_predicted_latency_ms"),
    ("budgets:\n  - {model: mobilenet, max_macs: 1G}\nextra: 1\n", ":3 extra", "unknown key 'extra'"),
    ("models: []\n", ":1", "a budget file is a mapping with a 'budgets' list"),
    ("budgets: []\n", ":1 budgets", "'budgets' must be a non-empty list"),
    ("budgets:\n  - mobilenet\n", ":2 budgets[0]", "an entry is a mapping with 'model'"),
    # numbers
    (B + "    max_macs: 150Q\n", ":3 budgets[0].max_macs", "cannot read '150Q' as a count"),
    (B + "    max_params: 4.2345678M\n", ":3 budgets[0].max_params", "'4.2345678M' is not a whole number"),
    (B + "    min_macs: 2G\n    max_macs: 1G\n", ":3 budgets[0].min_macs",
     "min_macs 2,000,000,000 is above max_macs 1,000,000,000"),
    # models and specs
    ("budgets:\n  - max_macs: 1G\n", ":2 budgets[0]", "missing 'model' (a built-in spec name or a spec path)"),
    ("budgets:\n  - model: resnet\n    max_macs: 1G\n", ":2 budgets[0].model", "unknown spec 'resnet': not a built-in "
     "spec (convnext, densenet, "),
    ("budgets:\n  - model: specs/none.yaml\n    max_macs: 1G\n", ":2 budgets[0].model",
     "unknown spec 'specs/none.yaml': no such file"),
    ("budgets:\n  - model: 3\n    max_macs: 1G\n", ":2 budgets[0].model", "'model' must be a built-in spec name"),
    (B + "    max_macs: 1G\n    config: {gg: 3}\n", ":4 budgets[0].config.gg",
     "unknown parameter 'gg' for mobilenet (parameters: width, resolution, classes)"),
    ("budgets:\n  - model: shufflenet\n    config:\n      g: 5\n    max_macs: 1G\n", ":4 budgets[0].config.g",
     "5 is not one of 1, 2, 3, 4, 8"),
    (B + "    config: {width: wide}\n    max_macs: 1G\n", ":3 budgets[0].config.width", "'wide' is not a valid float"),
    (B + "    config: [width, 1]\n    max_macs: 1G\n", ":3 budgets[0].config", "'config' must be a mapping"),
    (B, ":2 budgets[0]", "no limits: add max_<metric> or min_<metric>"),
    (B + "    max_macs: 1G\n" + "  - model: mobilenet\n    config: {width: 1}\n    max_params: 5M\n",
     ":4 budgets[1]", "'mobilenet width=1.0' has the same model and configuration as budgets[0] (line 2)"),
    # latency limits
    (B + "    max_latency_ms: {device: tpu, value: 3}\n", ":3 budgets[0].max_latency_ms.device",
     "device must be one of cpu, cuda, got 'tpu'"),
    (B + "    max_latency_ms: {batch: 0, value: 3}\n", ":3 budgets[0].max_latency_ms.batch",
     "batch must be a positive integer, got 0"),
    (B + "    max_latency_ms: {device: cpu}\n", ":3 budgets[0].max_latency_ms", "missing 'value' (milliseconds)"),
    (B + "    max_latency_ms: {value: -1}\n", ":3 budgets[0].max_latency_ms.value",
     "cannot read -1 as milliseconds"),
    (B + "    max_latency_ms: {value: 3, threads: 1}\n", ":3 budgets[0].max_latency_ms.threads",
     "unknown key 'threads' (a latency limit has device, batch and value)"),
    # hostile numbers: one clean line at the limit's line
    (B + "    max_macs: 1e400\n", ":3 budgets[0].max_macs", "cannot read '1e400' as a count"),
    (B + "    max_macs: 1.0e+400\n", ":3 budgets[0].max_macs", "'1.0e+400' is not a finite number"),
    (B + "    max_macs: .nan\n", ":3 budgets[0].max_macs", "'.nan' is not a finite number"),
    (B + "    max_macs: -.inf\n", ":3 budgets[0].max_macs", "'-.inf' is not a finite number"),
    (B + "    max_macs: " + "9" * 5000 + "\n", ":3 budgets[0].max_macs", "is too large"),
    (B + "    max_macs: 99999999999999999999\n", ":3 budgets[0].max_macs", "is too large"),
    (B + "    max_macs: 2000000000G\n", ":3 budgets[0].max_macs",
     "'2000000000G' is too large: a count is at most 10**18 (1,000,000,000G)"),
    (B + "    max_macs: " + "9" * 400 + ".5M\n", ":3 budgets[0].max_macs", "cannot read '999"),
    (B + "    max_macs: -5\n", ":3 budgets[0].max_macs", "-5 is negative"),
    (B + "    max_macs: 1:30\n", ":3 budgets[0].max_macs", "'1:30' is a YAML 1.1 base-60 number (90)"),
    (B + "    max_macs: 010\n", ":3 budgets[0].max_macs", "'010' has a leading zero"),
    (B + "    max_latency_ms: .inf\n", ":3 budgets[0].max_latency_ms", "'.inf' is not a finite number"),
    (B + "    max_latency_ms: {value: 3, batch: 99999999999999999999}\n", ":3 budgets[0].max_latency_ms.batch",
     "is too large"),
    # YAML itself
    (B + "    max_macs: [1G\n", ":4", "malformed YAML"),
    (B + "    max_macs: !!int abc\n", ":3 budgets[0].max_macs", "cannot read 'abc' as an integer"),
    (B + "    max_macs: 1G\n    max_macs: 2G\n", ":4 budgets[0]", "duplicate key 'max_macs'"),
    (B + "    max_macs: !!python/object:os.system 1G\n", ":3 budgets[0].max_macs", "unsupported YAML tag"),
])
def test_invalid_budget_files(budget_file, text: str, where: str, message: str) -> None:
    path = budget_file(text)
    with pytest.raises(ShufflecalcError) as exc:
        load_budgets(path)
    assert str(exc.value).startswith(path + where + ": "), str(exc.value)
    assert message in str(exc.value)


def test_merge_keys_share_limits(budget_file) -> None:
    budgets = load_budgets(budget_file("budgets:\n  - &m {model: mobilenet, max_macs: 1G, max_params: 5M}\n"
                                       "  - {<<: *m, config: {width: 0.5}, max_macs: 200M}\n"))
    assert [(limit.key, limit.value) for limit in budgets.entries[1].limits] == [
        ("max_macs", 200_000_000), ("max_params", 5_000_000)]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_a_fifo_is_refused_as_a_budget_file_a_spec_and_a_baseline(budget_file, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ShufflecalcError, match=r"fifo\.yaml: not a regular file \(a FIFO\)$"):
        load_budgets(fifo)
    with pytest.raises(ShufflecalcError, match=r"fifo\.yaml: not a regular file \(a FIFO\)$"):
        load_budgets(budget_file("budgets:\n  - {model: fifo.yaml, max_macs: 1G}\n"))
    with pytest.raises(ShufflecalcError, match=r"fifo\.yaml: not a regular file \(a FIFO\)$"):
        load_baseline(str(fifo))


def test_missing_budget_file(tmp_path: Path) -> None:
    with pytest.raises(ShufflecalcError, match=r"nothere\.yaml: no such file"):
        load_budgets(tmp_path / "nothere.yaml")


def test_a_spec_invalid_with_the_budget_config_names_both_files(budget_file, tmp_path) -> None:
    spec = tmp_path / "specs" / "grouped.yaml"
    path = budget_file("budgets:\n  - model: specs/grouped.yaml\n    config: {c: 25}\n    max_macs: 1M\n")
    spec.write_text("params:\n  c: {type: int, default: 24}\ninput: [3, 8, 8]\nlayers:\n"
                    "  - {op: conv2d, out: 24, kernel: 1}\n  - {op: conv2d, out: c, kernel: 1, groups: 3}\n")
    budgets = load_budgets(path)  # the value is valid for the parameter; the network is not
    with pytest.raises(ShufflecalcError) as exc:
        check(budgets)
    text = str(exc.value)
    assert text.startswith(f"{spec}:6 layers[1]") and "divisible" in text
    assert text.endswith(f"(configuration of {path}:2 budgets[0])")


# --- checking ----------------------------------------------------------------------------------------------------


def test_every_value_is_the_engine_value(budget_file) -> None:
    lines = "".join(f"    max_{m}: 1G\n" for m in ALL_METRICS)
    budgets = load_budgets(budget_file("budgets:\n  - model: shufflenet\n    config: {g: 8, width: 0.5}\n" + lines))
    (m,) = check(budgets).models
    expected = analyze("shufflenet", g=8, width=0.5).to_dict(layers=False)
    assert {r.limit.metric: r.value for r in m.limits} == {k: expected[k] for k in ALL_METRICS}


@pytest.mark.parametrize("limit, status", [
    (f"max_macs: {MOBILENET_MACS}", PASS), (f"max_macs: {MOBILENET_MACS - 1}", FAIL),
    (f"min_macs: {MOBILENET_MACS}", PASS), (f"min_macs: {MOBILENET_MACS + 1}", FAIL),
    ("max_macs: 568.740352M", PASS), ("max_macs: 568.740351M", FAIL),
])
def test_a_value_equal_to_its_limit_passes(budget_file, limit: str, status: str) -> None:
    result = check(load_budgets(budget_file(B + f"    {limit}\n")))
    (r,) = result.models[0].limits
    assert r.value == MOBILENET_MACS and r.status == status and result.failed == (status == FAIL)


def test_headroom_is_exact_percent_of_the_limit(budget_file) -> None:
    result = check(load_budgets(budget_file(B + "    max_macs: 600M\n    min_params: 4M\n    max_params: 4M\n")))
    high, low, over = result.models[0].limits
    assert high.headroom == pytest.approx((600_000_000 - MOBILENET_MACS) / 600_000_000 * 100, rel=1e-15)
    assert high.headroom == pytest.approx(5.2099413, abs=1e-7)
    assert low.headroom == pytest.approx((MOBILENET_PARAMS - 4_000_000) / 4_000_000 * 100, rel=1e-15)
    assert over.headroom == pytest.approx(-5.7994, abs=1e-4) and over.status == FAIL
    assert result.count(PASS) == 2 and result.count(FAIL) == 1


def test_latency_limits_are_skipped_without_latency(budget_file) -> None:
    result = check(load_budgets(budget_file(B + "    max_latency_ms: 1\n")))
    (r,) = result.models[0].limits
    assert (r.status, r.value, r.reason, r.headroom) == (SKIP, None, "needs --latency", None)
    assert not result.failed and result.latency_method == ""


# --- baselines ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("base, value, percent, status", [
    (1000, 1020, "2%", PASS), (1000, 1021, "2%", FAIL), (1000, 1000, "0%", PASS), (1000, 1001, "0%", FAIL),
    (1000, 1005, "0.5%", PASS), (1000, 1006, "0.5%", FAIL), (1000, 900, "0%", PASS),
    (0, 0, "0%", PASS), (0, 1, "1000%", FAIL),
    # exactly at the threshold where float arithmetic says 1000 * 1.001 == 1000.9999999999999
    (1000, 1001, "0.1%", PASS),
    # ShuffleNet 1x g=3: 137,460,672 * 1.02 = 140,209,885.44
    (137_460_672, 140_209_885, "2%", PASS), (137_460_672, 140_209_886, "2%", FAIL),
])
def test_baseline_threshold_is_exact(base: int, value: int, percent: str, status: str) -> None:
    (d,) = compare_values({"macs": value}, {"macs": base}, parse_percent(percent))
    assert (d.metric, d.baseline, d.value, d.delta, d.status) == ("macs", base, value, value - base, status)
    assert d.percent == (None if base == 0 else pytest.approx((value - base) / base * 100))


def test_baseline_from_compare_json_matches_name_and_config(tmp_path: Path, budget_file) -> None:
    report = compare_json([analyze("shufflenet", g=3), analyze("shufflenet", g=8), analyze("mobilenet")])
    report["models"][0]["macs"] -= 1000  # the baseline was smaller: g=3 grew by 1000 MACs
    path = tmp_path / "base.json"
    path.write_text(json.dumps(report))
    baseline = load_baseline(str(path))
    assert len(baseline.models) == 3
    budgets = load_budgets(budget_file(
        "budgets:\n  - model: shufflenet\n    config: {g: 3}\n    max_macs: 1G\n"
        "  - model: shufflenet\n    config: {g: 2}\n    max_macs: 1G\n"
        "  - model: mobilenet\n    config: {width: 1}\n    max_macs: 1G\n"))
    g3, g2, mob = check(budgets, baseline=baseline).models
    assert g2.deltas is None  # not in the baseline
    macs = {d.metric: d for d in g3.deltas}["macs"]
    assert (macs.baseline, macs.value, macs.delta, macs.status) == (137_460_672 - 1000, 137_460_672, 1000, FAIL)
    assert [d.metric for d in g3.deltas] == list(ALL_METRICS) and all(d.delta == 0 for d in mob.deltas)
    assert check(budgets, baseline=baseline, max_increase=Fraction(1, 1000)).failed is False  # 1000/137M < 0.001%


@pytest.mark.parametrize("text, message", [
    ("{", "base.json:1: not valid JSON"),
    ('{"specs": []}', 'a baseline is a JSON report with a "models" list'),
    ('{"models": [{"name": "x"}]}', 'models[0]: expected an object with "name" and "config"'),
    ('{"models": [{"name": "x", "config": {}, "macs": "1M"}]}',
     "models[0].macs: expected a count (an integer from 0 to 10**18), got '1M'"),
    ('{"models": [{"name": "x", "config": {"g": [3]}}]}', "models[0].config.g: expected a parameter value"),
    ('{"models": [{"name": "x", "config": {"g": {"a": 1}}}]}', "models[0].config.g: expected a parameter value"),
    ('{"models": ' + "[" * 100_000 + "]" * 100_000 + "}", "base.json: the JSON is nested too deeply"),
    ('{"models": [{"name": "x", "config": {}, "macs": ' + "9" * 5000 + "}]}", "base.json: not a baseline report: "
     "the integer '" + "9" * 27 + "..." + "9" * 28 + "' is too large: a count is at most 10**18"),
    ('{"models": [{"name": "x", "config": {}, "macs": 1000000000000000001}]}',
     "models[0].macs: expected a count (an integer from 0 to 10**18), got 1000000000000000001"),
    ('{"models": [{"name": "x", "config": {}, "macs": -1}]}', "models[0].macs: expected a count"),
    ('{"models": [{"name": "x", "config": {}, "params": true}]}', "models[0].params: expected a count"),
    ('{"models": [{"name": "x", "config": {}, "params": 1.5}]}', "models[0].params: expected a count"),
    ('{"models": [{"name": "x", "config": {"width": NaN}}]}', "base.json: not a baseline report: NaN is not a finite"),
    ('{"models": [{"name": "x", "config": {}, "macs": -Infinity}]}', "not a baseline report: -Infinity is not a"),
    ('{"models": [{"name": "x", "config": {"width": 1e400}}]}', "not a baseline report: '1e400' is not a finite"),
])
def test_invalid_baselines(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "base.json"
    path.write_text(text)
    with pytest.raises(ShufflecalcError) as exc:
        load_baseline(str(path))
    assert message in str(exc.value)
    with pytest.raises(ShufflecalcError, match="no such baseline file"):
        load_baseline(str(tmp_path / "none.json"))
    with pytest.raises(ShufflecalcError, match="is a directory, not a baseline file"):
        load_baseline(str(tmp_path))
    (tmp_path / "big.json").write_text('{"models": []}' + " " * (1 << 20))
    with pytest.raises(ShufflecalcError, match=r"big\.json: too large \(1,048,590 bytes\): the limit is 1,048,576"):
        load_baseline(str(tmp_path / "big.json"))


# --- latency -----------------------------------------------------------------------------------------------------


def test_measure_latency_of_a_real_model(budget_file) -> None:
    pytest.importorskip("torch")
    import torch

    path = budget_file("budgets:\n  - model: specs/tiny.yaml\n    max_latency_ms: {value: 60000, batch: 2}\n"
                       "  - model: specs/tiny.yaml\n    config: {g: 4}\n    max_latency_ms: 0.000001\n"
                       "  - model: specs/tiny.yaml\n    config: {g: 1}\n    max_latency_ms: {device: cuda, value: 1}\n",
                       spec=True)
    from shufflecalc.latency.budget import BenchLatency

    result = check(load_budgets(path), latency=BenchLatency())
    ok, slow, cuda = (m.limits[0] for m in result.models)
    assert ok.status == PASS and 0 < ok.value < 60000
    assert slow.status == FAIL and slow.value > 0.000001
    if not torch.cuda.is_available():
        assert (cuda.status, cuda.reason) == (SKIP, "cuda is not available")
    assert f"torch {torch.__version__}" in result.latency_method
    assert "median of `shufflecalc bench`" in result.latency_method


# --- latency warnings, with injected timing statistics -----------------------------------------------------------

BUSY = ("the machine is busy: load average 3.9 on 2 CPUs before timing, and 2 thread(s) to run; other work competes "
        "for the cores, so timings are slower and noisier (a parallel operator waits for its slowest thread): try "
        "--threads 1 or a quieter time")
NOISY = "noisy: IQR/median is 83.0% (>= 10%); close other work or raise --min-time"


class FakeMeter:
    """A `LatencyMeter` that returns given statistics and records what it was asked to time."""

    def __init__(self, median_ms: float = 245.8, iqr: float = 0.83, warnings: tuple[str, ...] = (BUSY, NOISY)) -> None:
        self.median_ms, self.iqr, self.warnings = median_ms, iqr, warnings
        self.calls: list[tuple[str, str, int]] = []

    def method(self) -> str:
        return "latency: fake meter"

    def measure(self, analysis, device: str, batch: int) -> LatencyMeasurement | None:
        self.calls.append((analysis.name, device, batch))
        if device == "cuda":
            return None
        return LatencyMeasurement(self.median_ms, self.iqr, 40, 0.10, self.warnings)


def test_a_noisy_latency_fail_carries_the_harness_warnings(budget_file) -> None:
    path = budget_file("budgets:\n  - model: shufflenet\n    config: {g: 3}\n    max_macs: 1G\n"
                       "    max_latency_ms: {device: cpu, batch: 1, value: 200}\n")
    result = check(load_budgets(path), latency=FakeMeter())
    macs, latency = result.models[0].limits
    assert (latency.status, latency.value, latency.noisy) == (FAIL, 245.8, True) and result.failed
    assert latency.measurement.iqr_over_median == 0.83 and latency.warnings == (BUSY, NOISY)
    assert not macs.noisy and macs.warnings == () and macs.measurement is None
    assert [(m.entry.label, r.limit.key, w) for m, r, w in result.warnings] == [
        ("shufflenet g=3", "max_latency_ms", BUSY), ("shufflenet g=3", "max_latency_ms", NOISY)]
    assert result.latency_method == "latency: fake meter"


@pytest.mark.parametrize("iqr, noisy", [(0.0999, False), (0.10, True), (0.83, True)])
def test_noisy_is_the_meters_threshold(budget_file, iqr: float, noisy: bool) -> None:
    result = check(load_budgets(budget_file(B + "    max_latency_ms: 1000\n")), latency=FakeMeter(iqr=iqr, warnings=()))
    (r,) = result.models[0].limits
    assert r.status == PASS and r.noisy is noisy and result.warnings == []


def test_latency_batch_sets_only_the_limits_without_a_batch(budget_file) -> None:
    path = budget_file("budgets:\n  - model: mobilenet\n    max_latency_ms: 1000\n"
                       "  - model: shufflenet\n    max_latency_ms: {value: 1000, batch: 4}\n"
                       "  - model: shufflenet_v2\n    max_latency_ms: {value: 1000, device: cuda}\n")
    budgets = load_budgets(path)
    assert [e.limits[0].batch_stated for e in budgets.entries] == [False, True, False]
    meter = FakeMeter(warnings=())
    result = check(budgets, latency=meter, latency_batch=8)
    assert meter.calls == [("mobilenet", "cpu", 8), ("shufflenet", "cpu", 4), ("shufflenet_v2", "cuda", 8)]
    assert [m.limits[0].limit.batch for m in result.models] == [8, 4, 8]
    assert result.models[2].limits[0].status == SKIP  # cuda: not available to this meter
    meter.calls.clear()
    check(budgets, latency=meter)
    assert [b for _, _, b in meter.calls] == [1, 4, 1]


def test_measurement_of_a_bench_document() -> None:
    from shufflecalc.latency.budget import measurement_of

    row = {"model": "tiny", "batch": 2, "memory_format": "contiguous", "median_ms": 3.5, "iqr_over_median": 0.42,
           "samples": 57, "warnings": [NOISY, "warm-up hit its cap of 3.0 s before the timings settled"]}
    doc = {"results": [row], "warnings": [BUSY] + [f"tiny batch 2 contiguous: {w}" for w in row["warnings"]]}
    m = measurement_of(doc)
    assert (m.median_ms, m.iqr_over_median, m.samples, m.noise_limit, m.noisy) == (3.5, 0.42, 57, 0.10, True)
    assert m.warnings == (BUSY, NOISY, "warm-up hit its cap of 3.0 s before the timings settled")


@pytest.mark.parametrize("kwargs, message", [({"threads": 0}, "--threads 0: must be at least 1"),
                                             ({"min_time": 0.0}, "--min-time 0.0: must be a positive number")])
def test_bench_latency_checks_its_options_as_bench_does(kwargs, message: str) -> None:
    from shufflecalc.latency.budget import BenchLatency

    with pytest.raises(ShufflecalcError, match=message):
        BenchLatency(**kwargs)


# --- baseline checks: a metric and those derived from it are one check -------------------------------------------


def _delta(metric: str, status: str) -> Delta:
    return Delta(metric, 100, 110 if status == FAIL else 100, status)


@pytest.mark.parametrize("failing, named, headline, others", [
    (["macs", "flops", "fvcore_flops", "macs_without_classifier"], [], "macs",
     ["flops", "fvcore_flops", "macs_without_classifier"]),
    (["macs", "flops", "fvcore_flops", "macs_without_classifier"], ["params", "flops"], "flops",
     ["macs", "fvcore_flops", "macs_without_classifier"]),
    (["fvcore_flops"], [], "fvcore_flops", ["macs", "flops", "macs_without_classifier"]),  # the one that failed
    (["fvcore_flops"], ["flops"], "fvcore_flops", ["macs", "flops", "macs_without_classifier"]),
    ([], ["macs_without_classifier"], "macs_without_classifier", ["macs", "flops", "fvcore_flops"]),
    ([], [], "macs", ["flops", "fvcore_flops", "macs_without_classifier"]),
])
def test_group_deltas_headline(failing: list[str], named: list[str], headline: str, others: list[str]) -> None:
    deltas = [_delta(m, FAIL if m in failing else PASS) for m in ALL_METRICS]
    groups = group_deltas(deltas, named)
    assert [g.root for g in groups] == ["macs", "params", "activations", "memory_access"]
    macs = groups[0]
    assert (macs.metric, [d.metric for d in macs.others]) == (headline, others)
    assert macs.status == (FAIL if failing else PASS)
    assert [d.metric for d in groups[1].deltas] == ["params", "params_without_classifier"]
    assert all(DERIVED.get(d.metric, d.metric) == g.root for g in groups for d in g.deltas)


def test_a_partial_baseline_groups_what_it_has() -> None:
    (g,) = group_deltas([_delta("flops", FAIL), _delta("fvcore_flops", PASS)])
    assert (g.root, g.metric, g.status) == ("macs", "flops", FAIL)


def test_one_mac_regression_fails_one_check(budget_file, tmp_path: Path) -> None:
    a = analyze("shufflenet", g=3)
    record = a.to_dict(layers=False)
    for metric in ("macs", "flops", "fvcore_flops", "macs_without_classifier"):  # one change: 1,000 more MACs
        record[metric] -= 2000 if metric == "flops" else 1000
    path = tmp_path / "base.json"
    path.write_text(json.dumps({"models": [record]}))
    budgets = load_budgets(budget_file("budgets:\n  - model: shufflenet\n    config: {g: 3}\n    max_flops: 1G\n"))
    result = check(budgets, baseline=load_baseline(str(path)))
    (m,) = result.models
    assert result.count_deltas(FAIL) == 4 and result.count_groups(FAIL) == 1 and result.failed
    assert [(g.metric, g.status) for g in m.groups] == [
        ("flops", FAIL), ("params", PASS), ("activations", PASS), ("memory_access", PASS)]  # named by the budget
    assert m.groups[0].headline.delta == 2000
