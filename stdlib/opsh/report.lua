--- opsh.report: what a procedure reports (ctx:ok/warn/crit/unknown) and how
--- the engine prints it: a readable report, JSON (schema opsh.report/v1, see
--- docs/report-schema.md) or Prometheus text for node_exporter's textfile collector.
local M = {}

M.SCHEMA = "opsh.report/v1"
M.STATUS = { ok = 0, warning = 1, critical = 2, unknown = 3 }
M.NAMES = { [0] = "ok", "warning", "critical", "unknown" }

local Ctx = {}
Ctx.__index = Ctx

--- A new report context for script `name`.
function M.new(name, meta, args, opts)
  opts = opts or {}
  return setmetatable({
    name = name, description = meta and meta.description, args = args or {},
    dry_run = opts.dry_run or false, verbose = opts.verbose or false,
    checks = {}, started_at = opts.started_at, started_clock = opts.started_clock,
  }, Ctx)
end

local THIS_FILE = debug.getinfo(1, "S").source

-- The error level, for a function of this file calling error(), of the first Lua function
-- outside this file: the script's line that called ctx (ctx:threshold calls ctx:crit, and
-- tail calls leave no frame, so a fixed level would point elsewhere).
local function caller_level()
  local level = 3
  while true do
    local info = debug.getinfo(level, "S")
    if not info then return 1 end
    if info.source ~= THIS_FILE and info.what ~= "C" then return level - 1 end
    level = level + 1
  end
end

local function check_metrics(metrics, arg)
  if metrics == nil then return {} end
  if type(metrics) ~= "table" then
    error(string.format("bad argument #%d (metrics must be a table of name = number, got %s)", arg, type(metrics)), caller_level())
  end
  for k, v in pairs(metrics) do
    if type(k) ~= "string" or (type(v) ~= "number" and type(v) ~= "boolean") then
      error(string.format("bad argument #%d (metrics must be a table of name = number; %s is a %s)", arg,
        type(k) == "string" and ("'" .. k .. "'") or tostring(k), type(v)), caller_level())
    end
  end
  return metrics
end

