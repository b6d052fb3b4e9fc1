-- The guide's real-time performance dashboard ("Real-time Performance Metrics"), read natively and
-- judged against the guide's thresholds, every part at once:
--   qdrant     requests/s (all and searches) between two readings of /metrics --interval apart,
--              search latency (mean and p95 of the points/query histogram; the guide greps
--              search_duration, which Qdrant does not export), the 5xx error rate since start,
--              version and collections from /telemetry;
--   redis      ops/s, hit rate, memory (of maxmemory), clients, PING round-trip latency
--              (the guide's `redis-cli info stats`);
--   containers CPU and memory of the compose project's running containers (Docker's stats API,
--              docker stats' formula), CPU as a share of the host's cores;
--   host       CPU over --interval, memory, load per CPU, the fullest disk (opsh.sys; the guide's
--              ./scripts/resource-monitor.sh);
--   api        the API's /metrics where one runs (config api_url): embedding metrics and HTTP
--              request durations when it exports them as Prometheus text;
--   access     the API's response times from the access log (the guide's `tail -100
--              access.log | awk` average): mean and p95 over --window, and its 5xx share.
-- Thresholds: search latency above 100 ms and an error rate above 1% are warnings (the guide's
-- Critical Thresholds); CPU 70/85, memory 75/90, disk 80/95 (its Capacity Thresholds). Where the
-- guide gives only a warning, the critical limit is opsh's (latency 500 ms as
-- qdrant/search-performance, error rate 5%).
-- --watch SECONDS prints a dashboard every SECONDS (one JSON object per line with --json) until
-- interrupted, or --count rounds; the report is then each check's worst round.
local opsh = require "opsh"
local qdrant = require "opsh.qdrant"
local redis = require "opsh.redis"
local http = require "opsh.http"
local json = require "opsh.json"
local prom = require "opsh.prom"
local sys = require "opsh.sys"
local fs = require "opsh.fs"
local logs = require "opsh.logs"
local config = require "opsh.config"
local services = require "opsh.services"
local report = require "opsh.report"
local thresholds = require "opsh.thresholds"
local units = require "opsh.units"
local time = require "opsh.time"

local level = thresholds.level
local PARTS = { "qdrant", "redis", "containers", "host", "api", "access" }
local SEARCH = { ["/collections/{collection_name}/points/query"] = true, ["/collections/{collection_name}/points/search"] = true,
  ["/collections/{collection_name}/points/query/batch"] = true, ["/collections/{collection_name}/points/search/batch"] = true }

local sum = prom.total

local function is_search(l) return SEARCH[l.endpoint] == true end
local function is_error(l) return (tonumber(l.status) or 0) >= 500 end

local function limits(args)
  local lim = thresholds.capacity(args)
  lim.latency_warn = thresholds.get(args, "qdrant", "latency_warn_ms", 100)
  lim.latency_crit = thresholds.get(args, "qdrant", "latency_crit_ms", 500)
  lim.error_warn = thresholds.get(args, "perf", "error_rate_warn", 1)
  lim.error_crit = thresholds.get(args, "perf", "error_rate_crit", 5)
  return lim
end

