-- The guide's weekly database health review, for opsh's own pools: the load model's accuracy
-- trend, circuit-breaker incidents, the affinity report, and the 7-day p95 latency and
-- throughput, written as the guide's JSON report (week_ending, p95_latency, throughput,
-- ml_model_accuracy, circuit_breaker_health).
--
-- Its source is the history pool/health keeps in pool_state_dir/state.json (one entry per run
-- and pool), not Prometheus: opsh's pools live in the processes that run the procedures, and no
-- long-running opsh exports them yet (the agent is issue 16). Run pool/health regularly (cron,
-- a systemd timer) for the review to have something to say. p95 is the mean of the runs'
-- p95s; throughput is calls over the seconds the runs spent calling; accuracy is MASE at 25 s.
local ops = require "opsh.pool_ops"
local fs = require "opsh.fs"
local json = require "opsh.json"
local time = require "opsh.time"

local args = {
  { name = "output", default = "/tmp/weekly-db-report.json", help = "where the JSON report goes (the guide's path)" },
  { name = "days", type = "number", default = 7, help = "the review's window" },
}
for _, a in ipairs(ops.ARGS) do args[#args + 1] = a end

return {
  description = "Weekly review of opsh's pools: accuracy trend, breaker incidents, affinity, 7-day p95 and throughput, as the guide's JSON report",
  categories = { "pool", "report", "weekly", "safe" },
  guide = {
    "weekly-database-health-review.1", "weekly-database-health-review.2",
    "weekly-database-health-review.3", "weekly-database-health-review.4",
    "weekly-database-health-review.5",
  },
  args = args,
  notes = "Changes nothing on the servers. Reads pool_state_dir/state.json and writes the report to --output (atomically; "
    .. "not under --dry-run).",
  run = function(a, ctx)
    if ops.via_agent("weekly_review", a, ctx) then return end
    local state = ops.load_state()
    local since = time.now() - a.days * 86400
    local report = { week_ending = os.date("!%Y-%m-%d"), pools = {} }
    local all_p95, all_calls, all_seconds, acc_now, incidents_total = {}, 0, 0, nil, 0
    local health = {}
    for _, target in ipairs(ops.TARGETS) do
      if a.target == "all" or a.target == target then
        local runs, p95s, calls, seconds, trend, failures, opens = 0, {}, 0, 0, {}, {}, 0
        local affinity = {}
        for _, h in ipairs(state.history) do
          if h.target == target and (h.t or 0) >= since then
            runs = runs + 1
            if h.p95_ms then p95s[#p95s + 1] = h.p95_ms end
            calls, seconds = calls + (h.calls or 0), seconds + (h.seconds or 0)
            if h.mase then trend[#trend + 1] = { t = time.iso(h.t), mase = h.mase, mae = h.mae } end
            for k, v in pairs(h.failures or {}) do failures[k] = (failures[k] or 0) + v end
            for _, tr in ipairs(h.transitions or {}) do if tr.to == "open" then opens = opens + 1 end end
            if h.affinity then affinity[#affinity + 1] = h.affinity end
          end
        end
        local name = "pool." .. target .. ".review"
        if runs == 0 then
          ctx:unknown(name, string.format("no pool/health runs in the last %g days to review (its history is in %s)", a.days, ops.path("state.json")))
        else
          local p95 = 0
          for _, v in ipairs(p95s) do p95 = p95 + v end
          p95 = #p95s > 0 and p95 / #p95s / 1000 or nil
          local throughput = seconds > 0 and calls / seconds or nil
          local aff = 0
          for _, v in ipairs(affinity) do aff = aff + v end
          aff = #affinity > 0 and aff / #affinity or nil
          local last10 = {}
          for i = math.max(1, #trend - 9), #trend do last10[#last10 + 1] = trend[i] end
          local nfail = 0
          for _, v in pairs(failures) do nfail = nfail + v end
          incidents_total = incidents_total + opens
          report.pools[target] = { runs = runs, p95_latency = p95, throughput = throughput, accuracy_trend = last10,
            breaker = { opened = opens, failures = failures }, affinity_score = aff }
          if p95 then all_p95[#all_p95 + 1] = p95 end
          all_calls, all_seconds = all_calls + calls, all_seconds + seconds
          if #trend > 0 then acc_now = trend[#trend].mase end
          health[target] = { opened = opens, failures = nfail }
          ctx:ok(name .. ".accuracy", #trend == 0 and "no accuracy recorded yet (the model needs 60 samples)" or
            string.format("MASE at 25 s, last %d: %s", #last10, table.concat((function() local o = {} for i, e in ipairs(last10) do o[i] = string.format("%.2f", e.mase) end return o end)(), " ")),
            { mase = #trend > 0 and trend[#trend].mase or nil })
          local check = opens > 0 and ctx.warn or ctx.ok
          check(ctx, name .. ".breaker", string.format("%d breaker openings, %d failures (%s)", opens, nfail,
            (function() local o = {} for k, v in pairs(failures) do if v > 0 then o[#o + 1] = k .. " " .. v end end table.sort(o) return #o > 0 and table.concat(o, ", ") or "none" end)()),
            { opened = opens, failures = nfail })
          ctx:ok(name .. ".affinity", aff and string.format("mean affinity score %.2f over %d runs", aff, #affinity) or "no affinity recorded", { score = aff })
          ctx:ok(name .. ".performance", string.format("p95 %s, throughput %s over %d runs",
            p95 and string.format("%.4f s", p95) or "n/a", throughput and string.format("%.1f calls/s", throughput) or "n/a", runs),
            { p95_seconds = p95, throughput = throughput })
        end
      end
    end
    local p95 = 0
    for _, v in ipairs(all_p95) do p95 = p95 + v end
    report.p95_latency = #all_p95 > 0 and p95 / #all_p95 or json.null
    report.throughput = all_seconds > 0 and all_calls / all_seconds or json.null
    report.ml_model_accuracy = acc_now or json.null
    report.ml_model_accuracy_measure = "MASE at 25 s (below 1 beats the last value)"
    report.circuit_breaker_health = { incidents = incidents_total, pools = next(health) and health or json.object {} }
    fs.write_atomic(a.output, json.encode(report) .. "\n")
    ctx:ok("pool.review.report", "weekly report written to " .. a.output)
  end,
}
