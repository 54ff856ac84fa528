"""Paper tables: the built-in definitions carry the papers' numbers (written out here from the papers, with sources),
every computed cell is the engine's, every difference is (computed - published) / published; the file format is
validated with file:line and YAML path; `shufflecalc table` in its formats."""

from __future__ import annotations

import csv
import io
import os

import pytest

from shufflecalc.analysis.cost import ALL_METRICS, analyze
from shufflecalc.analysis.tables import (
    CONTEXT_KEYS,
    METRIC_KEYS,
    ROW_KEYS,
    TABLE_KEYS,
    builtin_tables,
    compute,
    load_table,
)
from shufflecalc.errors import ShufflecalcError
from shufflecalc.report.tables import table_json, table_plot, table_tabular

from ..conftest import ROOT

M = 1_000_000

# (model, config) -> published values, in millions, as printed in the papers (shared/reference/papers.md).
SHUFFLENET_TABLE1 = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}  # ShuffleNet Table 1, MFLOPs without FC, 1x
SHUFFLENET_TABLE2 = {0.25: 13, 0.5: 38, 1.0: 140}  # ShuffleNet Table 2, complexity per width (every g)
SHUFFLENET_TOP1 = {  # ShuffleNet Table 2, top-1 error % for g = 1, 2, 3, 4, 8
    1.0: [33.6, 32.7, 32.6, 32.8, 32.4], 0.5: [45.1, 44.4, 43.2, 41.6, 42.3], 0.25: [57.1, 56.8, 55.0, 54.2, 52.7],
}
SHUFFLENET_REFERENCE = {  # authors' reference implementation: (width, g) -> (MACs, params) in millions
    (2.0, 3): (524, 5.4), (2.0, 8): (522, 6.5), (1.5, 3): (292, 3.4), (1.5, 8): (290, 4.3), (1.0, 3): (138, 1.9),
    (1.0, 8): (138, 2.4), (0.5, 3): (38, 0.7), (0.5, 8): (40, 1.0),
}
MOBILENET_TABLE6 = {1.0: (569, 4.2), 0.75: (325, 2.6), 0.5: (149, 1.3), 0.25: (41, 0.5)}  # MobileNet Table 6
MOBILENET_TABLE7 = {224: 569, 192: 418, 160: 290, 128: 186}  # MobileNet Table 7, width 1.0
SHUFFLENET_TABLE5 = [  # ShuffleNet Table 5: (MobileNet width, MFLOPs) vs (ShuffleNet width, g, MFLOPs)
    ((1.0, 569), (2.0, 3, 524)), ((0.75, 325), (1.5, 3, 292)), ((0.5, 149), (1.0, 8, 140)), ((0.25, 41), (0.5, 4, 38)),
]


def rows_of(name: str) -> list:
    table = load_table(name)
    return compute(table)


def test_builtin_tables() -> None:
    assert builtin_tables() == ["mobilenet-width-resolution", "shufflenet-table1", "shufflenet-vs-mobilenet",
                                "shufflenet-widths"]


@pytest.mark.parametrize("name", ["mobilenet-width-resolution", "shufflenet-table1", "shufflenet-vs-mobilenet",
                                  "shufflenet-widths"])
def test_computed_cells_are_the_engines_and_differences_are_exact(name: str) -> None:
    for r in rows_of(name):
        a = analyze(r.row.spec.name, r.row.config)
        for key, value in r.computed.items():
            expected = a.macs - a.classifier.macs if key == "macs_without_classifier" else getattr(a, key)
            assert value == expected, (r.row.label, key)
        assert set(r.diff_percent) == set(r.row.published)
        for key, published in r.row.published.items():
            assert r.diff_percent[key] == round(100 * (r.computed[key] - published) / published, 4)


