#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
# Tests use 1 intra-op thread per process so parallel ctest jobs do not oversubscribe.
export OMP_NUM_THREADS=1
ctest --test-dir build --output-on-failure -j "${JOBS:-2}"
# The Python client against a real rrmd from this build.
RRM_BUILD_DIR=build /usr/bin/python3 -m pytest -q tests/python
# The deployment files (deploy/, docker-compose*.yml) against each other and a real rrmd.
scripts/check-deploy.sh
scripts/gpu-check.sh --device=cpu --quick  # the GPU check's dry run (parity + bench-forward), so it cannot rot
tools/bench-all --quick >/dev/null  # the end-to-end benchmark's smoke run (~30 s), so it cannot rot
tools/bench-propagator --fixtures hrm --k 1 >/dev/null  # the propagator benchmark's smoke run (~45 s)
