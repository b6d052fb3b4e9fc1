-- A service's logs (the guide's `docker-compose logs -f --tail=100 qdrant`), printed on stdout as
-- they come: "<container> | <line>" (stderr lines marked "!"). --follow keeps reading new lines
-- for --duration seconds (a procedure always ends); --match keeps only lines containing the text
-- (filtered natively, before Lua sees them). A container with a TTY has no separate stderr.
local services = require "opsh.services"
local opsh = require "opsh"

return {
  description = "Logs of a service: tail, since, follow for a bounded time, optional text filter",
  categories = { "services", "logs", "safe" },
  guide = { "service-management.4", "daily-commands.2", "task-queue-management.11" },
  args = {
    { name = "service", required = true, help = "service whose logs to show" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "tail", default = "100", help = "lines from the end of each container's log (or all)" },
    { name = "since", help = "only lines after this: a duration (24h) or ISO time" },
    { name = "follow", type = "boolean", default = false, help = "keep reading new lines" },
    { name = "duration", type = "number", default = 10, help = "seconds to follow before stopping" },
    { name = "match", help = "only lines containing this text" },
    { name = "ignore_case", type = "boolean", default = true, help = "--match ignores case" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local project, prerr = services.project(args.project, d)
    if prerr then return ctx:crit("docker", tostring(prerr)) end
    local list, lerr = services.containers(d, args.service, project)
    if not list then return ctx:crit("logs." .. args.service, tostring(lerr)) end
    if #list == 0 then return ctx:crit("logs." .. args.service, "no container for service " .. args.service) end
    local fns = {}
    for i, c in ipairs(list) do
      fns[i] = function()
        local name = services.name_of(c)
        local n = 0
        local ok, e = pcall(function()
          for line, stream in d:logs(services.name_of(c), { tail = args.tail, since = args.since, follow = args.follow,
              duration = args.follow and args.duration or nil, match = args.match, ignore_case = args.ignore_case }) do
            n = n + 1
            io.stdout:write(name, stream == "stderr" and " ! " or " | ", line, "\n")
          end
        end)
        if ok then ctx:ok("logs." .. name, string.format("%d line(s)", n), { lines = n })
        else ctx:crit("logs." .. name, string.format("after %d line(s): %s", n, tostring(e)), { lines = n }) end
      end
    end
    opsh.all(fns)
  end,
}