def test_shufflenet_table1() -> None:
    results = rows_of("shufflenet-table1")
    assert [r.row.config["g"] for r in results] == [1, 2, 3, 4, 8]
    for r in results:
        g = r.row.config["g"]
        assert r.row.published == {"macs_without_classifier": SHUFFLENET_TABLE1[g] * M}
        assert round(r.computed["macs_without_classifier"] / M) == SHUFFLENET_TABLE1[g]
        assert r.computed["macs"] > r.computed["macs_without_classifier"]  # "with FC" shown too
        assert abs(r.diff_percent["macs_without_classifier"]) < 0.5


def test_shufflenet_widths() -> None:
    results = rows_of("shufflenet-widths")
    assert len(results) == 25
    seen = set()
    for r in results:
        width, g = r.row.config["width"], r.row.config["g"]
        seen.add((width, g))
        if width in SHUFFLENET_TABLE2:
            assert r.row.published["macs"] == SHUFFLENET_TABLE2[width] * M
            assert r.row.context["top1_error"] == SHUFFLENET_TOP1[width][[1, 2, 3, 4, 8].index(g)]
        if (width, g) in SHUFFLENET_REFERENCE:
            macs, params = SHUFFLENET_REFERENCE[(width, g)]
            assert r.row.published["params"] == round(params * M)
            assert round(r.computed["params"] / M, 1) == params
            assert abs(r.computed["macs"] / M - macs) < 1  # 1.0x g=3: 137.46M against the code's 138M
            if width >= 1.5:
                assert r.row.published["macs"] == macs * M
    assert seen == {(w, g) for w in (0.25, 0.5, 1.0, 1.5, 2.0) for g in (1, 2, 3, 4, 8)}


def test_shufflenet_vs_mobilenet() -> None:
    results = rows_of("shufflenet-vs-mobilenet")
    assert len(results) == 8
    for (mob, shuf), (m, s) in zip(SHUFFLENET_TABLE5, zip(results[::2], results[1::2], strict=False), strict=False):
        assert m.row.spec.name == "mobilenet" and m.row.config["width"] == mob[0]
        assert m.row.published["macs"] == mob[1] * M
        assert m.row.published["params"] == round(MOBILENET_TABLE6[mob[0]][1] * M)
        assert s.row.spec.name == "shufflenet" and (s.row.config["width"], s.row.config["g"]) == shuf[:2]
        assert s.row.published["macs"] == shuf[2] * M
        assert m.row.group == s.row.group  # a pair
        assert abs(m.diff_percent["macs"]) < 0.5 and abs(s.diff_percent["macs"]) < 1.5


def test_mobilenet_width_resolution() -> None:
    results = rows_of("mobilenet-width-resolution")
    table6 = [r for r in results if r.row.group == "Table 6"]
    table7 = [r for r in results if r.row.group == "Table 7"]
    assert [r.row.config["width"] for r in table6] == [1.0, 0.75, 0.5, 0.25]
    assert [r.row.config["resolution"] for r in table7] == [224, 192, 160, 128]
    for r in table6:
        macs, params = MOBILENET_TABLE6[r.row.config["width"]]
        assert r.row.published == {"macs": macs * M, "params": round(params * M)}
        assert round(r.computed["macs"] / M) == macs and round(r.computed["params"] / M, 1) == params
    for r in table7:
        assert r.row.published == {"macs": MOBILENET_TABLE7[r.row.config["resolution"]] * M}
        assert abs(r.diff_percent["macs"]) < 0.5
    assert {r.computed["params"] for r in table7} == {4_231_976}


