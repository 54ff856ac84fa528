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


# --- hostile input: every number bounded, NaN and infinity refused, one step budget, reserved names -------------

import math  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

from shufflecalc.errors import ShufflecalcError  # noqa: E402
from shufflecalc.spec.blocks import BLOCKS  # noqa: E402
from shufflecalc.spec.layers import KINDS, MAX_CHANNELS, MAX_SPATIAL, MAX_WINDOW, RESERVED_NAMES  # noqa: E402


def _error(write_spec, text: str, **overrides: object) -> str:
    path = write_spec(text)
    start = time.perf_counter()
    with pytest.raises(ShufflecalcError) as info:
        expand(path, overrides)
    assert time.perf_counter() - start < 2.0
    message = str(info.value).replace(path, "my.yaml")
    assert "\n" not in message and len(message) < 300, message
    return message


def test_every_number_argument_has_a_maximum() -> None:
    from shufflecalc.spec.layers import Arg

    with pytest.raises(TypeError, match="needs a minimum and a maximum"):
        Arg(int, minimum=1)
    for kind in [*KINDS.values(), *BLOCKS.values()]:
        for name, arg in kind.args.items():
            if arg.type in (int, float):
                assert arg.minimum is not None and arg.maximum is not None, (kind.name, name)
                assert math.isfinite(arg.maximum), (kind.name, name)


L = "input: [16, 8, 8]\nlayers:\n  - "


@pytest.mark.parametrize("layer, expected", [
    ("{op: conv2d, out: 1000000000000000000, kernel: 1}",
     "my.yaml:3 layers[0].out: must be at most 1,048,576, got 1000000000000000000"),
    ("{op: conv2d, out: '2 ** 40', kernel: 1}", "layers[0].out: must be at most 1,048,576, got 1099511627776"),
    ("{op: linear, out: 2000000}", "layers[0].out: must be at most 1,048,576"),
    ("{op: conv2d, out: 8, kernel: 5000}", "layers[0].kernel: must be at most 4,096, got 5000"),
    ("{op: conv2d, out: 8, kernel: 1, stride: 10000}", "layers[0].stride: must be at most 4,096"),
    ("{op: conv2d, out: 8, kernel: 1, padding: 100000}", "layers[0].padding: must be at most 4,096"),
    ("{op: conv2d, out: 8, kernel: 1, dilation: 100000}", "layers[0].dilation: must be at most 4,096"),
    ("{op: conv2d, out: 16, kernel: 1, groups: 2000000}", "layers[0].groups: must be at most 1,048,576"),
    ("{op: conv2d, out: 8, kernel: [1, 5000]}", "layers[0].kernel[1]: must be at most 4,096, got 5000"),
    ("{op: maxpool, kernel: 2, dilation: [1, 100000]}", "layers[0].dilation[1]: must be at most 4,096"),
    ("{op: conv_transpose2d, out: 8, kernel: 1, output_padding: 5000}", "layers[0].output_padding: must be at most"),
    ("{op: adaptive_avgpool, output: [1, 100000]}", "layers[0].output[1]: must be at most 65,536, got 100000"),
    ("{op: upsample, scale: '1e300'}", "layers[0].scale: must be at most 65,536, got 1e+300"),
    ("{op: upsample, size: '2 ** 40'}", "layers[0].size: must be at most 65,536"),
    ("{op: split, parts: 2000000, index: 0}", "layers[0].parts: must be at most 1,048,576"),
    ("{op: dropout, p: 1.5}", "layers[0].p: must be at most 1.0, got 1.5"),
    ("{op: dropout, p: -0.5}", "layers[0].p: must be at least 0, got -0.5"),
    ("{op: dropout, p: '1 / 3 * 6'}", "layers[0].p: must be at most 1.0, got 2.0"),
    ("{op: batchnorm, eps: -1.0}", "layers[0].eps: must be at least 0"),
    ("{op: batchnorm, eps: 10.0}", "layers[0].eps: must be at most 1.0"),
    ("{op: bottleneck, out: 16, bottleneck: '1e300'}", "layers[0].bottleneck: must be at most 1024.0, got 1e+300"),
    ("{op: bottleneck, out: 16, bottleneck: '2 ** 61'}", "layers[0].bottleneck: must be at most 1024.0"),
    ("{op: inverted_residual, out: 16, expand: 5000.0}", "layers[0].expand: must be at most 1024.0, got 5000.0"),
    ("{op: resnet_bottleneck, planes: 4, expansion: 100000}", "layers[0].expansion: must be at most 1,024"),
    ("{op: squeeze_excitation, squeeze: 10000000}", "layers[0].squeeze: must be at most 1,048,576"),
])
def test_layer_and_block_numbers_are_bounded(write_spec, layer: str, expected: str) -> None:
    assert expected in _error(write_spec, L + layer + "\n")


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "'1e308 * 10'", "n", "i"])
@pytest.mark.parametrize("layer", ["{op: bottleneck, out: 16, bottleneck: V}", "{op: inverted_residual, out: 16, "
                                   "expand: V}", "{op: batchnorm, eps: V}", "{op: dropout, p: V}",
                                   "{op: conv2d, out: V, kernel: 1}"])
