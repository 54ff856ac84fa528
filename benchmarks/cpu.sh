#!/usr/bin/env bash
# MobileNet against ShuffleNet 1x g=3 on this machine's CPU: latency at batch 1 and 8, and where the time goes
# (profile, batch 1). Writes JSON to benchmarks/results/cpu-<processor>/ and prints the tables as markdown.
#
#   bash benchmarks/cpu.sh
#
# Runs shufflecalc from this checkout with the python given as PYTHON (default: .venv/bin/python, then python3),
# which needs torch. Settings (environment variables): THREADS (torch's default when unset; 1 gives steadier numbers
# on a machine shared with other work), MIN_TIME (seconds of samples per case, 2.0), OUT (the results folder).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x "$ROOT/.venv/bin/python" ] && PYTHON="$ROOT/.venv/bin/python"
fi
MIN_TIME=${MIN_TIME:-2.0}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

SLUG=$("$PYTHON" -c "from shufflecalc.latency.bench import device_slug; print(device_slug('cpu'))")
OUT=${OUT:-$ROOT/benchmarks/results/$SLUG}
mkdir -p "$OUT"
OPTS=(--device cpu ${THREADS:+--threads "$THREADS"})
sc() { "$PYTHON" -m shufflecalc "$@"; }

sc bench mobilenet shufflenet --g 3 --batch 1,8 "${OPTS[@]}" --min-time "$MIN_TIME" -f json > "$OUT/bench_eager.json"
sc profile mobilenet --batch 1 "${OPTS[@]}" -f json > "$OUT/profile_mobilenet_batch1.json"
sc profile shufflenet --g 3 --batch 1 "${OPTS[@]}" -f json > "$OUT/profile_shufflenet_batch1.json"
"$PYTHON" "$ROOT/benchmarks/summarize.py" "$OUT"
