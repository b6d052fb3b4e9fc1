-- Service status: the guide's `docker-compose ps` and `systemctl status ai-docs-vector-db` as one
-- report. Per container: state, health (the container's health check), uptime and restarts, from
-- the Docker Engine API (no docker CLI). A service with no container is CRITICAL, a stopped or
-- unhealthy container CRITICAL, a restart count above --restarts_warn a WARNING.
-- systemd units (--units): where systemd runs (/run/systemd/system exists) opsh cannot yet read
-- them (reading units needs `systemctl show`, which waits for opsh.sys.exec): reported as
-- UNKNOWN with that reason; where systemd does not run, reported as not present (OK).
local services = require "opsh.services"
local fs = require "opsh.fs"

return {
  description = "Service status: containers' state, health, uptime and restarts (docker-compose ps + systemctl status)",
  categories = { "services", "check", "daily", "safe" },
  guide = { "Daily Operations / Daily Checklist (1. Check service status)", "System Administration / Service Management" },
  args = {
    { name = "services", type = "list", help = "services to report (default: config services, else qdrant,dragonfly,task-worker)" },
    { name = "project", help = "compose project (default: config compose_project; any project when unset)" },
    { name = "restarts_warn", type = "integer", default = 3, help = "restart count for WARNING" },
    { name = "units", type = "list", default = { "ai-docs-vector-db" }, help = "systemd units the guide checks" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local ok, perr = d:ping()
    if not ok then return ctx:crit("docker", tostring(perr)) end
    for _, svc in ipairs(services.resolve(d, services.names(args.services), services.project(args.project))) do
      if svc.err then
        ctx:crit("service." .. svc.service, tostring(svc.err))
      elseif #svc.containers == 0 then
        ctx:crit("service." .. svc.service, "no container for service " .. svc.service, { running = 0 })
      else
        local infos = d:inspect_all((function() local ids = {} for i, c in ipairs(svc.containers) do ids[i] = c.Id end return ids end)())
        for _, c in ipairs(svc.containers) do
          local info = infos[c.Id]
          local check = "service." .. svc.service .. (#svc.containers > 1 and ("." .. services.name_of(c)) or "")
          if not info then
            ctx:unknown(check, "inspect failed for " .. services.name_of(c))
          else
            local text, m = services.describe(info)
            if m.running == 0 or m.healthy == 0 then ctx:crit(check, text, m)
            elseif m.restarts >= args.restarts_warn then ctx:warn(check, text, m)
            else ctx:ok(check, text, m) end
          end
        end
      end
    end
    if not fs.exists("/run/systemd/system") then
      ctx:ok("systemd", "systemd does not run here: units " .. table.concat(args.units, ", ") .. " not present")
    else
      ctx:unknown("systemd", "systemd runs, but opsh cannot read units yet (systemctl show needs opsh.sys.exec): "
        .. table.concat(args.units, ", ") .. " not checked")
    end
  end,
}
