-- Emergency backup: everything the daily backup takes, right now, compressed with zstd on every
-- core, tier "emergency", verified, and never followed by retention (nothing is deleted).
local backup = require "opsh.backup"
local config = require "opsh.config"
local sources = require "opsh.backup_sources"
local units = require "opsh.units"

return {
  description = "Emergency backup now: every configured source, zstd, verified, no retention",
  categories = { "backup", "emergency", "intrusive" },
  guide = { "emergency-procedures.7" },
  args = {
    { name = "dir", help = "backup root (default: config backup_dir / BACKUP_DIR)" },
    { name = "config_dirs", type = "list" }, { name = "files", type = "list" }, { name = "env_file" },
    { name = "app_data", type = "list" }, { name = "redis", type = "boolean" }, { name = "redis_url" },
    { name = "qdrant_collections", type = "list" },
    { name = "reason", default = "emergency", help = "recorded in the manifest" },
  },
  run = function(args, ctx)
    local root = args.dir or config.get("backup_dir")
    local list = sources.from_config(args)
    if #list == 0 then return ctx:unknown("backup", "nothing configured to back up") end
    local m, err = sources.take(root, "emergency", list, ctx, { compression = "zstd", meta = { reason = args.reason } })
    if not m then return ctx:crit("backup", "emergency backup failed, nothing kept: " .. tostring(err)) end
    if m.dry_run then return ctx:ok("backup", "would write an emergency backup to " .. root) end
    local v = backup.verify(m.path)
    if not v.ok then return ctx:crit("backup.verify", "does not verify: " .. tostring(v.problems[1])) end
    ctx:ok("backup", string.format("%s: %d items, %s, verified", m.path, #m.items, units.bytes_text(m.total_bytes)), { bytes = m.total_bytes })
  end,
}
