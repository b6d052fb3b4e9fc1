#!/bin/sh
# JSON speed: opsh.json under opsh vs lua-cjson under lua5.4, side by side in one run.
# Generates a seeded ~10 MB Qdrant-like document with python3 (gen_qdrant.py), then for
# decode, encode and encode-vectors runs each library in its own process (RUNS timed
# repetitions inside the process, median) and prints the time ratio cjson/opsh (>1: opsh faster).
# Usage: Benchmarks/json.sh [OPSH]   (or OPSH=path; default .build/release/opsh). Builds nothing.
# RUNS=n (default 9), SIZE=bytes (default 10000000), SEED=n (default 42), CPU=n pin (default 1).
set -u
here=$(cd "$(dirname "$0")" && pwd)
OPSH=${1:-${OPSH:-.build/release/opsh}}
[ -x "$OPSH" ] || { echo "no opsh binary at $OPSH" >&2; exit 2; }
RUNS=${RUNS:-9}; CPU=${CPU-1}
pin=""; [ -n "$CPU" ] && pin="taskset -c $CPU"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
/usr/bin/python3 "$here/gen_qdrant.py" "$out/qdrant.json" "${SIZE:-10000000}" "${SEED:-42}"
for mode in decode encode encode-vectors; do
  $pin "$OPSH" "$here/json_speed.lua" "$out/qdrant.json" $mode "$RUNS" > "$out/opsh.$mode" 2>&1
  rc=$?; [ $rc -ne 0 ] && echo "RESULT opsh.json $mode exit-status-$rc" >> "$out/opsh.$mode"
  $pin lua5.4 "$here/json_speed.lua" "$out/qdrant.json" $mode "$RUNS" > "$out/cjson.$mode" 2>&1
done
cat "$out"/opsh.* "$out"/cjson.* | grep -v '^RESULT' | sort -k2,2 -s
echo
python3 - "$out" <<'PY'
import sys, glob
res = {}
for f in glob.glob(sys.argv[1] + "/*.*"):
    for line in open(f):
        p = line.split()
        if p and p[0] == "RESULT" and len(p) == 5:
            res[(p[1], p[2])] = float(p[4])
        elif p and p[0] == "RESULT":
            print(f"{p[1]} {p[2]}: " + " ".join(p[3:]))
print(f"{'':16} {'opsh ms':>9} {'cjson ms':>9} {'cjson/opsh':>11}")
for m in ("decode", "encode", "encode-vectors"):
    o, c = res.get(("opsh.json", m)), res.get(("lua-cjson", m))
    if o and c:
        print(f"{m:16} {o*1e3:9.1f} {c*1e3:9.1f} {c/o:11.2f}")
    else:
        print(f"{m:16} {'-' if o is None else f'{o*1e3:9.1f}':>9} {'-' if c is None else f'{c*1e3:9.1f}':>9} {'n/a':>11}")
PY
