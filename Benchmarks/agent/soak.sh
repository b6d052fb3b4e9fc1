#!/usr/bin/env bash
# Memory over a soak: the agent runs a job every JOB_EVERY seconds (run-now of a job whose
# procedure is Benchmarks/empty_procedure.lua, each its own `opsh run` process), while a client
# reads /health, /metrics and /admin/db-stats (through the Redis pool) in a loop with a key
# checked on each. Resident size (VmRSS) at the start (after a 30 s warm-up), every minute, and at
# the end. Usage: Benchmarks/agent/soak.sh [OPSH_AGENT] (default .build/release/opsh-agent)
# SOAK_SECONDS=600 JOB_EVERY=3; OPSH=.build/release/opsh runs the jobs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
AGENT=${1:-${OPSH_AGENT:-.build/release/opsh-agent}}
AGENT=$(cd "$(dirname "$AGENT")" && pwd)/$(basename "$AGENT")
OPSH=${OPSH:-$(dirname "$AGENT")/opsh}
SOAK_SECONDS=${SOAK_SECONDS:-600}; JOB_EVERY=${JOB_EVERY:-3}
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
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >/dev/null &
redis_pid=$!
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
digest=$(printf %s "$key" | sha256sum | cut -d' ' -f1)
redis-cli -p "$rport" HSET user:soak role admin status active api_key_sha256 "$digest" >/dev/null
redis-cli -p "$rport" SET "apikey:$digest" soak >/dev/null
mkdir -p "$tmp/lua"; cp "$here/../empty_procedure.lua" "$tmp/lua/soak-empty.lua"
cat > "$tmp/config.lua" <<LUA
return {
  redis_url = "redis://127.0.0.1:$rport", qdrant_url = "http://127.0.0.1:9",
  agent_history_db = "$tmp/history.db", pool_state_dir = "$tmp/pool", agent_opsh = "$OPSH",
  agent_rate_limit_per_key = 0, agent_rate_limit_per_address = 0,
  agent_default_jobs = false,
  agent_jobs = { soak = { procedure = "$tmp/lua/soak-empty.lua", schedule = "0 0 1 1 *", timeout = 60 } },
}
LUA
HOME=$tmp "$AGENT" --config "$tmp/config.lua" --env-file "$tmp/none" --listen "127.0.0.1:$aport" 2>"$tmp/agent.log" &
agent_pid=$!
until curl -sf "http://127.0.0.1:$aport/health" >/dev/null; do sleep 0.1; done
python3 - "$aport" "$key" "$SOAK_SECONDS" "$JOB_EVERY" "$agent_pid" <<'PY'
import sys, time, urllib.request, json
port, key, seconds, every, pid = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
base = f"http://127.0.0.1:{port}"
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, headers={"X-API-Key": key, "Content-Type": "application/json"},
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
def soak(duration, report):
    start = time.time(); next_job = start; next_report = start + 60
    jobs = reads = 0; codes = {}
    while time.time() - start < duration:
        for p in ("/health", "/metrics", "/admin/db-stats"):
            c = call("GET", p); codes[c] = codes.get(c, 0) + 1; reads += 1
        if time.time() >= next_job:
            c = call("POST", "/api/agent/run-now", {"job": "soak"}); codes[c] = codes.get(c, 0) + 1
            jobs += 1; next_job += every
        if report and time.time() >= next_report:
            print(f"  {time.time() - start:5.0f} s: RSS {rss()} kB", flush=True); next_report += 60
        time.sleep(0.05)
    return jobs, reads, codes
soak(30, False)
r0 = rss()
print(f"start (after 30 s warm-up): RSS {r0} kB", flush=True)
jobs, reads, codes = soak(seconds, True)
r1 = rss()
print(f"end after {seconds:.0f} s: RSS {r1} kB ({(r1 - r0) / r0 * 100:+.1f}%); {jobs} run-now jobs, {reads} reads, answers {codes}")
PY
echo "runs recorded: $(sqlite3 "$tmp/history.db" "select count(*), sum(status='ok') from runs where job='soak'" 2>/dev/null || echo '?')"
