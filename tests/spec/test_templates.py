"""User-defined blocks expanded (`spec/templates.py`, `spec/graph.py`): names, `when`, input expressions, outputs,
scopes, counts equal to the same layers written by hand, caching on the spec names a block reads, speed, and every
mistake inside a block reported as one line naming the use and the declaration (`use -> declaration: message`).
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest

from shufflecalc.spec import templates
from shufflecalc.spec.graph import expand
from shufflecalc.spec.load import load_spec

from ..conftest import rejected

BASIC = """\
blocks:
  basic:
    args:
      out: {type: int}
      stride: {type: int, default: 1}
    define:
      project: "stride != 1 or in_channels != out"
    layers:
      - {op: conv2d, name: conv1, out: out, kernel: 3, stride: stride}
      - {op: batchnorm, name: bn1}
      - {op: relu, name: relu1}
      - {op: conv2d, name: conv2, out: out, kernel: 3}
      - {op: batchnorm, name: bn2}
      - {op: conv2d, name: downsample, inputs: [input], out: out, kernel: 1, stride: stride, when: project}
      - {op: batchnorm, name: downsample_bn, when: project}
      - {op: add, name: add, inputs: [bn2, "'downsample_bn' if project else 'input'"]}
      - {op: relu, name: relu}
    output: relu
"""

RESNET = BASIC + """\
input: [3, 32, 32]
layers:
  - {op: conv2d, name: stem, out: 64, kernel: 3}
  - {op: basic, name: b0, out: 64}
  - stage: layer2
    repeat: 2
    unit: {op: basic, out: 128}
