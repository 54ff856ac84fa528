"""Sweeps: comma lists and ranges, the cartesian product, invalid rows with their reason, sorting, columns, and the
`shufflecalc sweep` command in every format. Numbers are checked against `analyze` (itself checked against the
papers in test_cost.py) and against values written out from the papers."""

from __future__ import annotations

import csv
import io

import pytest

from shufflecalc.analysis.cost import ALL_METRICS, analyze
from shufflecalc.analysis.sweep import (
    Point,
    collect,
    evaluate,
    known_columns,
    parse_columns,
    parse_values,
    plan,
    run,
    sort_rows,
)
from shufflecalc.errors import ShufflecalcError
from shufflecalc.report.sweep import sweep_json, sweep_table
from shufflecalc.spec.load import load_spec

G = [1, 2, 3, 4, 8]
WIDTHS = [0.25, 0.5, 1.0, 1.5, 2.0]


def test_parse_values() -> None:
    assert parse_values("1,2, 3,8", "--g") == ["1", "2", "3", "8"]
    assert parse_values("160:224:32", "--resolution") == ["160", "192", "224"]
    assert parse_values("0.25:1:0.25", "--width") == ["0.25", "0.5", "0.75", "1"]
    assert parse_values("1,1,2", "--g") == ["1", "2"]  # duplicates once
    assert parse_values("128,160:192:32", "--resolution") == ["128", "160", "192"]
    for bad in ("1,,2", "a:b:c", "10:1:1", "1:2:0"):
        with pytest.raises(ShufflecalcError):
            parse_values(bad, "--g")


@pytest.mark.parametrize("bad, message", [
    ("1:inf:1", "finite"), ("1:nan:1", "finite"), ("nan:3:1", "finite"), ("1:3:-Infinity", "finite"),
    ("1:3:snan", "finite"), ("-inf:1:1", "finite"), ("1:1e999999999:1", "out of range"),
    ("1:2:1e-30", "too many"), ("0:1e300:1", "too many"),
])
def test_parse_values_rejects_non_finite_and_huge_ranges(bad: str, message: str) -> None:
    with pytest.raises(ShufflecalcError, match=message):
        parse_values(bad, "--g")


def test_plan_is_the_cartesian_product_first_axis_outermost() -> None:
    spec = load_spec("shufflenet")
    points = plan([spec], [{"g": ["1", "8"], "width": ["0.5", "1"]}])
    assert [dict(p.values) for p in points] == [
        {"g": "1", "width": "0.5"}, {"g": "1", "width": "1"}, {"g": "8", "width": "0.5"}, {"g": "8", "width": "1"},
    ]


def test_rows_match_analyze_for_every_g_and_width() -> None:
    spec = load_spec("shufflenet")
    axes = {"g": [str(g) for g in G], "width": [str(w) for w in WIDTHS]}
    sweep = collect(list(axes), run(plan([spec], [axes])))
    assert sweep.total == len(sweep.rows) == 25 and sweep.invalid == 0
    for row in sweep.rows:
        a = analyze("shufflenet", g=row.values["g"], width=row.values["width"])
        assert row.metrics == a.metrics()
        assert row.config == dict(a.config)
    by_config = {(r.values["g"], r.values["width"]): r.metrics["macs"] for r in sweep.rows}
    assert by_config[(3, 1.0)] == 137_460_672  # the README's compare example
    assert by_config[(3, 2.0)] == 524_045_184  # published: 524M (ShuffleNet paper, 2x g=3)
    assert by_config[(3, 1.5)] == 292_443_552  # published: 292M


def test_without_classifier_metrics() -> None:
    a = analyze("shufflenet", g=3)
    values = evaluate(Point(load_spec("shufflenet"), {"g": 3})).metrics
    # FC of ShuffleNet 1x g=3: 960 inputs x 1000 outputs, no bias
    assert values["macs"] - values["macs_without_classifier"] == 960_000
    assert a.params - values["params_without_classifier"] == 960_000
    assert round(values["macs_without_classifier"] / 1e6) == 137  # Table 1, g=3


def test_invalid_configurations_are_rows_with_the_reason() -> None:
    row = evaluate(plan([load_spec("shufflenet")], [{"g": ["5"]}])[0])
    assert not row.valid and row.metrics is None
    assert row.error == "shufflenet: parameter g: 5 is not one of 1, 2, 3, 4, 8"


def test_invalid_divisibility_in_a_user_spec(write_spec) -> None:
    path = write_spec(
        "params:\n  g: {type: int, default: 1}\ninput: [24, 8, 8]\n"
        "layers:\n  - {op: conv2d, name: pw, out: 48, kernel: 1, groups: g}\n"
    )
    spec = load_spec(path)
    sweep = collect(["g"], run(plan([spec], [{"g": ["1", "5", "8"]}])))
    assert [r.valid for r in sweep.rows] == [True, False, True]
    assert "not divisible" in sweep.rows[1].error and sweep.invalid == 1
    assert sweep.rows[0].metrics["macs"] == 24 * 48 * 8 * 8  # 1x1 conv: Cin * Cout * H * W
    assert sweep.rows[2].metrics["macs"] == 24 * 48 * 8 * 8 // 8  # grouped: / g
    dropped = collect(["g"], run(plan([spec], [{"g": ["1", "5", "8"]}])), skip_invalid=True)
    assert len(dropped.rows) == 2 and dropped.invalid == 1 and dropped.total == 3


