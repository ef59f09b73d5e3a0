#!/usr/bin/env bash
# Installs the built lazyllm into a temporary prefix, builds the consumer against it and runs it.
set -euo pipefail
build_dir=$1 src_dir=$2 model=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$src_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
out=$("$work/build/consumer" "$model")
echo "$out"
[[ "$out" == ", there was a little girl named Lily"* ]]
