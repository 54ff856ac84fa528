"""Import torchvision's classifiers with `shufflecalc import` and run each one's round-trip proof.

Writes benchmarks/results/zoo.json and prints a markdown table: model, params, MACs, import seconds (making, tracing,
writing and proving; the torch import not counted), spec lines, and PASS or the exact reason. A model with operations
that no layer kind maps lists them in the table grouped by operation, with counts, a tensor attribute by its own
name (zoo.json's `missing`; its `reason` is the import's error, every operation with its module path). Needs
torchvision, which does not import beside the torch 2.13.0 CPU build of the project venv; a venv of its own does it:

    python -m venv /work/tvenv && /work/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 fvcore
    PYTHONPATH=. /work/tvenv/bin/python benchmarks/zoo.py                    # every classifier
    PYTHONPATH=. /work/tvenv/bin/python benchmarks/zoo.py resnet50 vgg16     # some
    python benchmarks/zoo.py --table          # the table of benchmarks/results/zoo.json again (no torchvision)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "zoo.json"
INPUT = {"inception_v3": (3, 299, 299)}  # its auxiliary classifier (unused in eval) needs a 17 x 17 map


HEADER = "| model | params | MACs | import s | spec lines | proof |\n|---|---:|---:|---:|---:|---|"


def one(name: str) -> dict:
    from shufflecalc.errors import ShufflecalcError
    from shufflecalc.importer.run import import_target

    shape = INPUT.get(name, (3, 224, 224))
    start = time.perf_counter()
    try:
        result = import_target(f"torchvision:{name}", shape)
    except ShufflecalcError as exc:
        row = {"model": name, "result": "ERROR", "reason": str(exc), "seconds": round(time.perf_counter() - start, 2)}
        ops = getattr(exc, "ops", None)  # UnmappedOps: {(operation, module path): count}
        if ops:
            grouped: Counter[str] = Counter()
            for (what, _), n in ops.items():
                grouped[re.sub(r"'[\w.]+\.(\w+)'", r"'\1'", what)] += n  # a tensor attribute by its own name
            row["missing"] = dict(sorted(grouped.items(), key=lambda kv: (-kv[1], kv[0])))
        return row
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


def line(row: dict) -> str:
    """One row of the markdown table ("-" where the import stopped before counting)."""
    if "missing" in row:
        listed = "; ".join(f"{what} (x{n})" if n > 1 else what for what, n in row["missing"].items())
        proof = f"ERROR: {sum(row['missing'].values())} operations without a layer kind: {listed}"
    else:
        proof = row["result"] if row["result"] == "PASS" else f"{row['result']}: {row['reason']}"
    params, macs = (f"{row[k]:,}" if k in row else "-" for k in ("params", "macs"))
    return f"| {row['model']} | {params} | {macs} | {row['seconds']} | {row.get('spec_lines', '-')} | {proof} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="torchvision model names (default: every classifier)")
    parser.add_argument("--table", action="store_true", help="print the table of the last full run's zoo.json")
    args = parser.parse_args()
    if args.table:
        print("\n".join([HEADER, *(line(r) for r in json.loads(RESULTS.read_text()))]))
        return
    import torchvision

    names = args.models or torchvision.models.list_models(module=torchvision.models)
    rows = []
    print(HEADER)
    for name in names:
        row = one(name)
        rows.append(row)
        print(line(row), flush=True)
    passed = sum(r["result"] == "PASS" for r in rows)
    slowest = sorted(rows, key=lambda r: -r["seconds"])[:3]
    print(f"\n{len(rows)} models: {passed} PASS, {len(rows) - passed} not; {sum(r['seconds'] for r in rows):.0f} s "
          "of import and proof; slowest: " + ", ".join(f"{r['model']} {r['seconds']} s" for r in slowest))
    if not args.models:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(rows, indent=1) + "\n")
    sys.exit(0 if all(r["result"] == "PASS" for r in rows) else 1)


if __name__ == "__main__":
    main()
