-- Backup retention, grandfather-father-son: the newest backup of each of the last N days,
-- weeks and months is kept, and always the newest complete one; the rest and interrupted
-- leftovers are deleted. --dry-run lists what would go.
local backup = require "opsh.backup"
local config = require "opsh.config"

return {
  description = "GFS retention of the backup root: keep N daily, weekly, monthly; never the newest complete",
  categories = { "backup", "maintenance", "destructive" },
  guide = { "Backup and Recovery / Backup Strategy", "Maintenance Procedures / Scheduled Maintenance" },
  args = {
    { name = "dir", help = "backup root (default: config backup_dir)" },
    { name = "daily", type = "integer", default = 7 },
    { name = "weekly", type = "integer", default = 4 },
    { name = "monthly", type = "integer", default = 6 },
  },
  run = function(args, ctx)
    local root = args.dir or config.get("backup_dir")
    local r, err = backup.retention(root, { daily = args.daily, weekly = args.weekly, monthly = args.monthly })
    if not r then return ctx:crit("backup.retention", tostring(err)) end
    local verb = r.dry_run and "would delete" or "deleted"
    ctx:ok("backup.retention", string.format("kept %d, %s %d%s", #r.kept, verb, #r.deleted,
      #r.deleted > 0 and (": " .. table.concat(r.deleted, ", ")) or ""), { kept = #r.kept, deleted = #r.deleted })
  end,
}
