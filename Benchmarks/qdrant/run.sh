#!/usr/bin/env bash
# opsh's Qdrant client side by side with curl and PyPI qdrant-client, against the Qdrant-compatible
# stand-in (tools/qdrant-standin) on loopback, in one run. Each peer does the whole job in one
# process. The stand-in is Python: its latency is not Qdrant's, and it is the same for every peer.
#
#   swift build -c release --disable-local-rpath --scratch-path .build-release --product opsh
#   Benchmarks/qdrant/run.sh [path to opsh]        (default .build-release/release/opsh)
#
# 1. 1,000 sequential health requests: opsh (opsh.qdrant, one connection reused), one curl process
#    given the 1,000 URLs (it reuses its connection too), and qdrant-client (its info(): GET /).
#    Goal: opsh at least as fast as curl per request.
# 2. 100 requests to a stand-in that answers each one 50 ms later (--delay-ms 50): in opsh tasks
#    (opsh.all) against one after another. Goal: at least 20x faster concurrently.
# 3. Downloading a SIZE_MB (default 1024) snapshot with a correct .checksum: opsh's
#    download_snapshot (SHA-256 computed on the way, compared before the rename, fsync) against
#    `curl -o` followed by `openssl dgst -sha256`, and the same plus `sync` of the file (the
#    durability opsh gives). Peak RSS of each, and opsh's at a quarter of the size. Goal: at
#    least as fast as curl plus hashing, memory independent of the file's size.
# ROUNDS x RUNS_PER_ROUND (default 5 x 5) runs for 1, RUNS (default 10) for 2 and 3; figures are medians.
# Pinning (docs/ARCHITECTURE.md §8): the stand-ins run on CPU 0 and the clients of 1 on CPU 1 (taskset); the
# others are not pinned (opsh hashes a download on a second thread, as openssl runs beside curl).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
opsh=${1:-$root/.build-release/release/opsh}
runs=${RUNS:-10}
size_mb=${SIZE_MB:-1024}
[[ -x $opsh ]] || { echo "run.sh: no opsh at $opsh (see the header)" >&2; exit 2; }
for tool in hyperfine curl openssl python3 taskset /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 2; }
done
python3 -c "import qdrant_client" || { echo "run.sh: PyPI qdrant-client is missing" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/opsh-qdrant-bench.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

start_standin() {   # name, extra flags...; sets $url (not in a subshell: the pid must reach cleanup)
    local name=$1; shift
    taskset -c 0 python3 "$root/tools/qdrant-standin/server.py" --port 0 --storage "$tmp/$name/storage" \
        --snapshots "$tmp/$name/snapshots" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" &
    pids+=($!)
    for _ in $(seq 100); do grep -q listening "$tmp/$name.out" 2>/dev/null && break; sleep 0.05; done
    url=$(sed -n 's/^listening on //p' "$tmp/$name.out")
}
median() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][int(sys.argv[2])]['median'])" "$@"; }

start_standin fast; fast=$url
start_standin slow --delay-ms 50; slow=$url
echo "stand-ins: $fast, $slow (delay 50 ms); opsh: $opsh"

# --- 1. 1,000 sequential health requests: GET /healthz (opsh, curl) and GET / (all three: qdrant-client's
# generated healthz() parses Qdrant's plain-text answer as JSON and fails, so its health call is info())
for i in $(seq 1000); do printf 'url = "%s/healthz"\noutput = "/dev/null"\n' "$fast"; done > "$tmp/urls.cfg"
for i in $(seq 1000); do printf 'url = "%s/"\noutput = "/dev/null"\n' "$fast"; done > "$tmp/root.cfg"
cat > "$tmp/health.lua" <<LUA
local q = require("opsh.qdrant").connect { url = "$fast" }
for _ = 1, 1000 do assert(q:health().ok) end
LUA
cat > "$tmp/root.lua" <<LUA
local q = require("opsh.qdrant").connect { url = "$fast" }
for _ = 1, 1000 do assert(q:version().version) end
LUA
cat > "$tmp/root.py" <<PY
from qdrant_client import QdrantClient
c = QdrantClient(url="$fast", prefer_grpc=False, check_compatibility=False)
for _ in range(1000):
    assert c.info().version
