-- System resources: the guide's resource utilisation report (`free -h; df -h; top -bn1 | head -15;
-- uptime`) as checks, read natively (opsh.sys: /proc, statvfs) instead of parsing the tools' output.
-- CPU is the busy share since the opsh agent's newest CPU sample when one of this boot is at least
-- 1 s and at most three sampling periods old (state_dir/cpu, written every agent_cpu_sample_interval
-- seconds: docs/agent.md "CPU samples"), else over --interval (top measures over 0.15 s the same
-- way, and waiting for it is most of this report's time), iowait counted as idle; memory counts
-- MemAvailable (what the kernel can give without swapping), not MemFree; load is the 1-minute
-- average per CPU; every mounted filesystem is checked (pseudo filesystems such as tmpfs and proc
-- left out, bind mounts once), used / (used + available) as df computes it.
-- Limits: the argument, else config.lua's thresholds (opsh's system_cpu_warn... or the guide's
-- cpu_warning...), else the guide's Capacity Thresholds (CPU 70/85, memory 75/90, disk 80/95).
-- Every run (not under --dry-run) adds its readings and check results to the history
-- (opsh.history) that system/capacity reads back.
local opsh = require "opsh"
local sys = require "opsh.sys"
local fs = require "opsh.fs"
local config = require "opsh.config"
local units = require "opsh.units"
local thresholds = require "opsh.thresholds"
local history = require "opsh.history"

local level = thresholds.level
local limits = thresholds.capacity

local function percent(x) return string.format("%.1f%%", x) end

local function uptime_text(s)
  local d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
  if d > 0 then return string.format("%dd %dh", d, h) end
  return string.format("%dh %02dm", h, m)
end

local function processes_text(list, key)
  local parts = {}
  for i, p in ipairs(list) do
    local what = key == "cpu" and string.format("%.1f%% CPU", p.cpu_percent or 0) or units.bytes_text(p.rss)
    local cmd = p.command
    if #cmd > 60 then cmd = cmd:sub(1, 57) .. "..." end
    parts[i] = string.format("%d %s %s (%s)", p.pid, p.user, cmd, what)
  end
  return table.concat(parts, "; ")
end

return {
  description = "System resources: CPU %, memory, swap, load per CPU, every disk and the top processes, with the guide's thresholds",
  categories = { "system", "check", "daily", "safe" },
  guide = {
    "daily-checklist.4", "daily-checklist.7", "capacity-planning.1", "capacity-planning.2",
    "capacity-planning.3", "capacity-planning.7", "performance-monitoring.4", "daily-commands.3",
    "critical-thresholds.1", "critical-thresholds.2", "critical-thresholds.3",
  },
  notes = [[
Changes nothing on the machine. Writes one history sample per run (CPU, memory, swap, load, each
disk's use, and each check's status) to state_dir/history.db (opsh.history), which
system/capacity reads back; nothing under --dry-run or with --no_history.
Limits, highest first: the arguments, config.lua's thresholds table (system_cpu_warn,
system_memory_crit, ... or the guide's cpu_warning, memory_critical, disk_warning, ...), the
guide's Capacity Thresholds (CPU 70/85, memory 75/90, disk 80/95).]],
  args = {
    { name = "interval", type = "number", help = "seconds CPU use (total and per process) is measured over (top -bn1 waits 0.15 s); default: since the agent's CPU sample when a fresh one is in state_dir/cpu, else 0.15" },
    { name = "top", type = "integer", default = 5, help = "processes listed by CPU and by memory" },
    { name = "paths", type = "list", help = "also check the filesystems holding these paths, named by path (default: config disk_paths)" },
    { name = "cpu_warn", type = "number", help = "CPU busy % for WARNING (default 70)" },
    { name = "cpu_crit", type = "number", help = "CPU busy % for CRITICAL (default 85)" },
    { name = "memory_warn", type = "number", help = "memory used % (of MemTotal, by MemAvailable) for WARNING (default 75)" },
    { name = "memory_crit", type = "number", help = "memory used % for CRITICAL (default 90)" },
    { name = "disk_warn", type = "number", help = "disk used % for WARNING (default 80)" },
    { name = "disk_crit", type = "number", help = "disk used % for CRITICAL (default 95)" },
    { name = "load_warn", type = "number", help = "1-minute load per CPU for WARNING (default 0.8, the guide's high-load ratio)" },
    { name = "load_crit", type = "number", help = "1-minute load per CPU for CRITICAL (default 2.0)" },
    { name = "no_history", type = "boolean", help = "do not write this run's sample to the history" },
  },
  run = function(args, ctx)
    local lim = limits(args)
    local sample = {}
    local top = math.max(1, args.top)

    -- CPU and the processes' CPU over the same interval, concurrently (since the agent's sample
    -- when a fresh one is there: no wait at all); the processes by memory are read meanwhile
    local measure = { interval = args.interval or 0.15 }
    local sample_every = tonumber(config.get("agent_cpu_sample_interval")) or 5
    if args.interval == nil and sample_every > 0 then
      measure.since = (config.get("state_dir") or "") .. "/cpu"
      measure.max_age = 3 * sample_every
    end
    local cpu, by_cpu, by_mem = opsh.all {
      function() return sys.cpu { interval = measure.interval, since = measure.since, max_age = measure.max_age } end,
      function() return sys.processes { sort = "cpu", top = top, interval = measure.interval, since = measure.since, max_age = measure.max_age } end,
      function() return sys.processes { sort = "memory", top = top } end,
    }
    if cpu then
      local over = cpu.source == "agent sample" and string.format("over the %.1f s since the agent's sample,", cpu.interval)
        or string.format("over %.2f s", cpu.interval) .. (cpu.sample_unused and " (agent's sample not used: " .. cpu.sample_unused .. ")" or "")
      ctx[level(cpu.busy, lim.cpu_warn, lim.cpu_crit)](ctx, "system.cpu",
        string.format("%s busy (user %s, system %s, iowait %s) %s on %d core%s", percent(cpu.busy), percent(cpu.user),
          percent(cpu.system), percent(cpu.iowait), over, #cpu.cores, #cpu.cores == 1 and "" or "s"),
        { busy_percent = cpu.busy, user_percent = cpu.user, system_percent = cpu.system, iowait_percent = cpu.iowait,
          steal_percent = cpu.steal, cores = #cpu.cores, interval_seconds = cpu.interval,
          agent_sample = cpu.source == "agent sample" and 1 or 0 })
      sample["cpu.busy_percent"] = cpu.busy
      sample["cpu.iowait_percent"] = cpu.iowait
    else
      ctx:unknown("system.cpu", "cannot read /proc/stat")
    end

    local mem, merr = sys.memory()
    if mem then
      ctx[level(mem.used_percent, lim.memory_warn, lim.memory_crit)](ctx, "system.memory",
        string.format("%s used: %s available of %s", percent(mem.used_percent), units.bytes_text(mem.available), units.bytes_text(mem.total)),
        { used_percent = mem.used_percent, available_bytes = mem.available, total_bytes = mem.total, used_bytes = mem.used })
      sample["memory.used_percent"] = mem.used_percent
      sample["memory.used_bytes"] = mem.used
      if mem.swap_total > 0 then
        ctx:ok("system.swap", string.format("%s of %s used", percent(mem.swap_used_percent), units.bytes_text(mem.swap_total)),
          { used_percent = mem.swap_used_percent, used_bytes = mem.swap_used, total_bytes = mem.swap_total })
        sample["swap.used_percent"] = mem.swap_used_percent
      else
        ctx:ok("system.swap", "no swap configured", { total_bytes = 0 })
      end
    else
      ctx:unknown("system.memory", tostring(merr))
    end

    local load, lerr = sys.load()
    local up = sys.uptime()
    if load then
      ctx[level(load.per_core, lim.load_warn, lim.load_crit)](ctx, "system.load",
        string.format("load %.2f %.2f %.2f on %d CPU%s (%.2f per CPU)%s", load.load1, load.load5, load.load15, load.cores,
          load.cores == 1 and "" or "s", load.per_core, up and (", up " .. uptime_text(up.seconds)) or ""),
        { load1 = load.load1, load5 = load.load5, load15 = load.load15, per_cpu = load.per_core, cpus = load.cores,
          uptime_seconds = up and up.seconds })
      sample["load.load1"] = load.load1
      sample["load.per_core"] = load.per_core
    else
      ctx:unknown("system.load", tostring(lerr))
    end

    local function disk(name, d)
      ctx[level(d.used_percent, lim.disk_warn, lim.disk_crit)](ctx, "system.disk." .. name,
        string.format("%s used, %s available of %s%s", percent(d.used_percent), units.bytes_text(d.available),
          units.bytes_text(d.total), d.type and (" (" .. d.type .. ", " .. d.source .. ")") or ""),
        { used_percent = d.used_percent, available_bytes = d.available, total_bytes = d.total })
    end
    local disks, derr = sys.disks()
    local seen = {}
    if disks then
      for _, d in ipairs(disks) do
        seen[d.mount] = true
        disk(d.mount, d)
        sample["disk." .. d.mount .. ".used_percent"] = d.used_percent
        sample["disk." .. d.mount .. ".used_bytes"] = d.used
      end
    else
      ctx:unknown("system.disks", tostring(derr))
    end
    local paths = args.paths or config.get("disk_paths") or {}
    if type(paths) == "string" then paths = { paths } end
    for _, path in ipairs(paths) do
      if not seen[path] then
        local d, err = fs.df(path)
        if d then disk(path, d) else ctx:unknown("system.disk." .. path, tostring(err)) end
      end
    end

    if by_cpu and by_mem then
      local m = {}
      if by_cpu[1] then m.top_cpu_pid, m.top_cpu_percent = by_cpu[1].pid, by_cpu[1].cpu_percent end
      if by_mem[1] then m.top_memory_pid, m.top_memory_rss_bytes = by_mem[1].pid, by_mem[1].rss end
      m.listed = #by_cpu + #by_mem
      ctx:ok("system.processes", "by CPU: " .. processes_text(by_cpu, "cpu") .. " | by memory: " .. processes_text(by_mem, "memory"), m)
    end

    if not args.no_history then
      local ok, herr = history.record("resources", sample)
      if ok then ok, herr = history.record_checks(ctx.checks) end
      if not ok and not (type(herr) == "table" and herr.dry_run) then
        ctx:warn("system.history", "this run's sample was not recorded: " .. tostring(herr))
      end
    end
  end,
}
