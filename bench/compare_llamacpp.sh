#!/usr/bin/env bash
# Side-by-side prefill and decode throughput of lazyllm and llama.cpp's llama-bench on the same
# GGUF files and thread count, case by case in one run (the two tools alternate, so both see the
# same machine noise). Prints a markdown table with the ratio lazyllm / llama.cpp.
#
#   bench/compare_llamacpp.sh LLAMA_BENCH MODEL.gguf [PROMPTS] [GEN] [THREADS] [REPS]
#   e.g. bench/compare_llamacpp.sh ~/llama.cpp/build/bin/llama-bench m.gguf 512,2048 32 2 3
#
# PROMPTS: prefill sizes (pruning off; 0 to skip); GEN: decode tokens (0 to skip). llama.cpp is built
# outside this repository (see docs/performance.md). Needs python3 to read the JSON.
set -euo pipefail
LLAMA_BENCH=$1 MODEL=$2 PROMPTS=${3:-512} GEN=${4:-32} THREADS=${5:-2} REPS=${6:-3}
LAZYLLM=${LAZYLLM:-$(dirname "$0")/../build/bin/lazyllm}
LAZYLLM_FLAGS=${LAZYLLM_FLAGS:-}  # extra lazyllm bench flags, e.g. --int8-act
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

summarise() {  # kind size lazyllm.json llama.json
  python3 - "$@" <<'PY'
import json, sys
kind, size, ours, theirs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
o = json.load(open(ours))[0]
t = json.load(open(theirs))[0]
key = "prefill_tokens_per_s" if kind == "pp" else "decode_tokens_per_s"
om, osd = o[key]["mean"], o[key]["stddev"]
tm, tsd = t["avg_ts"], t["stddev_ts"]
print(f"| {kind}{size} | {om:.1f} ± {osd:.1f} | {tm:.1f} ± {tsd:.1f} | {om / tm:.2f}x |")
PY
}

echo "model: $MODEL, threads: $THREADS, repetitions: $REPS, $(date -u +%Y-%m-%d)"
echo
echo "| test | lazyllm t/s | llama.cpp t/s | ratio |"
echo "| --- | ---: | ---: | ---: |"
IFS=, read -ra ps <<<"$PROMPTS"
[ "$PROMPTS" = 0 ] && ps=()
for p in "${ps[@]}"; do
  "$LLAMA_BENCH" -m "$MODEL" -p "$p" -n 0 -t "$THREADS" -r "$REPS" -o json >"$tmp/theirs.json" 2>/dev/null
  "$LAZYLLM" bench -m "$MODEL" -p "$p" -n 0 -t "$THREADS" -r "$REPS" --prune off $LAZYLLM_FLAGS -o json >"$tmp/ours.json" 2>/dev/null
  summarise pp "$p" "$tmp/ours.json" "$tmp/theirs.json"
done
if [ "$GEN" != 0 ]; then
  "$LLAMA_BENCH" -m "$MODEL" -p 0 -n "$GEN" -t "$THREADS" -r "$REPS" -o json >"$tmp/theirs.json" 2>/dev/null
  "$LAZYLLM" bench -m "$MODEL" -p 1 -n "$GEN" -t "$THREADS" -r "$REPS" --prune off $LAZYLLM_FLAGS -o json >"$tmp/ours.json" 2>/dev/null
  summarise tg "$GEN" "$tmp/ours.json" "$tmp/theirs.json"
fi
