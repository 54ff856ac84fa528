"""`shufflecalc report SPEC... -o report.html`: one self-contained page per call, byte-identical for the same input,
never over a user's file without --force; its data as JSON with --format json. No torch on this path.

Independent numbers: MobileNet 568,740,352 MACs and ShuffleNet 1x g=3 137,460,672 (tests/analysis/test_cost.py,
the papers' 569M and 138M); ShuffleNet g=8 stage widths 384, 768, 1536 (Zhang et al., Table 1). With --latency the
measured times are checked only against each other and the latency library's own definitions, never as times."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


# --- --latency -------------------------------------------------------------------------------------------------------

FAST = ["--width", "0.25", "--resolution", "32", "--device", "cpu", "--threads", "1", "--min-time", "0.05"]
LATENCY_KEYS = {"latency", "latency_ratio_to_first"}


def test_latency_in_the_data(tmp_path: Path, monkeypatch) -> None:
    """--latency: each model carries bench's results (statistics as `timing.Stats` words them, throughput as bench
    derives it), its ratio to the first model, and the page the conditions and compare's rows; the analytic part of
    the data is what it is without --latency. No wall-clock time is asserted: only how the figures relate."""
    torch = pytest.importorskip("torch")
    from shufflecalc.analysis.cost import analyze
    from shufflecalc.latency.bench import BenchOptions
    from shufflecalc.latency.timing import Stats
    from shufflecalc.units import sig

    monkeypatch.chdir(tmp_path)
    r = run_cli("report", "mobilenet", "shufflenet:g=3", *FAST, "--batch", "1,2", "--latency", "-o", "d.json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(Path("d.json").read_text())
    plain = run_cli("report", "mobilenet", "shufflenet:g=3", "--width", "0.25", "--resolution", "32", "-f", "json")
    without = {k: v for k, v in data.items() if k != "latency"}
    without["models"] = [{k: v for k, v in m.items() if k not in LATENCY_KEYS} for m in data["models"]]
    assert without == plain.json()  # the counts are untouched

    lat = data["latency"]
    env, options = lat["environment"], lat["options"]
    assert (env["device"], env["threads"], env["torch"], env["mode"]) == ("cpu", 1, torch.__version__, "eager")
    assert options == {"device": "cpu", "batches": [1, 2], "dtype": "float32", "channels_last": False,
                       "threads": 1, "cuda_graph": False, "compile": False, "min_time_s": 0.05, "peak_tflops": None,
                       "allocator": "steady"}
    assert lat["notes"][0].startswith("environment: ") and "1 threads" in lat["notes"][0]
    stats_keys = set(Stats.of([1.0]).to_dict())
    macs = [analyze("mobilenet", width=0.25, resolution=32).macs,
            analyze("shufflenet", g=3, width=0.25, resolution=32).macs]
    for i, m in enumerate(data["models"]):
        assert [(x["model"], x["batch"], x["memory_format"]) for x in m["latency"]] == [
            (m["label"], 1, "contiguous"), (m["label"], 2, "contiguous")]
        for x in m["latency"]:
            assert stats_keys <= set(x) and x["macs"] == macs[i] and x["samples"] >= BenchOptions().min_samples
            assert x["min_ms"] <= x["p25_ms"] <= x["median_ms"] <= x["p75_ms"] <= x["p90_ms"] <= x["max_ms"]
            assert x["iqr_over_median"] == pytest.approx((x["p75_ms"] - x["p25_ms"]) / x["median_ms"], abs=1e-5)
            assert x["throughput_ips"] == pytest.approx(sig(x["batch"] * 1000 / x["median_ms"]), rel=1e-5)
    first, second = (m["latency"] for m in data["models"])
    for k, b in enumerate((1, 2)):
        ratio = round(second[k]["median_ms"] / first[k]["median_ms"], 6)
        assert data["models"][1]["latency_ratio_to_first"][str(b)] == ratio
        assert data["models"][0]["latency_ratio_to_first"][str(b)] == 1.0
        row = lat["comparison"][k]
        assert row["batch"] == b and row["median_ms"] == [first[k]["median_ms"], second[k]["median_ms"]]
        assert row["ratios"] == [1.0, ratio] and row["versus"][0] is None
        speed = first[k]["median_ms"] / second[k]["median_ms"]
        worded = f"{speed:.2f}x faster" if speed >= 1 else f"{1 / speed:.2f}x slower"
        label = data["models"][1]["label"]
        assert row["versus"][1] == (f"{label} vs mobilenet, batch {b}: {macs[0] / macs[1]:.2f}x fewer MACs, "
                                    f"{worded} (median latency)")
    assert r.stderr.count("shufflecalc: warning: ") == len(lat["warnings"])


def test_without_latency_nothing_changes(tmp_path: Path, monkeypatch) -> None:
    """Without --latency the page is the one page_html makes from the analyses alone: its script is report.js and
    nothing else, its data has no latency key; timing options without --latency are checked (as compare checks them,
    without torch) and change no byte."""
    from shufflecalc.analysis.cost import analyze
    from shufflecalc.report.page import asset, page_html

    monkeypatch.chdir(tmp_path)
    assert run_cli("report", "mobilenet", "shufflenet:g=3", "--resolution", "32", "-o", "a.html").exit_code == 0
    r = run_cli("report", "mobilenet", "shufflenet:g=3", "--resolution", "32", "--threads", "1", "--min-time", "0.1",
                "--batch", "1,8", "-o", "b.html")
    assert r.exit_code == 0, r.stderr
    page = Path("a.html").read_bytes()
    assert Path("b.html").read_bytes() == page
    expected = page_html([analyze("mobilenet", resolution=32), analyze("shufflenet", g=3, resolution=32)])
    assert page == expected.encode("utf-8")
    assert f"<script>\n{asset('report.js')}\n</script>" in expected  # the page's own script, alone
    assert asset("latency.js").splitlines()[0] not in expected
    data = run_cli("report", "mobilenet", "shufflenet:g=3", "--resolution", "32", "-f", "json").json()
    assert "latency" not in data and not any(LATENCY_KEYS & set(m) for m in data["models"])
    r = run_cli("report", "mobilenet", "--threads", "0", "-o", "c.html")
    assert (r.exit_code, r.stderr) == (2, "shufflecalc: error: --threads 0: must be at least 1\n")
    assert not Path("c.html").exists()


def test_latency_without_torch_gives_the_install_hint(tmp_path: Path) -> None:
    env = blocked_env(tmp_path)
    out = tmp_path / "r.html"
    r = subprocess.run([sys.executable, "-m", "shufflecalc", "report", "shufflenet", "--latency", "-o", str(out)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stdout == ""
    assert 'pip install "shufflecalc[torch]"' in r.stderr and r.stderr.count("\n") == 1
    assert not out.exists()
