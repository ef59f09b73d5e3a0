#!/usr/bin/env bash
# Builds the lazyllm CLI as it was at a commit (Release, from a clean export of that tree, in
# build-compare/REV/, once per commit) and prints the binary's path: the "before" side of
# tools/compare_outputs.sh and bench/compare_builds.sh.
#
#   tools/build_at.sh REV
set -euo pipefail
cd "$(dirname "$0")/.."
rev=$(git rev-parse --short "${1:?usage: tools/build_at.sh REV}")
dir=build-compare/$rev
if [ ! -x "$dir/build/bin/lazyllm" ]; then
  rm -rf "$dir"
  mkdir -p "$dir/src"
  git archive "$rev" | tar -x -C "$dir/src"
  cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DLAZYLLM_BUILD_TESTS=OFF \
    -DLAZYLLM_BUILD_BENCH=OFF -DLAZYLLM_INSTALL=OFF >/dev/null 2>&1
  cmake --build "$dir/build" -j"$(nproc)" --target lazyllm_cli >"$dir/build.log" 2>&1 ||
    { echo "build_at: building $rev failed (see $dir/build.log)" >&2; exit 2; }
fi
echo "$PWD/$dir/build/bin/lazyllm"
