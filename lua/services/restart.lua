-- Restarts one service or all (the guide's `docker-compose restart qdrant`): each container gets
-- SIGTERM and --timeout seconds to stop before the engine sends SIGKILL, then starts again; then
-- opsh waits for it to run and, where it has a health check, to be healthy. Containers of
-- different services restart concurrently. Under --dry-run nothing is restarted.
local services = require "opsh.services"
local time = require "opsh.time"
local opsh = require "opsh"

return {
  description = "Restarts a service (or all) gracefully, then verifies that it runs and is healthy",
  categories = { "services", "action", "intrusive" },
  guide = { "service-management.3" },
  args = {
    { name = "service", help = "service to restart (default: all of config services)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "timeout", type = "integer", default = 30, help = "seconds between SIGTERM and SIGKILL" },
    { name = "health_timeout", type = "integer", default = 60, help = "seconds to wait for health after the restart" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    services.each_container(d, ctx, "restart", args.service, args.project, function(c, name)
      local t0 = time.monotonic()
      local ok, e = d:restart(name, { timeout = args.timeout })
      if not ok then return ctx:crit("restart." .. name, tostring(e)) end
      if type(ok) == "table" and ok.dry_run then return ctx:ok("restart." .. name, "would restart " .. name) end
      local healthy, why = services.wait_healthy(d, c.Id, args.health_timeout)
      local took = time.monotonic() - t0
      if healthy then
        ctx:ok("restart." .. name, string.format("%s restarted and healthy in %.1f s", name, took), { seconds = took })
      else
        ctx:crit("restart." .. name, string.format("%s restarted but is %s", name, why), { seconds = took })
      end
    end)
  end,
}
