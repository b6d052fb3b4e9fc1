-- The guide's connection-pool health check, on opsh's own pools (not the application's SQL
-- pool): a pool per configured endpoint (redis_url, qdrant_url) takes `calls` probe calls
-- (PING; GET /healthz), `concurrency` at a time, and reports the guide's five readings:
-- status, utilisation (peak checked-out over size; the guide's alert above 80%), the load
-- model's accuracy, the breaker's state and the affinity score.
--
-- The model's accuracy is MASE at the 25 s horizon on forecasts whose targets it never
-- trained on (below 1 beats "the load stays as it is"); the guide's "accuracy" (1 - MAE) is
-- always above 0.7 for loads in [0, 1] and says nothing, so it is not reported.
local ops = require "opsh.pool_ops"
local time = require "opsh.time"

local args = {
  { name = "calls", type = "integer", default = 20, help = "probe calls per pool" },
  { name = "concurrency", type = "integer", default = 4, help = "probe calls in flight at once" },
  { name = "utilization_warn", type = "number", default = 80, help = "peak utilisation % for WARNING (the guide's 80%)" },
}
for _, a in ipairs(ops.ARGS) do args[#args + 1] = a end

return {
  description = "Connection pool health on opsh's own pools: status, utilisation (80% alert), model accuracy, breaker, affinity",
  categories = { "pool", "check", "safe" },
  guide = {
    "1-connection-pool-health-monitoring.1", "1-connection-pool-health-monitoring.2",
    "1-connection-pool-health-monitoring.3", "1-connection-pool-health-monitoring.4",
    "1-connection-pool-health-monitoring.5", "1-connection-pool-health-monitoring.6",
    "1-performance-regression-investigation.2",
  },
  args = args,
  notes = "Changes nothing on the servers: PING and GET /healthz only. Writes opsh's own state in pool_state_dir "
    .. "(default ~/.local/state/opsh/pool): each pool's load predictor (<target>.model) and one history entry in "
    .. "state.json (p95, calls, accuracy, breaker transitions) that pool/weekly-review reads; nothing under --dry-run.",
  run = function(a, ctx)
    if ops.via_agent("health", a, ctx) then return end
    local state = ops.load_state()
    local targets = ops.open(a, state)
    for _, t in ipairs(targets) do
      local name = "pool." .. t.target
      local started = time.monotonic()
      local r = ops.exercise(t, a.calls, a.concurrency)
      local seconds = time.monotonic() - started
      local s = t.pool:stats()
      if r.ok == 0 then
        ctx:crit(name .. ".status", string.format("%s: every probe failed (%d): %s", t.url, r.failed, tostring(r.last_error)),
          { ok = r.ok, failed = r.failed })
      elseif r.failed > 0 then
        ctx:warn(name .. ".status", string.format("%s: %d of %d probes failed: %s", t.url, r.failed, r.ok + r.failed, tostring(r.last_error)),
          { ok = r.ok, failed = r.failed })
      else
        ctx:ok(name .. ".status", string.format("%s: %d probes, p95 %.2f ms", t.url, r.ok, s.p95_ms), { ok = r.ok, failed = 0, p95_ms = s.p95_ms })
      end
      local pct = r.utilization * 100
      local util = string.format("peak %.0f%% (%d/%d checked out)", pct, r.peak, r.size)
      if pct > a.utilization_warn then
        ctx:warn(name .. ".utilization", util .. string.format(": above %g%%: high connection pool utilization (see pool/scale)", a.utilization_warn),
          { utilization_pct = pct, checked_out = r.peak, size = r.size })
      else
        ctx:ok(name .. ".utilization", util, { utilization_pct = pct, checked_out = r.peak, size = r.size })
      end
      local pred = t.pool:predictor()
      local acc = ops.accuracy(pred, 25)
      if acc and acc.mase then
        local msg = string.format("MASE %.2f at 25 s (%s, %d forecasts), MAE %.3f; %d samples", acc.mase, acc.source, acc.count, acc.mae or 0, pred.samples)
        if acc.mase > 1 then ctx:warn(name .. ".model", msg .. ": worse than the last value (pool/retrain)", { mase = acc.mase, mae = acc.mae })
        else ctx:ok(name .. ".model", msg, { mase = acc.mase, mae = acc.mae }) end
      else
        ctx:ok(name .. ".model", string.format("not trained yet: %d samples of the 60 a first model needs (one per run of a pool procedure, at most every 5 s)", pred and pred.samples or 0),
          { samples = pred and pred.samples or 0 })
      end
      local b = t.pool:breaker():status()
      local bmsg = string.format("%s (failures: connection %d, timeout %d, query %d, transaction %d, resource %d)", b.state,
        b.counts.connection, b.counts.timeout, b.counts.query, b.counts.transaction, b.counts.resource)
      if b.state == "open" then ctx:crit(name .. ".breaker", bmsg, { open = 1 })
      elseif b.state == "half_open" then ctx:warn(name .. ".breaker", bmsg, { open = 0 })
      else ctx:ok(name .. ".breaker", bmsg, { open = 0 }) end
      local aff = t.pool:affinity()
      ctx:ok(name .. ".affinity", string.format("score %.2f over %d patterns (%d hits, %d misses)", aff.score, #aff.patterns, aff.hits, aff.misses),
        { score = aff.score })
      local transitions = {}
      for _, tr in ipairs(b.transitions) do transitions[#transitions + 1] = { from = tr.from, to = tr.to, reason = tr.reason } end
      state.history[#state.history + 1] = {
        t = time.now(), target = t.target, calls = s.calls_total, failed = s.failed_total, seconds = seconds,
        p95_ms = s.p95_ms, utilization = r.utilization, mase = acc and acc.mase, mae = acc and acc.mae,
        breaker = b.state, failures = b.failures_total, transitions = transitions, affinity = aff.score,
      }
    end
    ops.save_models(targets)
    ops.save_state(state)
  end,
}