def test_tabular_json_and_plot_data() -> None:
    table = load_table("shufflenet-table1")
    results = compute(table)
    t = table_tabular(table, results)
    keys = [c.key for c in t.columns]
    assert keys == ["model", "config", "macs_without_classifier_published", "macs_without_classifier",
                    "macs_without_classifier_diff_percent", "macs", "params"]
    assert t.rows[0]["macs_without_classifier_published"] == 143 * M
    data = table_json(table, results)
    assert data["rows"][2]["published"] == {"macs_without_classifier": 137 * M}
    assert data["rows"][2]["computed"]["macs_without_classifier"] == 136_500_672
    assert data["rows"][2]["config"]["g"] == 3 and data["rows"][2]["config"]["shuffle"] is True
    plot = table_plot(table, results)
    computed = [p for p in plot.points if not p.published]
    published = [p for p in plot.points if p.published]
    assert [p.macs for p in computed] == [r.computed["macs_without_classifier"] for r in results]
    assert [p.macs for p in published] == [v * M for v in SHUFFLENET_TABLE1.values()]
    assert "without the classifier" in plot.macs_label


# --- the file format -----------------------------------------------------------------------------------------------

GOOD = """\
title: my table
metrics:
  - {key: macs, unit: M}
context:
  - {key: note}
rows:
  - {label: tiny, model: tiny.yaml, config: {g: 2}, published: {macs: 0.2}, context: {note: hello}}
  - {model: shufflenet, config: {g: 8}}
"""

TINY = """\
params:
  g: {type: int, default: 1}
input: [24, 8, 8]
layers:
  - {op: conv2d, name: pw, out: 48, kernel: 1, groups: g}
"""


