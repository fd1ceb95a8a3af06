#!/usr/bin/env bash
# Installs missing dependencies, builds (Release) into build/ and runs the test suite. Then the
# sanitizer stages:
#   build-asan/  the whole suite again under AddressSanitizer (with LeakSanitizer) and
#                UndefinedBehaviorSanitizer (-DTAPEGRAD_SANITIZE=address; any report fails it);
#   build-tsan/  the thread tests (tests/test_threads*.cpp: several threads building,
#                differentiating and training their own graphs at once, results compared bit for
#                bit with single-threaded runs) under ThreadSanitizer (-DTAPEGRAD_SANITIZE=thread).
# TAPEGRAD_SANITIZERS=0 skips the sanitizer stages (a quick local run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs=$(nproc)
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build --parallel "$jobs"
# --timeout: a default per-test limit, so that a hanging test fails CI instead of stalling it.
ctest --test-dir build --output-on-failure --timeout 600

if [[ "${TAPEGRAD_SANITIZERS:-1}" == 0 ]]; then
  echo "test.sh: TAPEGRAD_SANITIZERS=0, sanitizer builds skipped"
  exit 0
fi

# -O2 with debug info for readable reports. libtorch (the benchmark's optional comparison worker)
# is not instrumented and no test needs it: left out of the sanitizer builds.
sanitized=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON)

echo "test.sh: AddressSanitizer + UndefinedBehaviorSanitizer (build-asan)"
cmake -S . -B build-asan "${sanitized[@]}" -DTAPEGRAD_SANITIZE=address
cmake --build build-asan --parallel "$jobs"
ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:malloc_context_size=64 \
  LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure --timeout 1200 --parallel "$jobs"

echo "test.sh: ThreadSanitizer, thread tests (build-tsan)"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEGRAD_SANITIZE=thread \
  -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_BENCHMARKS=OFF
cmake --build build-tsan --target tapegrad_thread_tests --parallel "$jobs"
# OpenBLAS is not instrumented: with its own worker threads TSan cannot see its synchronization.
OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan --tests-regex '^tsan/' --output-on-failure --timeout 1200
