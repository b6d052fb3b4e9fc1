--- opsh.services: the stack's services as the service procedures (lua/services/) see them:
--- which services there are, which containers run each, their limits and how to reach them.
--- `local services = require "opsh.services"`.
---
--- A service is found by docker-compose's label com.docker.compose.service (optionally within
--- one project, com.docker.compose.project); a stack started without compose is found by the
--- container's name instead. Configuration (config.lua): `services` (a list of names, default the
--- guide's qdrant, dragonfly, task-worker), `compose_project` (else the project of `compose_file`,
--- see M.project), `service_limits` (per service:
--- memory, cpus, memory_reservation; default the guide's deploy.resources), `service_ports`.
local docker = require "opsh.docker"
local config = require "opsh.config"
local time = require "opsh.time"
local opsh = require "opsh"
local fs = require "opsh.fs"

local M = {}

M.DEFAULT = { "qdrant", "dragonfly", "task-worker" }

--- The guide's deploy.resources (System Administration / Service Limits). task-worker has none
--- in the guide.
M.GUIDE_LIMITS = {
  qdrant = { memory = "4g", cpus = 2.0, memory_reservation = "2g" },
  dragonfly = { memory = "2g", cpus = 1.0, memory_reservation = "1g" },
}

--- Where each service listens on the host (the stack uses host networking).
M.DEFAULT_PORTS = { qdrant = 6333, dragonfly = 6379 }

local function cfg(key)
  local ok, v = pcall(config.get, key)
  if ok then return v end
  return nil
end

--- The services to act on: the argument (a list, or "all"/empty), else config `services`, else the guide's.
function M.names(arg)
  if type(arg) == "table" and #arg > 0 and arg[1] ~= "all" then return arg end
  if type(arg) == "string" and arg ~= "" and arg ~= "all" then return { arg } end
  local c = cfg("services")
  if type(c) == "table" and #c > 0 then return c end
  return M.DEFAULT
end

--- What `docker-compose ps` lists: the services to report (M.names) and, when neither the
--- argument nor config `services` names them, every other service the compose project runs
--- (the local stack's api, an operator's own), after the guide's, sorted by name.
function M.reported(d, arg, project)
  local names = M.names(arg)
  if names ~= M.DEFAULT or not project then return names end
  local running = d:services(project)
  if not running then return names end   -- the lookups of each service report the failure
  local seen, extra = {}, {}
  for _, n in ipairs(names) do seen[n] = true end
  for n in pairs(running) do
    if not seen[n] and n ~= "?" then extra[#extra + 1] = n end
  end
  table.sort(extra)
  local out = { table.unpack(names) }
  for _, n in ipairs(extra) do out[#out + 1] = n end
  return out
end

M.CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"

--- The compose file the stack runs from: config `compose_file`, else docker-compose.yml in the
--- current directory (where docker-compose itself looks for it).
function M.compose_file()
  local f = cfg("compose_file")
  return type(f) == "string" and f ~= "" and f or "docker-compose.yml"
end

--- The application's environment file: `configured` when given, else the .env docker-compose
--- reads beside the compose file; nil when there is none.
function M.env_file(configured)
  if type(configured) == "string" and configured ~= "" then return configured end
  local dir = M.compose_file():match("^(.*)/[^/]*$") or "."
  local path = dir .. "/.env"
  return fs.exists(path) and path or nil
end

-- the project name docker-compose gives a file: its top-level `name:`, else its directory's
-- name lowercased, keeping only [a-z0-9_-]
local function compose_name(path)
  local text = fs.read(path, 1 << 20) or ""
  local n = text:match("^name:%s*[\"']?([%w_%-]+)") or text:match("\nname:%s*[\"']?([%w_%-]+)")
  if n then return n:lower() end
  local dir = path:match("^(.*)/[^/]*$") or "."
  return ((dir:match("([^/]+)$") or ""):lower():gsub("[^a-z0-9_%-]", ""))
end

--- The compose projects with containers on this host: {name = {config_files = {paths}}}.
function M.compose_projects(d)
  local list, err = d:containers { all = true, label = docker.PROJECT_LABEL }
  if not list then return nil, err end
  local out = {}
  for _, c in ipairs(list) do
    local l = c.Labels or {}
    local p = l[docker.PROJECT_LABEL]
    if p and not out[p] then
      local files = {}
      for f in (l[M.CONFIG_FILES_LABEL] or ""):gmatch("[^,]+") do files[#files + 1] = f end
      out[p] = { config_files = files }
    end
  end
  return out
end

--- The compose project to act on, or nil, err. The argument, else config `compose_project`,
--- else the project started from the compose file (M.compose_file(): the one whose containers
--- docker-compose labelled with that file, else the name docker-compose would give it), else the
--- only compose project on the host. Several projects and nothing to tell them apart is refused
--- (err.code "ambiguous"): a service action must never reach another project's containers. nil
--- with no error means no compose project runs here (a stack started without compose: services
--- are found by container name).
function M.project(arg, d)
  if arg and arg ~= "" then return arg end
  local p = cfg("compose_project")
  if type(p) == "string" and p ~= "" then return p end
  local projects, err = M.compose_projects(d)
  if not projects then return nil, err end
  local file = fs.realpath(M.compose_file())
  if file then
    local found = {}
    for name, info in pairs(projects) do
      local match = false
      for _, f in ipairs(info.config_files) do
        if f == file or fs.realpath(f) == file then match = true end
      end
      if match then found[#found + 1] = name end
    end
    if #found == 1 then return found[1] end
    table.sort(found)
    if #found > 1 then
      return nil, opsh.error("ambiguous", "compose projects " .. table.concat(found, ", ") .. " were all started from "
        .. file .. ": set compose_project or pass --project")
    end
    return compose_name(file)
  end
  local names = {}
  for name in pairs(projects) do names[#names + 1] = name end
  table.sort(names)
  if #names <= 1 then return names[1] end
  return nil, opsh.error("ambiguous", "containers of several compose projects run here (" .. table.concat(names, ", ")
    .. ") and no compose file says which is this stack's (" .. M.compose_file()
    .. " not found): set compose_project or compose_file, or pass --project")
end

--- The limits a service should have: config service_limits[service], else the guide's.
function M.limits(service)
  local c = cfg("service_limits")
  if type(c) == "table" and type(c[service]) == "table" then return c[service] end
  return M.GUIDE_LIMITS[service]
end

function M.port(service)
  local c = cfg("service_ports")
  if type(c) == "table" and tonumber(c[service]) then return tonumber(c[service]) end
  return M.DEFAULT_PORTS[service]
end

--- A connected client, or nil, err.
function M.connect(opts)
  local d, err = docker.connect(opts)
  if not d then return nil, err end
  return d
end

local function strip(n) return (string.gsub(n or "", "^/", "")) end
M.name_of = function(c) return strip(c.Names and c.Names[1] or c.Name or c.Id) end

--- The containers of one service (all states), by label, else by exact name; nil, err on failure.
function M.containers(d, service, project)
  local list, err = d:service_containers(service, project)
  if not list then return nil, err end
  if #list == 0 and not project then
    local c, e2 = d:find(service)
    if e2 then return nil, e2 end
    if c then list = { c } end
  end
  return list
end

--- Every service with its containers, concurrently: { {service =, containers =, err =}, ... }.
function M.resolve(d, names, project)
  local fns = {}
  for i, s in ipairs(names) do
    fns[i] = function()
      local list, err = M.containers(d, s, project)
      return { service = s, containers = list or {}, err = err }
    end
  end
  return { opsh.all(fns) }
end

--- Runs action(container, name) concurrently for every container of the services named by
--- `service` (one name, or nil for all of config services) in `project`; a service that cannot be
--- looked up or has no container is reported CRITICAL as `check.SERVICE` (with `hint` appended).
--- What the start, stop and restart procedures share.
function M.each_container(d, ctx, check, service, project, action, hint)
  local fns = {}
  local p, perr = M.project(project, d)
  if perr then return ctx:crit(check, tostring(perr)) end
  for _, svc in ipairs(M.resolve(d, M.names(service), p)) do
    if svc.err or #svc.containers == 0 then
      ctx:crit(check .. "." .. svc.service, svc.err and tostring(svc.err)
        or ("no container for service " .. svc.service .. (hint or "")))
    end
    for _, c in ipairs(svc.containers) do
      fns[#fns + 1] = function() return action(c, M.name_of(c)) end
    end
  end
  opsh.all(fns)
end

--- The containers of the services `names` in `project`, as {service =, c = container} in the
--- order of names, and the names with no container; nil, err when one cannot be looked up.
function M.containers_of(d, names, project)
  local out, none = {}, {}
  for _, svc in ipairs(names) do
    local list, err = M.containers(d, svc, project)
    if not list then return nil, err end
    if #list == 0 then none[#none + 1] = svc end
    for _, c in ipairs(list) do out[#out + 1] = { service = svc, c = c } end
  end
  return out, none
end

--- Recreates each container of `list` (as containers_of gives it) with `env` ({NAME = value}
--- changed, the rest of its environment kept: docker's recreate), each waited for until it runs
--- and is healthy (M.wait_healthy, timeout seconds), else put back as it was. Stops at the first
--- that fails. Returns the ones recreated ({service, id, name}) and the failure ({service, name,
--- err}) or nil.
function M.recreate_with_env(d, list, env, timeout)
  local done = {}
  local function check(id) return M.wait_healthy(d, id, timeout) end
  for _, e in ipairs(list) do
    local r, err = d:recreate(e.c.Id, { env = env, check = check })
    if not r then return done, { service = e.service, name = M.name_of(e.c), err = err } end
    done[#done + 1] = { service = e.service, id = r.id, name = r.name }
  end
  return done, nil
end

--- Seconds since an engine timestamp ("2026-11-29T05:31:02.123456789Z"), or nil.
function M.age(ts)
  if type(ts) ~= "string" or ts:sub(1, 4) == "0001" then return nil end
  local t = time.parse_iso((ts:gsub("%.%d+", "")))
  return t and (time.now() - t) or nil
end

--- One line about a container from its inspect document: state, health, uptime, restarts.
function M.describe(info)
  local s = info.State or {}
  local health = s.Health and s.Health.Status or "none"
  local up = s.Running and M.age(s.StartedAt)
  local text = string.format("%s: %s", strip(info.Name), s.Status or "?")
  if s.Running then
    text = text .. (up and (" for " .. time.format_duration(math.floor(up))) or "")
  elseif s.FinishedAt then
    text = text .. string.format(" (exit code %s)", tostring(s.ExitCode))
  end
  if health ~= "none" then text = text .. ", health " .. health end
  text = text .. string.format(", restarts %d", info.RestartCount or 0)
  return text, { running = s.Running and 1 or 0, restarts = info.RestartCount or 0,
                 uptime_s = up and math.floor(up) or 0, healthy = (health == "healthy" or health == "none") and 1 or 0 }
end

--- Waits until a container runs and, if it has a health check, is healthy: true, or nil, why.
function M.wait_healthy(d, id, timeout)
  local deadline = time.monotonic() + (timeout or 60)
  local last = "not checked"
  while time.monotonic() < deadline do
    local info, err = d:inspect(id)
    if not info then return nil, tostring(err) end
    local s = info.State
    if not s.Running then
      last = "not running (" .. tostring(s.Status) .. ")"
      if s.Status == "exited" or s.Status == "dead" then return nil, last end
    elseif not s.Health then
      return true
    elseif s.Health.Status == "healthy" then
      return true
    else
      last = "health " .. tostring(s.Health.Status)
      local log = s.Health.Log
      if type(log) == "table" and #log > 0 and log[#log].Output then
        last = last .. ": " .. tostring(log[#log].Output):gsub("%s+$", "")
      end
    end
    opsh.sleep(0.5)
  end
  return nil, last .. " after " .. tostring(timeout or 60) .. " s"
end

return M
