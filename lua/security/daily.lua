-- The guide's daily security check as one report: 1. failed authentication (auth.log, or the
-- systemd journal where there is none, as on Debian 12: opsh.logs reads either), 2. unusual API
-- access (the api_access:* counters, redis/api-access, and the access log, security/access-log),
-- 3. certificates expiring within 30 days (security/tls), 4. the security-configuration audit
-- (security/config-audit), 5. security updates (apt list --upgradable, security suites). The
-- parts run concurrently and report in the guide's order; a part that cannot run reports
-- UNKNOWN and the others still run. Changes nothing.
local procedure = require "opsh.procedure"
local security = require "opsh.security"
local thresholds = require "opsh.thresholds"
local sys = require "opsh.sys"
local fs = require "opsh.fs"
local time = require "opsh.time"

-- what the guide greps for, and what sshd, PAM and su write when a login fails
local AUTH_FAILED = { words = { "authentication failed", "authentication failure", "Failed password", "Invalid user",
  "Failed publickey" } }

local function quote(samples, n)
  local out = {}
  for i = math.max(1, #samples - n + 1), #samples do out[#out + 1] = samples[i].text end
  return table.concat(out, " | ")
end

local function failed_auth(ctx, args)
  local ok, logs = pcall(require, "opsh.logs")
  if not ok then return ctx:unknown("security.auth", "opsh.logs is not available in this build: " .. tostring(logs):match("^[^\n]*")) end
  local since = time.since(args.since)
  local warn = thresholds.get(args, "security", "auth_warn", 10)
  local crit = thresholds.get(args, "security", "auth_crit", 100)
  local count, samples, source
  if not args.journal_file and #fs.glob(args.auth_log) > 0 then
    source = args.auth_log
    local r, err = logs.scan { files = args.auth_log, since = since, sets = { failed = AUTH_FAILED }, samples = args.show }
    if not r then return ctx:unknown("security.auth", tostring(err)) end
    if #r.problems > 0 and r.lines == 0 then
      return ctx:unknown("security.auth", "cannot read " .. args.auth_log .. ": " .. r.problems[1].text)
    end
    count, samples = r.sets.failed.count, r.sets.failed.samples
  else
    -- no auth.log: the journal (Debian 12 keeps sshd's and PAM's messages only there)
    local argv = { "journalctl", "--since", "@" .. math.floor(since), "-o", "json", "--no-pager" }
    if args.journal_file then argv[#argv + 1] = "--file"; argv[#argv + 1] = args.journal_file end
    source = args.journal_file and ("journal " .. args.journal_file) or "the journal"
    local out, err = sys.exec(argv, { read_only = true, timeout = 120, max_bytes = 512 << 20 })
    if not out then return ctx:unknown("security.auth", "journalctl: " .. tostring(err)) end
    if out.status ~= 0 and out.stdout == "" then
      return ctx:unknown("security.auth", string.format("no %s and journalctl failed (exit %s): %s", args.auth_log,
        tostring(out.status), (out.stderr:gsub("%s+$", ""))))
    end
    local j, jerr = logs.journal(out.stdout, { name = source, sets = { failed = AUTH_FAILED }, keep = args.show })
    if not j then return ctx:unknown("security.auth", tostring(jerr)) end
    count, samples = j.sets.failed.count, j.sets.failed.samples
  end
  local text = string.format("%d failed authentication attempt(s) in %s since %s", count, source, time.iso(since))
  if count > 0 then text = text .. "; last: " .. quote(samples, args.show) end
  ctx[thresholds.level(count, warn, crit)](ctx, "security.auth", text, { failed_auth = count })
end

local function updates(ctx)
  local u, err = sys.upgradable_packages { timeout = 120 }
  if not u then return ctx:unknown("security.updates", "apt list --upgradable: " .. tostring(err)) end
  local names = {}
  for _, p in ipairs(u.packages) do
    if p.security then names[#names + 1] = p.name .. " " .. p.version end
  end
  local m = { security_updates = u.security, upgradable = u.total }
  if u.security > 0 then
    ctx:warn("security.updates", string.format("%d security update(s) of %d upgradable: %s", u.security, u.total,
      table.concat(names, ", ", 1, math.min(#names, 20)) .. (#names > 20 and ", ..." or "")), m)
  else
    ctx:ok("security.updates", string.format("no security updates (%d other upgradable)", u.total), m)
  end
end

-- a sub-procedure's checks in ctx; one that cannot load or start says so under `check`
local function sub(ctx, check, name, args)
  local ok, err = procedure.run(name, args, ctx)
  if not ok then ctx:unknown(check, name .. ": " .. tostring(err)) end
end

return {
  description = "Daily security check: failed logins, unusual API access, TLS expiry, config audit, security updates (changes nothing)",
  categories = { "security", "check", "daily", "safe" },
  guide = {
    "security-monitoring.1", "security-monitoring.2", "security-monitoring.3", "security-monitoring.4",
    "security-monitoring.5",
  },
  args = {
    { name = "since", default = "24h", help = "window for failed logins and the access log" },
    { name = "auth_log", default = "/var/log/auth.log", help = "auth log (when absent, the systemd journal is read)" },
    { name = "journal_file", help = "read this journal file (journalctl --file) instead of the system journal" },
    { name = "auth_warn", type = "integer", help = "failed logins for WARNING (default: thresholds.security_auth_warn, else 10)" },
    { name = "auth_crit", type = "integer", help = "failed logins for CRITICAL (default: thresholds.security_auth_crit, else 100)" },
    { name = "access_log", type = "list", default = { "/var/log/nginx/access.log" }, help = "access logs for unusual API access, repeatable, globs allowed" },
    { name = "url", help = "Redis URL of the api_access:* counters and the audit (default: the configured redis_url)" },
    { name = "show", type = "integer", default = 5, help = "log lines quoted" },
    { name = "skip", type = "list", help = "parts to leave out: auth, api, access, tls, audit, updates" },
  },
  run = function(args, ctx)
    local skip = {}
    for _, k in ipairs(args.skip or {}) do skip[k] = true end
    local parts = {}
    local function part(key, fn) if not skip[key] then parts[#parts + 1] = { name = "security." .. key, run = fn } end end
    -- 1. failed authentication
    part("auth", function(c) failed_auth(c, args) end)
    -- 2. unusual API access: the counters, then the access log
    part("api", function(c) sub(c, "security.api", "redis/api-access", { url = args.url }) end)
    part("access", function(c)
      local present = {}
      for _, pattern in ipairs(args.access_log) do
        for _, f in ipairs(fs.glob(pattern)) do present[#present + 1] = f end
      end
      if #present == 0 then
        return c:ok("security.access", "no access log at " .. table.concat(args.access_log, ", ") .. " (--access-log)")
      end
      sub(c, "security.access", "security/access-log", { file = args.access_log, since = args.since })
    end)
    -- 3. certificates
    part("tls", function(c)
      if #security.list_setting("tls_files") + #security.list_setting("tls_endpoints") == 0 then
        return c:ok("security.tls", "no certificates configured (tls_files / tls_endpoints): not checked")
      end
      sub(c, "security.tls", "security/tls", {})
    end)
    -- 4. service configuration
    part("audit", function(c) sub(c, "security.audit", "security/config-audit", { url = args.url }) end)
    -- 5. security updates
    part("updates", updates)
    security.concurrently(ctx, parts)
  end,
}
