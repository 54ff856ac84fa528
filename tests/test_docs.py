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


def test_the_limits_table_states_the_limits_the_code_enforces() -> None:
    """docs/spec-format.md#limits, row by row, against the constants (a changed limit must change the docs)."""
    from shufflecalc.analysis import sweep
    from shufflecalc.formulas import shuffle
    from shufflecalc.spec import expr, graph, layers, load, values, yamlsrc
    from shufflecalc.units import MAX_COUNT

    text = (ROOT / "docs" / "spec-format.md").read_text()
    limits = text[text.index("## Limits"):]
    assert yamlsrc.MAX_FILE_BYTES == 2**20 and "at most 1 MiB" in limits
    assert f"at most {yamlsrc.MAX_DEPTH} levels of nesting and {yamlsrc.MAX_NODES:,} values" in limits
    assert yamlsrc.MAX_NUMBER == expr.MAX_ABS_INT == load.MAX_PARAM == 2**62 and limits.count("2^62") >= 3
    assert f"at most {layers.MAX_CHANNELS:,} (2^20)" in limits and layers.MAX_CHANNELS == 2**20
    assert f"at most {layers.MAX_WINDOW:,} |" in limits and f"at most {layers.MAX_SPATIAL:,} |" in limits
    assert f"at most {int(layers.MAX_RATIO):,}; `width_per_group` at most {layers.MAX_SPATIAL:,}" in limits
    assert layers.MAX_EPS == 1.0 and "between 0 and 1" in limits
    assert f"at most {load.MAX_PARAM_TEXT:,} characters" in limits
    assert f"nested at most {values.MAX_NESTING} levels" in limits
    assert f"at most {expr.MAX_ITEMS:,} items" in limits
    assert f"n from -{expr.MAX_ROUND_DIGITS} to {expr.MAX_ROUND_DIGITS}" in limits
    assert f"at most {graph.MAX_REPEAT:,} units; a network at most {graph.MAX_LAYERS:,} primitive layers" in limits
    assert f"at most {sweep.MAX_CONFIGURATIONS:,} configurations and {sweep.MAX_LAYER_EVALUATIONS:,} layer" in limits
    assert MAX_COUNT == 10**18 and "from 0 to 10^18" in limits
    assert f"at most {shuffle.MAX_CHANNELS:,} |" in limits
    names = ", ".join(f"`{n}`" for n in sorted(layers.RESERVED_NAMES, key=["training", "graph", "output_name",
                                                                             "annotate"].index))
    assert names.replace(", `annotate`", " or `annotate`") in limits
    assert f"{expr.MAX_STEPS:,} steps for all the expressions of one spec" in text


def test_the_block_language_example_is_squeezenet_with_torchvision_numbers(tmp_path) -> None:
    """The docs' user-defined-block example, the block file and the spec that includes it, run as a user would copy
    them: torchvision's squeezenet1_0 counts."""
    text = DOC.split("## User-defined blocks", 1)[1]
    blocks_text, yaml_text = re.findall(r"```yaml\n(.*?)```", text, re.S)[:2]
    assert blocks_text == (ROOT / "specs" / "blocks" / "squeezenet.yaml").read_text()
    assert yaml_text == (ROOT / "specs" / "squeezenet1_0.yaml").read_text()
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "squeezenet.yaml").write_text(blocks_text)
    path = tmp_path / "squeezenet.yaml"
    path.write_text(yaml_text)
    a = analyze(str(path))
    assert (a.params, a.macs) == (1_248_424, 818_924_576)
    names = {layer.name for layer in a.layers}
    assert {"fire2.squeeze", "fire2.expand3x3", "fire9.cat", "conv10"} <= names and len(a.graph.blocks) == 8


def test_the_documented_block_error_is_the_real_one(tmp_path, monkeypatch) -> None:
    from .conftest import run_cli

    spec = (ROOT / "specs" / "squeezenet1_0.yaml").read_text()
    strict = (ROOT / "specs" / "blocks" / "squeezenet.yaml").read_text()
    loose = strict.replace("expand: {type: int, min: 1,", "expand: {type: int,")
    assert loose != strict
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blocks").mkdir()
    (tmp_path / "net.yaml").write_text(spec.replace("name: fire3, squeeze: 16, expand: 64",
                                                    "name: fire3, squeeze: 16, expand: 0"))
    for blocks, expected in ((loose, "net.yaml:14 layers[4] (fire3) -> blocks/squeezenet.yaml:11 "
                                     "blocks.fire.layers[2].out: must be at least 1, got 0"),
                             (strict, "net.yaml:14 layers[4].expand: must be at least 1, got 0 (block 'fire' declares "
                                      "its arguments at blocks/squeezenet.yaml:5 blocks.fire.args)")):
        (tmp_path / "blocks" / "squeezenet.yaml").write_text(blocks)
        r = run_cli("show", "net.yaml")
        assert r.exit_code == 2 and r.stderr == f"shufflecalc: error: {expected}\n"
        assert expected in " ".join(DOC.split())
