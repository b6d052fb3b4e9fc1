#!/usr/bin/env bash
# opsh's Redis Cluster client (cluster-bench) side by side with redis-benchmark --cluster on the
# same private six-node cluster (3 primaries, 3 replicas), and both against one standalone
# redis-server, in one run; then the instructions of slot routing per command (callgrind).
#
#   swift build -c release --scratch-path .build-cbench --product cluster-bench
#   Benchmarks/redis/cluster.sh [path to cluster-bench]   (default .build-cbench/release/cluster-bench)
#
# Environment: N (default 100000) commands per figure, DEPTH (default 16) commands per pipeline,
# ROUNDS (default 3) alternating rounds; each figure printed is the median of the rounds.
# redis-benchmark runs one client (-c 1) pipelining DEPTH commands (-P DEPTH), as cluster-bench
# does: the figures are per request of one client, not a saturation test.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${1:-$root/.build-cbench/release/cluster-bench}
n=${N:-100000}
depth=${DEPTH:-16}
rounds=${ROUNDS:-3}
[[ -x $bench ]] || { echo "cluster.sh: no cluster-bench at $bench" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/opsh-cluster-bench.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {  # dir port args...
    local d=$1 p=$2; shift 2
    mkdir -p "$d"
    redis-server --port "$p" --bind 127.0.0.1 --dir "$d" --save "" --appendonly no --daemonize no --logfile "$d/log" "$@" &
    pids+=($!)
    for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && return; sleep 0.05; done
    echo "cluster.sh: redis-server on $p did not start" >&2; exit 2
}

ports=()
for i in 0 1 2 3 4 5; do
    p=$(free_port); ports+=("$p")
    start "$tmp/n$i" "$p" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-port "$(free_port)"
done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 1 --cluster-yes >/dev/null
for _ in $(seq 300); do
    redis-cli --cluster check "127.0.0.1:${ports[0]}" >/dev/null 2>&1 && break; sleep 0.1
done
single=$(free_port)
start "$tmp/single" "$single"
seeds=$(printf '127.0.0.1:%s,' "${ports[@]:0:3}"); seeds=${seeds%,}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A got
for r in $(seq "$rounds"); do
    while read -r mode op _ _ v _; do got["opsh-$mode-$op"]+="$v "; done < <(
        "$bench" cluster --seeds "$seeds" --n "$n" --depth "$depth" --reps 1
        "$bench" single --seeds "127.0.0.1:$single" --n "$n" --depth "$depth" --reps 1)
    for t in set get; do
        v=$(redis-benchmark --cluster -h 127.0.0.1 -p "${ports[0]}" -c 1 -P "$depth" -n "$n" -t "$t" -q 2>/dev/null | tr '\r' '\n' | grep -i "^$t:" | tail -1 | awk '{print int($2)}' || true)
        got["rb-cluster-$t"]+="$v "
        v=$(redis-benchmark -h 127.0.0.1 -p "$single" -c 1 -P "$depth" -n "$n" -t "$t" -q 2>/dev/null | tr '\r' '\n' | grep -i "^$t:" | tail -1 | awk '{print int($2)}' || true)
        got["rb-single-$t"]+="$v "
    done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); N=$n DEPTH=$depth ROUNDS=$rounds (median req/s)"
printf '%-34s %12s %12s\n' "" SET GET
for row in "opsh cluster (3 primaries):opsh-cluster" "redis-benchmark --cluster:rb-cluster" "opsh one node:opsh-single" "redis-benchmark one node:rb-single"; do
    label=${row%%:*}; key=${row#*:}
    s=$(tr ' ' '\n' <<<"${got[$key-SET]:-${got[$key-set]:-}}" | grep . | median || true)
    g=$(tr ' ' '\n' <<<"${got[$key-GET]:-${got[$key-get]:-}}" | grep . | median || true)
    printf '%-34s %12s %12s\n' "$label" "$s" "$g"
done

# routing per command: callgrind instructions of N2 routed commands minus N1, over N2 - N1
if command -v valgrind >/dev/null; then
    cp "$bench" "$tmp/cb" && strip --strip-debug "$tmp/cb"
    ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$tmp/cb" route --seeds "$seeds" --n "$1" 2>&1 | awk '/Collected/ {print $4}'; }
    a=$(ir 100000); b=$(ir 200000)
    echo "slot routing: $(( (b - a) / 100000 )) instructions per command (callgrind, route mode, 200000 - 100000 commands)"
fi
