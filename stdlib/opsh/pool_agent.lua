--- opsh.pool_agent: the lua/pool/ procedures on the opsh agent's pools, through its API
--- (docs/agent.md), when --agent URL or the configured agent_url names one. The agent holds the
--- long-lived pools, breakers and load predictors; these forms read and change them with the
--- guide's own calls (the endpoints of Enhanced Database Connection Pool Management) and report
--- the same checks as the local forms. The key is the configured agent_api_key (X-API-Key).
local config = require "opsh.config"
local fs = require "opsh.fs"
local http = require "opsh.http"
local json = require "opsh.json"
local ops = require "opsh.pool_ops"
local time = require "opsh.time"

local M = {}

--- One call: the decoded JSON answer, or nil and a message naming the call and the agent's reason.
function M.call(args, method, path, body)
  local base = ops.agent_url(args)
  local ok, key = pcall(config.get, "agent_api_key")
  local headers = { Accept = "application/json" }
  if ok and key and key ~= "" then headers["X-API-Key"] = key end
  local r, err = http.request { method = method, url = base .. path, headers = headers, json = body,
    timeout = 30, allow_status = true, retries = 0 }
  if not r then return nil, string.format("%s %s%s: %s", method, base, path, tostring(err)) end
  if r.dry_run then return r end
  if r.status >= 300 then
    local why = type(r.json) == "table" and r.json.message or r.body
    return nil, string.format("%s %s%s: HTTP %d: %s", method, base, path, r.status, tostring(why))
  end
  if type(r.json) ~= "table" then return nil, string.format("%s %s%s: not a JSON answer", method, base, path) end
  return r.json
end

--- A JSON number, or nil (for null).
local function num(v) return type(v) == "number" and v or nil end

local function chosen(args, target) return args.target == "all" or args.target == target end

--- Calls the agent; on failure reports UNKNOWN pool.agent and returns nil.
local function get(args, ctx, method, path, body)
  local v, err = M.call(args, method, path, body)
  if not v then ctx:unknown("pool.agent", err) end
  return v
end

local function target_body(args, t)
  t = t or {}
  if args.target ~= "all" then t.target = args.target end
  return t
end

local function counts(c)
  return string.format("connection %d, timeout %d, query %d, transaction %d, resource %d", c.connection, c.timeout, c.query, c.transaction, c.resource)
end

local function breaker_line(b)
  local c = b.config
  local th = c.failure_threshold
  return string.format("%s; failures %s; thresholds %d/%d/%d/%d/%d, recovery %gs, %d half-open calls", b.state, counts(b.failures),
    th.connection, th.timeout, th.query, th.transaction, th.resource, c.recovery_timeout, c.half_open_max_calls)
end

function M.health(args, ctx)
  local stats = get(args, ctx, "GET", "/admin/db-stats")
  if not stats then return end
  local breakers = get(args, ctx, "GET", "/api/admin/circuit-breaker-status")
  local model = get(args, ctx, "GET", "/api/admin/ml-model-stats")
  local aff = get(args, ctx, "GET", "/api/admin/connection-affinity-performance")
  if not (breakers and model and aff) then return end
  for _, target in ipairs(ops.TARGETS) do
    if chosen(args, target) then
      local p = stats.connection_pool[target]
      local name = "pool." .. target
      if p.reachable then
        ctx:ok(name .. ".status", string.format("agent %s: %s reachable through the agent's pool (%s)", ops.agent_url(args), p.pool, stats.connection_pool.status))
      else
        ctx:crit(name .. ".status", string.format("agent %s: %s not reachable: %s", ops.agent_url(args), p.pool, tostring(p.error)))
      end
      local pct = p.utilization * 100
      local util = string.format("%.0f%% (%d/%d checked out, peak %d)", pct, p.checked_out, p.size, p.peak_checked_out)
      if pct > args.utilization_warn then
        ctx:warn(name .. ".utilization", util .. string.format(": above %g%%: high connection pool utilization (see pool/scale)", args.utilization_warn),
          { utilization_pct = pct, checked_out = p.checked_out, size = p.size })
      else
        ctx:ok(name .. ".utilization", util, { utilization_pct = pct, checked_out = p.checked_out, size = p.size })
      end
      for _, m in ipairs(model.models) do
        if m.target == target then
          if num(m.mase) then
            local msg = string.format("MASE %.2f (%s), accuracy %.2f; %d samples, %d since the last training", m.mase, m.source, num(m.accuracy) or 0, m.samples, m.training_samples)
            if m.mase > 1 then ctx:warn(name .. ".model", msg .. ": worse than the last value (pool/retrain)", { mase = m.mase })
            else ctx:ok(name .. ".model", msg, { mase = m.mase }) end
          else
            ctx:ok(name .. ".model", string.format("not trained yet: %d samples", m.samples), { samples = m.samples })
          end
        end
      end
      for _, b in ipairs(breakers.breakers) do
        if b.target == target then
          local msg = string.format("%s (failures: %s)", b.state, counts(b.failures))
          if b.state == "open" then ctx:crit(name .. ".breaker", msg, { open = 1 })
          elseif b.state == "half_open" then ctx:warn(name .. ".breaker", msg, { open = 0 })
          else ctx:ok(name .. ".breaker", msg, { open = 0 }) end
        end
      end
      for _, a in ipairs(aff.pools) do
        if a.target == target then
          ctx:ok(name .. ".affinity", string.format("score %.2f (%d hits, %d misses)", a.performance_score, a.hits, a.misses), { score = a.performance_score })
        end
      end
    end
  end
