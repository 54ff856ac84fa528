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

from shufflecalc.analysis.budget import LatencyMeasurement, check, load_baseline, load_budgets
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
    warning_lines,
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
    assert len(cases) == 5 + 2 * 4  # limits, and the four baseline checks of each model (derived metrics grouped)
    assert [c.get("name") for c in cases[3:7]] == [
        "baseline macs", "baseline params", "baseline activations", "baseline memory_access"]
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


# --- latency warnings in every format ----------------------------------------------------------------------------

BUSY = "the machine is busy: load average 3.9 on 2 CPUs before timing, and 2 thread(s) to run; try --threads 1"
NOISY = "noisy: IQR/median is 83.0% (>= 10%); close other work or raise --min-time"
LATENCY = "budgets:\n  - model: shufflenet\n    config: {g: 3}\n    max_macs: 1G\n" \
          "    max_latency_ms: {device: cpu, batch: 1, value: 200}\n"


class NoisyMeter:
    def method(self) -> str:
        return "latency: median of `shufflecalc bench` (fake)"

    def measure(self, analysis, device: str, batch: int) -> LatencyMeasurement:
        return LatencyMeasurement(245.8, 0.83, 40, 0.10, (BUSY, NOISY))


@pytest.fixture
def noisy(tmp_path: Path):
    path = tmp_path / "b.yaml"
    path.write_text(LATENCY)
    return check(load_budgets(path), latency=NoisyMeter())


NOISY_MESSAGE = ("shufflenet g=3: latency 245.80 ms (median, cpu, batch 1) exceeds max_latency_ms 200 ms by 22.90%; "
                 "timed with noise (IQR/median 83.0%, >= 10%): the median may be the machine's, not the model's")


def test_noisy_latency_fail_in_the_table(noisy) -> None:
    text = text_report(noisy)
    row = next(line for line in text.splitlines() if "max_latency_ms" in line)
    assert "245.80 ms" in row and "200 ms" in row and "FAIL (noisy: IQR/median 83.0%)" in row
    assert warning_lines(noisy) == [f"warning: shufflenet g=3 max_latency_ms (cpu, batch 1): {w}"
                                    for w in (BUSY, NOISY)]
    notes = text.split("└", 1)[1]
    assert "1 failed" in notes and f"max_latency_ms (cpu, batch 1): {NOISY}" in notes.replace("\n", " ")
    assert "machine is busy" in notes


def test_noisy_latency_fail_in_json(noisy) -> None:
    data = json.loads(json.dumps(check_json(noisy)))
    assert data["warnings"] == [f"shufflenet g=3 max_latency_ms (cpu, batch 1): {w}" for w in (BUSY, NOISY)]
    limit = data["models"][0]["limits"][1]
    assert limit["status"] == "FAIL" and limit["value"] == 245.8 and limit["noisy"] is True
    assert (limit["iqr_over_median"], limit["samples"], limit["warnings"]) == (0.83, 40, [BUSY, NOISY])
    assert "noisy" not in data["models"][0]["limits"][0]  # an analytic limit has no timing


def test_noisy_latency_fail_in_junit(noisy) -> None:
    root = ET.fromstring(junit_report(noisy))
    latency = root.find("testsuite").findall("testcase")[1]
    assert latency.get("name") == "max_latency_ms"
    assert latency.find("failure").get("message") == NOISY_MESSAGE
    assert latency.find("system-err").text == f"warning: {BUSY}\nwarning: {NOISY}"


def test_noisy_latency_fail_in_github(noisy) -> None:
    lines = github_report(noisy).splitlines()
    file = noisy.file.replace(":", "%3A").replace(",", "%2C")
    assert lines[0] == (f"::error file={file},line=5,title=budget exceeded%3A max_latency_ms::"
                        + NOISY_MESSAGE.replace("%", "%25"))
    assert lines[1:3] == [f"::warning file={file},line=5,title=latency timing%3A max_latency_ms::shufflenet g=3 "
                          f"max_latency_ms (cpu, batch 1): {w.replace('%', '%25')}" for w in (BUSY, NOISY)]


def test_noisy_latency_fail_in_markdown(noisy) -> None:
    md = markdown_report(noisy)
    assert md.startswith("### shufflecalc budget check: ❌ 1 check failed\n\n- " + NOISY_MESSAGE + "\n\n")
    assert f"- ⚠️ warning: shufflenet g=3 max_latency_ms (cpu, batch 1): {NOISY}" in md
    assert "| ❌ FAIL (noisy: IQR/median 83.0%) |" in md
    assert md.count(NOISY) == 1  # listed once, not again under the table


# --- baseline checks and --only-failures -------------------------------------------------------------------------


@pytest.fixture
def regressed(result, tmp_path: Path):
    """shufflenet g=3 had 1,000 fewer MACs in the baseline (with its flops, fvcore_flops, macs_without_classifier)."""
    base = json.loads(json.dumps(baseline_json(result)))
    for metric in ("macs", "flops", "fvcore_flops", "macs_without_classifier"):
        base["models"][1][metric] -= 2000 if metric == "flops" else 1000
    path = tmp_path / "base.json"
    path.write_text(json.dumps(base))
    return check(load_budgets(result.file), baseline=load_baseline(str(path)))


