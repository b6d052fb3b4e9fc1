-- Search-performance troubleshooting: the guide's "Search Performance Degradation" steps.
--
-- 1. Index status: the collection's status and the share of vectors in the HNSW index.
-- 2. Query latency from Qdrant's own metrics: rest_responses_* for the points/query endpoint
--    (the guide greps `search_duration`, which Qdrant does not export; its histogram is
--    rest_responses_duration_seconds, timed for HTTP 200 answers only), plus a few live probe
--    queries timed by opsh (a query by the id of an existing point: a read).
-- 3. HNSW parameters: --m and --ef_construct update hnsw_config by PATCH (checked against the
--    spec, refused under --dry-run; Qdrant rebuilds the index in the background). The guide's
--    `"ef": 128` is not a collection setting and Qdrant would silently ignore it: the search-time
--    ef is the query parameter params.hnsw_ef, which --hnsw_ef applies to the probes here.
local qdrant = require "opsh.qdrant"
local prom = require "opsh.prom"
local thresholds = require "opsh.thresholds"
local time = require "opsh.time"

local QUERY_ENDPOINT = "/collections/{collection_name}/points/query"

return {
  description = "Search performance: index status, query latency from Qdrant's metrics and live probes, HNSW m/ef_construct update",
  categories = { "qdrant", "troubleshooting", "performance", "intrusive" },
  guide = {
    "daily-tasks.8", "performance-monitoring.2", "common-issues-and-solutions.6",
    "common-issues-and-solutions.7", "common-issues-and-solutions.8", "common-issues-and-solutions.9",
    "critical-thresholds.4",
  },
  args = {
    { name = "collection", default = "documents", help = "collection to examine" },
    { name = "probes", type = "integer", default = 5, help = "live probe queries to time (0: none)" },
    { name = "hnsw_ef", type = "integer", help = "search-time ef for the probes (params.hnsw_ef; the guide's \"ef\")" },
    { name = "m", type = "integer", help = "set hnsw_config.m (edges per node) by PATCH" },
    { name = "ef_construct", type = "integer", help = "set hnsw_config.ef_construct by PATCH" },
    { name = "latency_warn_ms", type = "number", help = "average/p95 query latency in ms for WARNING (default 100)" },
    { name = "latency_crit_ms", type = "number", help = "average/p95 query latency in ms for CRITICAL (default 500)" },
  },
  run = function(args, ctx)
    local q = qdrant.connect()
    local c = args.collection
    local warn_ms = thresholds.get(args, "qdrant", "latency_warn_ms", 100)
    local crit_ms = thresholds.get(args, "qdrant", "latency_crit_ms", 500)
    local function level(ms) return thresholds.level(ms, warn_ms, crit_ms) end

    -- 1. index status
    local info, err = q:collection(c)
    if not info then return ctx:crit("qdrant.search.status", tostring(err)) end
    local hnsw = info.config and info.config.hnsw_config or {}
    local st = ({ green = "ok", yellow = "warn", grey = "warn", red = "crit" })[info.status] or "unknown"
    ctx[st](ctx, "qdrant.search.status", string.format("%s: %s, %d of %d points' vectors indexed; hnsw m=%s ef_construct=%s",
      c, info.status, info.indexed_vectors_count or 0, info.points_count or 0, tostring(hnsw.m), tostring(hnsw.ef_construct)),
      { points = info.points_count or 0, indexed_vectors = info.indexed_vectors_count or 0 })

    -- 2a. Qdrant's own latency figures
    local m, merr = q:metrics()
    if not m then
      ctx:unknown("qdrant.search.metrics", tostring(merr))
    else
      local sel = { method = "POST", endpoint = QUERY_ENDPOINT, status = "200" }
      local count = prom.find(m, "rest_responses_total", sel)
      if not count then
        ctx:ok("qdrant.search.metrics", "no points/query requests answered since Qdrant started")
      else
        local avg = prom.find(m, "rest_responses_avg_duration_seconds", sel)
        local max = prom.find(m, "rest_responses_max_duration_seconds", sel)
        -- the histogram has no status label: Qdrant times 200 answers only
        local buckets = prom.select(m, "rest_responses_duration_seconds_bucket", { method = "POST", endpoint = QUERY_ENDPOINT })
        local p95 = prom.histogram_quantile(0.95, buckets)
        local avg_ms = avg and avg.value * 1000 or 0
        -- the histogram's buckets are coarse (1, 5, 10, 20, 50 ms, ...): an estimate above the
        -- observed maximum is capped to it
        if p95 and max then p95 = math.min(p95, max.value) end
        local p95_ms = p95 and p95 * 1000
        local worst = math.max(avg_ms, p95_ms or 0)
        ctx[level(worst)](ctx, "qdrant.search.metrics", string.format("%d queries since start: avg %.1f ms%s%s",
          math.floor(count.value), avg_ms, p95_ms and string.format(", p95 %.1f ms", p95_ms) or "",
          max and string.format(", max %.1f ms", max.value * 1000) or ""),
          { queries = count.value, avg_ms = avg_ms, p95_ms = p95_ms or -1, max_ms = max and max.value * 1000 or -1 })
      end
    end

    -- 2b. live probes: query by the id of existing points (the point itself is excluded)
    if args.probes > 0 then
      local points = q:scroll(c, { limit = args.probes, with_payload = false })
      if not points or #points == 0 then
        ctx:ok("qdrant.search.probe", "no points to probe with")
      else
        local times = {}
        for i = 1, args.probes do
          local p = points[(i - 1) % #points + 1]
          local t0 = time.monotonic()
          local r, perr = q:query(c, { query = p.id, limit = 10, params = args.hnsw_ef and { hnsw_ef = args.hnsw_ef } or nil })
          if not r then ctx:crit("qdrant.search.probe", tostring(perr)) times = nil break end
          times[#times + 1] = (time.monotonic() - t0) * 1000
        end
        if times then
          table.sort(times)
          local median = times[(#times + 1) // 2]
          ctx[level(median)](ctx, "qdrant.search.probe", string.format("%d probe queries%s: median %.1f ms, slowest %.1f ms",
            #times, args.hnsw_ef and (" with hnsw_ef=" .. args.hnsw_ef) or "", median, times[#times]),
            { median_ms = median, max_ms = times[#times] })
        end
      end
    end

    -- 3. HNSW parameters
    local diff = {}
    if args.m then diff.m = args.m end
    if args.ef_construct then diff.ef_construct = args.ef_construct end
    if next(diff) then
      local r, perr = q:update_collection(c, { hnsw_config = diff })
      if not r then return ctx:crit("qdrant.search.hnsw", "not changed: " .. tostring(perr)) end
      local what = string.format("m %s -> %s, ef_construct %s -> %s", tostring(hnsw.m), tostring(diff.m or hnsw.m),
        tostring(hnsw.ef_construct), tostring(diff.ef_construct or hnsw.ef_construct))
      if type(r) == "table" and r.dry_run then return ctx:ok("qdrant.search.hnsw", "would set " .. what) end
      ctx:ok("qdrant.search.hnsw", "set " .. what .. "; Qdrant rebuilds the index in the background (qdrant/collections shows progress)")
    end
  end,
}
