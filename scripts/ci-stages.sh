#!/usr/bin/env bash
# The stages CI runs after scripts/test.sh (see .ci/run), each in a build directory of its own:
#   build-bench/  the benchmark suite's implementations (engine, hand-written cblas reference)
#                 built and cross-checked: loss, gradients and updated weights equal to 1e-10
#                 (tapegrad_bench --verify-only; no timing, no libtorch, no Python);
#   build-asan/   the whole suite again under AddressSanitizer (with LeakSanitizer) and
#                 UndefinedBehaviorSanitizer (-DTAPEGRAD_SANITIZE=address; any report fails it);
#   build-static/ the whole suite (tests, examples, install + find_package consumer) against static
#                 archives (-DTAPEGRAD_SHARED=OFF): a static link must keep every op;
#   build-tsan/   the thread tests (tests/test_threads*.cpp: threads building, differentiating and
#                 training graphs at once, sharing parameters, results compared with serial runs)
#                 under ThreadSanitizer (-DTAPEGRAD_SANITIZE=thread), built against Debian's
#                 default OpenBLAS (-DTAPEGRAD_OPENBLAS_OPENMP=OFF): no OpenMP runtime, whose
#                 synchronization TSan cannot see, and the one build of that option.
# Together about 20-30 minutes on 2 cores. Dependencies: run scripts/setup.sh first (test.sh does).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs=$(nproc)
# libtorch (the benchmark's optional comparison worker) is not needed by any of these stages.
no_torch=(-DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON)

echo "ci-stages: benchmark implementations cross-checked (build-bench)"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release "${no_torch[@]}" -DTAPEGRAD_BUILD_TESTS=OFF \
  -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_BENCHMARKS=ON
cmake --build build-bench --parallel "$jobs" --target tapegrad_bench
./build-bench/benchmarks/tapegrad_bench --verify-only

echo "ci-stages: static libraries, whole suite (build-static)"
cmake -S . -B build-static -DCMAKE_BUILD_TYPE=Release "${no_torch[@]}" -DTAPEGRAD_BUILD_BENCHMARKS=OFF \
  -DTAPEGRAD_SHARED=OFF
cmake --build build-static --parallel "$jobs"
ctest --test-dir build-static --output-on-failure --timeout 1200 --parallel "$jobs"

# -O2 with debug info for readable reports.
sanitized=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "${no_torch[@]}" -DTAPEGRAD_BUILD_BENCHMARKS=OFF)

echo "ci-stages: AddressSanitizer + UndefinedBehaviorSanitizer (build-asan)"
cmake -S . -B build-asan "${sanitized[@]}" -DTAPEGRAD_SANITIZE=address
cmake --build build-asan --parallel "$jobs"
ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:malloc_context_size=64 \
  LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure --timeout 1200 --parallel "$jobs"

echo "ci-stages: ThreadSanitizer, thread tests (build-tsan)"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEGRAD_SANITIZE=thread \
  -DTAPEGRAD_BUILD_EXAMPLES=OFF "${no_torch[@]}" -DTAPEGRAD_BUILD_BENCHMARKS=OFF \
  -DTAPEGRAD_OPENBLAS_OPENMP=OFF
cmake --build build-tsan --target tapegrad_thread_tests --parallel "$jobs"
# OpenBLAS is not instrumented: with its own worker threads TSan cannot see its synchronization.
# One BLAS thread, whichever build is linked (OpenMP: OMP_NUM_THREADS; pthread:
# OPENBLAS_NUM_THREADS).
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan --tests-regex '^tsan/' --output-on-failure --timeout 1200
