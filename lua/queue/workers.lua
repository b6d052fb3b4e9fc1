-- queue/workers: the guide's `pgrep -f "arq.*worker"` and `ps` step, read from /proc (no ps,
-- no pgrep): every process whose command line matches the pattern, with its resident memory,
-- threads and age. It sees the processes of this host's (or this container's) PID namespace:
-- for workers in containers, run it on the host, or use docker/stats once the Docker
-- procedures land.
local fs = require "opsh.fs"
local time = require "opsh.time"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function clock_ticks_per_second() return 100 end   -- Linux's USER_HZ on every supported architecture

local function uptime_seconds()
  local s = read("/proc/uptime")
  return s and tonumber(s:match("^(%S+)")) or nil
end

return {
  description = "ARQ worker processes on this host (from /proc): how many, their memory, threads and age",
  categories = { "queue", "check", "safe" },
  guide = { "task-queue-management.1", "task-queue-management.4" },
  args = {
    { name = "pattern", default = "arq.*worker", help = "Lua pattern matched against each command line (the guide's pgrep -f \"arq.*worker\")" },
    { name = "min", type = "integer", default = 1, help = "CRITICAL below this many workers" },
    { name = "rss_warn_mb", type = "number", default = 1024, help = "WARNING when a worker's resident memory exceeds this" },
    { name = "rss_crit_mb", type = "number", default = 2048 },
  },
  run = function(args, ctx)
    local pids, err = fs.list("/proc")
    if not pids then return ctx:unknown("queue.workers", "cannot read /proc: " .. tostring(err)) end
    local boot_age = uptime_seconds()
    local found = {}
    for _, pid in ipairs(pids) do
      if pid:match("^%d+$") then
        local cmd = read("/proc/" .. pid .. "/cmdline")
        if cmd and #cmd > 0 then
          cmd = cmd:gsub("%z", " "):gsub("%s+$", "")
          if cmd:match(args.pattern) and not cmd:match("opsh") then
            local status = read("/proc/" .. pid .. "/status") or ""
            local stat = read("/proc/" .. pid .. "/stat") or ""
            local start_ticks = tonumber(stat:match("%) %S+" .. string.rep(" %S+", 18) .. " (%d+)"))
            local age = (boot_age and start_ticks) and (boot_age - start_ticks / clock_ticks_per_second()) or nil
            found[#found + 1] = {
              pid = tonumber(pid), cmd = cmd,
              rss_kb = tonumber(status:match("VmRSS:%s*(%d+)")) or 0,
              threads = tonumber(status:match("Threads:%s*(%d+)")) or 0,
              age = age,
            }
          end
        end
      end
    end
    local total_mb = 0
    for _, w in ipairs(found) do
      local mb = w.rss_kb / 1024
      total_mb = total_mb + mb
      ctx:threshold("queue.worker." .. w.pid .. ".rss_mb", mb, args.rss_warn_mb, args.rss_crit_mb,
        string.format("pid %d, %.1f MB resident, %d threads, up %s: %s", w.pid, mb, w.threads,
          w.age and time.format_duration(w.age) or "?", w.cmd:sub(1, 120)),
        { threads = w.threads, age_seconds = w.age })
    end
    local msg = string.format("%d worker process%s matching %q (%.1f MB resident in all)", #found,
      #found == 1 and "" or "es", args.pattern, total_mb)
    if #found < args.min then
      ctx:crit("queue.workers", msg .. string.format("; at least %d expected", args.min), { count = #found })
    else
      ctx:ok("queue.workers", msg, { count = #found, rss_mb = total_mb })
    end
  end,
}
