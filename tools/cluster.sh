#!/usr/bin/env bash
# N `lazyllm serve` replicas on loopback ports behind HAProxy (deploy/haproxy.cfg).
#
#   tools/cluster.sh up -m MODEL -n N [--port P] [-t T] [--stats-port S] [serve flags...]
#   tools/cluster.sh status [--port P]
#   tools/cluster.sh down [--port P]
#
# up starts N replicas (`serve -m MODEL -t T --port 0 [serve flags]`, each on a free loopback
# port), waits until each says it is ready, starts HAProxy on 127.0.0.1:P (default 8080; its stats
# and Prometheus counters on S, default P + 1000) and returns once the front answers /health with
# 200. down stops what up started, by the pids it recorded and nothing else: replicas get SIGTERM
# and drain, then HAProxy stops. The lazyllm binary is $LAZYLLM when set, else build/bin/lazyllm.
# Pids, ports, logs and the HAProxy config live in $LAZYLLM_CLUSTER_DIR (default
# ${TMPDIR:-/tmp}/lazyllm-cluster-P).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lazyllm="${LAZYLLM:-$here/build/bin/lazyllm}"

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}
usage() {
  sed -n '3,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 1 ] || usage
cmd="$1"
shift
model="" replicas="" port=8080 threads=1 stats_port=""
serve_flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    -m) model="${2:?-m needs a model}"; shift 2 ;;
    -n) replicas="${2:?-n needs a count}"; shift 2 ;;
    --port) port="${2:?--port needs a port}"; shift 2 ;;
    -t) threads="${2:?-t needs a count}"; shift 2 ;;
    --stats-port) stats_port="${2:?--stats-port needs a port}"; shift 2 ;;
    -h | --help) usage ;;
    *) serve_flags+=("$1"); shift ;;
  esac
done
[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "--port '$port' is not a port"
stats_port="${stats_port:-$((port + 1000))}"
dir="${LAZYLLM_CLUSTER_DIR:-${TMPDIR:-/tmp}/lazyllm-cluster-$port}"

# Whether pid is alive and runs the program we started there (not a process that took its pid).
ours() {
  local pid="$1" prog="$2"
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$prog"
}

stop_all() {
  [ -f "$dir/pids" ] || return 0
  local pid prog left
  # Replicas first (SIGTERM: they drain what runs), then HAProxy; SIGKILL after 60 s.
  while read -r pid prog; do
    ours "$pid" "$prog" && [ "$prog" != haproxy ] && kill -TERM "$pid" 2>/dev/null || true
  done <"$dir/pids"
  for _ in $(seq 600); do
    left=0
    while read -r pid prog; do
      [ "$prog" != haproxy ] && ours "$pid" "$prog" && left=1
    done <"$dir/pids"
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  while read -r pid prog; do
    if ours "$pid" "$prog"; then
      if [ "$prog" = haproxy ]; then kill -TERM "$pid" 2>/dev/null || true; else kill -KILL "$pid" 2>/dev/null || true; fi
    fi
  done <"$dir/pids"
  rm -f "$dir/pids"
}

health() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/health" || true; }

case "$cmd" in
  up)
    [ -n "$model" ] || die "up needs -m MODEL"
    [[ "$replicas" =~ ^[1-9][0-9]*$ ]] || die "up needs -n N (a count of replicas, at least 1)"
    [ -x "$lazyllm" ] || die "no lazyllm binary at $lazyllm (build first, or set LAZYLLM)"
    command -v haproxy >/dev/null || die "haproxy is not installed (tools/setup.sh installs it)"
    command -v curl >/dev/null || die "curl is not installed (tools/setup.sh installs it)"
    [ -f "$dir/pids" ] && die "a cluster on port $port is already up ($dir/pids); run: $0 down --port $port"
    mkdir -p "$dir"
    : >"$dir/pids"
    trap 'stop_all' EXIT  # whatever fails below stops what was started
    for i in $(seq "$replicas"); do
      "$lazyllm" serve -m "$model" -t "$threads" --port 0 "${serve_flags[@]}" >"$dir/replica$i.out" 2>"$dir/replica$i.log" &
      echo "$! lazyllm" >>"$dir/pids"
    done
    : >"$dir/ports"
    i=0
    while read -r pid prog; do
      i=$((i + 1))
      for _ in $(seq 3000); do  # 5 minutes to load
        grep -q "ready:" "$dir/replica$i.log" 2>/dev/null && break
        ours "$pid" lazyllm || die "replica $i exited: $(tail -n 3 "$dir/replica$i.log")"
        sleep 0.1
      done
      p="$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$dir/replica$i.log" | head -n 1)"
      [ -n "$p" ] || die "replica $i did not get ready: $(tail -n 3 "$dir/replica$i.log")"
      echo "$p" >>"$dir/ports"
    done <"$dir/pids"
    servers=""
    i=0
    while read -r p; do
      i=$((i + 1))
      servers+="    server r$i 127.0.0.1:$p"$'\n'
    done <"$dir/ports"
    awk -v front="127.0.0.1:$port" -v stats="127.0.0.1:$stats_port" -v servers="$servers" '
      /@SERVERS@/ { printf "%s", servers; next }
      { gsub(/@FRONT@/, front); gsub(/@STATS@/, stats); print }' "$here/deploy/haproxy.cfg" >"$dir/haproxy.cfg"
    haproxy -c -q -f "$dir/haproxy.cfg" || die "HAProxy refuses $dir/haproxy.cfg"
    haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
    haproxy_pid=$!
    echo "$haproxy_pid haproxy" >>"$dir/pids"
    for _ in $(seq 600); do
      [ "$(health "$port")" = 200 ] && break
      ours "$haproxy_pid" haproxy || die "HAProxy exited: $(tail -n 3 "$dir/haproxy.log")"
      sleep 0.1
    done
    [ "$(health "$port")" = 200 ] || die "the front at 127.0.0.1:$port does not answer /health"
    trap - EXIT
    echo "cluster up: http://127.0.0.1:$port -> $(paste -sd' ' "$dir/ports" | sed 's/\([0-9]*\)/127.0.0.1:\1/g'); stats http://127.0.0.1:$stats_port/stats; state $dir"
    ;;
  status)
    [ -f "$dir/pids" ] || die "no cluster on port $port ($dir)"
    i=0
    while read -r p; do
      i=$((i + 1))
      echo "r$i 127.0.0.1:$p /health $(health "$p")"
    done <"$dir/ports"
    echo "front 127.0.0.1:$port /health $(health "$port")"
    ;;
  down)
    [ -f "$dir/pids" ] || die "no cluster on port $port ($dir)"
    stop_all
    echo "cluster on port $port down"
    ;;
  *) usage ;;
esac
