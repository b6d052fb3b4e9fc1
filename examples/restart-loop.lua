-- Containers stuck in a restart loop: the ones that died and started again several times in
-- the last --window, from the Docker engine's own events, with their restart counts, last exit
-- codes and the last lines they logged before dying.
--
--   opsh run examples/restart-loop.lua                    every container, last 15 minutes
--   opsh run examples/restart-loop.lua --window 1h --project mystack --crit 5
--
-- A container that died --warn times (default 2) in the window is a WARNING, --crit times
-- (default 3) CRITICAL; one the engine shows as "restarting" right now is CRITICAL too.
-- Containers that died fewer times are counted in the summary, not listed.
-- Reads only.
local services = require "opsh.services"
local time = require "opsh.time"

return {
  description = "Example: containers in a restart loop (deaths in a window from the engine's events), with exit codes and last log lines",
  categories = { "example", "docker", "check", "safe" },
  args = {
    { name = "window", default = "15m", help = "how far back to look" },
    { name = "project", help = "only this compose project's containers" },
    { name = "warn", type = "integer", default = 2 },
    { name = "crit", type = "integer", default = 3 },
    { name = "log_lines", type = "integer", default = 5, help = "last log lines shown per looping container" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local window = time.duration(args.window)
    local now = time.now()
    local filters = { type = { "container" }, event = { "die" } }
    if args.project then filters.label = { "com.docker.compose.project=" .. args.project } end
    -- a bounded read of the past: the engine replays events from `since` to `until`
    local ok, events = pcall(d.events, d, { since = math.floor(now - window), ["until"] = math.floor(now) + 1, filters = filters, max = 100000, duration = 30 })
    if not ok then return ctx:crit("docker.events", tostring(events)) end
    local deaths = {}
    for e in events do
      local id = e.id or (e.Actor and e.Actor.ID)
      if id then
        local x = deaths[id] or { n = 0, codes = {} }
        x.n = x.n + 1
        x.name = e.Actor and e.Actor.Attributes and e.Actor.Attributes.name or x.name
        x.codes[#x.codes + 1] = e.Actor and e.Actor.Attributes and e.Actor.Attributes.exitCode or "?"
        deaths[id] = x
      end
    end
    -- containers restarting right now, even without events in the window
    local restarting = d:containers { all = true, status = "restarting", project = args.project } or {}
    for _, c in ipairs(restarting) do
      deaths[c.Id] = deaths[c.Id] or { n = 0, codes = {}, name = (c.Names[1] or c.Id):gsub("^/", "") }
      deaths[c.Id].restarting = true
    end
    local looping = 0
    for id, x in pairs(deaths) do
      local info = d:inspect(id)
      local restarts = info and info.RestartCount or 0
      local state = info and info.State and info.State.Status or "gone"
      local level = (x.restarting or x.n >= args.crit) and "crit" or x.n >= args.warn and "warn" or "ok"
      if level ~= "ok" then looping = looping + 1 else goto next end
      local tail = {}
      if level ~= "ok" and info then
        local ok = pcall(function()
          for line in d:logs(id, { tail = args.log_lines }) do tail[#tail + 1] = line end
        end)
        if not ok then tail = { "(logs unreadable)" } end
      end
      ctx[level](ctx, "container." .. (x.name or id:sub(1, 12)), string.format("died %d time(s) in %s (exit codes %s), restart count %d, now %s%s",
        x.n, args.window, table.concat(x.codes, ","), restarts, state, #tail > 0 and ("; last lines:\n" .. table.concat(tail, "\n")) or ""),
        { deaths = x.n, restart_count = restarts })
      ::next::
    end
    ctx:ok("restart-loop", string.format("%d container(s) died in the last %s, %d looping", (function()
      local n = 0; for _ in pairs(deaths) do n = n + 1 end; return n end)(), args.window, looping), { looping = looping })
  end,
}
