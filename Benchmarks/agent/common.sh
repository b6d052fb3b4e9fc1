# Sourced by Benchmarks/agent/run.sh and soak.sh: the one setup both measure against.
#   agent_setup [ARG]    AGENT (ARG, $OPSH_AGENT or .build/release/opsh-agent), OPSH (the opsh
#                        beside it, or $OPSH: the jobs run it), tmp, ports, the cleanup trap
#   start_redis [CPU]    a redis-server on a free loopback port (pinned to CPU when given)
#   add_user NAME ROLE   a user as users/create stores one (only the key's SHA-256); prints the key
#   write_config [LUA]   the agent's config.lua: that Redis, Qdrant down, history and pool in tmp,
#                        no rate limits, no default jobs; LUA lines added inside the table
#   start_agent [CPU]    opsh-agent on a free port (pinned to CPU when given), waits for /health
#   rss                  the agent's resident size (kB)
#   load                 the load average (1, 5, 15 min)
set -euo pipefail

agent_setup() {
  AGENT=${1:-${OPSH_AGENT:-.build/release/opsh-agent}}
  AGENT=$(cd "$(dirname "$AGENT")" && pwd)/$(basename "$AGENT")
  [ -x "$AGENT" ] || { echo "no opsh-agent at $AGENT (swift build -c release --product opsh-agent --product opsh)" >&2; exit 2; }
  OPSH=${OPSH:-$(dirname "$AGENT")/opsh}
  [ -x "$OPSH" ] || { echo "no opsh at $OPSH: the agent's jobs run it" >&2; exit 2; }
  tmp=$(mktemp -d)
  rport=$(free_port); aport=$(free_port)
  : > "$tmp/none"
  trap agent_cleanup EXIT
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# the agent first (SIGTERM: it waits for its jobs), then Redis; only what this script started
agent_cleanup() {
  if [ -n "${agent_pid:-}" ]; then kill "$agent_pid" 2>/dev/null || true; wait "$agent_pid" 2>/dev/null || true; fi
  if [ -n "${redis_pid:-}" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}

pinned() {   # CPU COMMAND...: only in the background (&): the subshell becomes the command, so $! is its pid
  local cpu=$1; shift
  if [ -n "$cpu" ]; then exec taskset -c "$cpu" "$@"; else exec "$@"; fi
}

start_redis() {
  pinned "${1:-}" redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >/dev/null &
  redis_pid=$!
  until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
}

add_user() {
  local key digest
  key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  digest=$(printf %s "$key" | sha256sum | cut -d' ' -f1)
  redis-cli -p "$rport" HSET "user:$1" role "$2" status active api_key_sha256 "$digest" >/dev/null
  redis-cli -p "$rport" SET "apikey:$digest" "$1" >/dev/null
  echo "$key"
}

write_config() {
  cat > "$tmp/config.lua" <<LUA
return {
  redis_url = "redis://127.0.0.1:$rport", qdrant_url = "http://127.0.0.1:9",
  agent_history_db = "$tmp/history.db", pool_state_dir = "$tmp/pool",
  agent_rate_limit_per_key = 0, agent_rate_limit_per_address = 0, agent_max_connections = 4096,
  agent_default_jobs = false,
  ${1:-}
}
LUA
}

start_agent() {
  HOME=$tmp OPSH_AGENT_OPSH=$OPSH pinned "${1:-}" "$AGENT" --config "$tmp/config.lua" --env-file "$tmp/none" \
    --listen "127.0.0.1:$aport" 2>"$tmp/agent.log" &
  agent_pid=$!
  until curl -sf "http://127.0.0.1:$aport/health" >/dev/null; do
    kill -0 "$agent_pid" 2>/dev/null || { cat "$tmp/agent.log" >&2; exit 1; }
    sleep 0.1
  done
}

rss() { awk '/VmRSS/ {print $2}' "/proc/$agent_pid/status"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
