-- Services' logs (the guide's `docker-compose logs -f --tail=100 qdrant`, and without a service
-- `docker-compose logs -f --tail=100`: every service), printed on stdout: "<name> | <line>"
-- (stderr lines marked "!"). Without --service, every container of the compose project (never
-- another project's), each line prefixed with its service (service-N where a service has several
-- containers); with --service, that service's containers, prefixed with the container's name.
-- The lines of all containers are interleaved by their timestamps (the engine's, read with the
-- lines and left out of the output unless --timestamps). --follow then prints new lines as they
-- come, for --duration seconds (a procedure always ends); --grep (or --match) keeps only lines
-- containing the text, filtered natively before Lua sees them. A container with a TTY has no
-- separate stderr.
local services = require "opsh.services"
local docker = require "opsh.docker"
local opsh = require "opsh"

-- The engine's RFC 3339 timestamps drop trailing zeros of the fraction ("...:05.1Z",
-- "...:05.123456789Z"): padded to nine digits they sort as text.
local function sort_key(ts)
  local whole, frac = ts:match("^([^.Z]+)%.?(%d*)Z$")
  if not whole then return ts end
  return whole .. "." .. frac .. string.rep("0", 9 - #frac)
end

-- Each container's display name: its own name for one service; for every service, the service
-- (with its number when the service has several containers).
local function display_names(list, by_service)
  local per, names = {}, {}
  for _, c in ipairs(list) do
    local s = (c.Labels or {})[docker.SERVICE_LABEL]
    if s then per[s] = (per[s] or 0) + 1 end
  end
  for i, c in ipairs(list) do
    local l = c.Labels or {}
    local s = l[docker.SERVICE_LABEL]
    if not by_service or not s then names[i] = services.name_of(c)
    elseif per[s] > 1 then names[i] = s .. "-" .. (l[docker.NUMBER_LABEL] or tostring(i))
    else names[i] = s end
  end
  return names
end

return {
  description = "Logs of one service or every service of the compose project, interleaved by time: tail, since, grep, follow for a bounded time",
  categories = { "services", "logs", "safe" },
  guide = { "service-management.4", "daily-commands.2", "task-queue-management.11" },
  args = {
    { name = "service", help = "service whose logs to show (default: every service of the compose project)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "tail", default = "100", help = "lines from the end of each container's log (or all)" },
    { name = "since", help = "only lines after this: a duration (24h) or ISO time" },
    { name = "follow", type = "boolean", default = false, help = "keep reading new lines" },
    { name = "duration", type = "number", default = 10, help = "seconds to follow before stopping" },
    { name = "grep", help = "only lines containing this text (the guide's | grep)" },
    { name = "match", help = "the same as --grep" },
    { name = "ignore_case", type = "boolean", default = true, help = "--grep ignores case" },
    { name = "timestamps", type = "boolean", default = false, help = "print each line's timestamp" },
  },
  run = function(args, ctx)
    local d, err = services.connect()
    if not d then return ctx:crit("docker", tostring(err)) end
    local project, prerr = services.project(args.project, d)
    if prerr then return ctx:crit("docker", tostring(prerr)) end
    local match = args.grep or args.match
    local list
    if args.service then
      local lerr
      list, lerr = services.containers(d, args.service, project)
      if not list then return ctx:crit("logs." .. args.service, tostring(lerr)) end
      if #list == 0 then return ctx:crit("logs." .. args.service, "no container for service " .. args.service) end
    elseif project then
      local lerr
      list, lerr = d:containers { all = true, project = project }
      if not list then return ctx:crit("logs", tostring(lerr)) end
      if #list == 0 then return ctx:crit("logs", "no container of compose project " .. project) end
      table.sort(list, function(a, b) return services.name_of(a) < services.name_of(b) end)
    else
      -- no compose project runs here: the configured services, found by container name
      list = {}
      for _, svc in ipairs(services.resolve(d, services.names(nil), nil)) do
        for _, c in ipairs(svc.containers) do list[#list + 1] = c end
        if #svc.containers == 0 then ctx:unknown("logs." .. svc.service, svc.err and tostring(svc.err) or "no container for service " .. svc.service) end
      end
      if #list == 0 then return end
    end
    local names = display_names(list, not args.service)
    local counts, failed = {}, {}

    local function emit(name, ts, line, stream)
      io.stdout:write(name, stream == "stderr" and " ! " or " | ", args.timestamps and (ts .. " ") or "", line, "\n")
    end

    -- what is there now, every container read at once, merged by timestamp
    local lines, last = {}, {}
    local fns = {}
    local read_at = os.time()
    for i, c in ipairs(list) do
      fns[i] = function()
        local got = {}
        local ok, e = pcall(function()
          for line, stream in d:logs(services.name_of(c), { tail = args.tail, since = args.since, timestamps = true,
              match = match, ignore_case = args.ignore_case }) do
            local ts, text = line:match("^(%S+) (.*)$")
            if not ts then ts, text = line, "" end
            got[#got + 1] = { key = sort_key(ts), ts = ts, text = text, stream = stream, from = i, seq = #got + 1 }
          end
        end)
        if not ok then failed[i] = tostring(e) end
        return got
      end
    end
    local results = { opsh.all(fns) }
    for i, got in ipairs(results) do
      counts[i] = #got
      if got[#got] then last[i] = got[#got] end
      for _, l in ipairs(got) do lines[#lines + 1] = l end
    end
    table.sort(lines, function(a, b)
      if a.key ~= b.key then return a.key < b.key end
      if a.from ~= b.from then return a.from < b.from end
      return a.seq < b.seq
    end)
    for _, l in ipairs(lines) do emit(names[l.from], l.ts, l.text, l.stream) end
    io.stdout:flush()

    -- then new lines as they come, from where each container's read ended
    if args.follow then
      for i, c in ipairs(list) do
        fns[i] = function()
          if failed[i] then return true end
          local ok, e = pcall(function()
            -- since is whole seconds: the lines of the last one read come again and are skipped
            for line, stream in d:logs(services.name_of(c), { since = last[i] and last[i].ts or read_at, tail = "all",
                follow = true, duration = args.duration, timestamps = true, match = match, ignore_case = args.ignore_case }) do
              local ts, text = line:match("^(%S+) (.*)$")
              if not ts then ts, text = line, "" end
              if not last[i] or sort_key(ts) > last[i].key then
                counts[i] = counts[i] + 1
                emit(names[i], ts, text, stream)
                io.stdout:flush()
              end
            end
          end)
          if not ok then failed[i] = tostring(e) end
          return true
        end
      end
      opsh.all(fns)
    end

    for i, c in ipairs(list) do
      local check = "logs." .. services.name_of(c)
      if failed[i] then ctx:crit(check, string.format("after %d line(s): %s", counts[i], failed[i]), { lines = counts[i] })
      else ctx:ok(check, string.format("%d line(s)", counts[i]), { lines = counts[i] }) end
    end
  end,
}
