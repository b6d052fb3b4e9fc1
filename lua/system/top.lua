-- The top memory and CPU consumers: the guide's memory troubleshooting (`ps aux --sort=-%mem |
-- head -10`) and `top -bn1`, read natively from /proc (opsh.sys.processes): resident memory of
-- every process, and CPU over --interval from two readings of each /proc/PID/stat, as top does.
-- One check per process, so the text report reads as a table and --json carries each figure.
local opsh = require "opsh"
local sys = require "opsh.sys"
local units = require "opsh.units"
local thresholds = require "opsh.thresholds"

return {
  description = "Top processes by memory and by CPU (the guide's memory troubleshooting), with user and command line",
  categories = { "system", "troubleshooting", "safe" },
  guide = { "common-issues-and-solutions.2", "daily-checklist.7" },
  notes = "Changes nothing and writes nothing: reads /proc only.",
  args = {
    { name = "top", type = "integer", default = 10, help = "processes listed in each list" },
    { name = "sort", default = "both", help = "memory, cpu or both" },
    { name = "interval", type = "number", default = 0.5, help = "seconds CPU use is measured over" },
    { name = "memory_warn", type = "number", help = "one process's share of memory (%) for WARNING (default: none)" },
    { name = "cpu_warn", type = "number", help = "one process's CPU % (of one core) for WARNING (default: none)" },
  },
  run = function(args, ctx)
    if args.sort ~= "memory" and args.sort ~= "cpu" and args.sort ~= "both" then
      return ctx:unknown("system.top", "--sort must be memory, cpu or both, not " .. tostring(args.sort))
    end
    local memory_warn = thresholds.get(args, "top", "memory_warn", nil)
    local cpu_warn = thresholds.get(args, "top", "cpu_warn", nil)
    local fns, kinds = {}, {}
    if args.sort ~= "cpu" then
      kinds[#kinds + 1] = "memory"
      fns[#fns + 1] = function() return sys.processes { sort = "memory", top = args.top } end
    end
    if args.sort ~= "memory" then
      kinds[#kinds + 1] = "cpu"
      fns[#fns + 1] = function() return sys.processes { sort = "cpu", top = args.top, interval = args.interval } end
    end
    local lists = { opsh.all(fns) }
    local function shorten(cmd) return #cmd > 160 and cmd:sub(1, 157) .. "..." or cmd end
    for i, kind in ipairs(kinds) do
      for rank, p in ipairs(lists[i]) do
        local value = kind == "memory" and p.memory_percent or p.cpu_percent
        local limit = kind == "memory" and memory_warn or cpu_warn
        local figure = kind == "memory" and string.format("%s (%.1f%%)", units.bytes_text(p.rss), p.memory_percent)
          or string.format("%.1f%% CPU", p.cpu_percent)
        ctx[thresholds.level(value, limit, nil)](ctx, string.format("system.top.%s.%d", kind, rank),
          string.format("%s pid %d %s: %s", figure, p.pid, p.user, shorten(p.command)),
          { pid = p.pid, ppid = p.ppid, rss_bytes = p.rss, memory_percent = p.memory_percent, cpu_percent = p.cpu_percent })
      end
    end
  end,
}
