"""The other counters' conventions as options (issue 16): `--convention NAME` on show, compare and sweep, the same
names as budget metrics in `check`, and `verify --conventions` running the real tools.

The numbers asserted are the tools' own, never the engine's: the hand-counted layers of HAND (each tool's rule worked
out in the comments, and measured by the tools themselves in `test_verify_conventions_passes_with_the_tools`), and
the totals the tools reported on ShuffleNet 1x g=3 and MobileNet at 224 (the issue's figures, and
tests/analysis/test_peers.py's MEASURED: ptflops' get_model_complexity_info, thop.profile,
torchinfo.summary(...).total_mult_adds, run once on shufflecalc.build_model's models).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from shufflecalc.analysis.cost import CONVENTION_NAMES

# A 4 x 6 x 6 input: conv 3x3 (padding 1) to 8 channels with bias: MACs 8 x 4 x 9 x 36 = 10,368, bias adds 8 x 36 = 288;
# affine batchnorm over 288 elements; relu; 2x2 average pool to 8 x 3 x 3 = 72 outputs; global average pool to 8.
HAND = ("name: hand\ninput: [4, 6, 6]\nlayers:\n"
        "  - {name: conv, op: conv2d, out: 8, kernel: 3, bias: true}\n"
        "  - {name: bn, op: batchnorm}\n  - {name: relu, op: relu}\n"
        "  - {name: pool, op: avgpool, kernel: 2}\n  - {name: gap, op: global_avgpool}\n")
HAND_COUNTS = {
    # ptflops (pytorch): MACs + bias; 2 per affine batchnorm element; relu and both pools twice (module hook and the
    # patched functional call): 1 per input element each time
    "ptflops_pytorch": {"conv": 10_368 + 288, "bn": 2 * 288, "relu": 2 * 288, "pool": 2 * 288, "gap": 2 * 72},
    # ptflops (aten): aten.convolution with its bias adds, nothing else
    "ptflops_aten": {"conv": 10_368 + 288, "bn": 0, "relu": 0, "pool": 0, "gap": 0},
    # thop: MACs without bias; 4 per affine batchnorm element; avg pool 1 per output; adaptive (9 / 1 + 1) per output
    "thop": {"conv": 10_368, "bn": 4 * 288, "relu": 0, "pool": 72, "gap": 10 * 8},
    # torchinfo: (weights + bias) x output positions for the conv; batchnorm its 16 parameters
    "torchinfo": {"conv": 10_368 + 288, "bn": 16, "relu": 0, "pool": 0, "gap": 0},
    # torchprofile: MACs; 1 per affine batchnorm element; 1 per pooled output element
    "torchprofile": {"conv": 10_368, "bn": 288, "relu": 0, "pool": 72, "gap": 8},
}
# The tools' totals at 224 x 224, one image (see the module docstring).
SHUFFLENET_G3 = {"ptflops_pytorch": 150_199_104, "thop": 149_593_248, "torchinfo": 137_485_152}
MOBILENET = {"ptflops_pytorch": 589_012_456, "thop": 588_962_304}


@pytest.fixture
def hand(write_spec) -> str:
    return write_spec(HAND, "hand.yaml")


def _one_error_line(result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- show ------------------------------------------------------------------------------------------------------------


def test_show_adds_a_column_per_convention_with_the_tool_and_its_version(cli, hand) -> None:
    r = cli("show", hand, "--convention", "ptflops_pytorch", "--convention", "thop,torchinfo")
    assert r.exit_code == 0, r.stderr
    header = r.stdout.splitlines()[2]
    for text in ("ptflops 0.7.5 (pytorch) MACs", "thop 0.1.1.post2209072238 MACs", "torchinfo 1.8.0 mult-adds"):
        assert text in header
    assert header.index("ptflops 0.7.5") < header.index("thop 0.1.1") < header.index("torchinfo 1.8.0")
    csv = cli("show", hand, "--convention", "ptflops_pytorch,thop,torchinfo", "--format", "csv").stdout.splitlines()
    assert csv[0].endswith(",memory_access,ptflops_pytorch,thop,torchinfo")  # csv: the keys, the convention names
    assert [line.split(",")[-1] for line in csv[1:]] == [str(n) for n in HAND_COUNTS["torchinfo"].values()]
    assert "ptflops 0.7.5 (pytorch) MACs: ptflops 0.7.5 get_model_complexity_info(backend='pytorch')" in r.stdout


def test_show_json_carries_each_layer_and_the_total_under_the_convention_name(cli, hand) -> None:
    names = ["ptflops_pytorch", "ptflops_aten", "thop", "torchinfo", "torchprofile"]
    r = cli("show", hand, "--convention", ",".join(names), "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    (model,) = data["models"]
    for name in names:
        assert model[name] == sum(HAND_COUNTS[name].values()), name
        assert {layer["name"]: layer[name] for layer in model["layers"]} == HAND_COUNTS[name], name
        assert data["conventions"][name].startswith(name.split("_")[0]), name
    keys = list(model)  # the totals follow the metrics
    assert keys[keys.index("params_without_classifier") + 1:][:len(names)] == names


def test_show_by_class_sums_each_convention_per_class(cli, hand) -> None:
    layers = cli("show", hand, "--format", "json").json()["models"][0]["layers"]
    expected: dict[str, int] = {}
    for layer in layers:
        expected[layer["class"]] = expected.get(layer["class"], 0) + HAND_COUNTS["thop"][layer["name"]]
    r = cli("show", hand, "--by", "class", "--convention", "thop", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    column = lines[0].split(",").index("thop")
    got = {line.split(",")[0]: int(line.split(",")[column]) for line in lines[1:] if not line.startswith("total")}
    assert got == expected


def test_conventions_given_twice_count_once_in_the_order_first_given(cli, hand) -> None:
    r = cli("show", hand, "--convention", "thop", "--convention", "ptflops_pytorch, thop", "--format", "json")
    model = r.json()["models"][0]
    keys = [k for k in model if k in CONVENTION_NAMES]
    assert keys == ["thop", "ptflops_pytorch"]


@pytest.mark.parametrize("command", [["show", "shufflenet"], ["compare", "shufflenet"], ["sweep", "shufflenet"]])
def test_an_unknown_convention_is_one_line_listing_the_names(cli, command: list[str]) -> None:
    line = _one_error_line(cli(*command, "--convention", "thop,ptflops"))
    assert line == ("shufflecalc: error: --convention ptflops: unknown convention 'ptflops' (conventions: fvcore, "
                    "ptflops_pytorch, ptflops_aten, thop, torchinfo, torchprofile, flop_counter)")


def test_the_help_lists_every_convention(cli) -> None:
    for command in ("show", "compare", "sweep"):
        text = " ".join(cli(command, "--help", columns=400).stdout.split())
        listed = re.search(r"--convention NAME .*?: ([a-z_, ]+) \(see", text).group(1)
        assert tuple(listed.split(", ")) == CONVENTION_NAMES, command


# --- compare ---------------------------------------------------------------------------------------------------------


def test_compare_adds_a_metric_row_a_csv_column_and_a_json_key(cli) -> None:
    args = ("compare", "mobilenet", "shufflenet", "--g", "3", "--convention", "ptflops_pytorch,thop")
    data = cli(*args, "--format", "json").json()
    mobile, shuffle = data["models"]
    for name in ("ptflops_pytorch", "thop"):
        assert (mobile[name], shuffle[name]) == (MOBILENET[name], SHUFFLENET_G3[name])
        assert shuffle["ratio_to_first"][name] == round(SHUFFLENET_G3[name] / MOBILENET[name], 6)
        assert name in data["conventions"]
    table = cli(*args).stdout
    row = next(line for line in table.splitlines() if "ptflops 0.7.5 (pytorch) MACs" in line and "│" in line)
    assert [c.strip() for c in row.split("│")[2:5]] == ["589.01M", "150.20M", "0.255×"]
    csv = cli(*args, "--format", "csv").stdout.splitlines()
    header = csv[0].split(",")
    assert [row.split(",")[header.index("ptflops_pytorch")] for row in csv[1:]] == [
        str(MOBILENET["ptflops_pytorch"]), str(SHUFFLENET_G3["ptflops_pytorch"])]


def test_compare_without_the_option_is_unchanged(cli) -> None:
    data = cli("compare", "shufflenet", "--format", "json").json()
    assert not set(data["models"][0]) & set(CONVENTION_NAMES)
    assert not set(data["conventions"]) & set(CONVENTION_NAMES)


# --- sweep -----------------------------------------------------------------------------------------------------------


def test_sweep_adds_a_column_sortable_and_a_json_key(cli) -> None:
    rows = cli("sweep", "shufflenet", "--g", "3", "--convention", "torchinfo", "--format", "json").json()["rows"]
    assert rows[0]["torchinfo"] == SHUFFLENET_G3["torchinfo"]
    r = cli("sweep", "shufflenet", "--g", "1,3", "--convention", "thop", "--columns", "g,thop", "--sort", "-thop",
            "--format", "csv")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "g,thop"
    values = [int(line.split(",")[1]) for line in lines[1:]]
    assert values == sorted(values, reverse=True) and f"3,{SHUFFLENET_G3['thop']}" in lines


def test_sweep_column_of_a_convention_not_asked_for_is_unknown(cli) -> None:
    line = _one_error_line(cli("sweep", "shufflenet", "--g", "3", "--columns", "g,thop"))
    assert "--columns: unknown column 'thop'" in line


# --- check -----------------------------------------------------------------------------------------------------------

BUDGET = """budgets:
  - model: shufflenet
    config: {g: 3}
    max_macs: 150M
    max_ptflops_pytorch: 150M
    min_thop: 149593248
