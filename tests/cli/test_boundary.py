"""The program's error boundary: a bug is 'internal error' and exit 3 (never 1, which means a failed check), Ctrl-C is
exit 130, with no traceback unless asked for (--debug, SHUFFLECALC_DEBUG=1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shufflecalc.cli import EXIT_INTERNAL, EXIT_INTERRUPTED, analytic

from ..conftest import ROOT


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom\nsecond line \x1b[31m")


def test_an_exception_escaping_a_command_is_an_internal_error(cli, monkeypatch) -> None:
    monkeypatch.setattr(analytic, "analyze", _boom)
    monkeypatch.delenv("SHUFFLECALC_DEBUG", raising=False)
    r = cli("show", "mobilenet")
    assert r.exit_code == EXIT_INTERNAL == 3
    assert r.stdout == "" and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("shufflecalc: internal error: RuntimeError: boom\\nsecond line \\x1b[31m; please report")
    assert "--debug" in r.stderr


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(cli, monkeypatch, how: str) -> None:
    monkeypatch.setattr(analytic, "analyze", _boom)
    if how == "env":
        monkeypatch.setenv("SHUFFLECALC_DEBUG", "1")
        r = cli("show", "mobilenet")
    else:
        monkeypatch.delenv("SHUFFLECALC_DEBUG", raising=False)
        r = cli("--debug", "show", "mobilenet")
    assert r.exit_code == 3
    assert "Traceback (most recent call last)" in r.stderr and "RuntimeError: boom" in r.stderr


def test_keyboard_interrupt_in_a_command_exits_130(cli, monkeypatch) -> None:
    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(analytic, "analyze", interrupt)
    r = cli("compare", "mobilenet")
    assert (r.exit_code, r.stderr) == (EXIT_INTERRUPTED, "shufflecalc: interrupted\n")


def test_keyboard_interrupt_during_start_up_exits_130(tmp_path: Path) -> None:
    """Ctrl-C while the engine is still being imported: the console script's own start, in a real process."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'shufflecalc.analysis.cost':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, _Interrupt())\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    code = "import sys; sys.argv = ['shufflecalc', 'compare', 'mobilenet']; from shufflecalc.cli import main; main()"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (130, "", "shufflecalc: interrupted\n")


def test_a_closed_stdout_is_not_an_error() -> None:
    """`shufflecalc show resnet50 | head -1`: the reader leaves early; no traceback, no internal error."""
    p = subprocess.Popen([sys.executable, "-m", "shufflecalc", "show", "resnet50", "--format", "csv"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait()
    assert "Traceback" not in err and "internal error" not in err
