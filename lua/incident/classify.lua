-- The guide's incident classification (Incident Response / Incident Classification): runs the
-- daily health check (and, with --security, the daily security check), then reads its results
-- against the guide's severity definitions:
--   P1 Critical  system down, data loss, security breach
--                (Qdrant not answering, no service running, a disk or the memory critical,
--                 the cache at its memory limit, a critical security or backup check)
--   P2 High      significant performance degradation, partial outage
--                (Redis down, a service down, the task queue down, the host overloaded,
--                 any other critical check)
--   P3 Medium    minor performance issues, non-critical features affected (any warning)
--   P4 Low       cosmetic issues, enhancement requests: no check can see these, so a clean
--                check reports "no incident" rather than P4.
-- The rules are opsh.incidents.RULES (a script can print them: `opsh help opsh.incidents`).
-- The incident type it reports (database_down, memory_exhausted, disk_full, ...) is what
-- incident/respond keys its immediate fix on, as the guide's script does.
-- Checks that could not be assessed (UNKNOWN) are listed: a classification without them may
-- be too mild.
local procedure = require "opsh.procedure"
local report = require "opsh.report"
local incidents = require "opsh.incidents"

local STATUS_OF = { P1 = "critical", P2 = "critical", P3 = "warning" }

return {
  description = "Classifies the current state as the guide's P1-P4 incident severity, from the health check's results",
  categories = { "incident", "check", "safe" },
  guide = {
    "incident-classification.1", "incident-classification.2", "incident-classification.3",
    "incident-classification.4", "maintenance-windows.5",
  },
  notes = "Changes nothing: it runs the daily health check (daily/check) and, with --security, security/daily, and reads their results.",
  args = {
    { name = "security", type = "boolean", default = false, help = "also run the daily security check (security/daily)" },
    { name = "skip", type = "list", help = "health-check parts to leave out (as daily/check --skip)" },
    { name = "details", type = "boolean", default = false, help = "also list every check the classification read" },
  },
  run = function(args, ctx)
    local sub = report.new("incident/classify", nil, {}, { dry_run = ctx.dry_run })
    local ok, err = procedure.run("daily/check", { skip = args.skip }, sub)
    if not ok then return ctx:unknown("incident.assess", "the health check could not run: " .. tostring(err)) end
    if args.security then
      local sok, serr = procedure.run("security/daily", {}, sub)
      if not sok then sub:unknown("security.daily", "the security check could not run: " .. tostring(serr)) end
    end
    if args.details then
      for _, c in ipairs(sub.checks) do ctx.checks[#ctx.checks + 1] = c end
    end
    local c = incidents.classify(sub.checks)
    local metrics = { reasons = #c.reasons, unassessed = #c.unknown, checks = #sub.checks }
    for _, r in ipairs(c.reasons) do
      ctx[r.severity == "P1" and "crit" or r.severity == "P2" and "crit" or "warn"](ctx,
        "incident.reason." .. r.check, r.severity .. " " .. r.why .. ": " .. (r.message or ""))
    end
    if #c.unknown > 0 then
      -- UNKNOWN outranks CRITICAL in the exit code: a P1 or P2 found stays the exit code
      local worse = (c.severity == "P1" or c.severity == "P2") and "warn" or "unknown"
      ctx[worse](ctx, "incident.unassessed", #c.unknown .. " check(s) could not be assessed: " .. table.concat(c.unknown, ", ")
        .. " (the severity may be too mild)", { unassessed = #c.unknown })
    end
    if not c.severity then
      return ctx:ok("incident.severity", "no incident: every assessed check is OK", metrics)
    end
    metrics.severity = tonumber(c.severity:sub(2))
    ctx[STATUS_OF[c.severity] == "critical" and "crit" or "warn"](ctx, "incident.severity",
      string.format("%s %s (%s): %s", c.severity, incidents.SEVERITY_NAMES[c.severity], c.type, c.why), metrics)
  end,
}
