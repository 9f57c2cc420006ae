#!/usr/bin/env bash
# The GPU check (issue #15 item 5): parity of the fixtures and the speed of the
# segment map on a GPU box that has CUDA and a PyTorch installation but no
# internet, using the LibTorch inside that PyTorch.
#
#   scripts/gpu-check.sh --prepare      # here (Debian 12, internet): the Debian
#                                       # libraries core/ needs, extracted into
#                                       # build-gpu-deps/ to carry to the GPU box
#   scripts/gpu-check.sh                # on the GPU box: --device=cuda
#   scripts/gpu-check.sh --device=cpu --quick   # the dry run scripts/test.sh runs
#
# --device=cuda configures core + tools (-DRRM_WITH_SERVICE=OFF, no tests) in
# build-gpu/ against python3's torch.utils.cmake_prefix_path and build-gpu-deps/,
# builds rrm-measure and bench-forward, then
#   1. parity: rrm-measure on every tests/fixtures/<variant> with the reference's
#      own states as teacher (--teacher_states, as tests/model/parity_test.cc
#      does), compared with expected/{z_H,z_L,logits}.npy;
#   2. memory: tools/memory-probe, rrmd's own reading of the device's memory
#      (server/device_memory.cc: the caching allocator and cudaMemGetInfo on
#      CUDA) against a 256 MiB tensor;
#   3. speed: bench-forward at the official sizes (trm_mlpt, trm, hrm; hidden 512)
#      for k = 0, 4, 8 in float32 and bfloat16;
# and prints the three in one report. A memory-probe that does not build
# (CUDA's runtime headers missing, say) is reported and fails the check at the
# end, after the speed table. --device=cpu uses this checkout's build/ (Debian's
# LibTorch, as scripts/build.sh configured it) so the dry run compiles only what
# changed; --quick shrinks the speed part to hidden 64, batch 1.
set -euo pipefail
cd "$(dirname "$0")/.."

DEPS=build-gpu-deps
DEVICE=cuda
QUICK=0
BUILD=""
# The Debian 12 packages core/CMakeLists.txt finds (absl, yaml-cpp) and their
# shared libraries; LibTorch comes from the PyTorch installation.
DEBS=(libabsl-dev libabsl20220623 libyaml-cpp-dev libyaml-cpp0.7)

for arg in "$@"; do
  case "$arg" in
    --prepare) PREPARE=1 ;;
    --device=*) DEVICE=${arg#--device=} ;;
    --quick) QUICK=1 ;;
    --build=*) BUILD=${arg#--build=} ;;
    *) echo "gpu-check: unknown argument '$arg' (expected --prepare, --device=cuda|cpu, --quick, --build=DIR)" >&2; exit 2 ;;
  esac
done

