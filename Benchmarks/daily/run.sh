#!/usr/bin/env bash
# The guide's daily health check (Benchmarks/daily/guide-daily-check.sh: the guide's script
# with only the substitutions listed there) beside `opsh run daily/check`, against a local
# stack of this benchmark's own (project opshbench, free ports; scripts/stack), in one run:
#   1. time     hyperfine, RUNS (default 20) runs each after 2 warm-ups; goal: opsh at least 5x faster;
#               opsh twice: measuring CPU over its own 0.15 s (as the guide's top), and since the
#               CPU sample of an opsh agent on the host (docs/agent.md "CPU samples"; this script
#               starts one, writing every 5 s as by default, and stops it)
#   2. findings the items both look at, read from each one's output, must agree: services up,
#               Qdrant answering, Redis answering, the root disk's use, error lines per container,
#               task-queue Redis answering; the script fails if they differ
#   3. stalled  Qdrant and Redis paused (docker pause) for 3 s while each runs once: how long each
#               took and whether it reported both; goal: opsh under 4 s, both reported
#
#   swift build -c release --disable-local-rpath --scratch-path .build-release --product opsh --product opsh-agent
#   Benchmarks/daily/run.sh [path to opsh]        (default .build-release/release/opsh; opsh-agent beside it)
# The stack's containers and volumes are removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/../common.sh"
bench_scratch daily
OPSH=${1:-$root/.build-release/release/opsh}
RUNS=${RUNS:-20}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export OPSH_STACK_PROJECT=opshbench OPSH_STACK_PREFIX=bench-
export REDIS_PORT=${REDIS_PORT:-$(free_port)} QDRANT_PORT=${QDRANT_PORT:-$(free_port)}
export PROJECT=$OPSH_STACK_PROJECT PREFIX=$OPSH_STACK_PREFIX
stack_down() {
  "$root/scripts/stack" down >/dev/null 2>&1 || true
  docker volume rm -f "${PROJECT}_qdrant_data" "${PROJECT}_dragonfly_data" "${PROJECT}_agent_data" >/dev/null 2>&1 || true
  bench_cleanup
}
trap stack_down EXIT
"$root/scripts/stack" up >/dev/null
cat > "$tmp/config.lua" <<LUA
return {
  compose_project = "$PROJECT",
  service_ports = { qdrant = $QDRANT_PORT, dragonfly = $REDIS_PORT },
  redis_url = "redis://127.0.0.1:$REDIS_PORT/0",
  qdrant_url = "http://127.0.0.1:$QDRANT_PORT",
  task_queue_redis_url = "redis://127.0.0.1:$REDIS_PORT/1",
  state_dir = "$tmp/state",
  agent_cpu_sample_interval = 0,   -- this config's runs measure CPU over their own interval
}
LUA
bench_agent "$(dirname "$OPSH")/opsh-agent" "$tmp/config.lua" "$tmp/state"
guide="$here/guide-daily-check.sh"
opsh_cmd="$OPSH --config $tmp/config.lua run daily/check"
opsh_sampled="$OPSH --config $agent_config run daily/check"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

echo "== 1. time"
hyperfine -N --warmup 2 --runs "$RUNS" -i --export-json "$tmp/time.json" "$guide" "$opsh_cmd" "$opsh_sampled" >/dev/null
# the sampled row used the agent's sample (its report says so), or its figure means nothing
report=$($opsh_sampled --skip services,qdrant,redis,logs,queue,schedule 2>&1 || true)
grep -q "since the agent's sample" <<<"$report" || { echo "the agent's row did not use the agent's sample: $report" >&2; exit 1; }
python3 - "$tmp/time.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
g = r[0]
print(f"guide script                 median {g['median']*1000:8.1f} ms  (mean {g['mean']*1000:.1f} ± {g['stddev']*1000:.1f})")
for label, o in (("opsh, own 0.15 s interval", r[1]), ("opsh, the agent's sample", r[2])):
    print(f"{label:28} median {o['median']*1000:8.1f} ms  (mean {o['mean']*1000:.1f} ± {o['stddev']*1000:.1f})  "
          f"ratio {g['median']/o['median']:.1f}x  (goal: at least 5x)")
PY

echo "== 2. findings"
"$guide" > "$tmp/guide.txt" 2>&1 || true
$OPSH --json --config "$tmp/config.lua" run daily/check > "$tmp/opsh.json" 2>/dev/null || true
python3 - "$tmp/guide.txt" "$tmp/opsh.json" "$PREFIX" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
rep = json.load(open(sys.argv[2]))
prefix = sys.argv[3]
checks = {c["name"]: c for c in rep["checks"]}
g, o = {}, {}
g["services up"] = len(re.findall(r" Up \d", text))
o["services up"] = sum(1 for n, c in checks.items() if n.startswith("service.") and c["status"] == "ok")
g["qdrant answers"] = "healthz check passed" in text
o["qdrant answers"] = checks.get("qdrant.healthz", {}).get("status") == "ok"
g["redis answers"] = "PONG" in text
o["redis answers"] = checks.get("redis.ping", {}).get("metrics", {}).get("up") == 1
m = re.search(r"(\d+)% /\n", text)
g["root disk % (±1)"] = int(m.group(1)) if m else None
d = checks.get("system.disk./", {}).get("metrics", {}).get("used_percent")
o["root disk % (±1)"] = d
g["queue redis answers"] = "connected_clients:" in text
o["queue redis answers"] = checks.get("queue.depth", {}).get("status") in ("ok", "warning")
# error lines of the last 24 h in the qdrant and dragonfly containers' logs
g["error lines"] = sum(1 for l in text.splitlines() if re.search("error", l, re.I))
o["error lines"] = sum(checks.get("errors." + prefix + s, {}).get("metrics", {}).get("error_lines", 0) for s in ("qdrant", "dragonfly"))
ok = True
for k in g:
    a, b = g[k], o[k]
    same = (a is not None and b is not None and abs(a - b) <= 1) if "±1" in k else a == b
    ok &= same
    print(f"{k:22} guide {str(a):8} opsh {str(b):8} {'same' if same else 'DIFFERENT'}")
sys.exit(0 if ok else 1)
PY

echo "== 3. stalled: Qdrant and Redis paused for 3 s"
stall() {  # label, command...
  local label=$1; shift
  docker pause "${PREFIX}qdrant" "${PREFIX}dragonfly" >/dev/null
  ( sleep 3; docker unpause "${PREFIX}qdrant" "${PREFIX}dragonfly" >/dev/null ) &
  local unpause=$! t0 t1
  t0=$(date +%s.%N)
  "$@" > "$tmp/stall-$label.txt" 2>&1 || true
  t1=$(date +%s.%N)
  wait "$unpause"   # only the unpause: the agent runs in the background too
  printf '%-12s %6.2f s\n' "$label" "$(echo "$t1 - $t0" | bc)"
}
stall guide "$guide"
stall opsh "$OPSH" --json --config "$tmp/config.lua" run daily/check
python3 - "$tmp/stall-opsh.txt" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
crit = sorted(c["name"] for c in rep["checks"] if c["status"] == "critical")
both = any(n.startswith("qdrant") for n in crit) and any(n.startswith("redis") for n in crit)
print("opsh reported:", ", ".join(crit))
print("both stalled services reported:", "yes" if both else "NO")
sys.exit(0 if both else 1)
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