PY
# the load on a shared machine drifts: ROUNDS rounds (default 5), each timing every command with
# RUNS_PER_ROUND runs (default 5) in turn; the ratio is taken within a round, then the median over rounds
rounds=${ROUNDS:-5}
for r in $(seq "$rounds"); do
    hyperfine -N --warmup 1 --runs "${RUNS_PER_ROUND:-5}" --export-json "$tmp/h$r.json" \
        -n "opsh /healthz" "taskset -c 1 $opsh $tmp/health.lua" \
        -n "curl /healthz" "taskset -c 1 curl -s --config $tmp/urls.cfg" \
        -n "opsh /" "taskset -c 1 $opsh $tmp/root.lua" \
        -n "curl /" "taskset -c 1 curl -s --config $tmp/root.cfg" > /dev/null
done
hyperfine -N --warmup 1 --runs 3 --export-json "$tmp/py.json" -n "qdrant-client /" "taskset -c 1 python3 $tmp/root.py" > /dev/null
python3 - "$tmp" "$rounds" <<'PY'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
runs = [[x["median"] for x in json.load(open(f"{tmp}/h{r}.json"))["results"]] for r in range(1, rounds + 1)]
py = json.load(open(f"{tmp}/py.json"))["results"][0]["median"]
med = [statistics.median(r[i] for r in runs) for i in range(4)]
names = ["opsh GET /healthz", "curl GET /healthz", "opsh GET / (version)", "curl GET /"]
print(f"1. 1,000 sequential requests in one process ({rounds} rounds; per request = run / 1000)")
for n, v in zip(names, med):
    print(f"   {n:22s} {v*1000:8.1f} ms  {v*1e3:7.1f} us/request")
print(f"   qdrant-client info()   {py*1000:8.1f} ms  {py*1e3:7.1f} us/request  ({py/med[2]:.1f}x opsh's GET /)")
h = statistics.median(r[0] / r[1] for r in runs)
g = statistics.median(r[2] / r[3] for r in runs)
print(f"   opsh/curl, median of the per-round ratios: /healthz {h:.3f} (rounds: {', '.join(f'{r[0]/r[1]:.2f}' for r in runs)}), "
      f"GET / {g:.3f} (rounds: {', '.join(f'{r[2]/r[3]:.2f}' for r in runs)})")
print(f"   goal opsh <= curl per request: {'met' if h <= 1 and g <= 1 else 'missed'}")
PY

