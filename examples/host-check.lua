-- A real check of this host, written as an operator would write their own:
-- memory, load, uptime, and the configured endpoints, from /proc and opsh's
-- modules. Run it with `opsh run examples/host-check.lua` (or `opsh examples/host-check.lua`).
local opsh = require "opsh"
local config = require "opsh.config"
local time = require "opsh.time"

local function read_file(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

local function meminfo()
  local text, err = read_file("/proc/meminfo")
  if not text then return nil, err end
  local kb = {}
  for name, value in text:gmatch("([%w_()]+):%s+(%d+)") do kb[name] = tonumber(value) end
  return kb
end

local function cpu_count()
  local text = read_file("/proc/cpuinfo") or ""
  local n = 0
  for _ in text:gmatch("\nprocessor%s*:") do n = n + 1 end
  if text:match("^processor%s*:") then n = n + 1 end
  return math.max(n, 1)
end

return {
  description = "Host check: memory available, load per core, uptime, configured endpoints",
  categories = { "example", "check", "safe" },
  args = {
    { name = "memory_warn", type = "number", default = 80, help = "warn when this % of memory is in use" },
    { name = "memory_crit", type = "number", default = 95, help = "critical at this % in use" },
    { name = "load_warn", type = "number", default = 2.0, help = "warn at this 5-minute load per core" },
    { name = "load_crit", type = "number", default = 4.0, help = "critical at this 5-minute load per core" },
  },
  run = function(args, ctx)
    -- the three reads run as tasks; each is cheap, this shows the shape of a concurrent check
    local mem, load, uptime = opsh.all {
      function() return meminfo() end,
      function() return read_file("/proc/loadavg") end,
      function() return read_file("/proc/uptime") end,
    }

    if mem and mem.MemTotal and mem.MemAvailable then
      local used = 100 * (1 - mem.MemAvailable / mem.MemTotal)
      ctx:threshold("memory.used_percent", used, args.memory_warn, args.memory_crit,
        string.format("%.1f%% of %.1f GiB in use", used, mem.MemTotal / 1048576),
        { total_bytes = mem.MemTotal * 1024, available_bytes = mem.MemAvailable * 1024 })
    else
      ctx:unknown("memory.used_percent", "cannot read /proc/meminfo")
    end

    if load then
      local l1, l5 = load:match("^(%S+)%s+(%S+)")
      local cores = cpu_count()
      local per_core = tonumber(l5) / cores
      ctx:threshold("load.per_core_5m", per_core, args.load_warn, args.load_crit,
        string.format("5-minute load %s on %d cores", l5, cores), { load_1m = tonumber(l1), cores = cores })
    else
      ctx:unknown("load.per_core_5m", "cannot read /proc/loadavg")
    end

    if uptime then
      local seconds = tonumber(uptime:match("^(%S+)"))
      ctx:ok("host.uptime", "up " .. time.format_duration(seconds), { seconds = seconds })
    end

    for _, key in ipairs { "qdrant_url", "redis_url", "docker_host" } do
      ctx:ok("config." .. key, tostring(config.get(key)) .. " (" .. tostring(config.source(key)) .. ")")
    end
  end,
}
