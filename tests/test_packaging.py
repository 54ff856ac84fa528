"""The built-in specs and paper tables ship inside the wheel, where the package finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from shufflecalc.analysis.tables import builtin_tables
from shufflecalc.spec.load import builtin_names

from .conftest import ROOT


def test_wheel_contains_every_builtin_spec_and_table(tmp_path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True,
    )
    if r.returncode != 0 and "No module named" in r.stderr:
        pytest.skip(f"cannot build a wheel here: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 0, r.stderr
    (wheel,) = tmp_path.glob("shufflecalc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for spec in builtin_names():
        assert f"shufflecalc/specs/{spec}.yaml" in names
    tables = builtin_tables()
    assert len(tables) >= 4
    for table in tables:
        assert f"shufflecalc/specs/tables/{table}.yaml" in names
    assert "shufflecalc/cli/__init__.py" in names
    assert {"shufflecalc/specs/blocks/builtin.yaml", "shufflecalc/specs/blocks/builtin.json"} <= names
    assets = ROOT / "shufflecalc" / "report" / "assets"  # the report page's template and its vendored libraries
    assert {p.relative_to(ROOT).as_posix() for p in assets.rglob("*") if p.is_file()} <= names
    for module in (ROOT / "shufflecalc").rglob("*.py"):  # every subpackage is listed in pyproject.toml
        assert module.relative_to(ROOT).as_posix() in names


def test_pre_commit_runs_the_pinned_ruff() -> None:
    """.pre-commit-config.yaml's ruff is the version the dev extra pins, so a commit and CI judge the same rules."""
    import re

    import yaml

    pinned = re.search(r'"ruff==([^"]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    (ruff,) = [r for r in config["repos"] if r["repo"].endswith("/ruff-pre-commit")]
    assert ruff["rev"] == f"v{pinned}"
