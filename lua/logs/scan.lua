-- The guide's centralized log analysis in one native pass (opsh.logs) over the application
-- logs: error counts per file (`grep -c "ERROR" *.log | sort -t: -k2 -nr`), performance warnings
-- (`grep -E "(timeout|slow|high_latency)"`), security events (`grep -E
-- "(unauthorized|forbidden|attack)"`), within the window by the lines' own timestamps; the
-- services' container logs the same way (their lines filtered natively by the Docker module);
-- and the system's errors from the journal (`journalctl --since ... --priority=err`).
local logs = require "opsh.logs"
local sys = require "opsh.sys"
local time = require "opsh.time"
local opsh = require "opsh"
local services = require "opsh.services"

local SETS = {
  errors = { regex = "ERROR" },
  performance = { regex = "(timeout|slow|high_latency)" },
  security = { regex = "(unauthorized|forbidden|attack)" },
}
local WORDS = { "ERROR", "timeout", "slow", "high_latency", "unauthorized", "forbidden", "attack" }

local function quote(samples, n)
  local out = {}
  for k = math.max(1, #samples - n + 1), #samples do
    local s = samples[k]
    out[#out + 1] = string.format("%s:%d: %s", s.file, s.line, s.text)
  end
  return table.concat(out, " | ")
end

local function base(path) return (path:match("[^/]+$") or path) end

return {
  description = "Log analysis: errors per file, performance warnings, security events, container logs and the journal's errors",
  categories = { "logs", "check", "daily", "safe" },
  guide = { "log-analysis.1", "log-analysis.2", "log-analysis.3", "log-analysis.4" },
  args = {
    { name = "file", type = "list", default = { "/var/log/ai-docs/*.log" }, help = "log files, repeatable, globs allowed" },
    { name = "since", default = "24h", help = "window by the lines' own timestamps: a duration or ISO time" },
    { name = "containers", type = "boolean", default = true, help = "also scan the services' container logs (Docker)" },
    { name = "services", type = "list", help = "services whose containers to scan (default: config services)" },
    { name = "journal", type = "boolean", default = true, help = "also read the journal's errors (journalctl --priority=err)" },
    { name = "journal_file", help = "read this journal file instead of the system's (journalctl --file)" },
    { name = "errors_warn", type = "integer", default = 1, help = "ERROR lines (all files) for WARNING" },
    { name = "performance_warn", type = "integer", default = 1, help = "performance warnings for WARNING" },
    { name = "security_warn", type = "integer", default = 1, help = "security events for WARNING" },
    { name = "journal_warn", type = "integer", default = 1, help = "journal errors for WARNING" },
    { name = "show", type = "integer", default = 10, help = "last lines quoted per check" },
  },
  run = function(args, ctx)
    local since = time.parse_iso(args.since) or time.since(args.since)
    local window = " since " .. time.iso(since)
    local r, err = logs.scan { files = args.file, since = since, sets = SETS, samples = args.show }
    if not r then return ctx:unknown("logs.scan", tostring(err)) end
    local per = {}          -- every source (file or container) with its counts
    for _, f in ipairs(r.files) do
      if f.readable then per[#per + 1] = { name = f.path, lines = f.lines, sets = f.sets } end
    end
    local samples = { errors = {}, performance = {}, security = {} }
    for name, s in pairs(r.sets) do samples[name] = s.samples end
    local problems = {}
    for _, p in ipairs(r.problems) do problems[#problems + 1] = p.text end

    -- the services' containers: only lines with one of the words leave the Docker module
    if args.containers then
      local d, derr = services.connect()
      if not d then
        ctx:ok("logs.containers", "container logs not scanned: " .. tostring(derr) .. " (--no-containers to skip)")
      else
        local fns = {}
        local project, perr = services.project(nil, d)
        if perr then problems[#problems + 1] = "containers: " .. tostring(perr) end
        for _, svc in ipairs(perr and {} or services.resolve(d, services.names(args.services), project)) do
          for _, c in ipairs(svc.containers) do
            fns[#fns + 1] = function()
              local name = "container:" .. services.name_of(c)
              local feeder = assert(logs.feeder(name, { sets = SETS, samples = args.show }))
              local ok, e = pcall(function()
                for line in d:logs(services.name_of(c), { since = args.since, match = WORDS }) do feeder:feed(line .. "\n") end
              end)
              if not ok then problems[#problems + 1] = name .. ": " .. tostring(e) end
              local fr = feeder:report()
              per[#per + 1] = { name = name, lines = fr.lines, sets = { errors = fr.sets.errors.count,
                performance = fr.sets.performance.count, security = fr.sets.security.count } }
              for set, s in pairs(fr.sets) do
                for _, smp in ipairs(s.samples) do table.insert(samples[set], smp) end
              end
            end
          end
        end
        opsh.all(fns)
      end
    end
    if #problems > 0 then
      ctx:warn("logs.input", string.format("%d problem(s): %s", #problems, table.concat(problems, "; ", 1, math.min(#problems, 5))),
        { problems = #problems })
    end

    -- 1. error counts per source, most first
    table.sort(per, function(a, b)
      if a.sets.errors ~= b.sets.errors then return a.sets.errors > b.sets.errors end
      return a.name < b.name
    end)
    local total, parts, m = 0, {}, {}
    for _, p in ipairs(per) do
      total = total + p.sets.errors
      m[base(p.name)] = p.sets.errors
      parts[#parts + 1] = string.format("%s:%d", base(p.name), p.sets.errors)
    end
    m.errors = total
    m.sources = #per
    ctx:threshold("logs.errors", total, args.errors_warn, nil,
      string.format("%d ERROR line(s) in %d source(s)%s%s", total, #per, window, #parts > 0 and (": " .. table.concat(parts, ", ")) or ""), m)

    -- 2. performance warnings, 3. security events
    for _, set in ipairs { "performance", "security" } do
      local n = 0
      for _, p in ipairs(per) do n = n + p.sets[set] end
      local text = string.format("%d line(s) with %s%s", n, SETS[set].regex, window)
      if n > 0 then text = text .. "; last: " .. quote(samples[set], args.show) end
      ctx:threshold("logs." .. set, n, args[set .. "_warn"], nil, text, { [set] = n })
    end

    -- 4. the journal's errors
    if args.journal then
      local argv = { "journalctl", "--since", os.date("!%Y-%m-%d %H:%M:%S UTC", math.floor(since)), "--priority=err", "-o", "json", "--no-pager" }
      if args.journal_file then table.insert(argv, 2, "--file"); table.insert(argv, 3, args.journal_file) end
      local out, jerr = sys.exec(argv, { timeout = 60, max_bytes = 64 << 20, read_only = true })
      if not out then
        ctx:unknown("logs.journal", "journalctl: " .. tostring(jerr))
      elseif out.status ~= 0 then
        ctx:unknown("logs.journal", "journalctl exited " .. tostring(out.status) .. ": " .. (out.stderr:match("[^\n]+") or ""))
      else
        local j = assert(logs.journal(out.stdout, { keep = args.show }))
        local units, jm = {}, { journal_errors = j.entries }
        for k, u in ipairs(j.units) do
          if k <= 5 then units[#units + 1] = string.format("%s %d", u.unit, u.count) end
        end
        local last = {}
        for _, e in ipairs(j.last) do last[#last + 1] = string.format("%s %s: %s", time.iso(e.time), e.unit, e.message) end
        local text = string.format("%d journal error(s)%s", j.entries, window)
        if j.entries > 0 then text = text .. " (" .. table.concat(units, ", ") .. "); last: " .. table.concat(last, " | ") end
        if out.truncated then text = text .. " (output cut at 64 MiB)" end
        ctx:threshold("logs.journal", j.entries, args.journal_warn, nil, text, jm)
      end
    end
  end,
}
