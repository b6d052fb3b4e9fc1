-- Capacity analysis (the guide's Capacity Planning: "Monitor resource utilization trends",
-- ./scripts/capacity-analysis.sh): the trend of each disk's use, memory and CPU, as a
-- least-squares line over the history, and how many days until each reaches its limit at that
-- pace: a disk full (100%), memory and CPU at their critical thresholds (the guide's 90% and 85%,
-- or the configuration's, as system/resources reads them).
-- The history is opsh's own (every system/resources run adds a sample, opsh.history) or, when
-- the configuration names a Prometheus URL, node_exporter's metrics read with range queries.
local sys = require "opsh.sys"
local config = require "opsh.config"
local history = require "opsh.history"
local thresholds = require "opsh.thresholds"

local function limit(name, guide_name, default)
  local v = thresholds.get({}, "system", name, nil)
  local t = config.get("thresholds")
  if v == nil and type(t) == "table" then v = tonumber(t[guide_name]) end
  return v or default
end

return {
  description = "Capacity trends: days until each disk is full, memory and CPU growth (linear fit over the history or Prometheus)",
  categories = { "system", "capacity", "check", "safe" },
  guide = { "daily-tasks.5", "capacity-planning.7", "scheduled-maintenance.12" },
  notes = [[
Changes nothing and writes nothing: reads the history (state_dir/history.db, which
system/resources fills, one sample per run) or, when prometheus_url is configured (or
history_source = "prometheus"), node_exporter's node_filesystem_*, node_memory_* and
node_cpu_seconds_total over --since (config node_selector narrows them to one host, e.g.
instance="db1:9100"). A resource with fewer than --min_samples samples is UNKNOWN.]],
  args = {
    { name = "since", default = "30d", help = "how far back the trend is fitted (e.g. 7d, 30d, or a Unix/ISO time)" },
    { name = "step", default = "1h", help = "Prometheus range-query step" },
    { name = "days_warn", type = "number", default = 30, help = "WARNING when a limit is reached within this many days" },
    { name = "days_crit", type = "number", default = 7, help = "CRITICAL when a limit is reached within this many days" },
    { name = "min_samples", type = "integer", default = 3, help = "samples a trend needs" },
  },
  run = function(args, ctx)
    local now = os.time()
    local function analyse(check, label, metric, lim, limit_text)
      local t, err = history.trend { metric = metric, since = args.since, step = args.step, limit = lim, now = now }
      if not t then return ctx:unknown(check, string.format("%s: history not readable: %s", label, tostring(err))) end
      if (t.count or 0) < args.min_samples or not t.slope then
        return ctx:unknown(check, string.format("%s: %d sample%s since %s in the %s (%d needed; system/resources records one per run)",
          label, t.count or 0, t.count == 1 and "" or "s", args.since, t.source, args.min_samples), { samples = t.count or 0 })
      end
      local per_day = t.per_day
      local m = { per_day = per_day, latest = t.latest, r2 = t.r2, samples = t.count, days_left = t.days_left,
        prometheus = t.source == "prometheus" }
      local span = (t.to - t.from) / 86400
      local fit = string.format("%+.2f points/day over %.1f days (%d samples, r² %.2f, %s)", per_day, span, t.count, t.r2, t.source)
      if not t.days_left then
        return ctx:ok(check, string.format("%s at %.1f%%, not growing: %s", label, t.latest, fit), m)
      end
      local status = thresholds.level(-t.days_left, -args.days_warn, -args.days_crit)
      ctx[status](ctx, check, string.format("%s at %.1f%%: %s in %.0f days (%s) at %s", label, t.latest, limit_text,
        t.days_left, os.date("!%Y-%m-%d", math.floor(t.reaches_at)), fit), m)
    end

    local disks, derr = sys.disks()
    if not disks then return ctx:unknown("system.capacity.disks", tostring(derr)) end
    for _, d in ipairs(disks) do
      analyse("system.capacity.disk." .. d.mount, "disk " .. d.mount, "disk." .. d.mount .. ".used_percent", 100, "full")
    end
    local mem_crit = limit("memory_crit", "memory_critical", 90)
    analyse("system.capacity.memory", "memory", "memory.used_percent", mem_crit, string.format("%g%% (critical)", mem_crit))
    local cpu_crit = limit("cpu_crit", "cpu_critical", 85)
    analyse("system.capacity.cpu", "CPU", "cpu.busy_percent", cpu_crit, string.format("%g%% (critical)", cpu_crit))
  end,
}
