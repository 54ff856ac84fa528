"""The check command: exit codes, error lines, baselines, formats, the project's own budgets, independence from
torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from shufflecalc.analysis.budget import load_budgets
from shufflecalc.analysis.cost import ALL_METRICS, analyze
from shufflecalc.analysis.predict import load_profile, predict_layers
from shufflecalc.spec.load import builtin_names

from ..conftest import ROOT, blocked_env

SHUFFLE_MACS = 137_460_672  # ShuffleNet 1x g=3 (tests/analysis/test_cost.py)


@pytest.fixture
def budget(write_spec):
    """Write a budget file and return its path."""
    return lambda text, name="budgets.yaml": write_spec(text, name)


def shuffle_budget(limit: str) -> str:
    return f"budgets:\n  - model: shufflenet\n    config: {{g: 3}}\n    {limit}\n"


def test_exit_codes(cli, budget) -> None:
    ok = cli("check", budget(shuffle_budget(f"max_macs: {SHUFFLE_MACS}")))
    assert ok.exit_code == 0 and "PASS" in ok.stdout and ok.stderr == ""
    over = cli("check", budget(shuffle_budget(f"max_macs: {SHUFFLE_MACS - 1}")))
    assert over.exit_code == 1 and "FAIL" in over.stdout and "1 failed" in over.stdout
    bad = cli("check", budget(shuffle_budget("max_macs: lots")))
    assert bad.exit_code == 2 and bad.stdout == ""


@pytest.mark.parametrize("limit, message", [
    ("max_foo: 1M", ":4 budgets[0].max_foo: unknown metric 'foo' in 'max_foo'"),
    ("max_macs: 15O", ":4 budgets[0].max_macs: cannot read '15O' as a count"),
    ("max_macs: 1.0000001K", ":4 budgets[0].max_macs: '1.0000001K' is not a whole number"),
    ("colour: red", ":4 budgets[0].colour: unknown key 'colour'"),
])
def test_invalid_limits_exit_2_with_one_line(cli, budget, limit: str, message: str) -> None:
    path = budget(shuffle_budget(limit))
    r = cli("check", path)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith(f"shufflecalc: error: {path}{message}")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("text, message", [
    ("budgets:\n  - max_macs: 1G\n", ":2 budgets[0]: missing 'model'"),
    ("budgets:\n  - model: shufflenetv9\n    max_macs: 1G\n", ":2 budgets[0].model: unknown spec 'shufflenetv9'"),
    ("budgets:\n  - model: nets/my.yaml\n    max_macs: 1G\n", ":2 budgets[0].model: unknown spec 'nets/my.yaml'"),
    ("budgets:\n  - model: shufflenet\n    config: {groups: 3}\n    max_macs: 1G\n",
     ":3 budgets[0].config.groups: unknown parameter 'groups' for shufflenet"),
    ("budgets:\n  - model: shufflenet\n    config: {g: 7}\n    max_macs: 1G\n",
     ":3 budgets[0].config.g: 7 is not one of 1, 2, 3, 4, 8"),
    ("budgets:\n  - model: shufflenet\n   max_macs: 1G\n", ":3: malformed YAML"),
])
def test_invalid_entries_exit_2_with_one_line(cli, budget, text: str, message: str) -> None:
    path = budget(text)
    r = cli("check", path)
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"shufflecalc: error: {path}{message}")


def test_github_format_annotates_invalid_input(cli, budget) -> None:
    path = budget(shuffle_budget("max_macs: lots"))
    r = cli("check", path, "--format", "github")
    assert r.exit_code == 2
    assert r.stdout.startswith(f"::error file={path},line=4,title=invalid input::{path}:4 budgets[0].max_macs: ")
    assert "cannot read 'lots' as a count" in r.stderr


def test_missing_budget_file(cli) -> None:
    r = cli("check", "no-such-budgets.yaml")
    assert r.exit_code == 2 and r.stderr == "shufflecalc: error: no-such-budgets.yaml: no such file\n"


# --- baselines ---------------------------------------------------------------------------------------------------


def test_write_baseline_refuses_to_overwrite(cli, budget, tmp_path: Path) -> None:
    path = budget(shuffle_budget("max_macs: 1G"))
    out = tmp_path / "base.json"
    r = cli("check", path, "--write-baseline", str(out))
    assert r.exit_code == 0 and f"shufflecalc: wrote {out} (the baseline of 1 model)" in r.stderr
    data = json.loads(out.read_text())
    (model,) = data["models"]
    expected = analyze("shufflenet", g=3).to_dict(layers=False)
    assert {k: model[k] for k in ("name", "config", *ALL_METRICS)} == {
        k: expected[k] for k in ("name", "config", *ALL_METRICS)}
    out.write_text("precious")
    r = cli("check", path, "--write-baseline", str(out))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == f"shufflecalc: error: {out}: file exists; use --force to overwrite it\n"
    assert out.read_text() == "precious"
    r = cli("check", path, "--write-baseline", str(out), "--force")
    assert r.exit_code == 0 and json.loads(out.read_text()) == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.json", "budgets.yaml"]


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_write_baseline_into_a_missing_directory_is_refused_before_the_check(cli, budget, tmp_path: Path,
                                                                            force: list[str]) -> None:
    out = tmp_path / "missing" / "base.json"
    r = cli("check", budget(shuffle_budget("max_macs: 1G")), "--write-baseline", str(out), *force)
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1  # no report: refused before any work
    assert f"{out}: directory {out.parent} does not exist" in r.stderr
    r = cli("check", budget(shuffle_budget("max_macs: 1G")), "--write-baseline", str(tmp_path), *force)
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and "is a directory" in r.stderr


@pytest.mark.parametrize("text, message", [
    ('{"models": [{"name": "shufflenet", "config": {"g": [3]}, "macs": 1}]}', "models[0].config.g: expected a "
     "parameter value (a number, string, boolean or null), got [3]"),
    ("[" * 100_000 + "]" * 100_000, "the JSON is nested too deeply"),
])
def test_malformed_baseline_is_one_line(cli, budget, tmp_path: Path, text: str, message: str) -> None:
    base = tmp_path / "base.json"
    base.write_text(text)
    r = cli("check", budget(shuffle_budget("max_macs: 1G")), "--baseline", str(base))
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and message in r.stderr


def test_write_baseline_destination_is_checked_before_the_check(cli, budget, tmp_path: Path) -> None:
    path = budget(shuffle_budget("max_macs: lots"))  # invalid: an error only once the check reads it
    missing = tmp_path / "nosuchdir" / "base.json"
    r = cli("check", path, "--write-baseline", str(missing))
    assert r.exit_code == 2
    assert r.stderr == f"shufflecalc: error: {missing}: directory {missing.parent} does not exist\n"
    out = tmp_path / "report.json"
    r = cli("check", path, "--write-baseline", str(out), "--output", str(out))
    assert r.exit_code == 2 and "the same file as --output" in r.stderr


def test_write_file_is_the_common_atomic_writer() -> None:
    import shufflecalc.analysis.budget

    assert not hasattr(shufflecalc.analysis.budget, "write_new_file")


def _baseline_with(tmp_path: Path, **values: int) -> str:
    """compare's JSON for ShuffleNet 1x g=3, with some metrics replaced."""
    report = {"models": [{**analyze("shufflenet", g=3).to_dict(layers=False), **values}]}
    path = tmp_path / "base.json"
    path.write_text(json.dumps(report))
    return str(path)


