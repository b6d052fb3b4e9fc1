-- Log archiving with the guide's 30-day retention: the log directory is archived into the backup
-- root's logs/ (one verified backup per run, tier "logs"), then application logs older than the
-- retention are deleted, and log archives that the logs tier's policy no longer keeps (opsh.retention:
-- 30 days unless config.lua's backup.retention.logs says otherwise; the newest is always kept). What is
-- deleted is first read by the log scanner (opsh.logs), so the report says what goes: its lines, the
-- ERROR lines among them and the time they span (gzipped and rotated logs included). The guide's
-- `docker system prune --volumes` is not done: it deletes unused named volumes (DESIGN §3).
local backup = require "opsh.backup"
local config = require "opsh.config"
local fs = require "opsh.fs"
local logs = require "opsh.logs"
local retention = require "opsh.retention"
local time = require "opsh.time"
local units = require "opsh.units"

return {
  description = "Archives the application logs (verified), then deletes logs and log archives older than the retention (30 days)",
  categories = { "logs", "maintenance", "destructive" },
  window = "daily",
  guide = {
    "maintenance-windows.1", "log-management.1", "log-management.2", "log-management.3", "log-management.5", "daily-tasks.10",
  },
  notes = [[
Writes: one new log archive (tier logs) in ROOT/logs. Deletes: files matching --pattern under
--log_dir older than the retention (only after they are in a verified archive), and log archives
in ROOT/logs that the logs tier's policy no longer keeps (the newest is always kept). Never deletes
anything else in ROOT/logs or elsewhere in the backup root.]],
  args = {
    { name = "log_dir", default = "/var/log/ai-docs" },
    { name = "pattern", default = "*.log", help = "which files are logs" },
    { name = "dir", help = "backup root (default: config backup_dir; archives go to DIR/logs)" },
    { name = "retention_days", type = "integer", help = "delete logs, and log archives, older than N days (default: the logs tier's policy, 30)" },
    { name = "compression", default = "gzip", choices = { "gzip", "zstd" } },
  },
  run = function(args, ctx)
    local root = retention.root(args.dir or config.get("backup_dir"), "logs")
    local policy = retention.policy("logs", { days = args.retention_days })
    local days = args.retention_days or (policy and policy.days) or 30
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
    local old = assert(fs.find(args.log_dir, { name = args.pattern, type = "file", older_than = days * 86400 }))
    -- what goes, read before it goes: lines, ERROR lines and the time they span
    local paths = {}
    for _, f in ipairs(old) do paths[#paths + 1] = f.path end
    local scan = #paths > 0 and logs.scan { files = paths, span = true, samples = 0, sets = { errors = { regex = "ERROR" } } } or nil
    local lines, errors = {}, {}
    for _, f in ipairs(scan and scan.files or {}) do lines[f.path] = f.lines; errors[f.path] = f.sets.errors end
    local deleted, bytes, dlines, derrors = 0, 0, 0, 0
    for _, f in ipairs(old) do
      local r = fs.delete(f.path)
      if r then
        deleted = deleted + 1; bytes = bytes + f.size
        dlines = dlines + (lines[f.path] or 0); derrors = derrors + (errors[f.path] or 0)
      end
    end
    local span = ""
    if scan and scan.first_time then span = string.format(", written %s to %s", time.iso(scan.first_time), time.iso(scan.last_time)) end
    ctx:ok("logs.retention", string.format("%s %d logs older than %d days (%s: %d lines, %d ERROR lines%s)", ctx.dry_run and "would delete" or "deleted",
      deleted, days, units.bytes_text(bytes), dlines, derrors, span), { deleted = deleted, bytes = bytes, lines = dlines, error_lines = derrors })
    -- log archives the logs tier's policy no longer keeps (the newest is always kept)
    if not policy then return ctx:ok("logs.archives", "the logs tier has no retention policy: no log archive deleted") end
    local r, rerr = backup.retention(root, { tiers = { logs = policy } })
    if not r then return ctx:warn("logs.archives", tostring(rerr)) end
    ctx:ok("logs.archives", string.format("kept %d log archives (%s), %s %d", #r.kept, retention.describe(policy),
      r.dry_run and "would delete" or "deleted", #r.deleted), { kept = #r.kept, deleted = #r.deleted })
  end,
}
