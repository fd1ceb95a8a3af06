#!/usr/bin/env bash
# Installs the build dependencies on Debian bookworm (apt only; idempotent). Runs apt-get only
# when a package is missing.
set -euo pipefail

packages=(g++ cmake make binutils lld xtensor-dev libxtensor-blas-dev libopenblas-dev
  libopenblas-openmp-dev doctest-dev libxsimd-dev zlib1g-dev)
# Extra packages a command needs only for itself (the classifier's dataset-fashion-mnist).
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  # `dpkg -s` also succeeds for removed-but-not-purged packages: check the status itself.
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all build dependencies are installed"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
