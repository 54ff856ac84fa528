"""Measure torchvision's classifiers: params, MACs (FlopCounterMode / 2) and fvcore's count, for the tests.

The built-in specs that reproduce torchvision's models are checked against these figures (tests/data/torchvision.json,
read by tests/analysis/test_torchvision.py). torchvision does not import beside the torch 2.13.0 CPU build the
project's CI uses, so this script runs in a separate virtualenv, once, and its output is committed:

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.14.1 torchvision==0.29.1 fvcore==0.1.5.post20221221
    /tmp/tv/bin/python benchmarks/torchvision_counts.py            # writes tests/data/torchvision.json
    /tmp/tv/bin/python benchmarks/torchvision_counts.py vgg16 --modules   # also per-module figures, printed

Conventions: every model is built with weights=None, in eval mode, for one 3 x 224 x 224 image (Inception v3: 299);
`macs` is FlopCounterMode's total / 2, counted with the MATH attention kernel and the MultiheadAttention fast path off
(otherwise torch does not see Q.K^T and A.V); `fvcore` is FlopCountAnalysis(...).total(); `params` counts every
parameter; `unused_params` those of modules the eval forward never calls (Inception v3's auxiliary classifier).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch
import torchvision
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

MODELS = [
    *(f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")),
    "squeezenet1_0", "squeezenet1_1",
    *(f"efficientnet_b{i}" for i in range(8)),
    *(f"convnext_{s}" for s in ("tiny", "small", "base", "large")),
    *(f"densenet{d}" for d in (121, 161, 169, 201)),
    "inception_v3",
    *(f"vit_{s}" for s in ("b_16", "b_32", "l_16", "l_32")),
    *(f"regnet_{k}_{f}" for k in ("y", "x") for f in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")),
    "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "resnet50", "resnext50_32x4d",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
]
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "torchvision.json"


class _Reads(TorchDispatchMode):
    """The storage of every tensor an operator reads: a parameter absent from it is never used by the forward."""

    def __init__(self) -> None:
        super().__init__()
        self.pointers: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        for a in tree_flatten((args, kwargs or {}))[0]:
            if isinstance(a, torch.Tensor):
                self.pointers.add(a.data_ptr())
        return func(*args, **(kwargs or {}))


def measure(name: str, modules: bool = False) -> dict:
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    size = 299 if name == "inception_v3" else 224
    x = torch.randn(1, 3, size, size)
    leaf_macs: dict[str, int] = {}
    torch.backends.mha.set_fastpath_enabled(False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, _Reads() as reads:
        y = model(x)
    for mod_name, ops in counter.get_flop_counts().items():
        leaf_macs[mod_name] = sum(ops.values()) // 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        fvcore = int(analysis.total())
    params = sum(p.numel() for p in model.parameters())
    unused = sum(p.numel() for p in model.parameters() if p.data_ptr() not in reads.pointers)
    result = {"input": [3, size, size], "output": list(y.shape[1:]), "params": params, "unused_params": unused,
              "macs": counter.get_total_flops() // 2, "fvcore": fvcore}
    if modules:
        result["modules"] = {
            n: {"type": type(m).__name__, "params": sum(p.numel() for p in m.parameters(recurse=False)),
                "macs_flop_counter": leaf_macs.get(f"Global.{n}", leaf_macs.get(n, 0))}
            for n, m in model.named_modules() if n and not list(m.children())
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="torchvision model names (default: every model the tests use)")
    parser.add_argument("--modules", action="store_true", help="print per-module figures instead of writing the file")
    args = parser.parse_args()
    names = args.models or MODELS
    results = {}
    for name in names:
        results[name] = measure(name, args.modules)
        print(name, {k: v for k, v in results[name].items() if k != "modules"}, file=sys.stderr, flush=True)
    if args.modules:
        print(json.dumps(results, indent=1))
        return
    data = {
        "source": "benchmarks/torchvision_counts.py: torchvision models, weights=None, eval, batch 1",
        "torch": torch.__version__.split("+")[0],
        "torchvision": torchvision.__version__.split("+")[0],
        "models": results,
    }
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
