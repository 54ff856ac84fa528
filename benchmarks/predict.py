"""How good is `shufflecalc predict`? Predicted against measured latency, beside three baselines.

    python benchmarks/predict.py                      # calibrate, then validate (about 25 minutes on one core)
    python benchmarks/predict.py --profile P.json     # validate an existing profile
    python benchmarks/predict.py --quick              # a few models, to try the script
    python benchmarks/predict.py --profile P.json --measured benchmarks/results/predict-cpu-amd-epyc.json
                                                      # score a profile against earlier measurements, write nothing
    python benchmarks/predict.py --plot-from benchmarks/results/predict-cpu-amd-epyc.json --plot-to out.png

One run, one thread, batch 1, float32 (the profile's settings):

1. calibrate (the microbenchmarks only: `shufflecalc.latency.calibrate`) before each round of step 3, unless
   --profile is given; the profile is those calibrations pooled (`calibrate.pooled`: the median of each case), so
   that it describes the machine over the same minutes as the measurements (a shared VM's speed moves by 10-30%
   from one minute to the next);
2. the networks: every configuration of every built-in spec's `verify --all` grid, and --random (default 120)
   random specs from the property-test generator (tests/bridge/test_properties.py, derandomized);
3. each network timed by `bench` (same threads, batch and dtype) in --rounds (4) rounds a few minutes apart (every
   other one in reverse order): the measured time is the fastest call of all rounds (bench's `min_ms`), what a
   profile's fastest times predict. Its repeatability: how often the fastest call of the first half of the rounds
   lies within 10% of the second half's; beside it, how often one round's median lies within 10% of the median of
   the rounds' medians (the number a single `bench` run reports, on a machine shared with other tenants);
   then predicted from the profile;
4. three baselines fitted on the same calibration samples (relative least squares, every sample one layer):
   latency proportional to MACs, proportional to memory access, and a linear fit on both; a network's baseline
   time is the fit applied to its totals.

Writes benchmarks/results/predict-<device>.json (every network: predicted, measured, baselines; the summary) and
docs/predict-scatter.png (predicted vs measured, log axes, the MACs baseline beside), and prints the summary table
in markdown.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
FIGURE = ROOT / "docs" / "predict-scatter.png"


def networks(random_count: int, quick: bool) -> list[tuple[str, str, Any]]:
    """(group, label, Analysis) for the built-in grid and the random specs."""
    from shufflecalc.analysis.cost import analyze, config_text
    from shufflecalc.bridge.verify import grid
    from shufflecalc.errors import ShufflecalcError
    from shufflecalc.spec.load import builtin_names, load_spec

    out = []
    names = ["mobilenet", "shufflenet", "resnet50"] if quick else builtin_names()
    for name in names:
        spec = load_spec(name)
        for config in grid(spec)[: 2 if quick else None]:
            try:
                a = analyze(spec, config)
            except ShufflecalcError:
                continue  # a configuration the spec refuses (verify --all lists it as INVALID)
            out.append(("built-in", f"{name} {config_text(config)}", a))
    folder = Path(tempfile.mkdtemp(prefix="shufflecalc-predict-"))  # the same specs every run: no need to keep them
    for i, text in enumerate(random_specs(3 if quick else random_count)):
        path = folder / f"random{i}.yaml"
        path.write_text(text)
        out.append(("random", f"random{i}", analyze(str(path))))
    return out


def random_specs(count: int) -> list[str]:
    """`count` specs drawn by the property suite's generator, derandomized (the same ones every run)."""
    sys.path.insert(0, str(ROOT))
    from hypothesis import HealthCheck, given, settings

    from tests.bridge.test_properties import random_specs as strategy

    texts: list[str] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy())
    def draw(case: tuple[str, tuple[int, ...]]) -> None:
        if case[0] not in texts:
            texts.append(case[0])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        draw()
    return texts[:count]


