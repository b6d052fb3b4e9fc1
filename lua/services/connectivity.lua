-- Connectivity troubleshooting (the guide's `docker exec api ping qdrant`, `netstat -tlnp | grep
-- 6333`, `nslookup qdrant`): from inside each running service container, every other service is
-- resolved by name and connected to on its port (`nc -z`, or busybox's nc with stdin closed, run
-- with the Engine API's exec: the container needs an nc, as busybox images have); on the host, the services' ports are checked for
-- a listening socket in /proc/net/tcp and tcp6 (what netstat reads). A name that does not resolve
-- and a port that refuses are told apart.
local services = require "opsh.services"
local sys = require "opsh.sys"
local opsh = require "opsh"

-- listening TCP ports (opsh.sys.listening reads /proc/net/tcp and tcp6, as netstat does)
local function listening()
  local ports = {}
  for _, s in ipairs(sys.listening()) do
    if s.port then ports[s.port] = true end
  end
  return ports
end

return {
  description = "Connectivity: each service reaches the others by name from inside its container; ports listening on the host",
  categories = { "services", "check", "troubleshooting", "safe" },
  guide = {
    "common-issues-and-solutions.10", "common-issues-and-solutions.11",
    "common-issues-and-solutions.12", "common-issues-and-solutions.13",
    "common-issues-and-solutions.14",
  },
  args = {
    { name = "services", type = "list", help = "services (default: config services)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "timeout", type = "integer", default = 2, help = "seconds per connection attempt" },
  },
  notes = "Ports: config service_ports = { qdrant = 6333, dragonfly = 6379 } (the defaults).",
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local project, prerr = services.project(args.project, d)
    if prerr then return ctx:crit("docker", tostring(prerr)) end
    local names = services.names(args.services)
    local targets = {}
    for _, s in ipairs(names) do if services.port(s) then targets[#targets + 1] = s end end
    -- ports on the host
    local ports = listening()
    for _, s in ipairs(targets) do
      local p = services.port(s)
      if ports[p] then ctx:ok("port." .. s, string.format("port %d (%s) is listening", p, s), { port = p })
      else ctx:crit("port." .. s, string.format("nothing listens on port %d (%s)", p, s), { port = p }) end
    end
    -- from inside each container
    local fns = {}
    for _, svc in ipairs(services.resolve(d, names, project)) do
      for _, c in ipairs(svc.containers) do
        if c.State == "running" then
          for _, t in ipairs(targets) do
            if t ~= svc.service then
              fns[#fns + 1] = function()
                local from = services.name_of(c)
                local check = string.format("reach.%s.%s", from, t)
                -- busybox's nc has no -z: it connects and, with stdin at EOF, ends
                local cmd = string.format("nc -w %d %s %d </dev/null", args.timeout, t, services.port(t))
                local r, e = d:exec(services.name_of(c), { "/bin/sh", "-c", cmd .. " 2>&1" }, { timeout = args.timeout + 10 })
                if not r then return ctx:unknown(check, from .. ": exec failed: " .. tostring(e)) end
                if r.dry_run then return ctx:ok(check, "would run " .. cmd .. " in " .. from) end
                local out = (r.stdout or "") .. (r.stderr or "")
                if r.exit_code == 0 then
                  ctx:ok(check, string.format("%s reaches %s:%d", from, t, services.port(t)))
                elseif r.exit_code == 127 or out:find("not found", 1, true) then
                  ctx:unknown(check, from .. " has no nc to test with")
                elseif out:lower():find("bad address", 1, true) or out:lower():find("resolve", 1, true) then
                  ctx:crit(check, string.format("%s cannot resolve the name %s (DNS / host entries)", from, t))
                else
                  ctx:crit(check, string.format("%s resolves %s but cannot connect to port %d: %s", from, t, services.port(t), (out:gsub("%s+$", ""))))
                end
              end
            end
          end
        end
      end
    end
    opsh.all(fns)
  end,
}
