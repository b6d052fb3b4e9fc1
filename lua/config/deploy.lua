-- Configuration deployment with automatic rollback: the new configuration is validated (YAML
-- syntax), the current one is kept as a verified rollback point (a config backup), the new one
-- is put in place atomically (staged beside the target and swapped in with one rename), the
-- services that read it are restarted and must come back healthy; if any does not, the rollback
-- point is swapped back in the same way, the services are restarted again, and the report says so.
-- A changed docker-compose.yml or .env is NOT applied by a restart and opsh does not recreate
-- containers from a compose file: the deploy then ends in a WARNING (deploy.recreate) that says
-- so and what to run.
local backup = require "opsh.backup"
local config = require "opsh.config"
local retention = require "opsh.retention"
local fs = require "opsh.fs"
local services = require "opsh.services"
local yaml = require "opsh.yaml"

local function restart_and_wait(d, names, project, timeout, stop_timeout)
  for _, svc in ipairs(names) do
    local list, err = services.containers(d, svc, project)
    if not list then return nil, svc .. ": " .. tostring(err) end
    if #list == 0 then return nil, svc .. ": no container" end
    for _, c in ipairs(list) do
      local ok, rerr = d:restart(c.Id, { timeout = stop_timeout })
      if not ok then return nil, services.name_of(c) .. ": restart failed: " .. tostring(rerr) end
    end
    for _, c in ipairs(list) do
      local ok, why = services.wait_healthy(d, c.Id, timeout)
      if not ok then return nil, services.name_of(c) .. " is not healthy: " .. tostring(why) end
    end
  end
  return true
end

-- What a restart does not apply: a container keeps the definition it was created with, and the
-- compose file and the .env it substitutes are read only when containers are (re)created.
local DEFINITIONS = { "docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml", ".env" }

--- The compose definition files the deploy changes (new or different), by name.
local function changed_definitions(from, to)
  local out = {}
  for _, f in ipairs(DEFINITIONS) do
    local new = fs.read(from .. "/" .. f, 16 << 20)
    if new and new ~= fs.read(to .. "/" .. f, 16 << 20) then out[#out + 1] = f end
  end
  return out
end

return {
  description = "Deploys configuration atomically: validate, rollback point, swap in, restart, health check, automatic rollback",
  categories = { "config", "deploy", "intrusive" },
  guide = {
    "configuration-deployment.1", "configuration-deployment.2", "configuration-deployment.3",
    "configuration-deployment.4",
  },
  args = {
    { name = "from", required = true, help = "directory holding the new configuration" },
    { name = "config_dir", default = "/app/config", help = "where the services read it" },
    { name = "services", type = "list", help = "services to restart (default: config services, else the guide's)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "health_timeout", type = "integer", default = 60 },
    { name = "stop_timeout", type = "integer", default = 30, help = "seconds between SIGTERM and SIGKILL on restart" },
    { name = "dir", help = "backup root (default: config backup_dir; rollback points go to DIR/config)" },
  },
  run = function(args, ctx)
    -- 1. validate
    local bad = 0
    for _, pat in ipairs { "/*.yml", "/*.yaml" } do
      for _, f in ipairs(fs.glob(args.from .. pat)) do
        local ok, err = yaml.check(assert(fs.read(f, 16 << 20)))
        if not ok then bad = bad + 1; ctx:crit("deploy.validate", "invalid YAML: " .. f .. ": " .. tostring(err)) end
      end
    end
    if bad > 0 then return ctx:crit("deploy", "nothing deployed: the new configuration does not validate") end
    ctx:ok("deploy.validate", "the new configuration is valid YAML")
    local root = retention.root(args.dir or config.get("backup_dir"), "config")
    local names = services.names(args.services)
    local d, derr = services.connect()
    if not d then return ctx:crit("deploy", "Docker: " .. tostring(derr)) end
    local project, prerr = services.project(args.project, d)
    if prerr then return ctx:crit("deploy", "nothing deployed: " .. tostring(prerr)) end
    -- 2. rollback point (verified), and the new configuration as a backup of its own
    local function snapshot(tier, path, description)
      local w = assert(backup.begin { root = root, tier = tier, meta = { description = description,
        operator = os.getenv("SUDO_USER") or os.getenv("USER") or "unknown" } })
      local ok, err = w:add_tree("config", path)
      if not ok then w:abort(); return nil, err end
      local m, cerr = w:commit()
      if not m then return nil, cerr end
      if m.dry_run then return m end
      local v = backup.verify(m.path)
      if not v.ok then return nil, v.problems[1] end
      return m
    end
    local before, berr = snapshot("config", args.config_dir, "rollback point before deploy")
    if not before then return ctx:crit("deploy", "no rollback point, nothing deployed: " .. tostring(berr)) end
    local new, nerr = snapshot("deploy", args.from, "deployed configuration")
    if not new then return ctx:crit("deploy", "cannot stage the new configuration: " .. tostring(nerr)) end
    local definitions = changed_definitions(args.from, args.config_dir)
    local not_applied = #definitions > 0 and (table.concat(definitions, " and ") .. " changed: a restart does not apply "
      .. "a compose file or .env (a container keeps the definition it was created with) and opsh did NOT recreate the "
      .. "containers: recreate them with `docker compose up -d` in " .. args.config_dir) or nil
    if new.dry_run then
      ctx:ok("deploy", "would put " .. args.from .. " in place at " .. args.config_dir .. " and restart " .. table.concat(names, ", "))
      if not_applied then ctx:warn("deploy.recreate", not_applied) end
      return
    end
    ctx:ok("deploy.rollback_point", before.path)
    -- 3. swap in, restart, health
    local r, rerr = backup.restore(new.path, "config", args.config_dir)
    if not r then return ctx:crit("deploy", "could not put the configuration in place (unchanged): " .. tostring(rerr)) end
    local ok, why = restart_and_wait(d, names, project, args.health_timeout, args.stop_timeout)
    if ok then
      ctx:ok("deploy", string.format("%s deployed to %s; %s restarted and healthy", args.from, args.config_dir, table.concat(names, ", ")))
      if not_applied then ctx:warn("deploy.recreate", not_applied) end
      return
    end
    -- 4. rollback
    ctx:crit("deploy.health", why)
    local back, berr2 = backup.restore(before.path, "config", args.config_dir)
    if not back then return ctx:crit("deploy.rollback", "ROLLBACK FAILED, the new configuration is still in place: " .. tostring(berr2)) end
    local ok2, why2 = restart_and_wait(d, names, project, args.health_timeout, args.stop_timeout)
    if ok2 then
      ctx:crit("deploy", "deploy failed and was rolled back to " .. before.name .. "; services healthy again")
    else
      ctx:crit("deploy.rollback", "rolled back to " .. before.name .. " but still unhealthy: " .. tostring(why2))
    end
  end,
}
