"""The formula, explain and shuffle commands: numbers, formats, exit codes, and no torch on their analytic paths."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest

from ..conftest import blocked_env

EXAMPLE = ["--K", "3", "--M", "240", "--N", "60", "--Iw", "28", "--Ih", "28", "--g", "3"]


# --- formula ------------------------------------------------------------------------------------------------------


def test_formula_dwsep_mobilenet_table3(cli) -> None:
    args = ["formula", "dwsep", "--K", "3", "--M", "512", "--N", "512", "--Iw", "14", "--Ih", "14"]
    r = cli(*args)
    assert r.exit_code == 0 and r.stderr == ""
    assert "52,283,392" in r.stdout and "3²·512·14·14 + 512·512·14·14" in r.stdout
    assert "462,422,016" in r.stdout and "1/N + 1/K² = 1/512 + 1/3² = 521/4608 ≈ 0.1131" in r.stdout
    data = cli(*args, "--format", "json").json()
    assert data["macs"] == 52_283_392 and data["baseline"]["macs"] == 462_422_016
    assert data["ratio_to_baseline"] == "521/4608" and data["ratio_closed_form"]["value"] == "521/4608"
    assert [t["macs"] for t in data["terms"]] == [903_168, 51_380_224]


@pytest.mark.parametrize("name, macs, baseline", [
    ("conv", 101_606_400, None), ("dwsep", 12_983_040, 101_606_400), ("gconv", 33_868_800, 101_606_400),
    ("unit-a", 23_002_560, None), ("unit-b", 7_949_760, 23_002_560), ("unit-c", 4_809_840, 14_217_840),
])
def test_formula_every_name(cli, name: str, macs: int, baseline: int | None) -> None:
    """The issue's example values; hand computations in test_formulas.py (unit-c's baseline: 60*240*784 + 9*60*784/4
    + 240*60*784/4 = 11,289,600 + 105,840 + 2,822,400)."""
    data = cli("formula", name, *EXAMPLE, "-f", "json").json()
    assert data["macs"] == macs
    assert (data["baseline"] or {}).get("macs") == baseline
    rows = {row["item"]: row for row in csv.DictReader(io.StringIO(cli("formula", name, *EXAMPLE, "-f", "csv").stdout))}
    assert rows["MACs"]["value"] == str(macs) and rows["M"]["value"] == "240"
    md = cli("formula", name, *EXAMPLE, "-f", "markdown").stdout
    assert f"| MACs | {name} | {macs:,} |" in md


def test_formula_fraction_and_list(cli) -> None:
    r = cli("formula", "unit-c", "--M", "240", "--N", "63", "--Iw", "7", "--Ih", "7", "--g", "3", "-f", "json")
    assert r.json()["macs"] == "1262583/4"
    assert "1,262,583/4 (≈ 315,645.75)" in cli("formula", "unit-c", "--M", "240", "--N", "63", "--Iw", "7", "--Ih",
                                                "7", "--g", "3").stdout
    refused = cli("formula", "gconv", "--K", "3", "--M", "10", "--N", "10", "--g", "3", "--Iw", "7", "--Ih", "7")
    assert (refused.exit_code, refused.stdout) == (2, "")
    assert refused.stderr == ("shufflecalc: error: gconv: --M 10 is not divisible by --g 3: a group conv splits its "
                              "channels into g equal groups\n")
    listing = cli("formula", "-f", "json").json()
    assert [f["name"] for f in listing["formulas"]] == [
        "conv", "dwsep", "gconv", "unit-a", "unit-b", "unit-c", "resnet-unit", "resnext-unit", "inverted-residual",
        "inverted-residual-s2", "shufflenet-v2-unit", "shufflenet-v2-unit-s2"]
    table = cli("formula").stdout
    assert "2NM·IwIh/g + 9N·IwIh" in table and "IwIh(2MN + 9N²)" in table and "IwIh·M·t·(M + K² + N)" in table


def test_formula_resnet_unit_beside_shufflenet_units(cli) -> None:
    """ShuffleNet section 3.2 at c = 256, m = 64, g = 8 on 56x56 (hw = 3,136), by hand:
    ResNet 3,136 * (2*256*64 + 9*64²) = 218,365,952; unit (a) 3,136 * (2*256*64 + 9*64) = 104,566,784;
    ResNeXt 3,136 * (2*256*64 + 9*64²/8) = 117,211,136; ShuffleNet 3,136 * (2*256*64/8 + 9*64) = 14,651,392."""
    args = ["formula", "resnet-unit", "--M", "256", "--N", "64", "--Iw", "56", "--Ih", "56", "--g", "8"]
    data = cli(*args, "-f", "json").json()
    assert data["macs"] == 218_365_952 and data["paper_text"] == "hw(2cm + 9m²)" and data["unused"] == {}
    assert {c["formula"]: c["macs"] for c in data["comparisons"]} == {
        "unit-a": 104_566_784, "resnext-unit": 117_211_136, "unit-b": 14_651_392}
    assert data["comparisons"][2]["ratio"] == "73/1088"  # 4,672 / 69,632
    table = cli(*args).stdout
    assert "│ as the paper writes it │ hw(2cm + 9m²)" in table and "unit-b / resnet-unit" in table
    unit_b = cli("formula", "unit-b", *EXAMPLE, "-f", "json").json()
    assert [c["formula"] for c in unit_b["comparisons"]] == ["resnet-unit", "resnext-unit"]
    without_g = cli(*args[:-2]).stdout
    assert "give --g to compare with resnext-unit" in without_g and "vs unit-a" in without_g


def test_formula_inverted_residual_with_a_fractional_t(cli) -> None:
    """MobileNetV3-Small's block2: 16 -> 24 channels, 72 hidden (t = 9/2), 56x56, stride 2 (test_formulas.py)."""
    args = ["formula", "inverted-residual-s2", "--K", "3", "--M", "16", "--N", "24", "--t", "9/2", "--Iw", "56",
            "--Ih", "56"]
    data = cli(*args, "-f", "json").json()
    assert data["macs"] == 5_475_456 and data["symbols"]["t"]["value"] == "9/2"
    assert data["substituted"] == "56·56·16·(9/2)·(16 + (3² + 24)/4)"
    assert cli(*args[:-6], "--t", "4.5", *args[-4:], "-f", "json").json()["macs"] == 5_475_456
    rows = {row["item"]: row for row in csv.DictReader(io.StringIO(cli(*args, "-f", "csv").stdout))}
    assert rows["t"]["value"] == "9/2" and rows["MACs"]["value"] == "5475456"


