"""Budget check reports: JUnit XML structure, GitHub annotations on the right lines, markdown, csv and JSON."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import pytest

from shufflecalc.analysis.budget import check, load_baseline, load_budgets
from shufflecalc.analysis.cost import analyze
from shufflecalc.report.budget import (
    annotation,
    baseline_json,
    check_json,
    csv_report,
    exact_human,
    github_report,
    junit_report,
    markdown_report,
    text_report,
)

# ShuffleNet 1x g=3: 137,460,672 MACs and 1,864,728 params (tests/analysis/test_cost.py); MobileNet 568,740,352 /
# 4,231,976.
TEXT = """\
budgets:
  - model: mobilenet
    max_macs: 600M
    max_params: 4M
    max_latency_ms: {value: 40}
  - model: shufflenet
    config: {g: 3}
    min_macs: 140M
    max_params: 2M
"""
FAILING_KEYS = {"max_params": 4, "min_macs": 8}  # key -> its line in TEXT


@pytest.fixture
def result(tmp_path: Path):
    path = tmp_path / "budgets.yaml"
    path.write_text(TEXT)
    return check(load_budgets(path))


def test_junit_xml_structure(result) -> None:
    root = ET.fromstring(junit_report(result))
    assert root.tag == "testsuites"
    (suite,) = root
    assert suite.tag == "testsuite" and suite.get("name") == result.file
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name"), c.get("line")) for c in cases] == [
        ("mobilenet", "max_macs", "3"), ("mobilenet", "max_params", "4"), ("mobilenet", "max_latency_ms", "5"),
        ("shufflenet g=3", "min_macs", "8"), ("shufflenet g=3", "max_params", "9"),
    ]
    assert all(c.get("file") == result.file for c in cases)
    failures = {c.get("name") + " " + c.get("classname"): c.find("failure")
                for c in cases if c.find("failure") is not None}
    assert set(failures) == {"max_params mobilenet", "min_macs shufflenet g=3"}
    assert failures["max_params mobilenet"].get("message") == (
        "mobilenet: params 4,231,976 exceeds max_params 4,000,000 by 5.80%")  # 231,976 / 4,000,000 = 5.7994%
    assert failures["min_macs shufflenet g=3"].get("message") == (
        "shufflenet g=3: macs 137,460,672 is below min_macs 140,000,000 by 1.81%")  # 2,539,328 / 140M = 1.8138%
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert [c.get("name") for c in skipped] == ["max_latency_ms"]
    assert skipped[0].find("skipped").get("message") == "needs --latency"
    for element in (root, suite):
        assert (element.get("tests"), element.get("failures"), element.get("skipped"), element.get("errors")) == (
            "5", "2", "1", "0")
    assert all(len(c) <= 1 for c in cases)


def test_junit_baseline_testcases(result, tmp_path: Path) -> None:
    base = json.loads(json.dumps(baseline_json(result)))
    base["models"][1]["params"] -= 10  # shufflenet grew by 10 parameters since the baseline
    path = tmp_path / "base.json"
    path.write_text(json.dumps(base))
    budgets = load_budgets(result.file)
    root = ET.fromstring(junit_report(check(budgets, baseline=load_baseline(str(path)))))
    cases = root.find("testsuite").findall("testcase")
    assert len(cases) == 5 + 2 * 8  # limits, and the eight metrics of each model against the baseline
    failing = [c for c in cases if c.find("failure") is not None and c.get("name").startswith("baseline")]
    assert [(c.get("classname"), c.get("name"), c.get("line")) for c in failing] == [
        ("shufflenet g=3", "baseline params", "6")]
    assert failing[0].find("failure").get("message") == (
        "shufflenet g=3: params grew +10 (+0.00054%) over the baseline 1,864,718 to 1,864,728, "
        "more than the allowed 0%")
    assert root.get("failures") == "3"


def test_github_annotations_point_at_the_failing_lines(result) -> None:
    out = github_report(result)
    annotations = [line for line in out.splitlines() if line.startswith("::")]
    assert len(annotations) == 2
    lines = TEXT.splitlines()
    for a in annotations:
        m = re.fullmatch(r"::error file=([^,]+),line=(\d+),title=budget exceeded%3A (\w+)::(.*)", a)
        assert m, a
        file, line, key, message = m.groups()
        assert file == result.file.replace(":", "%3A").replace(",", "%2C")
        assert int(line) == FAILING_KEYS[key] and lines[int(line) - 1].strip().startswith(key + ":")
        assert "%25" in message  # '%' is escaped in the message
    assert "budgets.yaml: 2 models, 5 limits: 2 passed, 2 failed, 1 skipped (needs --latency)" in out
    assert text_report(result) in out  # the plain table follows the annotations


def test_annotation_escaping() -> None:
    assert annotation("error", "a,b:c.yaml", 3, "t: x", "50% done\nnext") == (
        "::error file=a%2Cb%3Ac.yaml,line=3,title=t%3A x::50%25 done%0Anext")
    assert annotation("error", None, 3, "invalid input", "m") == "::error title=invalid input::m"


def test_markdown_summary(result) -> None:
    md = markdown_report(result)
    assert md.startswith("### shufflecalc budget check: ❌ 2 checks failed\n")
    assert "- mobilenet: params 4,231,976 exceeds max_params 4,000,000 by 5.80%" in md
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert rows[0] == "| model | line | budget | value | limit | headroom | result |" and len(rows) == 6
    assert "| shufflenet g=3 | 8 | min_macs | 137.46M | 140M | -1.8% | ❌ FAIL |" in rows


def test_markdown_all_passing(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("budgets:\n  - model: mobilenet\n    max_macs: 1G\n")
    report = markdown_report(check(load_budgets(path)))
    assert report.startswith("### shufflecalc budget check: ✅ all 1 limit within budget")


def test_csv_has_exact_integers(result) -> None:
    rows = list(csv.DictReader(io.StringIO(csv_report(result))))
    by = {(r["model"], r["check"]): r for r in rows}
    mob = analyze("mobilenet")
    assert by["mobilenet", "max_macs"]["value"] == str(mob.macs) == "568740352"
    assert by["mobilenet", "max_macs"]["limit"] == "600000000"
    assert float(by["mobilenet", "max_macs"]["headroom_percent"]) == round((6e8 - 568_740_352) / 6e8 * 100, 4)
    assert by["shufflenet", "min_macs"]["status"] == "FAIL" and by["shufflenet", "min_macs"]["line"] == "8"
    assert by["mobilenet", "max_latency_ms"]["status"] == "SKIP" and by["mobilenet", "max_latency_ms"]["value"] == ""


def test_check_json_values_and_baseline_round_trip(result, tmp_path: Path) -> None:
    data = check_json(result)
    assert data["passed"] is False
    assert data["summary"] == {"models": 2, "limits": 5, "passed": 2, "failed": 2, "skipped": 1}
    mob, shuf = data["models"]
    expected = analyze("shufflenet", g=3).to_dict(layers=False)
    for key in ("name", "config", "input", "macs", "flops", "fvcore_flops", "params", "activations", "memory_access",
                "macs_without_classifier", "params_without_classifier"):
        assert shuf[key] == expected[key], key
    assert mob["limits"][1] == {"key": "max_params", "metric": "params", "bound": "max", "line": 4,
                                "limit": 4_000_000, "value": 4_231_976, "headroom_percent": -5.7994, "status": "FAIL"}
    assert mob["limits"][2]["status"] == "SKIP" and mob["limits"][2]["value"] is None
    # check's JSON is a baseline: comparing with it changes nothing
    path = tmp_path / "check.json"
    path.write_text(json.dumps(data))
    again = check(load_budgets(result.file), baseline=load_baseline(str(path)), max_increase=Fraction(0))
    assert all(d.delta == 0 and d.status == "PASS" for m in again.models for d in m.deltas)


@pytest.mark.parametrize("n, text", [(150_000_000, "150M"), (4_500_000, "4.5M"), (750_000, "750K"), (1_234, "1.234K"),
                                     (999, "999"), (2_000_000_000, "2G"), (1_234_567, "1.234567M"), (0, "0")])
def test_exact_human(n: int, text: str) -> None:
    assert exact_human(n) == text
