"""Spec loading and validation: every user mistake is one line with file, line and YAML path, exit code 2."""

from __future__ import annotations

import pytest

from shufflecalc.analysis.cost import analyze
from shufflecalc.errors import ShufflecalcError
from shufflecalc.spec.load import builtin_names, load_spec

GOOD = """\
name: tiny
params:
  g: {type: int, default: 2, choices: [1, 2, 4]}
  res: {type: int, default: 32, min: 8}
  scale: {type: float, default: 1.0}
functions:
  "ch(c)": "max(int(c * scale), 8)"
define:
  widths: {1: [16, 32], 2: [16, 32], 4: [32, 64]}
input: [3, res, res]
layers:
  - {op: conv_bn_act, name: stem, out: "ch(widths[g][0])", kernel: 3, stride: 2}
  - stage: stage1
    repeat: 2
    unit: {op: shufflenet_unit, out: "ch(widths[g][1])", groups: g}
    first: {pw1_grouped: false}
  - {op: global_avgpool, name: pool}
  - {op: flatten, name: flat}
  - {op: linear, name: fc, out: 10}
"""


def test_user_spec_has_the_power_of_builtins(write_spec) -> None:
    path = write_spec(GOOD)
    a = analyze(path, g=2)
    names = [layer.name for layer in a.layers]
    assert names[:3] == ["stem.conv", "stem.bn", "stem.relu"]
    assert "stage1.unit1.shuffle" in names and "stage1.unit0.shortcut" in names
    assert a.graph.output == (10,)
    # stem 3->16, 3x3, 32x32 -> 16x16: 16*3*9*256 MACs
    assert a.layers[0].macs == 16 * 3 * 9 * 16 * 16


def test_primitive_residual_with_named_inputs(write_spec) -> None:
    path = write_spec(
        "input: [8, 9, 9]\nlayers:\n"
        "  - {op: conv2d, name: a, out: 8, kernel: 3}\n"
        "  - {op: conv2d, name: b, out: 8, kernel: 1}\n"
        "  - {op: add, name: res, inputs: [b, a]}\n"
        "  - {op: concat, name: cat, inputs: [res, input]}\n"
    )
    a = analyze(path)
    assert [layer.out for layer in a.layers] == [(8, 9, 9), (8, 9, 9), (8, 9, 9), (16, 9, 9)]
    assert a.layers[3].inputs == ("res", "input")


def test_builtins_ship_and_load() -> None:
    assert {"mobilenet", "shufflenet"} <= set(builtin_names())
    for name in builtin_names():
        assert load_spec(name).params


def _err(path: str, **overrides: object) -> str:
    with pytest.raises(ShufflecalcError) as info:
        analyze(path, **overrides)
    return str(info.value)


