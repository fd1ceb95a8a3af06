#!/usr/bin/env bash
# Builds a fuzzer with clang++ -fsanitize=fuzzer,address,undefined and runs it for SECONDS (default
# 600) in one process, starting from its committed seed corpus: FUZZ_TARGET=ops (the default) the
# ops fuzzer (fuzz/ops_fuzzer.cpp, seeds fuzz/corpus), FUZZ_TARGET=files the file readers' fuzzer
# (fuzz/files_fuzzer.cpp, seeds fuzz/files_corpus). New inputs go to the working corpus
# $FUZZ_BUILD_DIR/corpus-<target> (not committed), crashes to $FUZZ_BUILD_DIR/artifacts-<target>/.
# Usage: bash scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
# Replay one input: $FUZZ_BUILD_DIR/fuzz/ops_fuzzer <file> (OPS_FUZZER_TRACE=1 prints the program),
# $FUZZ_BUILD_DIR/fuzz/files_fuzzer <file> (FILES_FUZZER_TRACE=1 prints what each reader did).
#
# Environment: FUZZ_TARGET (ops or files); FUZZ_BUILD_DIR (default build-fuzz); FUZZ_JOBS (default
# 1: one process, no fork; N > 1 runs libFuzzer's -fork=N); FUZZ_MAX_LEN (default 4096 bytes);
# FUZZ_MALLOC_LIMIT_MB (the largest single allocation: 12 for files, 2048 for ops);
# FUZZ_BUILD_JOBS (build parallelism, default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-600}
shift || true
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-1}
max_len=${FUZZ_MAX_LEN:-4096}
target=${FUZZ_TARGET:-ops}
# Files: no single allocation may pass 12 MiB. An input of at most 4 KiB legitimately needs about
# 4 MiB at most (a deflated member expands at most 1032:1, an IDX buffer grows with what arrives);
# more means a size was taken from a header on trust. (libFuzzer's default is the RSS limit.)
case "$target" in
  ops) seeds=fuzz/corpus malloc_limit=${FUZZ_MALLOC_LIMIT_MB:-2048} ;;
  files) seeds=fuzz/files_corpus malloc_limit=${FUZZ_MALLOC_LIMIT_MB:-12} ;;
  *) echo "fuzz.sh: FUZZ_TARGET must be ops or files, not '$target'" >&2; exit 2 ;;
esac

# clang 16 and its runtimes (libclang-rt-16-dev: libFuzzer and the sanitizer runtimes;
# llvm-16 ships llvm-symbolizer-16) are needed by this script only, so they are installed here,
# not by the main build. (Bookworm's default clang 14 cannot compile the engine: it lacks C++20
# lambda captures of structured bindings.)
bash scripts/setup.sh clang-16 libclang-rt-16-dev llvm-16
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTAPEGRAD_SANITIZE=address -DTAPEGRAD_BUILD_FUZZER=ON -DTAPEGRAD_BUILD_TESTS=OFF \
  -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_BENCHMARKS=OFF
cmake --build "$build" --target "${target}_fuzzer" --parallel "${FUZZ_BUILD_JOBS:-2}"

# The ops target keeps the directory names it had before there were two targets.
if [[ $target == ops ]]; then suffix=""; else suffix="-$target"; fi
corpus=$build/corpus$suffix artifacts=$build/artifacts$suffix
mkdir -p "$corpus" "$artifacts"
# Readable stacks: without a symbolizer ASan and UBSan print bare addresses.
symbolizer=$(command -v llvm-symbolizer-16 || echo /usr/lib/llvm-16/bin/llvm-symbolizer)
[[ -x "$symbolizer" ]] || { echo "fuzz.sh: no llvm-symbolizer-16 (apt install llvm-16)" >&2; exit 1; }
export ASAN_SYMBOLIZER_PATH=$symbolizer UBSAN_SYMBOLIZER_PATH=$symbolizer
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:symbolize=1}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1  # one BLAS thread, OpenMP or pthread build
# -max_len: without it libFuzzer caps inputs near the seeds' length (every input stayed at 67
# bytes or less in fork mode), too short for large leaves and long programs.
flags=(-max_total_time="$seconds" -max_len="$max_len" -timeout=20 -rss_limit_mb=2048
  -malloc_limit_mb="$malloc_limit" -print_final_stats=1 -artifact_prefix="$artifacts/")
# One process by default: a crash stops fuzzing with its input in artifacts/. -fork=N runs N
# workers sharing one corpus.
if ((jobs > 1)); then flags+=(-fork="$jobs"); fi
"$build/fuzz/${target}_fuzzer" "${flags[@]}" "$@" "$corpus" "$seeds"