def test_sort_and_columns() -> None:
    spec = load_spec("shufflenet")
    sweep = collect(["g"], run(plan([spec], [{"g": ["1", "2", "3", "5", "8"]}])))
    sort_rows(sweep, "macs")
    assert [r.values["g"] for r in sweep.rows] == [3, 8, 2, 1, "5"]  # invalid last
    sort_rows(sweep, "-macs")
    assert [r.values["g"] for r in sweep.rows] == [1, 2, 8, 3, "5"]  # invalid still last
    sort_rows(sweep, "-g")
    assert [r.values["g"] for r in sweep.rows][:4] == [8, 3, 2, 1]
    assert sweep.default_columns() == ["model", "g", "macs", "flops", "fvcore_flops", "params", "activations",
                                       "memory_access", "error"]
    assert parse_columns("g, macs,params", ["g"]) == ["g", "macs", "params"]
    assert parse_columns(None, ["g"]) is None
    with pytest.raises(ShufflecalcError, match="unknown column 'width'"):
        parse_columns("width", ["g"])
    with pytest.raises(ShufflecalcError, match="--sort: unknown column"):
        sort_rows(sweep, "speed")
    assert "macs_without_classifier" in known_columns(["g"])


def test_table_and_json_of_a_multi_model_sweep() -> None:
    specs = [load_spec("mobilenet"), load_spec("shufflenet")]
    axes = {"width": ["0.3", "0.5"]}
    sweep = collect(["width"], run(plan(specs, [axes, axes])))
    t = sweep_table(sweep, sweep.default_columns())
    assert [r["width"] for r in t.rows] == ["0.3", "0.5", "0.3", "0.5"]
    assert t.rows[2]["error"].startswith("shufflenet: parameter width: 0.3") and t.rows[2]["macs"] is None
    assert t.rows[1]["macs"] == 149_497_088  # MobileNet 0.5: published 149M (MobileNet Table 6)
    data = sweep_json(sweep, axes)
    assert data["sweep"] == {"models": ["mobilenet", "shufflenet"], "params": {"width": ["0.3", "0.5"]},
                             "configurations": 4, "invalid": 1}
    assert data["rows"][2] == {"model": "shufflenet", "spec": "shufflenet", "valid": False,
                               "config": {"width": "0.3"},
                               "error": "shufflenet: parameter width: 0.3 is not one of 0.25, 0.5, 1.0, 1.5, 2.0"}
    assert data["rows"][1]["config"]["width"] == 0.5 and data["rows"][1]["error"] is None


# --- the command ------------------------------------------------------------------------------------------------------


def test_sweep_csv_every_g_and_width(cli) -> None:
    r = cli("sweep", "shufflenet", "--g", "1,2,3,4,8", "--width", "0.25,0.5,1,1.5,2", "-f", "csv")
    assert r.exit_code == 0 and r.stderr == ""
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 25
    assert list(rows[0]) == ["model", "g", "width", "macs", "flops", "fvcore_flops", "params", "activations",
                             "memory_access"]
    for row in rows:
        a = analyze("shufflenet", g=int(row["g"]), width=float(row["width"]))
        assert int(row["macs"]) == a.macs and int(row["flops"]) == 2 * a.macs and int(row["params"]) == a.params


def test_sweep_table_invalid_rows_and_skip(cli) -> None:
    r = cli("sweep", "mobilenet", "shufflenet", "--width", "0.3,1", "--resolution", "160,224")
    assert r.exit_code == 0
    assert "invalid: reason" in r.stdout and "0.3 is not one of 0.25, 0.5, 1.0, 1.5, 2.0" in r.stdout
    assert "8 configurations, 2 invalid." in r.stdout and "MACs (conv+linear)" in r.stdout
    assert "568.74M" in r.stdout and "290.68M" in r.stdout  # MobileNet 224 / 160: published 569M / 290M (Table 7)
    r = cli("sweep", "mobilenet", "shufflenet", "--width", "0.3,1", "--skip-invalid", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(row["model"], row["width"]) for row in rows] == [("mobilenet", "0.3"), ("mobilenet", "1.0"),
                                                              ("shufflenet", "1.0")]
    assert "error" not in rows[0]


def test_sweep_sort_and_columns(cli) -> None:
    r = cli("sweep", "shufflenet", "--g", "1,2,3,4,8", "--sort", "-macs", "--columns", "g,macs_without_classifier",
            "-f", "csv")
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["g", "macs_without_classifier"]
    # Table 1 (FC excluded): g = 1, 2, 8, 3, 4 -> 143, 140, 137, 137, 133 MFLOPs, in descending order
    assert [row["g"] for row in rows] == ["1", "2", "8", "3", "4"]
    assert [round(int(row["macs_without_classifier"]) / 1e6) for row in rows] == [143, 140, 137, 137, 133]


