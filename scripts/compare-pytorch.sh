#!/usr/bin/env bash
# Compares the op vocabulary's values and gradients with PyTorch's (float64): on fixed inputs with
# ties and zeros (tests/pytorch/ops_vs_torch.{cpp,py}), then on random graphs of every op, their
# first and second-order gradients included (tests/pytorch/random_graphs.{cpp,py}; GRAPHS of them,
# default 3000, from SEED, default 1), in double and in float. Installs Debian's python3-torch if
# missing, builds the library (Release, build/) and the comparison programs, and exits 1 on any
# mismatch.
# Usage: bash scripts/compare-pytorch.sh [GRAPHS] [SEED] [--specials]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  apt-get install -y --no-install-recommends python3-torch
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build --parallel "$(nproc)" --target tapegrad_autodiff
g++ -std=c++20 -O1 -Iautodiff/include tests/pytorch/ops_vs_torch.cpp -Lbuild/autodiff \
  -ltapegrad_autodiff -Wl,-rpath,"$PWD/build/autodiff" -o build/ops_vs_torch
./build/ops_vs_torch > build/ops_vs_torch.txt
/usr/bin/python3 tests/pytorch/ops_vs_torch.py build/ops_vs_torch.txt
g++ -std=c++20 -O1 -Iautodiff/include tests/pytorch/random_graphs.cpp -Lbuild/autodiff \
  -ltapegrad_autodiff -Wl,-rpath,"$PWD/build/autodiff" -o build/random_graphs
/usr/bin/python3 tests/pytorch/random_graphs.py build/random_graphs "${1:-3000}" "${2:-1}" "${@:3}"
# The same graphs with the engine in float (its own kernels), against the double reference.
/usr/bin/python3 tests/pytorch/random_graphs.py build/random_graphs "${1:-3000}" "${2:-1}" --float
