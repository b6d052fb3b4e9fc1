#!/bin/sh
# Border call cost: instructions per call (valgrind --tool=callgrind) of opsh._bench's
# c_addone (plain lua_CFunction), swift_addone (Swift behind the C trampoline) and
# closure_addone (capturing Swift closure behind the trampoline), all in one run.
# per call = ((Ir(N) - Ir(0)) of the call loop - (Ir(N) - Ir(0)) of an empty loop) / N
# Usage: Benchmarks/callcost.sh [OPSH]   (or OPSH=path; default .build/release/opsh)
# N=10000000 by default (a few minutes per variant under callgrind). Builds nothing.
set -eu
OPSH=${1:-${OPSH:-.build/release/opsh}}
[ -x "$OPSH" ] || { echo "no opsh binary at $OPSH" >&2; exit 2; }
N=${N:-10000000}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
# valgrind 3.19 (Debian 12) cannot read the DWARF 5 that swiftc emits and gives up;
# measure a copy with the debug sections removed (same code, symbols kept).
objcopy --strip-debug "$OPSH" "$out/opsh"
OPSH="$out/opsh"

# total instructions executed by: opsh -e CODE   (callgrind "summary:" line)
ir() {
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$OPSH" -e "$1" >/dev/null 2>"$out/log" \
    || { cat "$out/log" >&2; exit 1; }
  awk '/^summary:/ {print $2}' "$out/cg"
}
loop() { # $1 = variant or "empty", $2 = N
  if [ "$1" = empty ]; then
    echo "local n = $2; for i = 1, n do local _ = i end"
  else
    echo "local f = require('opsh._bench').$1; local n = $2; for i = 1, n do local _ = f(i) end"
  fi
}
delta() { a=$(ir "$(loop "$1" "$N")"); b=$(ir "$(loop "$1" 0)"); echo $((a - b)); }

# sanity: every variant returns i + 1
"$OPSH" -e "local b = require('opsh._bench'); for _, k in ipairs{'c_addone','swift_addone','closure_addone'} do assert(b[k](41) == 42, k) end"

empty=$(delta empty); echo "empty loop: $empty Ir over N=$N" >&2
c=$(delta c_addone); echo "c_addone: $c Ir" >&2
s=$(delta swift_addone); echo "swift_addone: $s Ir" >&2
k=$(delta closure_addone); echo "closure_addone: $k Ir" >&2
python3 - "$N" "$empty" "$c" "$s" "$k" <<'PY'
import sys
n, e, c, s, k = map(int, sys.argv[1:])
per = lambda x: (x - e) / n
print(f"N = {n} calls; empty loop {e/n:.2f} Ir per iteration (subtracted)")
print(f"{'variant':16} {'Ir per call':>12} {'ratio vs c_addone':>18}")
for name, x in (("c_addone", c), ("swift_addone", s), ("closure_addone", k)):
    print(f"{name:16} {per(x):12.2f} {per(x)/per(c):18.2f}")
PY