def test_sweep_json_and_set(cli) -> None:
    r = cli("sweep", "shufflenet", "--set", "shuffle=true,false", "--g", "3", "-f", "json")
    data = r.json()
    assert [row["config"]["shuffle"] for row in data["rows"]] == [True, False]
    assert data["rows"][0]["macs"] == data["rows"][1]["macs"] == 137_460_672  # a shuffle costs no MACs
    assert set(data["conventions"]) >= {"macs", "flops", "fvcore_flops", "params", "activations", "memory_access"}


@pytest.mark.parametrize("extra", [[], ["--columns", "g,macs"], ["--sort", "macs"]])
def test_sweep_json_always_has_every_metric(cli, extra: list[str]) -> None:
    r = cli("sweep", "shufflenet", "--g", "3,8", "-f", "json", *extra)
    assert r.exit_code == 0, r.stderr
    for row in r.json()["rows"]:
        expected = analyze("shufflenet", g=row["config"]["g"]).to_dict(layers=False)
        assert {k: row[k] for k in ALL_METRICS} == {k: expected[k] for k in ALL_METRICS}
    # ShuffleNet Table 1 (FC excluded): g=3 137 MFLOPs; the FC of 1x g=3 is 960 x 1000
    g3 = r.json()["rows"][0] if r.json()["rows"][0]["config"]["g"] == 3 else r.json()["rows"][1]
    assert g3["macs"] - g3["macs_without_classifier"] == 960_000
    assert round(g3["macs_without_classifier"] / 1e6) == 137


@pytest.mark.parametrize("args, message", [
    (["sweep", "mobilenet", "--g", "1,2"], "parameter 'g' is not declared by any of: mobilenet"),
    (["sweep", "shufflenet", "--g", "1,,2"], "empty value in the comma list"),
    (["sweep", "shufflenet", "--g", "1:inf:1"], "--g 1:inf:1: a range needs finite numbers"),
    (["sweep", "shufflenet", "--g", "nan:3:1"], "--g nan:3:1: a range needs finite numbers"),
    (["sweep", "shufflenet", "--sort", "speed"], "--sort: unknown column 'speed'"),
    (["sweep", "shufflenet", "--columns", "g"], "--columns: unknown column 'g'"),
    (["sweep", "shufflenet", "--g", "5,7", "--skip-invalid"], "all 2 configurations are invalid, e.g. shufflenet: "
                                                              "parameter g: 5 is not one of"),
    (["sweep", "shufflenet", "--g", "1", "--set", "g=2"], "'g' is already given by --g"),
    (["sweep", "shufflenet", "--set", "g=1", "--set", "g=2"], "--set g=...: 'g' is already given by an earlier --set"),
])
def test_sweep_bad_input(cli, args: list[str], message: str) -> None:
    r = cli(*args)
    assert r.exit_code == 2 and r.stdout == ""
    assert message in r.stderr and r.stderr.count("\n") == 1


def test_sweep_of_a_thousand_configurations(cli) -> None:
    r = cli("sweep", "shufflenet", "--g", "1,2,3,4,8", "--width", "0.25,0.5,1,1.5,2", "--resolution", "160:316:4",
            "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1000
    row = next(x for x in rows if (x["g"], x["width"], x["resolution"]) == ("3", "1.0", "224"))
    assert int(row["macs"]) == 137_460_672
    assert r.stderr == ""  # no progress bar when stderr is not a terminal


def test_a_sweep_that_cannot_finish_in_a_minute_is_refused_up_front(cli, monkeypatch) -> None:
    """Too many configurations, or configurations times layers beyond MAX_LAYER_EVALUATIONS: one line, exit 2, before
    the work (the first one used to run for 22 minutes at 6 GB)."""
    from shufflecalc.analysis import sweep

    r = cli("sweep", "mobilenet", "--resolution", "32:1000030:1")
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1
    assert f"more than {sweep.MAX_CONFIGURATIONS:,} values" in r.stderr
    monkeypatch.setattr(sweep, "MAX_LAYER_EVALUATIONS", 10_000)
    layers = len(analyze("resnet50", resolution=64).graph.layers)
    r = cli("sweep", "resnet50", "--resolution", "64:163:1")  # 100 configurations
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1
    assert f"100 configurations of resnet50 x {layers:,} layers each is more than 10,000" in r.stderr
    assert 100 * layers > 10_000


def test_the_size_check_counts_each_spec_by_its_own_layers(monkeypatch) -> None:
    from shufflecalc.analysis import sweep

    monkeypatch.setattr(sweep, "MAX_LAYER_EVALUATIONS", 100)
    small = load_spec("mobilenet")
    layers = len(analyze("mobilenet").graph.layers)
    fits = plan([small], [{"resolution": ["224"]}])
    assert len(list(run(fits))) == 1 and layers <= 100
    too_many = plan([small], [{"resolution": [str(r) for r in range(200, 200 + 100 // layers + 1)]}])
    with pytest.raises(ShufflecalcError, match="layer evaluations"):
        list(run(too_many))
