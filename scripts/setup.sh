#!/usr/bin/env bash
# Installs the Debian packages in scripts/packages.txt that are missing (and only
# those), then points libblas.so.3 at an optimised BLAS.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t wanted < <(grep -v '^\s*#' scripts/packages.txt | grep -v '^\s*$')
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# LibTorch calls whatever libblas.so.3 the alternatives system selects; the netlib
# reference BLAS is ~15x slower than BLIS here (see docs/performance.md).
blis=/usr/lib/x86_64-linux-gnu/blis-openmp/libblas.so.3
if [ -e "$blis" ] && [ "$(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null)" != "$blis" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu "$blis" >/dev/null || true
fi
# Installing OpenBLAS (the launcher may pick it per process, core/common/cpu_setup.h)
# can also switch the LAPACK alternative; keep the reference LAPACK the tests were
# written against, so linalg results do not depend on install order.
lapack=/usr/lib/x86_64-linux-gnu/lapack/liblapack.so.3
if [ -e "$lapack" ] && [ "$(readlink -f /etc/alternatives/liblapack.so.3-x86_64-linux-gnu 2>/dev/null)" != "$lapack" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO update-alternatives --set liblapack.so.3-x86_64-linux-gnu "$lapack" >/dev/null || true
fi
