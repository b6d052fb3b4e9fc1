-- The guide's morning checklist (Daily Operations / Daily Tasks, 09:00), one report: the daily
-- health check, the overnight logs, the backups' completion status (read from the backup
-- catalog: no backup is taken), the cache hit rates and the resource trends. Each part is the
-- procedure of its own; they run concurrently and report in the checklist's order. A part whose
-- procedure does not exist here yet (the log files of logs/scan come with issue 14) is UNKNOWN
-- and says so; the others still run. The trends are system/capacity's.
local procedure = require "opsh.procedure"

return {
  description = "Morning checklist: health check, overnight logs, backup completion status, cache hit rates, resource trends",
  categories = { "checklist", "daily", "check", "safe" },
  guide = { "daily-tasks.1", "daily-tasks.2", "daily-tasks.3", "daily-tasks.4", "daily-tasks.5" },
  args = {
    { name = "since", default = "12h", help = "how far back the overnight log review reads" },
    { name = "skip", type = "list", help = "parts to leave out: health, logs, log-files, backups, cache, trends" },
  },
  run = function(args, ctx)
    local parts = {
      -- the daily health check, without its 24 h log part: the overnight review below reads the logs
      { key = "health", name = "daily/check", args = { skip = { "logs" } } },
      { key = "logs", name = "services/errors", args = { since = args.since, match = { "error", "warn" } } },
      { key = "log-files", name = "logs/scan", why = "issue 14" },
      { key = "backups", name = "backup/status" },
      { key = "cache", name = "redis/cache" },
      { key = "trends", name = "system/capacity" },
    }
    procedure.parts(parts, ctx, { skip = args.skip })
  end,
}
