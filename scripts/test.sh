#!/usr/bin/env bash
# Installs missing dependencies, builds (Release) into build/ and runs the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build --parallel "$(nproc)"
# --timeout: a default per-test limit, so that a hanging test fails CI instead of stalling it.
ctest --test-dir build --output-on-failure --timeout 600
