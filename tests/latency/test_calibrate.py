"""`shufflecalc calibrate`: the grid covers every class a network can hold, and the profile it writes is the fit of
what it measured."""

from __future__ import annotations

import json

import pytest

from shufflecalc.analysis.predict import fit_class, predictor_class, profile_from_dict
from shufflecalc.errors import ShufflecalcError
from shufflecalc.latency.bench import BenchOptions
from shufflecalc.latency.calibrate import Case, Sample, calibrate, design, fastest, layers_of, pooled, profile_document
from shufflecalc.spec.graph import expand
from shufflecalc.spec.layers import KINDS
from shufflecalc.spec.load import builtin_names, load_spec
from shufflecalc.units import sig

# every convolution class, and with an extra pad (`same` padding, an even kernel: never 1x1) those with a window
CONV_CLASSES = {"standard conv", "grouped conv", "depthwise conv", "ungrouped 1x1 conv", "grouped 1x1 conv",
                "standard conv (padded)", "grouped conv (padded)", "depthwise conv (padded)"}


@pytest.fixture(scope="module")
def grid_classes() -> set[str]:
    return {predictor_class(layer) for layer in layers_of(design())}


def test_design_covers_every_kind(grid_classes: set[str]) -> None:
    """Every layer kind of the registry, and every convolution class, has microbenchmarks."""
    assert grid_classes == (set(KINDS) - {"conv2d"}) | CONV_CLASSES


def test_design_covers_the_built_in_specs(grid_classes: set[str]) -> None:
    for name in builtin_names():
        used = {predictor_class(layer) for layer in expand(load_spec(name)).layers}
        assert used <= grid_classes, name


def test_design_is_fixed() -> None:
    assert [c.yaml() for c in design()] == [c.yaml() for c in design()]
    assert [c.yaml() for c in design(1)] != [c.yaml() for c in design()]


CASES = [
    Case((16, 28, 28), ("{op: conv2d, name: x, out: 64, kernel: 3}",)),
    Case((32, 28, 28), ("{op: conv2d, name: x, out: 64, kernel: 3}",)),
    Case((64, 28, 28), ("{op: conv2d, name: x, out: 64, kernel: 3}",)),
    Case((8, 8, 8), ("{op: relu, name: x}",)),
    Case((64, 28, 28), ("{op: relu, name: x}",)),
    Case((256, 28, 28), ("{op: relu, name: x}",)),
]


def test_calibrate_fits_what_it_measured() -> None:
    doc = calibrate(BenchOptions(device="cpu", threads=1), passes=3, cases=CASES)
    profile = profile_from_dict(doc, "cpu.json")
    env = doc["environment"]
    assert (env["device"], env["threads"], env["dtype"], env["batch"]) == ("cpu", 1, "float32", 1)
    assert set(profile.classes) == {"standard conv", "relu"}
    samples = doc["samples"]
    assert [s["class"] for s in samples] == ["standard conv"] * 3 + ["relu"] * 3
    # FLOPs by hand: 2 x 28 x 28 x 64 x cin x 9; bytes: (cin x 784 + 64 x 784 + 64 x cin x 9) x 4
    assert [s["flops"] for s in samples[:3]] == [2 * 784 * 64 * cin * 9 for cin in (16, 32, 64)]
    assert [s["bytes"] for s in samples[:3]] == [(cin * 784 + 64 * 784 + 64 * cin * 9) * 4 for cin in (16, 32, 64)]
    assert all(s["ms"] > 0 and s["warm_ms"] > 0 for s in samples)
    for cls in ("standard conv", "relu"):
        for context, key in (("classes", "ms"), ("classes_warm", "warm_ms")):
            own = [(s["flops"], s["bytes"], s[key]) for s in samples if s["class"] == cls]
            assert doc[context][cls] == fit_class(own).to_dict()
    assert set(doc["caches"]) == {"l2_bytes", "l3_bytes"}
    assert doc["forward_overhead_us"] >= 0 and doc["layer_overhead_us"] >= 0
    assert doc["passes"] == 3 and "each group run 3 times in a row" in doc["method"]


def test_a_case_time_is_the_tenth_percentile_of_its_passes() -> None:
    """Nine passes, one slowed by another tenant and one lucky: the time is between the two fastest (linear
    interpolation at 0.8 of the way), where the median would be the fifth."""
    times = [0.030, 0.010, 0.011, 0.016, 0.012, 0.013, 0.009, 0.014, 0.015]
    assert fastest(times) == pytest.approx(0.009 + 0.8 * (0.010 - 0.009))
    assert fastest([0.02, 0.01, 0.03]) == pytest.approx(0.012)
    assert fastest([0.5]) == 0.5


def test_calibrate_keeps_each_case_fastest_times(monkeypatch) -> None:
    """Every case's cold and warm time in the profile is `fastest` of its passes' times, as are the model's own
    work's timings (a spy in place of `fastest` records what it was given)."""
    import shufflecalc.latency.calibrate as module

    given: list[list[float]] = []

    def spy(times):
        given.append(list(times))
        return max(times)  # not what the median or the minimum would give

    monkeypatch.setattr(module, "fastest", spy)
    doc = calibrate(BenchOptions(device="cpu", threads=1), passes=3, cases=CASES[3:])
    per_case = [g for g in given if len(g) == 3]  # the model's own work is timed in 9 runs
    assert len(per_case) == 2 * len(CASES[3:]) and len(given) == len(per_case) + 3
    assert [(s["ms"], s["warm_ms"]) for s in doc["samples"]] == [
        (sig(max(per_case[2 * i])), sig(max(per_case[2 * i + 1]))) for i in range(len(CASES[3:]))]