BAD = [
    # (spec text, overrides, expected message with file:line and path)
    ("input: [3, 8, 8\nlayers: []\n", {}, "my.yaml:2: malformed YAML"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: conv2d, out: 8, kernel: 3}\nextra: 1\n", {},
     "my.yaml:4 extra: unknown key 'extra'"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: conv3d, out: 8}\n", {}, "my.yaml:3 layers[0].op: unknown op 'conv3d'"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: conv2d, out: 8, kernel: 3, strides: 2}\n", {},
     "my.yaml:3 layers[0].strides: unknown argument 'strides'"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: conv2d, out: eight, kernel: 3}\n", {},
     "my.yaml:3 layers[0].out: undefined name 'eight'"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: conv2d, out: 7.5, kernel: 3}\n", {},
     "my.yaml:3 layers[0].out: must be a whole number, got 7.5"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: conv2d, out: 8, kernel: 3, bias: 1}\n", {},
     "my.yaml:3 layers[0].bias: must be true or false"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: conv2d, kernel: 3}\n", {},
     "my.yaml:3 layers[0]: missing required argument 'out'"),
    ("input: [6, 8, 8]\nlayers:\n  - {op: conv2d, name: c, out: 8, kernel: 1, groups: 3}\n", {},
     "my.yaml:3 layers[0].out: 8 is not divisible by groups=3 (in c)"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: conv2d, out: 8, kernel: 3, stride: 4, padding: 0}\n"
     "  - {op: conv2d, name: c2, out: 8, kernel: 3, padding: 0}\n", {},
     "my.yaml:4 layers[1]: c2: the spatial size reaches zero"),
    ("params:\n  g: {type: int, default: 3, choices: [1, 3]}\ninput: [3, 8, 8]\nlayers:\n  - {op: relu}\n",
     {"g": 2}, "parameter g: 2 is not one of 1, 3"),
    ("params:\n  g: {type: int, default: 5, choices: [1, 3]}\ninput: [3, 8, 8]\nlayers:\n  - {op: relu}\n", {},
     "my.yaml:2 params.g.default: 5 is not one of 1, 3"),
    ("params:\n  g: {type: integer, default: 1}\ninput: [3, 8, 8]\nlayers:\n  - {op: relu}\n", {},
     "my.yaml:2 params.g.type: type must be one of int, float, bool, str"),
    ("define:\n  big: 2 ** 200\ninput: [3, 8, 8]\nlayers:\n  - {op: relu}\n", {},
     "my.yaml:2 define.big: exponent 200 too large"),
    ("define:\n  x: \"" + "+".join(["1"] * 600) + "\"\ninput: [3, 8, 8]\nlayers:\n  - {op: relu}\n", {},
     "my.yaml:2 define.x: expression too long"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: relu, name: a}\n  - {op: relu, name: a}\n", {},
     "my.yaml:4 layers[1].name: duplicate layer name 'a'"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: add, inputs: [input, nothere]}\n", {},
     "my.yaml:3 layers[0].inputs[1]: undefined layer 'nothere'"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: class_token}\n", {},  # (linear applies to the last axis of any shape)
     "my.yaml:3 layers[0]: class_token_0: class_token needs tokens (T x C), got 3x8x8 (to_tokens turns a C x H x W "
     "map into tokens)"),
    ("input: [24, 8, 8]\nlayers:\n  - stage: s\n    repeat: 2\n    unit: {op: shufflenet_unit, out: 250, groups: 3}\n",
     {}, "my.yaml:5 layers[0].unit.out: bottleneck channels 62 (out=250, input 24) are not divisible by groups=3"),
    ("input: [24, 8, 8]\nlayers:\n  - stage: s\n    unit: {op: shufflenet_unit, out: 48, stride: 1}\n", {},
     "my.yaml:4 layers[0].unit.stride: set the stride on the stage"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: relu}\n  - 5\n", {}, "my.yaml:4 layers[1]: a layer is a mapping"),
    ("a: [1\n", {}, "my.yaml:2: malformed YAML"),
    ("- 1\n- 2\n", {}, "my.yaml:1: a spec must be a mapping"),
    ("input: [3, 8, 8]\n", {}, "my.yaml:1: missing required key 'layers'"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: maxpool, kernel: 3, padding: 2}\n", {},
     "my.yaml:3 layers[0].padding: padding 2 must be at most half the kernel size 3"),
    ("input: !!python/object:os.system [3, 8, 8]\nlayers: [{op: relu}]\n", {}, "my.yaml:1 input: invalid value"),
    ("input: [24, 8, 8]\nlayers:\n  - stage: s\n    unit: {op: shufflenet_v2_unit, out: 47}\n", {},
     "my.yaml:4 layers[0].unit.out: the two branches produce out / 2 channels each, so out must be even, got 47"),
    ("input: [24, 8, 8]\nlayers:\n  - {op: shufflenet_v2_unit, name: u, out: 48}\n", {},
     "my.yaml:3 layers[0].out: a stride-1 unit splits its input in two halves, so out must equal the input channels"),
    ("input: [24, 8, 8]\nlayers:\n  - {op: inverted_residual, out: 24, expand: 0.01}\n", {},
     "my.yaml:3 layers[0].expand: expand 0.01 of 24 input channels leaves no hidden channels"),
    ("input: [6, 8, 8]\nlayers:\n  - {op: split, name: s, parts: 4, index: 0}\n", {},
     "my.yaml:3 layers[0].parts: 6 channels are not divisible into parts=4 (in s)"),
    ("input: [6, 8, 8]\nlayers:\n  - {op: split, name: s}\n", {},
     "my.yaml:3 layers[0]: missing required argument 'index'"),
    ("input: [6, 8, 8]\nlayers:\n  - {op: mul, inputs: [input]}\n", {},
     "my.yaml:3 layers[0]: mul needs two or more inputs"),
    ("input: [64, 8, 8]\nlayers:\n  - {op: resnet_bottleneck, planes: 16, width_per_group: 2}\n", {},
     "my.yaml:3 layers[0].width_per_group: planes 16 with width_per_group 2 leave no channels"),
    # work without bound: an exploding recursion, a huge repeat, too many layers in all
    ("functions:\n  \"f(x)\": \"0 if x <= 0 else " + "+".join(["f(x-1)"] * 8) + "\"\n"
     "input: [3, 8, 8]\nlayers:\n  - {op: conv2d, out: \"f(15) + 1\", kernel: 3}\n", {},
     "my.yaml:5 layers[0].out: evaluation too long (more than 100,000 steps for the whole spec"),
    ("input: [8, 8, 8]\nlayers:\n  - stage: s\n    repeat: 100000000\n    stride: 1\n    unit: {op: dwsep, out: 8}\n",
     {}, "my.yaml:4 layers[0].repeat: must be at most 1,000, got 100000000"),
    ("input: [8, 8, 8]\nlayers:\n" + "".join(
        f"  - {{stage: s{i}, repeat: 1000, stride: 1, unit: {{op: dwsep, out: 8}}}}\n" for i in range(4)), {},
     "my.yaml:6 layers[3].unit: the network grows past 20,000 layers"),
    # a string argument with choices: a wrong choice names the choices; a defined name gives its value
    ("input: [3, 8, 8]\nlayers:\n  - {op: conv_bn_act, out: 8, act: relu7}\n", {},
     "my.yaml:3 layers[0].act: must be one of relu, relu6, hardswish, silu, gelu, leaky_relu, elu, tanh, none, "
     "got 'relu7'"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: conv_bn_act, out: 8, act: Relu}\n", {},
     "my.yaml:3 layers[0].act: must be one of relu, relu6, hardswish, silu, gelu, leaky_relu, elu, tanh, none, "
     "got 'Relu'"),
    ("params:\n  a: {type: str, default: relu7}\ninput: [3, 8, 8]\nlayers:\n  - {op: conv_bn_act, out: 8, act: a}\n",
     {}, "my.yaml:5 layers[0].act: must be one of relu, relu6, hardswish, silu, gelu, leaky_relu, elu, tanh, none, "
     "got 'relu7'"),
    ("functions:\n  \"f(x)\": x\ninput: [3, 8, 8]\nlayers:\n  - {op: conv_bn_act, out: 8, act: f}\n", {},
     "my.yaml:5 layers[0].act: must be one of relu, relu6, hardswish, silu, gelu, leaky_relu, elu, tanh, none, "
     "got 'f'"),
    # a list or mapping where a name is expected
    ("input: [3, 8, 8]\nlayers:\n  - {op: [conv2d], name: a}\n", {},
     "my.yaml:3 layers[0].op: op must be a layer kind or block type (a string), got ['conv2d']"),
    ("input: [8, 8, 8]\nlayers:\n  - stage: s\n    unit: {op: [dwsep]}\n", {},
     "my.yaml:4 layers[0].unit.op: op must be a block type (a string), got ['dwsep']"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: relu, name: a}\n  - {op: add, inputs: [[a], input]}\n", {},
     "my.yaml:4 layers[1].inputs[0]: an input is the name of an earlier layer, got ['a']"),
    ("input: [3, 8, 8]\nlayers:\n  - {op: relu, inputs: {a: 1}}\n", {},
     "my.yaml:3 layers[0].inputs: inputs must be a list of earlier layer names"),
]