"""


@pytest.fixture
def budget(tmp_path: Path) -> str:
    path = tmp_path / "budgets.yaml"
    path.write_text(BUDGET)
    return str(path)


def test_check_limits_a_convention_in_every_format(cli, budget) -> None:
    r = cli("check", budget)
    assert r.exit_code == 1, r.stderr
    row = next(line for line in r.stdout.splitlines() if "max_ptflops_pytorch" in line)
    assert [c.strip() for c in row.split("│")[4:8]] == ["150.20M", "150M", "-0.1%", "FAIL"]
    thop = next(line for line in r.stdout.splitlines() if "min_thop" in line)
    assert thop.rstrip("│ ").endswith("PASS")  # equal to its limit: passes
    data = cli("check", budget, "--format", "json").json()
    limits = {lim["key"]: lim for lim in data["models"][0]["limits"]}
    assert limits["max_ptflops_pytorch"]["value"] == SHUFFLENET_G3["ptflops_pytorch"]
    assert limits["max_ptflops_pytorch"]["metric"] == "ptflops_pytorch"
    assert limits["min_thop"]["value"] == SHUFFLENET_G3["thop"] and limits["min_thop"]["status"] == "PASS"
    assert data["models"][0]["ptflops_pytorch"] == SHUFFLENET_G3["ptflops_pytorch"]
    assert set(data["conventions"]) & set(CONVENTION_NAMES) == {"ptflops_pytorch", "thop"}
    message = ("shufflenet g=3: ptflops_pytorch 150,199,104 exceeds max_ptflops_pytorch 150,000,000 by 0.13%")
    assert message in cli("check", budget, "--format", "junit").stdout
    github = cli("check", budget, "--format", "github").stdout
    assert github.startswith(f"::error file={budget},line=5,title=budget exceeded%3A max_ptflops_pytorch::")
    csv = cli("check", budget, "--format", "csv").stdout
    assert f",5,max_ptflops_pytorch,ptflops_pytorch,{SHUFFLENET_G3['ptflops_pytorch']},150000000," in csv


def test_a_baseline_written_with_conventions_still_reads(cli, budget, tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    assert cli("check", budget, "--write-baseline", str(base)).exit_code == 1
    r = cli("check", budget, "--baseline", str(base), "--format", "json")
    assert r.exit_code == 1 and r.json()["baseline"]["failed"] == 0  # only the limit fails
    assert {d["metric"] for d in r.json()["models"][0]["baseline"]} & set(CONVENTION_NAMES) == set()


def test_an_unknown_budget_metric_lists_the_conventions_too(cli, tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("budgets:\n  - model: shufflenet\n    max_ptflops: 1M\n")
    line = _one_error_line(cli("check", str(path)))
    assert line.startswith(f"shufflecalc: error: {path}:3 budgets[0].max_ptflops: unknown metric 'ptflops' in "
                           "'max_ptflops' (metrics: macs, flops, ")
    assert line.endswith("; conventions: fvcore, ptflops_pytorch, ptflops_aten, thop, torchinfo, torchprofile, "
                         "flop_counter)")


# --- verify --conventions --------------------------------------------------------------------------------------------

HAS_TOOLS = importlib.util.find_spec("torch") is not None and all(
    importlib.util.find_spec(m) is not None for m in ("ptflops", "thop", "torchinfo", "torchprofile"))
needs_tools = pytest.mark.skipif(not HAS_TOOLS, reason="needs torch and the peers extra")


@needs_tools
def test_verify_conventions_passes_with_the_tools(cli, hand) -> None:
    data = cli("verify", hand, "--conventions", "--format", "json")
    assert data.exit_code == 0, data.stderr
    (model,) = data.json()["models"]
    assert data.json()["passed"] and model["passed"]
    assert list(model["conventions"]) == list(HAND_COUNTS)
    for name, c in model["conventions"].items():
        # the tools themselves measured the hand counts
        assert c["status"] == "PASS" and c["measured"] == c["analytic"] == sum(HAND_COUNTS[name].values()), name
        assert (c["layers"], c["layers_equal"], c["mismatches"]) == (5, 5, []), name
    table = cli("verify", hand, "--conventions")
    assert table.exit_code == 0
    assert "5 comparisons: 5 PASS, 0 FAIL, 0 SKIP." in table.stdout


@needs_tools
def test_verify_conventions_skips_a_tool_not_installed(cli, hand, monkeypatch) -> None:
    from shufflecalc.bridge import peers

    monkeypatch.setattr(peers, "available", lambda: ("ptflops_pytorch", "torchinfo"))
    r = cli("verify", hand, "--conventions", "--format", "json")
    assert r.exit_code == 0, r.stderr
    conventions = r.json()["models"][0]["conventions"]
    assert {n: c["status"] for n, c in conventions.items()} == {
        "ptflops_pytorch": "PASS", "torchinfo": "PASS", "ptflops_aten": "SKIP", "thop": "SKIP", "torchprofile": "SKIP"}
    assert "pip install 'shufflecalc[peers]'" in conventions["thop"]["reason"]
    table = cli("verify", hand, "--conventions").stdout
    assert "SKIP (not installed: pip install 'shufflecalc[peers]'" in table


@needs_tools
def test_verify_conventions_fails_on_a_wrong_reproduction(cli, hand, monkeypatch) -> None:
    """thop's relu made to count 1 per element (thop counts ReLU 0, a zero_op): exit 1, the layer named."""
    from shufflecalc.analysis.peers import PEERS, Rule
    from shufflecalc.analysis.peers.base import per_output

    monkeypatch.setitem(PEERS["thop"].rules, "relu", Rule("wrong", per_output("activations", "wrong")))  # type: ignore[index]
    r = cli("verify", hand, "--conventions", "--format", "json")
    assert r.exit_code == 1
    thop = r.json()["models"][0]["conventions"]["thop"]
    assert thop["status"] == "FAIL" and thop["mismatches"] == [{"layer": "relu", "analytic": 288, "measured": 0}]
    assert thop["measured"] == sum(HAND_COUNTS["thop"].values())
    table = cli("verify", hand, "--conventions")
    assert table.exit_code == 1
    assert "the layers that differ" in table.stdout
    row = next(line for line in table.stdout.splitlines() if "│ relu" in line)
    assert [c.strip() for c in row.split("│")[1:-1]] == ["hand", "thop", "relu", "288", "0", "-288"]


@pytest.mark.parametrize("extra", [["--all"], ["--layers"], ["--against", "torchvision:resnet50"]])
def test_verify_conventions_refuses_other_modes(cli, extra: list[str]) -> None:
    line = _one_error_line(cli("verify", "shufflenet", "--conventions", *extra))
    assert "--conventions runs on the SPECs given" in line


def test_verify_conventions_json_is_deterministic_without_the_tools(cli, hand, monkeypatch) -> None:
    """No tool installed: every row SKIP, exit 0 (a missing tool is not a failure)."""
    pytest.importorskip("torch")
    from shufflecalc.bridge import peers

    monkeypatch.setattr(peers, "available", lambda: ())
    first = cli("verify", hand, "--conventions", "--format", "json")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == cli("verify", hand, "--conventions", "--format", "json").stdout
    assert {c["status"] for c in json.loads(first.stdout)["models"][0]["conventions"].values()} == {"SKIP"}
