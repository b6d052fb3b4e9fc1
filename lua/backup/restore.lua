-- Point-in-time recovery: the newest complete backup at or before --date, verified first; by
-- default of any tier but emergency (an emergency backup is taken of a state already damaged,
-- often minutes before the restore: it is chosen only with --tier emergency or --name), and the
-- report says which backup was chosen and why, then each item put back in the order it needs: configuration and files, application
-- state, the Redis RDB (Redis stopped; with AOF, appendonlydir is what Redis loads, so the old
-- one is moved aside, never deleted), then Qdrant collections recovered through a running Qdrant
-- (snapshot upload with its checksum). Trees are extracted into a staging directory and swapped
-- in atomically; the old data is kept until the new is in place (--keep_old keeps it after).
-- A Docker volume (its users stopped, else refused) is staged inside the volume and swapped
-- there (opsh.backup_sources.docker_volume).
-- With --stop_services the stack's services are stopped first and started again (whatever
-- happened) once the files, volumes and RDB are back, and must come back healthy; the Qdrant
-- collections are recovered after that, through the running Qdrant. Finally Redis and Qdrant are
-- checked. Trees and files go back to the absolute path the backup recorded (a backup that
-- recorded a relative one needs --to).
-- --dry-run lists what would change and touches nothing.
local backup = require "opsh.backup"
local config = require "opsh.config"
local fs = require "opsh.fs"
local recovery = require "opsh.recovery"

local ORDER = { tree = 10, file = 10, ["docker-volume"] = 25, redis = 30, dragonfly = 30, qdrant = 40 }