@pytest.mark.parametrize("increase, code", [("60%", 0), ("60.0001%", 0), ("59.9999%", 1), ("59", 1), ("0%", 1)])
def test_baseline_threshold_exactly(cli, budget, tmp_path: Path, increase: str, code: int) -> None:
    # baseline 85,912,920 MACs = 137,460,672 * 5 / 8: today's value is exactly 60% more
    base = _baseline_with(tmp_path, macs=SHUFFLE_MACS * 5 // 8)
    assert SHUFFLE_MACS * 5 // 8 * 8 == SHUFFLE_MACS * 5
    path = budget(shuffle_budget("max_macs: 1G"))
    r = cli("check", path, "--baseline", base, "--max-increase", increase, "-f", "json")
    assert r.exit_code == code, r.stdout
    deltas = {d["metric"]: d for d in r.json()["models"][0]["baseline"]}
    assert deltas["macs"] == {"metric": "macs", "baseline": 85_912_920, "value": SHUFFLE_MACS, "delta": 51_547_752,
                              "delta_percent": 60.0, "status": "PASS" if code == 0 else "FAIL", "check": "macs"}
    assert all(d["status"] == "PASS" and d["delta"] == 0 for m, d in deltas.items() if m != "macs")


def test_baseline_failures_in_table_and_github(cli, budget, tmp_path: Path) -> None:
    base = _baseline_with(tmp_path, params=1_800_000)
    path = budget(shuffle_budget("max_macs: 1G"))
    r = cli("check", path, "--baseline", base, "--max-increase", "2%")
    assert r.exit_code == 1
    assert "baseline" in r.stdout and "1 grew more than 2%" in r.stdout
    # 1,864,728 - 1,800,000 = 64,728 = 3.596%
    r = cli("check", path, "--baseline", base, "--max-increase", "2%", "-f", "github")
    (line,) = [candidate for candidate in r.stdout.splitlines() if candidate.startswith("::error")]
    assert line == (f"::error file={path},line=2,title=grew over baseline%3A params::shufflenet g=3: params grew "
                    "+64%2C728 (+3.60%25) over the baseline 1%2C800%2C000 to 1%2C864%2C728, more than the allowed 2%25"
                    .replace("%2C", ","))
    assert cli("check", path, "--baseline", base, "--max-increase", "3.6%").exit_code == 0


def test_max_increase_needs_a_baseline(cli, budget) -> None:
    r = cli("check", budget(shuffle_budget("max_macs: 1G")), "--max-increase", "2%")
    assert r.exit_code == 2 and "--max-increase needs --baseline" in r.stderr


def test_baseline_from_compare_cli(cli, budget, tmp_path: Path) -> None:
    report = cli("compare", "mobilenet", "shufflenet", "--g", "3", "-f", "json")
    base = tmp_path / "compare.json"
    base.write_text(report.stdout)
    r = cli("check", budget(shuffle_budget("max_macs: 1G")), "--baseline", str(base), "-f", "json")
    assert r.exit_code == 0 and all(d["delta"] == 0 for d in r.json()["models"][0]["baseline"])
    assert "8 metrics of 1 model compared in 4 checks, 0 grew more than 0%; 0 models not in the baseline" in r.stderr


def test_a_regression_is_one_row_and_only_failures_drops_the_rest(cli, budget, tmp_path: Path) -> None:
    """The issue: four models, one change to one model's MACs. Before: 32 baseline rows, four failing per change."""
    models = ["shufflenet:g=3", "shufflenet:g=8", "mobilenet", "mobilenet:width=0.5"]
    path = budget("budgets:\n" + "".join(f"  - model: {m}\n    max_macs: 1G\n" for m in models))
    base = tmp_path / "base.json"
    assert cli("check", path, "--write-baseline", str(base)).exit_code == 0
    data = json.loads(base.read_text())
    for metric in ("macs", "flops", "fvcore_flops", "macs_without_classifier"):  # g=8 had 1,000 fewer MACs
        data["models"][1][metric] -= 2000 if metric == "flops" else 1000
    base.write_text(json.dumps(data))
    r = cli("check", path, "--baseline", str(base))
    assert r.exit_code == 1
    table = r.stdout.split("max increase 0%")[1]
    rows = [line for line in table.splitlines() if line.startswith("│ ") and line[2:3].strip()]
    assert len(rows) == 4 * 4 and sum("FAIL" in line for line in rows) == 1
    assert "32 metrics of 4 models compared in 16 checks, 1 grew more than 0%" in r.stdout
    only = cli("check", path, "--baseline", str(base), "--only-failures")
    assert only.exit_code == 1
    rows = [line for line in only.stdout.splitlines() if line.startswith("│ ") and line[2:3].strip()]
    assert len(rows) == 1 and rows[0].startswith("│ shufflenet g=8 │ macs ") and "FAIL" in rows[0]
    assert "4 models, 4 limits: 4 passed, 0 failed" in only.stdout  # the summary still counts everything
    md = cli("check", path, "--baseline", str(base), "--only-failures", "-f", "markdown").stdout
    assert md.startswith("### shufflecalc budget check: ❌ 1 check failed\n") and "PASS" not in md


def test_only_failures_leaves_the_report_of_a_run_without_failures_short(cli) -> None:
    r = cli("check", str(ROOT / "budgets.yaml"), "--only-failures")
    assert r.exit_code == 0
    assert "22 models, 56 limits: 54 passed, 0 failed, 2 skipped (needs --latency)" in r.stdout
    assert "PASS" not in r.stdout and "SKIP (needs --latency)" in r.stdout  # skipped rows are not passes


# --- latency options and warnings ----------------------------------------------------------------------------


@pytest.mark.parametrize("option", [["--threads", "1"], ["--min-time", "0.1"], ["--batch", "8"]])
def test_timing_options_need_latency(cli, budget, option: list[str]) -> None:
    r = cli("check", budget(shuffle_budget("max_macs: 1G")), *option)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == f"shufflecalc: error: {option[0]} needs --latency\n"


@pytest.mark.parametrize("option, message", [
    (["--batch", "0"], "--batch 0: must be a positive whole number"),
    (["--threads", "0"], "--threads 0: must be at least 1"),
    (["--min-time", "0"], "--min-time 0.0: must be a positive number of seconds"),
    (["--min-time", "nan"], "--min-time nan: must be a positive number of seconds"),
])
def test_timing_options_are_checked_as_bench_checks_them(cli, budget, option: list[str], message: str) -> None:
    r = cli("check", budget(shuffle_budget("max_macs: 1G")), "--latency", *option)
    assert r.exit_code == 2 and r.stdout == "" and r.stderr == f"shufflecalc: error: {message}\n"


class FakeBench:
    """Stands in for BenchLatency in the CLI: records its options and returns a noisy measurement."""

    made: ClassVar[list[tuple]] = []

    def __init__(self, threads=None, min_time=0.5) -> None:
        self.threads, self.min_time = threads, min_time
        FakeBench.made.append((threads, min_time))
        self.batches: list[int] = []

    def method(self) -> str:
        return f"latency: fake bench, {self.threads} threads, {self.min_time:g} s"

    def measure(self, analysis, device: str, batch: int):
        from shufflecalc.analysis.budget import LatencyMeasurement

        FakeBench.made.append(("measure", analysis.name, device, batch))
        return LatencyMeasurement(245.8, 0.83, 40, 0.10, (
            "the machine is busy: load average 3.9 on 2 CPUs before timing, and 2 thread(s) to run; try --threads 1",
            "noisy: IQR/median is 83.0% (>= 10%); close other work or raise --min-time"))


@pytest.fixture
def fake_bench(monkeypatch):
    import shufflecalc.latency.budget

    FakeBench.made = []
    monkeypatch.setattr(shufflecalc.latency.budget, "BenchLatency", FakeBench)
    return FakeBench


ISSUE = ("budgets:\n  - model: shufflenet\n    config: {g: 3}\n"
         "    max_latency_ms: {device: cpu, batch: 1, value: 200}\n  - model: mobilenet\n    max_latency_ms: 1000\n")


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown", "junit", "github"])
def test_a_noisy_latency_fail_says_so_in_every_format(cli, budget, fake_bench, fmt: str) -> None:
    path = budget(ISSUE)
    r = cli("check", path, "--latency", "--threads", "2", "--min-time", "0.25", "-f", fmt)
    assert r.exit_code == 1  # still a failure: the warning says how far to trust it
    assert fake_bench.made[0] == (2, 0.25)
    busy = "shufflecalc: warning: shufflenet g=3 max_latency_ms (cpu, batch 1): the machine is busy"
    noisy = "shufflecalc: warning: shufflenet g=3 max_latency_ms (cpu, batch 1): noisy: IQR/median is 83.0%"
    assert busy in r.stderr and noisy in r.stderr  # on stderr whatever the format, as bench prints them
    if fmt == "csv":
        return  # csv's rows are fixed: its warnings are those on stderr
    assert "IQR/median" in r.stdout and "busy" in r.stdout
    if fmt in ("table", "markdown", "github"):
        assert "FAIL (noisy: IQR/median 83.0%)" in r.stdout
    if fmt == "json":
        data = r.json()
        assert len(data["warnings"]) == 4 and data["models"][0]["limits"][0]["noisy"] is True
        assert data["latency_method"] == "latency: fake bench, 2 threads, 0.25 s"
    if fmt == "github":
        assert r.stdout.count("::warning file=") == 4 and r.stdout.count("::error file=") == 1  # mobilenet passed


def test_batch_sets_the_limits_without_a_batch(cli, budget, fake_bench) -> None:
    r = cli("check", budget(ISSUE), "--latency", "--batch", "8", "-f", "json")
    assert [c[1:] for c in fake_bench.made[1:]] == [("shufflenet", "cpu", 1), ("mobilenet", "cpu", 8)]
    assert [m["limits"][0]["batch"] for m in r.json()["models"]] == [1, 8]
    stated = budget("budgets:\n  - model: mobilenet\n    max_latency_ms: {value: 1000, batch: 2}\n", "stated.yaml")
    r = cli("check", stated, "--latency", "--batch", "8")
    assert f"shufflecalc: warning: --batch 8 changes no limit: every max_latency_ms of {stated} states its batch" \
        in r.stderr


# --- formats -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext, fmt", [(".txt", "table"), (".md", "markdown"), (".csv", "csv"), (".json", "json"),
                                      (".xml", "junit")])
