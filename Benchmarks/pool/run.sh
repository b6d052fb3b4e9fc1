#!/usr/bin/env bash
# The connection pool (pool-bench) in one run: acquire+release on 1 and 2 threads and the
# closed-breaker check (median ns, then callgrind instructions per operation from the difference
# of two iteration counts), then adaptive against fixed sizing replaying a bursty trace against
# a private redis-server on a free loopback port (started here, stopped by pid).
#
#   Benchmarks/pool/run.sh [path to pool-bench] [tick seconds, default 0.25]
# Without a path it builds .build-pbench/release/pool-bench first when it is missing
# (swift build -c release --scratch-path .build-pbench --product pool-bench; rebuild it yourself
# after changing the sources).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${1:-$root/.build-pbench/release/pool-bench}
tick=${2:-0.25}
if [[ ! -x $bench && -z ${1:-} ]]; then
    (cd "$root" && swift build -c release --scratch-path .build-pbench --product pool-bench >&2)
fi
[[ -x $bench ]] || { echo "run.sh: no pool-bench at $bench (build it first)" >&2; exit 2; }

. "$here/../common.sh"
bench_scratch pool-bench

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" micro
echo "load average after the micro-benchmarks: $(cut -d' ' -f1-3 /proc/loadavg)"

# valgrind refuses the binary's debug info: a stripped copy
cp "$bench" "$tmp/pb" && strip --strip-debug "$tmp/pb"
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$tmp/pb" count "$1" "$2" 2>&1 | sed -n 's/.*Collected : //p'; }
a1=$(ir acquire 100000); a2=$(ir acquire 300000)
b1=$(ir breaker 1000000); b2=$(ir breaker 3000000)
echo "callgrind: acquire+release $(( (a2 - a1) / 200000 )) instructions, closed-breaker check $(( (b2 - b1) / 2000000 )) instructions"

port=
for _ in $(seq 50); do
    p=$(( 20000 + RANDOM % 20000 ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then port=$p; break; fi
done
[[ -n $port ]] || { echo "run.sh: no free port" >&2; exit 2; }
redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly no --daemonize no \
    --logfile "$tmp/redis.log" &
server_pid=$!
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
echo "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$port"
"$bench" replay "$port" "$tick"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
