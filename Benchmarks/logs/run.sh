#!/usr/bin/env bash
# opsh.logs side by side with the guide's access-log pipelines, in one run, on a generated 1 GiB
# combined-format access log (Benchmarks/logs/gen_access_log.py, seeded: the same bytes every time;
# never committed). Each pair must give the same answer, or the script fails.
#
#   swift build -c release --disable-local-rpath --scratch-path .build-release --product opsh
#   Benchmarks/logs/run.sh [path to opsh]        (default .build-release/release/opsh)
#
#   top      the guide's `awk '{print $1}' LOG | sort | uniq -c | sort -nr | head`
#   sql      the guide's `grep -E "(union|select|insert|update|delete|drop)" LOG | tail -10`
#            (the answer compared: grep -c's count and the last 10 lines)
#   clients  the guide's `awk '$9 == 200 {print $1}' LOG | sort | uniq -c | awk '$1 > 100 ...'`
#   each against `opsh report.lua LOG top|sql|clients`, the pipelines under the machine's locale
#   (LANG, C.UTF-8 here) and under LC_ALL=C. Goal: opsh at least 10x faster than each.
#   all      the three reports from one opsh pass against `rg -c` of the SQL words alone
#            (goal: within 1.5x of ripgrep).
#   memory   opsh's peak resident set while it makes the three reports (/usr/bin/time -v): under 64 MiB.
# LOG (default /var/tmp/opsh-access-1g.log, made when absent), SIZE (default 1G), RUNS (default 5
# for opsh and rg), PIPELINE_RUNS (default 3 for the pipelines); the figures are hyperfine's
# medians of wall time and its mean CPU time (user + system).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
opsh=${1:-$root/.build-release/release/opsh}
log=${LOG:-/var/tmp/opsh-access-1g.log}
size=${SIZE:-1G}
runs=${RUNS:-5}
pruns=${PIPELINE_RUNS:-3}
[[ -x $opsh ]] || { echo "run.sh: no opsh at $opsh (see the header)" >&2; exit 2; }
for tool in hyperfine rg awk grep python3 /usr/bin/time; do command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (scripts/setup installs it)" >&2; exit 2; }; done
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/opsh-logs-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [[ ! -f $log ]]; then
  echo "# generating $log ($size)"
  python3 "$here/gen_access_log.py" "$log" --size "$size"
fi
cat "$log" > /dev/null   # in the page cache, for every contender alike
echo "# $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), log $(stat -c %s "$log") bytes, $(wc -l < "$log") lines, locale ${LANG:-unset}"

sql='(union|select|insert|update|delete|drop)'
top_pipe="awk '{print \$1}' $log | sort | uniq -c | sort -nr | head"
sql_pipe="grep -E \"$sql\" $log | tail -10"
clients_pipe="awk '\$9 == 200 {print \$1}' $log | sort | uniq -c | awk -v threshold=100 '\$1 > threshold {print \$2 \" - \" \$1 \" requests\"}'"

# the answers first: the same, or no figures
fail=0
same() {   # name, expected file, got file
  if cmp -s "$2" "$3"; then echo "# answer $1: same ($(wc -l < "$2") lines)"; else echo "# answer $1: DIFFERENT"; diff "$2" "$3" | head -20; fail=1; fi
}
bash -c "$top_pipe" > "$tmp/top.guide"
"$opsh" "$here/report.lua" "$log" top > "$tmp/top.opsh"
same top "$tmp/top.guide" "$tmp/top.opsh"
{ grep -cE "$sql" "$log"; bash -c "$sql_pipe"; } > "$tmp/sql.guide"
"$opsh" "$here/report.lua" "$log" sql > "$tmp/sql.opsh"
same sql "$tmp/sql.guide" "$tmp/sql.opsh"
rg -c "$sql" "$log" > "$tmp/sql.rg"
if [[ $(cat "$tmp/sql.rg") == $(head -1 "$tmp/sql.guide") ]]; then echo "# answer sql (rg -c): same"; else echo "# answer sql (rg -c): DIFFERENT"; fail=1; fi
bash -c "$clients_pipe" | LC_ALL=C sort > "$tmp/clients.guide"
"$opsh" "$here/report.lua" "$log" clients > "$tmp/clients.opsh"
same clients "$tmp/clients.guide" "$tmp/clients.opsh"
"$opsh" "$here/report.lua" "$log" all > "$tmp/all.opsh"
cat "$tmp/top.opsh" "$tmp/sql.opsh" "$tmp/clients.opsh" > "$tmp/all.parts"
same all "$tmp/all.parts" "$tmp/all.opsh"
[[ $fail == 0 ]] || { echo "run.sh: the answers differ" >&2; exit 1; }

one() {   # json name, display name, runs, command (run by hyperfine through sh)
  hyperfine --style basic --runs "$3" -n "$2" --export-json "$tmp/$1.json" "$4" 2>&1 | grep -E '^  Time|^  Range' | sed "s/^/# $2: /" || true
}
one top.guide "guide top IPs" "$pruns" "$top_pipe"
one top.guideC "guide top IPs, LC_ALL=C" "$pruns" "export LC_ALL=C; $top_pipe"
one top.opsh "opsh top IPs" "$runs" "$opsh $here/report.lua $log top"
one sql.guide "guide grep -E" "$pruns" "$sql_pipe"
one sql.guideC "guide grep -E, LC_ALL=C" "$pruns" "export LC_ALL=C; $sql_pipe"
one sql.opsh "opsh SQL words" "$runs" "$opsh $here/report.lua $log sql"
one clients.guide "guide per-IP 200 awk" "$pruns" "$clients_pipe"
one clients.guideC "guide per-IP 200 awk, LC_ALL=C" "$pruns" "export LC_ALL=C; $clients_pipe"
one clients.opsh "opsh clients" "$runs" "$opsh $here/report.lua $log clients"
one all.rg "rg -c SQL words" "$runs" "rg -c '$sql' $log"
one all.opsh "opsh three reports, one pass" "$runs" "$opsh $here/report.lua $log all"

python3 - "$tmp" <<'PY'
import json, sys, os
tmp = sys.argv[1]
def load(name):
    r = json.load(open(os.path.join(tmp, name + ".json")))["results"][0]
    return r["median"], r["user"] + r["system"]
print("\n# medians: wall (s), CPU user+system (s); ratio peer/opsh on each")
for name, peers in [("top", ["guide", "guideC"]), ("sql", ["guide", "guideC"]), ("clients", ["guide", "guideC"]), ("all", ["rg"])]:
    ow, oc = load(name + ".opsh")
    for peer in peers:
        pw, pc = load(name + "." + peer)
        print("%-8s %-7s wall %8.3f vs opsh %7.3f  = %6.2fx   CPU %8.3f vs opsh %7.3f  = %6.2fx" % (name, peer, pw, ow, pw / ow, pc, oc, pc / oc))
PY
/usr/bin/time -v "$opsh" "$here/report.lua" "$log" all > /dev/null 2> "$tmp/time.txt"
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt")
echo "# opsh peak resident set, three reports of the 1 GiB log: $((rss / 1024)) MiB ($rss KiB); goal < 64 MiB"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