def test_nan_and_infinity_are_errors_where_a_number_is_read(write_spec, layer: str, value: str) -> None:
    # bottleneck: .inf crashed the block with OverflowError, .nan with ValueError; p and eps took them silently
    defines = "define:\n  n: .nan\n  i: .inf\n" if value in ("n", "i") else ""
    message = _error(write_spec, defines + L + layer.replace("V", value) + "\n")
    assert "layers[0]." in message or "define." in message, message
    assert "finite" in message or "whole number" in message, message


@pytest.mark.parametrize("text, expected", [
    # 1.0e+160 may be refused by the YAML reader already ("too large"), else here ("at most")
    ("input: [3, 1.0e+160, 1.0e+160]\nlayers:\n  - {op: relu}\n", ("my.yaml:1 input[1]:",)),
    ("input: [3, '1e160', 8]\nlayers:\n  - {op: relu}\n", ("my.yaml:1 input[1]: must be at most 65,536",)),
    ("input: [3, '2 ** 17', 8]\nlayers:\n  - {op: relu}\n", ("my.yaml:1 input[1]: must be at most 65,536",)),
    ("input: [3000000, 8, 8]\nlayers:\n  - {op: relu}\n", ("my.yaml:1 input[0]: must be at most 1,048,576",)),
    ("input: [3, 8, 100000]\nlayers:\n  - {op: relu}\n", ("my.yaml:1 input[2]: must be at most 65,536",)),
    ("define:\n  big: 10000000000000000000000\ninput: [3, 8, 8]\nlayers:\n  - {op: relu}\n",
     ("my.yaml:2 define.big:", "too large")),
    ("define:\n  t: {1: .nan}\ninput: [3, 8, 8]\nlayers:\n  - {op: relu}\n", ("my.yaml:2 define.t", "finite")),
    ("define:\n  t: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\ninput: [3, 8, 8]\n"
     "layers:\n  - {op: relu}\n", ("define.t", "nested too deeply")),
])
def test_input_sizes_and_define_values_are_bounded(write_spec, text: str, expected: tuple) -> None:
    message = _error(write_spec, text)
    assert all(part in message for part in expected), message


