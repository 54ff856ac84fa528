"""ShuffleNet's group-count study against its Table 1; only specs with a parameter g that has choices have one."""

from __future__ import annotations

import pytest

from shufflecalc.errors import ShufflecalcError
from shufflecalc.formulas.groups_study import groups_study


def test_groups_study_widths_and_costs() -> None:
    """ShuffleNet Table 1 (papers.md): stage widths per g and complexity 143/140/137/133/137 MFLOPs without FC."""
    study = groups_study("shufflenet")
    assert [r.g for r in study.rows] == [1, 2, 3, 4, 8]
    table1 = {1: [144, 288, 576], 2: [200, 400, 800], 3: [240, 480, 960], 4: [272, 544, 1088], 8: [384, 768, 1536]}
    assert {r.g: list(r.stage_widths.values()) for r in study.rows} == table1
    assert [round((r.macs - r.classifier_macs) / 1e6) for r in study.rows] == [143, 140, 137, 133, 137]
    assert study.unit_name == "stage3.unit1"
    for r in study.rows:  # unit (b) at 14x14, M = stage-3 width, N = M/4: 2NM*196/g + 9N*196
        m = table1[r.g][1]
        assert r.unit.values == {"M": m, "N": m // 4, "Iw": 14, "Ih": 14, "g": r.g}
        assert r.unit.engine_macs == r.unit.formula_macs == 2 * (m // 4) * m * 196 // r.g + 9 * (m // 4) * 196
    assert study.base.g == 1
    with pytest.raises(ShufflecalcError, match="leave out --g"):
        groups_study("shufflenet", {"g": 3})
    with pytest.raises(ShufflecalcError, match="parameter 'g' that has choices"):
        groups_study("mobilenet")
    for name in ("resnet50", "resnext50_32x4d", "mobilenet_v2", "shufflenet_v2"):
        with pytest.raises(ShufflecalcError, match=f"ShuffleNet's group-count study.*; {name} has none"):
            groups_study(name)