@pytest.fixture
def table_dir(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    return tmp_path


def test_user_table_with_a_spec_next_to_it(table_dir, cli) -> None:
    path = table_dir / "mine.yaml"
    path.write_text(GOOD)
    table = load_table(str(path))
    results = compute(table)
    assert results[0].computed["macs"] == 24 * 48 * 8 * 8 // 2  # 1x1 group conv, g = 2
    assert results[0].row.published["macs"] == 200_000
    assert results[0].diff_percent["macs"] == round(100 * (36_864 - 200_000) / 200_000, 4)
    assert results[1].row.label == "shufflenet g=8"
    r = cli("table", str(path), "-f", "csv")
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows[0]["macs"] == "36864" and rows[0]["macs_published"] == "200000" and rows[0]["note"] == "hello"
    assert rows[1]["macs"] == str(analyze("shufflenet", g=8).macs)


@pytest.mark.parametrize("text, where, message", [
    (GOOD.replace("title:", "titel:"), ":1 titel", "unknown key 'titel'"),
    (GOOD.replace("model: shufflenet", "model: nosuchnet"), ":8 rows[1].model", "unknown spec 'nosuchnet'"),
    (GOOD.replace("model: tiny.yaml", "model: missing.yaml"), ":7 rows[0].model", "no such spec file"),
    (GOOD.replace("{g: 8}", "{g: 5}"), ":8 rows[1].config.g", "shufflenet: parameter g: 5 is not one of"),
    (GOOD.replace("{g: 8}", "{h: 5}"), ":8 rows[1].config.h", "unknown parameter 'h'"),
    (GOOD.replace("key: macs", "key: speed"), ":3 metrics[0].key", "unknown metric 'speed'"),
    (GOOD.replace("unit: M", "unit: X"), ":3 metrics[0].unit", "unit must be one of 1, K (or k), M, G"),
    (GOOD.replace("unit: M", "unit: 1.0"), ":3 metrics[0].unit", "unit must be one of 1, K (or k), M, G, got 1.0"),
    (GOOD.replace("unit: M", "unit: true"), ":3 metrics[0].unit", "unit must be one of 1, K (or k), M, G, got True"),
    (GOOD.replace("unit: M", "unit: [M]"), ":3 metrics[0].unit", "unit must be one of 1, K (or k), M, G, got ['M']"),
    (GOOD.replace("{macs: 0.2}", "{macs: .inf}"), ":7 rows[0].published.macs", "'.inf' is not a finite number"),
    (GOOD.replace("{macs: 0.2}", "{macs: .nan}"), ":7 rows[0].published.macs", "'.nan' is not a finite number"),
    (GOOD.replace("unit: M", "unit: 1").replace("{macs: 0.2}", "{macs: 0.1}"), ":7 rows[0].published.macs",
     "0.1 at unit 1 rounds to 0"),
    (GOOD.replace("published: {macs:", "published: {params:"), ":7 rows[0].published.params",
     "'params' is not one of the table's metrics"),
    (GOOD.replace("{macs: 0.2}", "{macs: lots}"), ":7 rows[0].published.macs", "must be a positive finite number"),
    (GOOD.replace("{note: hello}", "{other: hello}"), ":7 rows[0].context.other", "'other' is not a context column"),
    (GOOD.replace("  - {model: shufflenet, config: {g: 8}}\n", "  - {config: {g: 8}}\n"), ":8 rows[1]",
     "missing required key 'model'"),
    (GOOD.split("rows:")[0], ":1", "missing required key 'rows'"),
    (GOOD + "  - {model: shufflenet, extra: 1}\n", ":9 rows[2].extra", "unknown key 'extra'"),
    ("metrics: [\n", ":2", "malformed YAML"),
    # hostile numbers and text: one clean line at their line
    (GOOD.replace("{macs: 0.2}", "{macs: 1.0e+999}"), ":7 rows[0].published.macs", "'1.0e+999' is not a finite"),
    (GOOD.replace("{macs: 0.2}", "{macs: " + "9" * 5000 + "}"), ":7 rows[0].published.macs", "is too large"),
    (GOOD.replace("{macs: 0.2}", "{macs: 4000000000000}"), ":7 rows[0].published.macs",
     "a published value must be at most 10**18 after scaling: 4000000000000 at unit M is 4e+18"),
    (GOOD.replace("{macs: 0.2}", "{macs: !!float x}"), ":7 rows[0].published.macs", "cannot read 'x' as a number"),
    (GOOD.replace("{note: hello}", "{note: .nan}"), ":7 rows[0].context.note", "'.nan' is not a finite number"),
    (GOOD.replace("{note: hello}", "{note: 1:30}"), ":7 rows[0].context.note", "base-60 number"),
    (GOOD.replace("{note: hello}", '{note: "\\e[31mred"}'), ":7 rows[0].context.note",
     "text must not hold the control character \\x1b"),
])
def test_invalid_table_files(table_dir, cli, text: str, where: str, message: str) -> None:
    path = table_dir / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ShufflecalcError) as exc:
        compute(load_table(str(path)))
    assert str(exc.value).startswith(f"{path}{where}"), str(exc.value)
    assert message in str(exc.value)
    r = cli("table", str(path))
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and message in r.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_a_fifo_is_refused_as_a_table(table_dir, cli) -> None:
    fifo = table_dir / "fifo.yaml"
    os.mkfifo(fifo)
    r = cli("table", str(fifo))
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"shufflecalc: error: {fifo}: not a regular file (a FIFO)\n")


def test_published_values_are_exact_and_rounded_half_up(table_dir) -> None:
    path = table_dir / "ok.yaml"
    path.write_text(GOOD.replace("unit: M", "unit: K").replace("{macs: 0.2}", "{macs: 0.0015}"))
    assert load_table(str(path)).rows[0].published["macs"] == 2  # 1.5 -> 2
    path.write_text(GOOD.replace("{macs: 0.2}", "{macs: 1.1}"))
    assert load_table(str(path)).rows[0].published["macs"] == 1_100_000  # not 1_100_000.0000000002


@pytest.mark.parametrize("unit", ["k", "K"])
def test_a_table_unit_is_spelled_as_a_budget_count(table_dir, unit: str) -> None:
    from shufflecalc.units import parse_count

    path = table_dir / "ok.yaml"
    path.write_text(GOOD.replace("unit: M", f"unit: {unit}").replace("{macs: 0.2}", "{macs: 150}"))
    assert load_table(str(path)).rows[0].published["macs"] == 150_000 == parse_count(f"150{unit}", ShufflecalcError)


