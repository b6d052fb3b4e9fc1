---@meta
--- The cache settings shared by redis/cache and redis/cache-optimize: `local policy = require "opsh.cache_policy"`.
local cache_policy = {}

--- Key patterns that hold data, not cache ({"user:*", "apikey:*", "session:*", "arq:*"}):
--- a database holding any of them is never cleared.
cache_policy.PROTECTED = {}

--- The cache key pattern: arg, else config cache_key_pattern, else "cache:*".
---@param arg? string
---@return string
function cache_policy.pattern(arg) end

--- The used-memory threshold (text such as "1gb"): arg, else config thresholds.redis_cache_max_memory, else "1gb".
---@param arg? string|number
---@return string|number
function cache_policy.threshold(arg) end

return cache_policy
