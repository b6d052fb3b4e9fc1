#!/usr/bin/env bash
# What the agent's CPU samples cost (docs/agent.md "CPU samples"): two opsh agents on the host
# side by side for SECONDS (default 120), one sampling every second, one with samples off; the
# difference of their CPU time (utime + stime from /proc/PID/stat) over the samples written is
# the cost of one sample (a reading of /proc/stat and of every /proc/PID/stat, encoded, written
# atomically). Also the sample file's size and the number of processes.
# Usage: Benchmarks/system/agent-samples.sh [OPSH_AGENT]   (default .build-release/release/opsh-agent)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
AGENT=${1:-.build-release/release/opsh-agent}
AGENT=$(cd "$(dirname "$AGENT")" && pwd)/$(basename "$AGENT")
SECONDS_RUN=${SECONDS_RUN:-120}
bench_scratch agent-samples
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# the sampling agent (every 5 s by bench_agent's config, then every second through a reload)
bench_agent "$AGENT" "" "$tmp/on"
sed -i 's/agent_cpu_sample_interval = 5/agent_cpu_sample_interval = 1/' "$agent_config"
kill -HUP "$agent_pid"
on=$agent_pid
# the agent with samples off, otherwise the same
off_config=$tmp/off-config.lua
sed -e "s#$tmp/on#$tmp/off#g" -e 's/agent_cpu_sample_interval = 1/agent_cpu_sample_interval = 0/' \
    -e "s/127.0.0.1:[0-9]*/127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')/" \
    "$agent_config" > "$off_config"
"$AGENT" --config "$off_config" > "$tmp/off.log" 2>&1 &
server_pid=$!
sleep 2
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs; $(ls /proc | grep -c '^[0-9]') processes"
on0=$(cpu_ticks "$on"); off0=$(cpu_ticks "$server_pid")
sleep "$SECONDS_RUN"
on1=$(cpu_ticks "$on"); off1=$(cpu_ticks "$server_pid")
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
hz=$(getconf CLK_TCK)
size=$(stat -c %s "$tmp/on/cpu/cpu-sample.0")
python3 - "$on0" "$on1" "$off0" "$off1" "$hz" "$SECONDS_RUN" "$size" <<'PY'
import sys
on0, on1, off0, off1, hz, secs, size = map(float, sys.argv[1:])
on, off = (on1 - on0) / hz, (off1 - off0) / hz
print(f"agent sampling every 1 s: {on*1000:8.1f} ms CPU in {secs:.0f} s")
print(f"agent, samples off:       {off*1000:8.1f} ms CPU in {secs:.0f} s")
print(f"one sample: {(on - off) / secs * 1000:.2f} ms CPU; at the default 5 s: {(on - off) / secs / 5 * 100:.3f}% of one core; file {size:.0f} bytes")
PY
