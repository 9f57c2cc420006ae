#!/usr/bin/env bash
# Usage: deploy/runtime-packages.sh [--skip=PREFIX]... [--allow-missing=NAME]... BINARY...
#
# Prints, one per line and sorted, the distribution packages that own the shared
# libraries BINARY... load at run time (the whole closure `ldd` resolves). The
# Dockerfile's build stage writes this list to a file and the slim runtime stage
# `apt-get install`s exactly it, so the runtime image carries the libraries the
# binaries were linked against and nothing else; nobody keeps the list by hand.
#
# Each library is resolved with `readlink -f` (through /etc/alternatives) and mapped
# with `dpkg-query -S`. Debian 12 and Ubuntu 24.04 merged /lib into /usr/lib but
# packages still name the unmerged paths, so both spellings are tried.
#
#   --skip=PREFIX         libraries under PREFIX are not packages: they are copied
#                         into the image (default: /opt/libtorch/, the CUDA stage's
#                         LibTorch, which ships its own CUDA, cuDNN and NCCL)
#   --allow-missing=NAME  a library ldd cannot find at build time that the run time
#                         provides (default: libcuda.so.1, the NVIDIA driver, mounted
#                         into the container by the NVIDIA container toolkit)
#
# The BLAS alternative: LibTorch (Debian's libtorch) calls whatever libblas.so.3 the
# alternatives system selects; scripts/setup.sh selects BLIS (docs/performance.md),
# so libblas.so.3 must resolve to libblis4-openmp here, and the runtime stage
# selects it again with update-alternatives. Anything else is refused, loudly.
set -euo pipefail

skip=(/opt/libtorch/)
allow_missing=(libcuda.so.1)
binaries=()
for arg in "$@"; do
  case "$arg" in
    --skip=*) skip+=("${arg#--skip=}") ;;
    --allow-missing=*) allow_missing+=("${arg#--allow-missing=}") ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    -*) echo "runtime-packages: unknown option $arg" >&2; exit 2 ;;
    *) binaries+=("$arg") ;;
  esac
done
if ((${#binaries[@]} == 0)); then
  echo "runtime-packages: usage: $0 [--skip=PREFIX]... [--allow-missing=NAME]... BINARY..." >&2
  exit 2
fi
BLAS_PACKAGE=libblis4-openmp

fail() { echo "runtime-packages: $*" >&2; exit 1; }

skipped() {
  local path=$1 prefix
  for prefix in "${skip[@]}"; do [[ "$path" == "$prefix"* ]] && return 0; done
  return 1
}

# First pass: every library of the closure, as "name<TAB>ldd path<TAB>real path".
libs=()
for binary in "${binaries[@]}"; do
  [ -x "$binary" ] || fail "$binary: not an executable file"
  ldd_out=$(ldd "$binary") || fail "ldd $binary failed"
  while read -r name arrow path _; do
    case "$name" in linux-vdso.so.*|linux-gate.so.*) continue ;; esac
    if [ "$arrow" != "=>" ]; then  # "/lib64/ld-linux-x86-64.so.2 (0x...)": the loader
      path=$name
    fi
    if [ "$path" = "not" ]; then  # "libX.so => not found"
      allowed=0
      for a in "${allow_missing[@]}"; do [ "$name" = "$a" ] && allowed=1; done
      ((allowed)) || fail "$binary: ldd cannot find $name (and it is not --allow-missing)"
      continue
    fi
    real=$(readlink -f "$path")
    if skipped "$path" || skipped "$real"; then continue; fi
    libs+=("$name"$'\t'"$path"$'\t'"$real")
  done <<<"$ldd_out"
done

# Second pass: one dpkg-query for every spelling of every path (one call is ~50x
# faster than one per library). Its lines are "pkg:arch: /path" or "pkg1, pkg2: /path";
# a path nobody owns only gives a message on stderr.
declare -A spellings=() owner=()
for lib in "${libs[@]}"; do
  IFS=$'\t' read -r name path real <<<"$lib"
  for p in "$real" "$path"; do
    for candidate in "$p" "${p#/usr}" "/usr$p"; do
      [[ "$candidate" == /* ]] && spellings[$candidate]=1
    done
  done
done
if ((${#spellings[@]})); then
  while IFS= read -r line; do
    case "$line" in diversion*) continue ;; esac
    file=${line#*: }
    pkg=${line%%: /*}
    pkg=${pkg%%,*}
    owner[$file]=${pkg%%:*}
  done < <(dpkg-query -S "${!spellings[@]}" 2>/dev/null || true)
fi

declare -A packages=()
for lib in "${libs[@]}"; do
  IFS=$'\t' read -r name path real <<<"$lib"
  pkg=""
  for p in "$real" "$path"; do
    for candidate in "$p" "${p#/usr}" "/usr$p"; do
      [ -z "$pkg" ] && [ -n "${owner[$candidate]:-}" ] && pkg=${owner[$candidate]}
    done
  done
  [ -n "$pkg" ] || fail "no package owns $name ($path -> $real)"
  if [ "$name" = libblas.so.3 ] && [ "$pkg" != "$BLAS_PACKAGE" ]; then
    fail "libblas.so.3 resolves to $real of package $pkg, expected $BLAS_PACKAGE" \
         "(run scripts/setup.sh, which selects BLIS with update-alternatives)"
  fi
  packages[$pkg]=1
done

printf '%s\n' "${!packages[@]}" | sort
