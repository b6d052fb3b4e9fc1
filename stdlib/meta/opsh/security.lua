---@meta
--- What the security procedures share (security/tls, security/config-audit, security/daily):
--- `local security = require "opsh.security"`.
local security = {}

--- A setting that holds a list: a table from config.lua, or a comma-separated string from the
--- environment or .env (TLS_FILES=a.crt,b.crt). {} when unset.
---@param key string
---@return string[]
function security.list_setting(key) end

--- Reports an opsh.tls report as check `check`: CRITICAL when a certificate of the chain has
--- expired or is not yet valid, the earliest expiry is within crit_days, the chain does not
--- verify, or the leaf does not match the host name; WARNING within warn_days; else OK.
--- Metrics: days_left, not_after, verified, hostname_ok, chain_length.
---@param ctx table
---@param check string
---@param report tls.report
---@param limits {warn_days: number, crit_days: number}
---@return "ok"|"warn"|"crit"
function security.certificate(ctx, check, report, limits) end

--- An audit finding: CRITICAL for severity critical or high, WARNING for medium or low; the
--- message reads "[severity] problem. Fix: fix" (metric finding = true).
---@param ctx table
---@param check string
---@param severity "critical"|"high"|"medium"|"low"
---@param problem string
---@param fix string
function security.finding(ctx, check, severity, problem, fix) end

--- Runs parts concurrently, each into a report of its own, then adds their checks to ctx in the
--- parts' order; a part that raises reports UNKNOWN under its name.
---@param ctx table
---@param parts {name: string, run: fun(sub: table)}[]
function security.concurrently(ctx, parts) end

--- A URL with its password replaced by ***.
---@param url string
---@return string
function security.redact_url(url) end

return security