"""


fails = rejected  # show on a bad spec: the one stderr line, prefix removed


def model(cli, path: str, *extra: str) -> dict:
    result = cli("show", path, "-f", "json", *extra)
    assert result.exit_code == 0, result.stderr
    return result.json()["models"][0]


def layers_by_name(m: dict) -> dict[str, dict]:
    return {layer["name"]: layer for layer in m["layers"]}


def one_block(block: str, use: str = "  - {op: b, name: u1}\n", head: str = "") -> str:
    """A spec with one block `b` (its lines indented by 4 under `blocks: b:`), a stem conv to 8 channels and `use`."""
    return (f"{head}blocks:\n  b:\n{block}input: [4, 8, 8]\nlayers:\n"
            "  - {op: conv2d, name: stem, out: 8, kernel: 1}\n" + use)


# --- mistakes inside a block: one line, both places -----------------------------------------------------------------


def test_when_that_is_not_boolean(cli, write_spec) -> None:
    path = write_spec(one_block(
        "    layers:\n"
        "      - {op: relu, name: x, when: \"1 + 1\"}\n"
        "      - {op: relu, name: y}\n"
    ))
    assert fails(cli, path) == (
        f"{path}:9 layers[1] (u1) -> {path}:4 blocks.b.layers[0].when: when must be true or false, got 2"
    )


def test_an_inputs_expression_naming_no_local_layer(cli, write_spec) -> None:
    path = write_spec(one_block(
        "    layers:\n"
        "      - {op: relu, name: x}\n"
        "      - {op: add, name: y, inputs: [x, \"'nope' if in_channels > 0 else 'x'\"]}\n"
    ))
    assert fails(cli, path) == (
        f"{path}:9 layers[1] (u1) -> {path}:5 blocks.b.layers[1].inputs[1]: 'nope' if in_channels > 0 else 'x' "
        "gives 'nope', which names no earlier layer of the block (input, x)"
    )


def test_an_inputs_expression_giving_a_number(cli, write_spec) -> None:
    path = write_spec(one_block(
        "    layers:\n      - {op: relu, name: x}\n      - {op: add, name: y, inputs: [x, \"in_channels\"]}\n"
    ))
    assert fails(cli, path).endswith(
        "blocks.b.layers[1].inputs[1]: in_channels gives 8, which names no earlier layer of the block (input, x)")


def test_a_plain_undefined_input_name(cli, write_spec) -> None:
    path = write_spec(one_block(
        "    layers:\n"
        "      - {op: relu, name: x}\n"
        "      - {op: add, name: y, inputs: [x, zzz]}\n"
    ))
    assert fails(cli, path) == (
        f"{path}:9 layers[1] (u1) -> {path}:5 blocks.b.layers[1].inputs[1]: undefined layer 'zzz' (inputs name "
        "earlier layers of the block: input, x)"
    )


def test_an_input_naming_a_later_layer(cli, write_spec) -> None:
    path = write_spec(one_block(
        "    layers:\n      - {op: add, name: x, inputs: [input, y]}\n      - {op: relu, name: y}\n"
    ))
    assert "blocks.b.layers[0].inputs[1]: undefined layer 'y'" in fails(cli, path)


def test_an_input_naming_a_layer_whose_when_is_false(cli, write_spec) -> None:
    path = write_spec(one_block(
        "    layers:\n"
        "      - {op: relu, name: x, when: false}\n"
        "      - {op: add, name: y, inputs: [input, x]}\n"
    ))
    assert " -> " in (message := fails(cli, path)) and "blocks.b.layers[1].inputs[1]: undefined layer 'x'" in message


def test_a_layer_inside_a_block_missing_a_required_argument(cli, write_spec) -> None:
    path = write_spec(one_block("    layers:\n      - {op: conv2d, name: c, kernel: 1}\n"))
    assert fails(cli, path) == (
        f"{path}:8 layers[1] (u1) -> {path}:4 blocks.b.layers[0]: missing required argument 'out'"
    )


def test_a_layer_inside_a_block_with_an_unknown_argument(cli, write_spec) -> None:
    path = write_spec(one_block("    layers:\n      - {op: relu, name: r, slope: 2}\n"))
    assert fails(cli, path) == (
        f"{path}:8 layers[1] (u1) -> {path}:4 blocks.b.layers[0].slope: unknown argument 'slope' (arguments: none)"
    )


def test_an_undefined_name_in_a_block_expression(cli, write_spec) -> None:
    path = write_spec(one_block("    layers:\n      - {op: conv2d, name: c, out: nope, kernel: 1}\n"))
    assert fails(cli, path) == f"{path}:8 layers[1] (u1) -> {path}:4 blocks.b.layers[0].out: undefined name 'nope'"


def test_a_mistake_in_a_block_define(cli, write_spec) -> None:
    path = write_spec(one_block(
        "    define:\n      half: \"in_channels // 0\"\n"
        "    layers:\n      - {op: conv2d, name: c, out: half, kernel: 1}\n"
    ))
    message = fails(cli, path)
    assert message.startswith(f"{path}:10 layers[1] (u1) -> {path}:4 blocks.b.define.half: "), message


def test_a_shape_mistake_inside_nested_blocks_names_every_place(cli, write_spec) -> None:
    path = write_spec(
        "blocks:\n"
        "  inner:\n"
        "    args: {out: {type: int}}\n"
        "    layers:\n"
        "      - {op: conv2d, name: x, out: out, kernel: 1, groups: 3}\n"
        "  outer:\n"
        "    layers:\n"
        "      - {op: relu, name: r}\n"
        "      - {op: inner, name: i1, out: 9}\n"
        "input: [4, 8, 8]\nlayers:\n"
        "  - {op: conv2d, name: stem, out: 8, kernel: 1}\n"
        "  - {op: outer, name: u1}\n"
    )
    assert fails(cli, path) == (
        f"{path}:13 layers[1] (u1) -> {path}:9 blocks.outer.layers[1] (i1) -> {path}:5 blocks.inner.layers[0].groups: "
        "input channels 8 are not divisible by groups=3"
    )


def test_a_mistake_in_a_built_in_block_inside_a_user_block(cli, write_spec) -> None:
    path = write_spec(one_block("    layers:\n      - {op: bottleneck, name: bt, out: 12}\n"))
    message = fails(cli, path)
    assert message.startswith(f"{path}:8 layers[1] (u1) -> {path}:4 blocks.b.layers[0]"), message


def test_the_output_layer_removed_by_when(cli, write_spec) -> None:
    path = write_spec(one_block(
        "    layers:\n      - {op: relu, name: x, when: false}\n      - {op: relu, name: y}\n    output: x\n"
    ))
    assert fails(cli, path) == (
        f"{path}:10 layers[1] (u1) -> {path}:6 blocks.b.output: the output layer 'x' is not present (its 'when' is "
        "false)"
    )


def test_every_layer_removed_by_when(cli, write_spec) -> None:
    path = write_spec(one_block(
        "    args: {enabled: {type: bool, default: false}}\n    layers:\n      - {op: relu, name: x, when: enabled}\n"
    ))
    assert fails(cli, path) == (
        f"{path}:9 layers[1] (u1) -> {path}:2 blocks.b: block 'b' has no layers present here (every 'when' is false)"
    )


def test_a_mistake_in_a_stage_unit_names_the_unit(cli, write_spec) -> None:
    path = write_spec(BASIC + "input: [3, 8, 8]\nlayers:\n  - stage: layer2\n    repeat: 2\n"
                              "    unit: {op: basic, out: 0}\n")
    message = fails(cli, path)
    assert message.startswith(f"{path}:23 layers[0].unit (layer2.unit0) -> {path}:9 blocks.basic.layers[0].out: "
                              "must be at least 1, got 0"), message


@pytest.mark.parametrize(("use", "where", "message"), [
    ("  - {op: b, name: u1}\n", "layers[1]", "missing required argument 'out'"),
    ("  - {op: b, name: u1, out: 4, foo: 3}\n", "layers[1].foo", "unknown argument 'foo' (arguments: out)"),
    ("  - {op: b, name: u1, out: 0}\n", "layers[1].out", "must be at least 1, got 0"),
    ("  - {op: b, name: u1, out: 2.5}\n", "layers[1].out", "must be a whole number, got 2.5"),
])
def test_a_bad_argument_at_the_use(cli, write_spec, use: str, where: str, message: str) -> None:
    path = write_spec(one_block("    args: {out: {type: int, min: 1}}\n"
                                "    layers:\n      - {op: conv2d, name: c, out: out, kernel: 1}\n", use))
    declared = f"(block 'b' declares its arguments at {path}:3 blocks.b.args)"
    assert fails(cli, path) == f"{path}:9 {where}: {message} {declared}"


@pytest.mark.parametrize("use", ["  - {op: b, name: u1}\n", "  - {op: b, name: u1, out: 4, foo: 3}\n"])
def test_a_bad_argument_at_the_use_names_the_declaration_too(cli, write_spec, use: str) -> None:
    path = write_spec(one_block("    args: {out: {type: int, min: 1}}\n"
                                "    layers:\n      - {op: conv2d, name: c, out: out, kernel: 1}\n", use))
    message = fails(cli, path)
    assert f"{path}:9 layers[1]" in message and f"{path}:3 blocks.b" in message, message


def test_a_stage_of_a_user_block_without_stride(cli, write_spec) -> None:
    path = write_spec(one_block("    args: {out: {type: int}}\n    layers:\n      - {op: conv2d, name: c, out: out, "
                                "kernel: 1}\n", "  - {stage: s, repeat: 2, unit: {op: b, out: 8}}\n"))
    assert fails(cli, path) == (f"{path}:9 layers[1].unit.op: b has no stride and cannot form a stage (block 'b' "
                                f"declares its arguments at {path}:3 blocks.b.args)")


def test_a_stage_of_a_user_block_without_stride_names_the_declaration(cli, write_spec) -> None:
    path = write_spec(one_block("    args: {out: {type: int}}\n    layers:\n      - {op: conv2d, name: c, out: out, "
                                "kernel: 1}\n", "  - {stage: s, repeat: 2, unit: {op: b, out: 8}}\n"))
    assert f"{path}:3 blocks.b" in fails(cli, path)


def test_a_stage_of_a_user_block_with_stride_in_the_unit(cli, write_spec) -> None:
    path = write_spec(BASIC + "input: [3, 8, 8]\nlayers:\n  - {stage: s, unit: {op: basic, out: 8, stride: 2}}\n")
    assert fails(cli, path) == f"{path}:21 layers[0].unit.stride: set the stride on the stage (its first unit gets it)"


# --- names, blocks, when, input expressions, outputs ----------------------------------------------------------------


def test_squeezenet_fire_layers_have_dotted_names(cli) -> None:
    m = model(cli, "squeezenet1_0")
    layers = layers_by_name(m)
    fire = layers["fire2.expand3x3"]
    assert fire["inputs"] == ["fire2.squeeze_activation"] and fire["output"] == [64, 54, 54]
    assert layers["fire2.cat"]["inputs"] == ["fire2.expand1x1_activation", "fire2.expand3x3_activation"]
    assert layers["fire3.squeeze"]["inputs"] == ["fire2.cat"]
    assert (m["params"], m["macs"]) == (1_248_424, 818_924_576)


def test_show_by_block_lists_user_block_instances(cli, write_spec) -> None:
    path = write_spec(RESNET)
    result = cli("show", path, "--by", "block", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["name"], r["layers"]) for r in rows] == [
        ("stem", "1"), ("b0", "7"), ("layer2.unit0", "9"), ("layer2.unit1", "7")]
    m = model(cli, path)
    assert sum(int(r["macs"]) for r in rows) == m["macs"]
    by_layer = layers_by_name(m)
    unit0 = sum(layer["params"] for name, layer in by_layer.items() if name.startswith("layer2.unit0."))
    assert int(rows[2]["params"]) == unit0


def test_squeezenet_by_block(cli) -> None:
    result = cli("show", "squeezenet1_0", "--by", "block", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert [n for n in rows if n.startswith("fire")] == [f"fire{i}" for i in range(2, 10)]
    assert all(rows[f"fire{i}"]["layers"] == "7" for i in range(2, 10))


def test_resnet_block_names_when_and_input_expression(cli, write_spec) -> None:
    layers = layers_by_name(model(cli, write_spec(RESNET)))
    assert layers["layer2.unit1.conv2"]["output"] == [128, 16, 16]
    # unit 0 projects (stride 2, 64 -> 128): the add reads the downsample branch, which reads the block's input
    assert layers["layer2.unit0.downsample"]["inputs"] == ["b0.relu"]
    assert layers["layer2.unit0.add"]["inputs"] == ["layer2.unit0.bn2", "layer2.unit0.downsample_bn"]
    # unit 1 and b0 do not: no downsample layers, the add reads the input
    assert not any(n.startswith(("layer2.unit1.down", "b0.down")) for n in layers)
    assert layers["layer2.unit1.add"]["inputs"] == ["layer2.unit1.bn2", "layer2.unit0.relu"]
    assert layers["b0.add"]["inputs"] == ["b0.bn2", "stem"]
    assert layers["layer2.unit0.conv1"]["inputs"] == ["b0.relu"]
    assert layers["layer2.unit1.conv1"]["inputs"] == ["layer2.unit0.relu"]
    assert [n for n in layers if n.startswith("b0.")] == [
        "b0.conv1", "b0.bn1", "b0.relu1", "b0.conv2", "b0.bn2", "b0.add", "b0.relu"]


NESTED = """\
blocks:
  inner:
    args:
      out: {type: int}
    layers:
      - {op: conv2d, name: conv, out: out, kernel: 3}
      - {op: batchnorm, name: bn}
  outer:
    args:
      out: {type: int}
      stride: {type: int, default: 1}
    layers:
      - {op: inner, name: inner, out: "out // 2"}
      - {op: dwsep, name: ds, out: out, stride: stride}
      - {op: relu, name: tail, inputs: [ds], when: "stride > 2"}  # never present here
    output: ds