def test_output_file_takes_the_format_of_its_extension(cli, budget, tmp_path: Path, ext: str, fmt: str) -> None:
    path = budget(shuffle_budget(f"max_macs: {SHUFFLE_MACS - 1}"))  # a failed check: the report is still written
    out = tmp_path / f"report{ext}"
    r = cli("check", path, "--output", str(out))
    assert r.exit_code == 1 and r.stdout == "" and f"shufflecalc: wrote {out}" in r.stderr
    assert out.read_text() == cli("check", path, "-f", fmt).stdout
    r = cli("check", path, "--output", str(out))
    assert r.exit_code == 2 and r.stderr == f"shufflecalc: error: {out}: file exists; use --force to overwrite it\n"
    assert cli("check", path, "--output", str(out), "--force").exit_code == 1


def test_output_file_rules(cli, budget, tmp_path: Path) -> None:
    path = budget(shuffle_budget("max_macs: 1G"))
    github = tmp_path / "annotations.log"
    r = cli("check", path, "--output", str(github))
    assert r.exit_code == 2 and "cannot tell the format from '.log'" in r.stderr and not github.exists()
    assert cli("check", path, "--output", str(github), "-f", "github").exit_code == 0
    assert github.read_text() == cli("check", path, "-f", "github").stdout
    r = cli("check", path, "--output", str(tmp_path / "r.xml"), "-f", "json")
    assert r.exit_code == 2 and "the extension means --format junit, but --format json was given" in r.stderr
    bad = tmp_path / "bad.txt"
    r = cli("check", budget(shuffle_budget("max_macs: lots")), "--output", str(bad))
    assert r.exit_code == 2 and not bad.exists()  # never written after bad input


