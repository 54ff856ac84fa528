"""The Graph: named per-layer numbers and named totals that match the layers they sum."""

from __future__ import annotations

from shufflecalc.spec.graph import Numbers, expand
from shufflecalc.spec.totals import Totals


def test_sums_are_named_totals_of_the_layers(write_spec) -> None:
    path = write_spec(
        "input: [3, 8, 8]\nlayers:\n"
        "  - {op: conv2d, name: c, out: 4, kernel: 3}\n"
        "  - {op: batchnorm, name: bn}\n"
        "  - {op: global_avgpool, name: pool}\n"
        "  - {op: flatten, name: flat}\n"
        "  - {op: linear, name: fc, out: 10}\n"
    )
    g = expand(path)
    # by hand: conv 4*3*9 weights at 8x8; bn 2 per channel and 2 flops per element; pool 1 per input element
    conv_macs, fc_macs = 4 * 3 * 9 * 64, 4 * 10
    assert g.sums.macs == conv_macs + fc_macs
    assert g.sums.params == 4 * 3 * 9 + 2 * 4 + 4 * 10 + 10
    assert g.sums.fvcore_flops == conv_macs + 2 * 4 * 64 + 4 * 64 + fc_macs
    assert g.sums.activations == 4 * 64 + 10
    assert g.sums.layers == 5 == len(g.layers)
    assert g.sums == Totals(
        sum(layer.macs for layer in g.layers), sum(layer.fvcore_flops for layer in g.layers),
        sum(layer.params for layer in g.layers), sum(layer.activations for layer in g.layers),
        sum(layer.memory_access for layer in g.layers), len(g.layers),
    )


def test_segments_hold_named_entries_and_numbers() -> None:
    g = expand("shufflenet", {"g": 3})
    segment = next(s for s in g.segments if s.block == "stage2.unit0")
    assert segment.prefix == "stage2.unit0." and segment.source == "maxpool"
    entry = segment.entries[0]
    assert isinstance(entry.numbers, Numbers)
    layer = next(candidate for candidate in g.layers if candidate.name == "stage2.unit0." + entry.name)
    assert (layer.op, layer.out, layer.macs, layer.params) == (
        entry.op, entry.numbers.out, entry.numbers.macs, entry.numbers.params)
    assert g.sums.layers == len(g.layers) == sum(len(s.entries) for s in g.segments)
