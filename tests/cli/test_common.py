"""What every tabular command shares: six output formats, --output (format from the extension, no overwrite without
--force, atomic) and the progress bar rule."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest

from shufflecalc.analysis.cost import analyze
from shufflecalc.cli import common
from shufflecalc.cli.common import EXTENSIONS, Format

from ..conftest import ROOT

COMMANDS = {
    "list": ["list"],
    "show": ["show", "shufflenet", "--g", "8"],
    "compare": ["compare", "mobilenet", "shufflenet", "--g", "3"],
    "sweep": ["sweep", "shufflenet", "--g", "1,3"],
    "table": ["table", "shufflenet-table1"],
}


@pytest.mark.parametrize("fmt", [f.value for f in Format])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_tabular_command_renders_every_format(cli, command: str, fmt: str) -> None:
    r = cli(*COMMANDS[command], "-f", fmt)
    assert r.exit_code == 0 and r.stderr == "", r.stderr
    text = r.stdout
    if fmt == "json":
        json.loads(text)
    elif fmt == "csv":
        assert len(list(csv.reader(io.StringIO(text)))) >= 2
    elif fmt == "latex":
        assert "\\toprule" in text and "\\bottomrule" in text and "\\end{table}" in text
    elif fmt == "html":
        ET.fromstring(f"<div>{text.replace('<br>', '<br/>')}</div>")
    elif fmt == "markdown":
        assert "\n|" in text and ("---:" in text or ":---" in text)


@pytest.mark.parametrize("fmt", ["table", "markdown", "latex", "html"])
def test_human_formats_name_the_convention_and_use_units(cli, fmt: str) -> None:
    r = cli("compare", "mobilenet", "shufflenet", "--g", "3", "-f", fmt)
    assert "MACs (conv+linear)" in r.stdout and "FLOPs (2" in r.stdout and "568.74M" in r.stdout
    assert "K/M/G are powers of 1000" in r.stdout


def test_output_file_picks_the_format_from_the_extension(cli, tmp_path) -> None:
    for ext, fmt in EXTENSIONS.items():
        path = tmp_path / f"report{ext}"
        r = cli("compare", "mobilenet", "shufflenet", "--g", "3", "--output", str(path))
        assert r.exit_code == 0 and r.stdout == "" and f"wrote {path}" in r.stderr
        assert path.read_text() == cli("compare", "mobilenet", "shufflenet", "--g", "3", "-f", fmt.value).stdout
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["models"][1]["macs"] == analyze("shufflenet", g=3).macs
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"report{ext}" for ext in EXTENSIONS)  # no temp files


def test_output_refuses_to_overwrite_without_force(cli, tmp_path) -> None:
    path = tmp_path / "report.md"
    path.write_text("mine")
    r = cli("sweep", "shufflenet", "--g", "1,2", "-o", str(path))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == f"shufflecalc: error: {path}: file exists; use --force to overwrite it\n"
    assert path.read_text() == "mine"
    r = cli("sweep", "shufflenet", "--g", "1,2", "-o", str(path), "--force")
    assert r.exit_code == 0 and "| shufflenet | 1 |" in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


@pytest.mark.parametrize("args, message", [
    (["-o", "x.md", "-f", "csv"], "the extension means --format markdown, but --format csv was given"),
    (["-o", "x.data"], "cannot tell the format from '.data'"),
    (["-o", "nosuchdir/x.md"], "directory nosuchdir does not exist"),
])
def test_output_bad_input(cli, tmp_path, monkeypatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    r = cli("list", *args)
    assert r.exit_code == 2 and message in r.stderr and r.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_output_with_an_unknown_extension_and_an_explicit_format(cli, tmp_path) -> None:
    path = tmp_path / "report.data"
    assert cli("table", "shufflenet-table1", "-o", str(path), "-f", "csv").exit_code == 0
    assert path.read_text().startswith("model,config,macs_without_classifier_published,")
    assert cli("table", "shufflenet-table1", "-o", str(tmp_path / "t.csv"), "-f", "csv").exit_code == 0


def test_write_file_is_atomic_and_never_clobbers(tmp_path) -> None:
    path = tmp_path / "out.txt"
    common.write_file(path, "one", force=False)
    with pytest.raises(common.ShufflecalcError, match="file exists"):
        common.write_file(path, "two", force=False)
    assert path.read_text() == "one"
    common.write_file(path, b"three", force=True)
    assert path.read_bytes() == b"three" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_progress_only_for_people(monkeypatch, capsys) -> None:
    items = list(range(60))
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert list(common.progress(iter(items), 60, Format.json, "x")) == items  # json: never
    assert list(common.progress(iter(items), 60, Format.csv, "x")) == items  # csv: never
    assert list(common.progress(iter(items[:50]), 50, Format.table, "x")) == items[:50]  # few: never
    assert capsys.readouterr().err == ""


def test_progress_follows_stderr_not_stdout(monkeypatch) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    assert not common.show_progress(Format.table)
    monkeypatch.setattr("sys.stdout.isatty", lambda: False, raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert common.show_progress(Format.table) and not common.show_progress(Format.json)


def test_no_progress_when_stderr_is_not_a_terminal(cli) -> None:
    r = cli("sweep", "shufflenet", "--resolution", "100:400:1", "--columns", "resolution,macs")
    assert r.exit_code == 0 and r.stderr == "" and "301 configurations, 0 invalid." in r.stdout


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("stdout_to_file", [False, True])
def test_progress_bar_on_a_terminal(tmp_path, stdout_to_file: bool) -> None:
    """With stderr a terminal, a sweep over more than 50 configurations draws a bar (on stderr, then erased), also
    when stdout goes to a file."""
    import os
    import pty
    import sys

    data = tmp_path / "stdout.txt"
    pid, fd = pty.fork()
    if pid == 0:  # the child: stderr (and stdout unless redirected) is the terminal
        if stdout_to_file:
            os.dup2(os.open(data, os.O_WRONLY | os.O_CREAT), 1)
        os.execv(sys.executable, [sys.executable, "-m", "shufflecalc", "sweep", "shufflenet", "--resolution",
                                  "100:400:1", "--columns", "resolution,macs"])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"/301" in out and "━".encode() in out  # the bar and its count
    printed = data.read_bytes() if stdout_to_file else out
    assert b"301 configurations, 0 invalid." in printed


def test_output_options_are_declared_by_the_command(tmp_path) -> None:
    """A command has --output and --force when its signature declares them; Out refuses to write nothing."""
    import typer
    from typer.testing import CliRunner

    app = typer.Typer()

    @app.command("quiet")
    @common.boundary
    def quiet(
        fmt: common.FormatOpt = None, output_file: common.OutputOpt = None, force: common.ForceOpt = False
    ) -> None:
        """Prints nothing: nothing to write."""
        with common.Out(fmt, output_file, force):
            pass

    @app.command("plain")
    @common.boundary
    def plain() -> None:
        """No format option, so no output option."""

    runner = CliRunner()
    r = runner.invoke(app, ["quiet", "-o", str(tmp_path / "x.md")])
    assert r.exit_code == 2 and "this command printed nothing to write" in r.output
    assert "--output" in runner.invoke(app, ["quiet", "--help"]).output
    assert "--output" not in runner.invoke(app, ["plain", "--help"]).output


def test_every_printing_command_declares_its_output_options() -> None:
    """No signature rewriting: --format, --output and --force are parameters of each command function itself."""
    import inspect

    from shufflecalc.cli import analytic, formulas, latency, tables, verify

    commands = [analytic.list_command, analytic.show_command, analytic.compare_command, formulas.formula_command,
                formulas.explain_command, formulas.shuffle_command, tables.sweep_command, tables.table_command,
                verify.verify_command, latency.bench_command, latency.profile_command]
    for command in commands:
        params = inspect.signature(inspect.unwrap(command)).parameters
        assert {"fmt", "output_file", "force"} <= set(params), command.__name__
        assert params["output_file"].default is None and params["force"].default is False


def test_output_written_after_a_failed_check_but_not_after_bad_input(tmp_path) -> None:
    import typer

    for code, written in ((0, True), (1, True), (2, False)):
        path = tmp_path / f"out{code}.txt"
        with pytest.raises(typer.Exit), common.Out(None, path, False) as out:
            out.emit("data\n")
            out.emit("more\n")
            raise typer.Exit(code)
        assert path.exists() is written and (not written or path.read_text() == "data\nmore\n")
    path = tmp_path / "error.txt"
    with pytest.raises(common.ShufflecalcError), common.Out(None, path, False) as out:
        out.emit("data")
        raise common.ShufflecalcError("bad input")
    assert not path.exists()


def test_output_collects_everything_a_command_prints(tmp_path) -> None:
    """verify prints several tables; --output gets all of them, as stdout would have."""
    from ..conftest import run_cli

    pytest.importorskip("torch")
    printed = run_cli("verify", "shufflenet", "--resolution", "32", "-f", "markdown")
    out = tmp_path / "verify.md"
    r = run_cli("verify", "shufflenet", "--resolution", "32", "-o", str(out))
    assert r.exit_code == 0 and r.stdout == "" and out.read_text() == printed.stdout
    assert printed.stdout.count("**") >= 4  # more than one table
    shuffle = tmp_path / "shuffle.txt"
    assert run_cli("shuffle", "--g", "3", "--channels", "9", "-o", str(shuffle)).exit_code == 0
    assert "A1 B1 C1 A2 B2 C2 A3 B3 C3" in shuffle.read_text()


@pytest.mark.parametrize("target, message", [
    ("/proc/shufflecalc-test.json", "cannot write"),  # the kernel's file system: mkstemp fails
    ("/tmp/" + "a" * 300 + ".json", "cannot write (File name too long)"),
    ("{file}/x.json", "does not exist"),  # a component that is a file
])
def test_output_that_cannot_be_written_is_one_line(cli, tmp_path, target: str, message: str) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    r = cli("show", "mobilenet", "--output", target.format(file=a_file))
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr


def test_output_into_an_unwritable_directory_is_refused_before_the_work(cli, tmp_path, monkeypatch) -> None:
    import os

    from shufflecalc.cli import common

    real = os.access
    monkeypatch.setattr(common.os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real(p, mode))
    r = cli("show", "mobilenet", "--output", str(tmp_path / "x.json"))
    assert r.exit_code == 2 and r.stderr.strip().endswith(f"(directory {tmp_path} is not writable)")
    assert not (tmp_path / "x.json").exists()


FIT_COMMANDS = [
    ("list",), ("show", "resnet50"), ("show", "mobilenet", "--by", "stage"),
    ("compare", "mobilenet", "mobilenet_v2", "shufflenet", "shufflenet_v2"), ("explain", "resnet50"),
    ("explain", "shufflenet", "--layer", "stage2.unit0.gconv1"), ("table", "shufflenet-widths"), ("formula",),
    ("formula", "unit-c", "--M", "240", "--N", "60", "--g", "3", "--Iw", "28", "--Ih", "28"),
    ("sweep", "shufflenet", "--g", "1,2,3"), ("check", str(ROOT / "budgets.yaml")),
]


@pytest.mark.parametrize("args", FIT_COMMANDS, ids=" ".join)
def test_every_table_fits_a_100_column_terminal(cli, args: tuple[str, ...]) -> None:
    """COLUMNS=100: headers fold, prose wraps, columns hide (and the output says which); --wide draws it all."""
    fitted = cli(*args, columns=100)
    assert fitted.exit_code == 0, fitted.stderr
    assert max(len(line) for line in fitted.stdout.splitlines()) <= 100
    full = cli(*args, "--wide", columns=100)
    assert full.exit_code == 0 and full.stdout == cli(*args).stdout
    hidden = [line for line in fitted.stdout.splitlines() if "hidden to fit 100 characters" in line]
    assert hidden or max(len(line) for line in full.stdout.splitlines()) <= 100 or "┃" in fitted.stdout


def test_verify_fits_too(cli) -> None:
    pytest.importorskip("torch")
    r = cli("verify", "mobilenet", columns=100)
    assert r.exit_code == 0 and max(len(line) for line in r.stdout.splitlines()) <= 100


def test_columns_chooses_and_orders_columns_in_every_tabular_format(cli) -> None:
    r = cli("show", "mobilenet", "--columns", "name,params,macs", "-f", "csv")
    assert r.stdout.splitlines()[0] == "name,params,macs"
    table = cli("show", "mobilenet", "--columns", "layer,MACs (conv+linear)").stdout
    assert "params" not in table.split("\n")[2] and "MACs (conv+linear)" in table
    bad = cli("show", "mobilenet", "--columns", "flops_per_watt")
    assert bad.exit_code == 2
    assert "--columns: no column 'flops_per_watt' in this table (columns: name, op," in bad.stderr
    assert cli("show", "mobilenet", "--columns", "macs", "-f", "json").exit_code == 2


def test_files_are_never_cut(cli, tmp_path) -> None:
    out = tmp_path / "show.txt"
    assert cli("show", "resnet50", "-o", str(out), columns=60).exit_code == 0
    assert out.read_text() == cli("show", "resnet50").stdout
