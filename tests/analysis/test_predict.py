"""Latency predicted from the spec (`analysis.predict`, `shufflecalc predict`, `compare --predicted`, budgets'
max_predicted_latency_ms): the arithmetic by hand, the fit on exact synthetic data, the profile's validation, and
the torch-free path."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shufflecalc.analysis.cost import analyze
from shufflecalc.analysis.predict import (
    ClassFit,
    fit_class,
    load_profile,
    nnls_relative,
    predict_layers,
    predictor_class,
    profile_from_dict,
)
from shufflecalc.errors import ShufflecalcError
from tests.conftest import ROOT, blocked_env

SPEC = """
name: tiny
input: [3, 8, 8]
layers:
  - {op: conv2d, name: conv, out: 8, kernel: 3}
  - {op: batchnorm, name: bn}
  - {op: relu, name: relu}
  - {op: global_avgpool, name: pool}
  - {op: flatten, name: flat}
  - {op: linear, name: fc, out: 10}
"""

# Every class: overhead in microseconds, GFLOP/s, GB/s (None: no such term)
CLASSES = {
    "standard conv": (10.0, 1.0, 1.0),
    "batchnorm": (4.0, None, 2.0),
    "relu": (2.0, None, 4.0),
    "global_avgpool": (3.0, None, 0.5),
    "flatten": (1.0, None, None),
    "linear": (5.0, 0.5, 0.25),
}


def _fits(classes: dict, scale: float = 1.0) -> dict:
    return {name: {"overhead_us": o * scale, "compute_gflops": c, "bandwidth_gbs": b, "samples": 3,
                   "mape_percent": 1.0} for name, (o, c, b) in classes.items()}


def profile_doc(batch: int = 1, classes: dict = CLASSES, caches: dict | None = None, warm_overhead: float = 1.0,
                **env: object) -> dict:
    """A profile whose warm numbers are the cold ones with the overheads scaled by `warm_overhead`; no cache sizes
    (every network cold) unless `caches` says."""
    return {
        "format": "shufflecalc latency profile", "version": 2,
        "environment": {"device": "cpu", "device_name": "Test CPU", "threads": 1, "dtype": "float32",
                        "batch": batch, "torch": "2.13.0", **env},
        "forward_overhead_us": 7.0, "layer_overhead_us": 0.5,
        "caches": caches or {"l2_bytes": None, "l3_bytes": None},
        "classes": _fits(classes),
        "classes_warm": _fits(classes, warm_overhead),
    }


@pytest.fixture
def tiny(write_spec) -> str:
    return write_spec(SPEC, "tiny.yaml")


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps(profile_doc()))
    return path


# Counted by hand (float32: 4 bytes; bytes = inputs + outputs + parameters):
#   conv  3->8, 3x3, 8x8, no bias: MACs 8*8*8*3*9 = 13,824 (FLOPs 27,648); 192 + 512 + 216 = 920 elements = 3,680 B
#   bn    512 in, 512 out, 16 params: 1,040 elements = 4,160 B
#   relu  512 + 512 = 1,024 elements = 4,096 B
#   pool  512 in, 8 out = 520 elements = 2,080 B
#   flat  a view: 0 B
#   fc    8 -> 10: MACs 80 (FLOPs 160); 8 + 10 + 90 params = 108 elements = 432 B
HAND_MS = {
    "conv": 0.010 + 27_648 / 1e9 * 1e3 + 3_680 / 1e9 * 1e3,
    "bn": 0.004 + 4_160 / 2e9 * 1e3,
    "relu": 0.002 + 4_096 / 4e9 * 1e3,
    "pool": 0.003 + 2_080 / 0.5e9 * 1e3,
    "flat": 0.001,
    "fc": 0.005 + 160 / 0.5e9 * 1e3 + 432 / 0.25e9 * 1e3,
}


def test_prediction_is_the_hand_sum(tiny) -> None:
    p = predict_layers(analyze(tiny).layers, profile_from_dict(profile_doc(), "cpu.json"))
    assert [layer.name for layer in p.layers] == list(HAND_MS)
    for layer in p.layers:
        assert layer.predicted_ms == pytest.approx(HAND_MS[layer.name], rel=1e-12), layer.name
    assert p.predicted_ms == pytest.approx(0.007 + 6 * 0.0005 + sum(HAND_MS.values()), rel=1e-12)
    bounds = {layer.name: layer.bound for layer in p.layers}
    # conv: 27.6 us of compute against 10 us of overhead; pool: 4.16 us of memory against 3 us
    assert bounds == {"conv": "compute", "bn": "overhead", "relu": "overhead", "pool": "memory", "flat": "overhead",
                      "fc": "overhead"}
    conv = p.layers[0].to_dict()
    assert (conv["flops"], conv["bytes"], conv["intensity"]) == (27_648, 3_680, pytest.approx(27_648 / 3_680))


def test_warm_and_cold_blend_by_memory_traffic(tiny) -> None:
    """The tiny net moves 14,448 bytes per forward pass (the hand sums above); with an L2 of 1,000 bytes and an L3 of
    1,000,000 it sits at w = log(14.448) / log(1000) between them, and each layer takes warm + w x (cold - warm),
    here with the warm overheads half the cold ones."""
    doc = profile_doc(caches={"l2_bytes": 1_000, "l3_bytes": 1_000_000}, warm_overhead=0.5)
    p = predict_layers(analyze(tiny).layers, profile_from_dict(doc, "cpu.json"))
    w = math.log(14_448 / 1_000) / math.log(1_000)
    assert p.cold_weight == pytest.approx(w, rel=1e-12)
    overheads = {"conv": 0.010, "bn": 0.004, "relu": 0.002, "pool": 0.003, "flat": 0.001, "fc": 0.005}
    for layer in p.layers:
        warm = HAND_MS[layer.name] - overheads[layer.name] / 2
        assert layer.predicted_ms == pytest.approx(warm + w * (HAND_MS[layer.name] - warm), rel=1e-12), layer.name
    small = profile_from_dict(profile_doc(caches={"l2_bytes": 20_000, "l3_bytes": 10**6}, warm_overhead=0.5), "c")
    assert predict_layers(analyze(tiny).layers, small).cold_weight == 0.0  # all of it fits in the L2: warm
    big = profile_from_dict(profile_doc(caches={"l2_bytes": 100, "l3_bytes": 10_000}, warm_overhead=0.5), "c")
    assert predict_layers(analyze(tiny).layers, big).cold_weight == 1.0


def test_batch_scales_feature_maps_not_weights(tiny) -> None:
    """At batch 4 the inputs and outputs move four times, the weights once; FLOPs are four times."""
    p = predict_layers(analyze(tiny).layers, profile_from_dict(profile_doc(batch=4), "cpu.json"))
    conv = p.layers[0]
    assert (conv.flops, conv.bytes) == (4 * 27_648, ((192 + 512) * 4 + 216) * 4)


def test_predictor_classes(write_spec) -> None:
    path = write_spec("""
