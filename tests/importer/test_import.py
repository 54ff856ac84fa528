"""`shufflecalc import` and `verify --against` on small models written in tests/importer/nets.py.

Every proof compares the spec with independent measurements of the original model (its numel, torch's
FlopCounterMode, fvcore's counts, its output after the state dict is loaded by name); the few totals asserted here
are calculated by hand in the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shufflecalc.importer.run import import_target
from shufflecalc.spec.graph import expand
from shufflecalc.spec.load import load_spec

NETS = "tests.importer.nets"
HERE = Path(__file__).resolve().parent


def layers_of(text: str) -> dict[str, str]:
    """name -> the YAML line of each layer of an imported spec."""
    found = {}
    for line in text.splitlines():
        if line.startswith("  - {op: "):
            name = line.split("name: ", 1)[1].split(",")[0].rstrip("}")
            found[name] = line
    return found


@pytest.mark.parametrize("name, shape", [
    ("shuffle_net", (3, 32, 32)), ("Modules", (3, 16, 16)), ("Functions", (3, 16, 16)), ("WithAux", (3, 8, 8)),
    ("VGGish", (3, 32, 32)), ("SqueezeNetish", (3, 32, 32)),
])
def test_round_trip_proof_passes(name: str, shape: tuple[int, int, int]) -> None:
    result = import_target(f"{NETS}:{name}", shape)
    assert [c.what for c in result.proof.checks] == ["params", "macs", "fvcore_flops", "activations", "state_dict",
                                                     "output"]
    assert result.proof.ok, [c for c in result.proof.checks if not c.ok]


def test_patterns_become_their_layer_kinds() -> None:
    text = import_target(f"{NETS}:shuffle_net", (3, 32, 32), fold=False).text
    got = layers_of(text)
    # ShuffleUnit's view-transpose-contiguous-view: a channel shuffle of 2 groups, named after its module
    assert got["units.0.shuffle"] == "  - {op: channel_shuffle, name: units.0.shuffle, groups: 2}"
    assert got["units.1.chunk0"].startswith("  - {op: split, name: units.1.chunk0, index: 0")  # x.chunk(2, dim=1)
    assert "op: split, name: units.1.chunk1, index: 1" in got["units.1.chunk1"]
    assert "op: global_avgpool" in got["units.0.global_avgpool"]  # F.adaptive_avg_pool2d(b, 1): SE's squeeze
    assert got["units.0.mul"].endswith("inputs: [units.0.bn2, units.0.sigmoid]}")  # SE's scale
    assert got["units.0.cat"].endswith("inputs: [units.0.chunk0, units.0.mul]}")  # the concat, in torch's order
    assert got["add"].endswith("inputs: [units.1.shuffle, stem.2]}")  # the residual around the stage
    assert got["maxpool"] == "  - {op: maxpool, name: maxpool, kernel: 3, stride: 2, padding: 1}"  # F.max_pool2d
    assert "op: mean" in got["mean"]
    assert got["fc"] == "  - {op: linear, name: fc, out: classes}"  # the linear head declares classes
    assert "classes: {type: int, default: 10" in text
    assert "input: [3, resolution, resolution]" in text


def test_declared_parameters_work(tmp_path: Path) -> None:
    text = import_target(f"{NETS}:VGGish", (3, 32, 32)).text
    path = tmp_path / "vggish.yaml"
    path.write_text(text)
    graph = expand(load_spec(str(path)), {"resolution": 64, "classes": 7})
    assert graph.input == (3, 64, 64) and graph.output == (7,)
    # by hand at 64 x 64: conv 3->8 3x3 at 64x64, conv 8->16 3x3 at 32x32, adaptive pool to 2x2: fc 64->32, 32->7
    assert graph.sums.macs == 8 * 27 * 64 * 64 + 16 * 72 * 32 * 32 + 64 * 32 + 32 * 7


def test_hand_calculated_totals() -> None:
    result = import_target(f"{NETS}:VGGish", (3, 32, 32))
    by_check = {c.what: c for c in result.proof.checks}
    params = (8 * 27 + 8) + (16 * 72 + 16) + (64 * 32 + 32) + (32 * 10 + 10)  # convs and linears with biases
    macs = 8 * 27 * 32 * 32 + 16 * 72 * 16 * 16 + 64 * 32 + 32 * 10
    assert by_check["params"].model == by_check["params"].spec == params == 3_802
    assert by_check["macs"].model == by_check["macs"].spec == macs == 518_464


def test_unused_in_eval_modules_are_unused_layers() -> None:
    result = import_target(f"{NETS}:WithAux", (3, 8, 8))
    got = layers_of(result.text)
    assert {n for n, line in got.items() if "unused: true" in line} == {"aux.0", "aux.1", "aux.2", "aux.3"}
    assert got["aux.0"].endswith("inputs: [relu], unused: true}")
    aux = (4 * 8 + 4) + (4 * 64 * 3 + 3)
    assert result.graph.unused_params == aux
    assert result.proof.ok


def test_padding_same_is_imported_and_its_fvcore_gap_fails_the_proof() -> None:
    """nn.Conv2d(padding='same') traces as aten::_convolution_mode, which fvcore 0.1.5 counts 0; the spec's torch
    model pads explicitly and is counted. The proof says so rather than pass."""
    result = import_target(f"{NETS}:SamePadding", (3, 9, 9))
    assert "padding: same" in result.text
    failed = {c.what: (c.spec, c.model) for c in result.proof.checks if not c.ok}
    assert failed == {"fvcore_flops": (4 * 48 * 81, 0), "activations": (4 * 81, 0)}


def test_cli_import_writes_the_spec_and_prints_the_proof(cli, tmp_path: Path) -> None:
    out = tmp_path / "net.yaml"
    r = cli("import", f"{NETS}:shuffle_net", "-o", str(out), "--input", "3,32,32", "--arg", "classes=4",
            "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["result"] == "PASS" and data["spec_lines"] == out.read_text().count("\n")
    assert "classes: {type: int, default: 4" in out.read_text()
    again = cli("import", f"{NETS}:shuffle_net", "-o", str(out), "--input", "3,32,32")
    assert again.exit_code == 2 and "use --force" in again.stderr


def test_cli_import_from_a_file_to_stdout(cli, tmp_path: Path) -> None:
    r = cli("import", f"{HERE / 'nets.py'}:VGGish", "--input", "3,32,32")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("# shufflecalc import") and "round-trip proof: PASS" in r.stderr


def test_cli_import_exits_1_when_the_proof_fails(cli) -> None:
    r = cli("import", f"{NETS}:SamePadding", "--input", "3,9,9")
    assert r.exit_code == 1
    assert "round-trip proof: FAIL" in r.stderr


@pytest.mark.parametrize("target, message", [
    (f"{NETS}:DataDependent", "cannot trace body.1 (Branchy) with torch.fx: TraceError: symbolically traced "
                              "variables cannot be used as inputs to control flow"),
    (f"{NETS}:Unsupported", "3 operations without a layer kind: torch.roll at (top level) (x2); nn.PixelShuffle at "
                            "ps"),
    (f"{NETS}:Shared", "Conv2d called 2 times (shared weights: a spec layer owns its parameters) at conv"),
    (f"{NETS}:NeverCalled", "the forward never calls modules with parameters, in eval mode or in training: spare "
                            "(56 params)"),
    (f"{NETS}:raises", "raises() raised ValueError: no model today"),
    (f"{NETS}:not_a_module", "not_a_module() returned int, not a torch nn.Module"),
    (f"{NETS}:nothing", "tests.importer.nets has no attribute 'nothing'"),
    ("tests.importer.no_such_module:f", "no module named 'tests.importer.no_such_module'"),
    ("no/such/file.py:f", "no such file no/such/file.py"),
    (f"{HERE / 'test_import.py'}x:f", "no such file"),
])
def test_hostile_targets_are_one_line_errors(cli, target: str, message: str) -> None:
    r = cli("import", target, "--input", "3,8,8")
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"shufflecalc: error: {target}: "), r.stderr
    assert message in lines[0]


def test_a_file_that_is_not_python(cli, tmp_path: Path) -> None:
    bad = tmp_path / "model.py"
    bad.write_text("this is: not python {\n")
    r = cli("import", f"{bad}:build")
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1
    assert "is not a Python file (SyntaxError at line 1" in r.stderr


# --- verify --against ---------------------------------------------------------------------------------------------

VGG_SPEC = """\
name: vggish
params:
  resolution: {type: int, default: 32, min: 8}
