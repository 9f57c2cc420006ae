#!/usr/bin/env bash
# The README's first command: the product's main job end to end on this
# machine, no GPU, no downloads. Installs what is missing and builds, starts
# rrmd with two CPU workers and both bundled trained models (a TRM and an HRM),
# submits the bundled Sudoku puzzles to each (Lyapunov k = 4 with energy maps;
# each puzzle as given plus 2 symmetry restarts), shows progress, prints each
# model's report and the two side by side, writes the plots, report.html (the
# two models compared) and report-trm.html into demo-out/, and stops the
# server (also on Ctrl-C).
#
# Point it elsewhere with RRM_DEMO_MODEL and RRM_DEMO_HRM_MODEL (step_N
# checkpoints beside their all_config.yaml), RRM_DEMO_DATA (an upstream dataset
# folder), RRM_DEMO_OUT, RRM_DEMO_LIMIT (measure the first N puzzles; default
# 150 keeps the demo near 10 minutes on 2 cores; 0 = all).
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${RRM_DEMO_MODEL:-$(ls -d models/demo-trm-sudoku/step_* | sort -V | tail -1)}
HRM_MODEL=${RRM_DEMO_HRM_MODEL:-$(ls -d models/demo-hrm-sudoku/step_* | sort -V | tail -1)}
DATA=${RRM_DEMO_DATA:-data/demo-sudoku}
OUT=${RRM_DEMO_OUT:-demo-out}
LIMIT=${RRM_DEMO_LIMIT:-150}

scripts/build.sh
mkdir -p "$OUT"
rm -rf "$OUT/rrmd-data"

free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
METRICS_PORT=$(free_port)
TARGET=127.0.0.1:$PORT

echo "demo: starting rrmd on $TARGET (2 CPU workers, models $MODEL and $HRM_MODEL; log in $OUT/rrmd.log)"
# rrmd picks the BLAS and shares the cores among its CPU workers itself (its first
# log line says how; core/common/cpu_setup.h).
build/bin/rrmd --listen="$TARGET" --metrics_listen=127.0.0.1:"$METRICS_PORT" \
  --devices=cpu,cpu --data_dir="$OUT/rrmd-data" --model trm="$MODEL" --model hrm="$HRM_MODEL" > "$OUT/rrmd.log" 2>&1 &
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

# One job per model on the same puzzles; qr_frame energy maps (n = 1) cost
# nothing beyond the k = 4 tangents.
submit() {
  build/bin/rrmctl --target="$TARGET" submit --model="$1" --data="$DATA" --limit="$LIMIT" \
    --lyapunov_k=4 --energy_map_directions=1 --restarts=3 --restart_kind=symmetry --wait
}
TRM_JOB=$(submit trm)
echo "demo: TRM job $TRM_JOB finished"
HRM_JOB=$(submit hrm)
echo "demo: HRM job $HRM_JOB finished"

build/bin/rrmctl --target="$TARGET" records "$TRM_JOB" --out="$OUT/records-trm.jsonl"
build/bin/rrmctl --target="$TARGET" records "$HRM_JOB" --out="$OUT/records-hrm.jsonl"
build/bin/rrmctl --target="$TARGET" report "$TRM_JOB" > "$OUT/report-trm.txt"
build/bin/rrmctl --target="$TARGET" report "$HRM_JOB" > "$OUT/report-hrm.txt"
echo "demo: each model's report in $OUT/report-trm.txt and $OUT/report-hrm.txt; side by side:"
build/bin/rrmctl --target="$TARGET" report "$TRM_JOB" "$HRM_JOB" | tee "$OUT/comparison.txt"

export PYTHONPATH=client/python
/usr/bin/python3 -m rrmdyn --target="$TARGET" plot "$TRM_JOB" --out "$OUT"
/usr/bin/python3 -m rrmdyn --target="$TARGET" report "$TRM_JOB" --html "$OUT/report-trm.html" > /dev/null
/usr/bin/python3 -m rrmdyn --target="$TARGET" report "$TRM_JOB" "$HRM_JOB" --html "$OUT/report.html" > /dev/null
echo "demo: plots, report-trm.html and report.html (TRM and HRM compared) in $OUT/"
ls "$OUT"/*.png "$OUT/report.html" "$OUT/report-trm.html"
