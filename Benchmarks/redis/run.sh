#!/usr/bin/env bash
# opsh's RESP client and parser (resp-bench) side by side with hiredis (hiredis_bench.c, Debian's
# libhiredis 0.14, RESP2) and redis-benchmark, against one private redis-server, in one run.
#
#   swift build -c release --scratch-path .build-rbench --product resp-bench
#   Benchmarks/redis/run.sh [path to resp-bench]      (default .build-rbench/release/resp-bench)
#
# Environment: ROUNDS (default 5) alternating rounds, REPS (default 3) timed repetitions per
# process (after one warm-up); every figure printed is the median of ROUNDS x REPS samples.
#
# Pinning (taskset): redis-server always runs on CPU 0. Client modes run twice:
#   "split": client on CPU 1, server on CPU 0 (a round trip crosses cores);
#   "same":  client and server both on CPU 0 (a round trip is two context switches).
# Between cores a round trip is several times slower on this machine and its cost flips
# between runs, so both are reported. The in-memory parsing modes use no server; they run on CPU 1,
# twice: "memory" with glibc's malloc defaults, where each pass frees its 1M replies and free()
# trims the heap, so the next pass page-faults it back in (both sides pay that); and
# "memory-warm" with glibc's trim threshold at 4G and mmap threshold at 32M (GLIBC_TUNABLES), where
# the heap stays mapped between passes, so only the parser and the allocator are measured.
#
# Goals (issue 3): sequential GET/SET time per request <= 1.1x hiredis; pipelined GET at depth
# 16 and 1000 >= hiredis's throughput; parsing a large array reply and 100 MB of bulk strings
# >= hiredis's reader throughput.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${1:-$root/.build-rbench/release/resp-bench}
rounds=${ROUNDS:-5}
reps=${REPS:-3}

if [[ ! -x $bench ]]; then
    echo "run.sh: no resp-bench at $bench; build it with" >&2
    echo "  swift build -c release --scratch-path .build-rbench --product resp-bench" >&2
    exit 2
fi
for tool in redis-server redis-cli redis-benchmark taskset gcc; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 2; }
done
if (( $(nproc) < 2 )); then echo "run.sh: needs two CPUs (0 and 1)" >&2; exit 2; fi

. "$here/../common.sh"
bench_scratch redis-bench
trap 'exit 130' INT TERM

gcc -O2 -o "$tmp/hiredis_bench" "$here/hiredis_bench.c" -lhiredis
hiredis=$tmp/hiredis_bench

# A free loopback port: a random one nothing accepts connections on.
free_port() {
    local p
    for _ in $(seq 50); do
        p=$(( 20000 + RANDOM % 40000 ))
        # Nothing listening: the connect fails.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    echo "run.sh: no free port found" >&2; exit 2
}
port=$(free_port)

taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp" --save "" --appendonly no \
    --daemonize no --logfile "$tmp/redis.log" &
