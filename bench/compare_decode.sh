#!/usr/bin/env bash
# Decode tokens/s as llama-bench's tg test measures it (from an empty context): lazyllm bench
# -p 1 -n NTG beside the llama-bench of one or more peers (llama.cpp, ik_llama.cpp), file by
# file, the engines alternating, ROUNDS times. A peer path may carry flags after a colon, and
# ik_llama.cpp is worth running twice, with and without its load-time repacking:
#
#   bench/compare_decode.sh "IK/llama-bench:-fa 1 -rtr 0" "IK/llama-bench:-fa 1 -rtr 1" \
#       LC/llama-bench -- a.gguf b.gguf
#
# Environment: THREADS (2), NTG (128), REPS (2), ROUNDS (2), LAZYLLM (build/bin/lazyllm).
# Prints one markdown row per (round, file, engine): the mean and spread each tool reports.
set -euo pipefail
peers=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do peers+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: $0 PEER_LLAMA_BENCH[:FLAGS]... -- MODEL.gguf..." >&2; exit 2; }
THREADS=${THREADS:-2} NTG=${NTG:-128} REPS=${REPS:-2} ROUNDS=${ROUNDS:-2}
LAZYLLM=${LAZYLLM:-$(dirname "$0")/../build/bin/lazyllm}

echo "threads $THREADS, tg$NTG, $REPS repetitions, $ROUNDS rounds, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "| round | file | engine | tg$NTG t/s |"
echo "| ---: | --- | --- | ---: |"
for round in $(seq "$ROUNDS"); do
  for model in "$@"; do
    name=$(basename "$model")
    t=$("$LAZYLLM" bench -m "$model" -p 1 -n "$NTG" -t "$THREADS" -r "$REPS" -o json 2>/dev/null |
      python3 -c 'import json,sys; d=json.load(sys.stdin)[0]["decode_tokens_per_s"]; print("%.2f ± %.2f" % (d["mean"], d["stddev"]))')
    echo "| $round | $name | lazyllm | $t |"
    for peer in "${peers[@]}"; do
      bin=${peer%%:*} flags=""
      [ "$bin" != "$peer" ] && flags=${peer#*:}
      # shellcheck disable=SC2086  # the flags are words
      t=$("$bin" -m "$model" -p 0 -n "$NTG" -t "$THREADS" -r "$REPS" $flags 2>/dev/null |
        awk -F'|' -v n="tg$NTG" '$0 ~ n {gsub(/^ +| +$/, "", $(NF-1)); print $(NF-1)}')
      echo "| $round | $name | $(basename "$(dirname "$(dirname "$(dirname "$bin")")")") $flags | $t |"
    done
  done
done
