---@meta
--- What a procedure reports: the `ctx` passed to run(args, ctx), and the report formats.
--- See docs/report-schema.md for the JSON schema (opsh.report/v1).
local report = {}

---@class opsh.ctx
---@field name string the procedure's name
---@field args table the typed arguments
---@field dry_run boolean whether --dry-run is in force
---@field verbose boolean whether --verbose is in force
local ctx = {}

--- Reports a passing check with an optional message and metrics {name = number}.
---@param check string e.g. "redis.ping"
---@param message? string
---@param metrics? table<string, number|boolean>
function ctx:ok(check, message, metrics) end

--- Reports a check in WARNING state (exit code at least 1).
---@param check string
---@param message? string
---@param metrics? table<string, number|boolean>
function ctx:warn(check, message, metrics) end

--- Reports a check in CRITICAL state (exit code at least 2).
---@param check string
---@param message? string
---@param metrics? table<string, number|boolean>
function ctx:crit(check, message, metrics) end

--- Reports a check whose state could not be determined (exit code 3).
---@param check string
---@param message? string
---@param metrics? table<string, number|boolean>
function ctx:unknown(check, message, metrics) end

--- Reports value against thresholds (higher is worse): crit if >= crit, warn if >= warn, else ok.
---@param check string
---@param value number
---@param warn? number
---@param crit? number
---@param message? string
---@param metrics? table<string, number|boolean>
function ctx:threshold(check, value, warn, crit, message, metrics) end

--- The worst status reported so far: 0 ok, 1 warning, 2 critical, 3 unknown.
---@return integer
function ctx:exit_code() end

--- A new context (for tests and custom tools).
---@return opsh.ctx
function report.new(name, meta, args, opts) end

--- The report as text, JSON (opsh.report/v1) or Prometheus exposition text.
---@return string
function report.text(rep, color) end
---@return string
function report.json(rep) end
---@return string
function report.prom(rep) end

return report
