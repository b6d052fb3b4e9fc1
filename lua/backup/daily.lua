-- Daily backup: configuration directories and files, a 0600 copy of .env, application state,
-- the Redis RDB (by replication; DragonflyDB detected) and Qdrant collection snapshots (created
-- through the API, downloaded with Qdrant's checksum checked), into one backup directory that is
-- complete only when everything is in it (see opsh.backup); verified at the end, then the
-- retention of its own tier (opsh.retention; never another tier's backups, never what is not a
-- backup). What to take comes from the arguments or config.lua's `backup` table; nothing is
-- shelled out (no tar, cp, redis-cli or curl).
local backup = require "opsh.backup"
local config = require "opsh.config"
local retention = require "opsh.retention"
local sources = require "opsh.backup_sources"
local units = require "opsh.units"

return {
  description = "Daily backup: config, .env (0600), app state, Redis RDB, Qdrant snapshots; verified, then its tier's retention",
  categories = { "backup", "destructive" },
  guide = {
    "backup-strategy.1", "backup-strategy.2", "backup-strategy.3", "backup-strategy.4",
    "backup-strategy.5",
  },
  notes = [[
Writes: one new backup directory in the backup root (TIMESTAMP-TIER, complete only when verified).
Deletes (unless --no-retention): older backups of the same tier (default daily) that the tier's
policy no longer keeps (opsh.retention: daily 7, weekly 4, monthly 6 unless config.lua's
backup.retention says otherwise; the newest is always kept), and leftovers of interrupted backups.
Never deletes: backups of other tiers (weekly, emergency), configuration versions (ROOT/config),
log archives (ROOT/logs), or anything in the root that is not a backup opsh wrote.]],
  args = {
    { name = "dir", help = "backup root (default: config backup_dir / BACKUP_DIR)" },
    { name = "config_dirs", type = "list", help = "configuration directories (default: config backup.config_dirs)" },
    { name = "files", type = "list", help = "single files such as docker-compose.yml (default: config backup.files)" },
    { name = "env_file", help = "the .env to keep as a 0600 copy (default: config backup.env_file)" },
    { name = "app_data", type = "list", help = "application state directories (default: config backup.app_data)" },
    { name = "redis", type = "boolean", help = "take the Redis RDB (default: config backup.redis)" },
    { name = "redis_url", help = "Redis URL (default: config redis_url)" },
    { name = "qdrant_collections", type = "list", help = "Qdrant collections to snapshot (default: config backup.qdrant_collections)" },
    { name = "compression", default = "gzip", choices = { "gzip", "zstd", "none" } },
    { name = "tier", default = "daily", help = "the backup's tier name" },
    { name = "daily", type = "integer", help = "retention: keep the newest of each of N days (default: the tier's policy)" },
    { name = "weekly", type = "integer", help = "retention: ... of N ISO weeks (default: the tier's policy)" },
    { name = "monthly", type = "integer", help = "retention: ... of N months (default: the tier's policy)" },
    { name = "retention", type = "boolean", default = true, help = "apply the tier's retention after a verified backup (--no-retention)" },
    { name = "depth", default = "files", choices = { "files", "archives" }, help = "verification depth" },
  },
  run = function(args, ctx)
    local root = args.dir or config.get("backup_dir")
    local list = sources.from_config(args)
    if #list == 0 then
      return ctx:unknown("backup", "nothing to back up: give --config_dirs, --files, --env_file, --app_data, --redis or --qdrant_collections (or config.lua's backup table)")
    end
    local m, err = sources.take(root, args.tier, list, ctx, { compression = args.compression })
    if not m then return ctx:crit("backup", "backup failed, nothing kept: " .. tostring(err)) end
    if m.dry_run then return ctx:ok("backup", "would write a " .. args.tier .. " backup of " .. #list .. " sources to " .. root) end
    local v = backup.verify(m.path, { depth = args.depth })
    if not v.ok then
      return ctx:crit("backup.verify", "the new backup does not verify: " .. tostring(v.problems[1]), { files = v.files })
    end
    ctx:ok("backup", string.format("%s: %d items, %s, verified (%s)", m.path, #m.items, units.bytes_text(m.total_bytes), args.depth),
      { bytes = m.total_bytes, items = #m.items })
    for _, l in ipairs(m.leftovers_removed or {}) do ctx:warn("backup.leftovers", "removed an interrupted backup: " .. l) end
    if args.retention then
      local policy = retention.policy(args.tier, { daily = args.daily, weekly = args.weekly, monthly = args.monthly })
      if not policy then
        return ctx:ok("backup.retention", "tier " .. args.tier .. " has no retention policy: nothing deleted")
      end
      local r, rerr = backup.retention(root, { tiers = { [args.tier] = policy } })
      if not r then return ctx:warn("backup.retention", tostring(rerr)) end
      ctx:ok("backup.retention", string.format("%s (%s): kept %d, deleted %d", args.tier, retention.describe(policy), #r.kept, #r.deleted),
        { kept = #r.kept, deleted = #r.deleted })
    end
  end,
}
