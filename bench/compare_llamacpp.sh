#!/usr/bin/env bash
# Side-by-side prefill and decode throughput of lazyllm and llama.cpp's llama-bench on the same
# GGUF files and thread count, case by case in one run (the tools alternate, so all see the same
# machine noise). Prints a markdown table with the ratios lazyllm / llama.cpp.
#
#   bench/compare_llamacpp.sh LLAMA_BENCH MODEL.gguf [PROMPTS] [GEN] [THREADS] [REPS]
#   e.g. bench/compare_llamacpp.sh ~/llama.cpp/build/bin/llama-bench m.gguf 512,2048 32 2 3
#
# When the environment pins OpenBLAS (OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE set), lazyllm runs
# twice per case: as the environment says, and with both variables unset for that one command
# (OpenBLAS's own choice of kernels, what a user's machine gets); each column names the OpenBLAS
# kernels its records report. PROMPTS: prefill sizes (pruning off; 0 to skip); GEN: decode tokens
# (0 to skip). llama.cpp is built outside this repository (see docs/performance.md). Needs python3.
set -euo pipefail
LLAMA_BENCH=$1 MODEL=$2 PROMPTS=${3:-512} GEN=${4:-32} THREADS=${5:-2} REPS=${6:-3}
LAZYLLM=${LAZYLLM:-$(dirname "$0")/../build/bin/lazyllm}
LAZYLLM_FLAGS=${LAZYLLM_FLAGS:-}  # extra lazyllm bench flags, e.g. --int8-act
pinned=0
[ -n "${OPENBLAS_CORETYPE:-}${OPENBLAS_L2_SIZE:-}" ] && pinned=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

summarise() {  # kind size llama.json lazyllm.json [lazyllm-own-choice.json]
  python3 - "$@" <<'PY'
import json, sys
kind, size, theirs, ours = sys.argv[1:5]
own = sys.argv[5] if len(sys.argv) > 5 else None
key = "prefill_tokens_per_s" if kind == "pp" else "decode_tokens_per_s"
t = json.load(open(theirs))[0]
tm, tsd = t["avg_ts"], t["stddev_ts"]
cells = []
for path in [ours] + ([own] if own else []):
    o = json.load(open(path))[0]
    om, osd = o[key]["mean"], o[key]["stddev"]
    cells.append(f"{om:.1f} ± {osd:.1f} ({o['blas_core']}) | {om / tm:.2f}x")
print(f"| {kind}{size} | " + " | ".join(cells) + f" | {tm:.1f} ± {tsd:.1f} |")
PY
}

bench_ours() {  # out.json bench args...
  local out=$1
  shift
  "$LAZYLLM" bench -m "$MODEL" "$@" -t "$THREADS" -r "$REPS" --prune off $LAZYLLM_FLAGS -o json >"$out" 2>/dev/null
  if [ "$pinned" = 1 ]; then
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      "$LAZYLLM" bench -m "$MODEL" "$@" -t "$THREADS" -r "$REPS" --prune off $LAZYLLM_FLAGS -o json >"${out%.json}.own.json" 2>/dev/null
  fi
}

own_file() { [ "$pinned" = 1 ] && echo "${1%.json}.own.json" || true; }

echo "model: $MODEL, threads: $THREADS, repetitions: $REPS, $(date -u +%Y-%m-%d)"
echo
if [ "$pinned" = 1 ]; then
  echo "| test | lazyllm t/s, OpenBLAS as set | ratio | lazyllm t/s, OpenBLAS's own choice | ratio | llama.cpp t/s |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
else
  echo "| test | lazyllm t/s | ratio | llama.cpp t/s |"
  echo "| --- | ---: | ---: | ---: |"
fi
IFS=, read -ra ps <<<"$PROMPTS"
[ "$PROMPTS" = 0 ] && ps=()
for p in "${ps[@]}"; do
  "$LLAMA_BENCH" -m "$MODEL" -p "$p" -n 0 -t "$THREADS" -r "$REPS" -o json >"$tmp/theirs.json" 2>/dev/null
  bench_ours "$tmp/ours.json" -p "$p" -n 0
  summarise pp "$p" "$tmp/theirs.json" "$tmp/ours.json" $(own_file "$tmp/ours.json")
done
if [ "$GEN" != 0 ]; then
  "$LLAMA_BENCH" -m "$MODEL" -p 0 -n "$GEN" -t "$THREADS" -r "$REPS" -o json >"$tmp/theirs.json" 2>/dev/null
  bench_ours "$tmp/ours.json" -p 1 -n "$GEN"
  summarise tg "$GEN" "$tmp/theirs.json" "$tmp/ours.json" $(own_file "$tmp/ours.json")
fi
