--- opsh.cache_policy: the cache settings redis/cache reports and redis/cache-optimize acts on,
--- kept in one place so the report and the deletion can never disagree about what is protected.
local config = require "opsh.config"

local M = {}

--- Key patterns that hold data, not cache: a database holding any of them is never cleared.
M.PROTECTED = { "user:*", "apikey:*", "session:*", "arq:*" }

--- The cache key pattern: the argument, else config cache_key_pattern, else "cache:*".
function M.pattern(arg)
  return arg or config.get("cache_key_pattern") or "cache:*"
end

--- The used-memory threshold text: the argument, else config thresholds.redis_cache_max_memory,
--- else "1gb" as in the guide.
function M.threshold(arg)
  if arg ~= nil then return arg end
  local t = config.get("thresholds")
  if type(t) == "table" and t.redis_cache_max_memory ~= nil then return t.redis_cache_max_memory end
  return "1gb"
end

return M