input: [3, 16, 16]
layers:
  - {op: outer, name: o1, out: 8}
  - {op: conv2d, name: head, out: 5, kernel: 1}
  - {stage: st, repeat: 2, unit: {op: outer, out: 16}}
"""


def test_nested_user_and_built_in_blocks(cli, write_spec) -> None:
    m = model(cli, write_spec(NESTED))
    layers = layers_by_name(m)
    assert list(layers)[:9] == [
        "o1.inner.conv", "o1.inner.bn", "o1.ds.dw", "o1.ds.dw_bn", "o1.ds.dw_relu", "o1.ds.pw", "o1.ds.pw_bn",
        "o1.ds.pw_relu", "head"]
    assert layers["o1.inner.conv"]["output"] == [4, 16, 16]
    assert layers["o1.ds.dw"]["inputs"] == ["o1.inner.bn"]
    # `output: ds`, a nested block: the next entry reads the dwsep's last layer
    assert layers["head"]["inputs"] == ["o1.ds.pw_relu"]
    assert layers["st.unit0.inner.conv"]["inputs"] == ["head"]
    assert layers["st.unit0.ds.dw"]["output"] == [8, 8, 8]  # the stage's stride reaches the nested dwsep
    assert layers["st.unit1.ds.dw"]["output"] == [8, 8, 8]
    assert layers["st.unit1.inner.conv"]["inputs"] == ["st.unit0.ds.pw_relu"]
    assert m["output"] == [16, 8, 8]


def test_when_and_output_follow_arguments(cli, write_spec) -> None:
    path = write_spec(
        "blocks:\n  b:\n    args:\n      extra: {type: bool, default: false}\n      mode: {type: str, default: a, "
        "choices: [a, c]}\n"
        "    layers:\n"
        "      - {op: conv2d, name: a, out: 6, kernel: 1, when: \"mode == 'a'\"}\n"
        "      - {op: conv2d, name: c, inputs: [input], out: 7, kernel: 1, when: \"mode == 'c'\"}\n"
        "      - {op: relu, name: pick, inputs: [\"mode\"], when: \"not extra\"}\n"
        "      - {op: batchnorm, name: pick2, inputs: [\"'a' if mode == 'a' else 'c'\"], when: extra}\n"
        "input: [3, 4, 4]\nlayers:\n"
        "  - {op: b, name: p}\n  - {op: b, name: q, mode: c}\n"  # every output is read: no dead branch
        "  - {op: b, name: r, extra: true, mode: c}\n"
    )
    layers = layers_by_name(model(cli, path))
    assert layers["p.pick"]["inputs"] == ["p.a"] and layers["p.pick"]["output"] == [6, 4, 4]
    assert "q.a" not in layers and layers["q.pick"]["inputs"] == ["q.c"] and layers["q.pick"]["output"] == [7, 4, 4]
    assert "r.pick" not in layers and layers["r.pick2"]["inputs"] == ["r.c"]
    assert "p.pick2" not in layers


def test_a_block_define_sees_args_params_defines_functions_and_the_input(cli, write_spec) -> None:
    text = (
        "params:\n  p: {type: int, default: 1}\n"
        "functions:\n  \"twice(x)\": \"2 * x\"\n"
        "define:\n  d: \"10 * p\"\n"
        "blocks:\n  b:\n    args: {a: {type: int, default: 100}}\n"
        "    define:\n      c: \"a + p + d + twice(1000) + in_channels * 10000 + in_height * 100000 + in_width\"\n"
        "    layers:\n      - {op: conv2d, name: fc, out: c, kernel: 1}\n"
        "input: [3, 5, 7]\nlayers:\n  - {op: b, name: u}\n"
    )
    path = write_spec(text)

    def expected(p: int, a: int) -> int:
        return a + p + 10 * p + 2000 + 30000 + 500000 + 7

    assert layers_by_name(model(cli, path))["u.fc"]["output"] == [expected(1, 100), 5, 7]
    assert layers_by_name(model(cli, path, "--set", "p=3"))["u.fc"]["output"] == [expected(3, 100), 5, 7]
    other = write_spec(text.replace("{op: b, name: u}", "{op: b, name: u, a: 5}"), "other.yaml")
    assert layers_by_name(model(cli, other))["u.fc"]["output"] == [expected(1, 5), 5, 7]


# --- the same layers by hand ----------------------------------------------------------------------------------------


HAND = """\
input: [3, 32, 32]
layers:
  - {op: conv2d, name: stem, out: 64, kernel: 3}
  - {op: conv2d, name: b0_conv1, out: 64, kernel: 3, stride: 1}
  - {op: batchnorm, name: b0_bn1}
  - {op: relu, name: b0_relu1}
  - {op: conv2d, name: b0_conv2, out: 64, kernel: 3}
  - {op: batchnorm, name: b0_bn2}
  - {op: add, name: b0_add, inputs: [b0_bn2, stem]}
  - {op: relu, name: b0_relu}
  - {op: conv2d, name: u0_conv1, out: 128, kernel: 3, stride: 2}
  - {op: batchnorm, name: u0_bn1}
  - {op: relu, name: u0_relu1}
  - {op: conv2d, name: u0_conv2, out: 128, kernel: 3}
  - {op: batchnorm, name: u0_bn2}
  - {op: conv2d, name: u0_downsample, inputs: [b0_relu], out: 128, kernel: 1, stride: 2}
  - {op: batchnorm, name: u0_downsample_bn}
  - {op: add, name: u0_add, inputs: [u0_bn2, u0_downsample_bn]}
  - {op: relu, name: u0_relu}
  - {op: conv2d, name: u1_conv1, out: 128, kernel: 3, stride: 1}
  - {op: batchnorm, name: u1_bn1}
  - {op: relu, name: u1_relu1}
  - {op: conv2d, name: u1_conv2, out: 128, kernel: 3}
  - {op: batchnorm, name: u1_bn2}
  - {op: add, name: u1_add, inputs: [u1_bn2, u0_relu]}
  - {op: relu, name: u1_relu}
