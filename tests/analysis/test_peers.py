"""The counters' conventions without torch (shufflecalc.analysis.peers): a rule for every layer kind in every
convention, the totals against the tools' own runs at 224 x 224 (measured with ptflops 0.7.5, thop
0.1.1.post2209072238, torchinfo 1.8.0 and torchprofile 0.1.0 on shufflecalc.build_model's models; the ShuffleNet
and ResNet-50 figures of ptflops, thop, torchinfo and fvcore are also the issue's), hand-counted small layers, the
CLI's JSON contract and its one-line error for an unknown name. tests/bridge/test_peers.py runs the tools."""

from __future__ import annotations

import json

import pytest

from shufflecalc.analysis.peers import NAMES, PEERS, compare, layer_counts, peer, total
from shufflecalc.cli import run
from shufflecalc.errors import ShufflecalcError
from shufflecalc.spec.graph import expand
from shufflecalc.spec.layers import KINDS

# The tools' totals on shufflecalc's torch models, one 224 x 224 image (their own entry points, run once to write
# this table: ptflops' get_model_complexity_info per backend, thop.profile, torchinfo.summary(...).total_mult_adds,
# torchprofile.profile_macs, fvcore's FlopCountAnalysis.total()).
MEASURED = {
    ("mobilenet", ()): {"ptflops_pytorch": 589_012_456, "ptflops_aten": 568_741_352, "thop": 588_962_304,
                        "torchinfo": 568_763_240, "torchprofile": 573_784_064, "fvcore": 578_875_904},
    ("shufflenet", (("g", 3),)): {"ptflops_pytorch": 150_199_104, "ptflops_aten": 137_460_672, "thop": 149_593_248,
                                  "torchinfo": 137_485_152, "torchprofile": 140_549_808, "fvcore": 143_505_312},
    ("resnet50", ()): {"ptflops_pytorch": 4_132_436_968, "ptflops_aten": 4_089_185_256, "thop": 4_133_742_592,
                       "torchinfo": 4_089_238_376, "torchprofile": 4_100_300_288, "fvcore": 4_111_512_576},
}


def test_every_convention_has_a_rule_for_every_kind() -> None:
    for p in PEERS.values():
        assert set(p.rules) == set(KINDS), p.name
        assert all(rule.note for rule in p.rules.values()), p.name


@pytest.mark.parametrize(("spec", "config"), sorted(MEASURED))
def test_totals_equal_the_tools_at_224(spec: str, config: tuple) -> None:
    graph = expand(spec, dict(config))
    for name, expected in MEASURED[spec, config].items():
        assert total(PEERS[name], graph) == expected, name
    assert total(PEERS["flop_counter"], graph) == 2 * graph.sums.macs


def test_differences_add_up() -> None:
    graph = expand("shufflenet", {"g": 3})
    for name, c in compare(graph).items():
        assert sum(d.amount for d in c.differences) == c.count - c.macs, name
        assert all(d.reason for d in c.differences), name


def test_hand_counted_layers() -> None:
    """A 4 x 6 x 6 map: conv 3x3 to 8 with bias (MACs 8 x 4 x 9 x 36 = 10,368; bias adds 8 x 36 = 288), affine
    batchnorm (288 elements), relu, 2x2 average pool (8 x 3 x 3 = 72 outputs), global average pool of 8 x 3 x 3."""
    spec = ("name: hand\ninput: [4, 6, 6]\nlayers:\n"
            "  - {name: conv, op: conv2d, out: 8, kernel: 3, bias: true}\n"
            "  - {name: bn, op: batchnorm}\n  - {name: relu, op: relu}\n"
            "  - {name: pool, op: avgpool, kernel: 2}\n  - {name: gap, op: global_avgpool}\n")
    from pathlib import Path
    from tempfile import TemporaryDirectory

    with TemporaryDirectory() as d:
        path = Path(d) / "hand.yaml"
        path.write_text(spec)
        graph = expand(str(path))
    expected = {
        # ptflops: MACs + bias; 2 per affine bn element; relu and pools twice (module hook + functional)
        "ptflops_pytorch": {"conv": 10_368 + 288, "bn": 2 * 288, "relu": 2 * 288, "pool": 2 * 288, "gap": 2 * 72},
        # thop: MACs; 4 per affine bn element; avg pool 1 per output; adaptive (9/1 + 1) per output (8)
        "thop": {"conv": 10_368, "bn": 4 * 288, "relu": 0, "pool": 72, "gap": 10 * 8},
        # torchinfo: (weights + bias) x positions; bn its 16 parameters
        "torchinfo": {"conv": 10_368 + 288, "bn": 16, "relu": 0, "pool": 0, "gap": 0},
        # torchprofile: MACs; 1 per affine bn element; 1 per pooled output
        "torchprofile": {"conv": 10_368, "bn": 288, "relu": 0, "pool": 72, "gap": 8},
        "ptflops_aten": {"conv": 10_368 + 288, "bn": 0, "relu": 0, "pool": 0, "gap": 0},
    }
    for name, layers in expected.items():
        assert layer_counts(PEERS[name], graph) == layers, name


def test_unknown_convention_is_an_error_listing_the_names() -> None:
    with pytest.raises(ShufflecalcError, match=r"unknown convention 'flops_tool'.*ptflops_pytorch"):
        peer("flops_tool")


def test_cli_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["conventions", "shufflenet", "--g", "3", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (model,) = data["models"]
    assert list(data) == ["models"]
    assert set(model) == {"name", "config", "counts", "differences"}
    assert list(model["counts"]) == ["macs", *NAMES]
    assert model["counts"]["thop"] == 149_593_248
    assert model["differences"]["thop"]["batchnorm"]["difference"] == 4 * 5_997_600 // 2  # fvcore's 2 -> thop's 4
    assert set(model["differences"]) == set(NAMES)
