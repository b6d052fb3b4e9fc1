-- A canary search probe: a few hundred real searches against a collection, with latency
-- percentiles and the error rate, judged by the guide's thresholds (search latency warning
-- above 100 ms, error rate above 1%). Run it from cron or the agent every few minutes:
--
--   opsh run examples/canary-search.lua --collection docs
--   opsh --prom run examples/canary-search.lua --collection docs > /var/lib/node_exporter/canary.prom
--
-- Query vectors are the stored vectors of randomly chosen points (so the searches look like
-- real ones and find real neighbours), or random unit vectors with --random. Searches run
-- --concurrency at a time. Reads only.
local qdrant = require "opsh.qdrant"
local loadgen = require "opsh.loadgen"

local function random_unit(dim)
  local v, norm = {}, 0
  for i = 1, dim do v[i] = math.random() * 2 - 1; norm = norm + v[i] * v[i] end
  norm = math.sqrt(norm)
  for i = 1, dim do v[i] = v[i] / norm end
  return v
end

return {
  description = "Example: canary searches against a Qdrant collection, latency p50/p95/p99 and error rate against the guide's thresholds",
  categories = { "example", "qdrant", "check", "safe" },
  args = {
    { name = "collection", required = true },
    { name = "url", help = "Qdrant URL (default: config qdrant_url)" },
    { name = "queries", type = "integer", default = 200 },
    { name = "concurrency", type = "integer", default = 4 },
    { name = "limit", type = "integer", default = 10, help = "neighbours per search" },
    { name = "random", type = "boolean", default = false, help = "random unit vectors instead of stored ones" },
    { name = "latency_warn_ms", type = "number", default = 100, help = "p95 above this is a WARNING (the guide's 100 ms)" },
    { name = "latency_crit_ms", type = "number", default = 500 },
    { name = "error_warn_pct", type = "number", default = 1, help = "error rate above this % is a WARNING (the guide's 1%)" },
    { name = "error_crit_pct", type = "number", default = 5 },
  },
  run = function(args, ctx)
    local q, err = qdrant.connect { url = args.url }
    if not q then return ctx:crit("canary", tostring(err)) end
    local info, ierr = q:collection(args.collection)
    if not info then return ctx:crit("canary", args.collection .. ": " .. tostring(ierr)) end
    local params = info.config.params.vectors
    if not params.size then return ctx:unknown("canary", args.collection .. " has named vectors: this example probes collections with one vector") end

    -- the query vectors
    local vectors = {}
    if not args.random and (info.points_count or 0) > 0 then
      local page = q:scroll(args.collection, { limit = math.min(args.queries, 256), with_vector = true, with_payload = false })
      for _, p in ipairs(page or {}) do vectors[#vectors + 1] = p.vector end
    end
    local source = #vectors > 0 and (#vectors .. " stored vectors") or "random vectors"
    if #vectors == 0 then for i = 1, math.min(args.queries, 64) do vectors[i] = random_unit(params.size) end end

    local run = loadgen.run { n = args.queries, concurrency = args.concurrency, fn = function()
      return q:query(args.collection, { query = vectors[math.random(#vectors)], limit = args.limit })
    end }
    local s = run.latency
    local m = { queries = args.queries, errors = run.failed, error_pct = run.error_pct, qps = run.per_s }
    if s.n > 0 then
      m.p50_ms, m.p95_ms, m.p99_ms, m.max_ms = s.p50, s.p95, s.p99, s.max
      ctx:threshold("canary.latency", s.p95, args.latency_warn_ms, args.latency_crit_ms, string.format(
        "%s: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms over %d searches, %.0f/s at concurrency %d (queries: %s)",
        args.collection, s.p50, s.p95, s.p99, s.max, s.n, run.per_s, args.concurrency, source), m)
    end
    ctx:threshold("canary.error_pct", run.error_pct, args.error_warn_pct, args.error_crit_pct,
      string.format("%d of %d searches failed (%.1f%%)%s", run.failed, args.queries, run.error_pct,
        #run.errors > 0 and (": " .. run.errors[1]) or ""), { errors = run.failed })
  end,
}