def test_derived_channels_and_every_output_are_bounded(write_spec) -> None:
    # a ratio within its bound can still make a layer no torch could build: the block's layers are checked too
    message = _error(write_spec, "input: [4096, 8, 8]\nlayers:\n  - {op: inverted_residual, out: 16, expand: 1000.0}\n")
    assert "my.yaml:3 layers[0]: inverted_residual_0: expand: out 4096000 is above the maximum 1,048,576" in message
    # concatenation doubles the channels: 2**11 x 2**10 channels is past MAX_CHANNELS
    doublings = "".join(f"  - {{op: concat, name: c{i}, inputs: [{'input' if i == 0 else f'c{i - 1}'}, "
                        f"{'input' if i == 0 else f'c{i - 1}'}]}}\n" for i in range(12))
    message = _error(write_spec, "input: [1024, 2, 2]\nlayers:\n" + doublings)
    assert f"the output has 2,097,152 channels, more than the maximum {MAX_CHANNELS:,}" in message
    message = _error(write_spec, f"input: [1, {MAX_SPATIAL}, 8]\nlayers:\n"
                     f"  - {{op: conv2d, out: 1, kernel: 1, padding: {MAX_WINDOW}}}\n")
    assert "larger than the maximum 65,536 in height and width" in message


def test_one_step_budget_for_the_whole_spec(write_spec) -> None:
    # each evaluation used to get its own budget: 20,000 layers x 10,000 steps ran for 40 s
    layers = "".join(f"  - {{op: dropout, name: d{i}, p: 'f(0.5)'}}\n" for i in range(3000))
    functions = "define:\n  s: " + str(list(range(40))) + "\nfunctions:\n  \"f(x)\": \"x if s == s else 0\"\n"
    message = _error(write_spec, functions + "input: [3, 8, 8]\nlayers:\n" + layers)
    assert "evaluation too long (more than 100,000 steps for the whole spec" in message
    assert message.startswith("my.yaml:") and "layers[" in message and "].p:" in message
    # a whole define table evaluated for every layer: each comparison spends the table's size
    table = "{" + ", ".join(f"{i}: {i}" for i in range(2000)) + "}"
    layers = "".join(f"  - {{op: dropout, name: d{i}, p: '0.5 if t == t else 0'}}\n" for i in range(100))
    message = _error(write_spec, f"define:\n  t: {table}\ninput: [3, 8, 8]\nlayers:\n" + layers)
    assert "evaluation too long" in message


def test_a_function_call_inside_a_builtin_spends_from_the_same_budget(write_spec) -> None:
    g = expand("shufflenet", {"g": 3, "width": 2.0})  # the built-in specs spend a few hundred steps at most
    assert g.sums.layers > 0


@pytest.mark.parametrize("text, expected", [
    ("define:\n  __depth__: -1000\n", "my.yaml:2 define.__depth__: invalid name '__depth__': names starting with '__'"),
    ("define:\n  __budget__: 1\n", "define.__budget__: invalid name '__budget__'"),
    ("functions:\n  \"__f(x)\": x\n", "functions.__f(x): invalid name '__f'"),
    ("functions:\n  \"f(__depth__)\": \"1\"\n", "functions.f(__depth__): invalid argument name '__depth__' of f()"),
    ("functions:\n  \"f(x, x)\": x\n", "functions.f(x, x): f() names an argument twice"),
    ("define:\n  a: __depth__\n", "define.a: '__depth__' is not allowed: names starting with '__' are reserved"),
    ("define:\n  a: __budget__.left\n", "define.a:"),
])
def test_names_starting_with_two_underscores_are_reserved(write_spec, text: str, expected: str) -> None:
    # a define called __depth__ switched off the call-depth limit of spec functions
    assert expected in _error(write_spec, text + "input: [3, 8, 8]\nlayers:\n  - {op: relu}\n")


def test_a_define_cannot_lift_the_call_depth_limit(write_spec) -> None:
    text = ("define:\n  __depth__: -1000000\nfunctions:\n  \"f(x)\": \"0 if x <= 0 else f(x - 1)\"\n"
            "input: [3, 8, 8]\nlayers:\n  - {op: dropout, p: \"f(100)\"}\n")
    assert "names starting with '__' are reserved" in _error(write_spec, text)


@pytest.mark.parametrize("name", ["training", "_plan", "_modules", "annotate",
                                  "_parameters", "graph", "output_name", "_x"])
