#!/usr/bin/env bash
# The session cleanup on a million keys: opsh's redis/sessions-cleanup (SCAN + one short EVAL per
# batch of 100 keys that re-checks TTL == -1) side by side with the guide's
# `redis-cli eval "<KEYS session:* + loop>" 0` on the same data, against one private redis-server.
#
#   swift build -c release --scratch-path .build-procs --product opsh
#   Benchmarks/redis/session_cleanup.sh [path to opsh]     (default .build-procs/release/opsh)
#
# Data, reloaded before every run (FLUSHALL, then redis-cli --pipe of generated RESP):
#   N (default 1000000) session:<i> keys; every other one has a TTL (EX 3600), so each
#   cleanup deletes N/2 keys and keeps N/2. Both methods are checked to leave exactly N/2.
# Each method runs ROUNDS times (default 3), alternating; the median wall time is printed.
# While each run goes, a probe (opsh -e, a PING every 1 ms on its own connection) records the
# longest PING round trip: how long the server stopped answering other clients.
# Pinning (PIN): "split" (default): redis-server on CPU 0, the cleanup clients and the probe on
# CPU 1 (every round trip crosses cores, several times slower here and noisy); "same": all on CPU 0.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
opsh=${1:-$root/.build-procs/release/opsh}
n=${N:-1000000}
rounds=${ROUNDS:-3}
pin=${PIN:-split}
cc=1; [[ $pin == same ]] && cc=0

[[ -x $opsh ]] || { echo "session_cleanup.sh: no opsh at $opsh" >&2; exit 2; }
for tool in redis-server redis-cli taskset awk; do
    command -v "$tool" >/dev/null || { echo "session_cleanup.sh: $tool not found" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/opsh-session-bench.XXXXXX")
server_pid=
probe_pid=
cleanup() {
    [[ -n $probe_pid ]] && kill "$probe_pid" 2>/dev/null || true
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp" --save "" --appendonly no \
    --daemonize no --logfile "$tmp/redis.log" &
server_pid=$!
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
cli() { redis-cli -p "$port" "$@"; }
url="redis://127.0.0.1:$port"

# RESP for N SETs, generated once.
awk -v n="$n" 'BEGIN {
    for (i = 0; i < n; i++) {
        k = "session:" i
        if (i % 2) printf "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n$2\r\nEX\r\n$4\r\n3600\r\n", length(k), k
        else       printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n", length(k), k
    }
}' > "$tmp/load.resp"

load() {
    cli flushall >/dev/null
    redis-cli -p "$port" --pipe < "$tmp/load.resp" >/dev/null
    local size; size=$(cli dbsize)
    [[ $size == "$n" ]] || { echo "load: dbsize $size, want $n" >&2; exit 1; }
}

# The guide's "Clean expired sessions", verbatim.
guide_script="
  local keys = redis.call('keys', 'session:*')
  local deleted = 0
  for i=1,#keys do
    local ttl = redis.call('ttl', keys[i])
    if ttl == -1 then
      redis.call('del', keys[i])
      deleted = deleted + 1
    end
  end
  return deleted
"

probe_start() {
    rm -f "$tmp/stop" "$tmp/probe"
    taskset -c "$cc" "$opsh" -e "
      local redis = require 'opsh.redis'
      local opsh = require 'opsh'
      local r = assert(redis.connect{url = '$url', timeout = 120})
      local time = require 'opsh.time'
      local max, since = 0, nil
      local f = io.open('$tmp/ready', 'w'); f:close()
      while not io.open('$tmp/stop') do
        since = since or time.monotonic()
        local pong = r:call('PING')        -- BUSY while a script runs past lua-time-limit: still stalled
        if pong == 'PONG' then
          local ms = (time.monotonic() - since) * 1000
          if ms > max then max = ms end
          since = nil
          opsh.sleep(0.001)
        end
      end
      io.open('$tmp/probe', 'w'):write(string.format('%.1f', max))
    " &
    probe_pid=$!
    while [[ ! -e $tmp/ready ]]; do sleep 0.01; done
    rm -f "$tmp/ready"
}
probe_stop() {
    touch "$tmp/stop"
    wait "$probe_pid" || true
    probe_pid=
    cat "$tmp/probe"
}

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

: > "$tmp/guide.times"; : > "$tmp/opsh.times"; : > "$tmp/guide.probe"; : > "$tmp/opsh.probe"
for round in $(seq "$rounds"); do
    load
    probe_start
    t0=$EPOCHREALTIME
    deleted=$(taskset -c "$cc" redis-cli -p "$port" eval "$guide_script" 0)
    t1=$EPOCHREALTIME
    probe_stop >> "$tmp/guide.probe"; echo >> "$tmp/guide.probe"
    [[ $deleted == $((n / 2)) && $(cli dbsize) == $((n / 2)) ]] || { echo "guide: deleted $deleted" >&2; exit 1; }
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >> "$tmp/guide.times"

    load
    probe_start
    t0=$EPOCHREALTIME
    taskset -c "$cc" "$opsh" --json run redis/sessions-cleanup --url "$url" > "$tmp/opsh.json"
    t1=$EPOCHREALTIME
    probe_stop >> "$tmp/opsh.probe"; echo >> "$tmp/opsh.probe"
    grep -q "\"deleted\": $((n / 2))," "$tmp/opsh.json" && [[ $(cli dbsize) == $((n / 2)) ]] \
        || { echo "opsh: wrong result" >&2; cat "$tmp/opsh.json" >&2; exit 1; }
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >> "$tmp/opsh.times"
    echo "round $round: guide $(tail -1 "$tmp/guide.times") s, opsh $(tail -1 "$tmp/opsh.times") s" >&2
done

g=$(median < "$tmp/guide.times"); o=$(median < "$tmp/opsh.times")
gp=$(median < "$tmp/guide.probe"); op=$(median < "$tmp/opsh.probe")
printf 'keys %d, deleted %d per run, rounds %d (medians), pinning %s\n' "$n" $((n / 2)) "$rounds" "$pin"
printf '%-40s %8.3f s   longest PING meanwhile %8.1f ms\n' "guide: redis-cli eval (KEYS + loop)" "$g" "$gp"
printf '%-40s %8.3f s   longest PING meanwhile %8.1f ms\n' "opsh run redis/sessions-cleanup" "$o" "$op"
printf 'time opsh/guide %.2f; longest stall guide/opsh %.0f\n' "$(awk -v a="$o" -v b="$g" 'BEGIN { print a / b }')" "$(awk -v a="$gp" -v b="$op" 'BEGIN { print a / b }')"
printf 'all guide times: %s\nall opsh times:  %s\n' "$(tr '\n' ' ' < "$tmp/guide.times")" "$(tr '\n' ' ' < "$tmp/opsh.times")"
