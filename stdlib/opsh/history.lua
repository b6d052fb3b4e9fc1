--- opsh.history: resource samples and check results kept between runs, and their trends.
--- `local history = require "opsh.history"`.
--- The store is one SQLite file, state_dir/history.db (opsh.state). Trends are read from
--- Prometheus instead (node_exporter's metrics, range queries through opsh.prom) when the
--- configuration names a Prometheus URL (prometheus_url set anywhere but its default) or says
--- history_source = "prometheus"; history_source = "store" forces the file.
local native = require "opsh._history"
local config = require "opsh.config"
local state = require "opsh.state"
local time = require "opsh.time"
local opsh = require "opsh"

local M = {}

local opened = {}

--- The history file's path (state_dir/history.db).
function M.path()
  return state.dir() .. "/history.db"
end

--- The store (opened once per run, the state directory created 0700): :record, :samples, :metrics, :prune.
function M.store(path)
  path = path or M.path()
  if not opened[path] then
    state.dir(nil, true)
    local s, err = native.open(path)
    if not s then return nil, err end
    opened[path] = s
  end
  return opened[path]
end

--- Records `values` ({metric = number}) under `kind` at `at` (Unix time, default now). Under
--- --dry-run nothing is written. Returns the count stored, or nil, err.
function M.record(kind, values, at)
  local s, err = M.store()
  if not s then return nil, err end
  return s:record(kind, values, at)
end

--- Records each check's status of a run (0 ok, 1 warning, 2 critical, 3 unknown) as
--- check.NAME under kind "check".
---@param results {name: string, status: string}[] e.g. ctx.results
function M.record_checks(results, at)
  local codes = { ok = 0, warning = 1, critical = 2, unknown = 3 }
  local values = {}
  for _, r in ipairs(results) do values["check." .. r.name] = codes[r.status] or 3 end
  if next(values) == nil then return 0 end
  return M.record("check", values, at)
end

local function when(t, default)
  if t == nil then return default end
  if type(t) == "number" or tonumber(t) then return tonumber(t) end
  local parsed = time.parse_iso(t)
  if parsed then return parsed end
  return time.since(t)            -- "30d" means 30 days ago
end

--- "prometheus" or "store": where trends are read from (see the module's description).
function M.source()
  local s = config.get("history_source")
  if s == "prometheus" or s == "store" then return s end
  local src = config.source("prometheus_url")
  if src and src ~= "default" then return "prometheus" end
  return "store"
end

-- node_exporter's equivalents of the metrics system/resources records (a fixed set: they are
-- computed the same way as the native readings: used / (used + available) for disks,
-- MemAvailable for memory, idle + iowait as idle for CPU). node_selector (config) narrows
-- them to one host, e.g. instance="db1:9100".
local function selector(extra)
  local s = config.get("node_selector") or ""
  if extra and s ~= "" then return "{" .. s .. "," .. extra .. "}" end
  if extra then return "{" .. extra .. "}" end
  return s ~= "" and ("{" .. s .. "}") or ""
end

function M.promql(metric)
  if metric == "memory.used_percent" then
    return string.format("100 * (1 - node_memory_MemAvailable_bytes%s / node_memory_MemTotal_bytes%s)", selector(), selector())
  elseif metric == "swap.used_percent" then
    return string.format("100 * (1 - node_memory_SwapFree_bytes%s / node_memory_SwapTotal_bytes%s)", selector(), selector())
  elseif metric == "cpu.busy_percent" then
    return string.format('100 - 100 * avg(sum by (instance, cpu) (rate(node_cpu_seconds_total%s[5m])))', selector('mode=~"idle|iowait"'))
  elseif metric == "load.load1" then
    return "node_load1" .. selector()
  end
  local mount = metric:match("^disk%.(.+)%.used_percent$")
  if mount then
    local m = selector(string.format('mountpoint="%s"', mount:gsub('\\', '\\\\'):gsub('"', '\\"')))
    return string.format("100 * (node_filesystem_size_bytes%s - node_filesystem_free_bytes%s) / "
      .. "(node_filesystem_size_bytes%s - node_filesystem_free_bytes%s + node_filesystem_avail_bytes%s)", m, m, m, m, m)
  end
  return nil
end

--- The samples of `metric` as {{time, value}, ...}, oldest first, and the source they came from.
--- opts: metric, since (Unix time, ISO 8601 or "30d" ago; default 30d), until, step (Prometheus
--- range step, default 1h).
---@return {[1]: number, [2]: number}[]|nil, string|table source_or_err
function M.samples(opts)
  assert(type(opts) == "table" and type(opts.metric) == "string", "bad argument #1 to 'samples' (metric expected)")
  local since = when(opts.since, time.since("30d"))
  local till = when(opts["until"], nil)
  if M.source() == "prometheus" then
    local expr = M.promql(opts.metric)
    if not expr then return nil, opsh.error("unsupported", "no Prometheus query for " .. opts.metric) end
    local prom = require "opsh.prom"
    local r, err = prom.query_range(expr, { start = since, ["end"] = till, step = opts.step or "1h" })
    if not r then return nil, err end
    local out = {}
    for _, s in ipairs(r) do
      for _, p in ipairs(s.values) do
        if p[2] == p[2] then out[#out + 1] = { tonumber(p[1]), p[2] } end
      end
    end
    table.sort(out, function(a, b) return a[1] < b[1] end)
    return out, "prometheus"
  end
  local s, err = M.store()
  if not s then return nil, err end
  local list, serr = s:samples(opts.metric, since, till)
  if not list then return nil, serr end
  return list, "store"
end

--- The least-squares line through points {{time, value}, ...}: {slope (per second), per_day,
--- intercept, r2, count, from, to}, or nil with fewer than two distinct times.
M.fit = native.fit

--- The trend of a metric: the fit over its samples (opts as in samples) with `latest` (the last
--- value), `source`, and, when `limit` is given, `reaches_at` (Unix time the line reaches it,
--- when it grows towards it, within a century) and `days_left` from now.
---@return table|nil, table? err
function M.trend(opts)
  local points, source = M.samples(opts)
  if not points then return nil, source end
  local f = M.fit(points)
  if not f then return { count = #points, source = source, latest = points[#points] and points[#points][2] } end
  f.source = source
  f.latest = points[#points][2]
  if opts.limit and f.slope > 0 then
    local t = (opts.limit - f.intercept) / f.slope
    local days = (t - (opts.now or os.time())) / 86400
    -- a slope of rounding noise on a flat series would reach the limit in millennia: never
    if days < 36500 then
      f.reaches_at = t
      f.days_left = math.max(0, days)
    end
  end
  return f
end

return M
