#!/usr/bin/env bash
# MobileNet against ShuffleNet on one CUDA GPU: latency in eager, channels-last and CUDA-graph modes at batch 1, 8 and
# 32; ShuffleNet g = 1, 2, 3, 4, 8 at batch 8 (eager and CUDA graph); where the time goes (profile) for both models.
# Writes JSON to benchmarks/results/<device>/ and prints the tables as markdown. About 3 minutes on an H100.
#
#   bash benchmarks/gpu.sh
#
# Needs python3 with a CUDA build of torch. shufflecalc runs from this checkout (PYTHONPATH), nothing is installed
# for it; of its dependencies only typer, rich and pyyaml are used (not fvcore). Where one of those three is missing,
# it (with its own dependencies) is installed into benchmarks/.deps with `pip install --target`, from the package
# index, or from a folder of wheels given as WHEELS=/path for machines without network, made beforehand with
#   pip download --dest wheels --only-binary=:all: --python-version 3.X "typer>=0.12,<0.29" "rich>=13" "pyyaml>=6"
#
# Settings (environment variables): PYTHON (python3), MIN_TIME (seconds of samples per case, 1.0), DEVICE (cuda;
# DEVICE=cpu tries the script out on a CPU, without the CUDA-graph runs), BATCHES (1,8,32), RESOLUTION (224),
# OUT (the results folder).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
MIN_TIME=${MIN_TIME:-1.0}
BATCHES=${BATCHES:-1,8,32}
RESOLUTION=${RESOLUTION:-224}
export PYTHONPATH="$ROOT:$ROOT/benchmarks/.deps${PYTHONPATH:+:$PYTHONPATH}"

missing=$("$PY" - <<'EOF'
import importlib.util
need = {"typer": "typer>=0.12,<0.29", "rich": "rich>=13", "yaml": "pyyaml>=6"}
print(" ".join(spec for module, spec in need.items() if importlib.util.find_spec(module) is None))
EOF
)
if [ -n "$missing" ]; then
    echo "gpu.sh: installing into benchmarks/.deps: $missing" >&2
    # shellcheck disable=SC2086  # $missing is a list of requirement specifiers
    "$PY" -m pip install --quiet --target "$ROOT/benchmarks/.deps" ${WHEELS:+--no-index --find-links "$WHEELS"} $missing
fi

if [ "$DEVICE" = cuda ] && ! "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    echo "gpu.sh: torch sees no CUDA device ('DEVICE=cpu bash benchmarks/gpu.sh' tries the script on a CPU)" >&2
    exit 2
fi

SLUG=$("$PY" -c "from shufflecalc.latency.bench import device_slug; print(device_slug('$DEVICE'))")
OUT=${OUT:-$ROOT/benchmarks/results/$SLUG}
mkdir -p "$OUT"
echo "gpu.sh: writing to $OUT" >&2

sc() { "$PY" -m shufflecalc "$@"; }
COMMON=(--device "$DEVICE" --min-time "$MIN_TIME" --resolution "$RESOLUTION")
START=$SECONDS

sc bench mobilenet shufflenet --g 3 --batch "$BATCHES" "${COMMON[@]}" -f json > "$OUT/bench_eager.json"
sc bench mobilenet shufflenet --g 3 --batch "$BATCHES" --channels-last "${COMMON[@]}" -f json \
    > "$OUT/bench_channels_last.json"
MODES=(eager)
if [ "$DEVICE" = cuda ]; then
    sc bench mobilenet shufflenet --g 3 --batch "$BATCHES" --cuda-graph "${COMMON[@]}" -f json > "$OUT/bench_cuda_graph.json"
    MODES+=(cuda_graph)
fi

# ShuffleNet g = 1, 2, 3, 4, 8 at batch 8, all in one process through the Python API
for mode in "${MODES[@]}"; do
    "$PY" - "$DEVICE" "$MIN_TIME" "$RESOLUTION" "$mode" > "$OUT/bench_shufflenet_groups_$mode.json" <<'EOF'
import sys
from shufflecalc import analyze
from shufflecalc.latency.bench import BenchOptions, bench
from shufflecalc.report.render import to_json
device, min_time, resolution, mode = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
models = [analyze("shufflenet", g=g, resolution=resolution) for g in (1, 2, 3, 4, 8)]
options = BenchOptions(device=device, batches=(8,), min_time=min_time, cuda_graph=mode == "cuda_graph")
doc = bench(models, options)
for w in doc["warnings"]:
    print(f"shufflecalc: warning: {w}", file=sys.stderr)
sys.stdout.write(to_json(doc))
EOF
done

for batch in 1 8; do
    sc profile mobilenet --batch "$batch" "${COMMON[@]:0:2}" --resolution "$RESOLUTION" -f json \
        > "$OUT/profile_mobilenet_batch$batch.json"
    sc profile shufflenet --g 3 --batch "$batch" "${COMMON[@]:0:2}" --resolution "$RESOLUTION" -f json \
        > "$OUT/profile_shufflenet_batch$batch.json"
done

echo "gpu.sh: done in $((SECONDS - START)) s; results in $OUT" >&2
"$PY" "$ROOT/benchmarks/summarize.py" "$OUT"