"""


def _numbers(layer) -> tuple:
    return (layer.op, dict(layer.attrs), layer.in_shapes, layer.out, layer.params, layer.macs, layer.fvcore_flops,
            layer.activations, layer.memory_access, layer.op_class)


def test_a_user_block_costs_exactly_the_layers_written_by_hand(write_spec) -> None:
    by_block = expand(write_spec(RESNET))
    by_hand = expand(write_spec(HAND, "hand.yaml"))
    assert len(by_block.layers) == len(by_hand.layers) == 24
    for a, b in zip(by_block.layers, by_hand.layers, strict=True):
        assert _numbers(a) == _numbers(b), (a.name, b.name)
        assert a.name.replace("layer2.unit", "u").replace(".", "_") == b.name
    assert by_block.sums == by_hand.sums
    assert by_block.output == by_hand.output == (128, 16, 16)
    assert [b.name for b in by_block.blocks] == ["b0", "layer2.unit0", "layer2.unit1"]
    for block in by_block.blocks:
        assert block.op == "basic"
        assert by_block.block_layers(block)[-1].out == block.out


def test_squeezenet_fire_equals_its_layers_by_hand(write_spec) -> None:
    fire = expand("squeezenet1_0")
    hand = write_spec(
        "input: [96, 54, 54]\nlayers:\n"
        "  - {op: conv2d, name: squeeze, out: 16, kernel: 1, bias: true}\n"
        "  - {op: relu, name: squeeze_activation}\n"
        "  - {op: conv2d, name: expand1x1, inputs: [squeeze_activation], out: 64, kernel: 1, bias: true}\n"
        "  - {op: relu, name: expand1x1_activation}\n"
        "  - {op: conv2d, name: expand3x3, inputs: [squeeze_activation], out: 64, kernel: 3, padding: 1, bias: true}\n"
        "  - {op: relu, name: expand3x3_activation}\n"
        "  - {op: concat, name: cat, inputs: [expand1x1_activation, expand3x3_activation]}\n"
    )
    block = next(b for b in fire.blocks if b.name == "fire2")
    assert [_numbers(x) for x in fire.block_layers(block)] == [_numbers(x) for x in expand(hand).layers]


# --- caching: the values of the spec names a block reads are part of the key ---------------------------------------

LIB = """\
blocks:
  scaled:
    args: {base: {type: int}}
    layers:
      - {op: conv2d, name: conv, out: "ch(base)", kernel: 1}
      - {op: conv2d, name: conv_w, out: "base * w", kernel: 1}
