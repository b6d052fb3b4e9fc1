-- Stops one service or all gracefully (the guide's `docker-compose down --timeout 30`, without
-- removing anything): SIGTERM, then SIGKILL after --timeout seconds. Containers and volumes stay,
-- so services/start brings the same containers back. Under --dry-run nothing is stopped.
local services = require "opsh.services"
local opsh = require "opsh"

return {
  description = "Stops a service (or all) gracefully: SIGTERM, SIGKILL after the timeout; removes nothing",
  categories = { "services", "action", "intrusive" },
  guide = { "service-management.2", "task-queue-management.12" },
  args = {
    { name = "service", help = "service to stop (default: all of config services)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "timeout", type = "integer", default = 30, help = "seconds between SIGTERM and SIGKILL" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    services.each_container(d, ctx, "stop", args.service, args.project, function(c, name)
      local ok, e = d:stop(name, { timeout = args.timeout })
      if not ok then return ctx:crit("stop." .. name, tostring(e)) end
      if type(ok) == "table" and ok.dry_run then return ctx:ok("stop." .. name, "would stop " .. name) end
      local info = d:inspect(c.Id)
      local code = info and info.State.ExitCode
      if code == 137 then
        ctx:warn("stop." .. name, string.format("%s did not stop within %d s and was killed (exit code 137)", name, args.timeout), { exit_code = 137 })
      else
        ctx:ok("stop." .. name, string.format("%s stopped (exit code %s)", name, tostring(code)), { exit_code = code or -1 })
      end
    end)
  end,
}
