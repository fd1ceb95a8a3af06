#!/usr/bin/env bash
# Installs missing dependencies, builds (Release) into build/ and runs the tour of the engine:
# the per-op gradient-check table and a hand-built graph, then the XOR tutorial's network (xor)
# and the regression gradient-validation tutorial's (regression_gradcheck) as working examples,
# and one head of self-attention with layer normalization (attention); docs/tutorials.md describes
# both tutorials.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build --parallel "$(nproc)" --target tour xor regression_gradcheck attention
for example in tour xor regression_gradcheck attention; do
  echo
  echo "==== build/examples/$example ===="
  "./build/examples/$example"
done