def test_a_configuration_that_does_not_build_points_at_the_row(table_dir) -> None:
    path = table_dir / "bad.yaml"
    path.write_text(GOOD.replace("config: {g: 2}", "config: {g: 5}"))
    with pytest.raises(ShufflecalcError) as exc:
        compute(load_table(str(path)))
    assert str(exc.value).startswith(f"{path}:7 rows[0]: tiny: ") and "divisible" in str(exc.value)


# --- the command ---------------------------------------------------------------------------------------------------


def test_table_list(cli) -> None:
    r = cli("table", "--list")
    assert r.exit_code == 0
    for name in builtin_tables():
        assert name in r.stdout
    data = cli("table", "--list", "-f", "json").json()
    assert [t["name"] for t in data["tables"]] == builtin_tables()
    assert {t["name"]: t["rows"] for t in data["tables"]}["shufflenet-widths"] == 25


def test_table_terminal_output(cli) -> None:
    r = cli("table", "shufflenet-table1")
    assert r.exit_code == 0 and r.stderr == ""
    assert "MACs without FC, paper" in r.stdout and "MACs without FC, computed" in r.stdout
    assert "Δ vs paper" in r.stdout and "143M" in r.stdout and "142.50M" in r.stdout and "-0.3%" in r.stdout
    assert "MACs (conv+linear), computed" in r.stdout  # with FC


@pytest.mark.parametrize("fmt", ["markdown", "latex", "html"])
def test_table_document_formats(cli, fmt: str) -> None:
    r = cli("table", "shufflenet-vs-mobilenet", "-f", fmt)
    assert r.exit_code == 0
    assert "569M" in r.stdout and "568.74M" in r.stdout and "524M" in r.stdout and "524.05M" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["table"], "give a table name or file"),
    (["table", "nosuch"], "unknown table 'nosuch'"),
    (["table", "nosuch.yaml"], "nosuch.yaml: no such table file"),
    (["table", "shufflenet-table1", "--list"], "--list takes no table name"),
])
def test_table_bad_input(cli, args: list[str], message: str) -> None:
    r = cli(*args)
    assert r.exit_code == 2 and message in r.stderr and r.stderr.count("\n") == 1


# --- the documentation ---------------------------------------------------------------------------------------------

DOC = (ROOT / "docs" / "tables.md").read_text()


def test_every_key_and_metric_is_documented() -> None:
    for key in TABLE_KEYS | METRIC_KEYS | CONTEXT_KEYS | ROW_KEYS | set(ALL_METRICS) | set(builtin_tables()):
        assert f"`{key}`" in DOC, key


def test_documented_example(tmp_path) -> None:
    import re

    table_text, spec_text = re.findall(r"```yaml\n(.*?)```", DOC, re.S)
    (tmp_path / "tiny.yaml").write_text(spec_text)
    (tmp_path / "my-table.yaml").write_text(table_text)
    dense, grouped = compute(load_table(str(tmp_path / "my-table.yaml")))
    assert dense.computed == {"macs": 24 * 48 * 8 * 8, "params": 24 * 48}  # 73,728 MACs, 1,152 weights
    assert grouped.computed == {"macs": 24 * 48 * 8 * 8 // 4, "params": 24 * 48 // 4}
    assert dense.diff_percent == {"macs": 0.0, "params": 0.0} and grouped.diff_percent == {"macs": 0.0}
    (tmp_path / "my-table.yaml").write_text(table_text.replace("config: {g: 4}", "config: {g: 5}"))
    with pytest.raises(ShufflecalcError) as exc:
        load_table(str(tmp_path / "my-table.yaml"))
    shown = re.search(r"\n    (my-table\.yaml:\d+ .*)\n", DOC).group(1)
    assert str(exc.value) == str(tmp_path / shown)
