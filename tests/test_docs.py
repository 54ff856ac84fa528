"""The spec-format documentation covers every layer kind, block type and argument; its worked example is right."""

from __future__ import annotations

import re

from shufflecalc.analysis.cost import analyze
from shufflecalc.spec.blocks import BLOCKS
from shufflecalc.spec.layers import KINDS

from .conftest import ROOT

DOC = (ROOT / "docs" / "spec-format.md").read_text()


def test_every_kind_block_and_argument_is_documented() -> None:
    for name, kind in {**KINDS, **BLOCKS}.items():
        assert f"`{name}`" in DOC, name
        for arg in kind.args:
            assert f"`{arg}`" in DOC, f"{name}.{arg}"


def test_worked_example(tmp_path) -> None:
    yaml_text = re.search(r"`tiny.yaml`.*?```yaml\n(.*?)```", DOC, re.S).group(1)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml_text)
    a = analyze(str(path), g=2)
    by_name = {layer.name: layer.macs for layer in a.layers}
    assert by_name["stem.conv"] == 110_592
    assert by_name["stage1.unit0.gconv1"] == 32_768
    assert by_name["stage1.unit0.dwconv"] == 4_608
    assert by_name["stage1.unit0.gconv2"] == 4_096
    assert by_name["stage1.unit1.gconv1"] == by_name["stage1.unit1.gconv2"] == 8_192
    assert by_name["fc"] == 320
    assert a.macs == 173_376


def test_every_builtin_spec_is_documented() -> None:
    from shufflecalc.spec.load import builtin_names

    section = DOC.split("## Built-in specs", 1)[1]
    for name in builtin_names():
        assert f"`{name}`" in section, name
