"""SPEC:k=v, wherever a SPEC is named: one spec at several configurations, with short, distinct labels."""

from __future__ import annotations

import pytest

from shufflecalc.analysis.cost import analyze
from shufflecalc.spec.load import split_ref


@pytest.mark.parametrize("text, expected", [
    ("shufflenet", ("shufflenet", {})),
    ("shufflenet:g=8", ("shufflenet", {"g": "8"})),
    ("shufflenet:g=8,width=0.5", ("shufflenet", {"g": "8", "width": "0.5"})),
    ("nets/my:net.yaml:g=2", ("nets/my:net.yaml", {"g": "2"})),
    ("nets/a:b.yaml", ("nets/a:b.yaml", {})),
])
def test_split_ref(text: str, expected: tuple) -> None:
    assert split_ref(text) == expected


def test_compare_one_spec_at_several_configurations(cli) -> None:
    r = cli("compare", "shufflenet:g=1", "shufflenet:g=8", "mobilenet:width=0.5", "-f", "json")
    assert r.exit_code == 0, r.stderr
    models = r.json()["models"]
    assert [(m["name"], m["config"].get("g"), m["config"].get("width")) for m in models] == [
        ("shufflenet", 1, 1.0), ("shufflenet", 8, 1.0), ("mobilenet", None, 0.5)]
    assert [m["macs"] for m in models] == [analyze("shufflenet", g=1).macs, analyze("shufflenet", g=8).macs,
                                           analyze("mobilenet", width=0.5).macs]
    table = cli("compare", "shufflenet:g=1", "shufflenet:g=8", "mobilenet:width=0.5").stdout
    header = table.splitlines()[2]
    assert "shufflenet:g=1" in header and "shufflenet:g=8 / shufflenet:g=1" in header and len(header) < 150  # was ~480


def test_global_options_apply_where_a_model_does_not_set_the_parameter(cli) -> None:
    r = cli("compare", "shufflenet:g=8", "shufflenet", "--g", "3", "--width", "0.5", "-f", "json")
    configs = [(m["config"]["g"], m["config"]["width"]) for m in r.json()["models"]]
    assert configs == [(8, 0.5), (3, 0.5)]


def test_labels_are_short_and_distinct(cli) -> None:
    header = cli("compare", "shufflenet", "shufflenet", "--g", "3").stdout.splitlines()[2]
    assert "shufflenet #2 / shufflenet" in header and len(header) < 100
    header = cli("compare", "shufflenet:g=8,width=0.5", "shufflenet:width=1.5").stdout.splitlines()[2]
    assert "shufflenet:g=8,width=0.5" in header and "shufflenet:g=3,width=1.5" in header


@pytest.mark.parametrize("args, message", [
    (("compare", "shufflenet:h=1"), "shufflenet:h=1: shufflenet has no parameter 'h' (parameters: g, width,"),
    (("compare", "shufflenet:g=1,g=2"), "shufflenet:g=1,g=2: parameter 'g' is given twice"),
    (("show", "shufflenet:g=5"), "shufflenet: parameter g: 5 is not one of 1, 2, 3, 4, 8"),
])
def test_bad_refs_are_one_line(cli, args: tuple[str, ...], message: str) -> None:
    r = cli(*args)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr


def test_every_command_that_names_a_spec_takes_its_parameters(cli, tmp_path) -> None:
    assert cli("show", "shufflenet:g=8", "-f", "json").json()["models"][0]["config"]["g"] == 8
    assert cli("explain", "shufflenet:g=8", "-f", "json").exit_code == 0
    rows = cli("sweep", "shufflenet:width=0.5", "--g", "1,8", "-f", "json").json()["rows"]
    assert [(row["config"]["g"], row["config"]["width"]) for row in rows] == [(1, 0.5), (8, 0.5)]
    budget = tmp_path / "b.yaml"
    budget.write_text("budgets:\n  - model: shufflenet:g=8,width=0.5\n    max_macs: 150M\n")
    r = cli("check", str(budget), "-f", "json")
    assert r.exit_code == 0 and r.json()["models"][0]["config"]["g"] == 8
    budget.write_text("budgets:\n  - model: shufflenet:g=8\n    config: {g: 3}\n    max_macs: 150M\n")
    r = cli("check", str(budget))
    assert r.exit_code == 2
    assert "budgets[0].config.g: 'g' is set twice: in 'model' (shufflenet:g=8) and here" in r.stderr


def test_verify_takes_a_ref(cli) -> None:
    pytest.importorskip("torch")
    r = cli("verify", "mobilenet:width=0.25,resolution=64", "-f", "json")
    assert r.exit_code == 0 and r.json()["configurations"][0]["config"]["width"] == 0.25
