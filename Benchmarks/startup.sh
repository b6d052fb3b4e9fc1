#!/bin/sh
# Start-up wall time: opsh vs lua5.4 vs Debian's python3, side by side in one hyperfine run.
# Usage: Benchmarks/startup.sh [OPSH]   (or OPSH=path; default .build/release/opsh)
# Builds nothing. Pins to CPU 1 (CPU=n to change, CPU= to disable). RUNS=n (default 300).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
OPSH=${1:-${OPSH:-.build/release/opsh}}
OPSH=$(cd "$(dirname "$OPSH")" && pwd)/$(basename "$OPSH")
[ -x "$OPSH" ] || { echo "no opsh binary at $OPSH" >&2; exit 2; }
RUNS=${RUNS:-300}
CPU=${CPU-1}
pin=""; [ -n "$CPU" ] && pin="taskset -c $CPU"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
# run from an empty directory so no project config is picked up by accident
cd "$out"
$pin hyperfine -N --warmup 30 --runs "$RUNS" --export-json "$out/startup.json" \
  -n "lua5.4 -e ''"        "lua5.4 -e ''" \
  -n "opsh run empty_procedure.lua" "$OPSH run $here/empty_procedure.lua" \
  -n "opsh empty.lua"      "$OPSH $here/empty.lua" \
  -n "opsh -e ''"          "$OPSH -e ''" \
  -n "python3 -c pass"     "/usr/bin/python3 -c pass" >&2
python3 - "$out/startup.json" <<'PY'
import json, sys, statistics
r = json.load(open(sys.argv[1]))["results"]
base = statistics.median(r[0]["times"])
print(f"{'command':32} {'median ms':>10} {'min ms':>8} {'ratio vs lua5.4 (median)':>26}")
for x in r:
    m = statistics.median(x["times"])
    print(f"{x['command']:32} {m*1e3:10.3f} {min(x['times'])*1e3:8.3f} {m/base:26.2f}")
PY
