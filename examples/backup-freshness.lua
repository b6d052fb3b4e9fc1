-- Backup freshness as Prometheus metrics, for node_exporter's textfile collector:
--
--   opsh run examples/backup-freshness.lua --out /var/lib/node_exporter/textfile/opsh_backups.prom
--
-- (every 5 minutes from cron or the agent). For each backup tier found under backup_dir (and
-- its config/ and logs/ subdirectories, where configuration versions and log archives live):
--   opsh_backup_last_success_timestamp_seconds{tier="daily"}  when the newest complete one was made
--   opsh_backup_age_seconds{tier="daily"}                     how old it is now
--   opsh_backup_size_bytes{tier="daily"}                      its size
--   opsh_backups_kept{tier="daily"}                           complete backups kept
--   opsh_backups_incomplete                                   leftovers of interrupted runs
-- The file is replaced atomically (node_exporter never reads half a file) and checked with
-- promtool by the tests. An alert then reads, e.g.:
--   opsh_backup_age_seconds{tier="daily"} > 26 * 3600
local backup = require "opsh.backup"
local config = require "opsh.config"
local fs = require "opsh.fs"
local time = require "opsh.time"
local retention = require "opsh.retention"

local function label(s) return (tostring(s):gsub("[\\\"\n]", { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" })) end

return {
  description = "Example: backup age, size and count per tier as Prometheus metrics for node_exporter's textfile collector",
  categories = { "example", "backup", "safe" },
  notes = "Writes only --out (atomically); reads the backup directories.",
  args = {
    { name = "dir", help = "backup root (default: config backup_dir)" },
    { name = "out", help = "the .prom file to write (default: print the metrics in the report only)" },
  },
  run = function(args, ctx)
    local root = args.dir or config.get("backup_dir")
    local now = time.now()
    local tiers, incomplete, seen = {}, 0, {}
    for _, place in ipairs { root, retention.root(root, "config"), retention.root(root, "logs") } do
      if not seen[place] then
        seen[place] = true
        for _, b in ipairs(backup.list(place) or {}) do
          if b.complete then
            local t = tiers[b.tier] or { count = 0 }
            t.count = t.count + 1
            if not t.newest or b.created_unix > t.newest.created_unix then t.newest = b end
            tiers[b.tier] = t
          else
            incomplete = incomplete + 1
          end
        end
      end
    end
    local names = {}
    for name in pairs(tiers) do names[#names + 1] = name end
    table.sort(names)
    local lines = {
      "# HELP opsh_backup_last_success_timestamp_seconds When the newest complete backup of the tier was made.",
      "# TYPE opsh_backup_last_success_timestamp_seconds gauge",
    }
    local function series(metric, help, value_of)
      lines[#lines + 1] = "# HELP " .. metric .. " " .. help
      lines[#lines + 1] = "# TYPE " .. metric .. " gauge"
      for _, name in ipairs(names) do
        lines[#lines + 1] = string.format('%s{tier="%s"} %s', metric, label(name), value_of(tiers[name]))
      end
    end
    for _, name in ipairs(names) do
      lines[#lines + 1] = string.format('opsh_backup_last_success_timestamp_seconds{tier="%s"} %d', label(name), tiers[name].newest.created_unix)
    end
    series("opsh_backup_age_seconds", "Age of the newest complete backup of the tier.", function(t) return string.format("%.0f", now - t.newest.created_unix) end)
    series("opsh_backup_size_bytes", "Size of the newest complete backup of the tier.", function(t) return string.format("%d", t.newest.bytes or 0) end)
    series("opsh_backups_kept", "Complete backups of the tier kept.", function(t) return tostring(t.count) end)
    lines[#lines + 1] = "# HELP opsh_backups_incomplete Leftovers of interrupted backup runs."
    lines[#lines + 1] = "# TYPE opsh_backups_incomplete gauge"
    lines[#lines + 1] = "opsh_backups_incomplete " .. incomplete
    local text = table.concat(lines, "\n") .. "\n"
    for _, name in ipairs(names) do
      local t = tiers[name]
      ctx:ok("tier." .. name, string.format("newest %s, %s old, %d kept", t.newest.name, time.format_duration(now - t.newest.created_unix), t.count),
        { age_s = now - t.newest.created_unix, count = t.count })
    end
    if args.out then
      local ok, err = fs.write_atomic(args.out, text, { mode = tonumber("644", 8) })
      if not ok then return ctx:crit("metrics", "cannot write " .. args.out .. ": " .. tostring(err)) end
      ctx:ok("metrics", string.format("%d tiers written to %s", #names, args.out), { tiers = #names })
    else
      ctx:ok("metrics", text)
    end
  end,
}