@pytest.mark.parametrize("text, overrides, expected", BAD)
def test_bad_specs(write_spec, text: str, overrides: dict, expected: str) -> None:
    path = write_spec(text)
    message = _err(path, **overrides)
    shown = message.replace(path, "my.yaml")
    assert shown.startswith(expected) or expected in shown, shown


def test_unknown_parameter_and_builtin_choices() -> None:
    with pytest.raises(ShufflecalcError, match="unknown parameter 'alpha'"):
        analyze("mobilenet", alpha=0.5)
    with pytest.raises(ShufflecalcError, match="parameter g: 5 is not one of 1, 2, 3, 4, 8"):
        analyze("shufflenet", g=5)
    with pytest.raises(ShufflecalcError, match="unknown spec 'resnet9'"):
        analyze("resnet9")


def test_a_user_file_with_mtime_zero_is_not_taken_for_a_builtin(write_spec) -> None:
    import os

    path = write_spec("input: [3, 8, 8]\nlayers:\n  - {op: conv3d}\n", name="mobilenet.yaml")
    os.utime(path, ns=(0, 0))
    message = _err(path)
    assert message.startswith(f"{path}:3 layers[0].op: unknown op 'conv3d'"), message
    assert "specs/mobilenet.yaml" not in message


def test_a_string_choice_may_name_a_parameter_or_define(write_spec) -> None:
    path = write_spec(
        "params:\n  a: {type: str, default: relu}\ndefine:\n  b: \"'relu6'\"\ninput: [3, 8, 8]\nlayers:\n"
        "  - {op: conv_bn_act, name: x, out: 8, act: a}\n  - {op: conv_bn_act, name: y, out: 8, act: b}\n"
        "  - {op: conv_bn_act, name: z, out: 8, act: none}\n"
    )
    assert [layer.name for layer in analyze(path).layers] == ["x.conv", "x.bn", "x.relu", "y.conv", "y.bn", "y.relu6",
                                                      "z.conv", "z.bn"]
    assert [layer.op for layer in analyze(path, a="hardswish").layers][2] == "hardswish"


