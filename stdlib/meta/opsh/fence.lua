---@meta
--- Shared writes only the job's current lock holder may make (docs/agent.md "Locks"):
--- `local fence = require "opsh.fence"`. Under the agent, a job's token comes from
--- OPSH_AGENT_FENCE_TOKEN; outside it, commands run as they are.
local fence = {}

--- The fencing token this run holds, or nil outside the agent.
---@return integer|nil
function fence.token() end

--- The connection to the lock's Redis (OPSH_AGENT_REDIS_URL), opened once; nil outside the agent.
---@return redis.connection|nil, table? err
function fence.connection() end

--- Runs a Redis command fenced: fence.call("SET", "k", "v") or fence.call(conn, "SET", "k", "v").
--- Refused with err.code = "stale_token" when another agent took the job over.
---@return any|nil reply, table? err
function fence.call(...) end

return fence
