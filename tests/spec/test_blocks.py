"""Block types: their layers, and torchvision's building blocks reproduced tensor for tensor.

The reference modules below are written from the torchvision architectures (module order as torchvision registers
it, so a state dict maps across position by position). The block built by shufflecalc gets the reference's weights
and running statistics and must then compute the same output.
"""

from __future__ import annotations

from typing import Any

import pytest

import shufflecalc
from shufflecalc.spec.blocks import BLOCKS
from shufflecalc.spec.expr import make_divisible
from shufflecalc.spec.templates import Entry, builtin_template

torch = pytest.importorskip("torch")
nn = torch.nn


def _entries(block: str, shape: tuple, **args: Any) -> list[Entry]:
    """The block's layers (from specs/blocks/builtin.yaml), with their complete arguments."""
    return list(builtin_template(block, tuple(sorted({**_defaults(block), **args}.items())), shape).entries)


def _layers(block: str, shape: tuple, **args: Any) -> list[tuple[str, str]]:
    return [(e.name, e.op) for e in _entries(block, shape, **args)]


def _defaults(block: str) -> dict[str, Any]:
    return {k: a.default for k, a in BLOCKS[block].args.items()}


# --- structure ------------------------------------------------------------------------------------------------------


def test_inverted_residual_expansion_and_residual_rules() -> None:
    names = [n for n, _ in _layers("inverted_residual", (16, 8, 8), out=16, expand=1.0)]
    assert names == ["dw", "dw_bn", "dw_relu6", "project", "project_bn", "add"]  # ratio 1: no expansion conv
    names = [n for n, _ in _layers("inverted_residual", (16, 8, 8), out=24, expand=6.0)]
    assert names[:3] == ["expand", "expand_bn", "expand_relu6"] and "add" not in names  # in != out
    names = [n for n, _ in _layers("inverted_residual", (16, 8, 8), out=16, expand=6.0, stride=2)]
    assert "add" not in names  # stride 2
    names = [n for n, _ in _layers("inverted_residual", (16, 8, 8), out=16, hidden=16, act="hardswish", se=True)]
    assert names == ["dw", "dw_bn", "dw_hardswish", "se_pool", "se_fc1", "se_relu", "se_fc2", "se_hardsigmoid",
                     "se_mul", "project", "project_bn", "add"]


@pytest.mark.parametrize("hidden, squeeze", [(16, 8), (72, 24), (120, 32), (480, 120), (576, 144), (88, 24)])
def test_se_channels_follow_torchvision_mobilenet_v3(hidden: int, squeeze: int) -> None:
    """make_divisible(hidden // 4, 8), written out: 72 // 4 = 18 -> 16 is below 90% of 18, so 24."""
    prims = _entries("inverted_residual", (8, 4, 4), out=8, hidden=hidden, se=True, stride=1)
    (fc1,) = [p for p in prims if p.name == "se_fc1"]
    assert fc1.attrs["out"] == squeeze == make_divisible(hidden // 4, 8)


def test_resnet_bottleneck_widths_and_projection() -> None:
    prims = {p.name: p for p in _entries("resnet_bottleneck", (256, 8, 8), planes=128, stride=2, groups=32,
                                         width_per_group=4)}
    conv2, downsample = prims["conv2"].attrs, prims["downsample"].attrs
    assert (conv2["out"], conv2["kernel"], conv2["stride"], conv2["groups"]) == (256, 3, 2, 32)  # int(128*4/64) * 32
    assert prims["conv3"].attrs["out"] == 512
    assert (downsample["out"], downsample["kernel"], downsample["stride"], downsample["groups"]) == (512, 1, 2, 1)
    identity = [n for n, _ in _layers("resnet_bottleneck", (256, 8, 8), planes=64)]
    assert "downsample" not in identity and identity[-2:] == ["add", "relu"]
    first = [n for n, _ in _layers("resnet_bottleneck", (64, 8, 8), planes=64)]  # layer1.unit0: channels change
    assert "downsample" in first


# --- tensor for tensor against torchvision's structure -------------------------------------------------------------


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, act: Any = None,
             eps: float = 1e-5) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(c_out, eps=eps)]
    return nn.Sequential(*layers, *([act()] if act else []))


class RefSqueezeExcitation(nn.Module):
    def __init__(self, c: int, squeeze: int, scale: Any) -> None:
        super().__init__()
        self.avgpool, self.fc1, self.act = nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, squeeze, 1), nn.ReLU()
        self.fc2, self.scale_activation = nn.Conv2d(squeeze, c, 1), scale()

    def forward(self, x: Any) -> Any:
        return self.scale_activation(self.fc2(self.act(self.fc1(self.avgpool(x))))) * x


