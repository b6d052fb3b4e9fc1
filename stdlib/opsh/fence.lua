--- opsh.fence: shared writes that only the job's current lock holder may make (docs/agent.md
--- "Locks"). A job the agent runs gets its lock's fencing token in the environment
--- (OPSH_AGENT_FENCE_TOKEN, OPSH_AGENT_FENCE_KEY, OPSH_AGENT_REDIS_URL); fence.call runs the
--- command inside a script Redis runs atomically, which refuses it when another agent has
--- taken the job over since (a newer token was given). Outside the agent (a plain `opsh run`)
--- there is no token and the command runs as it is.
local agent = require "opsh.agent"
local redis = require "opsh.redis"

local M = {}

--- The token this run holds, or nil outside the agent.
function M.token()
  local t = os.getenv("OPSH_AGENT_FENCE_TOKEN")
  return t and math.tointeger(tonumber(t)) or nil
end

local shared
--- The connection to the lock's Redis (opened once), or nil outside the agent.
function M.connection()
  if shared then return shared end
  local url = os.getenv("OPSH_AGENT_REDIS_URL")
  if not url then return nil end
  local c, err = redis.connect(url)
  if not c then return nil, err end
  shared = c
  return c
end

--- fence.call(command, ...) -> the command's reply | nil, err. err.code is "stale_token"
--- when the lock was taken over. Runs on `conn` when given first (a redis.connection to the
--- lock's Redis), else on fence.connection().
function M.call(...)
  local conn = ...
  local args = { ... }
  if type(conn) == "string" then conn = nil else table.remove(args, 1) end
  local token, key = M.token(), os.getenv("OPSH_AGENT_FENCE_KEY")
  if conn == nil then
    local err
    conn, err = M.connection()
    if not conn and token then return nil, err end
  end
  if not token or not key then
    if not conn then return nil, { code = "no_redis", message = "fence.call outside the agent needs a connection" } end
    return conn:call(table.unpack(args))
  end
  local call = { tostring(token) }
  for _, a in ipairs(args) do call[#call + 1] = tostring(a) end
  local reply, err = conn:eval(agent.FENCE_SCRIPT, { key }, call)
  if reply == nil and err and tostring(err.message or err):match("STALE fencing token") then
    err = { code = "stale_token", message = tostring(err.message or err) }
    setmetatable(err, { __tostring = function(e) return e.message end })
  end
  return reply, err
end

return M
