-- The guide's performance benchmark suite (Performance Management / Performance Optimization,
-- "Run performance benchmarks"), on the parts opsh can reach:
--   1. embedding generation   not measured: the embedding service is the application's
--                             internals (its benchmark_embeddings.py); said in the report
--   2. search                 --queries searches against --collection (stored vectors of real
--                             points as queries), --concurrency at a time: p50/p95/p99,
--                             throughput, error rate
--   3. cache                  --operations SET and GET pairs against Redis on keys
--                             opsh:bench:<run>:<i> (deleted afterwards; 60 s TTL in case the run
--                             is killed), --concurrency at a time
--   4. end-to-end workflow    GET --workflow_path on the API (config api_url, default
--                             http://localhost:8000) --requests times, when an API answers there;
--                             otherwise said so
--   5. report                 the figures in the report (and --json), and with --output as the
--                             guide's performance report file (JSON)
-- The guide's thresholds judge them: search latency (p95) warning above 100 ms, an error rate
-- above 1% a warning; cache p95 warning above 10 ms.
local qdrant = require "opsh.qdrant"
local redis = require "opsh.redis"
local http = require "opsh.http"
local config = require "opsh.config"
local loadgen = require "opsh.loadgen"
local json = require "opsh.json"
local fs = require "opsh.fs"
local time = require "opsh.time"
local crypto = require "opsh.crypto"

local function figures(run)
  local s = run.latency
  return { requests = run.n, failed = run.failed, error_pct = run.error_pct, per_s = run.per_s,
    p50_ms = s.p50, p95_ms = s.p95, p99_ms = s.p99, max_ms = s.max, mean_ms = s.mean }
end

local function judge(ctx, name, label, run, warn_ms, crit_ms, args)
  local f = figures(run)
  local metrics = {}
  for k, v in pairs(f) do metrics[k] = v end
  if run.ok > 0 then
    ctx:threshold(name .. ".latency", f.p95_ms, warn_ms, crit_ms, string.format(
      "%s: p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, %.0f/s over %d requests at concurrency %d",
      label, f.p50_ms, f.p95_ms, f.p99_ms, f.per_s, run.n, args.concurrency), metrics)
  end
  ctx:threshold(name .. ".error_pct", f.error_pct, args.error_warn_pct, args.error_crit_pct,
    string.format("%s: %d of %d failed (%.2f%%)%s", label, run.failed, run.n, f.error_pct,
      #run.errors > 0 and (": " .. run.errors[1]) or ""), { failed = run.failed })
  return f
end

return {
  description = "The guide's benchmark suite: search latency and throughput (Qdrant), cache operations (Redis), the API end to end; p50/p95/p99 against the guide's thresholds",
  categories = { "perf", "benchmark", "intrusive" },
  guide = {
    "performance-optimization.3", "performance-optimization.4", "performance-optimization.5",
    "performance-optimization.6", "critical-thresholds.5",
  },
  notes = "Sends load: searches to Qdrant, SET/GET/DEL of its own keys opsh:bench:<run>:* in Redis (deleted "
    .. "afterwards, 60 s TTL), GETs to the API. Writes --output when given. Under --dry-run nothing is sent.",
  args = {
    { name = "collection", help = "collection to search (default: the first one)" },
    { name = "queries", type = "integer", default = 1000, help = "searches (the guide's --queries 1000)" },
    { name = "operations", type = "integer", default = 10000, help = "cache operations, half SET half GET (the guide's --operations 10000)" },
    { name = "requests", type = "integer", default = 100, help = "end-to-end requests" },
    { name = "concurrency", type = "integer", default = 8 },
    { name = "workflow_path", default = "/health", help = "the API path the end-to-end step requests" },
    { name = "skip", type = "list", help = "steps to leave out: search, cache, workflow" },
    { name = "output", help = "write the performance report (JSON) here" },
    { name = "search_warn_ms", type = "number", default = 100, help = "search p95 WARNING (the guide's 100 ms)" },
    { name = "search_crit_ms", type = "number", default = 500 },
    { name = "cache_warn_ms", type = "number", default = 10 },
    { name = "cache_crit_ms", type = "number", default = 100 },
    { name = "workflow_warn_ms", type = "number", default = 500 },
    { name = "workflow_crit_ms", type = "number", default = 2000 },
    { name = "error_warn_pct", type = "number", default = 1, help = "error rate WARNING (the guide's 1%)" },
    { name = "error_crit_pct", type = "number", default = 5 },
  },
  run = function(args, ctx)
    if args.concurrency < 1 then error("--concurrency must be at least 1", 0) end
    local skip = {}
    for _, s in ipairs(args.skip or {}) do skip[s] = true end
    local out = { started = time.iso(), concurrency = args.concurrency }
    ctx:ok("perf.embedding", "not measured: embedding generation is the application's own service, not reachable as an API from opsh")
    if ctx.dry_run then
      return ctx:ok("perf.plan", string.format("would send %d searches, %d cache operations and %d API requests at concurrency %d",
        skip.search and 0 or args.queries, skip.cache and 0 or args.operations, skip.workflow and 0 or args.requests, args.concurrency))
    end

    -- 2. search
    if not skip.search and args.queries > 0 then
      local q, err = qdrant.connect {}
      local name = args.collection
      if q and not name then
        local names = q:collections() or {}
        name = names[1]
      end
      local info = q and name and q:collection(name)
      if not q then ctx:crit("perf.search", "Qdrant is not reachable: " .. tostring(err))
      elseif not info then ctx:crit("perf.search", name and ("no collection " .. name) or "Qdrant holds no collection to search")
      else
        local vectors = {}
        local page = q:scroll(name, { limit = 256, with_vector = true, with_payload = false })
        for _, p in ipairs(page or {}) do
          if type(p.vector) == "table" and #p.vector > 0 then vectors[#vectors + 1] = p.vector end
        end
        if #vectors == 0 then
          ctx:unknown("perf.search", name .. ": no stored vectors to search with (empty, or named vectors)")
        else
          local run = loadgen.run { n = args.queries, concurrency = args.concurrency, fn = function()
            return q:query(name, { query = vectors[math.random(#vectors)], limit = 10 })
          end }
          out.search = judge(ctx, "perf.search", "search " .. name, run, args.search_warn_ms, args.search_crit_ms, args)
          out.search.collection = name
        end
      end
    end

    -- 3. cache
    if not skip.cache and args.operations > 0 then
      local url = config.get("redis_url")
      local r, err = redis.connect(url)
      if not r then
        ctx:crit("perf.cache", "Redis is not reachable: " .. tostring(err))
      else
        local prefix = "opsh:bench:" .. crypto.random_hex(4) .. ":"
        local value = string.rep("v", 256)
        local half = math.max(1, args.operations // 2)
        -- one connection per worker, as a client application has
        local run = loadgen.run { n = half * 2, concurrency = args.concurrency,
          setup = function() return redis.connect(url) end,
          teardown = function(c) if c then c:close() end end,
          fn = function(i, c)
            local key = prefix .. ((i - 1) % half + 1)
            if i <= half then return c:call("SET", key, value, "EX", "60") end
            -- a GET that finds nothing (its SET still on another worker) is still a served request
            local _, gerr = c:call("GET", key)
            if gerr then return nil, gerr end
            return true
          end }
        -- remove what was written, in batches
        local keys = {}
        for i = 1, half do
          keys[#keys + 1] = prefix .. i
          if #keys == 500 or i == half then r:call("UNLINK", table.unpack(keys)); keys = {} end
        end
        r:close()
        out.cache = judge(ctx, "perf.cache", "cache SET/GET", run, args.cache_warn_ms, args.cache_crit_ms, args)
      end
    end

    -- 4. end to end
    if not skip.workflow and args.requests > 0 then
      local base = (config.get("api_url") or "http://localhost:8000"):gsub("/+$", "")
      local url = base .. args.workflow_path
      local probe, perr = http.get(url, { timeout = 5 })
      if not probe then
        ctx:unknown("perf.workflow", "no API answers at " .. url .. " (" .. tostring(perr) .. "): set api_url, or --skip workflow")
      else
        local run = loadgen.run { n = args.requests, concurrency = args.concurrency, fn = function()
          local res, herr = http.get(url, { timeout = 10 })
          if not res then return nil, herr end
          if res.status >= 400 then return nil, "HTTP " .. res.status end
          return true
        end }
        out.workflow = judge(ctx, "perf.workflow", "GET " .. url, run, args.workflow_warn_ms, args.workflow_crit_ms, args)
        out.workflow.url = url
      end
    end

    -- 5. the report
    out.finished = time.iso()
    if args.output then
      local ok, werr = fs.write_atomic(args.output, json.encode(out, { pretty = true, sort_keys = true }))
      if not ok then return ctx:crit("perf.report", "cannot write " .. args.output .. ": " .. tostring(werr)) end
      ctx:ok("perf.report", "performance report written to " .. args.output)
    end
  end,
}
