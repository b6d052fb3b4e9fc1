#!/usr/bin/env bash
# The resource report: `opsh run system/resources` against the guide's
# `free -h; df -h; top -bn1 | head -15; uptime`, side by side in one hyperfine run.
# Usage: Benchmarks/system/resources.sh [OPSH]   (or OPSH=path; default .build-release/release/opsh)
# Builds nothing; the opsh-agent beside OPSH is started for the agent's row. RUNS=n (default 30).
# CPU is measured over an interval: top sleeps 0.15 s between its two readings, and so does
# opsh with --interval 0.15 (its own interval); opsh with no --interval measures since the CPU
# sample of an opsh agent running on the host (docs/agent.md "CPU samples": this script starts
# one writing every 5 s, as by default) and does not wait; the --interval 0.01 row shows what
# opsh costs besides the wait.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
OPSH=${1:-${OPSH:-.build-release/release/opsh}}
OPSH=$(cd "$(dirname "$OPSH")" && pwd)/$(basename "$OPSH")
[[ -x $OPSH ]] || { echo "no opsh binary at $OPSH" >&2; exit 2; }
RUNS=${RUNS:-30}
bench_scratch resources
cd "$tmp"
# every opsh run writes its history sample here, as it would under ~/.local/state; the agent
# samples CPU into $OPSH_STATE_DIR/cpu
export OPSH_STATE_DIR="$tmp/state"
bench_agent "$(dirname "$OPSH")/opsh-agent" "" "$OPSH_STATE_DIR"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs" >&2
hyperfine -N --warmup 3 --runs "$RUNS" --ignore-failure --export-json "$tmp/r.json" \
  -n "guide: free -h; df -h; top -bn1 | head -15; uptime" "sh -c 'free -h; df -h; top -bn1 | head -15; uptime'" \
  -n "opsh run system/resources --interval 0.15" "$OPSH run system/resources --interval 0.15" \
  -n "opsh run system/resources (the agent's sample)" "$OPSH --config $agent_config run system/resources" \
  -n "opsh run system/resources --interval 0.01" "$OPSH run system/resources --interval 0.01" >&2
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "history samples written: $(sqlite3 "$OPSH_STATE_DIR/history.db" "SELECT count(DISTINCT time) FROM samples WHERE kind = 'resources'")" >&2
# the agent's row used the samples (its report says so), or the comparison means nothing
report=$("$OPSH" --config "$agent_config" run system/resources --no_history 2>&1 || true)
grep -q "since the agent's sample" <<<"$report" || { echo "the agent's row did not use the agent's sample: $report" >&2; exit 1; }
python3 - "$tmp/r.json" <<'PY'
import json, sys, statistics
r = json.load(open(sys.argv[1]))["results"]
base = statistics.median(r[0]["times"])
print(f"{'command':48} {'median ms':>10} {'user+sys ms (mean)':>19} {'guide/this':>11}")
for x in r:
    m = statistics.median(x["times"])
    cpu = (x["user"] + x["system"]) * 1e3    # hyperfine keeps means of these
    print(f"{x['command']:48} {m*1e3:10.1f} {cpu:19.1f} {base/m:11.2f}")
PY