def test_a_mac_regression_is_reported_once(regressed) -> None:
    text = text_report(regressed)
    rows = [line for line in text.split("baseline ", 1)[1].splitlines() if line.startswith("│ ") and line[2:3].strip()]
    assert len(rows) == 2 * 4  # a row per model and check
    failing = [line for line in rows if "FAIL" in line]
    assert len(failing) == 1 and "│ macs " in failing[0] and "flops +0.00073%," in failing[0]
    assert "16 metrics of 2 models compared in 8 checks, 1 grew more than 0%" in " ".join(text.split())
    md = markdown_report(regressed)
    assert md.startswith("### shufflecalc budget check: ❌ 3 checks failed\n")  # two limits and one regression
    message = ("- shufflenet g=3: macs grew +1,000 (+0.00073%) over the baseline 137,459,672 to 137,460,672, more than "
               "the allowed 0% (with it: flops +0.00073%, fvcore_flops +0.0007%, macs_without_classifier +0.00073%)")
    assert message in md.splitlines()
    data = check_json(regressed)
    assert data["baseline"]["failed"] == 1 and data["baseline"]["failed_metrics"] == 4
    shuf = data["models"][1]
    assert [d["metric"] for d in shuf["baseline"]] == [
        "macs", "flops", "fvcore_flops", "params", "activations", "memory_access", "macs_without_classifier",
        "params_without_classifier"]
    assert [d["check"] for d in shuf["baseline"]] == ["macs"] * 3 + ["params", "activations", "memory_access",
                                                                    "macs", "params"]
    assert shuf["baseline_checks"][0] == {"metric": "macs", "root": "macs", "status": "FAIL",
                                          "metrics": ["macs", "flops", "fvcore_flops", "macs_without_classifier"]}
    rows = list(csv.DictReader(io.StringIO(csv_report(regressed))))
    assert [(r["model"], r["metric"], r["status"]) for r in rows if r["check"] == "baseline"][4:] == [
        ("shufflenet", "macs", "FAIL"), ("shufflenet", "params", "PASS"), ("shufflenet", "activations", "PASS"),
        ("shufflenet", "memory_access", "PASS")]


def test_only_failures_drops_the_passing_rows(regressed) -> None:
    text = text_report(regressed, only_failures=True)
    rows = [line.split("│") for line in text.splitlines() if line.startswith("│ ") and line[2:3].strip()]
    assert [(r[1].strip(), r[3].strip(), r[-2].strip()) for r in rows] == [
        ("mobilenet", "max_params", "FAIL"), ("mobilenet", "max_latency_ms (cpu, batch 1)", "SKIP (needs --latency)"),
        ("shufflenet g=3", "min_macs", "FAIL"), ("shufflenet g=3", "137.46M", "flops +0.00073%, fvcore_flops")]
    assert "PASS" not in text
    assert "2 models, 5 limits: 2 passed, 2 failed, 1 skipped" in text  # the summary still counts every check
    md = markdown_report(regressed, only_failures=True)
    assert "✅ PASS" not in md and md.count("❌ FAIL") == 3
    rows = list(csv.DictReader(io.StringIO(csv_report(regressed, only_failures=True))))
    assert {r["status"] for r in rows} == {"FAIL", "SKIP"} and len(rows) == 4
    assert github_report(regressed, only_failures=True).endswith(text)
    assert "PASS" in text_report(regressed)  # without it, every row


def test_only_failures_when_everything_passes(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("budgets:\n  - model: mobilenet\n    max_macs: 1G\n")
    result = check(load_budgets(path))
    assert text_report(result, only_failures=True) == f"{path}: 1 model, 1 limit: 1 passed, 0 failed\n"
    assert markdown_report(result, only_failures=True).endswith(f"\n{path}: 1 model, 1 limit: 1 passed, 0 failed\n")


def test_the_ci_doc_latency_example_is_current(tmp_path: Path, monkeypatch) -> None:
    """docs/ci.md's noisy latency failure, from the timing statistics it shows (a busy machine is not needed)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "ci.md").read_text()
    section = doc[doc.index("## Latency limits"):]
    yaml_text, table, github = re.findall(r"```(?:yaml)?\n(.*?)```", section, re.S)[:3]
    monkeypatch.chdir(tmp_path)
    Path("budgets.yaml").write_text(yaml_text)
    busy = ("the machine is busy: load average 3.9 on 2 CPUs before timing, and 2 thread(s) to run; other work "
            "competes for the cores, so timings are slower and noisier (a parallel operator waits for its slowest "
            "thread): try --threads 1 or a quieter time")

    class Busy:
        def method(self) -> str:
            return ("latency: median of `shufflecalc bench` (warm-up until steady, then samples for at least 0.5 s), "
                    "eval mode, torch.inference_mode; torch 2.13.0+cpu, 2 threads")

        def measure(self, analysis, device: str, batch: int) -> LatencyMeasurement:
            return LatencyMeasurement(245.8, 0.83, 23, 0.10, (busy, NOISY))

    result = check(load_budgets("budgets.yaml"), latency=Busy())
    assert text_report(result) == table
    assert github_report(result) == github + table


def test_a_value_and_limit_that_round_alike_are_shown_exactly(tmp_path: Path) -> None:
    """SqueezeNet's 1,248,424 params against a 1.25M limit printed '1.25M | 1.25M | 0.1%'."""
    from shufflecalc.analysis.budget import check, load_budgets
    from shufflecalc.report.budget import limits_table

    path = tmp_path / "b.yaml"
    path.write_text("budgets:\n  - model: squeezenet1_0\n    max_params: 1.25M\n")
    (row,) = limits_table(check(load_budgets(path))).rows
    assert (row["value"], row["limit"]) == ("1,248,424", "1,250,000")
    path.write_text("budgets:\n  - model: squeezenet1_0\n    max_params: 2M\n")
    result = check(load_budgets(path))
    (row,) = limits_table(result).rows
    assert (row["value"], row["limit"]) == (1_248_424, "2M")