"""


def test_one_block_in_two_specs_with_different_values(cli, tmp_path: Path) -> None:
    (tmp_path / "lib.yaml").write_text(LIB)
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    tail = "input: [3, 4, 4]\nlayers:\n  - {op: scaled, name: s, base: 2}\n"
    a.write_text("include: [lib.yaml]\nparams:\n  w: {type: int, default: 3}\nfunctions:\n  \"ch(c)\": \"c * w\"\n"
                 + tail)
    b.write_text("include: [lib.yaml]\nparams:\n  w: {type: int, default: 5}\nfunctions:\n  \"ch(c)\": \"c + w\"\n"
                 + tail)
    for _ in range(2):  # in either order, cached or not
        for path, conv, conv_w in ((a, 6, 6), (b, 7, 10)):
            layers = layers_by_name(model(cli, str(path)))
            assert (layers["s.conv"]["output"][0], layers["s.conv_w"]["output"][0]) == (conv, conv_w), path


def test_one_spec_with_different_parameter_values(cli, write_spec) -> None:
    path = write_spec(
        "params:\n  w: {type: int, default: 2}\n  k: {type: int, default: 1}\n"
        "functions:\n  \"inner(x)\": \"x * w\"\n  \"ch(c)\": \"inner(c) + m\"\n"
        "define:\n  m: \"10 * k\"\n"
        "blocks:\n  b:\n    layers:\n      - {op: conv2d, name: c, out: \"ch(1)\", kernel: 1}\n"
        "input: [3, 4, 4]\nlayers:\n  - {op: b, name: u}\n"
    )
    # the block reads only ch(); ch reads inner() (which reads w) and the define m (which reads k)
    for w, k in ((2, 1), (3, 1), (2, 1), (3, 2), (2, 2)):
        m = model(cli, path, "--set", f"w={w}", "--set", f"k={k}")
        assert m["layers"][0]["output"][0] == w + 10 * k, (w, k)


def test_a_nested_block_reading_a_parameter(cli, write_spec) -> None:
    path = write_spec(
        "params:\n  w: {type: int, default: 2}\n  a: {type: str, default: relu, choices: [relu, relu6]}\n"
        "blocks:\n"
        "  leaf:\n    layers:\n      - {op: conv2d, name: c, out: w, kernel: 1}\n"
        "  mid:\n    layers:\n      - {op: leaf, name: l}\n      - {op: conv_bn_act, name: cba, out: 4, act: a}\n"
        "  top:\n    layers:\n      - {op: mid, name: m}\n"
        "input: [3, 4, 4]\nlayers:\n  - {op: top, name: t}\n"
    )
    for w, act in ((2, "relu"), (5, "relu6"), (2, "relu6"), (5, "relu")):
        m = model(cli, path, "--set", f"w={w}", "--set", f"a={act}")
        layers = layers_by_name(m)
        assert layers["t.m.l.c"]["output"][0] == w
        assert f"t.m.cba.{act}" in layers and layers["t.m.cba.conv"]["inputs"] == ["t.m.l.c"]


def test_a_block_define_list_reading_a_parameter(cli, write_spec) -> None:
    path = write_spec(
        "params:\n  w: {type: int, default: 4}\n"
        "blocks:\n  b:\n    define:\n      widths: [w, \"2 * w\"]\n      table: {1: \"w + 1\"}\n"
        "    layers:\n      - {op: conv2d, name: c, out: \"widths[1] + table[1]\", kernel: 1}\n"
        "input: [3, 4, 4]\nlayers:\n  - {op: b, name: u}\n"
    )
    assert model(cli, path)["output"] == [13, 4, 4]
    assert model(cli, path, "--set", "w=5")["output"] == [16, 4, 4]


# --- bounds and speed -----------------------------------------------------------------------------------------------

FIRE = """\
blocks:
  fire:
    args:
      squeeze: {type: int, min: 1}
      expand: {type: int, min: 1}
    layers:
      - {op: conv2d, name: squeeze, out: squeeze, kernel: 1, bias: true}
      - {op: relu, name: squeeze_activation}
      - {op: conv2d, name: expand1x1, inputs: [squeeze_activation], out: expand, kernel: 1, bias: true}
      - {op: relu, name: expand1x1_activation}
      - {op: conv2d, name: expand3x3, inputs: [squeeze_activation], out: expand, kernel: 3, padding: 1, bias: true}
      - {op: relu, name: expand3x3_activation}
      - {op: concat, name: cat, inputs: [expand1x1_activation, expand3x3_activation]}