local function qdrant_part(rep, args, lim)
  local q = qdrant.connect { timeout = args.timeout }
  local m1, err = q:metrics()
  if not m1 then return rep:crit("qdrant", "no metrics from " .. q.url .. ": " .. tostring(err)) end
  local t1 = time.monotonic()
  local tel = q:telemetry { details_level = 1 }
  opsh.sleep(args.interval)
  local m2, err2 = q:metrics()
  if not m2 then return rep:crit("qdrant", "no metrics from " .. q.url .. ": " .. tostring(err2)) end
  local dt = math.max(time.monotonic() - t1, 0.001)
  local total = sum(m2.rest_responses_total)
  local rps = math.max(total - sum(m1.rest_responses_total), 0) / dt
  local searches = sum(m2.rest_responses_total, is_search)
  local search_rps = math.max(searches - sum(m1.rest_responses_total, is_search), 0) / dt
  local version = type(tel) == "table" and type(tel.app) == "table" and tel.app.version
  local ncoll = type(tel) == "table" and type(tel.collections) == "table" and tel.collections.number_of_collections
  rep:ok("qdrant.throughput", string.format("%.1f requests/s, %.1f searches/s over %.1f s; %d requests since start%s%s",
    rps, search_rps, dt, math.floor(total), version and (", Qdrant " .. version) or "",
    ncoll and string.format(", %d collection(s)", ncoll) or ""),
    { requests_per_second = rps, searches_per_second = search_rps, requests_total = total })

  local errors = sum(m2.rest_responses_total, is_error)
  local rate = total > 0 and errors / total * 100 or 0
  rep[level(rate, lim.error_warn, lim.error_crit)](rep, "qdrant.errors",
    string.format("%.2f%% of %d requests since start answered 5xx (warning above %g%%)", rate, math.floor(total), lim.error_warn),
    { error_rate_percent = rate, errors = errors })

  -- the mean over the searches answered 200, weighted by their counts; p95 from the histogram
  local n, weighted = 0, 0
  for _, s in ipairs(m2.rest_responses_total or {}) do
    local l = s.labels or {}
    if is_search(l) and l.status == "200" then
      local avg = prom.find(m2, "rest_responses_avg_duration_seconds", { method = l.method, endpoint = l.endpoint, status = "200" })
      local c = prom.number(s.value) or 0
      if avg then n = n + c; weighted = weighted + c * (prom.number(avg.value) or 0) end
    end
  end
  if n == 0 then return rep:ok("qdrant.search_latency", "no searches answered since Qdrant started") end
  local mean_ms = weighted / n * 1000
  local p95 = prom.histogram_quantile(0.95, prom.select(m2, "rest_responses_duration_seconds_bucket",
    { endpoint = "/collections/{collection_name}/points/query" }))
  local max = prom.find(m2, "rest_responses_max_duration_seconds", { endpoint = "/collections/{collection_name}/points/query", status = "200" })
  -- the buckets are coarse: an estimate above the observed maximum is capped to it
  if p95 and max then p95 = math.min(p95, prom.number(max.value) or p95) end
  local p95_ms = p95 and p95 * 1000
  rep[level(math.max(mean_ms, p95_ms or 0), lim.latency_warn, lim.latency_crit)](rep, "qdrant.search_latency",
    string.format("%d searches: mean %.1f ms%s (warning above %g ms)", math.floor(n), mean_ms,
      p95_ms and string.format(", p95 %.1f ms", p95_ms) or "", lim.latency_warn),
    { searches = n, mean_ms = mean_ms, p95_ms = p95_ms or -1 })
end

