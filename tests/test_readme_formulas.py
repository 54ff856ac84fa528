"""The formula / explain / shuffle page (docs/formulas.md, moved from the README) shows real output of the commands
it names."""

from __future__ import annotations

import re
import shlex

from .conftest import ROOT, run_cli

PAGE = (ROOT / "docs" / "formulas.md").read_text()
SECTION = PAGE.split("# Formulas beside the exact count", 1)[1].split("\n## ", 1)[0]
EXAMPLES = re.findall(r"`shufflecalc ([^`]+)`( \(excerpt\))?[^\n]*:\n\n```\n(.*?)```", SECTION, re.S)


def test_the_section_has_its_examples() -> None:
    commands = [cmd for cmd, _, _ in EXAMPLES]
    assert commands == [
        "formula dwsep --K 3 --M 512 --N 512 --Iw 14 --Ih 14",
        "formula unit-b --K 3 --M 240 --N 60 --Iw 28 --Ih 28 --g 3",
        "explain shufflenet --g 3",
        "explain resnet50",
        "shuffle --g 3 --channels 9",
        "explain shufflenet --groups-study",
    ]


def test_examples_are_current() -> None:
    for cmd, excerpt, shown in EXAMPLES:
        r = run_cli(*shlex.split(cmd))
        assert r.exit_code == 0, cmd
        if excerpt:
            lines = r.stdout.splitlines()
            for line in shown.splitlines():
                assert line == "..." or line in lines, (cmd, line)
        else:
            assert r.stdout == shown, cmd
