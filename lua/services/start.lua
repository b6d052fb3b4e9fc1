-- Starts one service or all (the guide's `python scripts/dev.py services start` for an existing
-- stack: the containers must exist; scripts/stack up creates them), then waits for each to run
-- and be healthy. Under --dry-run nothing is started.
local services = require "opsh.services"
local opsh = require "opsh"

return {
  description = "Starts a service (or all) and verifies that it runs and is healthy",
  categories = { "services", "action", "intrusive" },
  guide = { "service-management.1", "task-queue-management.5", "task-queue-management.11" },
  args = {
    { name = "service", help = "service to start (default: all of config services)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "health_timeout", type = "integer", default = 60, help = "seconds to wait for health" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    services.each_container(d, ctx, "start", args.service, args.project, function(c, name)
      local ok, e = d:start(name)
      if not ok then return ctx:crit("start." .. name, tostring(e)) end
      if type(ok) == "table" and ok.dry_run then return ctx:ok("start." .. name, "would start " .. name) end
      local healthy, why = services.wait_healthy(d, c.Id, args.health_timeout)
      if healthy then ctx:ok("start." .. name, name .. " runs and is healthy")
      else ctx:crit("start." .. name, name .. " is " .. why) end
    end, " (scripts/stack up creates the stack)")
  end,
}