local function redis_part(rep, args, lim)
  local url = (args.redis_url and args.redis_url ~= "") and args.redis_url or config.get("redis_url")
  local r, err = redis.connect(url)
  if not r then return rep:crit("redis", "Redis is not reachable: " .. tostring(err) .. units.redis_auth_hint(err)) end
  local info, ierr = r:info()
  if not info then r:close(); return rep:crit("redis", "INFO failed: " .. tostring(ierr)) end
  -- the round trip as redis-cli --latency measures it: PINGs one after the other
  local rtts = {}
  for i = 1, 5 do
    local t = time.monotonic()
    if not r:call("PING") then break end
    rtts[i] = (time.monotonic() - t) * 1000
  end
  r:close()
  table.sort(rtts)
  local stats, mem, clients = info.stats or {}, info.memory or {}, info.clients or {}
  local hits, misses = tonumber(stats.keyspace_hits) or 0, tonumber(stats.keyspace_misses) or 0
  local hit_rate = hits + misses > 0 and hits / (hits + misses) * 100 or nil
  local ops = tonumber(stats.instantaneous_ops_per_sec) or 0
  rep:ok("redis.ops", string.format("%d ops/s, hit rate %s (%d hits, %d misses), %s connected client(s), %s blocked; PING %s",
    ops, hit_rate and string.format("%.1f%%", hit_rate) or "n/a", hits, misses, tostring(clients.connected_clients or "?"),
    tostring(clients.blocked_clients or "?"),
    #rtts > 0 and string.format("%.2f ms (max %.2f)", rtts[(#rtts + 1) // 2], rtts[#rtts]) or "failed"),
    { ops_per_second = ops, hit_rate_percent = hit_rate, connected_clients = tonumber(clients.connected_clients),
      latency_ms = rtts[(#rtts + 1) // 2] })
  local used, maxmemory = tonumber(mem.used_memory) or 0, tonumber(mem.maxmemory) or 0
  if maxmemory > 0 then
    local pct = used / maxmemory * 100
    rep[level(pct, lim.memory_warn, lim.memory_crit)](rep, "redis.memory",
      string.format("%s of maxmemory %s (%.1f%%)", units.bytes_text(used), units.bytes_text(maxmemory), pct),
      { used_bytes = used, maxmemory_bytes = maxmemory, used_percent = pct })
  else
    rep:ok("redis.memory", units.bytes_text(used) .. " used, no maxmemory set", { used_bytes = used, maxmemory_bytes = 0 })
  end
end

local function containers_part(rep, args, lim)
  local d, err = services.connect()
  if not d then return rep:unknown("containers", tostring(err)) end
  local project, perr = services.project(args.project, d)
  if perr then return rep:unknown("containers", tostring(perr)) end
  local ids = {}
  if project then
    local list, lerr = d:containers { project = project, status = "running" }
    if not list then return rep:unknown("containers", tostring(lerr)) end
    for _, c in ipairs(list) do ids[#ids + 1] = services.name_of(c) end
  else
    for _, svc in ipairs(services.resolve(d, services.names(nil), nil)) do
      for _, c in ipairs(svc.containers) do
        if c.State == "running" then ids[#ids + 1] = services.name_of(c) end
      end
    end
  end
  if #ids == 0 then return rep:unknown("containers", "no running container of " .. (project and ("compose project " .. project) or "the configured services")) end
  table.sort(ids)
  local cores = (sys.load() or {}).cores or 1
  local stats, errors = d:stats(ids)
  for id, e in pairs(errors) do rep:unknown("containers." .. id, tostring(e)) end
  for _, s in ipairs(stats) do
    local host_share = s.cpu_percent / cores
    local st = level(host_share, lim.cpu_warn, lim.cpu_crit)
    if s.memory_limit > 0 then
      local ms = level(s.memory_percent, lim.memory_warn, lim.memory_crit)
      if ms == "crit" or (ms == "warn" and st == "ok") then st = ms end
    end
    rep[st](rep, "containers." .. s.name, string.format("CPU %.1f%% (%.1f%% of the host's %d core(s)), memory %s / %s (%.1f%%)",
      s.cpu_percent, host_share, cores, units.bytes_text(s.memory_used), units.bytes_text(s.memory_limit), s.memory_percent),
      { cpu_percent = s.cpu_percent, host_cpu_percent = host_share, memory_bytes = s.memory_used, memory_percent = s.memory_percent })
  end
end

local function host_part(rep, args, lim)
  local cpu = sys.cpu { interval = args.interval }
  if cpu then
    rep[level(cpu.busy, lim.cpu_warn, lim.cpu_crit)](rep, "host.cpu", string.format("%.1f%% busy over %.1f s", cpu.busy, cpu.interval),
      { busy_percent = cpu.busy })
  else
    rep:unknown("host.cpu", "cannot read /proc/stat")
  end
  local mem, merr = sys.memory()
  if mem then
    rep[level(mem.used_percent, lim.memory_warn, lim.memory_crit)](rep, "host.memory",
      string.format("%.1f%% used, %s available of %s", mem.used_percent, units.bytes_text(mem.available), units.bytes_text(mem.total)),
      { used_percent = mem.used_percent, available_bytes = mem.available })
  else
    rep:unknown("host.memory", tostring(merr))
  end
  local load = sys.load()
  if load then
    rep[level(load.per_core, lim.load_warn, lim.load_crit)](rep, "host.load",
      string.format("load %.2f on %d CPU(s): %.2f per CPU", load.load1, load.cores, load.per_core), { per_cpu = load.per_core })
  end
  local disks = sys.disks() or {}
  local fullest
  for _, dk in ipairs(disks) do if not fullest or dk.used_percent > fullest.used_percent then fullest = dk end end
  if fullest then
    rep[level(fullest.used_percent, lim.disk_warn, lim.disk_crit)](rep, "host.disk",
      string.format("fullest: %s %.1f%% used, %s available", fullest.mount, fullest.used_percent, units.bytes_text(fullest.available)),
      { used_percent = fullest.used_percent, disks = #disks })
  end
end

local function api_part(rep, args)
  local configured = config.get("api_url")
  local base = args.api_url or (type(configured) == "string" and configured ~= "" and configured) or nil
  local url = (base or "http://localhost:8000"):gsub("/+$", "") .. "/metrics"
  local r, err = http.get(url, { timeout = args.timeout })
  if not r then
    -- no API configured and none at the guide's address: nothing to read, and said so
    if not base then return rep:ok("api", "no API answers at " .. url .. " (set api_url): not read") end
    return rep:unknown("api", url .. ": " .. tostring(err))
  end
  if r.status ~= 200 then return rep:unknown("api", url .. " answered HTTP " .. tostring(r.status)) end
  local m = prom.parse_text(r.body or "")
  local families = {}
  for name in pairs(m) do
    local family = name:match("^(.-)_count$")
    if family and m[family .. "_sum"] and (family:find("embedding", 1, true) or family:find("request_duration", 1, true)
        or family:find("response_time", 1, true)) then
      families[#families + 1] = family
    end
  end
  table.sort(families)
  if #families == 0 then
    return rep:ok("api", url .. " exports no embedding or request-duration histogram (the application's JSON /metrics has none): not read")
  end
  for _, family in ipairs(families) do
    local n, s = sum(m[family .. "_count"]), sum(m[family .. "_sum"])
    rep:ok("api." .. family, string.format("%d observations, mean %.1f ms", math.floor(n), n > 0 and s / n * 1000 or 0),
      { count = n, mean_ms = n > 0 and s / n * 1000 or 0 })
  end
end

local function access_part(rep, args, lim)
  local file = args.access_log
  if not fs.exists(file) then return rep:ok("access", "no access log at " .. file .. " (--access_log): API response times not read") end
  local r, err = logs.scan { files = file, format = "access", since = math.floor(time.now() - time.duration(args.window)), paths = false, top = 1 }
  if not r then return rep:unknown("access", tostring(err)) end
  local counted = r.lines - r.malformed - r.outside
  if counted <= 0 then return rep:ok("access", string.format("no request in %s within the last %s", file, args.window)) end
  local errors = 0
  for status, c in pairs(r.status_counts or {}) do if status >= 500 then errors = errors + c end end
  local rate = errors / counted * 100
  local ms = r.response_ms
  local st = level(rate, lim.error_warn, lim.error_crit)
  rep[st](rep, "access.response_time", string.format("%d requests in the last %s: %s; %.2f%% answered 5xx (warning above %g%%)",
    counted, args.window, ms and ms.count > 0 and string.format("mean %.1f ms, p95 %d ms, max %d ms", ms.mean, ms.p95, ms.max)
      or "no response times in the lines (nginx's $request_time at the end)", rate, lim.error_warn),
    { requests = counted, mean_ms = ms and ms.mean or -1, p95_ms = ms and ms.p95 or -1, error_rate_percent = rate })
end

local READERS = { qdrant = qdrant_part, redis = redis_part, containers = containers_part, host = host_part,
  api = api_part, access = access_part }

-- One reading of every part at once; its checks in PARTS' order, as a finished report (what
-- report.text and report.json_table print).
local function round(args, lim, skip, ctx, title)
  local started = time.monotonic()
  local subs, fns = {}, {}
  for _, part in ipairs(PARTS) do
    if not skip[part] then
      local sub = report.new("perf/metrics", nil, args, { dry_run = ctx.dry_run })
      subs[#subs + 1] = sub
      fns[#fns + 1] = function()
        local ok, err = pcall(READERS[part], sub, args, lim)
        if not ok then sub:unknown(part, tostring(err)) end
        return true
      end
    end
  end
  opsh.all(fns)
  local checks, worst = {}, 0
  for _, sub in ipairs(subs) do
    for _, c in ipairs(sub.checks) do
      checks[#checks + 1] = c
      worst = math.max(worst, report.STATUS[c.status] or 3)
    end
  end
  return { script = title, args = args, checks = checks, dry_run = ctx.dry_run, status = report.NAMES[worst],
    exit_code = worst, duration_ms = (time.monotonic() - started) * 1000 }
end

return {
  description = "Real-time performance view: Qdrant, Redis, containers, host, the API and its access log against the guide's thresholds; --watch",
  categories = { "perf", "check", "safe" },
  guide = { "performance-monitoring.1", "performance-monitoring.2", "performance-monitoring.3", "performance-monitoring.4", "performance-monitoring.5" },
  notes = [[
Reads only. Every part runs at once; a round takes about --interval seconds (the request rates
and the CPU are measured over it; Docker's stats API needs about a second). Without --watch the
report is the one round. With --watch SECONDS a dashboard is printed every SECONDS (one JSON object
per line with --json: time, round and the checks) until interrupted (Ctrl-C) or --count rounds
have run; the report at the end holds each check's worst round, so the exit status says whether
anything crossed a threshold while it watched.
Limits: the arguments, else config.lua's thresholds (qdrant_latency_warn_ms, perf_error_rate_warn,
system_cpu_warn or the guide's cpu_warning, ...), else the guide's (search latency 100 ms and
error rate 1% warn; CPU 70/85, memory 75/90, disk 80/95). Containers' memory is judged against
their own limit, their CPU as a share of the host's cores.]],
  args = {
    { name = "watch", type = "number", default = 0, help = "refresh every SECONDS until interrupted (0: one reading)" },
    { name = "count", type = "integer", help = "with --watch: stop after N rounds" },
    { name = "json", type = "boolean", default = false, help = "with --watch: each round as one JSON object per line" },
    { name = "interval", type = "number", default = 1, help = "seconds request rates and CPU are measured over" },
    { name = "skip", type = "list", help = "parts to leave out: qdrant, redis, containers, host, api, access" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's project)" },
    { name = "redis_url", help = "Redis URL (default: config redis_url)" },
    { name = "api_url", help = "the API's base URL (default: config api_url, else http://localhost:8000 if it answers)" },
    { name = "access_log", default = "/var/log/nginx/access.log", help = "access log whose response times are averaged" },
    { name = "window", default = "5m", help = "access-log lines of this last window, by their own timestamps" },
    { name = "timeout", type = "number", default = 5, help = "seconds per HTTP request" },
    { name = "latency_warn_ms", type = "number", help = "search latency for WARNING (default 100, the guide's)" },
    { name = "latency_crit_ms", type = "number", help = "search latency for CRITICAL (default 500)" },
    { name = "error_rate_warn", type = "number", help = "% of 5xx answers for WARNING (default 1, the guide's)" },
    { name = "error_rate_crit", type = "number", help = "% of 5xx answers for CRITICAL (default 5)" },
    { name = "cpu_warn", type = "number", help = "CPU % for WARNING (default 70)" },
    { name = "cpu_crit", type = "number", help = "CPU % for CRITICAL (default 85)" },
    { name = "memory_warn", type = "number", help = "memory % for WARNING (default 75)" },
    { name = "memory_crit", type = "number", help = "memory % for CRITICAL (default 90)" },
  },
  run = function(args, ctx)
    if args.watch < 0 then error("--watch: seconds, 0 or more", 0) end
    if args.count and args.count < 1 then error("--count: 1 or more", 0) end
    if args.interval <= 0 then error("--interval: seconds, more than 0", 0) end
    local skip = {}
    for _, p in ipairs(args.skip or {}) do
      if not READERS[p] then error("--skip: unknown part " .. p .. " (" .. table.concat(PARTS, ", ") .. ")", 0) end
      skip[p] = true
    end
    local lim = limits(args)
    if args.watch == 0 then
      for _, c in ipairs(round(args, lim, skip, ctx, "perf/metrics").checks) do ctx.checks[#ctx.checks + 1] = c end
      return
    end
    local worst, order, n = {}, {}, 0
    while true do
      n = n + 1
      local rep = round(args, lim, skip, ctx, string.format("=== Performance Metrics %s (round %d) ===", time.iso(), n))
      if args.json then
        io.stdout:write(json.encode { time = time.iso(nil, 3), round = n, status = rep.status, checks = report.json_table(rep).checks }, "\n")
      else
        io.stdout:write(report.text(rep), "\n")
      end
      io.stdout:flush()
      for _, c in ipairs(rep.checks) do
        local w = worst[c.name]
        if not w then order[#order + 1] = c.name end
        if not w or (report.STATUS[c.status] or 3) >= (report.STATUS[w.status] or 3) then
          worst[c.name] = { status = c.status, message = c.message, metrics = c.metrics, round = n }
        end
      end
      if args.count and n >= args.count then break end
      opsh.sleep(args.watch)
    end
    local add = { ok = ctx.ok, warning = ctx.warn, critical = ctx.crit, unknown = ctx.unknown }
    for _, name in ipairs(order) do
      local w = worst[name]
      add[w.status](ctx, name, string.format("worst of %d round(s), round %d: %s", n, w.round, w.message), w.metrics)
    end
  end,
}
