-- Cache memory report: used/peak/maxmemory and policy, fragmentation, hit rate, evictions,
-- how many keys match the cache pattern and roughly how much memory they hold (MEMORY USAGE
-- on a sample), and whether the database also holds data that must never be flushed
-- (users, API keys, sessions, task queue), which is what redis/cache-optimize checks first.
-- Reads only.
local redis = require "opsh.redis"
local units = require "opsh.units"
local parse_size = units.parse_bytes
local human = units.bytes_text
local auth_hint = units.redis_auth_hint
local config = require "opsh.config"

local cache_policy = require "opsh.cache_policy"

return {
  description = "Cache memory report: memory and policy, hit rate, evictions, cache keys and their size, protected data in the same db",
  categories = { "redis", "cache", "check", "safe" },
  guide = { "daily-tasks.4", "capacity-planning.6", "performance-monitoring.3" },
  args = {
    { name = "url", help = "Redis URL (default: the configured redis_url / REDIS_URL)" },
    { name = "pattern", help = "cache key pattern (default: config cache_key_pattern, else cache:*)" },
    { name = "threshold", help = "used memory above which redis/cache-optimize clears the cache, e.g. 1gb (default: config thresholds.redis_cache_max_memory, else 1gb)" },
    { name = "sample", type = "integer", default = 200, help = "cache keys measured with MEMORY USAGE to estimate the cache's size" },
    { name = "count", type = "integer", default = 1000, help = "SCAN COUNT hint per page" },
  },
  run = function(args, ctx)
    local pattern = cache_policy.pattern(args.pattern)
    local limit_text = cache_policy.threshold(args.threshold)
    local limit = parse_size(limit_text)
    if not limit then error("--threshold: not a size: " .. tostring(limit_text) .. " (e.g. 1gb, 512mb, 1073741824)", 0) end
    local url = (args.url and args.url ~= "") and args.url or config.get("redis_url")
    local r, err = redis.connect(url)
    if not r then return ctx:crit("cache", "Redis is not reachable: " .. tostring(err) .. auth_hint(err), { up = 0 }) end
    local info, ierr = r:info()
    if not info then r:close(); return ctx:crit("cache", "INFO failed: " .. tostring(ierr) .. auth_hint(ierr)) end
    local dragonfly = r:is_dragonfly()
    local mem, stats = info.memory or {}, info.stats or {}
    local used, peak, maxmemory = tonumber(mem.used_memory) or 0, tonumber(mem.used_memory_peak) or 0, tonumber(mem.maxmemory) or 0
    local policy = mem.maxmemory_policy
    if policy == nil then
      local c = r:call("CONFIG", "GET", "maxmemory-policy")
      policy = type(c) == "table" and c[2] or "?"
    end
    local frag = tonumber(mem.mem_fragmentation_ratio)
    local msg = string.format("used %s (peak %s) of maxmemory %s, policy %s%s; optimize threshold %s",
      human(used), human(peak), maxmemory > 0 and human(maxmemory) or "unset", tostring(policy),
      frag and string.format(", fragmentation %.2f", frag) or "", human(limit))
    local mm = { used_bytes = used, peak_bytes = peak, maxmemory_bytes = maxmemory, threshold_bytes = limit,
      fragmentation_ratio = frag }
    if dragonfly then msg = msg .. " (DragonflyDB: the policy is the --cache_mode start flag)" end
    if used > limit then
      ctx:warn("cache.memory", msg .. ": above the threshold, redis/cache-optimize would clear " .. pattern, mm)
    else
      ctx:ok("cache.memory", msg, mm)
    end

    local hits, misses = tonumber(stats.keyspace_hits) or 0, tonumber(stats.keyspace_misses) or 0
    local evicted, expired = tonumber(stats.evicted_keys) or 0, tonumber(stats.expired_keys) or 0
    local rate = hits + misses > 0 and hits / (hits + misses) * 100 or nil
    ctx:ok("cache.hits", string.format("hit rate %s (%d hits, %d misses since start), %d evicted, %d expired keys, %s ops/s",
      rate and string.format("%.1f%%", rate) or "n/a", hits, misses, evicted, expired, tostring(stats.instantaneous_ops_per_sec or "?")),
      { hits = hits, misses = misses, hit_rate_percent = rate, evicted = evicted, expired = expired })

    local ok, serr = pcall(function()
      local n, sampled, sampled_bytes, no_ttl = 0, 0, 0, 0
      local keys = {}
      for key in r:scan { match = pattern, count = args.count } do
        n = n + 1
        if #keys < args.sample then keys[#keys + 1] = key end
      end
      if #keys > 0 then
        local replies = assert(r:pipeline(function(p)
          for _, k in ipairs(keys) do p:call("MEMORY", "USAGE", k); p:call("TTL", k) end
        end))
        for i = 1, #replies, 2 do
          local b = tonumber(replies[i])
          if b then sampled = sampled + 1; sampled_bytes = sampled_bytes + b end
          if replies[i + 1] == -1 then no_ttl = no_ttl + 1 end
        end
      end
      local est = sampled > 0 and sampled_bytes / sampled * n or 0
      ctx:ok("cache.keys", string.format("%d keys match %s, about %s (MEMORY USAGE of %d), %d of the sampled without a TTL",
        n, pattern, human(est), sampled, no_ttl),
        { keys = n, estimated_bytes = est, sampled = sampled, sampled_without_ttl = no_ttl })

      local found = {}
      local extra = config.get("task_queue_name")
      local protect = { table.unpack(cache_policy.PROTECTED) }
      if type(extra) == "string" and extra ~= "" and not extra:match("^arq:") then protect[#protect + 1] = extra .. "*" end
      for _, p in ipairs(protect) do
        for key in r:scan { match = p, count = args.count } do found[#found + 1] = p .. " (e.g. " .. key .. ")"; break end
      end
      if #found > 0 then
        ctx:ok("cache.protected", "this database also holds " .. table.concat(found, ", ")
          .. ": redis/cache-optimize will refuse to clear it (FLUSHDB here would wipe them)", { protected_patterns = #found })
      else
        ctx:ok("cache.protected", "no users, API keys, sessions or task-queue keys in this database", { protected_patterns = 0 })
      end
    end)
    r:close()
    if not ok then ctx:crit("cache.keys", "SCAN failed: " .. tostring(serr)) end
  end,
}
