-- The guide's escalation matrix (Incident Response / Escalation Procedures) with its timers.
-- Levels come from the configuration (`escalation = { {role=, response_minutes=, webhook=},
-- ... }` in config.lua), else the guide's: On-call Operator 15 minutes, Senior Operator 30,
-- System Architect 1 hour. For every open incident that nobody has acknowledged:
--   - a level not yet notified is notified (incident/respond notifies level 1 itself);
--   - when a level's response time passes without an acknowledgement, the next level is
--     notified; past the last level, the last is re-notified every response time of its own.
-- Run it every minute (from the agent or cron); each run sends only what the timers say is
-- due, so running it more often never notifies twice.
--   --ack ID --by NAME     acknowledges: the timers stop for that incident
--   --resolve ID           closes it (the timers stop; incident/review records the lessons)
local notify = require "opsh.notify"
local config = require "opsh.config"
local time = require "opsh.time"
local incidents = require "opsh.incidents"

local function send(level, rec, reason)
  local url = level.webhook or config.get("slack_webhook_url")
  if not url then return nil, "no webhook for " .. level.role .. " (set its webhook, or slack_webhook_url)" end
  local text = string.format("%s %s - %s (%s)\n*Incident ID:* %s\n*Severity:* %s\n*Description:* %s\n*Opened:* %s\n*Escalation:* %s, response expected within %d minutes%s",
    reason == "renotify" and "REMINDER" or "ESCALATION", level.role, incidents.SEVERITY_NAMES[rec.severity] or rec.severity,
    rec.type or "?", rec.id, rec.severity, rec.description, rec.opened_iso, level.role, level.response_minutes,
    level.contact and ("\n*Contact:* " .. level.contact) or "")
  return notify.webhook(url, { text = text })
end

return {
  description = "Escalation matrix with acknowledgement and re-notification timers for open incidents; --ack and --resolve",
  categories = { "incident", "notify", "intrusive" },
  guide = { "escalation-procedures.1", "maintenance-windows.6" },
  notes = "Sends notifications as the timers say; updates the incident records in state_dir/incidents "
    .. "(escalation level, acknowledgement, resolution). Nothing is sent or written under --dry-run.",
  args = {
    { name = "ack", help = "acknowledge this incident id (with --by)" },
    { name = "by", help = "who acknowledges (recorded)" },
    { name = "resolve", help = "close this incident id" },
  },
  run = function(args, ctx)
    local levels = incidents.levels()
    local now = time.now()
    if args.ack or args.resolve then
      local id = args.ack or args.resolve
      local rec, err = incidents.load(id)
      if not rec then return ctx:crit("incident.escalate", tostring(err)) end
      if args.ack then
        if not args.by then return ctx:unknown("incident.ack", "--ack needs --by NAME (who takes it)") end
        if ctx.dry_run then return ctx:ok("incident.ack", "would acknowledge " .. id .. " for " .. args.by) end
        rec.acknowledged = { by = args.by, at = now, at_iso = time.iso(now) }
        incidents.event(rec, "acknowledged", "ok", "by " .. args.by)
        incidents.save(rec)
        return ctx:ok("incident.ack", string.format("%s acknowledged by %s after %s; escalation stopped", id, args.by,
          time.format_duration(now - rec.opened)))
      end
      if ctx.dry_run then return ctx:ok("incident.resolve", "would resolve " .. id) end
      rec.status, rec.resolved = "resolved", now
      incidents.event(rec, "resolved", "ok", "closed by incident/escalate --resolve")
      incidents.save(rec)
      return ctx:ok("incident.resolve", id .. " resolved after " .. time.format_duration(now - rec.opened))
    end

    local open, bad = incidents.list(true)
    for _, b in ipairs(bad) do ctx:warn("incident." .. b.id, "unreadable record: " .. b.error) end
    local sent, waiting = 0, 0
    for _, rec in ipairs(open) do
      local due = incidents.due(rec, levels, now)
      if not due then
        if not rec.acknowledged then waiting = waiting + 1 end
        local l = levels[rec.escalation.level]
        ctx:ok("incident." .. rec.id, rec.acknowledged and ("acknowledged by " .. rec.acknowledged.by)
          or string.format("waiting for %s (%s of %d minutes)", l and l.role or "?",
            time.format_duration(now - (rec.escalation.last_notified or rec.opened)), l and l.response_minutes or 0))
      else
        local level = levels[due.level]
        if ctx.dry_run then
          ctx:ok("incident." .. rec.id, "would notify " .. level.role .. " (" .. due.reason .. ")")
        else
          local r, err = send(level, rec, due.reason)
          if r then
            rec.escalation.level, rec.escalation.last_notified = due.level, now
            rec.escalation.notified[#rec.escalation.notified + 1] = { level = due.level, at = now, reason = due.reason }
            incidents.event(rec, "escalate", due.reason, "notified " .. level.role)
            incidents.save(rec)
            sent = sent + 1
            ctx:warn("incident." .. rec.id, string.format("%s: notified %s (level %d, %s); unacknowledged for %s",
              rec.severity, level.role, due.level, due.reason, time.format_duration(now - rec.opened)))
          else
            ctx:crit("incident." .. rec.id, "could not notify " .. level.role .. ": " .. tostring(err))
          end
        end
      end
    end
    ctx:ok("incident.escalation", string.format("%d open incident(s), %d notification(s) sent, %d waiting", #open, sent, waiting),
      { open = #open, sent = sent, waiting = waiting })
  end,
}
