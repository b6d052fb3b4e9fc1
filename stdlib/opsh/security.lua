--- opsh.security: what the security procedures share (security/tls, security/config-audit,
--- security/daily): list settings, a certificate judged against expiry limits, and audit findings
--- reported with their severity and fix. `local security = require "opsh.security"`.
local config = require "opsh.config"
local script = require "opsh.script"
local time = require "opsh.time"
local report = require "opsh.report"
local opsh = require "opsh"

local M = {}

--- A setting that holds a list: a table from config.lua, or a comma-separated string from the
--- environment or .env. {} when unset.
---@param key string
---@return string[]
function M.list_setting(key)
  local v = config.get(key)
  if v == nil then return {} end
  local out = {}
  for _, item in ipairs(script.coerce({ type = "list" }, v) or {}) do
    item = tostring(item):match("^%s*(.-)%s*$")
    if item ~= "" then out[#out + 1] = item end
  end
  return out
end

--- Judges a certificate report (opsh.tls's) and reports it as check `check`: CRITICAL when a
--- certificate of the chain has expired, is not yet valid, expires within crit_days, the chain does
--- not verify, or the leaf does not match the host name asked; WARNING within warn_days; else OK.
--- The chain's earliest expiry counts (an intermediate can expire before the leaf).
---@param ctx table the report context
---@param check string
---@param r table opsh.tls report
---@param limits {warn_days: number, crit_days: number}
---@return "ok"|"warn"|"crit" level
function M.certificate(ctx, check, r, limits)
  local soonest = r
  for _, c in ipairs(r.chain) do
    if c.days_left < soonest.days_left then soonest = c end
  end
  local who = soonest == r and "" or (" (chain: " .. soonest.subject .. ")")
  local expiry = string.format("expires %s, %.1f days left%s", time.iso(soonest.not_after):sub(1, 10), soonest.days_left, who)
  local problems = {}
  if soonest.expired then
    problems[#problems + 1] = string.format("EXPIRED on %s%s", time.iso(soonest.not_after):sub(1, 10), who)
  end
  for _, c in ipairs(r.chain) do
    if c.not_yet_valid then problems[#problems + 1] = "not valid before " .. time.iso(c.not_before) .. " (" .. c.subject .. ")" end
  end
  if not r.verified then
    problems[#problems + 1] = string.format("does not verify against %s: %s", r.trust_store, r.verify_error or "?")
  end
  if r.hostname_ok == false then
    problems[#problems + 1] = string.format("not valid for %s (names: %s)", r.hostname,
      table.concat(#r.dns_names + #r.ip_addresses > 0 and r.dns_names or { r.common_name or "none" }, ", "))
  end
  local level = "ok"
  if #problems > 0 or soonest.days_left <= limits.crit_days then level = "crit"
  elseif soonest.days_left <= limits.warn_days then level = "warn" end
  local text = (r.common_name or r.subject) .. ": "
  if #problems > 0 then
    text = text .. table.concat(problems, "; ") .. (soonest.expired and "" or ("; " .. expiry))
  else
    text = text .. expiry .. ", verified against " .. r.trust_store
  end
  ctx[level](ctx, check, text, {
    days_left = soonest.days_left, not_after = soonest.not_after, verified = r.verified,
    hostname_ok = r.hostname_ok, chain_length = #r.chain,
  })
  return level
end

M.SEVERITIES = { critical = "crit", high = "crit", medium = "warn", low = "warn" }

--- One audit finding: reported CRITICAL (severity critical or high) or WARNING (medium or low),
--- the message saying the severity, the problem and the fix.
---@param ctx table
---@param check string
---@param severity "critical"|"high"|"medium"|"low"
---@param problem string
---@param fix string
function M.finding(ctx, check, severity, problem, fix)
  local level = assert(M.SEVERITIES[severity], "unknown severity " .. tostring(severity))
  ctx[level](ctx, check, string.format("[%s] %s. Fix: %s", severity, problem, fix), { finding = true })
end

--- Runs parts concurrently, each reporting into a report of its own, then adds their checks to
--- ctx in the parts' order (so the report reads the same whatever finished first). A part that
--- raises reports UNKNOWN under its name; the others still run.
---@param ctx table
---@param parts {name: string, run: fun(sub: table)}[]
function M.concurrently(ctx, parts)
  local fns, subs = {}, {}
  for i, p in ipairs(parts) do
    subs[i] = report.new(ctx.name, nil, ctx.args, { dry_run = ctx.dry_run, verbose = ctx.verbose })
    fns[i] = function()
      local ok, err = pcall(p.run, subs[i])
      if not ok then subs[i]:unknown(p.name, p.name .. " failed: " .. tostring(err)) end
      return true
    end
  end
  if #fns > 0 then opsh.all(fns) end
  for _, sub in ipairs(subs) do
    for _, c in ipairs(sub.checks) do ctx.checks[#ctx.checks + 1] = c end
  end
end

--- A URL with its password replaced by ***, for messages.
---@param url string
---@return string
function M.redact_url(url)
  return (tostring(url):gsub("^(%a[%w+.-]*://[^:/@]*):[^@/]*@", "%1:***@"))
end

return M
