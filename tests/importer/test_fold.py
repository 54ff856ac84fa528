"""Readable imported specs: repeated module classes folded into user-defined blocks and numbered stages, the layer
names still the module paths. Each folded spec is proven against the original model (the round-trip proof: params,
FlopCounterMode's MACs, fvcore, activations, the state dict loaded strictly by name, the same output), and the
expected text is what the torch modules in tests/importer/nets.py hold, read off their code."""

from __future__ import annotations

from pathlib import Path

import pytest

from shufflecalc.importer.run import import_target
from shufflecalc.spec.graph import expand
from shufflecalc.spec.load import load_spec

NETS = "tests.importer.nets"


@pytest.fixture(scope="module")
def resnet():
    return import_target(f"{NETS}:TinyResNet", (3, 32, 32))


def test_a_resnet_folds_into_one_block_and_two_numbered_stages(resnet) -> None:
    assert resnet.proof.ok, [c for c in resnet.proof.checks if not c.ok]
    text = resnet.text
    # BasicBlock's layers by local module path; the downsample only in layer2.0, the add reading it or the input
    assert "blocks:\n  BasicBlock:\n" in text
    assert ("      - {op: conv2d, name: downsample.0, out: 16, kernel: 1, stride: 2, inputs: [input], "
            "when: with_downsample}\n") in text
    assert "      - {op: add, name: add, inputs: [bn2, '''downsample.1'' if with_downsample else ''input''']}\n" in text
    # layer1: two blocks of 8 channels, stride 1; layer2: three of 16, the first with stride 2 and the downsample
    assert "  - {stage: layer1, numbered: true, repeat: 2, stride: 1, unit: {op: BasicBlock, conv1_out: 8}}\n" in text
    assert ("  - {stage: layer2, numbered: true, repeat: 3, stride: 2, unit: {op: BasicBlock}, "
            "first: {with_downsample: true}}\n") in text
    assert "layer1.0" not in text.split("\nlayers:\n")[-1]  # the units are named by the stage


def test_the_folded_spec_names_its_layers_by_module_path(resnet) -> None:
    from tests.importer.nets import TinyResNet

    flat = import_target(f"{NETS}:TinyResNet", (3, 32, 32), fold=False)
    assert "blocks:" not in flat.text and flat.lines > resnet.lines
    assert [ly.name for ly in resnet.graph.layers] == [ly.name for ly in flat.graph.layers]
    names = {ly.name for ly in resnet.graph.layers}
    assert {"layer1.0.conv1", "layer1.1.relu_1", "layer2.0.downsample.0", "layer2.2.bn2"} <= names
    # the weights of the real model, by name: every conv, linear and batchnorm of it is a layer of the spec
    weights = {k.rsplit(".", 1)[0] for k in TinyResNet().state_dict() if k.endswith(".weight")}
    assert weights <= names


def test_declared_parameters_still_work_on_a_folded_spec(resnet, tmp_path: Path) -> None:
    path = tmp_path / "resnet.yaml"
    path.write_text(resnet.text)
    small = expand(load_spec(str(path)), {"resolution": 16, "classes": 4})
    full = resnet.graph
    # by hand: convolutions scale with the pixels (16x16 is a quarter of 32x32); the head is 16 * 4 instead of 16 * 10
    head = 16 * 10
    assert small.sums.macs == (full.sums.macs - head) // 4 + 16 * 4
    assert small.sums.params == full.sums.params - (16 * 10 + 10) + (16 * 4 + 4)


def test_instances_no_block_describes_stay_layers_and_the_rest_are_uses() -> None:
    result = import_target(f"{NETS}:TinyMobileNet", (3, 32, 32))
    assert result.proof.ok, [c for c in result.proof.checks if not c.ok]
    body = result.text.split("\nlayers:\n")[-1]
    # features.1 (no expansion: conv.1 is a conv there, a ConvBN in the others) stays its layers
    assert "  - {op: conv2d, name: features.1.conv.1, out: 8, kernel: 1}\n" in body
    # features.2 to 4 are uses of one block, each on its line (features also holds ConvBNs: no stage)
    assert "  - {op: Inverted, name: features.3, with_add: true, stride: 1}\n" in body
    assert "stage:" not in body
    # the ConvBN uses at both ends: one block, its kernel, stride and channels the arguments
    assert "  - {op: ConvBN, name: features.5, m0_out: 32, m0_kernel: 1, stride: 1}\n" in body
    # a layer after a use reads it by the use's name
    assert "  - {op: add, name: features.1.add, inputs: [features.0, features.1.conv.2]}\n" in body


def test_cli_flat_writes_one_line_per_layer(cli, tmp_path: Path) -> None:
    folded = cli("import", f"{NETS}:TinyResNet", "--input", "3,32,32")
    flat = cli("import", f"{NETS}:TinyResNet", "--input", "3,32,32", "--flat")
    assert folded.exit_code == flat.exit_code == 0, (folded.stderr, flat.stderr)
    assert "stage: layer2" in folded.stdout and "blocks:" not in flat.stdout
    assert "  - {op: conv2d, name: layer2.0.downsample.0, out: 16, kernel: 1, stride: 2, inputs: [layer1.1.relu_1]}" \
        in flat.stdout
