"""The analytic CLI: formats, the JSON contract, determinism, exit codes, and independence from torch."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import pytest

from shufflecalc.analysis.cost import analyze

from ..conftest import blocked_env


def test_compare_headline_json(cli) -> None:
    r = cli("compare", "mobilenet", "shufflenet", "--g", "3", "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    mob, shuf = data["models"]
    assert set(data["conventions"]) == {"macs", "flops", "fvcore_flops", "params", "activations", "memory_access"}
    for key in ("name", "config", "input", "macs", "flops", "fvcore_flops", "params", "activations",
                "memory_access", "layers"):
        assert key in mob
    assert mob["macs"] == 568_740_352 and mob["params"] == 4_231_976 and "g" not in mob["config"]
    assert shuf["config"]["g"] == 3 and shuf["macs"] == analyze("shufflenet", g=3).macs
    assert shuf["flops"] == 2 * shuf["macs"]
    assert shuf["ratio_to_first"]["macs"] == round(shuf["macs"] / mob["macs"], 6)
    layer = shuf["layers"][4]
    assert layer["name"] == "stage2.unit0.gconv1"
    assert {"name", "op", "input", "output", "macs", "params", "activations"} <= set(layer)
    assert sum(layer["macs"] for layer in shuf["layers"]) == shuf["macs"]


def test_json_is_byte_identical_across_runs() -> None:
    cmd = [sys.executable, "-m", "shufflecalc", "compare", "mobilenet", "shufflenet", "--g", "3", "-f", "json"]
    outs = {subprocess.run(cmd, capture_output=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")}
    assert len(outs) == 1


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_compare_formats(cli, fmt: str) -> None:
    r = cli("compare", "mobilenet", "shufflenet", "--g", "3", "-f", fmt)
    assert r.exit_code == 0 and r.stderr == ""
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        assert rows[0]["macs"] == "568740352" and rows[1]["params"] == str(analyze("shufflenet", g=3).params)
    else:
        assert "MACs (conv+linear)" in r.stdout and "568.74M" in r.stdout and "137.46M" in r.stdout
        assert "FLOPs (2×MACs)" in r.stdout and "fvcore flops" in r.stdout


def test_show_layers_and_breakdowns(cli) -> None:
    r = cli("show", "shufflenet", "--g", "8", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    a = analyze("shufflenet", g=8)
    assert [row["name"] for row in rows] == [layer.name for layer in a.layers]
    assert sum(int(row["macs"]) for row in rows) == a.macs
    for by in ("block", "stage", "class"):
        r = cli("show", "mobilenet", "--by", by, "-f", "csv")
        assert r.exit_code == 0
        assert sum(int(row["macs"]) for row in csv.DictReader(io.StringIO(r.stdout))) == 568_740_352
    r = cli("show", "mobilenet", "--width", "0.5")
    assert r.exit_code == 0 and "conv1.conv" in r.stdout and "149.50M" in r.stdout


def test_list(cli) -> None:
    r = cli("list", "-f", "json")
    specs = {s["name"]: s for s in r.json()["specs"]}
    assert specs["shufflenet"]["params"]["g"]["choices"] == [1, 2, 3, 4, 8]
    assert specs["mobilenet"]["params"]["width"]["default"] == 1.0
    assert "shufflenet" in cli("list").stdout


@pytest.mark.parametrize("args, message", [
    (["compare", "mobilenet", "--g", "3"], "parameter 'g' is not declared by any of: mobilenet"),
    (["compare", "shufflenet", "--g", "5"], "shufflenet: parameter g: 5 is not one of 1, 2, 3, 4, 8"),
    (["compare", "shufflenet", "--set", "shuffle=maybe"], "'maybe' is not a valid bool"),
    (["compare", "shufflenet", "--set", "nonsense"], "expected NAME=VALUE"),
    (["compare", "shufflenet", "--set", "g=1", "--set", "g=8"],
     "--set g=...: 'g' is already given by an earlier --set"),
    (["show", "shufflenet", "--g", "3", "--set", "g=4"], "--set g=...: 'g' is already given by --g"),
    (["compare", "nosuchnet"], "unknown spec 'nosuchnet'"),
    (["compare", "missing.yaml"], "missing.yaml: no such spec file"),
    (["show", "mobilenet", "--by", "planet"], "--by 'planet'"),
    (["compare", "shufflenet", "--width", "0.3"], "0.3 is not one of 0.25, 0.5, 1.0, 1.5, 2.0"),
])
def test_bad_input_exits_2_with_one_line(cli, args: list[str], message: str) -> None:
    r = cli(*args)
    assert r.exit_code == 2
    assert r.stdout == ""
    assert message in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_bad_spec_file_points_at_the_line(cli, write_spec) -> None:
    path = write_spec(
        "input: [24, 8, 8]\nlayers:\n  - stage: s\n    unit: {op: shufflenet_unit, out: 250, groups: 3}\n")
    r = cli("compare", path)
    assert r.exit_code == 2
    assert f"{path}:4 layers[0].unit.out: bottleneck channels 62" in r.stderr


def test_set_applies_to_every_model_that_declares_it(cli) -> None:
    r = cli("compare", "mobilenet", "shufflenet", "--set", "resolution=160", "--set", "shuffle=false", "-f", "json")
    mob, shuf = r.json()["models"]
    assert mob["input"] == shuf["input"] == [3, 160, 160]
    assert shuf["config"]["shuffle"] is False


def test_analytic_cli_runs_without_torch(tmp_path) -> None:
    """The analytic commands must neither need nor import torch: run them with torch made unimportable."""
    env = blocked_env(tmp_path, 'torch', 'fvcore')
    for args in (["compare", "mobilenet", "shufflenet", "--g", "3"], ["show", "shufflenet"], ["list"],
                 ["compare", "mobilenet_v2", "mobilenet_v3_large", "shufflenet_v2", "resnet50", "resnext50_32x4d"]):
        r = subprocess.run([sys.executable, "-m", "shufflecalc", *args], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
    check = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, env=env)
    assert check.returncode != 0  # the blocker works


def test_console_script_and_module_entry_points() -> None:
    r = subprocess.run([sys.executable, "-m", "shufflecalc", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "compare" in r.stdout
    # the entry point registers only the command it runs: a module with one command stays a subcommand
    r = subprocess.run([sys.executable, "-m", "shufflecalc", "verify", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "Usage: python -m shufflecalc verify" in r.stdout


def test_compare_torchvision_models_with_g(cli) -> None:
    """--g applies to the models that declare g (ShuffleNet v1) and leaves the others alone."""
    r = cli("compare", "mobilenet", "mobilenet_v2", "shufflenet", "shufflenet_v2", "--g", "3", "-f", "json")
    assert r.exit_code == 0, r.stderr
    models = {m["name"]: m for m in r.json()["models"]}
    assert list(models) == ["mobilenet", "mobilenet_v2", "shufflenet", "shufflenet_v2"]
    assert models["shufflenet"]["config"]["g"] == 3
    assert all("g" not in models[n]["config"] for n in ("mobilenet", "mobilenet_v2", "shufflenet_v2"))
    assert models["mobilenet_v2"]["params"] == 3_504_872 and models["shufflenet_v2"]["params"] == 2_278_604
    table = cli("compare", "mobilenet", "mobilenet_v2", "shufflenet", "shufflenet_v2", "--g", "3")
    assert table.exit_code == 0 and "shufflenet_v2 / mobilenet" in table.stdout


def test_list_and_show_the_torchvision_models(cli) -> None:
    specs = {s["name"]: s for s in cli("list", "-f", "json").json()["specs"]}
    assert {"mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "shufflenet_v2", "resnet50",
            "resnext50_32x4d"} <= set(specs)
    assert specs["shufflenet_v2"]["params"]["width"]["choices"] == [0.5, 1.0, 1.5, 2.0]
    r = cli("show", "resnet50", "--by", "stage", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["name"] for row in rows][:4] == ["conv1", "maxpool", "layer1", "layer2"]
    assert sum(int(row["macs"]) for row in rows) == 4_089_184_256
    r = cli("show", "shufflenet_v2", "--width", "0.5", "-f", "json")
    assert r.json()["models"][0]["params"] == 1_366_792


def test_every_command_is_in_the_dispatch_table() -> None:
    """main() imports only the module of the command being run: MODULES must name every registered command."""
    import typer.main

    from shufflecalc.cli import MODULES, app

    registered = set(typer.main.get_command(app).commands)
    assert registered == {c for commands in MODULES.values() for c in commands}


USAGE_ERRORS = [
    (["show", "shufflenet", "--g", "abc"], "Invalid value for '--g': 'abc' is not a valid int"),
    (["show", "shufflenet", "--width", "x"], "Invalid value for '--width': 'x' is not a valid float"),
    (["profile", "shufflenet", "--iterations", "many"], "Invalid value for '--iterations': 'many' is not a valid int"),
    (["bench", "shufflenet", "--threads", "two"], "Invalid value for '--threads': 'two' is not a valid int"),
    (["compare", "mobilenet", "--bogus"], "No such option: --bogus"),
    (["compare"], "Missing argument"),
    (["list", "-f", "bogus"], "Invalid value for '--format' / '-f': 'bogus' is not one of"),
    (["nosuch"], "No such command 'nosuch'"),
]


@pytest.mark.parametrize("args, message", USAGE_ERRORS)
def test_usage_errors_are_one_line_with_exit_2(cli, args: list[str], message: str) -> None:
    r = cli(*args)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith(f"shufflecalc: error: {message}") and r.stderr.count("\n") == 1, r.stderr


def test_usage_errors_through_the_console_script() -> None:
    for args, message in USAGE_ERRORS[:2] + USAGE_ERRORS[4:6]:
        r = subprocess.run([sys.executable, "-m", "shufflecalc", *args], capture_output=True, text=True)
        assert r.returncode == 2 and r.stdout == "", r.stderr
        assert r.stderr.startswith(f"shufflecalc: error: {message}") and r.stderr.count("\n") == 1, r.stderr
    r = subprocess.run([sys.executable, "-m", "shufflecalc"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout.startswith("Usage: ") and "compare" in r.stdout and r.stderr == ""
    r = subprocess.run([sys.executable, "-m", "shufflecalc", "show", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--output" in r.stdout and r.stderr == ""


def test_help_through_the_test_helper(cli) -> None:
    r = cli("compare", "--help")
    assert r.exit_code == 0 and r.stdout.startswith("Usage: shufflecalc compare") and r.stderr == ""


@pytest.mark.parametrize("args, message", [
    (["--plot-kind", "bogus"], "--plot-kind 'bogus': expected one of auto, scatter, lines, latency"),
    (["--device", "tpu"], "--device 'tpu'"),
    (["--threads", "0"], "--threads 0: must be at least 1"),
    (["--batch", "0"], "--batch '0'"),
    (["--dtype", "float64"], "--dtype 'float64'"),
    (["--min-time", "nan"], "--min-time nan"),
])
def test_compare_checks_options_it_would_ignore(cli, args: list[str], message: str) -> None:
    """--plot-kind without --plot and the timing options without --latency are still checked."""
    r = cli("compare", "mobilenet", *args)
    assert r.exit_code == 2 and r.stdout == "" and message in r.stderr and r.stderr.count("\n") == 1


def test_compare_checks_timing_options_without_torch(tmp_path) -> None:
    env = blocked_env(tmp_path, "torch", "fvcore")
    run = [sys.executable, "-m", "shufflecalc", "compare", "mobilenet"]
    r = subprocess.run([*run, "--device", "tpu"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "--device 'tpu'" in r.stderr and "torch" not in r.stderr
    r = subprocess.run([*run, "--device", "cpu", "--threads", "2", "--batch", "1,8"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0 and r.stderr == ""


def test_force_help_names_the_files_of_each_command() -> None:
    import typer.main

    from shufflecalc.cli import app

    commands = typer.main.get_command(app).commands

    def help_of(command: str, option: str) -> str | None:
        return next((p.help for p in commands[command].params if option in p.opts), None)

    for command in ("compare", "sweep", "table"):
        assert help_of(command, "--force") == "overwrite an existing --output or --plot file"
    for command in ("list", "show", "formula", "explain", "shuffle", "verify", "bench", "profile"):
        assert help_of(command, "--force") == "overwrite an existing --output file" and not help_of(command, "--plot")
    assert help_of("check", "--force") == "overwrite an existing --output or --write-baseline file"


def test_show_headers_name_their_convention_as_compare_does(cli) -> None:
    from shufflecalc.analysis.cost import HEADERS

    for by in ("layer", "stage"):
        r = cli("show", "shufflenet", "--by", by, "-f", "markdown")
        (header,) = [line for line in r.stdout.splitlines() if line.startswith(f"| {by} |")]
        cells = [c.strip() for c in header.strip("|").split("|")]
        assert [HEADERS[k] for k in ("macs", "params", "activations", "fvcore_flops", "memory_access")] == [
            c for c in cells if c in HEADERS.values()]
        assert "activations" not in cells and "memory access" not in cells


def test_compare_timing_defaults_match_its_signature() -> None:
    """compare skips checking timing options left at their defaults: TIMING_DEFAULTS must be those defaults."""
    import inspect

    from shufflecalc.cli import analytic

    params = inspect.signature(analytic.compare_command).parameters
    names = (
        "device", "batch", "dtype", "channels_last", "threads", "cuda_graph", "compile_", "min_time", "peak_tflops")
    assert tuple(params[n].default for n in names) == analytic.TIMING_DEFAULTS
