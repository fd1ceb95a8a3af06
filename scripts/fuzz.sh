#!/usr/bin/env bash
# Builds the ops fuzzer (fuzz/ops_fuzzer.cpp) with clang++ -fsanitize=fuzzer,address,undefined and
# runs it for SECONDS (default 600) on 2 jobs, starting from the committed seed corpus fuzz/corpus.
# New inputs go to the working corpus $FUZZ_BUILD_DIR/corpus (not committed), crashes to
# $FUZZ_BUILD_DIR/artifacts/. Usage: bash scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
# Replay one input: $FUZZ_BUILD_DIR/fuzz/ops_fuzzer <file> (OPS_FUZZER_TRACE=1 prints the program).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-600}
shift || true
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc)}

# clang 16 and its runtimes (libclang-rt-16-dev: libFuzzer and the sanitizer runtimes) are needed
# by this script only, so they are installed here, not by the main build. (Bookworm's default
# clang 14 cannot compile the engine: it lacks C++20 lambda captures of structured bindings.)
bash scripts/setup.sh clang-16 libclang-rt-16-dev
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTAPEGRAD_SANITIZE=address -DTAPEGRAD_BUILD_FUZZER=ON -DTAPEGRAD_BUILD_TESTS=OFF \
  -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_BENCHMARKS=OFF
cmake --build "$build" --target ops_fuzzer --parallel "$(nproc)"

mkdir -p "$build/corpus" "$build/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OPENBLAS_NUM_THREADS=1
# -fork: jobs in parallel sharing one corpus; a crash is saved to artifacts/ and fuzzing stops.
"$build/fuzz/ops_fuzzer" -fork="$jobs" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$build/artifacts/" "$@" "$build/corpus" fuzz/corpus
