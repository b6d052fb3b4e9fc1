-- Service status: the guide's `docker-compose ps` and `systemctl status ai-docs-vector-db` as one
-- report. Like `docker-compose ps`, every service of the compose project is listed (the guide's
-- three first, whether they run or not), unless --services or config `services` names them. Per container: state, health (the container's health check), uptime and restarts, from
-- the Docker Engine API (no docker CLI). A service with no container is CRITICAL, a stopped or
-- unhealthy container CRITICAL, a restart count above --restarts_warn a WARNING.
-- systemd units (--units, the guide's ai-docs-vector-db): read with `systemctl show` (through
-- opsh.sys.exec: no API exists), active is OK, activating/deactivating/inactive a WARNING, failed
-- CRITICAL, a unit systemd does not know "not present" (OK: the stack runs in containers). Where
-- systemd does not run (no systemctl, or "not booted with systemd"), the units are reported as
-- not present.
local services = require "opsh.services"
local sys = require "opsh.sys"
local opsh = require "opsh"
local report = require "opsh.report"

local PROPS = "LoadState,ActiveState,SubState,NRestarts,ActiveEnterTimestamp,MainPID"

local function unit_status(ctx, systemctl, unit)
  local check = "systemd." .. unit
  local r, err = sys.exec({ systemctl, "show", unit, "--property=" .. PROPS }, { timeout = 10, read_only = true })
  if not r then
    if err.code == "not_found" then return "absent" end
    return ctx:unknown(check, "systemctl show " .. unit .. ": " .. tostring(err))
  end
  local text = (r.stdout or "") .. (r.stderr or "")
  if r.status ~= 0 then
    if text:find("not been booted with systemd", 1, true) or text:find("Failed to connect to bus", 1, true) then return "absent" end
    return ctx:unknown(check, string.format("systemctl show %s failed (exit %s): %s", unit, tostring(r.status), (text:gsub("%s+$", ""))))
  end
  local p = {}
  for k, v in (r.stdout or ""):gmatch("([%w]+)=([^\n]*)") do p[k] = v end
  local restarts = tonumber(p.NRestarts) or 0
  local m = { active = p.ActiveState == "active" and 1 or 0, restarts = restarts }
  if p.LoadState == "not-found" then return ctx:ok(check, unit .. ": not present (systemd has no such unit)", m) end
  local desc = string.format("%s: %s (%s)%s, restarts %d", unit, tostring(p.ActiveState), tostring(p.SubState),
    (p.ActiveEnterTimestamp and p.ActiveEnterTimestamp ~= "") and (" since " .. p.ActiveEnterTimestamp) or "", restarts)
  if p.ActiveState == "active" then return ctx:ok(check, desc, m)
  elseif p.ActiveState == "failed" then return ctx:crit(check, desc, m)
  else return ctx:warn(check, desc, m) end
end

return {
  description = "Service status: containers' state, health, uptime and restarts (docker-compose ps + systemctl status)",
  categories = { "services", "check", "daily", "safe" },
  guide = { "daily-checklist.1" },
  args = {
    { name = "services", type = "list", help = "services to report (default: config services, else qdrant,dragonfly,task-worker and every other service of the compose project, as docker-compose ps lists them)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "restarts_warn", type = "integer", default = 3, help = "restart count for WARNING" },
    { name = "units", type = "list", default = { "ai-docs-vector-db" }, help = "systemd units the guide checks" },
    { name = "systemctl", default = "systemctl", help = "the systemctl program" },
    { name = "host", help = "Docker host: unix:///path or tcp://h:port (default: the configured docker_host / DOCKER_HOST); --target GROUP gives each docker member's" },
  },
  run = function(args, ctx)
    -- systemctl (a program started and waited for) runs while the engine is asked, and its
    -- checks follow the containers'
    local units = report.new("services/status", nil, args, { dry_run = ctx.dry_run })
    local function systemd()
      for _, unit in ipairs(args.units) do
        if unit_status(units, args.systemctl, unit) == "absent" then
          units:ok("systemd", "systemd does not run here: units " .. table.concat(args.units, ", ") .. " not present")
          break
        end
      end
      return true
    end
    local function containers()
      local d, err = services.connect { host = (args.host ~= "" and args.host) or nil }
      if not d then return ctx:crit("docker", tostring(err)) end
      local ok, perr = d:ping()
      if not ok then return ctx:crit("docker", tostring(perr)) end
      local project, prerr = services.project(args.project, d)
      if prerr then return ctx:crit("docker", tostring(prerr)) end
      local list = services.resolve(d, services.reported(d, args.services, project), project)
      -- every service's containers inspected at once
      local ids = {}
      for _, svc in ipairs(list) do
        for _, c in ipairs(svc.containers) do ids[#ids + 1] = c.Id end
      end
      local infos = #ids > 0 and d:inspect_all(ids) or {}
      for _, svc in ipairs(list) do
        if svc.err then
          ctx:crit("service." .. svc.service, tostring(svc.err))
        elseif #svc.containers == 0 then
          ctx:crit("service." .. svc.service, "no container for service " .. svc.service, { running = 0 })
        else
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
      return true
    end
    opsh.all { containers, systemd }
    for _, c in ipairs(units.checks) do ctx.checks[#ctx.checks + 1] = c end
  end,
}
