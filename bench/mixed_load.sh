#!/usr/bin/env bash
# One lazyllm server under two loads at once, both bench/serve_load.py: SHORT clients (short
# prompts, decoding) and LONG ones (long prompts). Prints each load's JSON line and how many
# requests were running at once (sampled from /metrics every 0.5 s: max and mean).
#   bench/mixed_load.sh MODEL "SERVE FLAGS" SECONDS SHORT_CLIENTS SHORT_CHARS SHORT_TOKENS LONG_CLIENTS LONG_CHARS LONG_TOKENS LONG_PAUSE PROMPT_FILE
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1 FLAGS=$2 SECS=$3 SC=$4 SCH=$5 ST=$6 LC=$7 LCH=$8 LT=$9 LP=${10} PROMPT=${11}
LAZYLLM=${LAZYLLM:-build/bin/lazyllm}
PORT=${PORT:-18182}
# shellcheck disable=SC2086
"$LAZYLLM" serve -m "$MODEL" --port "$PORT" --grace 5 $FLAGS >/dev/null 2>/tmp/mixed_load.log &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1200); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat /tmp/mixed_load.log >&2; exit 1; }
  sleep 0.1
done
python3 bench/serve_load.py --port "$PORT" --clients "$SC" --seconds "$SECS" --prompt-file "$PROMPT" \
  --prompt-chars "$SCH" --max-tokens "$ST" --label "short: $FLAGS" &
short=$!
pids=("$short")
if [ "$LC" -gt 0 ]; then
  python3 bench/serve_load.py --port "$PORT" --clients "$LC" --seconds "$SECS" --prompt-file "$PROMPT" \
    --prompt-chars "$LCH" --max-tokens "$LT" --pause "$LP" --label "long: $FLAGS" &
  pids+=("$!")
fi
samples=()
while kill -0 "$short" 2>/dev/null; do
  samples+=("$(curl -sf "http://127.0.0.1:$PORT/metrics" | sed -n 's/^lazyllm_requests_running //p')")
  sleep 0.5
done
wait "${pids[@]}"
printf '%s\n' "${samples[@]}" | awk -v f="$FLAGS" 'NF {n++; s+=$1; if ($1>m) m=$1} END {printf "{\"label\": \"in flight: %s\", \"max\": %d, \"mean\": %.1f}\n", f, m, s/n}'