# --- hostile input: parameters (spec params and command-line values) --------------------------------------------

P = "input: [3, 8, 8]\nlayers:\n  - {op: relu}\nparams:\n  x: "


@pytest.mark.parametrize("decl, expected", [
    # NaN, infinity and huge numbers may be refused by the YAML reader already, or by the parameter check: both name
    # the value's line and path
    ("{type: float, default: .nan, min: 0}", ("my.yaml:5 params.x.default:", "not a finite number")),
    ("{type: float, default: .nan, max: 1}", ("my.yaml:5 params.x.default:", "not a finite number")),
    ("{type: float, default: .inf}", ("my.yaml:5 params.x.default:", "not a finite number")),
    ("{type: float, default: -.inf}", ("my.yaml:5 params.x.default:", "not a finite number")),
    ("{type: float, default: 1.0, min: .nan}", ("my.yaml:5 params.x.min:", "not a finite number")),
    ("{type: float, default: 1.0, choices: [1.0, .inf]}", ("my.yaml:5 params.x.choices[1]:", "not a finite number")),
    ("{type: int, default: 1000000000000000000000}", ("my.yaml:5 params.x.default:", "too large")),
    ("{type: float, default: 1.0e+300}", ("my.yaml:5 params.x.default:", "too large")),
    ("{type: int, default: 5, min: 10, max: 1}", ("my.yaml:5 params.x.max: max 1 is below min 10",)),
    ("{type: int, default: 5, min: 1, max: 10, choices: [5, 20]}",
     ("my.yaml:5 params.x.choices[1]: 20 is above the maximum 10",)),
    ("{type: int, default: 50, max: 10}", ("my.yaml:5 params.x.default: 50 is above the maximum 10",)),
    ("{type: str, default: '" + "a" * 2000 + "'}", ("my.yaml:5 params.x.default: 'aaaa", "...", "too long")),
])
def test_parameter_declarations_are_finite_bounded_and_consistent(write_spec, decl: str, expected: tuple) -> None:
    path = write_spec(P + decl + "\n")
    with pytest.raises(ShufflecalcError) as info:
        load_spec(path)
    message = str(info.value).replace(path, "my.yaml")
    assert all(part in message for part in expected) and len(message) < 250, message


