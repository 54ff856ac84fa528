"""Every built-in spec that reproduces a torchvision model, against the real model's figures.

tests/data/torchvision_specs.json pairs a spec configuration (``vgg:depth=16``) with a torchvision model name;
tests/data/torchvision.json holds what benchmarks/torchvision_counts.py measured on torchvision's model (weights=None,
eval, one image): parameters, FlopCounterMode's total / 2 (attention counted with the MATH kernel), fvcore's total,
the input and output shapes, and the parameters the eval forward never uses. torchvision is not a test dependency:
the figures are measured once, in a separate virtualenv, and committed (the script says how to run it again).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shufflecalc import analyze
from shufflecalc.spec.load import split_ref

DATA = Path(__file__).resolve().parent.parent / "data"
MEASURED = json.loads((DATA / "torchvision.json").read_text())
PAIRS = json.loads((DATA / "torchvision_specs.json").read_text())


def test_the_figures_are_torchvisions() -> None:
    assert MEASURED["torchvision"] == "0.29.1" and MEASURED["torch"] == "2.14.1"
    assert set(PAIRS.values()) <= set(MEASURED["models"])


@pytest.mark.parametrize("ref", sorted(PAIRS))
def test_spec_equals_torchvision(ref: str) -> None:
    spec, config = split_ref(ref)
    tv = MEASURED["models"][PAIRS[ref]]
    a = analyze(spec, **config)
    assert list(a.graph.input) == tv["input"] and list(a.graph.output) == tv["output"]
    # params: those the eval forward uses; unused_params: those of entries marked `unused: true` (built, never run)
    assert (a.params + a.unused_params, a.unused_params) == (tv["params"], tv["unused_params"])
    assert a.macs == tv["macs"]
    assert a.fvcore_flops == tv["fvcore"]
