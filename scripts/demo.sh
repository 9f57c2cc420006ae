#!/usr/bin/env bash
# The README's first command: the product's main job end to end on this
# machine, no GPU, no downloads. Installs what is missing and builds, starts
# rrmd with two CPU workers and the bundled trained model, submits the bundled
# Sudoku puzzles (Lyapunov k = 4; each puzzle as given plus 2 symmetry
# restarts), shows progress, prints the failure decomposition, writes the plots
# and report.html into demo-out/, and stops the server (also on Ctrl-C).
#
# Point it elsewhere with RRM_DEMO_MODEL (a step_N checkpoint beside its
# all_config.yaml), RRM_DEMO_DATA (an upstream dataset folder), RRM_DEMO_OUT,
# RRM_DEMO_LIMIT (measure only the first N puzzles).
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${RRM_DEMO_MODEL:-$(ls -d models/demo-trm-sudoku/step_* | sort -V | tail -1)}
DATA=${RRM_DEMO_DATA:-data/demo-sudoku}
OUT=${RRM_DEMO_OUT:-demo-out}
LIMIT=${RRM_DEMO_LIMIT:-0}

scripts/build.sh
mkdir -p "$OUT"
rm -rf "$OUT/rrmd-data"

free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
METRICS_PORT=$(free_port)
TARGET=127.0.0.1:$PORT

echo "demo: starting rrmd on $TARGET (2 CPU workers, model $MODEL; log in $OUT/rrmd.log)"
# rrmd picks the BLAS and shares the cores among its CPU workers itself (its first
# log line says how; core/common/cpu_setup.h).
build/bin/rrmd --listen="$TARGET" --metrics_listen=127.0.0.1:"$METRICS_PORT" \
  --devices=cpu,cpu --data_dir="$OUT/rrmd-data" --model demo="$MODEL" > "$OUT/rrmd.log" 2>&1 &
RRMD_PID=$!
stop_server() {
  if kill -0 "$RRMD_PID" 2>/dev/null; then
    kill -TERM "$RRMD_PID" 2>/dev/null || true
    wait "$RRMD_PID" 2>/dev/null || true
    echo "demo: rrmd stopped"
  fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 120); do
  build/bin/rrmctl --target="$TARGET" health > /dev/null 2>&1 && break
  kill -0 "$RRMD_PID" 2>/dev/null || { echo "demo: rrmd exited:"; cat "$OUT/rrmd.log"; exit 1; }
  sleep 0.5
done

JOB=$(build/bin/rrmctl --target="$TARGET" submit --model=demo --data="$DATA" --limit="$LIMIT" \
  --lyapunov_k=4 --restarts=3 --restart_kind=symmetry --wait)
echo "demo: job $JOB finished"

build/bin/rrmctl --target="$TARGET" records "$JOB" --out="$OUT/records.jsonl"
build/bin/rrmctl --target="$TARGET" report "$JOB" | tee "$OUT/report.txt"

export PYTHONPATH=client/python
/usr/bin/python3 -m rrmdyn --target="$TARGET" plot "$JOB" --out "$OUT"
/usr/bin/python3 -m rrmdyn --target="$TARGET" report "$JOB" --html "$OUT/report.html" > /dev/null
echo "demo: plots and report.html in $OUT/"
ls "$OUT"/*.png "$OUT/report.html"