input: [3, resolution, resolution]
layers:
  - {op: conv2d, name: conv1, out: 8, kernel: 3, bias: true}
  - {op: relu, name: relu1}
  - {op: maxpool, name: pool1, kernel: 2}
  - {op: conv2d, name: conv2, out: 16, kernel: 3, bias: true}
  - {op: relu, name: relu2}
  - {op: maxpool, name: pool2, kernel: 2}
  - {op: adaptive_avgpool, name: avgpool, output: 2}
  - {op: flatten, name: flatten}
  - {op: linear, name: fc1, out: 32}
  - {op: relu, name: relu3}
  - {op: dropout, name: drop}
  - {op: linear, name: fc2, out: 10}
"""

SQUEEZE_SPEC = """\
name: squeezeish
input: [3, 32, 32]
layers:
  - {op: conv2d, name: conv1, out: 16, kernel: 7, stride: 2, padding: 0, bias: true}
  - {op: relu, name: relu1}
  - {op: maxpool, name: pool1, kernel: 3, stride: 2, ceil_mode: true}
  - {op: conv2d, name: squeeze, out: 4, kernel: 1, bias: true}
  - {op: relu, name: squeeze_relu}
  - {op: conv2d, name: expand1x1, out: 8, kernel: 1, bias: true}
  - {op: relu, name: expand1x1_relu}
  - {op: conv2d, name: expand3x3, inputs: [squeeze_relu], out: 8, kernel: 3, bias: true}
  - {op: relu, name: expand3x3_relu}
  - {op: concat, name: cat, inputs: [expand1x1_relu, expand3x3_relu]}
  - {op: conv2d, name: conv10, out: 10, kernel: 1, bias: true}
  - {op: relu, name: relu10}
  - {op: global_avgpool, name: pool10}
  - {op: flatten, name: flatten}
