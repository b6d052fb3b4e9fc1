-- The guide's "Monitor unusual API access patterns": `api_access:*` counters above a threshold,
-- listed with their values, highest first. The guide's version runs KEYS inside one EVAL (blocking
-- the server for the whole keyspace) and fails on a counter that is not a number; here keys come
-- from SCAN and values from MGET per page, and a non-numeric value is reported, not fatal.
local redis = require "opsh.redis"
local units = require "opsh.units"
local auth_hint = units.redis_auth_hint
local config = require "opsh.config"

local function setting(name, default)
  local t = config.get("thresholds")
  if type(t) == "table" and tonumber(t[name]) then return tonumber(t[name]) end
  return default
end

return {
  description = "Unusual API access: api_access:* counters above a threshold, with their values",
  categories = { "redis", "security", "check", "safe" },
  guide = { "daily-tasks.6", "security-monitoring.2" },
  args = {
    { name = "url", help = "Redis URL (default: the configured redis_url / REDIS_URL)" },
    { name = "match", default = "api_access:*", help = "counter key pattern" },
    { name = "threshold", type = "integer", help = "a counter above this is WARNING (default: config thresholds.api_access_warn, else 1000 as in the guide)" },
    { name = "crit", type = "integer", help = "a counter above this is CRITICAL (default: config thresholds.api_access_crit, else none)" },
    { name = "top", type = "integer", default = 20, help = "list at most this many counters" },
    { name = "count", type = "integer", default = 1000, help = "SCAN COUNT hint per page" },
  },
  run = function(args, ctx)
    local warn_at = args.threshold or setting("api_access_warn", 1000)
    local crit_at = args.crit or setting("api_access_crit", nil)
    local url = (args.url and args.url ~= "") and args.url or config.get("redis_url")
    local r, err = redis.connect(url)
    if not r then return ctx:crit("api_access", "Redis is not reachable: " .. tostring(err) .. auth_hint(err), { up = 0 }) end
    local total, above, odd, page = 0, {}, {}, {}
    local function flush()
      if #page == 0 then return end
      local values, merr = r:call("MGET", table.unpack(page))
      if not values then error("MGET failed: " .. tostring(merr), 0) end
      for i, v in ipairs(values) do
        local n = type(v) == "string" and tonumber(v) or nil
        if n == nil then
          -- opsh.null: a key of another type, or one that expired meanwhile; a string that is no number is odd
          if type(v) == "string" then odd[#odd + 1] = page[i] end
        elseif n > warn_at then
          above[#above + 1] = { key = page[i], value = n }
        end
      end
      page = {}
    end
    local ok, serr = pcall(function()
      for key in r:scan { match = args.match, count = args.count } do
        total = total + 1
        page[#page + 1] = key
        if #page >= 500 then flush() end
      end
      flush()
    end)
    r:close()
    if not ok then return ctx:crit("api_access", "SCAN failed: " .. tostring(serr)) end
    table.sort(above, function(a, b) if a.value ~= b.value then return a.value > b.value end return a.key < b.key end)
    local listed = {}
    for i = 1, math.min(#above, args.top) do
      local e = above[i]
      listed[#listed + 1] = e.key .. "=" .. string.format("%d", e.value)
      local check = "api_access." .. e.key:gsub("^api_access:", "")
      if crit_at and e.value > crit_at then
        ctx:crit(check, string.format("%s = %d (above %d)", e.key, e.value, crit_at), { count = e.value })
      else
        ctx:warn(check, string.format("%s = %d (above %d)", e.key, e.value, warn_at), { count = e.value })
      end
    end
    if #odd > 0 then
      ctx:warn("api_access.not_numeric", string.format("%d counters hold something that is not a number, e.g. %s",
        #odd, table.concat(odd, ", ", 1, math.min(#odd, 5))), { not_numeric = #odd })
    end
    local m = { counters = total, above = #above, threshold = warn_at }
    if #above == 0 then
      ctx:ok("api_access", string.format("%d counters, none above %d", total, warn_at), m)
    else
      local more = #above > #listed and string.format(" (and %d more)", #above - #listed) or ""
      ctx:warn("api_access", string.format("%d of %d counters above %d: %s%s", #above, total, warn_at,
        table.concat(listed, ", "), more), m)
    end
  end,
}