# --- 2. 100 delayed requests, concurrently and one after another
cat > "$tmp/concurrent.lua" <<LUA
local opsh = require "opsh"
local q = require("opsh.qdrant").connect { url = "$slow" }
local fns = {}
for i = 1, 100 do fns[i] = function() return assert(q:ready().ok) end end
local r = { opsh.all(fns) }
assert(#r == 100)
LUA
cat > "$tmp/sequential.lua" <<LUA
local q = require("opsh.qdrant").connect { url = "$slow" }
for _ = 1, 100 do assert(q:ready().ok) end
LUA
hyperfine -N --warmup 1 --runs 5 --export-json "$tmp/c.json" \
    -n concurrent "$opsh $tmp/concurrent.lua" -n sequential "$opsh $tmp/sequential.lua" > "$tmp/c.txt"
python3 - "$(median "$tmp/c.json" 0)" "$(median "$tmp/c.json" 1)" <<'PY'
import sys
c, s = map(float, sys.argv[1:])
print("2. 100 GET /readyz answered 50 ms late each")
print(f"   opsh tasks (opsh.all) {c*1000:8.1f} ms")
print(f"   one after another     {s*1000:8.1f} ms   concurrent is {s/c:.1f}x faster (goal >= 20x: {'met' if s/c >= 20 else 'missed'})")
PY

# --- 3. the download
curl -s -X PUT -H 'Content-Type: application/json' -d '{"vectors":{"size":4,"distance":"Cosine"}}' "$fast/collections/bench" >/dev/null
mkdir -p "$tmp/fast/snapshots/bench" "$tmp/dl"
snapshot() {   # size in MB -> name; a synthetic snapshot: random bytes and a correct .checksum
    local mb=$1 name="bench-synthetic-$1mb.snapshot"
    head -c "$((mb << 20))" /dev/urandom > "$tmp/fast/snapshots/bench/$name"
    sha256sum "$tmp/fast/snapshots/bench/$name" | cut -c1-64 | tr -d '\n' > "$tmp/fast/snapshots/bench/$name.checksum"
    echo "$name"
}
big=$(snapshot "$size_mb")
small=$(snapshot "$((size_mb / 4))")
cat > "$tmp/download.lua" <<LUA
local q = require("opsh.qdrant").connect { url = "$fast" }
local name, out = ...
os.remove(out)
assert(q:download_snapshot("bench", name, out, { progress = false }))
LUA
cat > "$tmp/curl.sh" <<SH
rm -f "\$2"; curl -sf -o "\$2" "$fast/collections/bench/snapshots/\$1" && openssl dgst -sha256 "\$2" > /dev/null
SH
cat > "$tmp/curl-sync.sh" <<SH
rm -f "\$2"; curl -sf -o "\$2" "$fast/collections/bench/snapshots/\$1" && openssl dgst -sha256 "\$2" > /dev/null && sync "\$2"
SH
cat "$tmp/fast/snapshots/bench/$big" > /dev/null   # the server reads from the page cache for every peer
hyperfine -N --warmup 1 --runs "$(( runs < 5 ? runs : 5 ))" --export-json "$tmp/d.json" \
    -n opsh "$opsh $tmp/download.lua $big $tmp/dl/opsh.snapshot" \
    -n "curl + openssl" "bash $tmp/curl.sh $big $tmp/dl/curl.snapshot" \
    -n "curl + openssl + sync" "bash $tmp/curl-sync.sh $big $tmp/dl/curl.snapshot" > "$tmp/d.txt"
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
rss_opsh=$(rss "$opsh" "$tmp/download.lua" "$big" "$tmp/dl/opsh.snapshot")
rss_opsh_small=$(rss "$opsh" "$tmp/download.lua" "$small" "$tmp/dl/opsh-small.snapshot")
rss_curl=$(rss curl -sf -o "$tmp/dl/curl.snapshot" "$fast/collections/bench/snapshots/$big")
rss_openssl=$(rss openssl dgst -sha256 "$tmp/dl/curl.snapshot")
python3 - "$(median "$tmp/d.json" 0)" "$(median "$tmp/d.json" 1)" "$(median "$tmp/d.json" 2)" \
    "$size_mb" "$rss_opsh" "$rss_opsh_small" "$rss_curl" "$rss_openssl" <<'PY'
import sys
o, c, cs = map(float, sys.argv[1:4])
mb, ro, ros, rc, rs = map(int, sys.argv[4:])
print(f"3. downloading a {mb} MiB snapshot with its SHA-256 checked")
print(f"   opsh download_snapshot   {o:6.2f} s  {mb/o:7.1f} MiB/s  peak RSS {ro/1024:6.1f} MiB ({ros/1024:.1f} MiB for {mb//4} MiB)")
print(f"   curl -o + openssl dgst   {c:6.2f} s  {mb/c:7.1f} MiB/s  peak RSS curl {rc/1024:.1f} MiB, openssl {rs/1024:.1f} MiB")
print(f"   ... + sync (opsh's durability) {cs:6.2f} s")
print(f"   opsh / (curl + openssl) = {o/c:.2f}; opsh / (curl + openssl + sync) = {o/cs:.2f} "
      f"(goal <= 1: {'met' if o <= c else 'missed'} without sync, {'met' if o <= cs else 'missed'} with it)")
PY
