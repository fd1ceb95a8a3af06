#!/usr/bin/env bash
# Regenerates cmake/hot_functions.txt: the library functions (mangled names) that a training
# step runs, from the benchmark workloads (W1-W5 and the chain, float64 and float32, eager and
# replayed) under callgrind, steps only (set-up excluded). The shared libraries' link lays these
# out together (lld --symbol-ordering-file), so that a training process maps a few 64-KiB windows
# of their code instead of one per op file it touches. A name that no longer exists is ignored
# (it only loses its place): rerun after renaming or adding hot functions.
#
#   bash scripts/hot-functions.sh        # about 5 minutes; builds build-bench/ first
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh valgrind
build="${TAPEGRAD_BUILD_DIR:-build-bench}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target tapegrad_bench

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# W4's network at a width and batch of 64 (the same functions, a fraction of the time under
# callgrind); W5 on synthetic data.
specs=("w=W1" "w=W2" "w=W3" "w=mlp,width=64,batch=64,act=sigmoid" "w=mlp,width=64,batch=64,act=relu"
  "w=W5,data=synthetic,n=600" "w=chain,ops=100")
n=0
for impl in engine replay; do
  for dtype in f64 f32; do
    for spec in "${specs[@]}"; do
      n=$((n + 1))
      group=other
      [[ $spec == w=W5* ]] && group=epoch
      echo "memory $spec,dtype=$dtype 3" | OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
        valgrind --tool=callgrind --demangle=no --collect-atstart=no '--toggle-collect=*run_partial*' \
        --callgrind-out-file="$work/$group-$n.out" "./$build/benchmarks/tapegrad_bench" \
        --worker "$impl" >/dev/null 2>&1
    done
  done
done
# Every function of the two libraries that ran, from each profile's listing
# ("  1,234 (0.01%)  ???:<mangled name> [/path/libtapegrad_autodiff.so...]").
functions() {
  for f in "$@"; do
    callgrind_annotate --threshold=100 "$f" 2>/dev/null |
      sed -nE 's/^ *[0-9,]+ +\([ 0-9.]+%\) +[^ ]*:([^ :]+) .*\[.*libtapegrad_(autodiff|nn)\.so.*\]$/\1/p'
  done | sed "s/'.*//" | sort -u
}
# The epoch's functions first, together: its peak memory counts the code pages it touches (the
# tiny networks' own functions, among them, took W5 about 100 KiB more). Then the others'.
functions "$work"/epoch-*.out >"$work/epoch"
functions "$work"/*.out | grep -vxFf "$work/epoch" >"$work/other" || true
cat "$work/epoch" "$work/other" >cmake/hot_functions.txt
echo "cmake/hot_functions.txt: $(wc -l <cmake/hot_functions.txt) functions"
