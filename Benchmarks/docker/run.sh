#!/usr/bin/env bash
# opsh's Docker client side by side with the docker CLI, in one run, against the real engine
# (scripts/dockerd starts one when none runs). Every container it makes is labelled
# opsh.bench=<run id> and removed at the end, whatever happens.
#
#   swift build -c release --disable-local-rpath --scratch-path .build-release --product opsh
#   Benchmarks/docker/run.sh [path to opsh]        (default .build-release/release/opsh)
#
# 1. List and inspect N (default 50) containers:
#      guide     one docker process per container and step: `docker ps -q`, then `docker inspect ID` for each
#      CLI best  `docker ps -q` then one `docker inspect` with all the ids
#      opsh      Benchmarks/docker/list_inspect.lua: one list, all inspects concurrently
#    Goal: opsh at least 30x faster than the guide's way, at least 2x faster than the CLI at its best.
# 2. Stats of the same N containers:
#      guide     `docker stats --no-stream ID` for each (once: it takes about N x 2 s)
#      CLI best  one `docker stats --no-stream` with all the ids
#      opsh      Benchmarks/docker/stats.lua: all samples requested at once
#    Both wait for the engine's collector, which reads every container once a second; a CPU % needs
#    two of its readings. Goal: about one daemon sampling period, no slower than the CLI.
# 3. CPU % of a container burning one core, opsh's and `docker stats`' taken at the same time,
#    ROUNDS (default 5) times; the machine is shared, so a core's share moves between rounds and
#    the two windows differ by a few hundred ms: the goal (within 5 points) is on the medians.
# 4. Scanning LOG_MB (default 100) MB of container logs for "error": 4 containers of LOG_MB/4 each,
#      guide     `docker logs C 2>&1 | grep -i error` for each container in turn
#      opsh      Benchmarks/docker/logscan.lua: every container at once (the local json-file log is
#                read natively; `--api` below forces the engine's /logs endpoint instead)
#      opsh API  the same through /logs (opts.source = "api"), to show what the engine alone costs
#    Goal: at least 2x faster.
# RUNS (default 10) hyperfine runs per command for 1, 5 for 2 and 4; the figures are medians.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
opsh=${1:-$root/.build-release/release/opsh}
N=${N:-50}
runs=${RUNS:-10}
rounds=${ROUNDS:-5}
log_mb=${LOG_MB:-100}
[[ -x $opsh ]] || { echo "run.sh: no opsh at $opsh (see the header)" >&2; exit 2; }
for tool in hyperfine docker; do command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 2; }; done
"$root/scripts/dockerd" start >/dev/null
image=$("$root/scripts/dockerd" image)
run_id="b$$"
label="opsh.bench=$run_id"
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/opsh-docker-bench.XXXXXX")
cleanup() {
  ids=$(docker ps -aq --filter "label=$label" 2>/dev/null || true)
  [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "# engine: $(docker version -f '{{.Server.Version}} (API {{.Server.APIVersion}})'), $(nproc) CPUs, N=$N"
echo "# creating $N containers"
for i in $(seq 1 "$N"); do
  docker run -d --name "opsh-bench-$run_id-$i" --label "$label" --label "opsh.bench.kind=idle" --network host "$image" sleep 3600 >/dev/null
done
ids=$(docker ps -q --filter "label=$label" --filter "label=opsh.bench.kind=idle" | tr '\n' ' ')
[ "$(echo $ids | wc -w)" = "$N" ] || { echo "run.sh: expected $N containers" >&2; exit 1; }
printf '%s\n' $ids > "$tmp/ids"

echo; echo "## 1. list + inspect $N containers"
# the three agree on what they see
g=$(for id in $(docker ps -q --filter "label=$label"); do docker inspect "$id" >/dev/null && echo x; done | wc -l)
o=$("$opsh" "$here/list_inspect.lua" "$label")
[ "$g" = "$N" ] && [ "$o" = "$N" ] || { echo "run.sh: guide saw $g, opsh $o" >&2; exit 1; }
hyperfine -N -w 2 -r "$runs" --export-json "$tmp/list.json" \
  -n guide "bash -c 'for id in \$(docker ps -q --filter label=$label); do docker inspect \$id >/dev/null; done'" \
  -n cli-best "bash -c 'docker inspect \$(docker ps -q --filter label=$label) >/dev/null'" \
  -n opsh "$opsh $here/list_inspect.lua $label" >/dev/null
python3 - "$tmp/list.json" <<'PY'
import json, sys, statistics
r = {x["command"]: statistics.median(x["times"]) for x in json.load(open(sys.argv[1]))["results"]}
print(f"median: guide {r['guide']*1000:.0f} ms, CLI best {r['cli-best']*1000:.1f} ms, opsh {r['opsh']*1000:.1f} ms")
print(f"opsh vs guide: {r['guide']/r['opsh']:.1f}x faster (goal 30x); vs CLI best: {r['cli-best']/r['opsh']:.2f}x faster (goal 2x)")
PY

echo; echo "## 2. stats of $N containers"
hyperfine -N -w 1 -r "$runs" --export-json "$tmp/stats.json" \
  -n cli-best "bash -c 'docker stats --no-stream \$(cat $tmp/ids) >/dev/null'" \
  -n opsh "$opsh $here/stats.lua $label" >/dev/null
hyperfine -N -r 1 --export-json "$tmp/stats-guide.json" \
  -n guide "bash -c 'for id in \$(cat $tmp/ids); do docker stats --no-stream \$id >/dev/null; done'" >/dev/null
python3 - "$tmp/stats.json" "$tmp/stats-guide.json" <<'PY'
import json, sys, statistics
r = {x["command"]: statistics.median(x["times"]) for f in sys.argv[1:] for x in json.load(open(f))["results"]}
print(f"median: guide {r['guide']:.1f} s (one run), CLI best {r['cli-best']:.2f} s, opsh {r['opsh']:.2f} s")
print(f"opsh vs CLI best: {r['cli-best']/r['opsh']:.2f}x; vs guide: {r['guide']/r['opsh']:.0f}x")
PY

echo; echo "## 3. CPU % of a container burning one core: opsh and docker stats at the same time"
docker run -d --name "opsh-bench-$run_id-burn" --label "$label" --label "opsh.bench.kind=burn" "$image" sh -c 'while :; do :; done' >/dev/null
sleep 2
maxdiff=0; os=(); cs=()
for k in $(seq 1 "$rounds"); do
  "$opsh" "$here/stats.lua" "opsh.bench.kind=burn" > "$tmp/o" &
  docker stats --no-stream --format '{{.CPUPerc}}' "opsh-bench-$run_id-burn" > "$tmp/c"
  wait
  o=$(awk '{print $2}' "$tmp/o"); c=$(tr -d '%' < "$tmp/c")
  d=$(python3 -c "print(abs($o - $c))")
  maxdiff=$(python3 -c "print(max($maxdiff, $d))")
  os+=("$o"); cs+=("$c")
  echo "round $k: opsh $o %, docker stats $c %, difference $d"
done
python3 -c "
import statistics
o = statistics.median([$(IFS=,; echo "${os[*]}")]); c = statistics.median([$(IFS=,; echo "${cs[*]}")])
print(f'medians: opsh {o:.2f} %, docker stats {c:.2f} %, difference {abs(o - c):.2f} points (goal: within 5); largest single-round difference $maxdiff')"
docker rm -f "opsh-bench-$run_id-burn" >/dev/null

echo; echo "## 4. scanning $log_mb MB of logs (4 containers) for errors"
per=$(( log_mb * 1000000 / 4 / 70 ))   # lines of about 70 bytes
names=()
for k in 1 2 3 4; do
  n="opsh-bench-$run_id-log$k"
  docker run --name "$n" --label "$label" --label "opsh.bench.kind=log" "$image" awk -v n="$per" 'BEGIN{for(i=0;i<n;i++){ if(i%50==0) printf "2026-11-29T05:00:00Z ERROR request %d failed: upstream timeout after 30000 ms\n", i; else printf "2026-11-29T05:00:00Z INFO  request %d served in 12 ms from cache shard 7\n", i }}' >/dev/null
  names+=("$n")
done
bytes=0
for n in "${names[@]}"; do bytes=$((bytes + $(docker logs "$n" 2>&1 | wc -c))); done
echo "log text: $((bytes / 1000000)) MB in ${#names[@]} containers (json-file on disk: $(du -cb $(for n in "${names[@]}"; do docker inspect -f '{{.LogPath}}' "$n"; done) | tail -1 | cut -f1) bytes)"
g=$(for n in "${names[@]}"; do docker logs "$n" 2>&1 | grep -i error; done | wc -l)
o=$("$opsh" "$here/logscan.lua" "${names[@]}")
oa=$(OPSH_LOG_SOURCE=api "$opsh" "$here/logscan.lua" "${names[@]}")
[ "$g" = "$o" ] && [ "$g" = "$oa" ] || { echo "run.sh: error lines differ: grep $g, opsh $o, opsh api $oa" >&2; exit 1; }
echo "error lines: $g (the same for all three)"
hyperfine -N -w 1 -r 5 --export-json "$tmp/logs.json" \
  -n guide "bash -c 'for n in ${names[*]}; do docker logs \$n 2>&1 | grep -i error; done >/dev/null'" \
  -n opsh "$opsh $here/logscan.lua ${names[*]}" \
  -n opsh-api "env OPSH_LOG_SOURCE=api $opsh $here/logscan.lua ${names[*]}" >/dev/null
python3 - "$tmp/logs.json" <<'PY'
import json, sys, statistics
r = {x["command"]: statistics.median(x["times"]) for x in json.load(open(sys.argv[1]))["results"]}
print(f"median: guide {r['guide']:.2f} s, opsh {r['opsh']:.3f} s, opsh through /logs {r['opsh-api']:.2f} s")
print(f"opsh vs guide: {r['guide']/r['opsh']:.1f}x faster (goal 2x); through /logs: {r['guide']/r['opsh-api']:.2f}x")
PY
