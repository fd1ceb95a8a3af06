#!/usr/bin/env bash
# Prints which BLAS a shared library or executable links against and fails unless it is OpenBLAS.
# libblas3 (the reference BLAS, 8x slower on GEMM) is also installed here, so check the result.
# With a directory as second argument, it also fails unless libopenblas loads from there at run
# time (OpenBLAS's OpenMP build, which is not the system's default libopenblas.so.0).
# Usage: scripts/check-openblas.sh build/autodiff/libtapegrad_autodiff.so [openblas-dir]
set -euo pipefail

lib=${1:?usage: $0 <library-or-executable> [openblas-dir]}
want_dir=${2:-}
[[ -f $lib ]] || { echo "check-openblas: no such file: $lib" >&2; exit 1; }

needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -i -E 'blas|lapack' || true)
echo "check-openblas: $lib"
echo "  NEEDED BLAS entries: ${needed:-<none>}"
for n in $needed; do
  resolved=$(ldd "$lib" | awk -v n="$n" '$1 == n && $3 ~ /^\// { print $3 }')
  if [[ -n $resolved ]]; then
    echo "  $n => $resolved (real file: $(readlink -f "$resolved"))"
  else
    echo "  $n => not found"
  fi
done

if ! grep -q -E '^libopenblas' <<<"$needed"; then
  echo "check-openblas: FAIL: $lib does not link libopenblas directly" >&2
  exit 1
fi
if ldd "$lib" | grep -E 'libopenblas' | grep -q 'not found'; then
  echo "check-openblas: FAIL: libopenblas is not found at run time" >&2
  exit 1
fi
if [[ -n $want_dir ]]; then
  loaded=$(ldd "$lib" | awk '$1 ~ /^libopenblas/ { print $3; exit }')
  if [[ "$(dirname "$loaded")" != "${want_dir%/}" ]]; then
    echo "check-openblas: FAIL: libopenblas loads from $loaded, not from $want_dir" >&2
    exit 1
  fi
  echo "check-openblas: OK (OpenBLAS from $want_dir)"
  exit 0
fi
echo "check-openblas: OK (OpenBLAS)"