"""


def against(cli, tmp_path: Path, text: str, target: str, *extra: str):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return cli("verify", str(path), "--against", f"{NETS}:{target}", *extra), str(path)


@pytest.mark.parametrize("text, target", [(VGG_SPEC, "VGGish"), (SQUEEZE_SPEC, "SqueezeNetish")])
def test_a_faithful_spec_passes(cli, tmp_path: Path, text: str, target: str) -> None:
    r, _ = against(cli, tmp_path, text, target, "--format", "json")
    assert r.exit_code == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["result"] == "PASS" and data["divergence"] is None and data["proof"]["result"] == "PASS"


def test_a_vgg_spec_without_bias_diverges_at_its_first_conv(cli, tmp_path: Path) -> None:
    r, path = against(cli, tmp_path, VGG_SPEC.replace(", bias: true}", "}"), "VGGish", "--format", "json")
    assert r.exit_code == 1
    d = json.loads(r.stdout)["divergence"]
    assert d["index"] == 0 and d["fields"] == ["bias", "params"]
    assert d["spec"]["where"] == f"{path}:6" and d["spec"]["name"] == "conv1"
    assert d["target"]["name"] == "features.0" and d["target"]["where"] == "nn.Conv2d"
    assert (d["spec"]["params"], d["target"]["params"]) == (8 * 27, 8 * 27 + 8)  # by hand: the 8 biases
    table, _ = against(cli, tmp_path, VGG_SPEC.replace(", bias: true}", "}"), "VGGish")
    assert table.exit_code == 1 and f"at {path}:6" in table.stdout


def test_a_squeezenet_conv1_with_the_default_padding_diverges(cli, tmp_path: Path) -> None:
    r, path = against(cli, tmp_path, SQUEEZE_SPEC.replace(", padding: 0", ""), "SqueezeNetish", "--format", "json")
    assert r.exit_code == 1
    d = json.loads(r.stdout)["divergence"]
    assert d["index"] == 0 and d["fields"] == ["output", "padding", "macs"]
    assert d["spec"]["where"] == f"{path}:4"
    assert (d["spec"]["padding"], d["target"]["padding"]) == ([3, 3], [0, 0])
    # by hand: floor((32 + 2 * 3 - 7) / 2) + 1 = 16 with the default padding, floor((32 - 7) / 2) + 1 = 13 without
    assert (d["spec"]["output"], d["target"]["output"]) == ([16, 16, 16], [16, 13, 13])
    assert (d["spec"]["macs"], d["target"]["macs"]) == (16 * 3 * 49 * 16 * 16, 16 * 3 * 49 * 13 * 13)


def test_against_needs_one_spec(cli) -> None:
    r = cli("verify", "resnet50", "vgg", "--against", f"{NETS}:VGGish")
    assert r.exit_code == 2 and "one spec" in r.stderr


# --- module-path layer names (what the import writes) ---------------------------------------------------------------

def test_module_path_names_nest_modules(tmp_path: Path) -> None:
    from shufflecalc.bridge.builder import build_model

    path = tmp_path / "net.yaml"
    path.write_text("input: [3, 8, 8]\nlayers:\n  - {op: conv2d, name: features.0, out: 4, kernel: 3}\n"
                    "  - {op: relu, name: features.1}\n  - {op: conv2d, name: '0', out: 2, kernel: 1}\n")
    model = build_model(str(path))
    assert list(model.state_dict()) == ["features.0.weight", "0.weight"]


@pytest.mark.parametrize("names, message", [
    (("a", "a.b"), "layer name 'a.b' nests a module inside 'a'"),
    (("a.b", "a"), "layer name 'a' nests a module inside 'a'"),
    (("a..b", "c"), "invalid layer name 'a..b'"),
    (("x._y", "c"), "layer name 'x._y' is reserved"),
])
def test_module_path_names_that_cannot_be_built(cli, tmp_path: Path, names: tuple[str, str], message: str) -> None:
    from tests.conftest import rejected

    path = tmp_path / "net.yaml"
    path.write_text(f"input: [3, 8, 8]\nlayers:\n  - {{op: relu, name: '{names[0]}'}}\n"
                    f"  - {{op: relu, name: '{names[1]}'}}\n")
    assert message in rejected(cli, str(path))
