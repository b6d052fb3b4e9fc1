-- Service limits checked against the configuration (the guide's deploy.resources: qdrant 4G /
-- 2 CPUs, reservation 2G; dragonfly 2G / 1 CPU, reservation 1G; config.lua service_limits
-- overrides them per service). Each container's HostConfig (Memory, NanoCpus,
-- MemoryReservation) is compared; a missing or different limit is a WARNING. --apply sets the
-- configured limits on the running containers (POST /containers/{id}/update: no restart needed);
-- under --dry-run it says what it would set.
local services = require "opsh.services"
local docker = require "opsh.docker"
local units = require "opsh.units"

local function want(limits)
  local r = docker.resources(limits)
  return { Memory = r.Memory, NanoCpus = r.NanoCpus, MemoryReservation = r.MemoryReservation }
end

local function show(field, v)
  if v == nil or v == 0 then return "none" end
  if field == "NanoCpus" then return string.format("%g CPUs", v / 1e9) end
  return units.bytes_text(v)
end

local LABEL = { Memory = "memory", NanoCpus = "cpus", MemoryReservation = "memory reservation" }

return {
  description = "Checks each service's memory and CPU limits against the configuration (deploy.resources); --apply sets them",
  categories = { "services", "check", "resources", "intrusive" },
  guide = { "system-configuration.2" },
  args = {
    { name = "services", type = "list", help = "services to check (default: config services)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "apply", type = "boolean", default = false, help = "set the configured limits on containers that differ" },
  },
  notes = "Limits come from config.lua service_limits = { qdrant = { memory = \"4g\", cpus = 2, memory_reservation = \"2g\" }, ... }, else the guide's.",
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local project, prerr = services.project(args.project, d)
    if prerr then return ctx:crit("docker", tostring(prerr)) end
    for _, svc in ipairs(services.resolve(d, services.names(args.services), project)) do
      local limits = services.limits(svc.service)
      if #svc.containers == 0 then
        ctx:unknown("limits." .. svc.service, svc.err and tostring(svc.err) or "no container for service " .. svc.service)
      elseif not limits then
        ctx:ok("limits." .. svc.service, "no limits configured for " .. svc.service .. " (config service_limits)")
      else
        local w = want(limits)
        for _, c in ipairs(svc.containers) do
          local name = services.name_of(c)
          local info, ierr = d:inspect(c.Id)
          if not info then ctx:unknown("limits." .. name, tostring(ierr)) else
            local hc, diffs, have = info.HostConfig, {}, {}
            for _, f in ipairs { "Memory", "NanoCpus", "MemoryReservation" } do
              if w[f] then
                have[#have + 1] = LABEL[f] .. " " .. show(f, hc[f])
                if (hc[f] or 0) ~= w[f] then diffs[#diffs + 1] = string.format("%s %s, configured %s", LABEL[f], show(f, hc[f]), show(f, w[f])) end
              end
            end
            local m = { memory_bytes = hc.Memory or 0, cpus = (hc.NanoCpus or 0) / 1e9 }
            if #diffs == 0 then
              ctx:ok("limits." .. name, name .. ": " .. table.concat(have, ", ") .. " as configured", m)
            elseif not args.apply then
              ctx:warn("limits." .. name, name .. ": " .. table.concat(diffs, "; ") .. " (--apply sets them)", m)
            else
              local r, uerr = d:update(c.Id, limits)
              if not r then ctx:crit("limits." .. name, name .. ": update failed: " .. tostring(uerr), m)
              elseif r.dry_run then ctx:ok("limits." .. name, name .. ": would set " .. table.concat(diffs, "; "), m)
              else ctx:ok("limits." .. name, name .. ": set (" .. table.concat(diffs, "; ") .. ")", m) end
            end
          end
        end
      end
    end
  end,
}