local function add(self, status, check, message, metrics)
  if type(check) ~= "string" or check == "" then
    error("bad argument #1 (check name expected)", caller_level())
  end
  if message ~= nil and type(message) ~= "string" then message = tostring(message) end
  local r = { name = check, status = status, message = message or "", metrics = check_metrics(metrics, 3) }
  self.checks[#self.checks + 1] = r
  return r
end

--- Reports a passing check.
function Ctx:ok(check, message, metrics) return add(self, "ok", check, message, metrics) end
--- Reports a check in WARNING state.
function Ctx:warn(check, message, metrics) return add(self, "warning", check, message, metrics) end
--- Reports a check in CRITICAL state.
function Ctx:crit(check, message, metrics) return add(self, "critical", check, message, metrics) end
--- Reports a check whose state could not be determined.
function Ctx:unknown(check, message, metrics) return add(self, "unknown", check, message, metrics) end
--- Compares a value with warn/crit thresholds (higher is worse) and reports it.
function Ctx:threshold(check, value, warn, crit, message, metrics)
  metrics = check_metrics(metrics, 6)
  metrics[check:match("[^.]+$")] = value
  if crit and value >= crit then return self:crit(check, message, metrics) end
  if warn and value >= warn then return self:warn(check, message, metrics) end
  return self:ok(check, message, metrics)
end

--- The worst status reported so far (0..3).
function Ctx:exit_code()
  local worst = 0
  for _, c in ipairs(self.checks) do
    local s = M.STATUS[c.status]
    if s > worst then worst = s end
  end
  return worst
end

-- ---------------------------------------------------------------- rendering

local COLORS = { ok = "\27[32m", warning = "\27[33m", critical = "\27[31m", unknown = "\27[35m" }
local LABEL = { ok = "OK", warning = "WARN", critical = "CRIT", unknown = "UNKNOWN" }

local function fmt_metric(v)
  if math.type(v) == "float" then return string.format("%.6g", v) end
  return tostring(v)
end

-- Text from the outside world (a URL from the environment, a server's reply) never reaches the
-- terminal raw: a control byte is shown as \xNN; a newline goes on as an indented line.
local function printable(s)
  return (tostring(s):gsub("%c", function(c)
    if c == "\n" then return "\n    " end
    if c == "\t" then return c end
    return string.format("\\x%02x", c:byte())
  end))
end

--- The report as text for a person.
function M.text(report, color)
  local out = {}
  local function paint(status, s) return color and (COLORS[status] .. s .. "\27[0m") or s end
  out[#out + 1] = string.format("%s%s", printable(report.script), report.dry_run and " (dry run)" or "")
  for _, c in ipairs(report.checks) do
    local metrics = {}
    local keys = {}
    for k in pairs(c.metrics) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do metrics[#metrics + 1] = printable(k) .. "=" .. fmt_metric(c.metrics[k]) end
    out[#out + 1] = string.format("  %-16s %s%s%s", paint(c.status, "[" .. LABEL[c.status] .. "]"), printable(c.name),
      c.message ~= "" and (": " .. printable(c.message)) or "",
      #metrics > 0 and ("  (" .. table.concat(metrics, " ") .. ")") or "")
  end
  for _, w in ipairs(report.would or {}) do out[#out + 1] = "  would: " .. w end
  if #report.checks == 0 and not report.error then out[#out + 1] = "  (no checks reported)" end
  if report.error then out[#out + 1] = "  error: " .. printable(report.error.message) end
  out[#out + 1] = string.format("%s in %.1f ms", paint(report.status, string.upper(report.status)), report.duration_ms)
  return table.concat(out, "\n") .. "\n"
end

--- The report as the table its JSON encodes (schema opsh.report/v1).
function M.json_table(report)
  local json = require "opsh.json"
  local checks = json.array {}
  for i, c in ipairs(report.checks) do
    local metrics = json.object {}
    for k, v in pairs(c.metrics) do metrics[k] = v end
    checks[i] = { name = c.name, status = c.status, message = c.message, metrics = metrics }
  end
  local args = json.object {}
  local redact = require("opsh.log").redact
  for k, v in pairs(report.args or {}) do
    if M.secret(k) then
      v = "***"
    elseif type(v) == "string" then
      v = redact(v)                                      -- URL passwords too
    elseif type(v) == "table" then
      local copy = json.array {}
      for i, item in ipairs(v) do copy[i] = type(item) == "string" and redact(item) or item end
      v = copy
    end
    args[k] = v
  end
  return {
    schema = M.SCHEMA,
    script = report.script,
    description = report.description or json.null,
    status = report.status,
    exit_code = report.exit_code,
    started_at = report.started_at,
    duration_ms = report.duration_ms,
    dry_run = report.dry_run,
    args = args,
    checks = checks,
    would = json.array(report.would or {}),
    error = report.error and { message = report.error.message, traceback = report.error.traceback or json.null } or json.null,
  }
end

--- The report as JSON (schema opsh.report/v1).
function M.json(report)
  return require("opsh.json").encode(M.json_table(report), { pretty = true, sort_keys = true }) .. "\n"
end

local function prom_label(s)
  return (tostring(s):gsub("[\\\n\"]", { ["\\"] = "\\\\", ["\n"] = "\\n", ['"'] = '\\"' }))
end

local function prom_name(s)
  local n = tostring(s):gsub("[^%w_]", "_")
  if n:match("^%d") then n = "_" .. n end
  return n
end

--- The report as Prometheus text exposition (for node_exporter's textfile collector).
function M.prom(report)
  local out = {}
  local s = prom_label(report.script)
  out[#out + 1] = "# HELP opsh_check_status Check status: 0 ok, 1 warning, 2 critical, 3 unknown."
  out[#out + 1] = "# TYPE opsh_check_status gauge"
  for _, c in ipairs(report.checks) do
    out[#out + 1] = string.format('opsh_check_status{script="%s",check="%s"} %d', s, prom_label(c.name), M.STATUS[c.status])
  end
  out[#out + 1] = "# HELP opsh_check_metric A value a check reported."
  out[#out + 1] = "# TYPE opsh_check_metric gauge"
  for _, c in ipairs(report.checks) do
    local keys = {}
    for k in pairs(c.metrics) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = c.metrics[k]
      if type(v) == "boolean" then v = v and 1 or 0 end
      out[#out + 1] = string.format('opsh_check_metric{script="%s",check="%s",metric="%s"} %s', s,
        prom_label(c.name), prom_label(prom_name(k)), fmt_metric(v))
    end
  end
  local would = report.would or {}
  out[#out + 1] = "# HELP opsh_script_would_actions What the script would have changed under --dry-run (listed below)."
  out[#out + 1] = "# TYPE opsh_script_would_actions gauge"
  out[#out + 1] = string.format('opsh_script_would_actions{script="%s"} %d', s, #would)
  for _, w in ipairs(would) do out[#out + 1] = "# would: " .. tostring(w):gsub("[\r\n]", " ") end
  out[#out + 1] = "# HELP opsh_script_exit_code The script's exit code (monitoring-plugins convention)."
  out[#out + 1] = "# TYPE opsh_script_exit_code gauge"
  out[#out + 1] = string.format('opsh_script_exit_code{script="%s"} %d', s, report.exit_code)
  out[#out + 1] = "# HELP opsh_script_duration_seconds How long the script ran."
  out[#out + 1] = "# TYPE opsh_script_duration_seconds gauge"
  out[#out + 1] = string.format('opsh_script_duration_seconds{script="%s"} %.6f', s, report.duration_ms / 1000)
  out[#out + 1] = "# HELP opsh_script_last_run_timestamp_seconds When the script finished (Unix time)."
  out[#out + 1] = "# TYPE opsh_script_last_run_timestamp_seconds gauge"
  out[#out + 1] = string.format('opsh_script_last_run_timestamp_seconds{script="%s"} %.3f', s, report.finished_unix or 0)
  return table.concat(out, "\n") .. "\n"
end

--- Whether a name looks like it holds a secret (password, token, key, ...).
function M.secret(name)
  local n = tostring(name):lower()
  return n:find("password", 1, true) or n:find("secret", 1, true) or n:find("token", 1, true)
    or n:find("api_key", 1, true) or n:find("apikey", 1, true) or n:match("key$") ~= nil
    or n:find("webhook", 1, true) ~= nil
end

return M
