# Shared by the benchmark scripts (sourced): a scratch directory removed on exit, and the
# server the script started (its pid in $server_pid) and the agent (bench_agent, $agent_pid)
# stopped on exit, each waited for up to 5 s.
# Usage: . "$here/../common.sh"; bench_scratch NAME   -> $tmp
bench_stop() {  # pid
    if [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; then
        kill "$1"
        for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    fi
}

bench_cleanup() {
    bench_stop "${server_pid:-}"
    bench_stop "${agent_pid:-}"
    rm -rf "$tmp"
}

bench_scratch() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/opsh-$1.XXXXXX")
    server_pid=
    agent_pid=
    trap bench_cleanup EXIT
}

# An opsh agent on the host, writing CPU samples into STATE_DIR/cpu (docs/agent.md "CPU
# samples"), with no jobs, on a free loopback port, its log in $tmp/agent.log. Waits until both
# sample generations exist (one sampling period), so that a run finds one at least 1 s old.
# Usage: bench_agent OPSH_AGENT BASE_CONFIG STATE_DIR -> $agent_pid, $agent_config (the config
# a run uses to read the samples: BASE_CONFIG with the agent's settings)
bench_agent() {
    local bin=$1 base=$2 state=$3 port
    [[ -x $bin ]] || { echo "no opsh-agent at $bin (build it: swift build -c release --product opsh-agent)" >&2; exit 2; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    agent_config=$tmp/agent-config.lua
    local load="{}"
    [[ -n $base ]] && load="dofile(\"$base\")"
    cat > "$agent_config" <<LUA
local c = $load
c.state_dir = "$state"
c.pool_state_dir = "$state/pool"
c.agent_default_jobs = false
c.agent_lock_url = "none"
c.agent_listen = "127.0.0.1:$port"
c.agent_cpu_sample_interval = 5
return c
LUA
    "$bin" --config "$agent_config" > "$tmp/agent.log" 2>&1 &
    agent_pid=$!
    for _ in $(seq 150); do
        [[ -f $state/cpu/cpu-sample.0 && -f $state/cpu/cpu-sample.1 ]] && return 0
        kill -0 "$agent_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "the agent wrote no two CPU samples in 15 s:" >&2; cat "$tmp/agent.log" >&2; exit 2
}
