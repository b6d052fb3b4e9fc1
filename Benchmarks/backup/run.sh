#!/bin/sh
# Backup and restore of 1 GiB of mixed data (gen.py): opsh.backup against GNU tar with gzip,
# pigz and zstd (all with -S, so sparse files stay sparse), each followed by `openssl dgst -sha256` of the archive (opsh hashes in the same
# pass) and a sync of the filesystem (opsh makes one syncfs pass); restore against
# `tar xzf && sync`. Same compression levels (gzip/pigz 6, zstd 3), same durability.
# Runs alternate between peers, RUNS times (default 5). Printed: median wall time, median CPU
# time (user+sys of the whole pipeline: steadier than wall time on a shared machine), the
# median of each run's opsh/peer ratio (both measured minutes apart at most), output sizes and
# peak memory (max RSS of the pipeline's largest process).
# Usage: Benchmarks/backup/run.sh [OPSH]   (default .build/release/opsh); DATA=dir to reuse data;
#        WORK=dir (default /var/tmp/opsh-bench-backup; needs ~4 GiB)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
OPSH=${1:-${OPSH:-.build/release/opsh}}
OPSH=$(cd "$(dirname "$OPSH")" && pwd)/$(basename "$OPSH")
[ -x "$OPSH" ] || { echo "no opsh binary at $OPSH" >&2; exit 2; }
RUNS=${RUNS:-5}
WORK=${WORK:-/var/tmp/opsh-bench-backup}
DATA=${DATA:-$WORK/data}
mkdir -p "$WORK"
if [ ! -d "$DATA" ]; then echo "generating $DATA" >&2; python3 "$here/gen.py" "$DATA"; fi
du -s --apparent-size -B1M "$DATA" >&2; du -s -B1M "$DATA" >&2
out="$WORK/out"; results="$WORK/results.txt"; : > "$results"

cat > "$WORK/backup.lua" <<LUA
local backup = require "opsh.backup"
local w = assert(backup.begin{root = arg[1], tier = "bench", compression = arg[2]})
assert(w:add_tree("data", "$DATA"))
local m = assert(w:commit())
print(m.path)
LUA
cat > "$WORK/restore.lua" <<LUA
local backup = require "opsh.backup"
assert(backup.restore(arg[1], "data", arg[2]))
LUA

# measure NAME CMD: wall seconds and max RSS (KiB) of the command, appended to results
measure() {
  name=$1; shift
  cat "$DATA"/text/* "$DATA"/json/* "$DATA"/random/* "$DATA"/large/* > /dev/null   # same warm cache for all
  s=$(date +%s.%N)
  /usr/bin/time -f "%M %U %S" -o "$WORK/rss" sh -c "$*" > /dev/null
  e=$(date +%s.%N)
  echo "$name $(echo "$e - $s" | bc) $(cat "$WORK/rss") $run" >> "$results"
}

for run in $(seq 1 "$RUNS"); do
  rm -rf "$out"; mkdir -p "$out"
  measure "tar-czf+sha256"   "tar -S -czf $out/a.tar.gz -C $DATA . && sync -f $out && openssl dgst -sha256 $out/a.tar.gz"
  size_gz=$(stat -c %s $out/a.tar.gz)
  measure "tar-pigz+sha256"  "tar -S -I pigz -cf $out/p.tar.gz -C $DATA . && sync -f $out && openssl dgst -sha256 $out/p.tar.gz"
  size_pigz=$(stat -c %s $out/p.tar.gz)
  measure "tar-zstd+sha256"  "tar -S --zstd -cf $out/z.tar.zst -C $DATA . && sync -f $out && openssl dgst -sha256 $out/z.tar.zst"
  size_zst=$(stat -c %s $out/z.tar.zst)
  measure "opsh-gzip"        "$OPSH $WORK/backup.lua $out/og gzip"
  size_og=$(stat -c %s $out/og/*/data.tar.gz)
  measure "opsh-zstd"        "$OPSH $WORK/backup.lua $out/oz zstd"
  size_oz=$(stat -c %s $out/oz/*/data.tar.zst)
  # restore: GNU tar from its own archive, opsh from its backup (verified first, staged, swapped)
  rm -rf "$out/rt" && mkdir -p "$out/rt"
  measure "restore-tar-xzf+sync" "tar -xzf $out/a.tar.gz -C $out/rt && sync -f $out/rt"
  measure "restore-opsh-gzip"    "$OPSH $WORK/restore.lua $(ls -d $out/og/*/) $out/ro"
  diff -r "$out/rt/text" "$out/ro/text" > /dev/null && diff -r "$out/rt/small" "$out/ro/small" && cmp "$out/rt/sparse/wal-0.log" "$out/ro/sparse/wal-0.log" && echo "run $run: restored trees identical (text, small, a sparse file)" >&2
  rm -rf "$out/rt" "$out/ro"
  echo "sizes $size_gz $size_pigz $size_zst $size_og $size_oz" >> "$results"
done

python3 - "$results" <<'PY'
import sys, statistics, collections
t, cpu, rss, sizes = collections.defaultdict(dict), collections.defaultdict(list), collections.defaultdict(list), []
for line in open(sys.argv[1]):
    p = line.split()
    if p[0] == "sizes": sizes = [int(x) for x in p[1:]]; continue
    t[p[0]][p[5]] = float(p[1]); rss[p[0]].append(int(p[2])); cpu[p[0]].append(float(p[3]) + float(p[4]))
med = {k: statistics.median(v.values()) for k, v in t.items()}
mcpu = {k: statistics.median(v) for k, v in cpu.items()}
def paired(a, b):
    return statistics.median(t[a][r] / t[b][r] for r in t[a] if r in t[b])
print(f"runs: {len(t['opsh-gzip'])}; medians")
print(f"{'':24} {'wall s':>8} {'cpu s':>8} {'max RSS MiB':>12}   {'opsh/peer wall (paired median)':>32}  {'cpu ratio':>9}")
def row(name, peer=None):
    r = f"{name:24} {med[name]:8.2f} {mcpu[name]:8.2f} {max(rss[name])/1024:12.1f}"
    if peer: r += f"   {paired(name, peer):8.2f} vs {peer:22} {mcpu[name]/mcpu[peer]:9.2f}"
    print(r)
for n in ["tar-czf+sha256", "tar-pigz+sha256", "tar-zstd+sha256"]: row(n)
row("opsh-gzip", "tar-pigz+sha256"); row("opsh-gzip", "tar-czf+sha256")
row("opsh-zstd", "tar-zstd+sha256")
row("restore-tar-xzf+sync"); row("restore-opsh-gzip", "restore-tar-xzf+sync")
g, p, z, og, oz = sizes
print(f"sizes MiB: tar-czf {g/2**20:.1f}, pigz {p/2**20:.1f}, tar-zstd {z/2**20:.1f}, opsh-gzip {og/2**20:.1f} ({og/g:.3f} of tar-czf), opsh-zstd {oz/2**20:.1f} ({oz/z:.3f} of tar-zstd)")
PY