def test_json_is_byte_identical_across_runs() -> None:
    cmd = [sys.executable, "-m", "shufflecalc", "check", "budgets.yaml", "-f", "json"]
    outs = {subprocess.run(cmd, capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")}
    assert len(outs) == 1


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "junit", "github", "json"])
def test_every_format_runs_on_the_project_budgets(cli, fmt: str) -> None:
    r = cli("check", str(ROOT / "budgets.yaml"), "-f", fmt)
    assert r.exit_code == 0 and r.stdout
    assert "::error" not in r.stdout


def test_the_project_budgets_pass_and_match_the_engine(cli) -> None:
    r = cli("check", str(ROOT / "budgets.yaml"), "-f", "json")
    assert r.exit_code == 0
    data = r.json()
    budgets = load_budgets(ROOT / "budgets.yaml")
    assert {s.spec.name for s in budgets.entries} == set(builtin_names())  # every built-in spec has a budget
    for entry, model in zip(budgets.entries, data["models"], strict=False):
        expected = analyze(entry.spec.name, dict(entry.overrides)).to_dict(layers=False)
        for limit in model["limits"]:
            if limit["metric"] == "predicted_latency_ms":  # the profile's prediction, as `predict` makes it
                predicted = predict_layers(analyze(entry.spec.name, dict(entry.overrides)).layers,
                                           load_profile(ROOT / "benchmarks" / "results" /
                                                        "predict-cpu-amd-epyc-profile.json"))
                assert limit["value"] == predicted.predicted_ms
                assert limit["status"] == "PASS"
            elif limit["metric"] != "latency_ms":
                assert limit["value"] == expected[limit["metric"]]
                assert limit["status"] == "PASS"
    mobilenet = data["models"][0]
    assert mobilenet["config"] == {"width": 1.0, "resolution": 224, "classes": 1000}
    assert mobilenet["macs"] == 568_740_352


