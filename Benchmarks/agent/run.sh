#!/usr/bin/env bash
# The agent under wrk on loopback, in one run: /health, /metrics, an authenticated admin read
# (GET /api/admin/circuit-breaker-status with X-API-Key, view_metrics), then /health with the key
# checked on every request (agent_open_endpoints = {}, applied by SIGHUP to the same agent, and
# agent_key_cache_seconds 5 as by default). Requests/s and p99 of each, side by side.
# Usage: Benchmarks/agent/run.sh [OPSH_AGENT]  (default .build/release/opsh-agent)
# DURATION=10s CONNECTIONS=32 THREADS=1; the agent on CPU 0, wrk on CPU 1 (2-core machine).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
AGENT=${1:-${OPSH_AGENT:-.build/release/opsh-agent}}
AGENT=$(cd "$(dirname "$AGENT")" && pwd)/$(basename "$AGENT")
[ -x "$AGENT" ] || { echo "no opsh-agent at $AGENT" >&2; exit 2; }
DURATION=${DURATION:-10s}; CONNECTIONS=${CONNECTIONS:-32}; THREADS=${THREADS:-1}
tmp=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(port); aport=$(port)
cleanup() {
  [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  [ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
: > "$tmp/none"
taskset -c 1 redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >/dev/null &
redis_pid=$!
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
digest=$(printf %s "$key" | sha256sum | cut -d' ' -f1)
redis-cli -p "$rport" HSET user:bench role viewer status active api_key_sha256 "$digest" >/dev/null
redis-cli -p "$rport" SET "apikey:$digest" bench >/dev/null
config() {
  cat > "$tmp/config.lua" <<LUA
return {
  redis_url = "redis://127.0.0.1:$rport", qdrant_url = "http://127.0.0.1:9",
  agent_history_db = "$tmp/history.db", pool_state_dir = "$tmp/pool",
  agent_rate_limit_per_key = 0, agent_rate_limit_per_address = 0, agent_max_connections = 4096,
  $1
}
LUA
}
config ""
HOME=$tmp taskset -c 0 "$AGENT" --config "$tmp/config.lua" --env-file "$tmp/none" --listen "127.0.0.1:$aport" 2>"$tmp/agent.log" &
agent_pid=$!
until curl -sf "http://127.0.0.1:$aport/health" >/dev/null; do sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' /proc/$agent_pid/status; }
run() {   # name, path, [header]
  local name=$1 path=$2 file; shift 2
  file="$tmp/$(printf %s "$name" | tr -c 'a-zA-Z0-9' _).txt"
  taskset -c 1 wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$@" "http://127.0.0.1:$aport$path" >/dev/null   # warm-up
  taskset -c 1 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "http://127.0.0.1:$aport$path" > "$file"
  local rps p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$file")
  p99=$(awk '$1=="99%" {print $2}' "$file")
  non2xx=$(awk '/Non-2xx/ {print $4}' "$file")
  printf '%-34s %12s %10s %8s\n' "$name" "$rps" "$p99" "${non2xx:-0}"
  echo "$name $rps" >> "$tmp/rps"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); wrk -t$THREADS -c$CONNECTIONS -d$DURATION; agent RSS $(rss) kB"
printf '%-34s %12s %10s %8s\n' "endpoint" "requests/s" "p99" "non-2xx"
run "GET /health (open)" /health
run "GET /metrics (open)" /metrics
run "GET circuit-breaker-status (key)" /api/admin/circuit-breaker-status -H "X-API-Key: $key"
config 'agent_open_endpoints = {},'
kill -HUP "$agent_pid"
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/health")" = 401 ]; do sleep 0.1; done
run "GET /health (key checked)" /health -H "X-API-Key: $key"
python3 - "$tmp/rps" <<'PY'
import sys
r = dict(line.rsplit(" ", 1) for line in open(sys.argv[1]).read().splitlines())
r = {k: float(v) for k, v in r.items()}
print(f"key checked / open on /health: {r['GET /health (key checked)'] / r['GET /health (open)']:.3f}")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); agent RSS $(rss) kB"
