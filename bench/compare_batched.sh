#!/usr/bin/env bash
# Batched throughput of lazyllm (`lazyllm bench --batch`) beside llama.cpp's llama-batched-bench
# on the same GGUF file and thread count: B independent prompts of NPP tokens, then NTG decode
# tokens each. The two tools alternate batch size by batch size, so both see the same machine
# noise. Prints a markdown table of prefill, aggregate decode and total tokens/s with the ratio
# lazyllm / llama.cpp, and lazyllm's KV bytes.
#
#   bench/compare_batched.sh LLAMA_BATCHED_BENCH MODEL.gguf [NPP] [NTG] [BATCHES] [THREADS] [REPS]
#   e.g. bench/compare_batched.sh ~/llama.cpp/build/bin/llama-batched-bench m.gguf 128 32 1,8,32 2 1
#
# llama.cpp is built outside this repository (see docs/performance.md). LAZYLLM_FLAGS adds lazyllm
# bench flags (e.g. --kv-type f16). Needs python3 to read the JSON.
set -euo pipefail
LLAMA_BATCHED=$1 MODEL=$2 NPP=${3:-128} NTG=${4:-32} BATCHES=${5:-1,8,32} THREADS=${6:-2} REPS=${7:-1}
LAZYLLM=${LAZYLLM:-$(dirname "$0")/../build/bin/lazyllm}
LAZYLLM_FLAGS=${LAZYLLM_FLAGS:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "model: $MODEL, threads: $THREADS, -npp $NPP -ntg $NTG, lazyllm repetitions: $REPS, $(date -u +%Y-%m-%d)"
echo "OPENBLAS_CORETYPE: ${OPENBLAS_CORETYPE:-unset}"
echo
echo "| B | prefill lazyllm | prefill llama.cpp | ratio | decode lazyllm | decode llama.cpp | ratio | total lazyllm | total llama.cpp | ratio | lazyllm KV MiB |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
IFS=, read -ra bs <<<"$BATCHES"
for b in "${bs[@]}"; do
  ctx=$((b * (NPP + NTG) + 16))
  "$LLAMA_BATCHED" -m "$MODEL" -c "$ctx" -b 2048 -ub 512 -npp "$NPP" -ntg "$NTG" -npl "$b" -t "$THREADS" \
    --output-format jsonl 2>/dev/null | grep '^{' >"$tmp/theirs.jsonl"
  "$LAZYLLM" bench -m "$MODEL" --batch "$b" -p "$NPP" -n "$NTG" -t "$THREADS" -r "$REPS" --prune off $LAZYLLM_FLAGS \
    -o json >"$tmp/ours.json" 2>/dev/null
  python3 - "$tmp/ours.json" "$tmp/theirs.jsonl" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))[0]
t = json.loads(open(sys.argv[2]).read().splitlines()[-1])
row = [str(o["batch"])]
for ours, theirs in (("prefill_tokens_per_s", "speed_pp"), ("decode_tokens_per_s", "speed_tg"), ("total_tokens_per_s", "speed")):
    om = o[ours]["mean"]
    row += [f"{om:.1f}", f"{t[theirs]:.1f}", f"{om / t[theirs]:.2f}x"]
row.append(f"{o['kv_bytes']['mean'] / 1048576:.1f}")
print("| " + " | ".join(row) + " |")
PY
done
