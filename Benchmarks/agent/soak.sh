#!/usr/bin/env bash
# Memory over a soak: the agent runs a job every JOB_EVERY seconds (run-now of a job whose
# procedure is Benchmarks/empty_procedure.lua, each its own `opsh run` process, recorded in the
# history), while a client reads /health, /metrics, /admin/db-stats (through the Redis pool) and
# /api/agent/history with a key checked on each. Resident size (VmRSS) at the start (after a
# 30 s warm-up), every minute, and at the end, with the end/start ratio.
# Usage: Benchmarks/agent/soak.sh [OPSH_AGENT] (default .build/release/opsh-agent)
# SOAK_SECONDS=600 JOB_EVERY=3; OPSH=DIR/opsh runs the jobs (default: the one beside the agent).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
agent_setup "${1:-}"
SOAK_SECONDS=${SOAK_SECONDS:-600}; JOB_EVERY=${JOB_EVERY:-3}
start_redis
key=$(add_user soak admin)
cp "$here/../empty_procedure.lua" "$tmp/soak-empty.lua"
write_config "agent_jobs = { soak = { procedure = \"$tmp/soak-empty.lua\", schedule = \"0 0 1 1 *\", timeout = 60 } },"
start_agent
echo "load before: $(load); SOAK_SECONDS=$SOAK_SECONDS JOB_EVERY=$JOB_EVERY"
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
        for p in ("/health", "/metrics", "/admin/db-stats", "/api/agent/history?job=soak&limit=20"):
            c = call("GET", p); codes[c] = codes.get(c, 0) + 1; reads += 1
        if time.time() >= next_job:
            # 409 when the previous run still runs (a job never overlaps itself)
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
print(f"end after {seconds:.0f} s: RSS {r1} kB; end/start {r1 / r0:.3f} ({(r1 - r0) / r0 * 100:+.1f}%); "
      f"{jobs} run-now calls, {reads} reads, answers {dict(sorted(codes.items()))}")
PY
echo "runs recorded: $(sqlite3 "$tmp/history.db" "select count(*) || ' (' || sum(status='ok') || ' ok)' from runs where job='soak'" 2>/dev/null || echo '?')"
echo "load after: $(load)"
