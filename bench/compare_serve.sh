#!/usr/bin/env bash
# lazyllm serve against llama-server under the same closed-loop load, alternating the servers in
# each round. Loopback only; every run is bounded in time. The load is bench/serve_load.py
# (streamed: TTFT, time per token), or with LOAD=wrk, wrk and bench/wrk_completions.lua
# (non-streamed: requests/s, latency, tokens/s).
#   [LOAD=wrk] bench/compare_serve.sh LLAMA_SERVER MODEL PROMPT_FILE PROMPT_CHARS "1 8 32 64" SECONDS MAX_TOKENS PARALLEL THREADS ROUNDS
# Both servers: the same file, -t THREADS, PARALLEL sequences at once (llama-server: --parallel,
# --cont-batching, a context of PARALLEL × 512), greedy, ignore_eos. Prints one JSON line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA_SERVER=$1 MODEL=$2 PROMPT=$3 CHARS=$4 CLIENTS=$5 SECS=$6 MAXTOK=$7 PAR=$8 THREADS=$9 ROUNDS=${10}
LAZYLLM=${LAZYLLM:-build/bin/lazyllm}
PORT=${PORT:-18181}
pid=
stop() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; pid=; }
trap stop EXIT
start() {
  # A fresh port each time: a server that had many connections leaves sockets bound to its port
  # for a while after it exits.
  PORT=$((PORT + 1))
  case $1 in
    lazyllm) "$LAZYLLM" serve -m "$MODEL" -t "$THREADS" --parallel "$PAR" --queue 1024 -c 512 --port "$PORT" \
               --grace 5 ${SERVE_FLAGS:-} >/dev/null 2>/tmp/compare_serve.$1.log & ;;
    llama-server) "$LLAMA_SERVER" -m "$MODEL" -t "$THREADS" --parallel "$PAR" --cont-batching -c $((PAR * 512)) \
               --host 127.0.0.1 --port "$PORT" >/dev/null 2>/tmp/compare_serve.$1.log & ;;
  esac
  pid=$!
  for _ in $(seq 1200); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { echo "$1 exited:" >&2; cat "/tmp/compare_serve.$1.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$1 did not start" >&2
  exit 1
}
# One load of $1 clients for SECS seconds; prints its JSON line.
load() {
  if [ "${LOAD:-}" = wrk ]; then
    PROMPT_FILE=$PROMPT PROMPT_CHARS=$CHARS MAX_TOKENS=$MAXTOK LABEL="$2 wrk -c $1" \
      wrk -t "$(($1 < 2 ? 1 : 2))" -c "$1" -d "${SECS}s" --timeout 300s -s bench/wrk_completions.lua \
      "http://127.0.0.1:$PORT" | grep '^{'
  else
    python3 bench/serve_load.py --port "$PORT" --clients "$1" --seconds "$SECS" --prompt-file "$PROMPT" \
      --prompt-chars "$CHARS" --max-tokens "$MAXTOK" --label "$2"
  fi
}
for r in $(seq "$ROUNDS"); do
  for server in lazyllm llama-server; do
    start "$server"
    for c in $CLIENTS; do load "$c" "$server round $r"; done
    stop
  done
done
