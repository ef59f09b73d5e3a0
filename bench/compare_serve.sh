#!/usr/bin/env bash
# lazyllm serve against llama-server under the same closed-loop load (bench/serve_load.py),
# alternating the servers in each round. Loopback only; every run is bounded in time.
#   bench/compare_serve.sh LLAMA_SERVER MODEL PROMPT_FILE PROMPT_CHARS "1 8 32 64" SECONDS MAX_TOKENS PARALLEL THREADS ROUNDS
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
for r in $(seq "$ROUNDS"); do
  for server in lazyllm llama-server; do
    start "$server"
    for c in $CLIENTS; do
      python3 bench/serve_load.py --port "$PORT" --clients "$c" --seconds "$SECS" --prompt-file "$PROMPT" \
        --prompt-chars "$CHARS" --max-tokens "$MAXTOK" --label "$server round $r"
    done
    stop
  done
done
