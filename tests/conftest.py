"""Shared test helpers."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shufflecalc.cli import run

ROOT = Path(__file__).resolve().parent.parent


class Result:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(*args: str, columns: int | None = None) -> Result:
    """Run the CLI in-process through the console script's code path (`shufflecalc.cli.run`, as `main()` does);
    stdout and stderr are kept apart. Tables are drawn at full width, or fitted to `columns` ($COLUMNS)."""
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 always separates them
        runner = CliRunner()
    with runner.isolation(env={"COLUMNS": str(columns) if columns else None}) as streams:
        try:
            code = run(list(args), prog_name="shufflecalc")
        except SystemExit as exc:  # not expected: run() returns the exit code
            code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = (s.getvalue().decode() for s in streams[:2])
    return Result(code, stdout, stderr)


def rejected(cli, path: str, *extra: str) -> str:
    """Run `show` on a bad spec: exit 2, nothing on stdout, exactly one stderr line; its message, prefix removed."""
    prefix = "shufflecalc: error: "
    result = cli("show", path, *extra)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix), lines[0]
    return lines[0][len(prefix):]


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a spec file and return its path."""

    def write(text: str, name: str = "my.yaml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def blocked_env(tmp_path: Path, *modules: str) -> dict[str, str]:
    """An environment for a subprocess in which `modules` (default: torch and fvcore) cannot be imported: a
    sitecustomize import blocker, with this checkout first on the path."""
    blocked = modules or ("torch", "fvcore")
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {blocked!r}:\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    return {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}


GRID_SPEC = """
params:
  g: {type: int, default: 1, choices: [1, 3]}
  c: {type: int, default: 6, choices: [6, 8]}
input: [c, 9, 9]
layers:
  - {op: conv2d, name: conv, out: 12, kernel: 1, groups: g}
"""  # a parameter grid with one invalid combination (g=3, c=8: 8 channels in 3 groups)


@pytest.fixture
def wrong_batchnorm(monkeypatch) -> Iterator[None]:
    """Make the engine count 3 (not 2) fvcore flops per batchnorm output element."""
    from shufflecalc.spec import templates
    from shufflecalc.spec.layers import KINDS

    rule = KINDS["batchnorm"].rule

    def wrong(attrs, ins):
        ev = rule(attrs, ins)
        return dataclasses.replace(ev, fvcore_extra=ev.fvcore_extra * 3 // 2)

    templates.clear_caches()
    monkeypatch.setitem(KINDS, "batchnorm", dataclasses.replace(KINDS["batchnorm"], rule=wrong))
    yield
    monkeypatch.undo()
    templates.clear_caches()


@pytest.fixture(autouse=True, scope="session")
def _private_import_cache(tmp_path_factory: pytest.TempPathFactory):
    """Imported specs (TARGETs, .onnx files) are cached under a folder of this test run, never the user's cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv("SHUFFLECALC_CACHE_DIR", str(tmp_path_factory.mktemp("import-cache")))
    yield
    patch.undo()
