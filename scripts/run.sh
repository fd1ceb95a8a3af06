#!/usr/bin/env bash
# Installs missing dependencies, builds (Release) into build/ and runs the tour of the engine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build --parallel "$(nproc)" --target tour
./build/examples/tour "$@"
