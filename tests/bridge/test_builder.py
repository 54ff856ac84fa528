"""The torch builder: module names are the graph's layer names; shapes and parameters agree with the engine."""

from __future__ import annotations

import pytest

import shufflecalc
from shufflecalc.analysis.cost import analyze

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("spec, config", [("mobilenet", {"width": 0.25, "resolution": 96}),
                                          ("shufflenet", {"g": 3, "resolution": 97}),
                                          ("shufflenet", {"g": 8, "width": 0.5, "shuffle": False})])
def test_model_matches_the_graph(spec: str, config: dict) -> None:
    model = shufflecalc.build_model(spec, **config)
    a = analyze(spec, **config)
    assert not model.training
    assert sum(p.numel() for p in model.parameters()) == a.params
    modules = dict(model.named_modules())
    shapes: dict[str, tuple] = {}
    hooks = [modules[layer.name].register_forward_hook(
        lambda m, i, o, name=layer.name: shapes.__setitem__(name, tuple(o.shape[1:]))) for layer in a.layers]
    with torch.inference_mode():
        y = model(torch.randn(2, *a.graph.input))
    for h in hooks:
        h.remove()
    assert tuple(y.shape) == (2, *a.graph.output)
    assert shapes == {layer.name: layer.out for layer in a.layers}


def test_channel_shuffle_module_is_torch_channelshuffle() -> None:
    model = shufflecalc.build_model("shufflenet", g=3, resolution=64)
    shuffle = dict(model.named_modules())["stage3.unit1.shuffle"]
    x = torch.randn(1, 120, 4, 4)
    assert torch.equal(shuffle(x), torch.nn.ChannelShuffle(3)(x))


SMALL = [  # every built-in spec at a small resolution that keeps each stage's shapes meaningful
    ("mobilenet", {"width": 0.25, "resolution": 64}),
    ("shufflenet", {"g": 3, "resolution": 64}),
    ("mobilenet_v2", {"resolution": 64}),
    ("mobilenet_v2", {"width": 0.35, "resolution": 96}),
    ("mobilenet_v3_large", {"resolution": 64}),
    ("mobilenet_v3_small", {"resolution": 96}),
    ("shufflenet_v2", {"width": 0.5, "resolution": 64}),
    ("shufflenet_v2", {"width": 2.0, "resolution": 64}),
    ("resnet50", {"resolution": 64}),
    ("resnext50_32x4d", {"resolution": 64}),
]


def test_small_configurations_cover_every_builtin_spec() -> None:
    assert {name for name, _ in SMALL} == set(shufflecalc.builtin_names())


@pytest.mark.parametrize("spec, config", SMALL, ids=[f"{s}-{c}" for s, c in SMALL])
def test_model_matches_fvcore_and_torch_layer_by_layer(spec: str, config: dict) -> None:
    """analytic == torch (params, every layer's output shape) == fvcore (total and per layer) == FlopCounterMode."""
    import warnings

    from torch.utils.flop_counter import FlopCounterMode

    from shufflecalc.spec.layers import KINDS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

    a = analyze(spec, **config)
    model = shufflecalc.build_model(spec, **config)
    assert sum(p.numel() for p in model.parameters()) == a.params
    modules = dict(model.named_modules())
    shapes: dict[str, tuple] = {}
    hooks = [modules[layer.name].register_forward_hook(
        lambda m, i, o, name=layer.name: shapes.__setitem__(name, tuple(o.shape[1:]))) for layer in a.layers]
    x = torch.randn(1, *a.graph.input)
    with torch.inference_mode():
        model(x)
    for h in hooks:
        h.remove()
    assert shapes == {layer.name: layer.out for layer in a.layers}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fa = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        assert fa.total() == a.fvcore_flops
        by_module = fa.by_module()
        unsupported = set(fa.unsupported_ops())
    assert {layer.name: by_module[layer.name] for layer in a.layers} == {
        layer.name: layer.fvcore_flops for layer in a.layers}
    declared = {op for kind in KINDS.values() if kind.fvcore == "unsupported" for op in kind.aten}
    assert unsupported <= declared

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)
    assert counter.get_total_flops() == 2 * a.macs == a.flops


def test_layer_names_that_shadow_module_attributes(write_spec) -> None:
    """A layer may be called `half`, `eval` or `forward`: its module is still found by its name."""
    path = write_spec("input: [4, 6, 6]\nlayers:\n  - {op: conv2d, name: half, out: 4, kernel: 3}\n"
                      "  - {op: relu, name: eval}\n  - {op: add, name: forward, inputs: [half, eval]}\n")
    model = shufflecalc.build_model(path)
    modules = dict(model.named_modules())
    assert isinstance(modules["half"], torch.nn.Conv2d) and "forward" in modules
    assert model(torch.randn(1, 4, 6, 6)).shape == (1, 4, 6, 6)
    assert sum(p.numel() for p in model.parameters()) == analyze(path).params
