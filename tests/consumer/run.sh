#!/usr/bin/env bash
# Installs the built library without the CLI (components lib and dev) into a temporary prefix,
# builds the consumers against it and runs them.
set -euo pipefail
build_dir=$1 src_dir=$2 model=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for component in lib dev; do
  cmake --install "$build_dir" --prefix "$work/prefix" --component "$component" >/dev/null
done
if [ -e "$work/prefix/bin/lazyllm" ]; then
  echo "the lib and dev components installed the CLI" >&2
  exit 1
fi
cmake -S "$src_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
out=$("$work/build/consumer" "$model")
echo "$out"
[[ "$out" == ", there was a little girl named Lily"* ]]
out=$("$work/build/c_consumer" "$model")
echo "$out"
[[ "$out" == ", there was a little girl named Lily"* ]]
