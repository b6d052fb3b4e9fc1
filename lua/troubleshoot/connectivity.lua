-- The guide's connectivity troubleshooting (Troubleshooting / Service Connectivity Issues) in
-- one report, then what it found and what to do:
--   1. internal communication  from inside each service container, every other service by
--                              name and port (services/connectivity)
--   2. ports listening         6333, 6379, 8000 and the configured services' ports on this host,
--                              with the owning process (system/connectivity)
--   3. DNS                     the configured endpoints' names resolved, timed (system/connectivity);
--                              compose service names resolve only inside the compose network,
--                              which step 1 covers
--   4. API endpoints           the API's /health on api_url (default http://localhost:8000) and
--                              Qdrant's /healthz (the guide's /health does not exist in Qdrant),
--                              timed, with the HTTP status
-- Reads only.
local procedure = require "opsh.procedure"
local report = require "opsh.report"
local config = require "opsh.config"
local http = require "opsh.http"
local time = require "opsh.time"

local HINTS = {
  { "refused", "nothing listens there: is the service running (services/status)? is it bound to another address or port?" },
  { "Couldn't connect", "nothing listens there: is the service running (services/status)? is it bound to another address or port?" },
  { "timeout", "no answer in time: a hung process, a firewall dropping packets, or a stopped (paused) container" },
  { "not_found", "the name does not resolve: a typo in the configuration, or a compose service name used outside its network" },
  { "does not resolve", "the name does not resolve: a typo in the configuration, or a compose service name used outside its network" },
  { "no container", "the service has no container: start it (services/start)" },
  { "HTTP 5", "the endpoint answers with a server error: its own logs say why (services/logs)" },
}

local function hint(message)
  for _, h in ipairs(HINTS) do
    if message:find(h[1], 1, true) then return h[2] end
  end
  return "see the check's message"
end

return {
  description = "Connectivity troubleshooting: service to service from inside the containers, ports, DNS, the API's and Qdrant's health; what it found and what to do",
  categories = { "troubleshooting", "network", "safe" },
  guide = {
    "common-issues-and-solutions.10", "common-issues-and-solutions.11",
    "common-issues-and-solutions.12", "common-issues-and-solutions.13",
    "common-issues-and-solutions.14",
  },
  notes = "Changes nothing: resolves names, opens and closes TCP connections, runs nc inside the service containers, sends GETs to health endpoints.",
  args = {
    { name = "skip", type = "list", help = "steps to leave out: containers, host, http" },
    { name = "timeout", type = "number", default = 5, help = "seconds per health request" },
  },
  run = function(args, ctx)
    local skip = {}
    for _, s in ipairs(args.skip or {}) do skip[s] = true end
    local parts = {}
    if not skip.containers then parts[#parts + 1] = "services/connectivity" end
    if not skip.host then parts[#parts + 1] = "system/connectivity" end
    for _, name in ipairs(parts) do
      local sub = report.new(name, nil, {}, { dry_run = ctx.dry_run })
      local ok, err = procedure.run(name, {}, sub)
      if not ok then sub:unknown(name, tostring(err)) end
      for _, c in ipairs(sub.checks) do ctx.checks[#ctx.checks + 1] = c end
    end
    if not skip.http then
      local targets = {
        { "connectivity.api", (config.get("api_url") or "http://localhost:8000"):gsub("/+$", "") .. "/health" },
        { "connectivity.qdrant", (config.get("qdrant_url") or "http://localhost:6333"):gsub("/+$", "") .. "/healthz" },
      }
      for _, t in ipairs(targets) do
        local t0 = time.monotonic()
        local r, err = http.get(t[2], { timeout = args.timeout, retries = 0 })
        local ms = (time.monotonic() - t0) * 1000
        if not r then ctx:crit(t[1], string.format("GET %s: %s", t[2], tostring(err)), { ms = ms })
        elseif r.status >= 400 then ctx:crit(t[1], string.format("GET %s: HTTP %d in %.1f ms", t[2], r.status, ms), { ms = ms, status = r.status })
        else ctx:ok(t[1], string.format("GET %s: HTTP %d in %.1f ms", t[2], r.status, ms), { ms = ms, status = r.status }) end
      end
    end
    local advice = {}
    for _, c in ipairs(ctx.checks) do
      if c.status == "critical" or c.status == "warning" then
        advice[#advice + 1] = c.name .. ": " .. hint(c.message)
      end
    end
    if #advice == 0 then ctx:ok("connectivity.advice", "every path checked answers")
    else ctx:warn("connectivity.advice", table.concat(advice, "\n")) end
  end,
}
