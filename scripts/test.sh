#!/usr/bin/env bash
# Installs missing dependencies, builds (Release) into build/ what the tests need (the libraries,
# the test suite, the examples it runs, the fuzz corpus replayer; not the benchmarks) and runs the
# whole suite with ctest. About 3.5 minutes from a fresh clone on 2 cores, most of it the build.
# The slower stages (sanitizers, the benchmark cross-check) are scripts/ci-stages.sh; .ci/run runs
# this script, then that one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs=$(nproc)
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_TESTS=ON
cmake --build build --parallel "$jobs"
# --timeout: a per-test limit, so that a hanging test fails instead of stalling the run.
ctest --test-dir build --output-on-failure --timeout 600 --parallel "$jobs"