input: [8, 8, 8]
layers:
  - {op: conv2d, name: std, out: 8, kernel: 3}
  - {op: conv2d, name: pw, out: 16, kernel: 1}
  - {op: conv2d, name: gpw, out: 16, kernel: 1, groups: 4}
  - {op: conv2d, name: dw, out: 16, kernel: 3, groups: 16}
  - {op: conv2d, name: gc, out: 16, kernel: 3, groups: 2}
  - {op: conv2d, name: even, out: 16, kernel: 2, padding: same}
  - {op: hardswish, name: act}
""", "classes.yaml")
    classes = [predictor_class(layer) for layer in analyze(path).layers]
    assert classes == ["standard conv", "ungrouped 1x1 conv", "grouped 1x1 conv", "depthwise conv", "grouped conv",
                       "standard conv (padded)", "hardswish"]


def test_fit_recovers_exact_coefficients() -> None:
    """Times made exactly by overhead 20 us + FLOPs at 50 GFLOP/s + bytes at 10 GB/s are fitted back exactly."""
    shapes = [(f, b) for f in (0, 1e6, 3e7, 2e8) for b in (1e4, 5e5, 8e6)]
    samples = [(f, b, 0.02 + f / 50e9 * 1e3 + b / 10e9 * 1e3) for f, b in shapes]
    fit = fit_class(samples)
    assert fit.overhead_ms == pytest.approx(0.02, rel=1e-9)
    assert fit.compute_flops == pytest.approx(50e9, rel=1e-9)
    assert fit.bandwidth_bytes == pytest.approx(10e9, rel=1e-9)
    assert fit.mape == pytest.approx(0.0, abs=1e-9)


def test_fit_never_negative() -> None:
    """Times that fall with bytes would want a negative bandwidth: the fit drops the term instead."""
    rows = [[1.0, b] for b in (1.0, 2.0, 3.0, 4.0)]
    coef = nnls_relative(rows, [4.0, 3.0, 2.0, 1.0])
    assert coef[1] == 0.0 and coef[0] > 0


def test_classfit_terms_by_hand() -> None:
    fit = ClassFit(0.01, 2e9, 4e9)
    assert fit.terms(2e6, 8e6) == pytest.approx((0.01, 1.0, 2.0))


def test_missing_class_is_an_error_naming_it(tiny) -> None:
    classes = {k: v for k, v in CLASSES.items() if k != "relu"}  # in both contexts
    profile = profile_from_dict(profile_doc(classes=classes), "old.json")
    with pytest.raises(ShufflecalcError, match=r"tiny: the profile old.json has no numbers for: relu \(1 layer, "
                                                r"first relu\)"):
        predict_layers(analyze(tiny).layers, profile, "tiny")


@pytest.mark.parametrize("change, where", [
    ({"format": "other"}, "format"),
    ({"version": 3}, "version"),
    ({"environment": {"device": "cpu"}}, "environment.device_name"),
    ({"classes": {}}, "classes"),
    ({"classes_warm": {"relu": {"overhead_us": 1, "compute_gflops": None, "bandwidth_gbs": 1}}}, "classes_warm"),
    ({"caches": {"l2_bytes": -1, "l3_bytes": None}}, "caches"),
    ({"classes": {"relu": {"overhead_us": -1, "compute_gflops": None, "bandwidth_gbs": 1}}},
     "classes.relu.overhead_us"),
    ({"classes": {"relu": {"overhead_us": 1, "compute_gflops": 0, "bandwidth_gbs": 1}}}, "classes.relu.compute_gflops"),
    ({"classes": {"relu": {"overhead_us": 1, "compute_gflops": None, "bandwidth_gbs": "x"}}},
     "classes.relu.bandwidth_gbs"),
    ({"forward_overhead_us": None}, "forward_overhead_us"),
    ({"layer_overhead_us": -0.5}, "layer_overhead_us"),
])
def test_malformed_profile(change: dict, where: str) -> None:
    with pytest.raises(ShufflecalcError, match=rf"^p.json: {where}: "):
        profile_from_dict({**profile_doc(), **change}, "p.json")


def test_a_profile_of_median_times_is_refused_with_what_to_do() -> None:
    """Version 1 profiles hold each case's median, not its fastest times: they predict another number than bench's
    min_ms, so predict asks for a new calibration instead of using them."""
    with pytest.raises(ShufflecalcError, match=r"^p.json: version 1, .* median times; calibrate again"):
        profile_from_dict({**profile_doc(), "version": 1}, "p.json")


@pytest.mark.parametrize("text, message", [
    ("{", "not a JSON profile"),
    ('{"format": NaN}', "not a JSON profile"),
    ("[]", "format: expected 'shufflecalc latency profile'"),
])
def test_profile_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(ShufflecalcError, match=message):
        load_profile(path)
    with pytest.raises(ShufflecalcError, match="no such profile file"):
        load_profile(tmp_path / "missing.json")


# --- the command line -------------------------------------------------------------------------------------------


def test_predict_json(cli, tiny, profile_file) -> None:
    r = cli("predict", tiny, "--profile", str(profile_file), "-f", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    (model,) = doc["models"]
    assert model["predicted_ms"] == pytest.approx(0.007 + 6 * 0.0005 + sum(HAND_MS.values()), rel=1e-5)
    assert [layer["name"] for layer in model["layers"]] == list(HAND_MS)
    assert {"name", "predicted_ms", "bound"} <= set(model["layers"][0])
    assert model["by_class"]["standard conv"]["layers"] == 1
    assert doc["profile"]["environment"]["device_name"] == "Test CPU"
    assert set(doc["conventions"]) >= {"predicted_ms", "flops", "bytes", "bound"}
    again = cli("predict", tiny, "--profile", str(profile_file), "-f", "json")
    assert again.stdout == r.stdout  # byte-identical


def test_predict_table_and_layers(cli, tiny, profile_file) -> None:
    r = cli("predict", tiny, "--profile", str(profile_file), "--by", "layer", columns=100)
    assert r.exit_code == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "conv" in text and "compute" in text and "nothing was run" in text
    assert "predicted: the fastest forward pass, as bench's min ms" in text
    several = cli("predict", tiny, "mobilenet", "--profile", str(profile_file))
    assert several.exit_code == 2  # mobilenet has depthwise and 1x1 convolutions this profile lacks
    assert "has no numbers for: depthwise conv" in several.stderr


def test_predict_checks_the_profile_settings(cli, tiny, profile_file) -> None:
    r = cli("predict", tiny, "--profile", str(profile_file), "--batch", "8")
    assert r.exit_code == 2
    assert r.stderr.strip().endswith("the profile was calibrated with batch 1, not 8: run `shufflecalc calibrate "
                                     "--batch 8` for a profile of that setting")
    assert cli("predict", tiny, "--profile", str(profile_file), "--threads", "1", "--dtype", "float32").exit_code == 0
    assert cli("predict", tiny, "--profile", str(profile_file), "--dtype", "bfloat16").exit_code == 2


def test_predict_roofline_plot(cli, tiny, profile_file, tmp_path: Path) -> None:
    plot = tmp_path / "roofline.png"
    r = cli("predict", tiny, "--profile", str(profile_file), "--plot", str(plot))
    assert r.exit_code == 0, r.stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli("predict", tiny, "--profile", str(profile_file), "--plot", str(plot)).exit_code == 2  # no --force


def test_compare_predicted(cli, tiny, profile_file) -> None:
    r = cli("compare", tiny, tiny, "--predicted", str(profile_file), "-f", "json")
    assert r.exit_code == 0, r.stderr
    models = r.json()["models"]
    assert models[0]["predicted_ms"] == pytest.approx(0.007 + 6 * 0.0005 + sum(HAND_MS.values()), rel=1e-5)
    assert models[1]["ratio_to_first"]["predicted_ms"] == 1.0
    table = cli("compare", tiny, tiny, "--predicted", str(profile_file), columns=200)
    assert "predicted latency, batch 1 (ms)" in table.stdout
    assert "predicted latency: the fastest forward pass (as bench's min ms)" in table.stdout


def test_budget_predicted_latency(cli, tiny, profile_file, tmp_path: Path) -> None:
    total = 0.007 + 6 * 0.0005 + sum(HAND_MS.values())  # 0.0994... ms
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(f"budgets:\n  - model: tiny.yaml\n    max_predicted_latency_ms: {{profile: cpu.json, value: "
                       f"{total * 1.01:.6f}}}\n")
    r = cli("check", str(budgets), "-f", "json")
    assert r.exit_code == 0, r.stderr
    (limit,) = r.json()["models"][0]["limits"]
    assert (limit["metric"], limit["status"]) == ("predicted_latency_ms", "PASS")
    assert limit["value"] == pytest.approx(total, rel=1e-9)
    budgets.write_text(f"budgets:\n  - model: tiny.yaml\n    max_predicted_latency_ms: {{profile: cpu.json, value: "
                       f"{total * 0.99:.6f}}}\n")
    failed = cli("check", str(budgets))
    assert failed.exit_code == 1
    assert "FAIL" in failed.stdout
    markdown = cli("check", str(budgets), "-f", "markdown")  # the failure message says what was predicted
    assert f"predicted latency {total:.2f} ms (the fastest call, Test CPU (cpu)" in markdown.stdout


@pytest.mark.parametrize("limit, message", [
    ("40", "needs the device profile"),
    ("{value: 40}", "missing 'profile'"),
    ("{profile: cpu.json}", "missing 'value'"),
    ("{profile: cpu.json, value: -1}", "expected a positive number"),
    ("{profile: nope.json, value: 1}", "no such profile file"),
    ("{profile: cpu.json, value: 1, device: cpu}", "unknown key 'device'"),
])
def test_budget_predicted_latency_errors(cli, tiny, profile_file, tmp_path: Path, limit: str, message: str) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(f"budgets:\n  - model: tiny.yaml\n    max_predicted_latency_ms: {limit}\n")
    r = cli("check", str(budgets))
    assert r.exit_code == 2
    assert len(r.stderr.splitlines()) == 1
    assert "budgets.yaml:3" in r.stderr and message in r.stderr


def test_predict_without_torch(tiny, profile_file, tmp_path: Path) -> None:
    """predict, compare --predicted and the budget limit run with torch and fvcore unimportable."""
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n  - model: tiny.yaml\n    max_predicted_latency_ms: {profile: cpu.json, value: 1}\n")
    block = tmp_path / "block"
    block.mkdir()
    env = blocked_env(block)
    for args in (["predict", tiny, "--profile", str(profile_file)],
                 ["compare", tiny, "--predicted", str(profile_file)],
                 ["check", str(budgets)]):
        r = subprocess.run([sys.executable, "-m", "shufflecalc", *args], cwd=ROOT, env=env, capture_output=True,
                           text=True)
        assert r.returncode == 0, (args, r.stderr)


def test_docs_ci_example_checks(cli, tmp_path: Path) -> None:
    """docs/ci.md's predicted-latency budget, with the profile this project's machine made, is checked without the
    device: one count limit and one predicted limit, both met."""
    import re

    text = (ROOT / "docs" / "ci.md").read_text()
    start = text.index("## Predicted latency limits")
    block = re.search(r"```yaml\n(.*?)```", text[start:], re.S).group(1)
    (tmp_path / "budgets.yaml").write_text(block)
    (tmp_path / "cpu.json").write_bytes((ROOT / "benchmarks" / "results" /
                                         "predict-cpu-amd-epyc-profile.json").read_bytes())
    r = cli("check", str(tmp_path / "budgets.yaml"), "-f", "json")
    assert r.exit_code == 0, r.stderr  # shufflenet g=3: 137,460,672 MACs and 13.4 ms predicted on this machine
    limits = r.json()["models"][0]["limits"]
    assert [limit["key"] for limit in limits] == ["max_macs", "max_predicted_latency_ms"]
    assert limits[1]["profile"].endswith("cpu.json") and limits[1]["value"] > 0


def test_a_profile_that_is_not_a_regular_file(tmp_path: Path) -> None:
    """A directory or a FIFO is refused in one line, without waiting on a reader."""
    with pytest.raises(ShufflecalcError, match="is a directory"):
        load_profile(tmp_path)
    fifo = tmp_path / "cpu.json"
    os.mkfifo(fifo)
    with pytest.raises(ShufflecalcError, match="not a regular file"):
        load_profile(fifo)
