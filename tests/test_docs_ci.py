"""The budget documentation (docs/ci.md, with the budget file section moved from the README) shows real, current
output; its configs parse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, run_cli

CI_DOC = (ROOT / "docs" / "ci.md").read_text()
SPEC_DOC = (ROOT / "docs" / "spec-format.md").read_text()


def _block(text: str, after: str, lang: str = "") -> str:
    """The first fenced block after `after`."""
    start = text.index(after)
    return re.search(rf"```{lang}\n(.*?)```", text[start:], re.S).group(1)


def test_readme_shows_the_project_budgets(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    r = run_cli("check", "budgets.yaml")
    assert r.exit_code == 0
    assert _block(CI_DOC, "This repository's own budgets") == r.stdout


def test_readme_baseline_example(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    tiny = _block(SPEC_DOC, "`tiny.yaml`", "yaml")
    Path("tiny.yaml").write_text(tiny)
    Path("budgets.yaml").write_text("budgets:\n  - model: tiny.yaml\n    config: {g: 2}\n    max_macs: 200K\n"
                                    "    max_params: 10K\n")
    assert run_cli("check", "budgets.yaml", "--write-baseline", "baseline.json").exit_code == 0
    Path("tiny.yaml").write_text(tiny.replace("2: [16, 32]", "2: [16, 40]"))
    r = run_cli("check", "budgets.yaml", "--baseline", "baseline.json", "--max-increase", "2%")
    assert r.exit_code == 1
    # the baseline example's output (its own paragraph after the ```bash block), not the --latency example's
    assert _block(CI_DOC, "\nexits with 1 and prints:") == r.stdout


@pytest.fixture
def ci_example(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    Path("budgets.yaml").write_text(_block(CI_DOC, "The examples use this", "yaml"))


def test_ci_doc_outputs_are_current(ci_example) -> None:
    table = run_cli("check", "budgets.yaml")
    assert table.exit_code == 1
    assert _block(CI_DOC, "prints a row per model and limit") == table.stdout
    github = run_cli("check", "budgets.yaml", "--format", "github")
    annotation = _block(CI_DOC, "becomes an annotation on line 5")
    assert github.stdout.startswith(annotation) and "line=5," in annotation
    assert github.stdout == annotation + table.stdout
    assert _block(CI_DOC, "as a pull-request comment") == run_cli("check", "budgets.yaml", "-f", "markdown").stdout
    # pre-commit prints the hook's output with the leading spaces of its first line stripped
    hook = _block(CI_DOC, "`git commit` stops with:")
    assert hook.startswith("shufflecalc budget check....") and "- exit code: 1\n" in hook
    assert hook.split("- exit code: 1\n\n", 1)[1].strip() == table.stdout.strip()


def test_ci_doc_workflow_and_hook_configs_parse() -> None:
    workflow = yaml.safe_load(_block(CI_DOC, "`.github/workflows/budgets.yml`", "yaml"))
    steps = workflow["jobs"]["budgets"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert "shufflecalc check budgets.yaml --format github" in runs
    assert any("--baseline base.json --max-increase 2%" in r for r in runs)
    hooks = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    remote = yaml.safe_load(_block(CI_DOC, "In your repository's `.pre-commit-config.yaml`", "yaml"))
    assert [h["id"] for h in remote["repos"][0]["hooks"]] == ["shufflecalc-check"] and hooks == {"shufflecalc-check"}
    local = yaml.safe_load(_block(CI_DOC, "a local hook avoids", "yaml"))
    (hook,) = local["repos"][0]["hooks"]
    assert hook["entry"].endswith("shufflecalc check budgets.yaml") and hook["pass_filenames"] is False
