-- Log archiving with the guide's 30-day retention: the log directory is archived into the backup
-- root's logs/ (one verified backup per run, tier "logs"), then application logs older than the
-- retention are deleted, and log archives older than it too. The guide's
-- `docker system prune --volumes` is not done: it deletes unused named volumes (DESIGN §3).
local backup = require "opsh.backup"
local config = require "opsh.config"
local fs = require "opsh.fs"
local units = require "opsh.units"

return {
  description = "Archives the application logs (verified), then deletes logs and log archives older than the retention (30 days)",
  categories = { "logs", "maintenance", "destructive" },
  guide = { "Maintenance Procedures / Log Management (log retention policy, archive important logs)" },
  args = {
    { name = "log_dir", default = "/var/log/ai-docs" },
    { name = "pattern", default = "*.log", help = "which files are logs" },
    { name = "dir", help = "backup root (default: config backup_dir; archives go to DIR/logs)" },
    { name = "retention_days", type = "integer", default = 30 },
    { name = "compression", default = "gzip", choices = { "gzip", "zstd" } },
  },
  run = function(args, ctx)
    local root = (args.dir or config.get("backup_dir")) .. "/logs"
    if not fs.exists(args.log_dir) then return ctx:crit("logs.archive", args.log_dir .. " does not exist") end
    local w, err = backup.begin { root = root, tier = "logs", compression = args.compression }
    if not w then return ctx:crit("logs.archive", tostring(err)) end
    local it, ierr = w:add_tree("logs", args.log_dir)
    if not it then return ctx:crit("logs.archive", "archiving failed, nothing kept: " .. tostring(ierr)) end
    local m, cerr = w:commit()
    if not m then return ctx:crit("logs.archive", tostring(cerr)) end
    if not m.dry_run then
      local v = backup.verify(m.path)
      if not v.ok then return ctx:crit("logs.archive", "the archive does not verify: " .. tostring(v.problems[1])) end
      ctx:ok("logs.archive", string.format("%s: %d files, %s", m.path, it.files, units.bytes_text(it.bytes)), { bytes = it.bytes, files = it.files })
    end
    -- logs older than the retention (only after they are in a verified archive)
    local old = assert(fs.find(args.log_dir, { name = args.pattern, type = "file", older_than = args.retention_days * 86400 }))
    local deleted, bytes = 0, 0
    for _, f in ipairs(old) do
      local r = fs.delete(f.path)
      if r then deleted = deleted + 1; bytes = bytes + f.size end
    end
    ctx:ok("logs.retention", string.format("%s %d logs older than %d days (%s)", ctx.dry_run and "would delete" or "deleted",
      deleted, args.retention_days, units.bytes_text(bytes)), { deleted = deleted, bytes = bytes })
    -- log archives older than the retention (the newest is always kept)
    local r, rerr = backup.retention(root, { daily = args.retention_days, weekly = 0, monthly = 0 })
    if not r then return ctx:warn("logs.archives", tostring(rerr)) end
    ctx:ok("logs.archives", string.format("kept %d log archives, %s %d", #r.kept, r.dry_run and "would delete" or "deleted", #r.deleted))
  end,
}