# --- explain ------------------------------------------------------------------------------------------------------


def test_explain_table_and_json(cli) -> None:
    r = cli("explain", "shufflenet", "--g", "3")
    assert r.exit_code == 0 and r.stderr == ""
    lines = {line.split("│")[1].strip(): line for line in r.stdout.splitlines() if line.startswith("│")}
    assert "7,738,080 │   7,738,080 │          0" in lines["stage3.unit1"]
    assert "gconv1 groups 1 ≠ 3; gconv2 output channels 216 ≠ 24" in lines["stage2.unit0"]
    data = cli("explain", "shufflenet", "--g", "3", "-f", "json").json()
    units = {u["name"]: u for u in data["units"]}
    assert len(units) == 16
    assert units["stage3.unit0"]["formula_macs"] == units["stage3.unit0"]["engine_macs"] == 9_619_680
    assert units["stage2.unit0"]["difference"] == 6_021_120 and not units["stage2.unit0"]["equal"]
    assert data["total"]["engine_macs"] == sum(u["engine_macs"] for u in data["units"])
    assert data["model_macs"] == 137_460_672
    rows = list(csv.DictReader(io.StringIO(cli("explain", "mobilenet", "-f", "csv").stdout)))
    assert len(rows) == 13 and all(row["difference"] == "0" for row in rows)
    assert rows[6]["formula_macs"] == "52283392"