if [ "${PREPARE:-0}" = 1 ]; then
  rm -rf "$DEPS" && mkdir -p "$DEPS/debs"
  (cd "$DEPS/debs" && apt-get download "${DEBS[@]}" >/dev/null)
  for deb in "$DEPS"/debs/*.deb; do dpkg-deb -x "$deb" "$DEPS/root"; done
  rm -rf "$DEPS/debs"
  echo "gpu-check: $(du -sh "$DEPS" | cut -f1) in $DEPS/ (${DEBS[*]}); carry it to the GPU box"
  exit 0
fi

case "$DEVICE" in
  cuda*)
    PY=${PYTHON:-python3}
    BUILD=${BUILD:-build-gpu}
    [ -d "$DEPS/root" ] || { echo "gpu-check: $DEPS/root missing: run scripts/gpu-check.sh --prepare where apt works and carry $DEPS/" >&2; exit 1; }
    TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
    LIBDIR=$PWD/$DEPS/root/usr/lib/x86_64-linux-gnu
    export LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    echo "gpu-check: torch $("$PY" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))')"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DRRM_WITH_SERVICE=OFF -DRRM_WITH_TESTS=OFF \
      -DCMAKE_PREFIX_PATH="$LIBDIR/cmake;$TORCH_PREFIX" -DCMAKE_INCLUDE_PATH="$PWD/$DEPS/root/usr/include" \
      -DCMAKE_CXX_FLAGS="-isystem $PWD/$DEPS/root/usr/include" > "$BUILD.configure.log" 2>&1 \
      || { tail -30 "$BUILD.configure.log"; exit 1; }
    cmake --build "$BUILD" -j "$(nproc)" --target rrm-measure bench-forward > "$BUILD.build.log" 2>&1 \
      || { tail -30 "$BUILD.build.log"; exit 1; }
    cmake --build "$BUILD" -j "$(nproc)" --target memory-probe > "$BUILD.probe.log" 2>&1 || PROBE_LOG=$BUILD.probe.log
    TOL=1e-4  # other kernels, other summation orders than the CPU reference
    ;;
  cpu)
    PY=/usr/bin/python3
    BUILD=${BUILD:-build}
    [ -f "$BUILD/CMakeCache.txt" ] || { echo "gpu-check: $BUILD/ not configured: run scripts/build.sh first" >&2; exit 1; }
    cmake --build "$BUILD" -j 2 --target rrm-measure bench-forward memory-probe > /dev/null
    TOL=1e-5  # tests/model/parity_test.cc's bound
    ;;
  *) echo "gpu-check: --device: expected cuda, cuda:N or cpu, found '$DEVICE'" >&2; exit 2 ;;
esac

OUT=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

echo
echo "== parity on $DEVICE (teacher-forced segments vs tests/fixtures/*/expected, bound $TOL)"
printf '%-12s %10s %10s %10s %s\n' fixture z_H z_L logits result
status=0
for fx in tests/fixtures/*/; do
  name=$(basename "$fx")
  [ -f "$fx/expected/z_H.npy" ] || continue
  "$BUILD/bin/rrm-measure" --checkpoint="$fx/step_0" --data="$fx/data" --device="$DEVICE" --lyapunov_k=0 \
    --teacher_states="$fx/expected" --dump_states="$OUT/$name" --out="$OUT/$name.jsonl" 2> "$OUT/$name.log" \
    || { cat "$OUT/$name.log"; exit 1; }
  "$PY" - "$fx/expected" "$OUT/$name" "$name" "$TOL" <<'EOF' || status=1
import sys
import numpy as np
expected, got, name, tol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
diffs = [float(np.abs(np.load(f"{got}/{f}.npy").astype(np.float64) - np.load(f"{expected}/{f}.npy")).max())
         for f in ("z_H", "z_L", "logits")]
ok = max(diffs) <= tol
print(f"{name:<12} " + " ".join(f"{d:10.2e}" for d in diffs) + (" ok" if ok else " FAIL"))
sys.exit(0 if ok else 1)
EOF
done
head -1 "$OUT/$name.log"  # rrm-measure's start-up line: threads and BLAS

echo
echo "== device memory on $DEVICE (tools/memory-probe: server/device_memory.cc as rrmd reads it)"
if [ -n "${PROBE_LOG:-}" ]; then
  echo "memory-probe did not build ($PROBE_LOG):"; tail -15 "$PROBE_LOG"; status=1
else
  "$BUILD/bin/memory-probe" --device="$DEVICE" --mib="$([ "$QUICK" = 1 ] && echo 64 || echo 256)" || status=1
fi

echo
echo "== bench-forward on $DEVICE"
if [ "$QUICK" = 1 ]; then
  sizes=(--hidden=64 --batch=1 --k=0,4 --min_seconds=0.05)
else
  sizes=(--hidden=512 --batch="${GPU_CHECK_BATCH:-64}" --k=0,4,8 --min_seconds=1)
fi
"$BUILD/bin/bench-forward" --device="$DEVICE" --family=trm_mlpt,trm,hrm --dtype=float32,bfloat16 "${sizes[@]}"
exit $status