def test_ci_runs_the_project_budgets() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    tests = ci.index(".venv/bin/python -m pytest -q")
    assert ci[tests + 1] == ".venv/bin/shufflecalc check budgets.yaml"


def test_pre_commit_hook_definition() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "shufflecalc-check" and hook["entry"] == "shufflecalc check"
    assert hook["language"] == "python" and hook["pass_filenames"] is False and hook["args"] == ["budgets.yaml"]
    import re

    files = re.compile(hook["files"])
    for name in ("budgets.yaml", "specs/shufflenet.yaml", "models/net.yml"):
        assert files.search(name), name
    assert not files.search("README.md")


# --- torch --------------------------------------------------------------------------------------------------------


def test_check_runs_without_torch(tmp_path: Path) -> None:
    env = blocked_env(tmp_path)
    for fmt in ("table", "junit", "github", "json", "markdown", "csv"):
        r = subprocess.run([sys.executable, "-m", "shufflecalc", "check", "budgets.yaml", "-f", fmt], cwd=ROOT,
                           capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "shufflecalc", "check", "budgets.yaml", "--latency"], cwd=ROOT,
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1
    assert 'this command needs the torch extra: pip install "shufflecalc[torch]"' in r.stderr
    assert subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, env=env).returncode != 0


def test_latency_flag_times_the_models(cli, budget) -> None:
    pytest.importorskip("torch")
    path = budget("budgets:\n  - model: shufflenet\n    config: {g: 3, width: 0.25, resolution: 64}\n"
                  "    max_macs: 1G\n    max_latency_ms: {value: 60000}\n")
    skipped = cli("check", path)
    assert skipped.exit_code == 0 and "SKIP (needs --latency)" in skipped.stdout
    r = cli("check", path, "--latency", "-f", "json")
    assert r.exit_code == 0
    (limit,) = [candidate for candidate in r.json()["models"][0]["limits"] if candidate["metric"] == "latency_ms"]
    assert limit["status"] == "PASS" and 0 < limit["value"] < 60000 and limit["batch"] == 1
    assert "median of `shufflecalc bench`" in r.json()["latency_method"]
    tight = cli("check", budget(Path(path).read_text().replace("60000", "0.000001")), "--latency")
    assert tight.exit_code == 1 and "FAIL" in tight.stdout
