-- The guide's connection-affinity management on opsh's own pools: the query patterns (Redis:
-- command and key prefix; Qdrant: method and route template), each connection's performance,
-- clearing low performers, and "optimize specializations" (each pattern's preferred connection
-- re-picked from what was measured). Affinity is learnt by the process that owns a pool; until
-- opsh has a long-running agent (issue 16) that is this run, so the run first makes `calls`
-- read-only calls of a few patterns (Redis: PING, DBSIZE, EXISTS opsh:pool:probe, INFO server;
-- Qdrant: GET /healthz, GET /collections) and reports on what they taught it.
local ops = require "opsh.pool_ops"

local args = {
  { name = "calls", type = "integer", default = 40, help = "read-only calls per pool to learn from" },
  { name = "concurrency", type = "integer", default = 3, help = "calls in flight at once" },
  { name = "min_score", type = "number", default = 0.3, help = "clear what a connection learnt on a pattern where it scores below this (the guide's 0.3)" },
  { name = "min_affinity_score", type = "number", default = 0.5, help = "pool score below which it warns (the guide's 0.5)" },
}
for _, a in ipairs(ops.ARGS) do args[#args + 1] = a end

local CALLS = {
  redis = {
    function(p) return p:call("PING") end,
    function(p) return p:call("DBSIZE") end,
    function(p) return p:call("EXISTS", "opsh:pool:probe") end,
    function(p) return p:call("INFO", "server") end,
  },
  qdrant = {
    function(p) return p:health() end,
    function(p) return p:collections() end,
  },
}

return {
  description = "Connection affinity of opsh's pools: patterns, connection performance, clear low performers, optimize",
  categories = { "pool", "maintenance", "safe" },
  guide = {
    "4-connection-affinity-management.1", "4-connection-affinity-management.2",
    "4-connection-affinity-management.3", "4-connection-affinity-management.4",
  },
  args = args,
  notes = "Reads only on the servers (PING, DBSIZE, EXISTS opsh:pool:probe, INFO server; GET /healthz, GET /collections). "
    .. "Clearing and optimizing change this run's affinity tables only; pool_state_dir/<target>.model gets this run's load "
    .. "sample (not under --dry-run).",
  run = function(a, ctx)
    if ops.via_agent("affinity", a, ctx) then return end
    local opsh = require "opsh"
    local targets = ops.open(a, ops.load_state())
    for _, t in ipairs(targets) do
      local name = "pool." .. t.target .. ".affinity"
      local list, left, failed = CALLS[t.target], a.calls, 0
      local function worker()
        while left > 0 do
          left = left - 1
          if list[left % #list + 1](t.pool) == nil then failed = failed + 1 end
        end
      end
      local fns = {}
      for i = 1, a.concurrency do fns[i] = worker end
      opsh.all(fns)
      local aff = t.pool:affinity()
      local pats = {}
      for i, p in ipairs(aff.patterns) do
        if i <= 10 then pats[#pats + 1] = string.format("%s: %d calls, %.2f ms avg", p.pattern, p.calls, p.avg_ms) end
      end
      ctx:ok(name .. ".patterns", #aff.patterns .. " patterns" .. (#pats > 0 and (": " .. table.concat(pats, "; ")) or ""), { patterns = #aff.patterns })
      local conns = {}
      for _, c in ipairs(aff.connections) do
        conns[#conns + 1] = string.format("#%d %s: %d calls, %.2f ms, success %.0f%%, score %.2f", c.connection, c.specialization, c.calls, c.avg_ms, c.success_rate * 100, c.score)
      end
      local check = (aff.score < a.min_affinity_score) and ctx.warn or ctx.ok
      check(ctx, name .. ".performance", string.format("score %.2f%s; %s", aff.score,
        aff.score < a.min_affinity_score and string.format(" (below %g: clearing low performers rebuilds it)", a.min_affinity_score) or "",
        #conns > 0 and table.concat(conns, "; ") or "no connection measured"), { score = aff.score, connections = #conns, failed_calls = failed })
      local removed = t.pool:clear_low_performers(a.min_score)
      ctx:ok(name .. ".clear", type(removed) == "table" and removed.would or string.format("%d low performer entries (score below %g) cleared", removed, a.min_score),
        { cleared = type(removed) == "number" and removed or 0 })
      local changes = t.pool:optimize()
      local moved = {}
      if changes.dry_run then moved = { changes.would }
      else
        for _, c in ipairs(changes) do moved[#moved + 1] = string.format("%s: %s -> %s", c.pattern, c.from and ("#" .. c.from) or "none", c.to and ("#" .. c.to) or "none") end
      end
      ctx:ok(name .. ".optimize", #moved == 0 and "every pattern already prefers its best connection" or table.concat(moved, "; "),
        { changed = changes.dry_run and 0 or #changes })
    end
    ops.save_models(targets)
  end,
}
