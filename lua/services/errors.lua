-- Error lines in the last 24 hours across all services: the guide's
-- `docker logs --since 24h qdrant | grep -i error` for every service at once. The match runs
-- natively on the log stream (lines that do not match never reach Lua), all containers are read
-- concurrently, and the report gives counts per container with the last few lines.
local services = require "opsh.services"
local opsh = require "opsh"

return {
  description = "Error lines in the services' logs over a window (docker logs --since 24h | grep -i error)",
  categories = { "services", "logs", "check", "daily", "safe" },
  guide = { "daily-checklist.5", "daily-tasks.2" },
  args = {
    { name = "services", type = "list", help = "services to scan (default: config services)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "since", default = "24h", help = "window: a duration or ISO time" },
    { name = "match", type = "list", default = { "error" }, help = "texts that make a line an error line (any of them)" },
    { name = "case_sensitive", type = "boolean", default = false, help = "match case (grep without -i)" },
    { name = "warn", type = "integer", default = 1, help = "error lines per container for WARNING" },
    { name = "crit", type = "integer", help = "error lines per container for CRITICAL (default: none)" },
    { name = "show", type = "integer", default = 3, help = "last error lines quoted per container" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local project, prerr = services.project(args.project, d)
    -- which logs to read is not known: nothing was read (UNKNOWN, as when a log cannot be read)
    if prerr then return ctx:unknown("docker", tostring(prerr)) end
    local fns = {}
    for _, svc in ipairs(services.resolve(d, services.names(args.services), project)) do
      if svc.err or #svc.containers == 0 then
        ctx:unknown("errors." .. svc.service, svc.err and tostring(svc.err) or ("no container for service " .. svc.service))
      end
      for _, c in ipairs(svc.containers) do
        fns[#fns + 1] = function()
          local name = services.name_of(c)
          local n, last = 0, {}
          local stream
          local ok, e = pcall(function()
            local it
            it, stream = d:logs(services.name_of(c), { since = args.since, match = args.match, ignore_case = not args.case_sensitive })
            for line in it do
              n = n + 1
              last[#last + 1] = line
              if #last > args.show then table.remove(last, 1) end
            end
          end)
          if not ok then return ctx:unknown("errors." .. name, tostring(e)) end
          local counts = stream:counts()
          local text = string.format("%d error line(s) in %d line(s) since %s", n, counts.lines, args.since)
          if n > 0 then text = text .. "; last: " .. table.concat(last, " / ") end
          local m = { error_lines = n, lines_scanned = counts.lines, bytes_scanned = counts.bytes }
          if args.crit and n >= args.crit then ctx:crit("errors." .. name, text, m)
          elseif args.warn and n >= args.warn then ctx:warn("errors." .. name, text, m)
          else ctx:ok("errors." .. name, text, m) end
        end
      end
    end
    opsh.all(fns)
  end,
}
