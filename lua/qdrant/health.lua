-- Qdrant health and readiness with latency: the guide's `curl http://localhost:6333/health`.
-- Qdrant has no /health: it serves /healthz (the process answers), /livez and /readyz (every
-- shard is ready: a restarting node answers 503 "some shards are not ready" for a while).
-- The three probes run concurrently; then the version, the collections and their status.
local qdrant = require "opsh.qdrant"
local thresholds = require "opsh.thresholds"
local opsh = require "opsh"

local DEFAULTS = { latency_warn_ms = 100, latency_crit_ms = 1000 }

local function limit(args, name) return thresholds.get(args, "qdrant", name, DEFAULTS[name]) end

return {
  description = "Qdrant health: /healthz, /livez and /readyz with latency, version, collections and their status",
  categories = { "qdrant", "check", "daily", "safe" },
  guide = { "daily-checklist.2", "recovery-procedures.6", "common-issues-and-solutions.14" },
  args = {
    { name = "url", help = "Qdrant URL (default: the configured qdrant_url / QDRANT_URL)" },
    { name = "latency_warn_ms", type = "number", help = "probe latency in ms for WARNING (default 100)" },
    { name = "latency_crit_ms", type = "number", help = "probe latency in ms for CRITICAL (default 1000)" },
    { name = "timeout", type = "number", default = 5, help = "seconds per request" },
  },
  notes = "The guide's /health endpoint does not exist in Qdrant; /healthz, /livez and /readyz do.\n"
    .. "Thresholds: a command-line argument wins, then config.lua thresholds.qdrant_<name>, then the default.",
  run = function(args, ctx)
    local q = qdrant.connect { url = args.url ~= "" and args.url or nil, timeout = args.timeout }
    local probes = { "healthz", "livez", "readyz" }
    -- the probes, the version and the collections' names at once: one round trip, not three
    local results = { opsh.all {
      function() return { q:health() } end,
      function() return { q:live() } end,
      function() return { q:ready() } end,
      function() return { q:version() } end,
      function() return { q:collections() } end,
    } }
    local up = false
    for i, name in ipairs(probes) do
      local r, err = results[i][1], results[i][2]
      local check = "qdrant." .. name
      if not r then
        ctx:crit(check, "no answer: " .. tostring(err), { up = 0 })
      elseif not r.ok then
        ctx:crit(check, string.format("HTTP %d: %s", r.status, r.message), { up = 0, latency_ms = r.seconds * 1000 })
      else
        up = true
        local ms = r.seconds * 1000
        local level = thresholds.level(ms, limit(args, "latency_warn_ms"), limit(args, "latency_crit_ms"))
        ctx[level](ctx, check, string.format("%s in %.1f ms", r.message, ms), { up = 1, latency_ms = ms })
      end
    end
    if not up then return end

    local v, verr = results[4][1], results[4][2]
    if v then
      ctx:ok("qdrant.version", string.format("%s %s", v.title or "qdrant", v.version or "?"))
    else
      ctx:unknown("qdrant.version", tostring(verr))
    end

    local names, cerr = results[5][1], results[5][2]
    if not names then return ctx:crit("qdrant.collections", "cannot list collections: " .. tostring(cerr)) end
    -- every collection's info at once
    local fns = {}
    for i, name in ipairs(names) do fns[i] = function() return { q:collection(name) } end end
    local infos = { opsh.all(fns) }
    local bad = {}
    for i, name in ipairs(names) do
      local info, err = infos[i][1], infos[i][2]
      if not info then
        bad[#bad + 1] = name .. " (" .. tostring(err) .. ")"
      elseif info.status ~= "green" then
        bad[#bad + 1] = name .. " (" .. tostring(info.status) .. ")"
      end
    end
    local msg = string.format("%d collection%s", #names, #names == 1 and "" or "s")
    if #bad == 0 then
      ctx:ok("qdrant.collections", msg .. (#names > 0 and ", all green" or ""), { collections = #names })
    else
      ctx:warn("qdrant.collections", msg .. "; not green: " .. table.concat(bad, ", ") .. " (see qdrant/collections)",
        { collections = #names, not_green = #bad })
    end
  end,
}