end

function M.breaker(args, ctx)
  local v
  if args.action == "status" then
    v = get(args, ctx, "GET", "/api/admin/circuit-breaker-status")
    if not v then return end
    for _, b in ipairs(v.breakers) do
      if chosen(args, b.target) then
        local check = b.state == "open" and ctx.crit or ctx.ok
        check(ctx, "pool." .. b.target .. ".breaker", breaker_line(b), { open = b.state == "open" and 1 or 0, rejected = b.rejected_total })
      end
    end
  elseif args.action == "reset" then
    v = get(args, ctx, "POST", "/api/admin/circuit-breaker-reset", target_body(args, { failure_type = "all" }))
    if not v then return end
    if v.dry_run then return ctx:ok("pool.breaker.reset", tostring(v.would)) end
    for _, r in ipairs(v.reset) do ctx:ok("pool." .. r.target .. ".breaker", string.format("reset by the agent: %s -> %s", r.from, r.to)) end
  elseif args.action == "test" then
    v = get(args, ctx, "POST", "/api/admin/circuit-breaker-test", target_body(args, { test_type = "controlled_failure" }))
    if not v then return end
    if v.dry_run then return ctx:ok("pool.breaker.test", tostring(v.would)) end
    for _, r in ipairs(v.results) do
      local name = "pool." .. r.target .. ".breaker.test"
      if r.refused_while_open and r.recovered_after_reset then
        ctx:ok(name, "controlled failure on the agent: forced open, a call was refused at once (no connection made); reset, a call succeeded",
          { refused = 1, recovered = 1 })
      else
        ctx:crit(name, string.format("controlled failure on the agent: refused while open: %s (%s); succeeded after reset: %s (%s)",
          tostring(r.refused_while_open), r.refusal, tostring(r.recovered_after_reset), tostring(r.error)),
          { refused = r.refused_while_open and 1 or 0, recovered = r.recovered_after_reset and 1 or 0 })
      end
    end
  else
    local body = target_body(args, { failure_threshold = args.failure_threshold, recovery_timeout = args.recovery_timeout,
      half_open_max_calls = args.half_open_max_calls })
    if not (body.failure_threshold or body.recovery_timeout or body.half_open_max_calls) then
      return ctx:unknown("pool.breaker.configure", "nothing to configure: give --failure_threshold, --recovery_timeout or --half_open_max_calls")
    end
    local r, err = M.call(args, "PUT", "/api/admin/circuit-breaker-config", body)
    if not r then return ctx:crit("pool.breaker.configure", err) end
    if r.dry_run then return ctx:ok("pool.breaker.configure", tostring(r.would)) end
    for _, c in ipairs(r.configured) do
      local th = c.config.failure_threshold
      ctx:ok("pool." .. c.target .. ".breaker", string.format("configured on the agent: thresholds %d/%d/%d/%d/%d, recovery %gs, %d half-open calls",
        th.connection, th.timeout, th.query, th.transaction, th.resource, c.config.recovery_timeout, c.config.half_open_max_calls))
    end
  end
end

function M.retrain(args, ctx)
  local v = get(args, ctx, "POST", "/api/admin/retrain-ml-model", target_body(args, { force = args.force, background = false }))
  if not v then return end
  if v.dry_run then return ctx:ok("pool.retrain", tostring(v.would)) end
  if v.status == "not_needed" then return ctx:ok("pool.retrain", "not needed on the agent: " .. v.reason) end
  for _, r in ipairs(v.reports) do
    local name = "pool." .. r.target .. ".retrain"
    if v.status ~= "completed" then
      ctx:crit(name, string.format("%s on the agent: %s", v.status, tostring(v.error)))
    elseif num(r.mase) then
      ctx:ok(name, string.format("completed on the agent: %d samples in %.1f ms; held-out MASE %.2f", r.samples, r.duration_seconds * 1000, r.mase),
        { samples = r.samples, mase = r.mase })
    else
      ctx:warn(name, string.format("completed on the agent on %d samples, but no horizon has enough history for a model yet", r.samples), { samples = r.samples })
    end
  end
end

