#!/bin/sh
# The resource report: `opsh run system/resources` against the guide's
# `free -h; df -h; top -bn1 | head -15; uptime`, side by side in one hyperfine run.
# Usage: Benchmarks/system/resources.sh [OPSH]   (or OPSH=path; default .build-release/release/opsh)
# Builds nothing. RUNS=n (default 30). Both measure CPU over an interval: top sleeps 0.15 s
# between its two readings, opsh waits --interval (default 0.15 s); the --interval 0.01 row
# shows what opsh costs besides that wait.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
OPSH=${1:-${OPSH:-.build-release/release/opsh}}
OPSH=$(cd "$(dirname "$OPSH")" && pwd)/$(basename "$OPSH")
[ -x "$OPSH" ] || { echo "no opsh binary at $OPSH" >&2; exit 2; }
RUNS=${RUNS:-30}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cd "$out"
# every opsh run writes its history sample here, as it would under ~/.local/state
export OPSH_STATE_DIR="$out/state"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs" >&2
hyperfine -N --warmup 3 --runs "$RUNS" --ignore-failure --export-json "$out/r.json" \
  -n "guide: free -h; df -h; top -bn1 | head -15; uptime" "sh -c 'free -h; df -h; top -bn1 | head -15; uptime'" \
  -n "opsh run system/resources" "$OPSH run system/resources" \
  -n "opsh run system/resources --interval 0.01" "$OPSH run system/resources --interval 0.01" >&2
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "history samples written: $(sqlite3 "$OPSH_STATE_DIR/history.db" "SELECT count(DISTINCT time) FROM samples WHERE kind = 'resources'")" >&2
python3 - "$out/r.json" <<'PY'
import json, sys, statistics
r = json.load(open(sys.argv[1]))["results"]
base = statistics.median(r[0]["times"])
print(f"{'command':48} {'median ms':>10} {'user+sys ms (mean)':>19} {'guide/this':>11}")
for x in r:
    m = statistics.median(x["times"])
    cpu = (x["user"] + x["system"]) * 1e3    # hyperfine keeps means of these
    print(f"{x['command']:48} {m*1e3:10.1f} {cpu:19.1f} {base/m:11.2f}")
PY
