"""Import torchvision's classifiers with `shufflecalc import` and run each one's round-trip proof.

Writes benchmarks/results/zoo.json and prints a markdown table: model, params, MACs, import seconds (making, tracing,
writing and proving; the torch import not counted), spec lines, and PASS or the exact reason. Needs torchvision,
which does not import beside the torch 2.13.0 CPU build of the project venv; a venv of its own does it:

    python -m venv /work/tvenv && /work/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 fvcore
    PYTHONPATH=. /work/tvenv/bin/python benchmarks/zoo.py                    # every classifier
    PYTHONPATH=. /work/tvenv/bin/python benchmarks/zoo.py resnet50 vgg16     # some
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torchvision

from shufflecalc.errors import ShufflecalcError
from shufflecalc.importer.run import import_target

RESULTS = Path(__file__).resolve().parent / "results" / "zoo.json"
INPUT = {"inception_v3": (3, 299, 299)}  # its auxiliary classifier (unused in eval) needs a 17 x 17 map


def one(name: str) -> dict:
    shape = INPUT.get(name, (3, 224, 224))
    start = time.perf_counter()
    try:
        result = import_target(f"torchvision:{name}", shape)
    except ShufflecalcError as exc:
        return {"model": name, "result": "ERROR", "reason": str(exc), "seconds": round(time.perf_counter() - start, 2)}
    failed = [f"{c.what}: spec {c.spec}, model {c.model} ({c.note})" for c in result.proof.checks if not c.ok]
    return {
        "model": name,
        "result": result.proof.result,
        "reason": "; ".join(failed),
        "params": result.graph.sums.params + result.graph.unused_params,
        "macs": result.graph.sums.macs,
        "seconds": round(result.seconds, 2),
        "spec_lines": result.lines,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="torchvision model names (default: every classifier)")
    args = parser.parse_args()
    names = args.models or torchvision.models.list_models(module=torchvision.models)
    rows = []
    print("| model | params | MACs | import s | spec lines | proof |\n|---|---:|---:|---:|---:|---|")
    for name in names:
        row = one(name)
        rows.append(row)
        proof = row["result"] if row["result"] == "PASS" else f"{row['result']}: {row['reason']}"
        print(f"| {name} | {row.get('params', 0):,} | {row.get('macs', 0):,} | {row['seconds']} | "
              f"{row.get('spec_lines', '-')} | {proof} |", flush=True)
    if not args.models:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(rows, indent=1) + "\n")
    sys.exit(0 if all(r["result"] == "PASS" for r in rows) else 1)


if __name__ == "__main__":
    main()