return {
  description = "Point-in-time recovery from the newest complete, verified backup at or before a date (not an emergency backup unless asked)",
  categories = { "backup", "recovery", "destructive" },
  guide = {
    "recovery-procedures.1", "recovery-procedures.2", "recovery-procedures.3", "recovery-procedures.4",
    "recovery-procedures.5", "recovery-procedures.6", "disaster-recovery-planning.8",
  },
  args = {
    { name = "date", default = "now", help = "YYYY-MM-DD (end of that day, UTC), YYYYMMDD, an ISO time, or now" },
    { name = "dir", help = "backup root (default: config backup_dir)" },
    { name = "tier", type = "list", help = "choose among these tiers only (default: every tier but emergency)" },
    { name = "name", help = "restore this backup (its directory name in the root), whatever its tier and date" },
    { name = "items", type = "list", help = "only these items (default: all)" },
    { name = "to", help = "restore trees and files under DIR/ITEM instead of their original paths" },
    { name = "redis_dir", help = "Redis's data directory (where dump.rdb goes); Redis must be stopped" },
    { name = "redis_dbfilename", default = "dump.rdb" },
    { name = "qdrant_collection", help = "recover a Qdrant snapshot into this collection instead of its own" },
    { name = "keep_old", type = "boolean", default = false, help = "keep the replaced trees beside the targets" },
    { name = "stop_services", type = "boolean", default = false, help = "stop the stack's services first, start them after and wait until healthy" },
    { name = "services", type = "list", help = "with --stop_services: which (default: config services, else the guide's)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "health_timeout", type = "integer", default = 120 },
    { name = "stop_timeout", type = "integer", default = 30, help = "seconds between SIGTERM and SIGKILL when stopping" },
  },
  run = function(args, ctx)
    local root = args.dir or config.get("backup_dir")
    local at, perr = recovery.parse_date(args.date)
    if not at then return ctx:unknown("restore", "--date: " .. tostring(perr)) end
    local b, why = recovery.choose(root, at, args)
    if not b then return ctx:crit("restore", why) end
    local v = backup.verify(b.path)
    if not v.ok then return ctx:crit("restore.verify", b.name .. " does not verify, nothing restored: " .. tostring(v.problems[1])) end
    ctx:ok("restore.backup", string.format("%s (%s, created %s), verified: %s", b.name, b.tier, b.created, why))
    local m = assert(backup.manifest(b.path))
    local wanted
    if args.items then wanted = {}; for _, i in ipairs(args.items) do wanted[i] = true end end
    local items = {}
    for _, it in ipairs(m.items) do
      if not wanted or wanted[it.name] then items[#items + 1] = it end
    end
    if wanted then
      for name in pairs(wanted) do
        local found = false
        for _, it in ipairs(items) do if it.name == name then found = true end end
        if not found then return ctx:unknown("restore", "the backup has no item " .. name) end
      end
    end
    table.sort(items, function(a, c)
      local oa, oc = ORDER[a.source or a.type] or 20, ORDER[c.source or c.type] or 20
      if a.name:match("^app%-") then oa = 20 end
      if c.name:match("^app%-") then oc = 20 end
      return oa < oc or (oa == oc and a.name < c.name)
    end)
    local redis_done, qdrant_done = false, false
    -- the services that hold the data are stopped before anything is put back
    local stopped, d = {}, nil
    local function start_again()
      if #stopped == 0 then return end
      local services = require "opsh.services"
      local bad = {}
      for _, c in ipairs(stopped) do
        local ok, serr = d:start(c.Id)
        if ok then ok, serr = services.wait_healthy(d, c.Id, args.health_timeout) end
        if not ok then bad[#bad + 1] = services.name_of(c) .. ": " .. tostring(serr) end
      end
      if #bad > 0 then ctx:crit("restore.services.start", "not healthy after the restore: " .. table.concat(bad, "; "))
      else ctx:ok("restore.services.start", string.format("started %d containers, healthy", #stopped)) end
      stopped = {}
    end
    if args.stop_services and not ctx.dry_run then
      local services = require "opsh.services"
      local derr
      d, derr = services.connect()
      if not d then return ctx:crit("restore.services", "Docker: " .. tostring(derr)) end
      local project, prerr = services.project(args.project, d)
      if prerr then return ctx:crit("restore.services", "nothing restored: " .. tostring(prerr)) end
      for _, svc in ipairs(services.names(args.services)) do
        for _, c in ipairs(services.containers(d, svc, project) or {}) do
          if c.State == "running" then
            local ok, serr = d:stop(c.Id, { timeout = args.stop_timeout })
            if not ok then
              start_again()
              return ctx:crit("restore.services", services.name_of(c) .. ": cannot stop: " .. tostring(serr))
            end
            stopped[#stopped + 1] = c
          end
        end
      end
      ctx:ok("restore.services.stop", string.format("stopped %d containers", #stopped), { stopped = #stopped })
    end
    -- one item put back; a value returned ends the restore (a failure already reported)
    local function restore_item(it)
      local src = it.source or it.type
      if src == "redis" then
        if not args.redis_dir then
          ctx:warn("restore." .. it.name, "skipped: give --redis_dir (Redis's data directory, with Redis stopped)")
        else
          local redis = require "opsh.redis"
          local r = redis.connect(config.get("redis_url"))
          if r and r:ping() then
            local d = r:call("CONFIG", "GET", "dir")
            r:close()
            if type(d) == "table" and d[2] == args.redis_dir then
              return ctx:crit("restore." .. it.name, "Redis is running on " .. args.redis_dir .. ": stop it first (it would overwrite dump.rdb on shutdown)")
            end
          end
          local aof = args.redis_dir .. "/appendonlydir"
          if ctx.dry_run then
            ctx:ok("restore." .. it.name, "would put the RDB at " .. args.redis_dir .. "/" .. args.redis_dbfilename
              .. (fs.exists(aof) and " and move appendonlydir aside" or ""))
          else
            if fs.exists(aof) then
              local aside = aof .. ".before-restore-" .. os.date("!%Y%m%dT%H%M%SZ")
              assert(fs.move(aof, aside))
              ctx:warn("restore.redis.aof", "Redis had AOF files: appendonlydir (which Redis would load instead of the RDB) moved to " .. aside)
            end
            local r2, err = backup.restore(b.path, it.name, args.redis_dir .. "/" .. args.redis_dbfilename)
            if not r2 then return ctx:crit("restore." .. it.name, tostring(err)) end
            ctx:ok("restore." .. it.name, "RDB restored to " .. args.redis_dir .. "/" .. args.redis_dbfilename .. " (" .. tostring(it.dbsize) .. " keys at backup time); start Redis", { bytes = r2.bytes })
            redis_done = true
          end
        end
      elseif src == "docker-volume" then
        local vsrc = require("opsh.backup_sources").docker_volume(it.volume)
        local r2, err = vsrc.restore(b.path, it, ctx, { dry_run = ctx.dry_run })
        if not r2 then return ctx:crit("restore." .. it.name, tostring(err)) end
        if r2.dry_run then ctx:ok("restore." .. it.name, "would " .. r2.would)
        else ctx:ok("restore." .. it.name, string.format("%s: %s files put back (staged inside the volume, then swapped)", r2.target, tostring(r2.files))) end
      elseif src == "qdrant" then
        local qsrc = require("opsh.backup_sources").qdrant(it.collection)
        local r2, err = qsrc.restore(b.path, it, ctx, { dry_run = ctx.dry_run, collection = args.qdrant_collection })
        if not r2 then return ctx:crit("restore." .. it.name, tostring(err)) end
        if r2.dry_run then ctx:ok("restore." .. it.name, "would " .. r2.would)
        else
          ctx:ok("restore." .. it.name, "collection " .. r2.target .. " recovered from the snapshot")
          qdrant_done = r2.target
        end
      else
        local target = args.to and (args.to .. "/" .. it.name) or it.origin
        if not args.to and type(target) == "string" and target:sub(1, 1) ~= "/" then
          -- a backup made before origins were recorded absolute: relative to a directory nobody knows
          return ctx:crit("restore." .. it.name, "the backup recorded a relative path (" .. target
            .. "): put it back with --to DIR, nothing restored relative to the current directory")
        end
        if args.to then assert(fs.mkdir(args.to)) end
        local r2, err = backup.restore(b.path, it.name, target, { keep_old = args.keep_old })
        if not r2 then return ctx:crit("restore." .. it.name, tostring(err)) end
        if r2.dry_run then
          ctx:ok("restore." .. it.name, string.format("would restore onto %s: %d added, %d changed, %d removed",
            target, r2.added_count or 0, r2.changed_count or 0, r2.removed_count or 0))
        else
          ctx:ok("restore." .. it.name, string.format("%s: %d files, %d bytes%s", target, r2.files, r2.bytes,
            r2.kept_old and (", old data kept at " .. r2.kept_old) or ""), { files = r2.files, bytes = r2.bytes })
        end
      end
    end
    -- Files, volumes and the Redis RDB go back with the services stopped; Qdrant collections are
    -- recovered through Qdrant's API, so after the services are up again.
    local offline, online = {}, {}
    for _, it in ipairs(items) do
      if (it.source or it.type) == "qdrant" then online[#online + 1] = it else offline[#offline + 1] = it end
    end
    local ok_all, result = pcall(function()
      for _, it in ipairs(offline) do
        local r = restore_item(it)
        if r ~= nil then return r end
      end
    end)
    -- whatever happened, what was stopped is started again
    start_again()
    if not ok_all then error(result, 0) end
    if result ~= nil then return result end
    for _, it in ipairs(online) do
      local r = restore_item(it)
      if r ~= nil then return r end
    end
    -- health after the restore
    if qdrant_done then
      local q = require("opsh.qdrant").connect()
      local n = q:count(qdrant_done, { exact = true })
      if n then ctx:ok("restore.health.qdrant", string.format("%s answers, %d points", qdrant_done, n)) else ctx:crit("restore.health.qdrant", qdrant_done .. " does not answer") end
    end
    if redis_done then ctx:ok("restore.health.redis", "start Redis on " .. args.redis_dir .. " and check it with redis/health") end
  end,
}
