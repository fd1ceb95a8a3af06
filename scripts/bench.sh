#!/usr/bin/env bash
# Installs what the benchmarks need (Debian packages only: libtorch-dev, python3-torch,
# python3-numpy, gnuplot-nox, dataset-fashion-mnist), builds tapegrad_bench and the libtorch
# worker (Release, target tapegrad_bench_all) into build/ and runs it: the engine beside
# hand-written cblas backprop, libtorch C++, PyTorch and NumPy in one run. Writes
# benchmarks/results/latest.md, latest.tsv and latest.png and prints the tables.
#
#   bash scripts/bench.sh                 # the default run (about 5 minutes after the build)
#   bash scripts/bench.sh --full          # also 2-thread float32 and W5, ... (about 13 minutes)
#   bash scripts/bench.sh --quick         # a smoke run: 1 thread, 1 round, no W5, no sweep
#   bash scripts/bench.sh --only W1,W4 --threads 1 --rounds 5
#   bash scripts/bench.sh --verify-only   # gradients of the engine == the reference's, no timing
#
# Arguments go to build/benchmarks/tapegrad_bench (see benchmarks/README.md). OpenBLAS runs the
# kernel it picks for this CPU, what users get; set OPENBLAS_CORETYPE yourself (e.g. Haswell for
# the AVX2 kernels on an AVX-512 machine) to compare another one. TAPEGRAD_BUILD_DIR picks another
# build directory than build/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh libtorch-dev python3-torch python3-numpy gnuplot-nox dataset-fashion-mnist

build="${TAPEGRAD_BUILD_DIR:-build}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_BENCHMARKS=ON
cmake --build "$build" --parallel "$(nproc)" --target tapegrad_bench_all

export TAPEGRAD_BENCH_COMMAND="bash scripts/bench.sh${*:+ $*}"
exec "./$build/benchmarks/tapegrad_bench" "$@"