server_pid=$!
for _ in $(seq 100); do
    [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/redis.log" >&2; exit 2; }
    sleep 0.05
done
[[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] || { echo "run.sh: redis-server did not start" >&2; exit 2; }

echo "== machine"
echo "$(uname -srm); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "$(redis-server --version | cut -d' ' -f1-3); hiredis $(dpkg-query -W -f '${Version}' libhiredis-dev 2>/dev/null || echo '?')"
echo "resp-bench: $bench"
echo "redis-server pid $server_pid on 127.0.0.1:$port, pinned to CPU 0; $rounds rounds x $reps reps"
echo

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
results=$tmp/results   # lines: round placement client mode value unit
# No trimming, and blocks up to 32 MB (glibc's maximum) from the heap rather than fresh mmaps;
# a fixed trim threshold alone turns off glibc's adaptive mmap threshold, and each 10 MiB
# bulk would then be a fresh mmap that page-faults.
warm_env=(GLIBC_TUNABLES=glibc.malloc.trim_threshold=4294967296:glibc.malloc.mmap_threshold=33554432)

# run ROUND PLACEMENT CPU CLIENT BINARY MODE
run() {
    local round=$1 placement=$2 cpu=$3 client=$4 bin=$5 mode=$6
    local envs=()
    [[ $placement == memory-warm ]] && envs=("${warm_env[@]}")
    env "${envs[@]}" taskset -c "$cpu" "$bin" "$mode" --port "$port" --reps "$reps" |
        while read -r m v u; do echo "$round $placement $client $m $v $u"; done >>"$results"
}

server_modes="get set pipe16 pipe1000"
for round in $(seq "$rounds"); do
    for placement in split same; do
        cpu=1; [[ $placement == same ]] && cpu=0
        for mode in $server_modes; do
            # Alternate who goes first.
            if (( round % 2 )); then
                run "$round" "$placement" "$cpu" opsh "$bench" "$mode"; run "$round" "$placement" "$cpu" hiredis "$hiredis" "$mode"
            else
                run "$round" "$placement" "$cpu" hiredis "$hiredis" "$mode"; run "$round" "$placement" "$cpu" opsh "$bench" "$mode"
            fi
        done
    done
    for placement in memory memory-warm; do
        for mode in parse-array parse-bulk; do
            if (( round % 2 )); then
                run "$round" "$placement" 1 opsh "$bench" "$mode"; run "$round" "$placement" 1 hiredis "$hiredis" "$mode"
            else
                run "$round" "$placement" 1 hiredis "$hiredis" "$mode"; run "$round" "$placement" 1 opsh "$bench" "$mode"
            fi
        done
    done
    echo "round $round/$rounds done" >&2
done

# redis-benchmark for reference (its own 50 connections, pipelined 16), three times per placement.
for placement in split same; do
    cpu=1; [[ $placement == same ]] && cpu=0
    for _ in 1 2 3; do
        taskset -c "$cpu" redis-benchmark -p "$port" -q -t get,set -P 16 --csv |
            awk -F, -v pl="$placement" 'NR > 1 { gsub(/"/, ""); print 0, pl, "redis-benchmark", $1, $2, "req/s" }' >>"$results"
    done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
pick() { awk -v p="$1" -v c="$2" -v m="$3" -v r="${4:-}" '$2 == p && $3 == c && $4 == m && (r == "" || $1 == r) { print $5 }' "$results"; }
# Median over rounds of (opsh's median in the round / hiredis's median in the same round).
paired() {
    local placement=$1 mode=$2 r o h
    for r in $(seq "$rounds"); do
        o=$(pick "$placement" opsh "$mode" "$r" | median)
        h=$(pick "$placement" hiredis "$mode" "$r" | median)
        awk -v o="$o" -v h="$h" 'BEGIN { print o / h }'
    done | median
}

echo
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== medians (split: server CPU 0, client CPU 1; same: both on CPU 0; memory, memory-warm: parser only, CPU 1)"
echo "   ratio = opsh median / hiredis median; paired = median over rounds of the same ratio within a round"
printf '%-11s %-12s %14s %14s %8s %8s  %-22s %s\n' placement mode opsh hiredis ratio paired goal verdict
row() {
    local placement=$1 mode=$2 unit=$3 goal=$4
    local o h pr
    o=$(pick "$placement" opsh "$mode" | median)
    h=$(pick "$placement" hiredis "$mode" | median)
    pr=$(paired "$placement" "$mode")
    awk -v pl="$placement" -v m="$mode" -v o="$o" -v h="$h" -v pr="$pr" -v u="$unit" -v g="$goal" 'BEGIN {
        r = o / h
        if (g == "le1.1") { ok = (r <= 1.1); gs = "time <= 1.1x hiredis" } else { ok = (r >= 1.0); gs = "rate >= hiredis" }
        fmt = (u == "us/req") ? "%14.2f" : "%14.0f"
        printf "%-11s %-12s " fmt " " fmt " %8.3f %8.3f  %-22s %s   (%s)\n", pl, m, o, h, r, pr, gs, ok ? "met" : "MISSED", u
    }'
}
for placement in split same; do
    row "$placement" get us/req le1.1
    row "$placement" set us/req le1.1
    row "$placement" pipe16 req/s ge1
    row "$placement" pipe1000 req/s ge1
done
for placement in memory memory-warm; do
    row "$placement" parse-array MB/s ge1
    row "$placement" parse-bulk MB/s ge1
done

echo
echo "== redis-benchmark -q -t get,set -P 16 (50 connections), median of 3, req/s"
for placement in split same; do
    for t in SET GET; do
        printf '%-7s %-4s %12.0f\n' "$placement" "$t" "$(pick "$placement" redis-benchmark "$t" | median)"
    done
done

echo
echo "== spread (min .. max of the samples)"
awk '$3 != "redis-benchmark" { k = $2 " " $4 " " $3; if (!(k in lo) || $5 < lo[k]) lo[k] = $5; if (!(k in hi) || $5 > hi[k]) hi[k] = $5; u[k] = $6 }
     END { for (k in lo) printf "%-30s %g .. %g %s\n", k, lo[k], hi[k], u[k] }' "$results" | sort

if [[ -n ${KEEP_RESULTS:-} ]]; then cp "$results" "$KEEP_RESULTS"; fi
