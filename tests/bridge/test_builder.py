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
    ("squeezenet1_0", {"resolution": 64, "classes": 10}),
    ("densenet", {"resolution": 64, "classes": 10}),
    ("regnet", {"variant": "y_400mf", "resolution": 64, "classes": 10}),
    ("inception_v3", {"resolution": 75, "classes": 10, "aux_logits": False}),  # with aux_logits: 299 at least
    ("vit", {"size": "b_32", "resolution": 64, "classes": 10}),
    ("efficientnet", {"variant": "b0", "resolution": 64, "classes": 10}),
    ("convnext", {"size": "tiny", "resolution": 64, "classes": 10}),
    ("squeezenet", {"version": "1_1", "resolution": 64, "classes": 10}),
    ("vgg", {"depth": 11, "batchnorm": True, "resolution": 32, "classes": 10}),
]


def test_small_configurations_cover_every_builtin_spec() -> None:
    assert {name for name, _ in SMALL} == set(shufflecalc.builtin_names())


@pytest.mark.parametrize("spec, config", SMALL, ids=[f"{s}-{c}" for s, c in SMALL])
def test_model_matches_fvcore_and_torch_layer_by_layer(spec: str, config: dict) -> None:
    """analytic == torch (params, every layer's output shape) == fvcore (total and per layer) == FlopCounterMode."""
    import warnings

    from torch.utils.flop_counter import FlopCounterMode

    from shufflecalc.bridge.verify import attention_counted
    from shufflecalc.spec.layers import KINDS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

    a = analyze(spec, **config)
    model = shufflecalc.build_model(spec, **config)
    assert sum(p.numel() for p in model.parameters()) == a.params + a.unused_params  # unused: built, never run
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
    declared = {op for kind in KINDS.values() if kind.fvcore in ("unsupported", "partial") for op in kind.aten}
    assert unsupported <= declared

    with attention_counted(), FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)  # attention_counted: the MATH attention kernel, MultiheadAttention's fast path off (vit)
    assert counter.get_total_flops() == 2 * a.macs == a.flops


def test_layer_names_torch_assigns_are_refused(write_spec) -> None:
    """A layer called `training` (or `_plan`) passed `show` but broke `bench` and `profile` (model.eval() assigns
    `training`): such a spec is refused where it is read, so every spec the engine accepts is one torch can build."""
    from shufflecalc.errors import ShufflecalcError

    for name in ("training", "graph", "output_name", "annotate", "_plan", "_modules"):
        path = write_spec(f"input: [4, 6, 6]\nlayers:\n  - {{op: conv2d, name: {name}, out: 4, kernel: 3}}\n")
        with pytest.raises(ShufflecalcError, match=f"layer name '{name}' is reserved"):
            shufflecalc.build_model(path)


def _public_attributes() -> list[str]:
    from shufflecalc.bridge.builder import GraphModule

    model = shufflecalc.build_model("mobilenet", width=0.25, resolution=32)
    names = set(dir(torch.nn.Module)) | set(dir(GraphModule)) | set(vars(model)) | set(dir(torch.nn.Module()))
    return sorted(n for n in names if not n.startswith("_"))


def test_every_other_module_attribute_name_builds_and_runs(write_spec) -> None:
    """The static list in the spec wing (it never imports torch) holds exactly the names that break a model: a layer
    named like any other attribute of nn.Module or GraphModule (`half`, `eval`, `forward`, `state_dict`, ...) builds,
    switches between train and eval, moves to channels-last, runs, and counts its parameters."""
    from shufflecalc.spec.layers import RESERVED_NAMES

    x = torch.randn(1, 4, 6, 6)
    for name in _public_attributes():
        if name in RESERVED_NAMES:
            continue
        path = write_spec(f"input: [4, 6, 6]\nlayers:\n  - {{op: conv2d, name: {name}, out: 4, kernel: 3}}\n"
                          "  - {op: batchnorm, name: bn}\n", name=f"{name}.yaml")
        model = shufflecalc.build_model(path)
        model.train()
        model.eval()
        model = model.to(memory_format=torch.channels_last)
        assert isinstance(dict(model.named_modules())[name], torch.nn.Conv2d), name
        assert model(x).shape == (1, 4, 6, 6), name
        assert sum(p.numel() for p in model.parameters()) == analyze(path).params, name


def test_each_reserved_name_breaks_a_model_without_the_check() -> None:
    """Why each name is on the list: registered as a child module, the assignment torch makes fails."""
    from shufflecalc.bridge.builder import GraphModule
    from shufflecalc.spec.layers import RESERVED_NAMES

    for name in sorted(RESERVED_NAMES):
        module = GraphModule.__new__(GraphModule)
        torch.nn.Module.__init__(module)
        module._modules[name] = torch.nn.ReLU()
        with pytest.raises(TypeError, match="cannot assign"):
            setattr(module, name, False)  # what train() / the builder assign: a bool, a graph, a name
