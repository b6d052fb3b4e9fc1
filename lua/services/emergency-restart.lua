-- Emergency restart (the guide's "Emergency System Restart"), without its data loss: every
-- service gets a graceful stop (SIGTERM, --grace seconds), a container still running after that
-- is killed, then all start again and opsh waits until each runs and is healthy. The guide's
-- `docker system prune -f` in between is NOT done: it would delete the stack's stopped
-- containers (all of them, at that moment) and dangling images. Nothing is removed.
local services = require "opsh.services"
local opsh = require "opsh"

return {
  description = "Emergency restart of all services: graceful stop, kill what remains, start, verify health; prunes nothing",
  categories = { "services", "action", "incident", "intrusive" },
  guide = {
    "emergency-procedures.1", "emergency-procedures.2", "emergency-procedures.3",
    "emergency-procedures.4", "emergency-procedures.5",
  },
  args = {
    { name = "services", type = "list", help = "services (default: config services)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "grace", type = "integer", default = 60, help = "seconds for the graceful stop (the guide's timeout 60)" },
    { name = "health_timeout", type = "integer", default = 90, help = "seconds to wait for health after the start" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local project, prerr = services.project(args.project, d)
    if prerr then return ctx:crit("docker", tostring(prerr)) end
    local all = {}
    for _, svc in ipairs(services.resolve(d, services.names(args.services), project)) do
      if svc.err or #svc.containers == 0 then
        ctx:crit("emergency." .. svc.service, svc.err and tostring(svc.err) or ("no container for service " .. svc.service))
      end
      for _, c in ipairs(svc.containers) do all[#all + 1] = c end
    end
    -- 1. graceful stop, all at once; the engine kills what ignores SIGTERM after the grace period
    local stops = {}
    for i, c in ipairs(all) do
      stops[i] = function()
        local ok, e = d:stop(services.name_of(c), { timeout = args.grace })
        return { ok = ok, err = e }
      end
    end
    local res = { opsh.all(stops) }
    for i, c in ipairs(all) do
      local name = services.name_of(c)
      if not res[i].ok then
        -- 2. forced: the stop itself failed (daemon timeout); kill it
        local k, ke = d:kill(services.name_of(c))
        if not k then ctx:crit("stop." .. name, "stop failed (" .. tostring(res[i].err) .. ") and kill failed: " .. tostring(ke)) end
        ctx:warn("stop." .. name, name .. ": graceful stop failed (" .. tostring(res[i].err) .. "); killed")
      elseif type(res[i].ok) == "table" and res[i].ok.dry_run then
        ctx:ok("stop." .. name, "would stop " .. name .. " (grace " .. args.grace .. " s), then start it")
      else
        local info = d:inspect(c.Id)
        if info and info.State.Running then
          local k, ke = d:kill(services.name_of(c))
          ctx:warn("stop." .. name, name .. " still ran after the stop: " .. (k and "killed" or ("kill failed: " .. tostring(ke))))
        elseif info and info.State.ExitCode == 137 then
          ctx:warn("stop." .. name, string.format("%s ignored SIGTERM for %d s and was killed", name, args.grace))
        else
          ctx:ok("stop." .. name, name .. " stopped gracefully")
        end
      end
    end
    if opsh.dry_run then return end
    -- 3. start, then 4. verify health
    local starts = {}
    for i, c in ipairs(all) do
      starts[i] = function()
        local name = services.name_of(c)
        local ok, e = d:start(services.name_of(c))
        if not ok then return ctx:crit("start." .. name, tostring(e)) end
        local healthy, why = services.wait_healthy(d, c.Id, args.health_timeout)
        if healthy then ctx:ok("start." .. name, name .. " runs and is healthy")
        else ctx:crit("start." .. name, name .. " is " .. why) end
      end
    end
    opsh.all(starts)
    ctx:ok("prune", "nothing pruned: the guide's docker system prune would delete stopped stack containers")
  end,
}
