--- opsh.incidents: the guide's incident severities (P1-P4) read from health-check results,
--- incident records (timeline, escalation, lessons learned) kept under the state directory,
--- and the escalation matrix. Used by the incident/ procedures; scripts may use it too.
local json = require "opsh.json"
local fs = require "opsh.fs"
local time = require "opsh.time"
local config = require "opsh.config"
local crypto = require "opsh.crypto"
local state = require "opsh.state"

local M = {}

M.SEVERITY_NAMES = { P1 = "CRITICAL", P2 = "HIGH", P3 = "MEDIUM", P4 = "LOW" }

-- The guide's definitions (Incident Response / Incident Classification), as rules over the
-- checks of the daily health check and the security check. First match per check wins;
-- the incident's severity is the most severe rule matched, its type the first type found at
-- that severity (the guide's immediate fixes are keyed by type).
--   P1 Critical: system down, data loss, security breach
--   P2 High:     significant performance degradation, partial outage
--   P3 Medium:   minor performance issues, non-critical features affected
--   P4 Low:      cosmetic issues, enhancement requests (nothing a check can see: no incident)
M.RULES = {
  { pattern = "^qdrant%.", status = "critical", severity = "P1", type = "database_down",
    why = "the vector database does not answer (system down)" },
  { pattern = "^system%.disk%.", status = "critical", severity = "P1", type = "disk_full",
    why = "a disk is nearly full (writes will fail: data loss)" },
  { pattern = "^system%.memory", status = "critical", severity = "P1", type = "memory_exhausted",
    why = "the host's memory is nearly exhausted" },
  { pattern = "^redis%.memory$", status = "critical", severity = "P1", type = "memory_exhausted",
    why = "the cache is at its memory limit" },
  { pattern = "^security%.", status = "critical", severity = "P1", type = "security_breach",
    why = "a security check is critical" },
  { pattern = "^backup%.", status = "critical", severity = "P1", type = "data_loss",
    why = "a backup check is critical (the last good copy is at risk)" },
  { pattern = "^redis%.ping$", status = "critical", severity = "P2", type = "cache_down",
    why = "the cache does not answer (partial outage: search still works, slower)" },
  { pattern = "^service%.", status = "critical", severity = "P2", type = "partial_outage",
    why = "a service is not running (partial outage)" },
  { pattern = "^queue%.", status = "critical", severity = "P2", type = "queue_down",
    why = "the task queue is not working (background work stops)" },
  { pattern = "^system%.", status = "critical", severity = "P2", type = "performance",
    why = "the host is overloaded (significant performance degradation)" },
  { pattern = "^search%.", status = "critical", severity = "P2", type = "performance",
    why = "search latency or errors above their critical threshold" },
  { pattern = "", status = "critical", severity = "P2", type = "degraded",
    why = "a critical check failed" },
  { pattern = "", status = "warning", severity = "P3", type = "minor",
    why = "a check is in warning (minor issue)" },
}

local RANK = { P1 = 1, P2 = 2, P3 = 3, P4 = 4 }

--- Classifies a list of checks ({name, status, message}) by the rules above.
--- Returns {severity = "P1".."P3" or nil when nothing is wrong, type, why, reasons = {{check,
--- severity, why, message}}, unknown = {check names not assessed}}. Every service down with
--- the database down too is the guide's "system down".
function M.classify(checks)
  local reasons, unknown = {}, {}
  local services, services_down = 0, 0
  for _, c in ipairs(checks) do
    if c.name:match("^service%.") then
      services = services + 1
      if c.status == "critical" then services_down = services_down + 1 end
    end
    if c.status == "unknown" then
      unknown[#unknown + 1] = c.name
    else
      for _, r in ipairs(M.RULES) do
        if c.status == r.status and c.name:match(r.pattern) then
          reasons[#reasons + 1] = { check = c.name, severity = r.severity, type = r.type, why = r.why, message = c.message }
          break
        end
      end
    end
  end
  if services > 0 and services_down == services then
    table.insert(reasons, 1, { check = "service.*", severity = "P1", type = "system_down",
      why = "no service of the stack is running (system down)", message = services_down .. " of " .. services .. " services down" })
  end
  local best
  for _, r in ipairs(reasons) do
    if not best or RANK[r.severity] < RANK[best.severity] then best = r end
  end
  table.sort(reasons, function(a, b)
    if RANK[a.severity] ~= RANK[b.severity] then return RANK[a.severity] < RANK[b.severity] end
    return a.check < b.check
  end)
  return { severity = best and best.severity, type = best and best.type, why = best and best.why,
    reasons = reasons, unknown = unknown }
end

-- ------------------------------------------------------------------ records

--- The directory of incident records (state_dir/incidents).
function M.dir(create) return state.dir("incidents", create) end

--- A new incident id: the guide's INC-YYYYMMDD-HHMMSS, plus four hex digits so that two
--- incidents raised in the same second differ.
function M.new_id(now)
  return "INC-" .. os.date("!%Y%m%d-%H%M%S", math.floor(now or time.now())) .. "-" .. crypto.random_hex(2)
end

local function path_of(id)
  if type(id) ~= "string" or not id:match("^INC%-%d%d%d%d%d%d%d%d%-%d%d%d%d%d%d%-?%x*$") then
    error("not an incident id: " .. tostring(id) .. " (INC-YYYYMMDD-HHMMSS-xxxx)", 0)
  end
  return M.dir() .. "/" .. id .. ".json"
end

--- Creates and saves a record {id, severity, type, description, opened, status = "open",
--- timeline = {}, escalation = {level = 0, notified = {}}, lessons = {}}.
function M.open(fields)
  local now = time.now()
  local rec = {
    id = fields.id or M.new_id(now), severity = fields.severity, type = fields.type,
    description = fields.description or "", opened = now, opened_iso = time.iso(now), status = "open",
    timeline = json.array {}, escalation = { level = 0, notified = json.array {} }, lessons = json.array {},
  }
  M.dir(true)
  if fs.exists(path_of(rec.id)) then error("incident " .. rec.id .. " already exists", 0) end
  M.save(rec)
  return rec
end

--- The record of incident `id`, or nil, err.
function M.load(id)
  local ok, p = pcall(path_of, id)
  if not ok then return nil, p end
  local text = fs.read(p)
  if not text then return nil, "no incident " .. id .. " in " .. M.dir() end
  local dok, rec = pcall(json.decode, text)
  if not dok or type(rec) ~= "table" then return nil, "incident record " .. p .. " is not valid JSON" end
  -- lists stay lists when written back, even while empty
  rec.timeline, rec.lessons = json.array(rec.timeline or {}), json.array(rec.lessons or {})
  rec.escalation = rec.escalation or { level = 0 }
  rec.escalation.notified = json.array(rec.escalation.notified or {})
  return rec
end

--- Saves a record atomically (0600: descriptions may name hosts and people).
function M.save(rec)
  local ok, err = fs.write_atomic(path_of(rec.id), json.encode(rec, { pretty = true }), { mode = tonumber("600", 8) })
  if not ok then error("cannot save incident " .. rec.id .. ": " .. tostring(err), 0) end
end

--- Appends {t, step, status, message} to a record's timeline (not saved).
function M.event(rec, step, status, message)
  local now = time.now()
  rec.timeline[#rec.timeline + 1] = { t = now, at = time.iso(now), step = step, status = status, message = message }
end

--- Every record, newest first; `open_only` leaves out resolved ones. Unreadable files are
--- returned in the second list with the reason, never skipped silently.
function M.list(open_only)
  local out, bad = {}, {}
  for _, e in ipairs(fs.list(M.dir()) or {}) do
    local name = type(e) == "table" and e.name or e
    local id = name:match("^(INC%-.+)%.json$")
    if id then
      local rec, err = M.load(id)
      if rec then
        if not open_only or rec.status ~= "resolved" then out[#out + 1] = rec end
      else
        bad[#bad + 1] = { id = id, error = err }
      end
    end
  end
  table.sort(out, function(a, b) return a.opened > b.opened end)
  return out, bad
end

-- ------------------------------------------------------------------ escalation

-- The guide's escalation matrix (Incident Response / Escalation Procedures). A configured
-- `escalation = { {role=, response_minutes=, webhook=, contact=}, ... }` replaces it; a level
-- without a webhook is notified through slack_webhook_url.
M.DEFAULT_LEVELS = {
  { role = "On-call Operator", response_minutes = 15,
    responsibilities = { "Initial assessment", "Basic troubleshooting", "Status updates" } },
  { role = "Senior Operator", response_minutes = 30,
    responsibilities = { "Advanced troubleshooting", "Configuration changes", "Vendor coordination" } },
  { role = "System Architect", response_minutes = 60,
    responsibilities = { "Architectural decisions", "Emergency changes", "Post-incident review" } },
}

--- The escalation levels in force; raises with the offending entry when the configuration's are malformed.
function M.levels()
  local levels = config.get("escalation")
  if levels == nil then return M.DEFAULT_LEVELS end
  if type(levels) ~= "table" or #levels == 0 then
    error("escalation must be a list of levels {role=, response_minutes=, webhook=}", 0)
  end
  for i, l in ipairs(levels) do
    if type(l) ~= "table" or type(l.role) ~= "string" or type(l.response_minutes) ~= "number" or l.response_minutes <= 0 then
      error(string.format("escalation level %d needs role (text) and response_minutes (> 0)", i), 0)
    end
  end
  return levels
end

--- What the escalation timers say is due for an open, unacknowledged record at `now`:
--- nil (nothing), or {level = n, reason = "first" | "escalate" | "renotify"}.
--- A level is notified when the incident opens; when its response time passes without an
--- acknowledgement, the next level is; past the last level, the last is re-notified every
--- response time of its own.
function M.due(rec, levels, now)
  if rec.status ~= "open" or rec.acknowledged then return nil end
  local esc = rec.escalation
  if esc.level == 0 then return { level = 1, reason = "first" } end
  local current = levels[esc.level] or levels[#levels]
  if now - (esc.last_notified or rec.opened) < current.response_minutes * 60 then return nil end
  if esc.level < #levels then return { level = esc.level + 1, reason = "escalate" } end
  return { level = #levels, reason = "renotify" }
end

return M
