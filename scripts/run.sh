#!/usr/bin/env bash
# Installs missing dependencies, builds (Release) into build/ and runs the tour of the engine:
# the per-op gradient-check table and a hand-built graph, then the XOR tutorial's network (xor)
# and the regression gradient-validation tutorial's (regression_gradcheck) as working examples,
# one head of self-attention with layer normalization (attention), and everyday nn training from a
# CSV file (spiral, the README's nn section); docs/tutorials.md describes both tutorials.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build --parallel "$(nproc)" --target tour xor regression_gradcheck attention spiral
for example in tour xor regression_gradcheck attention spiral; do
  echo
  echo "==== build/examples/$example ===="
  "./build/examples/$example"
done
