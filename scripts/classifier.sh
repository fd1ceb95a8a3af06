#!/usr/bin/env bash
# Installs what the classifier example alone needs (Debian's Fashion-MNIST, and gnuplot-nox to
# draw the training curves) with the build dependencies when missing, builds, and trains both
# variants (the course notes' sigmoid network, then the modern one). Extra arguments go to
# build/examples/classifier (--variant sigmoid|modern|both, --epochs N, --skip-lbfgs, ...).
#
# Left in the repository root (the script runs there), unless --out says otherwise:
#   classifier_model.npz         and its history .npz.history.csv / .npz.history.png
#   classifier_model_modern.npz  and its history .npz.history.csv / .npz.history.png
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh dataset-fashion-mnist gnuplot-nox
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build --parallel "$(nproc)" --target classifier
./build/examples/classifier "$@"
