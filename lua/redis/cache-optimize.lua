-- The guide's weekly "Cache optimization", done safely. The guide runs FLUSHDB when used_memory
-- exceeds 1 GB; on this stack the same database holds users, API keys (apikey:<hash>), sessions
-- and ARQ's task queue, so that FLUSHDB wipes every API key. Here instead:
-- - below the threshold nothing happens (as in the guide), unless --force;
-- - before deleting anything the database is checked with SCAN for user:*, apikey:*, session:*,
--   arq:* (and the configured task queue name); if any exists the script REFUSES and deletes
--   nothing. FLUSHDB/FLUSHALL are never sent;
-- - only keys matching the cache pattern (--pattern, default config cache_key_pattern, else
--   cache:*) are deleted, streamed from SCAN in batches of --batch keys, one UNLINK (DEL where
--   UNLINK does not exist) per batch; a key matching a protected pattern is never sent, even if
--   the cache pattern would match it;
-- - --dry-run counts what would go and lists a sample; the engine asks for confirmation on a
--   terminal and needs --yes otherwise.
-- --set-maxmemory SIZE sets the memory limit with CONFIG SET maxmemory (the guide's memory
-- troubleshooting: "optimize cache usage" presumes a limit; 0 removes it), before the policy.
-- --set-policy POLICY changes maxmemory-policy with CONFIG SET (the guide's
-- "config set maxmemory-policy allkeys-lru"). DragonflyDB has no maxmemory-policy in CONFIG SET:
-- eviction there is the --cache_mode=true start flag, so on Dragonfly this is detected and
-- reported, and nothing is sent.
local redis = require "opsh.redis"
local cache_policy = require "opsh.cache_policy"
local units = require "opsh.units"
local parse_size = units.parse_bytes
local human = units.bytes_text
local auth_hint = units.redis_auth_hint
local config = require "opsh.config"
local time = require "opsh.time"

local POLICIES = { "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
  "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl" }

local function used_memory(r)
  local m = r:info("memory")
  return m and m.memory and tonumber(m.memory.used_memory) or nil
end

