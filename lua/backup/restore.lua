-- Point-in-time recovery: the newest complete backup at or before --date (any tier), verified
-- first, then each item put back in the order it needs: configuration and files, application
-- state, the Redis RDB (Redis stopped; with AOF, appendonlydir is what Redis loads, so the old
-- one is moved aside, never deleted), then Qdrant collections recovered through a running Qdrant
-- (snapshot upload with its checksum). Trees are extracted into a staging directory and swapped
-- in atomically; the old data is kept until the new is in place (--keep_old keeps it after).
-- A Docker volume (its users stopped, else refused) is staged inside the volume and swapped
-- there (opsh.backup_sources.docker_volume).
-- Finally Redis and Qdrant are checked. --dry-run lists what would change and touches nothing.
local backup = require "opsh.backup"
local config = require "opsh.config"
local fs = require "opsh.fs"
local time = require "opsh.time"

local ORDER = { tree = 10, file = 10, ["docker-volume"] = 25, redis = 30, dragonfly = 30, qdrant = 40 }

local function parse_date(s)
  if not s or s == "now" then return os.time() end
  if s:match("^%d%d%d%d%-%d%d%-%d%d$") then s = s .. "T23:59:59Z" end
  if s:match("^%d%d%d%d%d%d%d%d$") then s = s:sub(1, 4) .. "-" .. s:sub(5, 6) .. "-" .. s:sub(7, 8) .. "T23:59:59Z" end
  return time.parse_iso(s)
end

return {
  description = "Point-in-time recovery from the newest complete, verified backup at or before a date",
  categories = { "backup", "recovery", "destructive" },
  guide = { "Backup and Recovery / Recovery Procedures (Point-in-Time Recovery)", "Disaster Recovery / database restore from a date" },
  args = {
    { name = "date", default = "now", help = "YYYY-MM-DD (end of that day, UTC), YYYYMMDD, an ISO time, or now" },
    { name = "dir", help = "backup root (default: config backup_dir)" },
    { name = "items", type = "list", help = "only these items (default: all)" },
    { name = "to", help = "restore trees and files under DIR/ITEM instead of their original paths" },
    { name = "redis_dir", help = "Redis's data directory (where dump.rdb goes); Redis must be stopped" },
    { name = "redis_dbfilename", default = "dump.rdb" },
    { name = "qdrant_collection", help = "recover a Qdrant snapshot into this collection instead of its own" },
    { name = "keep_old", type = "boolean", default = false, help = "keep the replaced trees beside the targets" },
  },
  run = function(args, ctx)
    local root = args.dir or config.get("backup_dir")
    local at, perr = parse_date(args.date)
    if not at then return ctx:unknown("restore", "--date: " .. tostring(perr)) end
    local b = backup.latest(root, at)
    if not b then return ctx:crit("restore", "no complete backup in " .. root .. " at or before " .. time.iso(at)) end
    local v = backup.verify(b.path)
    if not v.ok then return ctx:crit("restore.verify", b.name .. " does not verify, nothing restored: " .. tostring(v.problems[1])) end
    ctx:ok("restore.backup", string.format("%s (%s, created %s), verified", b.name, b.tier, b.created))
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
    for _, it in ipairs(items) do
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
    -- health after the restore
    if qdrant_done then
      local q = require("opsh.qdrant").connect()
      local n = q:count(qdrant_done, { exact = true })
      if n then ctx:ok("restore.health.qdrant", string.format("%s answers, %d points", qdrant_done, n)) else ctx:crit("restore.health.qdrant", qdrant_done .. " does not answer") end
    end
    if redis_done then ctx:ok("restore.health.redis", "start Redis on " .. args.redis_dir .. " and check it with redis/health") end
  end,
}
