-- The guide's critical-incident response actions (Incident Response / Critical Incident
-- Response, step 4 "Implement immediate fixes"), done safely:
--   database_down     restart qdrant gracefully, wait for its health, check that Qdrant answers
--                     (/healthz on qdrant_url);
--   memory_exhausted  restart dragonfly gracefully, wait for its health, then clear the cache:
--                     only keys matching the cache pattern (config cache_key_pattern, else
--                     cache:*), in batches, never FLUSHDB, and not at all when the database holds
--                     users, API keys, sessions or task-queue keys (opsh.cache_policy);
--   disk_full         remove only what is safe: stopped containers that opsh created (label
--                     opsh.created=true; with compose_project / --project, only that project's)
--                     and dangling images. NOT removed: volumes (the data),
--                     the stack's stopped containers (they are its services), tagged images, and
--                     container logs (the report lists the largest, to rotate). Disk usage is
--                     reported before and after.
-- Each step reports what it did; --dry-run reports what it would do.
local services = require "opsh.services"
local cache_policy = require "opsh.cache_policy"
local redis = require "opsh.redis"
local http = require "opsh.http"
local config = require "opsh.config"
local units = require "opsh.units"
local fs = require "opsh.fs"

local function restart(d, ctx, service, args, project)
  local list, err = services.containers(d, service, project)
  if not list or #list == 0 then
    ctx:crit("restart." .. service, list and ("no container for service " .. service) or tostring(err))
    return false
  end
  local all_ok = true
  for _, c in ipairs(list) do
    local name = services.name_of(c)
    local ok, e = d:restart(services.name_of(c), { timeout = args.timeout })
    if not ok then ctx:crit("restart." .. name, tostring(e)); all_ok = false
    elseif type(ok) == "table" and ok.dry_run then ctx:ok("restart." .. name, "would restart " .. name)
    else
      local healthy, why = services.wait_healthy(d, c.Id, args.health_timeout)
      if healthy then ctx:ok("restart." .. name, name .. " restarted and healthy")
      else ctx:crit("restart." .. name, name .. " restarted but is " .. why); all_ok = false end
    end
  end
  return all_ok
end

local function clear_cache(ctx)
  local r, err = redis.connect(config.get("redis_url"))
  if not r then return ctx:crit("cache.clear", "Redis is not reachable: " .. tostring(err)) end
  local protect = cache_policy.protected_patterns()
  local found, serr = cache_policy.protected_found(r, protect)
  if not found then r:close(); return ctx:crit("cache.clear", "SCAN failed: " .. tostring(serr) .. "; nothing deleted") end
  if #found > 0 then
    r:close()
    return ctx:warn("cache.clear", "cache NOT cleared: this database also holds " .. table.concat(found, ", ")
      .. "; clearing could delete users, API keys, sessions or jobs (move the cache to its own database)")
  end
  local pattern = cache_policy.pattern()
  local res, ok, cerr = cache_policy.clear(r, pattern, { protect = protect, dry_run = ctx.dry_run })
  r:close()
  if not ok then return ctx:crit("cache.clear", string.format("stopped after %d keys: %s", res.deleted, tostring(cerr)), { deleted = res.deleted }) end
  ctx:ok("cache.clear", string.format("%s %d keys matching %s in %d batches", ctx.dry_run and "would delete" or "deleted",
    res.deleted, pattern, res.batches), { deleted = res.deleted })
end

local function disk_cleanup(d, ctx, project)
  local before = d:df()
  local p, perr = d:prune_containers { label = project and ("com.docker.compose.project=" .. project) or nil }
  if not p then ctx:crit("cleanup.containers", tostring(perr))
  elseif p.dry_run then ctx:ok("cleanup.containers", "would remove stopped containers labelled opsh.created=true")
  else ctx:ok("cleanup.containers", string.format("removed %d stopped container(s) that opsh created, %s", #p.removed, units.bytes_text(p.space)),
    { removed = #p.removed, bytes = p.space }) end
  local i, ierr = d:prune_images()
  if not i then ctx:crit("cleanup.images", tostring(ierr))
  elseif i.dry_run then ctx:ok("cleanup.images", "would remove dangling images")
  else ctx:ok("cleanup.images", string.format("removed %d dangling image layer(s), %s", #i.removed, units.bytes_text(i.space)),
    { removed = #i.removed, bytes = i.space }) end
  -- what stays, and what the operator may want to look at
  if before then
    local vols = 0
    for _, v in ipairs(before.Volumes or {}) do vols = vols + math.max(0, ((v.UsageData or {}).Size or 0)) end
    ctx:ok("cleanup.kept", string.format("kept: %d volume(s) (%s of data), all stack containers, tagged images; never pruned",
      #(before.Volumes or {}), units.bytes_text(vols)), { volume_bytes = vols })
  end
  local list = d:containers { all = true } or {}
  local logs = {}
  for _, c in ipairs(list) do
    local info = d:inspect(c.Id)
    local st = info and info.LogPath and info.LogPath ~= "" and fs.stat(info.LogPath)
    if st then logs[#logs + 1] = { name = services.name_of(info), size = st.size } end
  end
  table.sort(logs, function(a, b) return a.size > b.size end)
  local top = {}
  for k = 1, math.min(3, #logs) do top[k] = logs[k].name .. " " .. units.bytes_text(logs[k].size) end
  if #top > 0 then ctx:ok("cleanup.logs", "largest container logs (not truncated; services/log-rotation checks rotation): " .. table.concat(top, ", ")) end
end

return {
  description = "Critical-incident actions: restart qdrant (database_down); restart dragonfly and clear the cache safely (memory_exhausted); safe cleanup (disk_full)",
  categories = { "services", "incident", "action", "destructive" },
  guide = { "incident-response-procedures.4", "auto-scaling-procedures.1" },
  args = {
    { name = "type", required = true, choices = { "database_down", "memory_exhausted", "disk_full" }, help = "the incident" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "timeout", type = "integer", default = 30, help = "seconds between SIGTERM and SIGKILL for restarts" },
    { name = "health_timeout", type = "integer", default = 60, help = "seconds to wait for health after a restart" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local project, prerr = services.project(args.project, d)
    if prerr then return ctx:crit("docker", tostring(prerr)) end
    if args.type == "database_down" then
      if restart(d, ctx, "qdrant", args, project) and not ctx.dry_run then
        local url = (config.get("qdrant_url") or "http://localhost:6333"):gsub("/+$", "")
        local r, herr = http.get(url .. "/healthz", { timeout = 10 })
        if r then ctx:ok("qdrant.health", url .. "/healthz answers") else ctx:crit("qdrant.health", tostring(herr)) end
      end
    elseif args.type == "memory_exhausted" then
      if restart(d, ctx, "dragonfly", args, project) then clear_cache(ctx) end
    else
      disk_cleanup(d, ctx, project)
    end
  end,
}