def fit_baselines(samples: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Coefficients (ms per FLOP, ms per byte) of the three baselines on the calibration samples."""
    from shufflecalc.analysis.predict import nnls_relative

    times = [s["ms"] for s in samples]
    macs_only = nnls_relative([[s["flops"]] for s in samples if s["flops"]], [s["ms"] for s in samples if s["flops"]])
    return {
        "macs": [macs_only[0], 0.0],
        "memory_access": [0.0, nnls_relative([[s["bytes"]] for s in samples], times)[0]],
        "linear": nnls_relative([[s["flops"], s["bytes"]] for s in samples], times),
    }


def spearman(xs: list[float], ys: list[float]) -> float:
    def ranks(v: list[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))


def summary(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    errors = [(r[key] - r["measured_ms"]) / r["measured_ms"] for r in rows]
    return {
        "networks": len(rows),
        "within_10_percent": round(sum(abs(e) <= 0.10 for e in errors) / len(errors), 4),
        "within_20_percent": round(sum(abs(e) <= 0.20 for e in errors) / len(errors), 4),
        "mape_percent": round(100 * sum(abs(e) for e in errors) / len(errors), 2),
        "spearman_rho": round(spearman([r[key] for r in rows], [r["measured_ms"] for r in rows]), 4),
    }


def repeatability(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How well the measurement repeats itself: the fastest call of the first half of the rounds against the second
    half's, and (what one `bench` run's median would give) each round's median against the median of them all."""
    half = len(rows[0]["rounds_min_ms"]) // 2
    halves = [abs(min(r["rounds_min_ms"][:half]) / min(r["rounds_min_ms"][half:]) - 1) for r in rows] if half else []
    deviation = [abs(t / statistics.median(r["rounds_median_ms"]) - 1) for r in rows for t in r["rounds_median_ms"]]
    return {"rounds": len(rows[0]["rounds_min_ms"]),
            "fastest_halves_within_10_percent": round(sum(e <= 0.10 for e in halves) / len(halves), 4) if half
            else None,
            "round_median_within_10_percent": round(sum(e <= 0.10 for e in deviation) / len(deviation), 4),
            "round_median_within_20_percent": round(sum(e <= 0.20 for e in deviation) / len(deviation), 4)}


PREDICTORS = {"predicted_ms": "shufflecalc predict", "macs_ms": "baseline: proportional to MACs",
              "memory_access_ms": "baseline: proportional to memory access",
              "linear_ms": "baseline: linear in MACs and memory access"}


def scatter(rows: list[dict[str, Any]], env: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 5), layout="constrained")
    for i, (key, title) in enumerate((("predicted_ms", "shufflecalc predict"),
                                      ("macs_ms", "baseline: latency proportional to MACs"))):
        ax = fig.add_subplot(1, 2, i + 1)
        shown = [r for r in rows if r[key] > 0]  # a network without MACs has a MACs baseline of 0 ms: off log axes
        for group, marker in (("built-in", "o"), ("random", "^")):
            pts = [r for r in shown if r["group"] == group]
            ax.scatter([r["measured_ms"] for r in pts], [r[key] for r in pts], s=14, marker=marker, alpha=0.7,
                       label=f"{group} ({len(pts)})", linewidths=0)
        lo = min(min(r["measured_ms"], r[key]) for r in shown) / 1.5
        hi = max(max(r["measured_ms"], r[key]) for r in shown) * 1.5
        if len(shown) < len(rows):
            ax.text(0.98, 0.02, f"{len(rows) - len(shown)} networks without MACs predicted 0 ms, not drawn",
                    transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="0.4")
        ax.plot([lo, hi], [lo, hi], color="0.3", lw=1)
        ax.fill_between([lo, hi], [lo * 0.9, hi * 0.9], [lo * 1.1, hi * 1.1], color="0.5", alpha=0.15,
                        label="±10%")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        s = summary(rows, key)
        ax.set_title(f"{title}\n{100 * s['within_10_percent']:.0f}% within ±10%, MAPE {s['mape_percent']:.1f}%, "
                     f"Spearman ρ {s['spearman_rho']:.3f}", fontsize=10)
        ax.set_xlabel(f"measured latency, ms (shufflecalc bench, fastest call of {len(rows[0]['rounds_min_ms'])} "
                      "rounds)")
        ax.set_ylabel("predicted latency, ms")
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{env['device_name']}, {env['threads']} thread(s), batch 1, float32, torch {env['torch']}",
                 fontsize=10)
    fig.savefig(path, format="png", metadata={"Software": None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, help="an existing profile (default: calibrate first)")
    parser.add_argument("--random", type=int, default=120, help="random specs from the property-test generator")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4, help="rounds of measurement, each after a calibration")
    parser.add_argument("--quick", action="store_true", help="a few networks, nothing written")
    parser.add_argument("--measured", type=Path, help="take the measured times from this results file (the same "
                        "networks) instead of timing them; nothing written")
    parser.add_argument("--plot-from", type=Path, help="draw the scatter plot of a results file, measure nothing")
    parser.add_argument("--plot-to", type=Path, default=FIGURE, help=f"the plot (default {FIGURE.relative_to(ROOT)})")
    args = parser.parse_args()
    if args.plot_from:
        result = json.loads(args.plot_from.read_text())
        scatter(result["networks"], result["environment"], args.plot_to)
        return

    from shufflecalc.analysis.predict import layer_features, load_profile, predict_layers, profile_from_dict
    from shufflecalc.latency.bench import BenchOptions, bench, device_slug
    from shufflecalc.latency.calibrate import calibrate, pooled

    RESULTS.mkdir(exist_ok=True)
    slug = device_slug("cpu")
    source = f"benchmarks/results/predict-{slug}-profile.json"

    def calibrated() -> dict[str, Any]:
        start = time.perf_counter()
        doc = calibrate(BenchOptions(device="cpu", threads=args.threads), progress=lambda d, t, w: print(
            f"calibrate: {w}", file=sys.stderr, flush=True))
        print(f"calibrated in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        return doc

    calibrations = [] if args.profile else [calibrated()]
    profile = load_profile(args.profile) if args.profile else profile_from_dict(calibrations[0], source)
    nets = networks(args.random, args.quick)
    options = BenchOptions(device="cpu", threads=profile.threads, min_time=0.3, min_samples=7, warmup_max=1.5)
    for _, label, a in nets:  # a class the profile lacks fails here, before any timing
        predict_layers(a.layers, profile, label)
    rounds: list[list[float]] = [[] for _ in nets]  # each round's fastest call (bench's min_ms)
    medians: list[list[float]] = [[] for _ in nets]  # each round's median
    if args.measured:  # the same networks, measured before: score this profile against them
        earlier = json.loads(args.measured.read_text())["networks"]
        if [r["model"] for r in earlier] != [label for _, label, _ in nets]:
            sys.exit(f"{args.measured}: not the networks of this run (--random {args.random})")
        if any("rounds_min_ms" not in row for row in earlier):
            sys.exit(f"{args.measured}: no fastest calls per round (rounds_min_ms): measured by an earlier version")
        rounds = [row["rounds_min_ms"] for row in earlier]
        medians = [row["rounds_median_ms"] for row in earlier]
    orders = [list(range(len(nets)))[:: -1 if r % 2 else 1] for r in range(0 if args.measured else args.rounds)]
    for r, order in enumerate(orders):
        if calibrations and r > 0:
            calibrations.append(calibrated())  # one calibration before each round, pooled below
        for n, i in enumerate(order, 1):
            timed = bench([nets[i][2]], options)["results"][0]
            rounds[i].append(timed["min_ms"])
            medians[i].append(timed["median_ms"])
            print(f"round {r + 1} [{n}/{len(nets)}] {nets[i][1]}: fastest {rounds[i][-1]:.3f} ms, median "
                  f"{medians[i][-1]:.3f} ms", file=sys.stderr, flush=True)
    if calibrations:
        doc = pooled(calibrations)
        profile = profile_from_dict(doc, source)
        if not args.quick:
            (RESULTS / f"predict-{slug}-profile.json").write_text(json.dumps(doc, indent=1) + "\n")
    else:
        doc = dict(profile.doc)
    baselines = fit_baselines(doc["samples"])
    predicted = [predict_layers(a.layers, profile, label).predicted_ms for _, label, a in nets]
    rows = []
    for i, (group, label, a) in enumerate(nets):
        size = 4
        flops = bytes_ = 0
        for layer in a.layers:
            f, b = layer_features(layer, 1, size)
            flops, bytes_ = flops + f, bytes_ + b
        row = {"group": group, "model": label, "macs": a.macs, "memory_access": a.memory_access,
               "layers": len(a.layers), "measured_ms": round(min(rounds[i]), 6),
               "rounds_min_ms": rounds[i], "rounds_median_ms": medians[i],
               "predicted_ms": round(predicted[i], 6)}
        for name, (per_flop, per_byte) in baselines.items():
            row[f"{name}_ms"] = round(per_flop * flops + per_byte * bytes_, 6)
        rows.append(row)
    env = {k: doc["environment"][k] for k in ("device_name", "threads", "torch", "dtype", "batch", "created")}
    result = {
        "environment": env,
        "repeatability": repeatability(rows),
        "profile": f"benchmarks/results/predict-{slug}-profile.json",
        "summary": {group: {PREDICTORS[k]: summary([r for r in rows if group == "all" or r["group"] == group], k)
                            for k in PREDICTORS} for group in ("all", "built-in", "random")},
        "networks": rows,
    }
    print("| predictor | networks | within ±10% | within ±20% | MAPE | Spearman ρ |\n|---|---:|---:|---:|---:|---:|")
    for title in PREDICTORS.values():
        s = result["summary"]["all"][title]
        print(f"| {title} | {s['networks']} | {100 * s['within_10_percent']:.1f}% | "
              f"{100 * s['within_20_percent']:.1f}% | {s['mape_percent']:.1f}% | {s['spearman_rho']:.3f} |")
    for group in ("built-in", "random"):
        s = result["summary"][group][PREDICTORS["predicted_ms"]]
        print(f"{group}: {s}")
    print(f"repeatability: {result['repeatability']}")
    if not args.quick and not args.measured:
        (RESULTS / f"predict-{slug}.json").write_text(json.dumps(result, indent=1) + "\n")
        scatter(rows, env, args.plot_to)
        print(f"wrote benchmarks/results/predict-{slug}.json and {args.plot_to}", file=sys.stderr)


if __name__ == "__main__":
    main()
