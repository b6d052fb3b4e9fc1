-- Backup completion status, read from the backup catalog (backup.list): for each tier, its
-- newest complete backup and how old it is, and whether a run after it was interrupted (a
-- .partial left behind). Nothing is written and no backup is taken: this is the morning
-- checklist's "Check backup completion status". A tier older than its --max_age (daily 26 h:
-- a night's backup plus slack; weekly 8 days) or without any complete backup is CRITICAL; an
-- interrupted run newer than the newest complete backup is a WARNING. --verify also checks the
-- newest backup of each tier file by file (sizes and SHA-256 against its manifest).
local backup = require "opsh.backup"
local config = require "opsh.config"
local time = require "opsh.time"

local DEFAULT_MAX_AGE = { daily = "26h", weekly = "8d", monthly = "32d" }

return {
  description = "Backup completion status from the backup catalog: newest complete backup per tier, its age, interrupted runs",
  categories = { "backup", "check", "safe" },
  guide = { "daily-tasks.3" },
  args = {
    { name = "dir", help = "backup root (default: config backup_dir)" },
    { name = "tiers", type = "list", default = { "daily", "weekly" }, help = "tiers to check" },
    { name = "max_age", type = "list", help = "TIER=DURATION pairs (default daily=26h, weekly=8d, monthly=32d)" },
    { name = "verify", type = "boolean", default = false, help = "also verify the newest backup of each tier (reads every file)" },
  },
  run = function(args, ctx)
    local root = args.dir or config.get("backup_dir")
    local limits = {}
    for tier, d in pairs(DEFAULT_MAX_AGE) do limits[tier] = time.duration(d) end
    for _, pair in ipairs(args.max_age or {}) do
      local tier, d = pair:match("^([%w_%-]+)=(.+)$")
      if not tier then error("--max_age: TIER=DURATION expected, got " .. pair, 0) end
      limits[tier] = time.duration(d)
    end
    local backups, left_alone = backup.list(root)
    if not backups then return ctx:crit("backup.status", "cannot read the backup root " .. tostring(root) .. ": " .. tostring(left_alone)) end
    local now = time.now()
    for _, tier in ipairs(args.tiers) do
      local check = "backup.status." .. tier
      local newest, interrupted
      for _, b in ipairs(backups) do
        if b.tier == tier then
          if b.complete and not newest then newest = b end
          if not b.complete and (not interrupted or b.created_unix > interrupted.created_unix) then interrupted = b end
        end
      end
      local limit = limits[tier]
      if not newest then
        ctx:crit(check, "no complete " .. tier .. " backup in " .. root
          .. (interrupted and ("; the last run (" .. interrupted.name .. ") was interrupted") or ""))
      else
        local age = now - newest.created_unix
        local m = { age_s = math.floor(age), bytes = newest.bytes or 0 }
        local text = string.format("newest %s, %s old, %s", newest.name, time.format_duration(math.floor(age)),
          newest.bytes and string.format("%.1f MiB", newest.bytes / 1048576) or "size unknown")
        if args.verify then
          local v = backup.verify(newest.path)
          if not v.ok then
            ctx:crit(check, text .. "; it does NOT verify: " .. tostring(v.problems[1]), m)
            goto next
          end
          text = text .. string.format("; verified (%d files)", v.files or 0)
        end
        if limit and age > limit then
          ctx:crit(check, text .. string.format("; older than %s: the last %s backup did not complete", time.format_duration(limit), tier), m)
        elseif interrupted and interrupted.created_unix > newest.created_unix then
          ctx:warn(check, text .. "; a later run was interrupted (" .. interrupted.name .. ")", m)
        else
          ctx:ok(check, text, m)
        end
      end
      ::next::
    end
  end,
}
