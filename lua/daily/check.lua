-- The guide's daily health check, one report: service status, Qdrant, Redis/DragonflyDB,
-- disk, error lines in the logs, the task queue, system resources and the agent's scheduled
-- maintenance tasks. Each part is the procedure of its own (opsh help NAME tells what it
-- checks); they run concurrently, so the check takes about as long as its slowest part, and
-- their checks are reported in the guide's order. A part that cannot run (no Docker engine, say) reports CRITICAL or UNKNOWN
-- like any failed check; the others still run.
-- A stalled service must not stall the check: every request to Qdrant and Redis gives up after
-- --timeout (2 s), and the whole check after --deadline (3.5 s): a part still waiting then is
-- stopped and reported CRITICAL ("did not finish"), with whatever it had found by then.
local procedure = require "opsh.procedure"

return {
  description = "Daily health check: services, Qdrant, Redis, disk, log errors, task queue, system resources, scheduled tasks",
  categories = { "daily", "check", "safe" },
  guide = {
    "daily-checklist.1", "daily-checklist.2", "daily-checklist.3", "daily-checklist.4",
    "daily-checklist.5", "daily-checklist.6", "daily-checklist.7", "daily-tasks.1", "daily-commands.1",
  },
  args = {
    { name = "since", default = "24h", help = "window for the log errors" },
    { name = "skip", type = "list", help = "parts to leave out: services, qdrant, redis, logs, queue, system, schedule" },
    { name = "timeout", type = "number", default = 2, help = "seconds per request to Qdrant and Redis" },
    { name = "deadline", type = "number", default = 3.5, help = "seconds for the whole check: parts still running then are reported as not finished" },
  },
  run = function(args, ctx)
    local parts = {
      { key = "services", name = "services/status" },                                 -- 1. service status
      { key = "qdrant", name = "qdrant/health", args = { timeout = args.timeout } },  -- 2. database connectivity
      { key = "redis", name = "redis/health", args = { timeout = args.timeout } },    -- 3. Redis/DragonflyDB
      { key = "system", name = "system/resources" },                                  -- 4. disk, 7. resources
      { key = "logs", name = "services/errors", args = { since = args.since } },      -- 5. errors in the logs
      { key = "queue", name = "queue/status", args = { timeout = args.timeout } },    -- 6. task queue
      { key = "schedule", name = "agent/scheduled" },                                 -- 8. scheduled maintenance tasks
    }
    procedure.parts(parts, ctx, { skip = args.skip, deadline = args.deadline })
  end,
}
