-- Redis big keys and memory by key prefix: what is filling the cache?
--
--   opsh run examples/redis-bigkeys.lua                     the 20 biggest keys, memory by prefix
--   opsh run examples/redis-bigkeys.lua --top 50 --match 'cache:*' --url redis://localhost:6379/1
--
-- Walks the keyspace with SCAN (never KEYS, so the server is not blocked) and asks MEMORY USAGE
-- for each key in pipelined batches; the prefix is the key up to its first --separator
-- (user:42 -> user). Reads only. On a large database, --max bounds how many keys are sampled
-- and the totals are then extrapolated from the sample (the report says so).
local redis = require "opsh.redis"
local config = require "opsh.config"
local units = require "opsh.units"

return {
  description = "Example: the biggest Redis keys and memory by key prefix (SCAN + MEMORY USAGE, read-only)",
  categories = { "example", "redis", "safe" },
  args = {
    { name = "url", help = "Redis URL (default: config redis_url)" },
    { name = "match", default = "*", help = "SCAN MATCH pattern" },
    { name = "top", type = "integer", default = 20, help = "how many of the biggest keys to list" },
    { name = "max", type = "integer", default = 1000000, help = "keys sampled at most" },
    { name = "separator", default = ":", help = "what ends a key's prefix" },
    { name = "batch", type = "integer", default = 500, help = "MEMORY USAGE calls per pipeline" },
  },
  run = function(args, ctx)
    local r, err = redis.connect(args.url or config.get("redis_url"))
    if not r then return ctx:crit("redis", "not reachable: " .. tostring(err)) end
    local dbsize = r:call("DBSIZE")
    local biggest, prefixes, seen, total = {}, {}, 0, 0
    local batch = {}
    local function flush()
      if #batch == 0 then return end
      local sizes = assert(r:pipeline(function(p)
        for _, k in ipairs(batch) do p:call("MEMORY", "USAGE", k, "SAMPLES", "0") end
      end))
      for i, k in ipairs(batch) do
        local bytes = tonumber(sizes[i]) or 0   -- nil: the key expired between SCAN and MEMORY
        total = total + bytes
        local prefix = k:match("^(.-)" .. args.separator:gsub("%p", "%%%0")) or "(no prefix)"
        local p = prefixes[prefix] or { keys = 0, bytes = 0 }
        p.keys, p.bytes = p.keys + 1, p.bytes + bytes
        prefixes[prefix] = p
        biggest[#biggest + 1] = { key = k, bytes = bytes }
      end
      -- keep only the top N between batches: memory stays bounded on big databases
      table.sort(biggest, function(a, b) return a.bytes > b.bytes end)
      for i = #biggest, args.top + 1, -1 do biggest[i] = nil end
      batch = {}
    end
    for key in r:scan { match = args.match, count = 1000 } do
      seen = seen + 1
      batch[#batch + 1] = key
      if #batch >= args.batch then flush() end
      if seen >= args.max then break end
    end
    flush()
    r:close()
    for i, b in ipairs(biggest) do
      ctx:ok(string.format("key.%02d", i), string.format("%s  %s", units.bytes_text(b.bytes), b.key), { bytes = b.bytes })
    end
    local list = {}
    for name, p in pairs(prefixes) do list[#list + 1] = { name = name, keys = p.keys, bytes = p.bytes } end
    table.sort(list, function(a, b) return a.bytes > b.bytes end)
    local sampled = seen < (tonumber(dbsize) or 0) and args.match == "*"
    local scale = sampled and (dbsize / seen) or 1
    for _, p in ipairs(list) do
      ctx:ok("prefix." .. p.name, string.format("%s in %d keys (%.1f%%)%s", units.bytes_text(p.bytes * scale),
        math.floor(p.keys * scale + 0.5), total > 0 and p.bytes * 100 / total or 0, sampled and " (extrapolated)" or ""),
        { bytes = math.floor(p.bytes * scale), keys = math.floor(p.keys * scale + 0.5) })
    end
    ctx:ok("summary", string.format("%d keys read of %s, %s by MEMORY USAGE%s", seen, tostring(dbsize), units.bytes_text(total),
      sampled and string.format("; a sample: totals extrapolated by %.2fx", scale) or ""), { keys = seen, bytes = total })
  end,
}
