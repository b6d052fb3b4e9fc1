-- The guide's daily health check, one report: service status, Qdrant, Redis/DragonflyDB,
-- disk, error lines in the logs, the task queue and system resources. Each part is the
-- procedure of its own (opsh help NAME tells what it checks); they run concurrently, so the
-- check takes about as long as its slowest part, and their checks are reported in the
-- guide's order. A part that cannot run (no Docker engine, say) reports CRITICAL or UNKNOWN
-- like any failed check; the others still run.
local procedure = require "opsh.procedure"
local report = require "opsh.report"
local opsh = require "opsh"

return {
  description = "Daily health check: services, Qdrant, Redis, disk, log errors, task queue, system resources",
  categories = { "daily", "check", "safe" },
  guide = { "Daily Operations / Daily Checklist" },
  args = {
    { name = "since", default = "24h", help = "window for the log errors" },
    { name = "skip", type = "list", help = "parts to leave out: services, qdrant, redis, logs, queue, system" },
  },
  run = function(args, ctx)
    local parts = {
      { key = "services", name = "services/status" },                                 -- 1. service status
      { key = "qdrant", name = "qdrant/health" },                                     -- 2. database connectivity
      { key = "redis", name = "redis/health" },                                       -- 3. Redis/DragonflyDB
      { key = "system", name = "system/resources" },                                  -- 4. disk, 7. resources
      { key = "logs", name = "services/errors", args = { since = args.since } },      -- 5. errors in the logs
      { key = "queue", name = "queue/status" },                                       -- 6. task queue
    }
    local skip = {}
    for _, k in ipairs(args.skip or {}) do skip[k] = true end
    local fns, order = {}, {}
    for _, p in ipairs(parts) do
      if not skip[p.key] then
        local sub = report.new(p.name, nil, p.args, { dry_run = ctx.dry_run, verbose = ctx.verbose })
        order[#order + 1] = { part = p, ctx = sub }
        fns[#fns + 1] = function()
          local ok, done, err = pcall(procedure.run, p.name, p.args, sub)
          if not ok then sub:unknown(p.key, p.name .. " failed: " .. tostring(done)) end
          if ok and not done then sub:unknown(p.key, tostring(err)) end
          return true
        end
      end
    end
    opsh.all(fns)
    for _, o in ipairs(order) do
      for _, c in ipairs(o.ctx.checks) do ctx.checks[#ctx.checks + 1] = c end
    end
  end,
}