def test_explain_torchvision_models(cli) -> None:
    """Units and numbers written out in test_explain.py."""
    r = cli("explain", "resnet50")
    assert r.exit_code == 0 and r.stderr == ""
    lines = {line.split("│")[1].strip(): line for line in r.stdout.splitlines() if line.startswith("│")}
    assert "218,365,952 │   218,365,952 │            0 │" in lines["layer1.unit1"]
    assert "conv3 output channels 256 ≠ 64; downsample (projection shortcut) +51,380,224" in lines["layer1.unit0"]
    assert "in no formula, with 0 MACs: batchnorm, relu, add." in r.stdout
    data = cli("explain", "resnet50", "-f", "json").json()
    assert len(data["units"]) == 16 and data["model_macs"] == 4_089_184_256
    assert data["units"][0]["layers"][-4]["reasons"][0].startswith("layer1.unit0.downsample is the projection shortcut")
    v3 = {u["name"]: u for u in cli("explain", "mobilenet_v3_small", "-f", "json").json()["units"]}
    assert v3["block2"]["symbols"] == {"K": 3, "M": 16, "N": 24, "t": "9/2", "Iw": 56, "Ih": 56}
    assert v3["block4"]["difference"] == 4_608 and len(v3["block4"]["reasons"]) == 2
    detail = cli("explain", "mobilenet_v3_small", "--layer", "block4.se_fc1").stdout
    assert "not in the formula: se_fc1 (SE) +2,304" in detail and "block4.se_fc1 is a layer of block4." in detail
    rows = list(csv.DictReader(io.StringIO(cli("explain", "shufflenet_v2", "-f", "csv").stdout)))
    assert len(rows) == 16 and all(row["difference"] == "0" for row in rows)


def test_explain_layer(cli) -> None:
    r = cli("explain", "shufflenet", "--layer", "stage2.unit0.gconv1")
    assert r.exit_code == 0
    assert "why: stage2.unit0.gconv1 is not grouped (pw1_grouped: false" in r.stdout
    assert "stage2.unit0.gconv1 is a layer of stage2.unit0." in r.stdout
    data = cli("explain", "shufflenet", "--layer", "stage2.unit0", "-f", "json").json()
    (unit,) = data["units"]
    in_formula = [layer["name"].split(".")[-1] for layer in unit["layers"] if layer["in_formula"]]
    assert in_formula == ["gconv1", "dwconv", "gconv2"]
    assert all(layer["engine_macs"] == 0 for layer in unit["layers"] if not layer["in_formula"])


def test_explain_groups_study(cli) -> None:
    data = cli("explain", "shufflenet", "--groups-study", "-f", "json").json()
    assert [r["stage_widths"]["stage3"] for r in data["rows"]] == [288, 400, 480, 544, 768]  # Table 1
    assert [r["width_ratio"] for r in data["rows"]] == [1.0, round(400 / 288, 6), round(480 / 288, 6),
                                                          round(544 / 288, 6), round(768 / 288, 6)]
    assert data["rows"][2]["unit"]["engine_macs"] == 7_738_080
    table = cli("explain", "shufflenet", "--groups-study").stdout
    assert "2.667×" in table and "144 / 288 / 576" in table and "formula = engine at every g" in table


@pytest.mark.parametrize("args, message", [
    (["formula", "dwsep", "--K", "3", "--M", "512"],
     "dwsep needs --K, --M, --N, --Iw, --Ih (missing: --N, --Iw, --Ih)"),
    (["formula", "conv", *EXAMPLE[:-2], "--g", "three"], "--g 'three': expected a positive whole number"),
    (["formula", "unit-b", *EXAMPLE[2:], "--K", "5"], "unit-b is written for a 3x3 depthwise conv"),
    (["formula", "unit-z", *EXAMPLE], "unknown formula 'unit-z'"),
    (["explain", "shufflenet", "--layer", "stage9"], "--layer 'stage9': no such unit or layer in shufflenet"),
    (["explain", "shufflenet", "--groups-study", "--g", "3"], "leave out --g"),
    (["explain", "mobilenet", "--g", "3"], "parameter 'g' is not declared by any of: mobilenet"),
    (["explain", "resnet50", "--groups-study"], "--groups-study is ShuffleNet's group-count study: it needs a spec "
                                                "with a parameter 'g' that has choices (such as shufflenet); resnet50"),
    (["explain", "mobilenet_v2", "--groups-study"], "mobilenet_v2 has none"),
    (["explain", "resnext50_32x4d", "--groups-study"], "resnext50_32x4d has none"),
    (["formula", "inverted-residual", "--K", "3", "--M", "8", "--N", "8", "--Iw", "4", "--Ih", "4", "--t", "6/0"],
     "--t '6/0': expected a positive whole number or fraction (9/2, 4.5)"),
    (["formula", "resnet-unit", *EXAMPLE[2:], "--K", "5"], "resnet-unit is written for a 3x3 conv (its 9"),
    (["shuffle", "--g", "3", "--channels", "10"], "--channels 10 is not divisible by --g 3"),
    (["shuffle", "--g", "3"], "--channels is required"),
])
def test_bad_input_exits_2_with_one_line(cli, args: list[str], message: str) -> None:
    r = cli(*args)
    assert r.exit_code == 2 and r.stdout == ""
    assert message in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