def test_a_nan_default_does_not_pass_min_and_max() -> None:
    # comparisons with NaN are False: a NaN default passed "value < min" and "value > max"
    from shufflecalc.spec.load import Param, check_value

    def fail(message: str) -> ShufflecalcError:
        return ShufflecalcError(message)

    param = Param("x", float, 1.0, None, 0.0, 1.0)
    for value in (float("nan"), float("inf"), "nan", "-inf"):
        with pytest.raises(ShufflecalcError, match="is not a finite number"):
            check_value(param, value, fail)
    assert check_value(param, "0.5", fail) == 0.5


@pytest.mark.parametrize("value, expected", [
    ("nan", "parameter width: nan is not a finite number"),
    ("inf", "parameter width: inf is not a finite number"),
    ("-Infinity", "parameter width: -inf is not a finite number"),
    (float("nan"), "parameter width: nan is not a finite number"),
    ("1e400", "parameter width: inf is not a finite number"),
    ("9" * 5000, "is not a valid float (more than 1,000 characters)"),
    (10**30, "parameter width: 1000000000000000000000000000000 is too large (at most 2**62 in magnitude)"),
])
def test_command_line_float_values_are_finite(value: object, expected: str) -> None:
    with pytest.raises(ShufflecalcError) as info:
        analyze("mobilenet", width=value)
    assert expected in str(info.value) and len(str(info.value)) < 200, str(info.value)


@pytest.mark.parametrize("value, expected", [
    ("9" * 5000, "is not a valid int (more than 1,000 characters)"),  # Python's int() refuses over 4,300 digits
    ("9" * 500, "is too large (at most 2**62 in magnitude)"),
    ("-" + "9" * 30, "is too large (at most 2**62 in magnitude)"),
    (2**70, "is too large"),
    ("nan", "'nan' is not a valid int"),
    (float("inf"), "parameter resolution: inf is not a finite number"),
])
def test_command_line_int_values_are_bounded(value: object, expected: str) -> None:
    with pytest.raises(ShufflecalcError) as info:
        analyze("mobilenet", resolution=value)
    assert expected in str(info.value) and len(str(info.value)) < 200, str(info.value)


@pytest.mark.parametrize("text, expected", [
    ("params:\n  __depth__: {type: int, default: 1}\n", "my.yaml:2 params.__depth__: invalid parameter name "
     "'__depth__': names starting with '__' are reserved"),
    ("params:\n  __budget__: {type: int, default: 1}\n", "names starting with '__' are reserved"),
])
def test_reserved_parameter_names(write_spec, text: str, expected: str) -> None:
    path = write_spec(text + "input: [3, 8, 8]\nlayers:\n  - {op: relu}\n")
    with pytest.raises(ShufflecalcError) as info:
        load_spec(path)
    assert expected in str(info.value).replace(path, "my.yaml"), str(info.value)


def test_a_builtin_name_with_a_bare_parameter_is_no_target() -> None:
    """`shufflenet:g` reads like a TARGET (module:callable), but shufflenet is a built-in spec: the value is missing."""
    from shufflecalc.spec.load import is_target

    with pytest.raises(ShufflecalcError, match=r"^shufflenet:g: a parameter of 'shufflenet' needs a value "
                                               r"\(shufflenet:g=VALUE\)$"):
        is_target("shufflenet:g")
    assert is_target("torchvision:resnet50") and is_target("nets/small.py:build")
    assert not is_target("shufflenet") and not is_target("my.yaml:g")
