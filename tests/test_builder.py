"""The torch builder: module names are the graph's layer names; shapes and parameters agree with the engine."""

from __future__ import annotations

import pytest

import shufflecalc
from shufflecalc.cost import analyze

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
    hooks = [modules[l.name].register_forward_hook(
        lambda m, i, o, name=l.name: shapes.__setitem__(name, tuple(o.shape[1:]))) for l in a.layers]
    with torch.inference_mode():
        y = model(torch.randn(2, *a.graph.input))
    for h in hooks:
        h.remove()
    assert tuple(y.shape) == (2, *a.graph.output)
    assert shapes == {l.name: l.out for l in a.layers}


def test_channel_shuffle_module_is_torch_channelshuffle() -> None:
    model = shufflecalc.build_model("shufflenet", g=3, resolution=64)
    shuffle = dict(model.named_modules())["stage3.unit1.shuffle"]
    x = torch.randn(1, 120, 4, 4)
    assert torch.equal(shuffle(x), torch.nn.ChannelShuffle(3)(x))