@pytest.mark.parametrize("where", ["layer", "block", "stage"])
def test_layer_names_torch_cannot_build_are_refused(write_spec, name: str, where: str) -> None:
    # passed `show`, crashed `bench` and `profile`
    entry = {"layer": f"{{op: relu, name: {name}}}", "block": f"{{op: dwsep, name: {name}, out: 8}}",
             "stage": f"{{stage: {name}, repeat: 2, unit: {{op: dwsep, out: 8}}}}"}[where]
    message = _error(write_spec, "input: [8, 8, 8]\nlayers:\n  - " + entry + "\n")
    key = "stage" if where == "stage" else "name"
    assert message.startswith(f"my.yaml:3 layers[0].{key}: layer name '{name}' is reserved ("), message
    assert "torch could not build the layer" in message


def test_generated_name_components_are_not_reserved() -> None:
    from shufflecalc.spec.load import builtin_names

    for spec in builtin_names():
        for layer in expand(spec).layers:
            for part in layer.name.split("."):
                assert not part.startswith("_") and part not in RESERVED_NAMES, (spec, layer.name)


@pytest.mark.parametrize("key", ["repeat", "stride"])
def test_a_missing_stage_number_is_an_error_not_a_crash(write_spec, key: str) -> None:
    # `repeat: ~` crashed with a TypeError (found by tests/fuzzing.py)
    message = _error(write_spec, "input: [8, 8, 8]\nlayers:\n  - stage: s\n    repeat: 2\n    stride: 1\n"
                                 "    unit: {op: dwsep, out: 8}\n".replace(f"{key}: ", f"{key}: ~ #"))
    assert message.startswith("my.yaml:") and f"layers[0].{key}: must be a whole number, got None" in message


# --- a stage's unit_index -------------------------------------------------------------------------------------------

UNIT_BLOCK = (
    "blocks:\n"
    "  unit:\n"
    "    args:\n"
    "      out: {type: int, min: 1}\n"
    "      stride: {type: int, default: 1, min: 1, max: 2}\n"
    "      p: {type: float, min: 0, max: 1}\n"
    "    layers:\n"
    "      - {op: conv2d, name: conv, out: out, kernel: 3, stride: stride}\n"
    "      - {op: drop_path, name: dp, p: p}\n"
)


def test_a_stage_unit_reads_its_place_in_the_stage(write_spec) -> None:
    path = write_spec(
        "input: [4, 16, 16]\n" + UNIT_BLOCK + "layers:\n"
        "  - {stage: s, repeat: 4, unit: {op: unit, out: '4 + 2 * unit_index', p: '0.1 * unit_index'},"
        " first: {p: 0.5}}\n"
    )
    g = expand(path)
    convs = [layer for layer in g.layers if layer.op == "conv2d"]
    assert [c.out[0] for c in convs] == [4, 6, 8, 10]  # out = 4 + 2 i
    assert [c.out[1] for c in convs] == [8, 8, 8, 8]  # the stage's stride 2 on unit 0 only
    assert [layer.attrs["p"] for layer in g.layers if layer.op == "drop_path"] == [0.5, 0.1, 0.2, 0.30000000000000004]
    assert [b.args["p"] for b in g.blocks] == [0.5, 0.1, 0.2, 0.30000000000000004]


def test_unit_index_is_refused_where_the_spec_already_names_it(write_spec) -> None:
    message = _error(
        write_spec,
        "params:\n  unit_index: {type: int, default: 1}\ninput: [4, 16, 16]\n" + UNIT_BLOCK + "layers:\n"
        "  - {stage: s, repeat: 2, unit: {op: unit, out: 4, p: '0.1 * unit_index'}}\n",
    )
    assert message == ("my.yaml:14 layers[0]: 'unit_index' names the unit's place in a stage; rename the parameter, "
                       "define or argument of that name")
    assert "unit_index" in _error(write_spec, "input: [4, 16, 16]\nlayers:\n"
                                  "  - {op: conv2d, name: c, out: unit_index, kernel: 1}\n")  # only inside a stage


