"""The README's set-up and test commands are what CI runs, verbatim; its example output (and the torchvision
comparison in docs/models.md) is real."""

from __future__ import annotations

import re

from .conftest import ROOT, run_cli

README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci" / "run").read_text()
MODELS_DOC = (ROOT / "docs" / "models.md").read_text()


def _bash_blocks() -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", README, re.S)]


def test_ci_runs_the_readme_commands_verbatim() -> None:
    setup, tests = _bash_blocks()[:2]
    assert "shufflecalc compare mobilenet shufflenet --g 3" in setup
    assert "pytest" in tests
    ci_lines = [line.strip() for line in CI.splitlines()]
    assert setup in ci_lines and tests in ci_lines


def test_readme_example_output_is_current() -> None:
    example = re.search(r"`shufflecalc compare mobilenet shufflenet --g 3`:\n\n```\n(.*?)```", README, re.S).group(1)
    assert run_cli("compare", "mobilenet", "shufflenet", "--g", "3").stdout == example


def test_readme_torchvision_compare_is_current() -> None:
    title = "`shufflecalc compare mobilenet mobilenet_v2 shufflenet shufflenet_v2 --g 3`"
    example = re.search(re.escape(title) + r"[^\n]*\n[^\n]*\n\n```\n(.*?)```", MODELS_DOC, re.S).group(1)
    assert run_cli("compare", "mobilenet", "mobilenet_v2", "shufflenet", "shufflenet_v2", "--g", "3").stdout == example
