-- Stops one service or all gracefully (the guide's `docker-compose down --timeout 30`, without
-- removing anything): SIGTERM, then SIGKILL after --timeout seconds. Containers and volumes stay,
-- so services/start brings the same containers back. Under --dry-run nothing is stopped.
local services = require "opsh.services"
local opsh = require "opsh"

return {
  description = "Stops a service (or all) gracefully: SIGTERM, SIGKILL after the timeout; removes nothing",
  categories = { "services", "action", "intrusive" },
  guide = { "System Administration / Service Management (Stop services gracefully)" },
  args = {
    { name = "service", help = "service to stop (default: all of config services)" },
    { name = "project", help = "compose project (default: config compose_project)" },
    { name = "timeout", type = "integer", default = 30, help = "seconds between SIGTERM and SIGKILL" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local fns = {}
    for _, svc in ipairs(services.resolve(d, services.names(args.service), services.project(args.project))) do
      if svc.err or #svc.containers == 0 then
        ctx:crit("stop." .. svc.service, svc.err and tostring(svc.err) or ("no container for service " .. svc.service))
      end
      for _, c in ipairs(svc.containers) do
        fns[#fns + 1] = function()
          local name = services.name_of(c)
          local ok, e = d:stop(services.name_of(c), { timeout = args.timeout })
          if not ok then return ctx:crit("stop." .. name, tostring(e)) end
          if type(ok) == "table" and ok.dry_run then return ctx:ok("stop." .. name, "would stop " .. name) end
          local info = d:inspect(c.Id)
          local code = info and info.State.ExitCode
          if code == 137 then
            ctx:warn("stop." .. name, string.format("%s did not stop within %d s and was killed (exit code 137)", name, args.timeout), { exit_code = 137 })
          else
            ctx:ok("stop." .. name, string.format("%s stopped (exit code %s)", name, tostring(code)), { exit_code = code or -1 })
          end
        end
      end
    end
    opsh.all(fns)
  end,
}