function M.affinity(args, ctx)
  local pats = get(args, ctx, "GET", "/api/admin/connection-affinity-patterns")
  local perf = get(args, ctx, "GET", "/api/admin/connection-affinity-performance")
  if not (pats and perf) then return end
  for _, p in ipairs(perf.pools) do
    if chosen(args, p.target) then
      local name = "pool." .. p.target .. ".affinity"
      local lines = {}
      for _, q in ipairs(pats.patterns) do
        if q.target == p.target and #lines < 10 then
          lines[#lines + 1] = string.format("%s: %d calls, %.2f ms avg", q.normalized_query, q.execution_count, q.avg_execution_time_ms)
        end
      end
      ctx:ok(name .. ".patterns", #lines .. " patterns" .. (#lines > 0 and (": " .. table.concat(lines, "; ")) or ""), { patterns = #lines })
      local check = p.performance_score < args.min_affinity_score and ctx.warn or ctx.ok
      check(ctx, name .. ".performance", string.format("score %.2f over %d connections", p.performance_score, #p.connections), { score = p.performance_score })
    end
  end
  local cleared = get(args, ctx, "DELETE", "/api/admin/connection-affinity-patterns", target_body(args, { min_performance_score = args.min_score }))
  if not cleared then return end
  ctx:ok("pool.affinity.clear", cleared.dry_run and tostring(cleared.would) or string.format("%d low performer entries (score below %g) cleared on the agent", cleared.cleared, args.min_score),
    { cleared = cleared.cleared or 0 })
  local opt = get(args, ctx, "POST", "/api/admin/optimize-connection-specializations", target_body(args))
  if not opt then return end
  ctx:ok("pool.affinity.optimize", opt.dry_run and tostring(opt.would) or (#opt.changes == 0 and "every pattern already prefers its best connection"
    or string.format("%d patterns moved to their best connection", #opt.changes)), { changed = opt.changes and #opt.changes or 0 })
end

function M.scale(args, ctx)
  local stats = get(args, ctx, "GET", "/admin/db-stats")
  if not stats then return end
  for _, target in ipairs(ops.TARGETS) do
    if chosen(args, target) then
      local p = stats.connection_pool[target]
      local name = "pool." .. target .. ".scale"
      local pct = p.utilization * 100
      local usage = string.format("%d/%d checked out (%.0f%%)", p.checked_out, p.size, pct)
      if args.action == "review" then
        ctx:ok(name, string.format("agent pool size %d (bounds %d-%d): a temporary size returns by itself when its review is due", p.size, p.min, p.max))
      elseif pct > args.threshold then
        local to = p.size + args.increase
        local r, err = M.call(args, "PUT", "/api/admin/connection-pool-config", { pool_size = to, temporary = true, review_after = args.review_after, target = target })
        if not r then ctx:crit(name, err)
        elseif r.dry_run then ctx:warn(name, tostring(r.would))
        else
          ctx:warn(name, string.format("emergency scaling on the agent: %s above %g%%: size %d -> %d (temporary, review due %s)", usage, args.threshold,
            p.size, to, time.iso(r.pools[1].review_due)), { utilization_pct = pct, from = p.size, to = to })
        end
      else
        ctx:ok(name, string.format("%s: at most %g%%, no scaling", usage, args.threshold), { utilization_pct = pct, size = p.size })
      end
    end
  end
end

function M.weekly_review(args, ctx)
  local weekly = get(args, ctx, "GET", "/api/admin/connection-affinity-weekly-report")
  local summary = get(args, ctx, "GET", "/api/admin/circuit-breaker-health-summary")
  local model = get(args, ctx, "GET", "/api/admin/ml-model-stats")
  if not (weekly and summary and model) then return end
  local p95s, calls, seconds = {}, 0, 0
  for _, target in ipairs(ops.TARGETS) do
    local w = weekly.pools[target]
    if chosen(args, target) and w then
      local name = "pool." .. target .. ".review"
      if w.snapshots == 0 then
        ctx:unknown(name, "the agent has no snapshots of this pool in the last 7 days")
      else
        if num(w.p95_latency_seconds) then p95s[#p95s + 1] = w.p95_latency_seconds end
        ctx:ok(name .. ".affinity", num(w.affinity_score_mean) and string.format("mean affinity score %.2f over %d snapshots", w.affinity_score_mean, w.snapshots)
          or string.format("no affinity score yet (%d snapshots)", w.snapshots))
        local check = (w.breaker_opens or 0) > 0 and ctx.warn or ctx.ok
        check(ctx, name .. ".breaker", string.format("%d breaker openings", w.breaker_opens), { opened = w.breaker_opens })
        ctx:ok(name .. ".performance", string.format("%g calls, throughput %s calls/s", w.calls,
          num(w.throughput) and string.format("%.2f", w.throughput) or "n/a"), { throughput = num(w.throughput) })
      end
    end
  end
  local p95 = json.null
  if #p95s > 0 then local s = 0 for _, v in ipairs(p95s) do s = s + v end p95 = s / #p95s end
  local report = { week_ending = weekly.week_ending, p95_latency = p95, throughput = json.null,
    ml_model_accuracy = model.accuracy, ml_model_accuracy_measure = model.accuracy_measure,
    circuit_breaker_health = summary, affinity = weekly.pools, source = "agent " .. ops.agent_url(args) }
  local throughput = 0
  for _, w in pairs(weekly.pools) do throughput = throughput + (num(w.throughput) or 0) end
  report.throughput = throughput
  fs.write_atomic(args.output, json.encode(report) .. "\n")
  ctx:ok("pool.review.report", "weekly report written to " .. args.output)
end

return M
