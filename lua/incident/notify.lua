-- The guide's incident notification: an incident id, then a Slack message with the id,
-- severity, description and time (the guide's blocks), with retries and a clear error.
--
-- The guide's id is INC-YYYYMMDD-HHMMSS, which two incidents raised in the same second would
-- share; opsh appends four random hex digits (INC-20250609-142501-3fa2). The id is in the
-- report (and in --json) so a calling script can quote it in follow-ups.
local notify = require "opsh.notify"
local config = require "opsh.config"
local crypto = require "opsh.crypto"
local time = require "opsh.time"

local SEVERITIES = { P1 = "CRITICAL", P2 = "HIGH", P3 = "MEDIUM", P4 = "LOW",
  CRITICAL = "CRITICAL", HIGH = "HIGH", MEDIUM = "MEDIUM", LOW = "LOW" }

return {
  description = "Sends the guide's incident notification (generated incident id, severity, description, time) to a Slack-compatible webhook",
  categories = { "incident", "notify", "intrusive" },
  guide = { "incident-response-procedures.2", "communication-templates.1" },
  args = {
    { name = "severity", required = true, help = "P1..P4 or CRITICAL, HIGH, MEDIUM, LOW" },
    { name = "description", required = true, help = "what is happening" },
    { name = "webhook", help = "incoming-webhook URL (default: the configured slack_webhook_url / SLACK_WEBHOOK_URL)" },
    { name = "id", help = "use this incident id instead of generating one" },
  },
  run = function(args, ctx)
    local severity = SEVERITIES[args.severity:upper()]
    if not severity then return ctx:unknown("incident.notify", "unknown severity " .. args.severity .. " (P1..P4, CRITICAL, HIGH, MEDIUM, LOW)") end
    local url = args.webhook or config.get("slack_webhook_url")
    if not url then return ctx:unknown("incident.notify", "no webhook: set slack_webhook_url (SLACK_WEBHOOK_URL) or pass --webhook") end
    local now = time.now()
    local id = args.id or ("INC-" .. os.date("!%Y%m%d-%H%M%S", math.floor(now)) .. "-" .. crypto.random_hex(2))
    local payload = {
      text = ":rotating_light: INCIDENT ALERT - " .. severity,
      blocks = { {
        type = "section",
        text = { type = "mrkdwn", text = string.format("*Incident ID:* %s\n*Severity:* %s\n*Description:* %s\n*Time:* %s",
          id, severity, args.description, time.iso(now)) },
      } },
    }
    local r, err = notify.webhook(url, payload)
    if not r then return ctx:crit("incident.notify", id .. ": " .. tostring(err), { delivered = 0 }) end
    if r.dry_run then return ctx:ok("incident.notify", "would send " .. id .. " (" .. severity .. ")", { delivered = 0 }) end
    ctx:ok("incident.notify", string.format("%s (%s) delivered after %d attempt%s", id, severity, r.attempts,
      r.attempts == 1 and "" or "s"), { delivered = 1, attempts = r.attempts })
  end,
}
