-- System resources: the guide's `top`, `free -h` and `df -h` as checks, read from /proc and
-- statvfs (opsh.fs.df) instead of parsing the tools' output.
-- Memory counts MemAvailable (what the kernel can give without swapping), not MemFree; load is
-- the 1-minute average per CPU (the guide's auto-tuning uses the same ratio); disk is each
-- configured path's filesystem, used / (used + available) as df computes it.
local fs = require "opsh.fs"
local config = require "opsh.config"
local units = require "opsh.units"

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

local level = require("opsh.thresholds").level

return {
  description = "System resources: memory, swap, load per CPU and disk usage of the data paths",
  categories = { "system", "check", "daily", "safe" },
  guide = { "Daily Operations / Daily Checklist (4. Monitor disk usage, 7. Check system resources)",
    "Resource Management / Capacity Planning (Resource utilization monitoring)" },
  args = {
    { name = "paths", type = "list", help = "filesystems to check, by a path on each (default: config disk_paths, else /)" },
    { name = "disk_warn", type = "number", default = 80, help = "disk used % for WARNING" },
    { name = "disk_crit", type = "number", default = 90, help = "disk used % for CRITICAL" },
    { name = "memory_warn", type = "number", default = 85, help = "memory used % (of MemTotal, by MemAvailable) for WARNING" },
    { name = "memory_crit", type = "number", default = 95, help = "memory used % for CRITICAL" },
    { name = "load_warn", type = "number", default = 0.8, help = "1-minute load per CPU for WARNING (the guide's high-load ratio)" },
    { name = "load_crit", type = "number", default = 2.0, help = "1-minute load per CPU for CRITICAL" },
  },
  run = function(args, ctx)
    local mem = {}
    for k, v in (read("/proc/meminfo") or ""):gmatch("([%w_()]+):%s+(%d+)") do mem[k] = tonumber(v) * 1024 end
    if mem.MemTotal and mem.MemAvailable then
      local used = (mem.MemTotal - mem.MemAvailable) / mem.MemTotal * 100
      ctx[level(used, args.memory_warn, args.memory_crit)](ctx, "system.memory",
        string.format("%.1f%% used: %s available of %s", used, units.bytes_text(mem.MemAvailable), units.bytes_text(mem.MemTotal)),
        { used_percent = used, available_bytes = mem.MemAvailable, total_bytes = mem.MemTotal })
      if (mem.SwapTotal or 0) > 0 then
        local swap = (mem.SwapTotal - (mem.SwapFree or 0)) / mem.SwapTotal * 100
        ctx:ok("system.swap", string.format("%.1f%% of %s used", swap, units.bytes_text(mem.SwapTotal)), { used_percent = swap })
      end
    else
      ctx:unknown("system.memory", "/proc/meminfo is not readable")
    end

    local load1, load5, load15 = (read("/proc/loadavg") or ""):match("^(%S+)%s+(%S+)%s+(%S+)")
    local cpus = 0
    for _ in (read("/proc/cpuinfo") or ""):gmatch("processor%s*:") do cpus = cpus + 1 end
    cpus = math.max(cpus, 1)
    if load1 then
      local ratio = tonumber(load1) / cpus
      ctx[level(ratio, args.load_warn, args.load_crit)](ctx, "system.load",
        string.format("load %s %s %s on %d CPU%s (%.2f per CPU)", load1, load5, load15, cpus, cpus == 1 and "" or "s", ratio),
        { load1 = tonumber(load1), per_cpu = ratio, cpus = cpus })
    else
      ctx:unknown("system.load", "/proc/loadavg is not readable")
    end

    local paths = args.paths or config.get("disk_paths") or { "/" }
    if type(paths) == "string" then paths = { paths } end
    for _, path in ipairs(paths) do
      local d, err = fs.df(path)
      if not d then
        ctx:unknown("system.disk." .. path, tostring(err))
      else
        ctx[level(d.used_percent, args.disk_warn, args.disk_crit)](ctx, "system.disk." .. path,
          string.format("%.1f%% used, %s available of %s", d.used_percent, units.bytes_text(d.available), units.bytes_text(d.total)),
          { used_percent = d.used_percent, available_bytes = d.available })
      end
    end
  end,
}