return {
  description = "Clears the cache key pattern in batches when memory is above a threshold; refuses a db holding users, API keys, sessions or task-queue keys",
  categories = { "redis", "cache", "maintenance", "destructive" },
  window = "weekly",
  guide = { "scheduled-maintenance.3", "common-issues-and-solutions.4", "auto-scaling-procedures.1" },
  args = {
    { name = "url", help = "Redis URL (default: the configured redis_url / REDIS_URL)" },
    { name = "pattern", help = "cache key pattern to delete (default: config cache_key_pattern, else cache:*)" },
    { name = "threshold", help = "clear only when used_memory is above this, e.g. 1gb (default: config thresholds.redis_cache_max_memory, else 1gb as in the guide)" },
    { name = "force", type = "boolean", default = false, help = "clear the cache pattern even below the threshold" },
    { name = "batch", type = "integer", default = 500, help = "keys per UNLINK (1..10000)" },
    { name = "count", type = "integer", default = 1000, help = "SCAN COUNT hint per page" },
    { name = "protect", type = "list", default = cache_policy.PROTECTED,
      help = "patterns whose presence makes the script refuse (users, API keys, sessions, task queue)" },
    { name = "set_maxmemory", help = "also set maxmemory (CONFIG SET), e.g. 2gb; 0 removes the limit" },
    { name = "set_policy", choices = POLICIES, help = "also set maxmemory-policy (CONFIG SET; reported, not sent, on DragonflyDB)" },
    { name = "sample", type = "integer", default = 20, help = "how many key names to list under --dry-run" },
  },
  notes = "Never FLUSHDB/FLUSHALL. Refuses (deletes nothing) when the database holds any key matching --protect\n"
    .. "or the configured task queue name. Deletes in batches: SCAN MATCH pattern, then one UNLINK per batch.",
  run = function(args, ctx)
    if args.batch < 1 or args.batch > 10000 then error("--batch must be between 1 and 10000", 0) end
    local pattern = cache_policy.pattern(args.pattern)
    local limit_text = cache_policy.threshold(args.threshold)
    local limit = parse_size(limit_text)
    if not limit then error("--threshold: not a size: " .. tostring(limit_text) .. " (e.g. 1gb, 512mb, 1073741824)", 0) end
    local url = (args.url and args.url ~= "") and args.url or config.get("redis_url")
    local r, err = redis.connect(url)
    if not r then return ctx:crit("cache.optimize", "Redis is not reachable: " .. tostring(err) .. auth_hint(err), { up = 0 }) end
    local refusal = units.redis_cluster_refusal(r, "batches")
    if refusal then r:close(); return ctx:unknown("cache.optimize", refusal) end
    local dragonfly = r:is_dragonfly()

    -- memory limit
    if args.set_maxmemory then
      local bytes = parse_size(args.set_maxmemory)
      if not bytes then r:close(); error("--set_maxmemory: not a size: " .. args.set_maxmemory .. " (e.g. 2gb, 512mb, 0)", 0) end
      local old = r:call("CONFIG", "GET", "maxmemory")
      old = type(old) == "table" and tonumber(old[2]) or nil
      local old_text = old == nil and "?" or old == 0 and "no limit" or human(old)
      local new_text = bytes == 0 and "no limit" or human(bytes)
      local res, merr = r:call("CONFIG", "SET", "maxmemory", tostring(math.floor(bytes)))
      if not res then
        ctx:crit("cache.maxmemory", "CONFIG SET maxmemory " .. math.floor(bytes) .. " failed: " .. tostring(merr))
      elseif type(res) == "table" and res.dry_run then
        ctx:ok("cache.maxmemory", string.format("would set maxmemory %s (now %s)", new_text, old_text))
      else
        local used = used_memory(r)
        local f = (bytes > 0 and used and used > bytes) and ctx.warn or ctx.ok
        f(ctx, "cache.maxmemory", string.format("maxmemory %s -> %s%s; not persisted to the server's config file (CONFIG REWRITE does that)",
          old_text, new_text, (bytes > 0 and used and used > bytes) and (" (used " .. human(used) .. " is above it: eviction or write errors start now)") or ""),
          { maxmemory_bytes = bytes })
      end
    end

    -- maxmemory policy
    if args.set_policy then
      if dragonfly then
        ctx:warn("cache.policy", "DragonflyDB has no maxmemory-policy in CONFIG SET: eviction is the --cache_mode=true start flag "
          .. "(set it where Dragonfly is started, e.g. docker-compose command:, and restart it); nothing changed")
      else
        local old = r:call("CONFIG", "GET", "maxmemory-policy")
        old = type(old) == "table" and old[2] or "?"
        local mm = r:call("CONFIG", "GET", "maxmemory")
        local maxmemory = type(mm) == "table" and tonumber(mm[2]) or 0
        local note = maxmemory == 0 and " (maxmemory is 0: a policy only acts once maxmemory is set)" or ""
        local res, perr = r:call("CONFIG", "SET", "maxmemory-policy", args.set_policy)
        if not res then
          ctx:crit("cache.policy", "CONFIG SET maxmemory-policy " .. args.set_policy .. " failed: " .. tostring(perr))
        elseif type(res) == "table" and res.dry_run then
          ctx:ok("cache.policy", string.format("would set maxmemory-policy %s (now %s)%s", args.set_policy, old, note))
        else
          local f = maxmemory == 0 and ctx.warn or ctx.ok
          f(ctx, "cache.policy", string.format("maxmemory-policy %s -> %s%s; not persisted to redis.conf (CONFIG REWRITE does that)",
            old, args.set_policy, note))
        end
      end
    end

    local before = used_memory(r)
    if not before then r:close(); return ctx:crit("cache.optimize", "INFO memory failed") end
    if before <= limit and not args.force then
      r:close()
      return ctx:ok("cache.optimize", string.format("cache within normal limits: used %s <= threshold %s; nothing deleted",
        human(before), human(limit)), { used_bytes = before, threshold_bytes = limit, deleted = 0 })
    end

    -- Refuse a database that holds anything but cache
    local protect = cache_policy.protected_patterns(args.protect)
    local found, serr = cache_policy.protected_found(r, protect, args.count)
    if not found then r:close(); return ctx:crit("cache.optimize", "SCAN failed: " .. tostring(serr) .. "; nothing deleted") end
    if #found > 0 then
      r:close()
      return ctx:crit("cache.optimize", string.format(
        "REFUSED: this database holds %s; clearing it could delete users, API keys, sessions or queued jobs. Nothing deleted. "
        .. "Move the cache to its own database (redis_url /N) or narrow --protect if these are really cache keys",
        table.concat(found, ", ")), { used_bytes = before, threshold_bytes = limit, deleted = 0, refused = true })
    end

    local started = time.monotonic()
    local res, ok, serr = cache_policy.clear(r, pattern, { protect = protect, batch = args.batch, count = args.count,
      dry_run = ctx.dry_run, sample = args.sample })
    local scanned, deleted, skipped, batches, sample, unlink = res.scanned, res.deleted, res.skipped, res.batches, res.sample, res.command
    local elapsed = time.monotonic() - started
    local after = used_memory(r) or before
    r:close()
    local m = { used_bytes = before, used_after_bytes = after, threshold_bytes = limit, scanned = scanned,
      batches = batches, skipped_protected = skipped, duration_s = elapsed }
    if not ok then
      m.deleted = deleted
      return ctx:crit("cache.optimize", string.format("stopped after %d of the cache keys were deleted: %s", deleted, tostring(serr)), m)
    end
    local why = before > limit and string.format("used %s > threshold %s", human(before), human(limit))
      or string.format("--force (used %s <= threshold %s)", human(before), human(limit))
    if ctx.dry_run then
      m.would_delete = deleted
      return ctx:ok("cache.optimize", string.format("%s: would delete %d keys matching %s in %d batches; nothing deleted%s",
        why, deleted, pattern, batches, #sample > 0 and ("; e.g. " .. table.concat(sample, ", ")) or ""), m)
    end
    m.deleted = deleted
    ctx:ok("cache.optimize", string.format("%s: deleted %d keys matching %s in %d batches of at most %d (%s), used memory now %s%s",
      why, deleted, pattern, batches, args.batch, unlink, human(after),
      skipped > 0 and string.format("; %d keys matching a protected pattern kept", skipped) or ""), m)
  end,
}
