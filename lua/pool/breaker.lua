-- The guide's circuit-breaker interventions on opsh's own pools: status, reset, a controlled
-- failure test, configure. A breaker lives in the process that owns the pool; until opsh has
-- a long-running agent (issue 16) that is this run's, so what must last is kept in
-- pool_state_dir/state.json: `configure` stores the settings every later pool procedure uses,
-- `reset` returns them to the defaults.
--
-- test (the guide's "controlled_failure"): forces the breaker of this run's pool open, checks
-- that a call is refused at once with circuit_open and that no connection was made for it,
-- resets it, and checks that a call succeeds again.
local ops = require "opsh.pool_ops"

local args = {
  { name = "action", default = "status", choices = { "status", "reset", "test", "configure" }, help = "what to do" },
  { name = "failure_threshold", type = "integer", help = "configure: failures that open it (every type)" },
  { name = "recovery_timeout", type = "number", help = "configure: seconds open before probing" },
  { name = "half_open_max_calls", type = "integer", help = "configure: probe calls while half-open" },
}
for _, a in ipairs(ops.ARGS) do args[#args + 1] = a end

local function describe(b)
  local s = b:status()
  local c = s.config
  return string.format("%s; failures connection %d, timeout %d, query %d, transaction %d, resource %d; thresholds %d/%d/%d/%d/%d, recovery %gs, %d half-open calls",
    s.state, s.counts.connection, s.counts.timeout, s.counts.query, s.counts.transaction, s.counts.resource,
    c.failure_threshold.connection, c.failure_threshold.timeout, c.failure_threshold.query, c.failure_threshold.transaction,
    c.failure_threshold.resource, c.recovery_timeout, c.half_open_max_calls), s
end

return {
  description = "Circuit breaker of opsh's pools: status, reset, a controlled-failure test, configure",
  categories = { "pool", "maintenance", "safe" },
  guide = { "3-circuit-breaker-manual-interventions.1" },
  args = args,
  notes = "Changes nothing on the servers. status and test change nothing lasting (test opens and resets this run's breaker, "
    .. "and makes two PING / GET /healthz calls). configure writes the breaker settings to pool_state_dir/state.json, reset "
    .. "removes them (later pool procedures then use the defaults); neither is written under --dry-run.",
  run = function(a, ctx)
    if ops.via_agent("breaker", a, ctx) then return end
    local state = ops.load_state()
    if a.action == "configure" then
      local cfg = {}
      for k, v in pairs(state.breaker[a.target == "all" and "redis" or a.target] or {}) do cfg[k] = v end
      cfg.failure_threshold = a.failure_threshold or cfg.failure_threshold
      cfg.recovery_timeout = a.recovery_timeout or cfg.recovery_timeout
      cfg.half_open_max_calls = a.half_open_max_calls or cfg.half_open_max_calls
      if next(cfg) == nil then return ctx:unknown("pool.breaker.configure", "nothing to configure: give --failure_threshold, --recovery_timeout or --half_open_max_calls") end
      for _, target in ipairs(ops.TARGETS) do
        if a.target == "all" or a.target == target then state.breaker[target] = cfg end
      end
    elseif a.action == "reset" then
      for _, target in ipairs(ops.TARGETS) do
        if a.target == "all" or a.target == target then state.breaker[target] = nil end
      end
    end
    -- the pools check the settings: a bad one is an error naming it, before anything is saved
    local ok, targets = pcall(ops.open, a, state)
    if not ok then return ctx:crit("pool.breaker.configure", (tostring(targets):gsub("^.-bad argument #2 to .%w+. ", ""))) end
    for _, t in ipairs(targets) do
      local name = "pool." .. t.target .. ".breaker"
      local b = t.pool:breaker()
      if a.action == "test" then
        local made = t.pool:stats().created_total
        b:force_open()
        local refused_ok, err = ops.probe(t)
        local refused = not refused_ok and err and err.code == "circuit_open" and t.pool:stats().created_total == made
        b:reset()
        local passed, perr = ops.probe(t)
        if refused and passed then
          ctx:ok(name .. ".test", "controlled failure: forced open, a call was refused at once (circuit_open, no connection made); reset, a call succeeded",
            { refused = 1, recovered = 1 })
        else
          ctx:crit(name .. ".test", string.format("controlled failure: refused while open: %s (%s); succeeded after reset: %s (%s)",
            tostring(refused), tostring(err), tostring(passed), tostring(perr)), { refused = refused and 1 or 0, recovered = passed and 1 or 0 })
        end
      else
        ops.probe(t)
        local text, s = describe(b)
        local what = a.action == "status" and "" or (a.action == "reset" and "reset to the defaults: " or "configured: ")
        local check = (s.state == "open") and ctx.crit or ctx.ok
        check(ctx, name, what .. text, { open = s.state == "open" and 1 or 0, rejected = s.rejected_total })
      end
    end
    if a.action == "configure" or a.action == "reset" then ops.save_state(state) end
    ops.save_models(targets)
  end,
}