"""


def test_two_hundred_uses_of_a_block_expand_quickly(write_spec) -> None:
    lines = [f"  - {{op: fire, name: f{i}, squeeze: {1 + i}, expand: 8}}" for i in range(200)]  # 200 templates
    path = write_spec(FIRE + "input: [16, 8, 8]\nlayers:\n" + "\n".join(lines) + "\n")
    templates.clear_caches()
    start = time.perf_counter()
    g = expand(load_spec(path))
    elapsed = time.perf_counter() - start
    print(f"\n200 uses of a user block: {elapsed * 1000:.1f} ms (load and expand, cold caches)")
    assert g.sums.layers == 1400 and len(g.blocks) == 200
    assert g.layers[-1].name == "f199.cat" and g.output == (16, 8, 8)
    assert elapsed < 2.0  # a loose sanity bound (the requirement is 50 ms, not asserted on a shared machine)


def test_the_layer_limit_holds_for_user_blocks(cli, write_spec) -> None:
    relus = "".join(f"      - {{op: relu, name: r{i}}}\n" for i in range(30))
    path = write_spec("blocks:\n  c:\n    args: {stride: {type: int, default: 1}}\n    layers:\n" + relus
                      + "input: [1, 2, 2]\nlayers:\n  - {stage: s, repeat: 1000, stride: 1, unit: {op: c}}\n")
    assert fails(cli, path) == (
        f"{path}:37 layers[0].unit: the network grows past 20,000 layers (the most a spec may expand to)")


def test_a_stage_of_a_user_block_whose_stride_has_no_default(cli, write_spec) -> None:
    path = write_spec(BASIC.replace("stride: {type: int, default: 1}", "stride: {type: int}")
                      + "input: [3, 8, 8]\nlayers:\n  - {stage: s, repeat: 2, unit: {op: basic, out: 16}}\n")
    assert model(cli, path)["output"] == [16, 4, 4]


def test_nested_blocks_stop_at_the_layer_limit_early(write_spec, monkeypatch) -> None:
    from shufflecalc.errors import ShufflecalcError

    depth = 17  # 2**17 = 131,072 layers, past the limit of 20,000
    text = "blocks:\n  b0:\n    layers:\n      - {op: relu, name: r}\n" + "".join(
        f"  b{i}:\n    layers:\n      - {{op: b{i - 1}, name: x}}\n      - {{op: b{i - 1}, name: y}}\n"
        for i in range(1, depth + 1)) + f"input: [1, 2, 2]\nlayers:\n  - {{op: b{depth}, name: top}}\n"
    path = write_spec(text)
    made = [0]
    real = templates.Entry

    def counting(*args, **kwargs):
        made[0] += 1
        return real(*args, **kwargs)

    templates.clear_caches()
    monkeypatch.setattr(templates, "Entry", counting)
    try:
        with pytest.raises(ShufflecalcError, match="grows past 20,000 layers"):
            expand(path)
    finally:
        templates.clear_caches()
    assert made[0] <= 100_000, f"{made[0]:,} layer entries made before the limit was enforced"
