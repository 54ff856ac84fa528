"""verify's reports: name folding, operator lists, the summary tally (pure; no torch needed)."""

from __future__ import annotations

from shufflecalc.report.verify import _counts, compact_names, summary_table


def test_compact_names_folds_only_varying_numbers() -> None:
    names = ["conv1.relu"] + [f"stage{s}.unit{u}.{n}" for s in (2, 3) for u in (0, 1) for n in ("relu1", "relu")]
    assert compact_names(names) == "conv1.relu, stage*.unit*.relu1, stage*.unit*.relu"
    assert compact_names(["stage2.unit0.shortcut", "stage3.unit0.shortcut"]) == "stage*.unit0.shortcut"
    assert compact_names(["maxpool"]) == "maxpool"
    assert compact_names(["block1.dw_relu", "block12.dw_relu", "fc"]) == "block*.dw_relu, fc"


def test_operator_counts() -> None:
    assert _counts({"aten::view": 32, "aten::transpose": 16, "aten::flatten": 1}) == (
        "aten::view ×32, aten::transpose ×16, aten::flatten")


class _Problem:
    def __init__(self, result: str) -> None:
        self.name, self.config, self.result, self.message = "net", {"g": 3}, result, "why"


def test_summary_tallies_results_and_explains_problems() -> None:
    table = summary_table([_Problem("INVALID"), _Problem("FAIL")])
    assert table.notes[0] == "2 configurations: 0 PASS, 1 FAIL, 1 INVALID."
    assert "INVALID net (g=3): why" in table.notes and "FAIL net (g=3): why" in table.notes
    assert [row["result"] for row in table.rows] == ["INVALID", "FAIL"]