ENV = {"device": "cpu", "device_name": "test CPU", "threads": 1, "dtype": "float32", "torch": "2.13.0+cpu"}


def calibration(times: list[tuple[float, float]], overheads_us: tuple[float, float]) -> dict:
    """A profile document of four relu cases with these (cold, warm) times in ms."""
    samples = [Sample("relu", "relu", f"{c}x8x8", 0, c * 512, cold, warm)
               for c, (cold, warm) in zip((8, 16, 32, 64), times, strict=True)]
    return profile_document(ENV, 1, samples, (overheads_us[0] / 1e3, overheads_us[1] / 1e3), 9,
                            {"l2_bytes": 1 << 20, "l3_bytes": 32 << 20})


def test_pooled_calibrations_take_the_median_of_each_case() -> None:
    docs = [calibration([(0.010, 0.008), (0.020, 0.015), (0.040, 0.030), (0.080, 0.060)], (2.0, 1.0)),
            calibration([(0.012, 0.009), (0.018, 0.016), (0.050, 0.020), (0.070, 0.050)], (3.0, 0.5)),
            calibration([(0.011, 0.007), (0.030, 0.014), (0.045, 0.025), (0.075, 0.070)], (2.5, 2.0))]
    doc = pooled(docs)
    assert [(s["ms"], s["warm_ms"]) for s in doc["samples"]] == [
        (0.011, 0.008), (0.020, 0.015), (0.045, 0.025), (0.075, 0.060)]
    assert (doc["forward_overhead_us"], doc["layer_overhead_us"]) == (2.5, 1.0)
    medians = [(0, c * 512, t) for c, t in zip((8, 16, 32, 64), (0.011, 0.020, 0.045, 0.075), strict=True)]
    assert doc["classes"]["relu"] == fit_class(medians).to_dict()  # fitted again on the medians
    assert doc["passes"] == 9 and doc["method"].endswith("pooled from 3 calibrations (the median of each case)")
    profile_from_dict(doc, "pooled.json")  # a profile predict reads
    other = calibration([(0.01, 0.01)] * 4, (1.0, 1.0))
    other["samples"][0]["shape"] = "9x8x8"
    with pytest.raises(ShufflecalcError, match="the same cases"):
        pooled([docs[0], other])
    other = calibration([(0.01, 0.01)] * 4, (1.0, 1.0))
    other["environment"]["threads"] = 2
    with pytest.raises(ShufflecalcError, match="must share device, threads"):
        pooled([docs[0], other])
    older = {k: v for k, v in docs[1].items() if k != "passes"}  # a profile written before pooling existed
    with pytest.raises(ShufflecalcError, match="this version of `shufflecalc calibrate`"):
        pooled([docs[0], older])
    medians = {**docs[1], "version": 1}  # each case's median over its passes: not to be pooled with fastest times
    with pytest.raises(ShufflecalcError, match="this version of `shufflecalc calibrate`"):
        pooled([docs[0], medians])


def test_calibrate_repeat_pools_its_calibrations(cli, monkeypatch) -> None:
    """`calibrate --repeat 3` runs three calibrations and writes them pooled (`pooled`, above)."""
    import shufflecalc.latency.calibrate as module

    made = [calibration([(0.010 * k, 0.008 * k)] * 4, (2.0 * k, 1.0)) for k in (1, 3, 2)]
    calls = []

    def fake(options, passes, progress):  # what calibrate would return, one calibration after another
        calls.append((options.threads, passes))
        return made[len(calls) - 1]

    monkeypatch.setattr(module, "calibrate", fake)
    r = cli("calibrate", "--threads", "1", "--passes", "5", "--repeat", "3", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert calls == [(1, 5)] * 3
    written, expected = r.json(), json.loads(json.dumps(pooled(made)))
    for doc in (written, expected):
        del doc["environment"]["created"]  # the time of writing
    assert written == expected
    assert cli("calibrate", "--repeat", "0").exit_code == 2


def test_calibrate_errors(cli) -> None:
    r = cli("calibrate", "--device", "cuda")
    assert r.exit_code == 2 and "calibrate measures CPU layers only" in r.stderr
    assert cli("calibrate", "--passes", "2").exit_code == 2
    assert cli("calibrate", "--dtype", "float64").exit_code == 2


def test_calibrate_then_predict_from_the_command_line(cli, tmp_path) -> None:
    """The whole grid (three passes per context): the profile file `calibrate -o` writes, read by `predict` for every
    built-in spec's default configuration, each prediction positive and the sum of its layers and model overheads."""
    profile = tmp_path / "cpu.json"
    r = cli("calibrate", "--threads", "1", "--passes", "3", "-o", str(profile))
    assert r.exit_code == 0, r.stderr
    assert cli("calibrate", "--threads", "1", "--passes", "3", "-o", str(profile)).exit_code == 2  # no --force
    predicted = cli("predict", *builtin_names(), "--profile", str(profile), "--threads", "1", "-f", "json")
    assert predicted.exit_code == 0, predicted.stderr
    doc = predicted.json()
    assert len(doc["models"]) == len(builtin_names())
    for model in doc["models"]:
        layers = sum(layer["predicted_ms"] for layer in model["layers"])
        assert model["predicted_ms"] > 0 and model["predicted_ms"] >= layers * (1 - 1e-5)
