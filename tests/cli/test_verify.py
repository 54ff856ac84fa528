"""`shufflecalc verify`: formats, --all grids, --layers, exit codes 0 / 1 / 2, and the torch extra being optional."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys

import pytest

from shufflecalc.analysis.cost import analyze

from ..conftest import GRID_SPEC, ROOT, blocked_env

pytest.importorskip("torch")
pytest.importorskip("fvcore")


def test_json_agrees_under_three_conventions(cli) -> None:
    r = cli("verify", "mobilenet", "shufflenet", "--g", "3", "--resolution", "96", "-f", "json")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    assert data["result"] == "PASS"
    assert {"macs", "flops", "fvcore_flops", "params"} <= set(data["conventions"])
    mob, shuf = data["configurations"]
    assert shuf["config"]["g"] == 3 and shuf["input"] == [3, 96, 96] and "g" not in mob["config"]
    for entry, name in ((mob, "mobilenet"), (shuf, "shufflenet")):
        a = analyze(name, **entry["config"])
        assert entry["result"] == "PASS" and entry["mismatches"] == []
        assert entry["analytic"]["macs"] == a.macs and entry["analytic"]["params"] == a.params
        assert entry["torch"] == {"flops": 2 * a.macs, "params": a.params}
        assert entry["fvcore"]["fvcore_measured_flops"] == entry["analytic"]["fvcore_flops"] == a.fvcore_flops
        assert entry["fvcore"]["by_operator"] == entry["analytic"]["fvcore_by_operator"]
        assert entry["layers_checked"] == entry["layers_passed"] == len(a.layers)
        assert entry["torch_output"] == entry["output"] == [1000]
    left_out = {(o["treatment"], o["op"]): o for o in shuf["fvcore_left_out"]}
    assert left_out["unsupported", "add"]["operators"] == {"aten::add": 13}
    assert r.stdout == cli("verify", "mobilenet", "shufflenet", "--g", "3", "--resolution", "96", "-f", "json").stdout


def test_all_runs_every_grid_configuration(cli) -> None:
    r = cli("verify", "shufflenet", "mobilenet", "--all", "--resolution", "32", "-f", "json")
    assert r.exit_code == 0, r.stderr
    configs = r.json()["configurations"]
    assert len(configs) == 50 + 1 and all(c["result"] == "PASS" for c in configs)
    assert {(c["config"]["g"], c["config"]["width"], c["config"]["shuffle"]) for c in configs[:50]} == {
        (g, w, s) for g in (1, 2, 3, 4, 8) for w in (0.25, 0.5, 1.0, 1.5, 2.0) for s in (False, True)}
    r = cli("verify", "shufflenet", "--all", "--g", "8", "--width", "0.5", "--set", "resolution=32", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 2 and {row["result"] for row in rows} == {"PASS"}
    assert all(int(row["torch_flops"]) == 2 * int(row["macs"]) for row in rows)
    assert all(row["fvcore_measured_flops"] == row["fvcore_flops"] for row in rows)


def test_all_without_specs_means_every_builtin(cli, monkeypatch) -> None:
    from shufflecalc.cli import verify as verify_cli

    monkeypatch.setattr(verify_cli, "builtin_names", lambda: ["mobilenet"])
    r = cli("verify", "--all", "--resolution", "64", "-f", "json")
    assert r.exit_code == 0 and [c["name"] for c in r.json()["configurations"]] == ["mobilenet"]


def test_layers_rows(cli) -> None:
    r = cli("verify", "mobilenet", "--width", "0.25", "--resolution", "64", "--layers", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    a = analyze("mobilenet", width=0.25, resolution=64)
    assert [row["layer"] for row in rows] == [layer.name for layer in a.layers]
    for row, layer in zip(rows, a.layers, strict=False):
        assert int(row["flops"]) == int(row["torch_flops"]) == 2 * layer.macs
        assert int(row["fvcore_measured_flops"]) == int(row["fvcore_flops"]) == layer.fvcore_flops
        assert int(row["params"]) == int(row["torch_params"]) == layer.params
        assert row["output"] == row["torch_output"] == "x".join(map(str, layer.out))
        assert row["result"] == "PASS"
    assert rows[0]["fvcore_treatment"] == "counted: conv" and rows[2]["fvcore_treatment"] == "ignored: aten::relu"
    table = cli("verify", "mobilenet", "--width", "0.25", "--resolution", "64", "--layers").stdout
    assert "per layer: mobilenet" in table and "block13.pw_bn" in table and "what fvcore leaves out" in table


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_tables_show_exact_counts(cli, fmt: str) -> None:
    r = cli("verify", "shufflenet", "--g", "3", "--resolution", "64", "-f", fmt)
    a = analyze("shufflenet", g=3, resolution=64)
    assert r.exit_code == 0 and r.stderr == ""
    assert f"{a.fvcore_flops:,}" in r.stdout and f"{2 * a.macs:,}" in r.stdout and f"{a.params:,}" in r.stdout
    assert "PASS" in r.stdout and "FAIL" not in r.stdout.replace("0 FAIL", "")
    assert "stage*.unit*.add" in r.stdout and "aten::add ×13" in r.stdout


def test_a_mismatch_exits_1_and_lists_the_layers(cli, wrong_batchnorm) -> None:
    table = cli("verify", "mobilenet", "--width", "0.25", "--resolution", "32")
    data = cli("verify", "mobilenet", "--width", "0.25", "--resolution", "32", "-f", "json")
    assert table.exit_code == data.exit_code == 1
    assert data.json()["result"] == "FAIL"
    (entry,) = data.json()["configurations"]
    conv1_bn = next(m for m in entry["mismatches"] if m["where"] == "conv1.bn")
    assert conv1_bn == {"check": "fvcore_flops", "where": "conv1.bn", "analytic": 3 * 8 * 16 * 16,
                        "measured": 2 * 8 * 16 * 16, "difference": -8 * 16 * 16}
    assert "mismatches" in table.stdout and "FAIL" in table.stdout
    assert re.search(r"conv1\.bn\s+│\s+6,144\s+│\s+4,096\s+│\s+-2,048", table.stdout)


def test_invalid_grid_combinations_are_reported_not_fatal(cli, write_spec) -> None:
    path = write_spec(GRID_SPEC, "grid.yaml")
    r = cli("verify", path, "--all")
    assert r.exit_code == 0, r.stderr
    assert "INVALID" in r.stdout and "input channels 8 are not divisible by groups=3" in r.stdout
    assert "4 configurations: 3 PASS, 0 FAIL, 1 INVALID." in r.stdout
    data = cli("verify", path, "--all", "-f", "json").json()
    assert [c["result"] for c in data["configurations"]] == ["PASS", "PASS", "PASS", "INVALID"]
    assert data["result"] == "PASS"


@pytest.mark.parametrize("args, message", [
    (["verify"], "give one or more specs, or --all"),
    (["verify", "shufflenet", "--g", "5"], "shufflenet: parameter g: 5 is not one of 1, 2, 3, 4, 8"),
    (["verify", "mobilenet", "--g", "3"], "parameter 'g' is not declared by any of: mobilenet"),
    (["verify", "nosuchnet"], "unknown spec 'nosuchnet'"),
    (["verify", "shufflenet", "--all", "--width", "0.3"], "0.3 is not one of"),
])
def test_bad_input_exits_2(cli, args: list[str], message: str) -> None:
    r = cli(*args)
    assert r.exit_code == 2 and r.stdout == ""
    assert message in r.stderr and r.stderr.count("\n") == 1


def test_an_invalid_explicit_configuration_is_bad_input(cli, write_spec) -> None:
    path = write_spec(GRID_SPEC, "grid.yaml")
    r = cli("verify", path, "--set", "g=3", "--set", "c=8")
    assert r.exit_code == 2 and f"{path}:7 layers[0].groups: input channels 8 are not divisible" in r.stderr


@pytest.mark.parametrize("blocked", [("torch", "fvcore"), ("fvcore",)])
def test_without_the_torch_extra_verify_prints_the_install_hint(tmp_path, blocked: tuple[str, ...]) -> None:
    env = blocked_env(tmp_path, *blocked)
    r = subprocess.run([sys.executable, "-m", "shufflecalc", "verify", "mobilenet"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 2 and r.stdout == ""
    assert 'pip install "shufflecalc[torch]"' in r.stderr and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "shufflecalc", "--help"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "verify" in r.stdout


def test_readme_verify_output_is_current(cli) -> None:
    readme = (ROOT / "docs" / "conventions.md").read_text()
    example = re.search(r"`shufflecalc verify mobilenet shufflenet --g 3`:\n\n```\n(.*?)```", readme, re.S).group(1)
    assert cli("verify", "mobilenet", "shufflenet", "--g", "3").stdout == example


def test_headers_and_keys_tell_analytic_from_measured_fvcore_counts(cli) -> None:
    r = cli("verify", "mobilenet", "--width", "0.25", "--resolution", "32", "--layers")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.count("fvcore flops (analytic)") >= 2 and r.stdout.count("fvcore flops (measured)") >= 2
    assert "MACs (conv+linear)" in r.stdout
    r = cli("verify", "mobilenet", "--width", "0.25", "--resolution", "32", "--layers", "-f", "json")
    (entry,) = r.json()["configurations"]
    assert set(entry["fvcore"]) == {"fvcore_measured_flops", "by_operator"} and "fvcore_flops" in entry["analytic"]
    assert {"fvcore_flops", "fvcore_measured_flops"} <= set(entry["layers"][0]) and "fvcore" not in entry["layers"][0]
    assert "fvcore_measured_flops" in r.json()["conventions"]
