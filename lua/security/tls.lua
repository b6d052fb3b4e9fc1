-- The guide's certificate check (`openssl x509 -in /etc/ssl/certs/api.crt -checkend 2592000`)
-- for every configured certificate file and endpoint, natively (opsh.tls): days left, the chain
-- verified (system store, or --ca-file), an endpoint's certificate checked against its name.
-- Endpoints are probed concurrently. Changes nothing.
local tls = require "opsh.tls"
local config = require "opsh.config"
local opsh = require "opsh"
local security = require "opsh.security"
local thresholds = require "opsh.thresholds"

return {
  description = "TLS certificates of files and endpoints: days left, chain verification, host name (changes nothing)",
  categories = { "security", "check", "daily", "safe" },
  guide = { "security-monitoring.3" },
  args = {
    { name = "file", type = "list", help = "certificate files (PEM or DER), repeatable (default: config tls_files)" },
    { name = "endpoint", type = "list", help = "host:port endpoints, repeatable (default: config tls_endpoints)" },
    { name = "ca_file", help = "verify against this CA file instead of the system store (default: config tls_ca_file)" },
    { name = "server_name", help = "SNI and the name checked for every endpoint (default: each endpoint's host)" },
    { name = "warn_days", type = "number", help = "WARNING when a certificate expires within this many days (default: thresholds.tls_warn_days, else 30)" },
    { name = "crit_days", type = "number", help = "CRITICAL within this many days (default: thresholds.tls_crit_days, else 7)" },
    { name = "timeout", type = "number", default = 10, help = "seconds per endpoint (connect and handshake)" },
  },
  run = function(args, ctx)
    local limits = {
      warn_days = thresholds.get(args, "tls", "warn_days", 30),
      crit_days = thresholds.get(args, "tls", "crit_days", 7),
    }
    local files = args.file or security.list_setting("tls_files")
    local endpoints = args.endpoint or security.list_setting("tls_endpoints")
    local ca = args.ca_file or config.get("tls_ca_file")
    if #files == 0 and #endpoints == 0 then
      return ctx:unknown("tls", "nothing to check: give --file or --endpoint, or set tls_files / tls_endpoints")
    end
    local counts = { ok = 0, warn = 0, crit = 0 }
    -- a report judged, or the error that kept it from being read: CRITICAL
    local function judge(check, r, err)
      local level = "crit"
      if r then level = security.certificate(ctx, check, r, limits) else ctx:crit(check, tostring(err)) end
      counts[level] = counts[level] + 1
    end
    for _, path in ipairs(files) do judge("tls.file." .. path, tls.file(path, { ca_file = ca })) end
    local probes = {}
    for i, target in ipairs(endpoints) do
      probes[i] = function()
        return { tls.endpoint(target, { ca_file = ca, server_name = args.server_name, timeout = args.timeout }) }
      end
    end
    local results = #probes > 0 and { opsh.all(probes) } or {}
    for i, target in ipairs(endpoints) do judge("tls.endpoint." .. target, results[i][1], results[i][2]) end
    local total = #files + #endpoints
    ctx:ok("tls", string.format("%d certificate source(s): %d ok, %d expiring within %d days, %d critical",
      total, counts.ok, counts.warn, limits.warn_days, counts.crit),
      { sources = total, ok = counts.ok, warning = counts.warn, critical = counts.crit })
  end,
}
