"""The counters themselves against their torch-free reproductions (shufflecalc.analysis.peers): ptflops (both
backends), thop, torchinfo and torchprofile run on the torch model of every built-in spec (one sample of each, at a
small resolution), and of random specs (tests/bridge/test_peer_properties.py): analytic == tool, exactly, in total
and for every layer. A tool that is not installed is skipped (the `peers` extra installs them all; `dev` includes
it)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from shufflecalc.bridge.peers import MODULES, available, measure, reproduce
from shufflecalc.spec.graph import Graph, expand
from shufflecalc.spec.load import builtin_names

TOOLS = available()
# The smallest resolution each spec takes (Inception v3's auxiliary classifier needs 299: left out).
SAMPLES = {name: {"resolution": 32} for name in builtin_names()} | {
    "inception_v3": {"resolution": 75, "aux_logits": False},
}


def assert_reproduced(graph: Graph, where: str = "") -> None:
    """Every installed tool's total and per-layer counts equal the analytic ones (`bridge.peers.reproduce`, what
    `shufflecalc verify --conventions` reports)."""
    for name, r in reproduce(graph, TOOLS).items():
        assert not r.mismatches, (name, where, r.mismatches[:10])
        assert r.analytic == r.measured.total, (name, where)


def test_every_tool_is_installed_in_dev() -> None:
    """CI installs the dev extra, which includes the peers: a missing tool there is a setup error, not a skip."""
    missing = sorted(set(MODULES) - set(TOOLS))
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (pip install 'shufflecalc[peers]')")


@pytest.mark.parametrize("spec", sorted(SAMPLES))
def test_builtin_specs(spec: str) -> None:
    if not TOOLS:
        pytest.skip("no counter installed")
    assert_reproduced(expand(spec, SAMPLES[spec]), spec)


def test_shufflenet_at_224_matches_the_issue_figures() -> None:
    """The totals the issue measured with the tools (ShuffleNet 1x g=3, 224): the tools' own runs, here again."""
    measured = measure(expand("shufflenet", {"g": 3}), tuple(t for t in TOOLS if t in ("ptflops_pytorch", "thop",
                                                                                        "torchinfo")))
    expected = {"ptflops_pytorch": 150_199_104, "thop": 149_593_248, "torchinfo": 137_485_152}
    for name, m in measured.items():
        assert m.total == expected[name], name


CHANNELS_LAST = """\
input: [8, 6, 6]
layers:
  - {op: conv2d, name: dwconv, out: 8, kernel: 3, groups: 8}
  - {op: to_tokens, name: to_tokens}
  - {op: layernorm, name: norm}
  - {op: linear, name: pwconv1, out: 12}
  - {op: gelu, name: gelu}
  - {op: linear, name: pwconv2, out: 8}
  - {op: from_tokens, name: from_tokens}
  - {op: layer_scale, name: layer_scale}
  - {op: add, name: add, inputs: [layer_scale, dwconv]}
  - {op: conv2d, name: conv, out: 4, kernel: 3, bias: true}
"""


def test_a_channels_last_block(write_spec) -> None:
    """ConvNeXt's block as `shufflecalc import` writes it (to_tokens ... from_tokens around its Linear layers)."""
    if not TOOLS:
        pytest.skip("no counter installed")
    assert_reproduced(expand(write_spec(CHANNELS_LAST, "cnblock.yaml")), "cnblock")
