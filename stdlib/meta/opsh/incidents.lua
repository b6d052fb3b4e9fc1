---@meta
--- Incidents: `local incidents = require "opsh.incidents"`. The guide's severities (P1-P4)
--- read from health-check results, incident records kept as JSON under state_dir/incidents
--- (one file per incident, 0600, written atomically), and the escalation matrix with its timers.
--- The incident/ procedures are built on it.
local incidents = {}

--- "P1" = "CRITICAL", "P2" = "HIGH", "P3" = "MEDIUM", "P4" = "LOW".
incidents.SEVERITY_NAMES = {}

--- The classification rules, in order: {pattern (Lua pattern on the check name), status
--- ("critical" or "warning"), severity, type, why}. The first rule matching a check applies.
incidents.RULES = {}

--- The guide's escalation levels: On-call Operator 15 min, Senior Operator 30, System Architect 60.
incidents.DEFAULT_LEVELS = {}

--- Classifies checks ({name, status, message}, as a report's ctx.checks) by RULES: every
--- service down is "system_down" (P1). severity is nil when nothing is wrong (P4, cosmetic
--- issues, is not something a check can see); unknown lists the checks not assessed.
---@param checks {name: string, status: string, message?: string}[]
---@return {severity: "P1"|"P2"|"P3"|nil, type: string?, why: string?, reasons: {check: string, severity: string, type: string, why: string, message: string}[], unknown: string[]}
function incidents.classify(checks) end

--- The records' directory (state_dir/incidents), created when `create`.
---@param create? boolean
---@return string
function incidents.dir(create) end

--- A new id: INC-YYYYMMDD-HHMMSS-xxxx (the guide's, plus four hex digits).
---@param now? number unix seconds
---@return string
function incidents.new_id(now) end

--- Opens and saves a record {id, severity, type, description, opened, opened_iso,
--- status = "open", timeline, escalation = {level, notified, last_notified}, lessons};
--- raises if the id exists or the record cannot be written.
---@param fields {id?: string, severity: string, type?: string, description?: string}
---@return table record
function incidents.open(fields) end

--- A record by id, or nil, err (no such incident, not an id, not valid JSON).
---@param id string
---@return table|nil record, string? err
function incidents.load(id) end

--- Saves a record atomically; raises if it cannot.
---@param record table
function incidents.save(record) end

--- Appends {t, at, step, status, message} to the record's timeline (call save after).
---@param record table
---@param step string
---@param status string
---@param message? string
function incidents.event(record, step, status, message) end

--- Every record newest first (open_only: not resolved), and the unreadable ones {id, error}.
---@param open_only? boolean
---@return table[] records, {id: string, error: string}[] unreadable
function incidents.list(open_only) end

--- The escalation levels in force: config `escalation` (a list of {role, response_minutes,
--- webhook?, contact?}), else DEFAULT_LEVELS; raises naming the malformed level.
---@return table[]
function incidents.levels() end

--- What the timers say is due for a record at `now`: nil, or {level, reason = "first" |
--- "escalate" | "renotify"}. Nothing for an acknowledged or resolved incident.
---@param record table
---@param levels table[]
---@param now number
---@return {level: integer, reason: string}|nil
function incidents.due(record, levels, now) end

return incidents