BOTTLENECKS = """
params:
  resolution: {type: int, default: 8}
blocks:
  res_unit:
    args:
      planes: {type: int}
      stride: {type: int, default: 1}
      with_downsample: {type: bool, default: false}
    layers:
      - {op: conv2d, name: conv1, out: planes, kernel: 1}
      - {op: conv2d, name: conv2, out: planes, kernel: 3, stride: stride}
      - {op: conv2d, name: downsample.0, out: planes, kernel: 1, stride: stride, inputs: [input], when: with_downsample}
      - {op: batchnorm, name: downsample.1, when: with_downsample}
      - {op: add, name: add, inputs: [conv2, "'downsample.1' if with_downsample else 'input'"]}
input: [4, resolution, resolution]
layers:
  - stage: layer1
    numbered: true
    repeat: 3
    stride: 2
    unit: {op: res_unit, planes: 6}
    first: {with_downsample: true}
"""


def test_dotted_local_names_and_numbered_units_give_module_paths(write_spec) -> None:
    g = expand(write_spec(BOTTLENECKS))
    names = [layer.name for layer in g.layers]
    assert names == [
        "layer1.0.conv1", "layer1.0.conv2", "layer1.0.downsample.0", "layer1.0.downsample.1", "layer1.0.add",
        "layer1.1.conv1", "layer1.1.conv2", "layer1.1.add", "layer1.2.conv1", "layer1.2.conv2", "layer1.2.add",
    ]
    assert [b.name for b in g.blocks] == ["layer1.0", "layer1.1", "layer1.2"]
    by_name = {layer.name: layer for layer in g.layers}
    assert by_name["layer1.0.add"].inputs == ("layer1.0.conv2", "layer1.0.downsample.1")
    assert by_name["layer1.0.downsample.0"].inputs == ("input",)
    assert by_name["layer1.1.add"].inputs == ("layer1.1.conv2", "layer1.0.add")
    # by hand: the first unit's 1x1 downsample conv, 4 -> 6 channels at stride 2 on 8x8: 16 outputs of 24 weights
    assert (by_name["layer1.0.downsample.0"].out, by_name["layer1.0.downsample.0"].macs) == ((6, 4, 4), 16 * 6 * 4)


def test_a_unit_of_a_numbered_stage_is_read_by_its_number(write_spec) -> None:
    g = expand(write_spec(BOTTLENECKS + "  - {op: conv2d, name: head, out: 6, kernel: 1, inputs: [layer1.1]}\n"
                                        "  - {op: add, name: sum, inputs: [head, layer1]}\n"))
    head = next(layer for layer in g.layers if layer.name == "head")
    assert head.inputs == ("layer1.1.add",)
    assert next(layer for layer in g.layers if layer.name == "sum").inputs == ("head", "layer1.2.add")


def test_module_path_mistakes_in_a_block_are_one_line_errors(write_spec, cli) -> None:
    from tests.conftest import rejected

    nested = BOTTLENECKS.replace("name: downsample.1,", "name: downsample.0.bn,").replace("'downsample.1'",
                                                                                          "'downsample.0.bn'")
    assert rejected(cli, write_spec(nested, "nested.yaml")).endswith(
        "blocks.res_unit.layers[3].name: layer name 'downsample.0.bn' nests a module inside 'downsample.0', or "
        "the other way round (torch could not build both)")
    undefined = BOTTLENECKS.replace("inputs: [conv2, ", "inputs: [downsample.2, ")
    assert "undefined layer 'downsample.2'" in rejected(cli, write_spec(undefined, "undefined.yaml"))
    reserved = BOTTLENECKS.replace("name: downsample.1,", "name: downsample.training,").replace(
        "'downsample.1'", "'downsample.training'")
    assert "layer name 'downsample.training' is reserved" in rejected(cli, write_spec(reserved, "reserved.yaml"))
    numbered = BOTTLENECKS.replace("numbered: true", "numbered: 3")
    assert "layers[0].numbered" in rejected(cli, write_spec(numbered, "numbered.yaml"))
