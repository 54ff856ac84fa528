"""The latency commands on the command line: bench, profile, compare --latency; formats, errors, exit codes."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import pytest

from shufflecalc.analysis.cost import analyze

from ..conftest import ROOT

torch = pytest.importorskip("torch")

FAST = ["--device", "cpu", "--threads", "1", "--min-time", "0.05", "--width", "0.25", "--resolution", "32"]


def test_bench_json(cli) -> None:
    r = cli("bench", "mobilenet", "shufflenet", "--g", "2", "--batch", "1,2", *FAST, "-f", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert set(doc) == {"conventions", "environment", "options", "results", "warnings"}
    assert doc["options"]["batches"] == [1, 2] and doc["environment"]["threads"] == 1
    rows = doc["results"]
    assert [(x["model"], x["batch"]) for x in rows] == [("mobilenet", 1), ("mobilenet", 2), ("shufflenet", 1),
                                                       ("shufflenet", 2)]
    assert rows[2]["macs"] == analyze("shufflenet", g=2, width=0.25, resolution=32).macs
    assert rows[2]["config"]["g"] == 2 and "g" not in rows[0]["config"]
    # warnings are printed on stderr too, one line each
    assert r.stderr.count("shufflecalc: warning: ") == len(doc["warnings"])


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_bench_formats(cli, fmt: str) -> None:
    r = cli("bench", "shufflenet", *FAST, "-f", fmt)
    assert r.exit_code == 0, r.stderr
    if fmt == "csv":
        (row,) = list(csv.DictReader(io.StringIO(r.stdout)))
        assert row["macs"] == str(analyze("shufflenet", width=0.25, resolution=32).macs)
        assert float(row["median_ms"]) > 0 and row["memory_format"] == "contiguous" and row["mode"] == "eager"
    else:
        for header in ("median ms", "p90 ms", "p99 ms", "min ms", "mean ms", "IQR/median", "samples", "images/s",
                       "GFLOP/s"):
            assert header in r.stdout
        assert "environment: " in r.stdout and "torch " + torch.__version__ in r.stdout
        assert ", allocator s" in r.stdout  # steady (freed memory kept) or, where malloc is not glibc's, system


def test_bench_allocator_option(cli) -> None:
    r = cli("bench", "shufflenet", *FAST, "--allocator", "system", "-f", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["options"]["allocator"] == "system" and doc["environment"]["allocator"]
    assert all("page_faults_per_call" in row for row in doc["results"]) == (os.name == "posix")
    r = cli("bench", "shufflenet", *FAST, "--allocator", "jemalloc")
    assert r.exit_code == 2 and r.stderr.strip() == (
        "shufflecalc: error: --allocator 'jemalloc': expected one of steady, system")


def test_compare_latency(cli) -> None:
    r = cli("compare", "mobilenet", "shufflenet", "--g", "3", "--latency", "--batch", "1,2", *FAST, "-f", "json")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    mob, shuf = data["models"]
    assert mob["macs"] == analyze("mobilenet", width=0.25, resolution=32).macs  # the analytic part is unchanged
    assert [x["batch"] for x in shuf["latency"]] == [1, 2]
    for b, m_row, s_row in zip(("1", "2"), mob["latency"], shuf["latency"], strict=False):
        assert shuf["latency_ratio_to_first"][b] == pytest.approx(s_row["median_ms"] / m_row["median_ms"], rel=1e-5)
        assert mob["latency_ratio_to_first"][b] == 1.0
    assert data["environment"]["device"] == "cpu"

    r = cli("compare", "mobilenet", "shufflenet", "--g", "3", "--latency", *FAST)
    assert r.exit_code == 0, r.stderr
    assert "median latency, batch 1 (ms)" in r.stdout and "throughput, batch 1 (images/s)" in r.stdout
    line = next(candidate for candidate in r.stdout.splitlines()
                if candidate.startswith("shufflenet vs mobilenet, batch 1: "))
    ratio = mob["macs"] / shuf["macs"]
    assert f"{ratio:.2f}x fewer MACs, " in line and ("faster" in line or "slower" in line)

    r = cli("compare", "mobilenet", "shufflenet", "--latency", *FAST, "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert float(rows[1]["median_ms_ratio_to_first_batch1"]) == pytest.approx(
        float(rows[1]["median_ms_batch1"]) / float(rows[0]["median_ms_batch1"]), rel=1e-4)


@pytest.mark.parametrize("by", ["class", "layer"])
def test_profile(cli, by: str) -> None:
    args = ["profile", "shufflenet", "--device", "cpu", "--threads", "1", "--width", "0.5", "--resolution", "64",
            "--iterations", "2", "--by", by]
    r = cli(*args, "-f", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    a = analyze("shufflenet", width=0.5, resolution=64)
    assert {c["class"] for c in doc["by_class"]} == set(a.breakdown("class"))
    r = cli(*args, "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    if by == "class":
        assert sum(int(x["macs"]) for x in rows) == a.macs
    else:
        assert [x["name"] for x in rows] == [layer.name for layer in a.layers]
    r = cli(*args)
    assert r.exit_code == 0 and "% of MACs" in r.stdout and "% of memory access" in r.stdout and "% of time" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["bench", "shufflenet", "--device", "cpu", "--cuda-graph"], "--cuda-graph needs --device cuda"),
    (["bench", "shufflenet", "--batch", "1,x"], "--batch '1,x'"),
    (["bench", "shufflenet", "--dtype", "float64"], "--dtype 'float64'"),
    (["bench", "shufflenet", "--device", "gpu"], "--device 'gpu'"),
    (["bench", "mobilenet", "--g", "3"], "parameter 'g' is not declared by any of: mobilenet"),
    (["compare", "shufflenet", "--latency", "--min-time", "0"], "--min-time 0"),
    (["bench", "shufflenet", "--min-time", "nan"], "--min-time nan: must be a positive number"),
    (["bench", "shufflenet", "--min-time", "inf"], "--min-time inf: must be a positive number"),
    (["bench", "shufflenet", "--peak-tflops", "nan"], "--peak-tflops nan: must be a positive number"),
    (["profile", "shufflenet", "--by", "stage"], "--by 'stage'"),
    (["profile", "shufflenet", "--batch", "0"], "--batch '0'"),
    (["bench", "shufflenet", "--batch", "1,,2"], "--batch '1,,2': empty value in the comma list"),
    (["compare", "shufflenet", "--latency", "--batch", "1,"], "--batch '1,': empty value in the comma list"),
    (["profile", "shufflenet", "--batch", "1,8"], "--batch '1,8': profile takes one batch size"),
    (["profile", "shufflenet", "--batch", "x"], "--batch 'x': expected whole numbers"),
    (["bench", "shufflenet", "--set", "g=1", "--set", "g=8"], "'g' is already given by an earlier --set"),
])
def test_bad_input_exits_2_with_one_line(cli, args: list[str], message: str) -> None:
    r = cli(*args)
    assert r.exit_code == 2 and r.stdout == ""
    assert message in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_device_cuda_without_cuda(cli) -> None:
    for command in (["bench", "shufflenet"], ["profile", "shufflenet"], ["compare", "shufflenet", "--latency"]):
        r = cli(*command, "--device", "cuda")
        assert r.exit_code == 2 and r.stdout == ""
        assert "--device cuda: CUDA is not available" in r.stderr and r.stderr.count("\n") == 1


def test_without_torch_the_latency_commands_give_the_install_hint(tmp_path) -> None:
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'fvcore'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    for args in (["bench", "shufflenet"], ["profile", "mobilenet"], ["compare", "mobilenet", "--latency"]):
        r = subprocess.run([sys.executable, "-m", "shufflecalc", *args], capture_output=True, text=True, env=env)
        assert r.returncode == 2 and r.stdout == ""
        assert 'pip install "shufflecalc[torch]"' in r.stderr and r.stderr.count("\n") == 1


def test_progress_bar_only_on_a_terminal(monkeypatch) -> None:
    from shufflecalc.cli.common import Format, progress_bar

    with progress_bar(Format.table, "timing") as progress:  # stderr is captured here, not a terminal
        assert progress is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with progress_bar(Format.table, "timing") as progress:
        assert callable(progress)
        progress(1, 4, "mobilenet batch 1 contiguous")
    for fmt in (Format.json, Format.csv):  # never in machine output, even on a terminal
        with progress_bar(fmt, "timing") as progress:
            assert progress is None


def test_one_progress_helper() -> None:
    """bench and compare --latency draw the same bar as sweep (cli.common.progress_bar)."""
    from shufflecalc.cli import common, timing

    assert timing.progress_bar is common.progress_bar