# --- shuffle ------------------------------------------------------------------------------------------------------

BLOG = """\
A1 A2 A3 B1 B2 B3 C1 C2 C3 -> reshape to (g, N/g) -> transpose -> flatten -> A1 B1 C1 A2 B2 C2 A3 B3 C3

before:  A1 A2 A3 B1 B2 B3 C1 C2 C3

reshape to (g, N/g) = (3, 3), one row per group:
         A1 A2 A3
         B1 B2 B3
         C1 C2 C3

transpose to (3, 3):
         A1 B1 C1
         A2 B2 C2
         A3 B3 C3

flatten: A1 B1 C1 A2 B2 C2 A3 B3 C3
"""


def test_shuffle_prints_the_blog_example(cli) -> None:
    r = cli("shuffle", "--g", "3", "--channels", "9")
    assert r.exit_code == 0 and BLOG in r.stdout
    assert r.stdout.rstrip().endswith("output channel i takes input channel: 0 3 6 1 4 7 2 5 8")
    data = cli("shuffle", "--g", "3", "--channels", "9", "-f", "json").json()
    assert data["permutation"] == [0, 3, 6, 1, 4, 7, 2, 5, 8] and data["after"][:3] == ["A1", "B1", "C1"]
    rows = list(csv.DictReader(io.StringIO(cli("shuffle", "--g", "3", "--channels", "9", "-f", "csv").stdout)))
    assert [int(row["source"]) for row in rows] == data["permutation"]


def test_shuffle_check(cli, monkeypatch) -> None:
    pytest.importorskip("torch")
    r = cli("shuffle", "--g", "3", "--channels", "9", "--check")
    assert r.exit_code == 0
    assert "equal to torch.nn.ChannelShuffle(3): yes" in r.stdout
    assert "output channel i = input channel permutation[i] for every i: yes" in r.stdout
    assert cli("shuffle", "--g", "4", "--channels", "8", "--check", "-f", "json").json()["check"]["ok"] is True
    import shufflecalc.bridge.modules.structure as tm

    monkeypatch.setattr(tm, "channel_shuffle", lambda x, groups: x)
    r = cli("shuffle", "--g", "3", "--channels", "9", "--check")
    assert r.exit_code == 1 and "check failed" in r.stderr and "ChannelShuffle(3): NO" in r.stdout


# --- no torch -----------------------------------------------------------------------------------------------------


def test_formula_commands_run_without_torch(tmp_path) -> None:
    env = blocked_env(tmp_path, 'torch', 'fvcore')
    for args in (["formula", "unit-b", *EXAMPLE], ["explain", "shufflenet", "--groups-study"],
                 ["explain", "mobilenet"], ["explain", "resnet50"], ["explain", "mobilenet_v3_small"],
                 ["shuffle", "--g", "3", "--channels", "9"]):
        r = subprocess.run([sys.executable, "-m", "shufflecalc", *args], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "shufflecalc", "shuffle", "--g", "3", "--channels", "9", "--check"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "needs the torch extra" in r.stderr and r.stderr.count("\n") == 1
