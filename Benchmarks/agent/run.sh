#!/usr/bin/env bash
# The agent under wrk on loopback, in one run: /health, /metrics, an authenticated admin read
# (GET /api/admin/circuit-breaker-status with X-API-Key, view_metrics), the jobs list
# (GET /api/agent/jobs with the key: the scheduler's state and a history read per job), then
# /health with the key checked on every request (agent_open_endpoints = {}, applied by SIGHUP
# to the same agent, and agent_key_cache_seconds 5 as by default). Requests/s and p99 of each,
# and each one's ratio to open /health, side by side. The agent runs its scheduler (one job,
# never due) as in production.
# Usage: Benchmarks/agent/run.sh [OPSH_AGENT]  (default .build/release/opsh-agent)
# DURATION=10s CONNECTIONS=32 THREADS=1; PIN=1 (default): the agent on CPU 0, wrk and Redis on
# CPU 1 (2-core machine); PIN=0: nothing pinned, the kernel spreads the agent's threads and wrk
# over both cores.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
agent_setup "${1:-}"
DURATION=${DURATION:-10s}; CONNECTIONS=${CONNECTIONS:-32}; THREADS=${THREADS:-1}; PIN=${PIN:-1}
acpu=0; wcpu=1
[ "$PIN" = 0 ] && acpu= && wcpu=
start_redis $wcpu
key=$(add_user bench viewer)
cp "$here/../empty_procedure.lua" "$tmp/empty.lua"
jobs="agent_jobs = { idle = { procedure = \"$tmp/empty.lua\", schedule = \"0 0 1 1 *\" } },"
write_config "$jobs"
start_agent $acpu
run() {   # name, path, [wrk flags]
  local name=$1 path=$2 file; shift 2
  file="$tmp/$(printf %s "$name" | tr -c 'a-zA-Z0-9' _).txt"
  ${wcpu:+taskset -c $wcpu} wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$@" "http://127.0.0.1:$aport$path" >/dev/null   # warm-up
  ${wcpu:+taskset -c $wcpu} wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "http://127.0.0.1:$aport$path" > "$file"
  local rps p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$file")
  p99=$(awk '$1=="99%" {print $2}' "$file")
  non2xx=$(awk '/Non-2xx/ {print $4}' "$file")
  echo "$name|$rps|$p99|${non2xx:-0}" >> "$tmp/results"
}
echo "load before: $(load); wrk -t$THREADS -c$CONNECTIONS -d$DURATION; PIN=$PIN; agent RSS $(rss) kB"
run "GET /health (open)" /health
run "GET /metrics (open)" /metrics
run "GET circuit-breaker-status (key)" /api/admin/circuit-breaker-status -H "X-API-Key: $key"
run "GET /api/agent/jobs (key)" /api/agent/jobs -H "X-API-Key: $key"
write_config "$jobs agent_open_endpoints = {},"
kill -HUP "$agent_pid"
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/health")" = 401 ]; do sleep 0.1; done
run "GET /health (key checked)" /health -H "X-API-Key: $key"
python3 - "$tmp/results" <<'PY'
import sys
rows = [line.split("|") for line in open(sys.argv[1]).read().splitlines()]
base = float(rows[0][1])
print(f"{'endpoint':34} {'requests/s':>12} {'p99':>10} {'non-2xx':>8} {'vs open /health':>16}")
for name, rps, p99, bad in rows:
    print(f"{name:34} {rps:>12} {p99:>10} {bad:>8} {float(rps) / base:>16.3f}")
r = {name: float(rps) for name, rps, _, _ in rows}
print(f"key checked / open on /health: {r['GET /health (key checked)'] / r['GET /health (open)']:.3f} (goal: at least 0.900)")
PY
echo "load after: $(load); agent RSS $(rss) kB"
