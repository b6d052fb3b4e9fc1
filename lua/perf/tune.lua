-- The guide's automatic performance tuning (Performance Management / Performance Optimization,
-- "Auto-tune performance based on current load"), by the host's load ratio (1-minute load
-- average per core, from /proc through opsh.sys):
--   above --high (0.8)  high load: the task worker scaled to 1 container; Redis eviction set to
--                       allkeys-lru (aggressive caching); Qdrant's optimizer max_segment_size
--                       200000 on each collection (fewer, larger segments)
--   below --low (0.3)   low load: the task worker scaled to 3 containers; the guide's
--                       hnsw_config.ef = 256 ("accuracy over speed")
--   in between          nothing changes
-- Where opsh does differently from the guide, the report says so:
--   - Qdrant has no hnsw_config.ef setting (Qdrant ignores an unknown field and answers 200:
--     the guide's call changes nothing). The search-time ef is the query parameter
--     params.hnsw_ef, chosen by the caller per search; opsh reports the recommendation and sends
--     nothing (qdrant/search-performance --hnsw_ef measures its effect).
--   - The guide PUTs /collections/documents; Qdrant changes a collection's settings with PATCH
--     /collections/{name}, and opsh does it for --collection or every collection.
--   - DragonflyDB has no maxmemory-policy in CONFIG SET (eviction is its --cache_mode start
--     flag): reported, not sent.
-- --dry-run shows the plan; --load_ratio decides from a given ratio instead of measuring.
local sys = require "opsh.sys"
local redis = require "opsh.redis"
local qdrant = require "opsh.qdrant"
local config = require "opsh.config"
local services = require "opsh.services"

local function scale(ctx, args, n)
  local d, err = services.connect()
  if not d then return ctx:crit("tune.workers", "cannot scale " .. args.service .. ": " .. tostring(err)) end
  local project, perr = services.project(args.project, d)
  if perr then return ctx:crit("tune.workers", "scaling " .. args.service .. " to " .. n .. " failed: " .. tostring(perr)) end
  local r, serr = d:scale_service(args.service, n, { project = project })
  if not r then return ctx:crit("tune.workers", "scaling " .. args.service .. " to " .. n .. " failed: " .. tostring(serr)) end
  local verb = ctx.dry_run and "would scale" or "scaled"
  local f = r.note and ctx.warn or ctx.ok
  f(ctx, "tune.workers", string.format("%s %s from %d to %d%s", verb, args.service, r.before, r.after, r.note and ("; " .. r.note) or ""),
    { before = r.before, after = r.after })
end

local function eviction(ctx)
  local r, err = redis.connect(config.get("redis_url"))
  if not r then return ctx:crit("tune.cache", "Redis is not reachable: " .. tostring(err)) end
  if r:is_dragonfly() then
    r:close()
    return ctx:warn("tune.cache", "DragonflyDB has no maxmemory-policy in CONFIG SET: eviction is its --cache_mode=true start flag; nothing sent")
  end
  local old = r:call("CONFIG", "GET", "maxmemory-policy")
  old = type(old) == "table" and old[2] or "?"
  local res, perr = r:call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
  r:close()
  if not res then return ctx:crit("tune.cache", "CONFIG SET maxmemory-policy allkeys-lru failed: " .. tostring(perr)) end
  ctx:ok("tune.cache", (ctx.dry_run and "would set" or "set") .. " maxmemory-policy " .. old .. " -> allkeys-lru (not persisted: CONFIG REWRITE does that)")
end

local function segments(ctx, args)
  local q, err = qdrant.connect {}
  if not q then return ctx:crit("tune.qdrant", "Qdrant is not reachable: " .. tostring(err)) end
  local names, nerr = q:collection_names(args.collection)
  if not names then return ctx:crit("tune.qdrant", "cannot list collections: " .. tostring(nerr)) end
  if #names == 0 then return ctx:ok("tune.qdrant", "no collections to tune") end
  for _, name in ipairs(names) do
    local r, perr = q:update_collection(name, { optimizers_config = { max_segment_size = args.max_segment_size } })
    if not r then ctx:crit("tune.qdrant." .. name, "PATCH optimizers_config failed: " .. tostring(perr))
    else ctx:ok("tune.qdrant." .. name, string.format("%s optimizers_config.max_segment_size = %d (PATCH /collections/%s; the guide's PUT is not Qdrant's call)",
      ctx.dry_run and "would set" or "set", args.max_segment_size, name)) end
  end
end

return {
  description = "The guide's automatic tuning by load ratio: worker count, Redis eviction, Qdrant segment size; --dry-run shows the plan",
  categories = { "perf", "tuning", "intrusive" },
  guide = { "performance-optimization.1" },
  notes = "High load: scales the task worker to --high_workers containers, sets Redis maxmemory-policy allkeys-lru "
    .. "(CONFIG SET, not persisted), PATCHes each collection's optimizers_config.max_segment_size. Low load: scales the "
    .. "task worker to --low_workers. Nothing in between, nothing under --dry-run.",
  args = {
    { name = "high", type = "number", default = 0.8, help = "load per core above which the high-load plan applies" },
    { name = "low", type = "number", default = 0.3, help = "load per core below which the low-load plan applies" },
    { name = "load_ratio", type = "number", help = "decide from this ratio instead of measuring" },
    { name = "service", default = "task-worker", help = "the worker service to scale" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "high_workers", type = "integer", default = 1 },
    { name = "low_workers", type = "integer", default = 3 },
    { name = "collection", help = "only this collection (default: every collection)" },
    { name = "max_segment_size", type = "integer", default = 200000 },
    { name = "hnsw_ef", type = "integer", default = 256, help = "the search-time ef the low-load plan recommends" },
    { name = "skip", type = "list", help = "steps to leave out: workers, cache, qdrant" },
  },
  run = function(args, ctx)
    if args.low >= args.high then error("--low must be below --high", 0) end
    local skip = {}
    for _, s in ipairs(args.skip or {}) do skip[s] = true end
    local ratio = args.load_ratio
    if ratio == nil then
      local l, err = sys.load()
      if not l then return ctx:unknown("tune.load", "cannot read the load: " .. tostring(err)) end
      ratio = l.per_core
      ctx:ok("tune.load", string.format("load ratio %.2f (1-minute load %.2f on %d cores)", ratio, l.load1, l.cores), { load_ratio = ratio })
    else
      ctx:ok("tune.load", string.format("load ratio %.2f (given)", ratio), { load_ratio = ratio })
    end
    if ratio > args.high then
      ctx:ok("tune.plan", string.format("high load (%.2f > %g): fewer workers, aggressive caching, larger segments", ratio, args.high))
      if not skip.workers then scale(ctx, args, args.high_workers) end
      if not skip.cache then eviction(ctx) end
      if not skip.qdrant then segments(ctx, args) end
    elseif ratio < args.low then
      ctx:ok("tune.plan", string.format("low load (%.2f < %g): more workers, accuracy over speed", ratio, args.low))
      if not skip.workers then scale(ctx, args, args.low_workers) end
      if not skip.qdrant then
        ctx:ok("tune.qdrant.ef", string.format("not sent: Qdrant has no hnsw_config.ef setting (the guide's call changes nothing); "
          .. "search with params.hnsw_ef = %d for accuracy over speed (qdrant/search-performance --hnsw_ef %d measures it)", args.hnsw_ef, args.hnsw_ef))
      end
    else
      ctx:ok("tune.plan", string.format("load ratio %.2f between %g and %g: nothing to change", ratio, args.low, args.high))
    end
  end,
}
