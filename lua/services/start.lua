-- Starts one service or all (the guide's `python scripts/dev.py services start` for an existing
-- stack: the containers must exist; scripts/stack up creates them), then waits for each to run
-- and be healthy. Under --dry-run nothing is started.
local services = require "opsh.services"
local opsh = require "opsh"

return {
  description = "Starts a service (or all) and verifies that it runs and is healthy",
  categories = { "services", "action", "intrusive" },
  guide = { "System Administration / Service Management (Start all services)" },
  args = {
    { name = "service", help = "service to start (default: all of config services)" },
    { name = "project", help = "compose project (default: config compose_project)" },
    { name = "health_timeout", type = "integer", default = 60, help = "seconds to wait for health" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local fns = {}
    for _, svc in ipairs(services.resolve(d, services.names(args.service), services.project(args.project))) do
      if svc.err or #svc.containers == 0 then
        ctx:crit("start." .. svc.service, svc.err and tostring(svc.err) or ("no container for service " .. svc.service .. " (scripts/stack up creates the stack)"))
      end
      for _, c in ipairs(svc.containers) do
        fns[#fns + 1] = function()
          local name = services.name_of(c)
          local ok, e = d:start(services.name_of(c))
          if not ok then return ctx:crit("start." .. name, tostring(e)) end
          if type(ok) == "table" and ok.dry_run then return ctx:ok("start." .. name, "would start " .. name) end
          local healthy, why = services.wait_healthy(d, c.Id, args.health_timeout)
          if healthy then ctx:ok("start." .. name, name .. " runs and is healthy")
          else ctx:crit("start." .. name, name .. " is " .. why) end
        end
      end
    end
    opsh.all(fns)
  end,
}
