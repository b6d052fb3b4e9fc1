-- The guide's performance-regression investigation, on Qdrant's own metrics in Prometheus:
-- the p95 latency of the query endpoint now against a baseline, with the guide's 25% rule.
--
-- The guide queries db_query_duration_seconds_bucket, a metric of its application's
-- connection pool; Qdrant exports rest_responses_duration_seconds (a histogram, labelled
-- method and endpoint, with service.metrics_prefix prepended when the server sets one), so
-- that is what is read here:
--   histogram_quantile(0.95, sum by (le) (rate(rest_responses_duration_seconds_bucket{endpoint="…/points/query"}[5m])))
-- The baseline is a number (--baseline seconds; the guide's 0.25) or the same p95 measured in
-- the past (--baseline_offset 7d: the same window a week earlier, from Prometheus's history).
-- The guide's follow-up checks (ML model accuracy, circuit-breaker failures, connection
-- affinity score) read metrics of that application's pool, which this stack does not have;
-- they belong with opsh's own pool and are not faked here.
local prom = require "opsh.prom"
local config = require "opsh.config"

local function fmt(s) return string.format("%.3f s", s) end

return {
  description = "Performance regression: p95 of Qdrant's query endpoint from Prometheus against a baseline (the guide's 25% rule)",
  categories = { "performance", "qdrant", "prometheus", "check", "safe" },
  guide = {
    "1-performance-regression-investigation.1", "weekly-database-health-review.4", "daily-tasks.11",
    "scheduled-maintenance.11",
  },
  args = {
    { name = "baseline", type = "number", default = 0.25, help = "baseline p95 in seconds (the guide's 250 ms)" },
    { name = "baseline_offset", help = "take the baseline from Prometheus's history this long ago instead (e.g. 7d)" },
    { name = "window", default = "5m", help = "rate window of the p95" },
    { name = "threshold_pct", type = "number", default = 25, help = "increase over the baseline, in %, that counts as a regression" },
    { name = "endpoint", default = "/collections/{collection_name}/points/query", help = "Qdrant route template to examine" },
    { name = "selector", default = "", help = "extra label matchers, e.g. job=\"qdrant\"" },
    { name = "at", help = "evaluate at this time (Unix time or ISO 8601) instead of now" },
  },
  run = function(args, ctx)
    local prefix = config.get("qdrant_metrics_prefix") or ""
    local matchers = string.format('endpoint="%s"', args.endpoint:gsub('"', '\\"'))
    if args.selector ~= "" then matchers = matchers .. "," .. args.selector end
    local function p95(offset)
      return string.format('histogram_quantile(0.95, sum by (le) (rate(%srest_responses_duration_seconds_bucket{%s}[%s]%s)))',
        prefix, matchers, args.window, offset and (" offset " .. offset) or "")
    end
    local opts = { time = args.at }
    local current, err = prom.query(p95(), opts)
    if not current then return ctx:unknown("perf.p95", "Prometheus: " .. tostring(err)) end
    local now = current[1] and current[1].value
    if not now or now ~= now then
      return ctx:unknown("perf.p95", "no answered queries to " .. args.endpoint .. " in the last " .. args.window
        .. " (is Prometheus scraping Qdrant's /metrics?)")
    end
    local baseline, source = args.baseline, "the configured baseline"
    if args.baseline_offset then
      local past, perr = prom.query(p95(args.baseline_offset), opts)
      if not past then return ctx:unknown("perf.baseline", "Prometheus: " .. tostring(perr)) end
      local b = past[1] and past[1].value
      if not b or b ~= b then
        return ctx:unknown("perf.baseline", "no data " .. args.baseline_offset .. " ago to take a baseline from")
      end
      baseline, source = b, "the p95 " .. args.baseline_offset .. " ago"
    end
    local change = (now - baseline) / baseline * 100
    local rate = prom.query(string.format('sum(rate(%srest_responses_total{%s}[%s]))', prefix, matchers, args.window), opts)
    local qps = rate and rate[1] and rate[1].value
    local m = { p95_seconds = now, baseline_seconds = baseline, change_pct = change, requests_per_second = qps or -1 }
    local msg = string.format("p95 %s vs %s (%s): %+.1f%%%s", fmt(now), fmt(baseline), source, change,
      qps and string.format(", %.2f requests/s", qps) or "")
    if change > args.threshold_pct then
      ctx:crit("perf.regression", "performance regression detected: " .. msg, m)
    else
      ctx:ok("perf.regression", msg, m)
    end
  end,
}
