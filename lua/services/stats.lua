-- Container resource usage: the guide's `docker stats --no-stream` table (Container, CPU %,
-- memory usage / limit, memory %), from one stats sample per container taken all at once (the
-- engine needs about a second per sample, so the whole table takes about a second). CPU % and
-- memory % are computed as `docker stats` computes them (opsh.docker.compute_stats documents the
-- formula for cgroup v1 and v2).
local services = require "opsh.services"
local units = require "opsh.units"

return {
  description = "Container resource usage: CPU %, memory usage/limit and %, network and block I/O (docker stats --no-stream)",
  categories = { "services", "check", "resources", "safe" },
  guide = { "service-management.5", "capacity-planning.4", "daily-commands.3" },
  args = {
    { name = "all", type = "boolean", default = false, help = "every running container, not only the services'" },
    { name = "services", type = "list", help = "services to report (default: config services)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "cpu_warn", type = "number", default = 80, help = "CPU % for WARNING (100 = one core)" },
    { name = "mem_warn", type = "number", default = 80, help = "memory % of the limit for WARNING" },
    { name = "mem_crit", type = "number", default = 95, help = "memory % of the limit for CRITICAL" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local project, prerr = services.project(args.project, d)
    if prerr then return ctx:crit("docker", tostring(prerr)) end
    local ids = {}
    if args.all then
      local list, lerr = d:containers()
      if not list then return ctx:crit("docker", tostring(lerr)) end
      for _, c in ipairs(list) do ids[#ids + 1] = services.name_of(c) end
    else
      for _, svc in ipairs(services.resolve(d, services.names(args.services), project)) do
        if #svc.containers == 0 then ctx:unknown("stats." .. svc.service, svc.err and tostring(svc.err) or "no container for service " .. svc.service) end
        for _, c in ipairs(svc.containers) do
          if c.State == "running" then ids[#ids + 1] = services.name_of(c)
          else ctx:warn("stats." .. services.name_of(c), services.name_of(c) .. " is " .. tostring(c.State)) end
        end
      end
    end
    local stats, errors = d:stats(ids)
    for id, e in pairs(errors) do ctx:unknown("stats." .. id, tostring(e)) end
    for _, s in ipairs(stats) do
      local text = string.format("CPU %.2f%%  MEM %s / %s (%.2f%%)  NET %s / %s  BLOCK %s / %s  PIDS %d",
        s.cpu_percent, units.bytes_text(s.memory_used), units.bytes_text(s.memory_limit), s.memory_percent,
        units.bytes_text(s.net_rx), units.bytes_text(s.net_tx), units.bytes_text(s.block_read), units.bytes_text(s.block_write), s.pids)
      local m = { cpu_percent = s.cpu_percent, memory_bytes = s.memory_used, memory_limit_bytes = s.memory_limit, memory_percent = s.memory_percent, pids = s.pids }
      if s.memory_percent >= args.mem_crit then ctx:crit("stats." .. s.name, text, m)
      elseif s.memory_percent >= args.mem_warn or s.cpu_percent >= args.cpu_warn then ctx:warn("stats." .. s.name, text, m)
      else ctx:ok("stats." .. s.name, text, m) end
    end
  end,
}
