#!/usr/bin/env bash
# Installs lazyllm's Debian build dependencies (when run as root and missing) and builds build/.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(build-essential cmake pkg-config git libtbb-dev libhwloc-dev libopenblas-dev libpcre2-dev libcli11-dev
      nlohmann-json3-dev libcpp-httplib-dev googletest libgtest-dev libbenchmark-dev clang clang-format wrk
      haproxy curl libopenmpi-dev openmpi-bin)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# Node and npm for the OpenAI-client test (a node from elsewhere, e.g. NodeSource's, will do).
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
