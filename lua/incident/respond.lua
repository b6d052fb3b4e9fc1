-- The guide's critical incident response (Incident Response / Incident Response Procedures,
-- the P1 script), step by step, each step in the report and in the incident's record:
--   1. assess      the health check, classified (incident/classify's rules): severity and type
--   2. notify      the incident notification with a new incident id (incident/notify), and the
--                  first level of the escalation matrix (incident/escalate takes it from there)
--   3. diagnostics one archive of containers, logs, Redis, Qdrant and system state
--                  (incident/diagnostics)
--   4. fix         the guide's immediate fix for the type (services/incident): database_down
--                  restarts Qdrant; memory_exhausted restarts the cache and clears cache keys
--                  only; disk_full removes what is safe to remove. Other types (a partial outage,
--                  a security breach, ...) have no automatic fix in the guide: the step says so
--                  and leaves it to the operator (dr/lockdown for a breach).
--   5. verify      the health check again: resolved when nothing is P1 or P2 any more
--   6. record      the record in state_dir/incidents/ID.json (timeline, classification,
--                  diagnostics archive, verification); incident/review adds the lessons learned.
-- --type forces the incident type (the guide's script takes it as $1); --dry-run runs the
-- assessment and shows the rest as a plan.
local procedure = require "opsh.procedure"
local report = require "opsh.report"
local incidents = require "opsh.incidents"

local FIXABLE = { database_down = true, memory_exhausted = true, disk_full = true }

-- Runs a procedure into its own report; returns that report's checks and worst status.
local function sub(name, args, ctx, allow)
  local r = report.new(name, nil, args, { dry_run = ctx.dry_run })
  local ok, err = procedure.run(name, args, r, { allow_changes = allow })
  if not ok then r:unknown(name, tostring(err)) end
  return r, report.NAMES[r:exit_code()]
end

local function summary(r)
  local bad = {}
  for _, c in ipairs(r.checks) do
    if c.status ~= "ok" then bad[#bad + 1] = c.name .. ": " .. c.message end
  end
  return #bad == 0 and "all OK" or table.concat(bad, "; ")
end

return {
  description = "The guide's P1 incident response: assess, notify with an incident id, collect diagnostics, apply the matching fix, verify, record",
  categories = { "incident", "intrusive" },
  guide = {
    "incident-response-procedures.1", "incident-response-procedures.2",
    "incident-response-procedures.3", "incident-response-procedures.4",
    "incident-response-procedures.5", "maintenance-windows.5", "maintenance-windows.6",
    "maintenance-windows.7", "maintenance-windows.8",
  },
  notes = "Restarts containers and may clear cache keys or prune stopped containers and dangling images "
    .. "(services/incident, by the incident type); sends notifications; writes the incident record under "
    .. "state_dir/incidents and a diagnostics archive under state_dir/diagnostics. --dry-run assesses and plans only.",
  args = {
    { name = "type", choices = { "auto", "database_down", "memory_exhausted", "disk_full" }, default = "auto",
      help = "the incident (auto: from the assessment)" },
    { name = "description", help = "what is happening (default: the assessment's reason)" },
    { name = "notify", type = "boolean", default = true, help = "send the notification (--no-notify to skip)" },
    { name = "skip", type = "list", help = "health-check parts to leave out (as daily/check --skip)" },
  },
  run = function(args, ctx)
    -- 1. assess
    local assess = report.new("daily/check", nil, {}, { dry_run = ctx.dry_run })
    local aok, aerr = procedure.run("daily/check", { skip = args.skip }, assess)
    if not aok then return ctx:unknown("incident.assess", "the health check could not run: " .. tostring(aerr)) end
    local c = incidents.classify(assess.checks)
    local kind = args.type ~= "auto" and args.type or c.type
    local severity = c.severity or (args.type ~= "auto" and "P1") or nil
    if not severity then
      return ctx:ok("incident.assess", "no incident: every assessed check is OK; nothing done (pass --type to act anyway)")
    end
    local description = args.description or c.why or kind
    ctx[severity == "P3" and "warn" or "crit"](ctx, "incident.assess",
      string.format("%s %s (%s): %s", severity, incidents.SEVERITY_NAMES[severity], kind, description),
      { severity = tonumber(severity:sub(2)) })

    if ctx.dry_run then
      ctx:ok("incident.plan", "would open an incident record, notify (" .. severity .. "), collect diagnostics, "
        .. (FIXABLE[kind] and ("run services/incident --type " .. kind) or ("apply no automatic fix (" .. kind .. " has none)"))
        .. ", then re-check")
      return
    end

    local rec = incidents.open { severity = severity, type = kind, description = description }
    incidents.event(rec, "assess", severity, description)
    rec.classification = { severity = severity, type = kind, reasons = c.reasons, unassessed = c.unknown }

    -- 2. notify
    if args.notify then
      local n, status = sub("incident/notify", { severity = severity, description = description, id = rec.id }, ctx, true)
      incidents.event(rec, "notify", status, summary(n))
      if status == "ok" then
        rec.escalation.level, rec.escalation.last_notified = 1, rec.opened
        rec.escalation.notified[#rec.escalation.notified + 1] = { level = 1, at = rec.opened, reason = "first" }
      end
      ctx[status == "ok" and "ok" or "warn"](ctx, "incident.notify", rec.id .. ": " .. summary(n))
    else
      incidents.event(rec, "notify", "skipped", "--no-notify")
      ctx:ok("incident.notify", rec.id .. ": not notified (--no-notify)")
    end
    incidents.save(rec)

    -- 3. diagnostics
    local dg, dstatus = sub("incident/diagnostics", { incident = rec.id }, ctx)
    for _, chk in ipairs(dg.checks) do
      if chk.name == "diagnostics.archive" then rec.diagnostics = chk.message:match("^(.-): ") end
    end
    incidents.event(rec, "diagnostics", dstatus, rec.diagnostics or summary(dg))
    ctx[dstatus == "ok" and "ok" or "warn"](ctx, "incident.diagnostics", rec.diagnostics or summary(dg))
    incidents.save(rec)

    -- 4. fix
    if FIXABLE[kind] then
      local f, fstatus = sub("services/incident", { type = kind }, ctx, true)
      incidents.event(rec, "fix", fstatus, summary(f))
      for _, chk in ipairs(f.checks) do ctx.checks[#ctx.checks + 1] = chk end
    else
      incidents.event(rec, "fix", "manual", "the guide has no automatic fix for " .. kind)
      ctx:warn("incident.fix", "no automatic fix for " .. kind .. ": act by hand (see `opsh list incident`, dr/lockdown for a breach)")
    end
    incidents.save(rec)

    -- 5. verify
    local v = report.new("daily/check", nil, {}, {})
    procedure.run("daily/check", { skip = args.skip }, v)
    local after = incidents.classify(v.checks)
    local resolved = after.severity == nil or after.severity == "P3"
    rec.verification = { severity = after.severity, reasons = after.reasons }
    incidents.event(rec, "verify", resolved and "resolved" or (after.severity or "ok"),
      resolved and "no P1 or P2 finding left" or after.why)
    if resolved then
      rec.status, rec.resolved = "resolved", require("opsh.time").now()
      ctx:ok("incident.verify", rec.id .. " resolved: " .. (after.severity and ("only " .. after.severity .. " findings left") or "every check OK"))
    else
      ctx:crit("incident.verify", string.format("%s NOT resolved: still %s (%s): %s; escalation continues (incident/escalate)",
        rec.id, after.severity, after.type, after.why))
    end

    -- 6. record
    incidents.save(rec)
    ctx:ok("incident.record", rec.id .. " recorded in " .. incidents.dir() .. "/" .. rec.id .. ".json"
      .. " (add the lessons learned: opsh run incident/review --id " .. rec.id .. " --lesson ...)")
  end,
}
