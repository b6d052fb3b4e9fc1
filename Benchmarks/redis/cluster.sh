#!/usr/bin/env bash
# opsh's Redis Cluster client (cluster-bench) side by side with redis-benchmark --cluster on the
# same private six-node cluster (3 primaries, 3 replicas), and both against one standalone
# redis-server, in one run; then the instructions of slot routing per command, and each client's
# own instructions per command on the same work (callgrind, DEPTH 16).
#
#   swift build -c release --scratch-path .build-cbench --product cluster-bench
#   Benchmarks/redis/cluster.sh [path to cluster-bench]   (default .build-cbench/release/cluster-bench)
#
# Environment: N (default 100000) commands per figure, DEPTH (default 16) commands per pipeline,
# ROUNDS (default 3) rounds; each figure printed is the median of the rounds. In a round each
# opsh row and its redis-benchmark row run back to back (opsh first in odd rounds), and the ratio
# of that pair is kept: the median of those ratios is printed beside the ratio of the medians.
# PIN=1 pins the clients to CPU 0 and the servers to CPU 1 (below).
#
# What each row measures (redis-benchmark 7.0's cluster mode binds each client to ONE primary,
# round-robin over the primaries, and puts one hash tag, one slot of that primary, in every key
# the client sends; unless --threads is given it runs one thread per primary):
#   "opsh cluster, keys spread" / "redis-benchmark --cluster -c 1": the first rows recorded for
#     issue 18, NOT the same work: opsh sends each pipeline of DEPTH over all 3 primaries (about
#     DEPTH/3 each) and waits for the slowest; redis-benchmark -c 1 sends all DEPTH to one primary,
#     one key (no -r).
#     With more than one thread, redis-benchmark's time is also rounded UP to a 250 ms tick: a
#     thread whose client found nothing left to send (or that has no client: -c 1 still starts
#     one thread per primary) stops only at its next showThroughput timer, every 250 ms, and the
#     total time is taken after every thread has stopped. --threads 1 stops with the last reply.
#   same work 1, one primary, DEPTH in flight: cluster-bench --keys one-node --depth DEPTH (every
#     key tagged to one slot of one primary) against redis-benchmark --cluster --threads 1 -c 1
#     -P DEPTH -r 10000; both one thread, one connection to one primary, 10,000 keys.
#   same work 2, three primaries, DEPTH in flight on each, one thread: cluster-bench --keys
#     per-node --depth 3*DEPTH (exactly DEPTH per primary per call) against redis-benchmark
#     --cluster --threads 1 -c 3 -P DEPTH -r 10000 (three clients, one per primary, on one event
#     loop). One difference is left, and it is opsh's API: a pipeline call returns when all three
#     parts are answered, where each redis-benchmark client sends its next pipeline as soon as its
#     own node has answered.
#   same work 3, as 2 without the wait: cluster-bench streams --depth DEPTH (one RESPCluster client
#     per primary on one event loop, keys tagged to its primary, each sending its next pipeline
#     when its own replies are in) against the same redis-benchmark command as in 2.
#   reference: redis-benchmark --cluster -c 3 -P DEPTH -r 10000 with its default three threads
#     (three threads against opsh's one, and the 250 ms rounding): printed for scale, no ratio.
#   one node: both clients against one standalone redis-server, DEPTH per pipeline.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${1:-$root/.build-cbench/release/cluster-bench}
n=${N:-100000}
depth=${DEPTH:-16}
rounds=${ROUNDS:-3}
# PIN=1: the clients (both) on CPU 0, every redis-server on CPU 1, so that the scheduler cannot
# put a client and a server on one core in one round and apart in the next (on the shared
# 2-core machine it did not make the rounds steadier: BENCHMARKS.md section 13).
srv=() cli=()
[[ ${PIN:-0} == 1 ]] && { srv=(taskset -c 1); cli=(taskset -c 0); }
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
    "${srv[@]}" redis-server --port "$p" --bind 127.0.0.1 --dir "$d" --save "" --appendonly no --daemonize no --logfile "$d/log" "$@" &
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
rb() {  # key test args...: the req/s redis-benchmark prints for test, appended to got[key-test]
    local key=$1 t=$2; shift 2
    local v
    v=$("${cli[@]}" redis-benchmark -h 127.0.0.1 "$@" -n "$n" -t "$t" -q 2>/dev/null | tr '\r' '\n' | grep -i "^$t:" | tail -1 | awk '{print int($2)}' || true)
    got["$key-$t"]+="$v "
}
declare -A got
cp=${ports[0]}
ob() {  # key cluster-bench args...: its SET and GET req/s appended to got[key-set], got[key-get]
    local key=$1 op v; shift
    while read -r _ op _ _ v _; do got["$key-$(tr 'A-Z' 'a-z' <<<"$op")"]+="$v "; done < <("${cli[@]}" "$bench" "$@" --n "$n" --reps 1)
}
both() {  # opsh-key rb-key cluster-bench args -- redis-benchmark args: the pair back to back,
          # opsh first in odd rounds and redis-benchmark first in even ones (a drift of the
          # machine's load then falls on both), and the round's ratio opsh / redis-benchmark
    local ok=$1 rk=$2; shift 2
    local oa=() t
    while [[ $1 != -- ]]; do oa+=("$1"); shift; done; shift
    if (( r % 2 )); then ob "$ok" "${oa[@]}"; for t in set get; do rb "$rk" "$t" "$@"; done
    else for t in set get; do rb "$rk" "$t" "$@"; done; ob "$ok" "${oa[@]}"; fi
    for t in set get; do
        local o=${got[$ok-$t]% } b=${got[$rk-$t]% }
        o=${o##* } b=${b##* }
        if [[ -n $o && -n $b && $b != 0 ]]; then got["ratio-$ok-$t"]+="$(awk -v a="$o" -v b="$b" 'BEGIN {printf "%.3f", a / b}') "; fi
    done
}
for r in $(seq "$rounds"); do
    both opsh-cluster-spread rb-cluster-c1 cluster --seeds "$seeds" --depth "$depth" \
        -- --cluster -p "$cp" -c 1 -P "$depth"
    both opsh-cluster-one rb-cluster-one cluster --seeds "$seeds" --depth "$depth" --keys one-node \
        -- --cluster -p "$cp" --threads 1 -c 1 -P "$depth" -r 10000
    both opsh-cluster-per rb-cluster-per cluster --seeds "$seeds" --depth $((3 * depth)) --keys per-node \
        -- --cluster -p "$cp" --threads 1 -c 3 -P "$depth" -r 10000
    both opsh-streams rb-cluster-str streams --seeds "$seeds" --depth "$depth" \
        -- --cluster -p "$cp" --threads 1 -c 3 -P "$depth" -r 10000
    for t in set get; do rb rb-cluster-3t "$t" --cluster -p "$cp" -c 3 -P "$depth" -r 10000; done
    both opsh-single rb-single single --seeds "127.0.0.1:$single" --depth "$depth" \
        -- -p "$single" -c 1 -P "$depth"
done
fig() { tr ' ' '\n' <<<"${got[$1]:-}" | grep . | median || true; }
ratio() { [[ -n $1 && -n $2 && $2 != 0 ]] && awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}' || echo "-"; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); N=$n DEPTH=$depth ROUNDS=$rounds PIN=${PIN:-0} (median req/s)"
printf '%-62s %10s %10s\n' "" SET GET
row() { printf '%-62s %10s %10s\n' "$1" "$(fig "$2-set")" "$(fig "$2-get")"; }
ratios() {
    printf '%-62s %10s %10s\n' "  ratio of the medians, opsh / redis-benchmark" "$(ratio "$(fig "$1-set")" "$(fig "$2-set")")" "$(ratio "$(fig "$1-get")" "$(fig "$2-get")")"
    printf '%-62s %10s %10s\n' "  median of the rounds' ratios" "$(fig "ratio-$1-set" | awk '{printf "%.2fx", $1}')" "$(fig "ratio-$1-get" | awk '{printf "%.2fx", $1}')"
}
echo "first rows (not the same work: opsh 3 primaries, $depth/3 each; redis-benchmark 1 primary, 1 key, 3 threads, 250 ms ticks)"
row "opsh cluster, keys spread, depth $depth" opsh-cluster-spread
row "redis-benchmark --cluster -c 1 -P $depth" rb-cluster-c1
ratios opsh-cluster-spread rb-cluster-c1
echo "same work 1: one primary, $depth in flight, one connection"
row "opsh cluster --keys one-node, depth $depth" opsh-cluster-one
row "redis-benchmark --cluster --threads 1 -c 1 -P $depth -r 10000" rb-cluster-one
ratios opsh-cluster-one rb-cluster-one
echo "same work 2: three primaries, $depth in flight on each, one thread"
row "opsh cluster --keys per-node, depth $((3 * depth))" opsh-cluster-per
row "redis-benchmark --cluster --threads 1 -c 3 -P $depth -r 10000" rb-cluster-per
ratios opsh-cluster-per rb-cluster-per
echo "same work 3: three primaries, $depth in flight on each, one thread, no client waiting for another"
row "opsh streams (a client per primary), depth $depth" opsh-streams
row "redis-benchmark --cluster --threads 1 -c 3 -P $depth -r 10000" rb-cluster-str
ratios opsh-streams rb-cluster-str
echo "reference, not the same work (three threads, 250 ms ticks)"
row "redis-benchmark --cluster -c 3 -P $depth -r 10000 (3 threads)" rb-cluster-3t
echo "one standalone node, depth $depth"
row "opsh one node" opsh-single
row "redis-benchmark one node -c 1 -P $depth" rb-single
ratios opsh-single rb-single
echo "every round, in order (req/s):"
for k in $(printf '%s\n' "${!got[@]}" | sort); do printf '  %-30s %s\n' "$k" "${got[$k]}"; done

# routing per command: callgrind instructions of N2 routed commands minus N1, over N2 - N1
if command -v valgrind >/dev/null; then
    cp "$bench" "$tmp/cb" && strip --strip-debug "$tmp/cb"
    ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$tmp/cb" route --seeds "$seeds" --n "$1" 2>&1 | awk '/Collected/ {print $4}'; }
    a=$(ir 100000); b=$(ir 200000)
    echo "slot routing: $(( (b - a) / 100000 )) instructions per command (callgrind, route mode, 200000 - 100000 commands)"

    # The clients' own instructions per command on the same work (user space, callgrind; the
    # machine's load does not change them). cluster-bench: one more repetition of 16,000 SET and
    # 16,000 GET (--reps 2 - --reps 1: the batches are built once, before either);
    # redis-benchmark: -n 32000 - -n 16000 of SET and of GET.
    irc() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 | awk '/Collected/ {gsub(",", "", $4); print $4}'; }
    echo "client instructions per command (callgrind, SET and GET, DEPTH 16):"
    printf '  %-58s %8s %16s\n' "" opsh redis-benchmark
    while IFS='|' read -r label oargs rargs; do
        read -ra oa <<<"$oargs"; read -ra ra <<<"$rargs"
        o=$(( ($(irc "$tmp/cb" "${oa[@]}" --n 16000 --reps 2) - $(irc "$tmp/cb" "${oa[@]}" --n 16000 --reps 1)) / 32000 ))
        rbi=-
        if (( ${#ra[@]} )); then
            rbi=$(( ($(irc redis-benchmark "${ra[@]}" -n 32000 -t set,get -q) - $(irc redis-benchmark "${ra[@]}" -n 16000 -t set,get -q)) / 32000 ))
        fi
        printf '  %-58s %8s %16s\n' "$label" "$o" "$rbi"
    done <<EOF2
same work 1, one primary (one-node; --threads 1 -c 1)|cluster --seeds $seeds --depth 16 --keys one-node|--cluster -h 127.0.0.1 -p $cp --threads 1 -c 1 -P 16 -r 10000
same work 2, three primaries (per-node; --threads 1 -c 3)|cluster --seeds $seeds --depth 48 --keys per-node|--cluster -h 127.0.0.1 -p $cp --threads 1 -c 3 -P 16 -r 10000
same work 3, three primaries (streams; --threads 1 -c 3)|streams --seeds $seeds --depth 16|--cluster -h 127.0.0.1 -p $cp --threads 1 -c 3 -P 16 -r 10000
opsh cluster, keys spread (no redis-benchmark equivalent)|cluster --seeds $seeds --depth 16|
one standalone node|single --seeds 127.0.0.1:$single --depth 16|-h 127.0.0.1 -p $single -c 1 -P 16 -r 10000
EOF2
fi
