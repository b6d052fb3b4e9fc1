-- The guide's evening checklist (Daily Operations / Daily Tasks, 18:00), in order: temporary
-- files and logs cleaned up (maintenance/temp-cleanup, logs/archive: both delete, so the
-- checklist is destructive), the day's performance reviewed (perf/regression: Qdrant's p95
-- against its baseline), the scheduled maintenance tasks checked (the agent's run history,
-- issue 16: UNKNOWN until it exists), the backups' status, the services' health now, and the
-- daily status report: a roll-up of the backups, the performance and the incidents (every
-- check that is not OK) sent with opsh.notify (config slack_webhook_url, or --webhook).
-- --no-send shows the report without sending it; --dry-run sends nothing and deletes nothing.
local procedure = require "opsh.procedure"
local notify = require "opsh.notify"
local report = require "opsh.report"
local time = require "opsh.time"

local SECTIONS = {
  { title = "Backups", keys = { backups = true } },
  { title = "Performance", keys = { performance = true } },
  { title = "Scheduled tasks", keys = { scheduled = true } },
  { title = "Cleanup", keys = { temp = true, logs = true } },
  { title = "Health", keys = { health = true } },
}

local function worst(checks)
  local w = 0
  for _, c in ipairs(checks) do w = math.max(w, report.STATUS[c.status] or 3) end
  return report.NAMES[w]
end

--- The daily status report's text: a headline, each section's worst status with its checks'
--- messages (only the ones that are not OK where a section has many), and the incidents.
local function status_report(order, subs)
  local all, checks, lines = {}, {}, {}
  for i, part in ipairs(order) do
    for _, c in ipairs(subs[i].checks) do
      all[#all + 1] = { part = part.key, check = c }
      checks[#checks + 1] = c
    end
  end
  local counts = { ok = 0, warning = 0, critical = 0, unknown = 0 }
  for _, e in ipairs(all) do counts[e.check.status] = counts[e.check.status] + 1 end
  lines[#lines + 1] = string.format("Daily status report %s: %d checks, %d OK, %d WARNING, %d CRITICAL, %d UNKNOWN",
    os.date("!%Y-%m-%d", math.floor(time.now())), #all, counts.ok, counts.warning, counts.critical, counts.unknown)
  for _, s in ipairs(SECTIONS) do
    local mine = {}
    for _, e in ipairs(all) do if s.keys[e.part] then mine[#mine + 1] = e.check end end
    if #mine > 0 then
      lines[#lines + 1] = string.format("%s: %s", s.title, worst(mine):upper())
      for _, c in ipairs(mine) do
        if #mine <= 4 or c.status ~= "ok" then
          lines[#lines + 1] = string.format("  [%s] %s: %s", c.status:upper(), c.name, c.message)
        end
      end
    end
  end
  local incidents = {}
  for _, e in ipairs(all) do
    if e.check.status == "critical" then incidents[#incidents + 1] = "  " .. e.check.name .. ": " .. e.check.message end
  end
  lines[#lines + 1] = string.format("Incidents (CRITICAL now): %d", #incidents)
  for _, l in ipairs(incidents) do lines[#lines + 1] = l end
  return table.concat(lines, "\n"), worst(checks)
end

return {
  description = "Evening checklist: temp files and logs cleanup, daily performance, scheduled tasks, backups, and the daily status report sent",
  categories = { "checklist", "daily", "maintenance", "destructive" },
  guide = { "daily-tasks.10", "daily-tasks.11", "daily-tasks.12", "daily-tasks.13" },
  args = {
    { name = "send", type = "boolean", default = true, help = "send the daily status report (--no-send: only show it)" },
    { name = "webhook", help = "Slack-compatible webhook for the report (default: config slack_webhook_url)" },
    { name = "skip", type = "list", help = "parts to leave out: temp, logs, performance, scheduled, backups, health" },
  },
  run = function(args, ctx)
    local parts = {
      { key = "temp", name = "maintenance/temp-cleanup" },
      { key = "logs", name = "logs/archive" },
      { key = "performance", name = "perf/regression", args = { baseline_offset = "1d" } },
      { key = "scheduled", name = "agent/scheduled", why = "issue 16: the agent's run history" },
      { key = "backups", name = "backup/status" },
      { key = "health", name = "daily/check" },
    }
    -- in the guide's order, one after the other: the cleanup is done before the rest is read
    local subs, order = procedure.parts(parts, ctx, { skip = args.skip, allow_changes = true, sequential = true })
    local text, status = status_report(order, subs)
    if not args.send then return ctx:ok("report", "not sent (--no-send):\n" .. text) end
    local r, err = notify.slack(text, { url = args.webhook, level = status })
    if not r then return ctx:warn("report", "daily status report NOT sent: " .. tostring(err) .. "\n" .. text) end
    if r.dry_run then return ctx:ok("report", "would send the daily status report:\n" .. text) end
    ctx:ok("report", string.format("daily status report sent (%s, HTTP %s)", status:upper(), tostring(r.status)))
  end,
}
