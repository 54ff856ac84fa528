"""Run a built-in spec's torch model against the real torchvision model, tensor for tensor.

torchvision's weights (randomized, batchnorm statistics included, so that outputs are large) are copied into the
model `shufflecalc.build_model` makes, and both models run on the same random input. Tensors are copied in
state_dict order (the two must list tensors of the same shapes in the same order), except where an adapter below says
how torchvision's state_dict differs: ViT (loaded by name: the class token and position embedding are layers of their
own, the MLP's linears keep torchvision's old names), ConvNeXt (its Linear layers are 1x1 convolutions in the spec,
and CNBlock registers `layer_scale` before its convolutions). Prints the largest absolute difference of the outputs
and whether they are bitwise equal; where float32 outputs differ (a 1x1 convolution rounds differently from the
Linear it stands for), both models run again in float64, where the same arithmetic must agree bitwise.

Runs in the torchvision virtualenv (see benchmarks/torchvision_counts.py):

    PYTHONPATH=. /tmp/tv/bin/python benchmarks/torchvision_match.py vgg:depth=16 vgg16
    PYTHONPATH=. /tmp/tv/bin/python benchmarks/torchvision_match.py --all   # tests/data/torchvision_specs.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision

from shufflecalc.bridge.builder import build_model
from shufflecalc.spec.load import split_ref

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "torchvision_specs.json"
State = list[tuple[str, torch.Tensor]]

# torchvision's ViT key -> the spec's: the class token and the position embedding are parameters of layers of their
# own (`weight`); the MLP's linear layers keep the names torchvision's MLPBlock loads from older state dicts.
VIT_KEYS = [(r"^class_token$", "class_token.weight"), (r"^encoder\.pos_embedding$", "encoder.pos_embedding.weight"),
            (r"\.mlp\.0\.", ".mlp.linear_1."), (r"\.mlp\.3\.", ".mlp.linear_2.")]


def _vit(state: State) -> State:
    renamed = []
    for key, tensor in state:
        for pattern, replacement in VIT_KEYS:
            key = re.sub(pattern, replacement, key)
        renamed.append((key, tensor))
    return renamed


def _convnext(state: State) -> State:
    """Move each CNBlock's layer_scale after the block's other tensors (where the spec's layer_scale layer sits)."""
    out: State = []
    pending: tuple[str, tuple[str, torch.Tensor]] | None = None  # (block prefix, layer_scale entry)
    for key, tensor in state:
        if pending and not key.startswith(pending[0]):
            out.append(pending[1])
            pending = None
        if key.endswith(".layer_scale"):
            pending = (key[: -len("layer_scale")], (key, tensor))
        else:
            out.append((key, tensor))
    if pending:
        out.append(pending[1])
    return out


ADAPTERS: dict[str, Callable[[State], State]] = {"vit": _vit, "convnext": _convnext}


def _load(ours: torch.nn.Module, theirs: State) -> None:
    dst = [(k, v) for k, v in ours.state_dict().items() if not k.endswith("num_batches_tracked")]
    names = {k for k, _ in dst}
    if {k for k, _ in theirs} == names:  # same names: by name
        ours.load_state_dict(dict(theirs), strict=True)
        return
    if len(theirs) != len(dst):
        raise SystemExit(f"state_dict lengths differ: torchvision {len(theirs)}, spec {len(dst)}")
    copied = {}
    for (a, va), (b, vb) in zip(theirs, dst, strict=True):
        if va.shape != vb.shape:
            if va.numel() != vb.numel() or tuple(vb.shape[: va.ndim]) != tuple(va.shape):
                raise SystemExit(f"state_dict order differs: torchvision {a} {tuple(va.shape)} vs spec {b} "
                                 f"{tuple(vb.shape)}")
            va = va.reshape(vb.shape)  # a Linear's (out, in) weight as a 1x1 convolution's (out, in, 1, 1)
        copied[b] = va
    ours.load_state_dict(copied, strict=False)


def match(ref: str, name: str) -> tuple[bool, str]:
    spec, config = split_ref(ref)
    torch.manual_seed(0)
    theirs = torchvision.models.get_model(name, weights=None).eval()
    with torch.no_grad():  # random weights and statistics: torchvision starts some tensors at zero or one
        for t in theirs.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) * 0.5 + 0.75 if t.ndim <= 1 else torch.randn_like(t) / t[0].numel() ** 0.5)
    ours = build_model(spec, config).eval()
    state = [(k, v) for k, v in theirs.state_dict().items() if not k.endswith("num_batches_tracked")]
    _load(ours, ADAPTERS.get(ours.graph.spec.name, lambda s: s)(state))
    x = torch.randn(1, *ours.graph.input)
    torch.backends.mha.set_fastpath_enabled(False)
    with torch.no_grad():
        a, b = theirs(x), ours(x)
        detail = f"max |diff| {(a - b).abs().max().item():.3g} (output std {a.std().item():.3g})"
        if torch.equal(a, b):
            return True, detail
        a64, b64 = theirs.double()(x.double()), ours.double()(x.double())
    if torch.equal(a64, b64):
        return True, detail + "; float64: bitwise equal"
    return False, detail + f"; float64: max |diff| {(a64 - b64).abs().max().item():.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", nargs="?", help="built-in spec with its configuration, e.g. vgg:depth=16")
    parser.add_argument("torchvision_name", nargs="?")
    parser.add_argument("--all", action="store_true", help="every pair listed in tests/data/torchvision_specs.json")
    args = parser.parse_args()
    pairs = list(json.loads(PAIRS.read_text()).items()) if args.all else [(args.ref, args.torchvision_name)]
    failed = 0
    for ref, name in pairs:
        ok, detail = match(ref, name)
        failed += not ok
        print(f"{'EQUAL  ' if ok else 'DIFFERS'}  {ref:34} {name:20} {detail}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
