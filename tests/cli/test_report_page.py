"""`shufflecalc report SPEC... -o report.html`: one self-contained page per call, byte-identical for the same input,
never over a user's file without --force; its data as JSON with --format json. No torch on this path.

Independent numbers: MobileNet 568,740,352 MACs and ShuffleNet 1x g=3 137,460,672 (tests/analysis/test_cost.py,
the papers' 569M and 138M); ShuffleNet g=8 stage widths 384, 768, 1536 (Zhang et al., Table 1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..conftest import blocked_env, run_cli

MOBILENET_MACS, SHUFFLENET_G3_MACS = 568_740_352, 137_460_672


def test_report_writes_one_page(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = run_cli("report", "resnet50", "-o", "report.html")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "" and r.stderr == "shufflecalc: wrote report.html\n"
    html = Path("report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<title>shufflecalc report: resnet50</title>" in html
    assert Path("report.html").stat().st_size <= 5 * 2**20


def test_never_overwrites_without_force_and_is_byte_identical(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli("report", "mobilenet", "shufflenet", "--g", "3", "-o", "a.html").exit_code == 0
    first = Path("a.html").read_bytes()
    Path("mine.html").write_text("a user's file")
    r = run_cli("report", "mobilenet", "-o", "mine.html")
    assert r.exit_code == 2 and r.stderr == "shufflecalc: error: mine.html: file exists; use --force to overwrite it\n"
    assert Path("mine.html").read_text() == "a user's file"
    r = run_cli("report", "mobilenet", "shufflenet", "--g", "3", "-o", "mine.html", "--force")
    assert r.exit_code == 0 and Path("mine.html").read_bytes() == first  # the same input, the same bytes


def test_several_models_with_their_own_parameters(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = run_cli("report", "mobilenet", "shufflenet:g=3", "shufflenet:g=8", "-o", "data.json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(Path("data.json").read_text())
    assert [m["label"] for m in data["models"]] == ["mobilenet", "shufflenet:g=3", "shufflenet:g=8"]
    macs = next(row for row in data["comparison"] if row["metric"] == "macs")
    assert macs["values"][:2] == [MOBILENET_MACS, SHUFFLENET_G3_MACS]
    assert macs["ratios"][1] == round(SHUFFLENET_G3_MACS / MOBILENET_MACS, 6)
    g8 = data["models"][2]
    widths = [g["output"][0] for g in g8["groups"] if g["kind"] == "stage"]
    assert widths == [384, 768, 1536]


def test_html_to_stdout_when_redirected_and_json_format() -> None:
    r = run_cli("report", "squeezenet1_0")  # a test's stdout is not a terminal: the page goes there
    assert r.exit_code == 0 and r.stdout.startswith("<!DOCTYPE html>") and r.stderr == ""
    r = run_cli("report", "mobilenet", "--format", "json")
    assert r.exit_code == 0 and r.json()["models"][0]["totals"]["macs"] == MOBILENET_MACS


def test_mistakes_are_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cases = {
        ("report", "mobilenet", "-o", "r.txt"):
            "--output r.txt: cannot tell the format from '.txt' (use one of .htm .html .json, or give --format)",
        ("report", "mobilenet", "-o", "r.html", "-f", "json"):
            "--output r.html: the extension means --format html, but --format json was given",
        ("report", "resnet50", "--g", "3", "-o", "r.html"): "parameter 'g' is not declared by any of: resnet50",
        ("report", "mobilenet:depth=3", "-o", "r.html"):
            "mobilenet:depth=3: mobilenet has no parameter 'depth' (parameters: width, resolution, classes)",
    }
    for args, message in cases.items():
        r = run_cli(*args)
        assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"shufflecalc: error: {message}\n"), args
    assert not Path("r.html").exists()


def test_report_never_imports_torch(tmp_path: Path) -> None:
    env = blocked_env(tmp_path)
    out = tmp_path / "r.html"
    r = subprocess.run([sys.executable, "-m", "shufflecalc", "report", "shufflenet", "-o", str(out)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
