#!/usr/bin/env bash
# Installs Debian's Fashion-MNIST (and the build dependencies) when missing, builds, and trains
# the classifier example: extra arguments go to build/examples/classifier.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh dataset-fashion-mnist
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build --parallel "$(nproc)" --target classifier
./build/examples/classifier "$@"