class RefInvertedResidual(nn.Module):
    def __init__(self, c_in: int, hidden: int, c_out: int, k: int, stride: int, act: Any, se: bool, eps: float,
                 expand: bool) -> None:
        super().__init__()
        layers = [_conv_bn(c_in, hidden, 1, act=act, eps=eps)] if expand else []
        layers.append(_conv_bn(hidden, hidden, k, stride, hidden, act, eps))
        if se:
            layers.append(RefSqueezeExcitation(hidden, make_divisible(hidden // 4, 8), nn.Hardsigmoid))
        layers.append(_conv_bn(hidden, c_out, 1, eps=eps))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: Any) -> Any:
        y = self.block(x)
        return y + x if self.residual else y


class RefShuffleV2Unit(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        half, self.stride = c_out // 2, stride
        if stride > 1:
            self.branch1 = nn.Sequential(_conv_bn(c_in, c_in, 3, stride, c_in), _conv_bn(c_in, half, 1, act=nn.ReLU))
        self.branch2 = nn.Sequential(_conv_bn(c_in if stride > 1 else half, half, 1, act=nn.ReLU),
                                     _conv_bn(half, half, 3, stride, half), _conv_bn(half, half, 1, act=nn.ReLU))

    def forward(self, x: Any) -> Any:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        n, c, h, w = out.shape
        return out.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


class RefBottleneck(nn.Module):
    def __init__(self, c_in: int, planes: int, stride: int, groups: int, width_per_group: int) -> None:
        super().__init__()
        width = int(planes * (width_per_group / 64.0)) * groups
        self.body = nn.Sequential(_conv_bn(c_in, width, 1, act=nn.ReLU),
                                  _conv_bn(width, width, 3, stride, groups, nn.ReLU),
                                  _conv_bn(width, planes * 4, 1))
        self.downsample = None
        if stride != 1 or c_in != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, planes * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x: Any) -> Any:
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.body(x) + identity)


def _block_model(write_spec: Any, shape: tuple, entry: str) -> Any:
    path = write_spec(f"input: [{shape[0]}, {shape[1]}, {shape[2]}]\nlayers:\n  - {{name: b, {entry}}}\n")
    return shufflecalc.build_model(path)


def _copy_state(ref: Any, model: Any) -> None:
    """Randomize the reference's weights and BN statistics, then copy them to `model` position by position."""
    gen = torch.Generator().manual_seed(0)
    for tensor in ref.state_dict().values():
        if tensor.is_floating_point():
            tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
    ref_items, ours = list(ref.state_dict().values()), model.state_dict()
    assert [t.shape for t in ref_items] == [t.shape for t in ours.values()]
    model.load_state_dict(dict(zip(ours, ref_items, strict=False)))


CASES = [
    ("inverted_residual", (16, 9, 9), "op: inverted_residual, out: 16, expand: 1",
     lambda: RefInvertedResidual(16, 16, 16, 3, 1, nn.ReLU6, False, 1e-5, False)),
    ("inverted_residual", (16, 9, 9), "op: inverted_residual, out: 24, expand: 6, stride: 2",
     lambda: RefInvertedResidual(16, 96, 24, 3, 2, nn.ReLU6, False, 1e-5, True)),
    ("inverted_residual", (24, 9, 9), "op: inverted_residual, out: 24, expand: 6",
     lambda: RefInvertedResidual(24, 144, 24, 3, 1, nn.ReLU6, False, 1e-5, True)),
    ("inverted_residual", (40, 9, 9),
     "op: inverted_residual, out: 40, hidden: 120, kernel: 5, se: true, act: hardswish, eps: 0.001",
     lambda: RefInvertedResidual(40, 120, 40, 5, 1, nn.Hardswish, True, 1e-3, True)),
    ("inverted_residual", (16, 9, 9), "op: inverted_residual, out: 16, hidden: 16, se: true, act: relu, stride: 2",
     lambda: RefInvertedResidual(16, 16, 16, 3, 2, nn.ReLU, True, 1e-5, False)),
    ("shufflenet_v2_unit", (24, 9, 9), "op: shufflenet_v2_unit, out: 48, stride: 2",
     lambda: RefShuffleV2Unit(24, 48, 2)),
    ("shufflenet_v2_unit", (48, 9, 9), "op: shufflenet_v2_unit, out: 48", lambda: RefShuffleV2Unit(48, 48, 1)),
    ("resnet_bottleneck", (64, 9, 9), "op: resnet_bottleneck, planes: 16", lambda: RefBottleneck(64, 16, 1, 1, 64)),
    ("resnet_bottleneck", (32, 9, 9), "op: resnet_bottleneck, planes: 16, stride: 2",
     lambda: RefBottleneck(32, 16, 2, 1, 64)),
    ("resnet_bottleneck", (64, 9, 9), "op: resnet_bottleneck, planes: 32, groups: 8, width_per_group: 4, stride: 2",
     lambda: RefBottleneck(64, 32, 2, 8, 4)),
    ("squeeze_excitation", (24, 5, 5), "op: squeeze_excitation, squeeze: 8",
     lambda: RefSqueezeExcitation(24, 8, nn.Sigmoid)),
]


@pytest.mark.parametrize("block, shape, entry, ref", CASES, ids=[c[2] for c in CASES])
def test_block_computes_what_torchvisions_structure_computes(write_spec: Any, block: str, shape: tuple, entry: str,
                                                             ref: Any) -> None:
    model = _block_model(write_spec, shape, entry)
    reference = ref().eval()
    _copy_state(reference, model)
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.allclose(model(x), reference(x), rtol=1e-4, atol=1e-5)


def test_every_new_block_is_checked_against_a_reference() -> None:
    assert {c[0] for c in CASES} == set(BLOCKS) - {"conv_bn_act", "dwsep", "bottleneck", "shufflenet_unit"}


# --- the built-in blocks are written in the spec language ------------------------------------------------------------


def test_every_builtin_block_is_declared_in_the_shipped_yaml() -> None:
    from shufflecalc.spec.load import builtin_dir, builtin_names

    assert list(BLOCKS) == ["conv_bn_act", "dwsep", "bottleneck", "shufflenet_unit", "squeeze_excitation",
                            "inverted_residual", "shufflenet_v2_unit", "resnet_bottleneck"]
    for name, kind in BLOCKS.items():
        assert kind.defn.doc.file == "specs/blocks/builtin.yaml", name
        assert not kind.defn.spatial, name  # its layers follow from the input's channels: planned once per C
        assert kind.doc and kind.args == kind.defn.args, name
    assert (builtin_dir() / "blocks" / "builtin.yaml").is_file()
    assert "builtin" not in builtin_names()  # specs/*.yaml only: the block file is no spec


def test_the_shipped_yaml_reads_as_the_strict_loader_reads_it() -> None:
    """The file goes through the same safe loader as a spec (duplicate keys, numbers, text): its values are plain."""
    import yaml

    from shufflecalc.spec.load import builtin_dir

    text = (builtin_dir() / "blocks" / "builtin.yaml").read_text()
    assert BLOCKS["conv_bn_act"].defn.doc.data == yaml.safe_load(text)


def test_float_bounds_keep_the_messages_of_the_python_blocks() -> None:
    """`min: 0` of a float argument is shown as 0, not 0.0, as the Python blocks' Arg(minimum=0) was."""
    eps, bottleneck = BLOCKS["conv_bn_act"].args["eps"], BLOCKS["bottleneck"].args["bottleneck"]
    assert (eps.minimum, type(eps.minimum), eps.maximum, eps.default) == (0, int, 1.0, 1e-5)
    assert (bottleneck.minimum, bottleneck.maximum, bottleneck.default) == (0, 1024.0, 0.25)
    assert BLOCKS["inverted_residual"].args["hidden"].default is None
    assert not BLOCKS["inverted_residual"].args["hidden"].required and BLOCKS["dwsep"].args["out"].required


def test_hidden_channels_round_half_to_even_as_torchvision_does() -> None:
    """torchvision: int(round(in * expand)), Python's round: 5 * 0.5 = 2.5 -> 2 (the evaluator's round gives 3)."""
    layers = {e.name: e for e in _entries("inverted_residual", (5, 4, 4), out=5, expand=0.5)}
    assert layers["expand"].attrs["out"] == 2
    layers = {e.name: e for e in _entries("inverted_residual", (7, 4, 4), out=5, expand=0.5)}
    assert layers["expand"].attrs["out"] == 4  # 3.5 -> 4


@pytest.mark.parametrize("layer, expected", [
    ("  - stage: stage2\n    repeat: 2\n    unit: {op: shufflenet_unit, out: 250, groups: 3}\n",
     "my.yaml:5 layers[0].unit.out: bottleneck channels 62 (out=250, input 24) are not divisible by groups=3 "
     "(in stage2.unit0)"),
    ("  - {op: bottleneck, name: u, out: 24, bottleneck: 0.01}\n",
     "my.yaml:3 layers[0].bottleneck: bottleneck 0.01 of 24 channels leaves no channels (in u)"),
    ("  - {op: shufflenet_unit, name: u, out: 12}\n",
     "my.yaml:3 layers[0].out: a stride-1 unit adds its input back, so out must equal the input channels (24), got 12 "
     "(in u)"),
    ("  - {op: shufflenet_unit, name: u, out: 12, stride: 2}\n",
     "my.yaml:3 layers[0].out: a stride-2 unit concatenates its input, so out must exceed the input channels (24), "
     "got 12 (in u)"),
    ("  - {op: shufflenet_unit, name: u, out: 48, stride: 2, groups: 5, pw1_grouped: false}\n",
     "my.yaml:3 layers[0].out: bottleneck channels 12 (out=48, input 24) are not divisible by groups=5 (in u)"),
    ("  - {op: shufflenet_unit, name: u, out: 29, stride: 2, groups: 5, bottleneck: 0.2}\n",
     "my.yaml:3 layers[0].groups: input channels 24 are not divisible by groups=5 (in u)"),
    ("  - {op: shufflenet_v2_unit, name: u, out: 25, stride: 2}\n",
     "my.yaml:3 layers[0].out: the two branches produce out / 2 channels each, so out must be even, got 25 (in u)"),
    ("  - {op: inverted_residual, name: u, out: 8, expand: 0.01}\n",
     "my.yaml:3 layers[0].expand: expand 0.01 of 24 input channels leaves no hidden channels (in u)"),
    ("  - {op: resnet_bottleneck, planes: 1, width_per_group: 1}\n",
     "my.yaml:3 layers[0].width_per_group: planes 1 with width_per_group 1 leave no channels "
     "(in resnet_bottleneck_0)"),
    ("  - {op: conv_bn_act, name: u, out: 8, kernel: 9, padding: 0}\n", "my.yaml:3 layers[0]: u: conv: "),
])
def test_a_builtin_blocks_mistake_is_reported_at_the_use_only(write_spec: Any, layer: str, expected: str) -> None:
    path = write_spec(f"input: [24, 4, 4]\nlayers:\n{layer}")
    with pytest.raises(shufflecalc.ShufflecalcError) as info:
        shufflecalc.analyze(path)
    message = str(info.value).replace(path, "my.yaml")
    assert message.startswith(expected) and "builtin.yaml" not in message, message


def test_a_user_block_can_require_and_name_layers_after_its_arguments(write_spec: Any) -> None:
    spec = """
blocks:
  unit:
    args:
      out: {type: int}
      act: {type: str, default: relu, choices: [relu, relu6, none]}
    require:
      - {that: "out % 2 == 0", error: "out must be even, got {out} (input {in_channels})", arg: out}
    layers:
      - {op: conv2d, name: conv, out: out, kernel: 1}
      - {op: "{act}", name: "conv_{act}", when: "act != 'none'"}
      - {op: add, name: sum, inputs: ["conv_{act}", conv], when: "act != 'none'"}
input: [8, 4, 4]
layers:
  - {op: unit, name: a, out: 8, act: relu6}
  - {op: unit, name: b, out: 8, act: none}
"""
    names = [(layer.name, layer.op) for layer in shufflecalc.analyze(write_spec(spec)).layers]
    assert names == [("a.conv", "conv2d"), ("a.conv_relu6", "relu6"), ("a.sum", "add"), ("b.conv", "conv2d")]
    path = write_spec(spec.replace("out: 8, act: none", "out: 7, act: none"))
    with pytest.raises(shufflecalc.ShufflecalcError) as info:
        shufflecalc.analyze(path)
    message = str(info.value).replace(path, "my.yaml")
    assert message == ("my.yaml:16 layers[1] (b) -> my.yaml:8 blocks.unit.require[0]: out must be even, got 7 "
                       "(input 8)"), message


def test_the_shipped_json_is_the_yaml() -> None:
    """builtin.json, what commands load at start, holds exactly builtin.yaml's data (after editing the YAML, run
    `python -m shufflecalc.spec.blockdefs`)."""
    import json

    from shufflecalc.spec.blockdefs import SHIPPED, SHIPPED_JSON
    from shufflecalc.spec.load import builtin_dir
    from shufflecalc.spec.yamlsrc import load_file

    folder = builtin_dir().joinpath(*SHIPPED[:-1])
    from_yaml = load_file(folder / SHIPPED[-1]).data
    from_json = json.loads((folder / SHIPPED_JSON).read_text(encoding="utf-8"))
    assert from_json == from_yaml
    assert [type(v) for v in _leaves(from_json)] == [type(v) for v in _leaves(from_yaml)]  # 0 stays an int, 1.0 a float


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]
