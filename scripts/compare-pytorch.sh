#!/usr/bin/env bash
# Compares the op vocabulary's values and gradients with PyTorch's (float64) on fixed inputs with
# ties and zeros: tests/pytorch/ops_vs_torch.{cpp,py}. Installs Debian's python3-torch if missing,
# builds the library (Release, build/) and the comparison program, and exits 1 on any mismatch.
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
