-- The guide's midday checklist (Daily Operations / Daily Tasks, 13:00), one report: active user
-- sessions and API usage, the task queue and its pending jobs, search latency and throughput,
-- and embedding generation performance from the API's /metrics where it exports it (UNKNOWN,
-- saying why, where no API answers: the embedding service is the application's). The parts run
-- concurrently and report in the checklist's order.
local procedure = require "opsh.procedure"

return {
  description = "Midday checklist: sessions and API usage, task queue, search latency and throughput, embedding performance",
  categories = { "checklist", "daily", "check", "safe" },
  guide = { "daily-tasks.6", "daily-tasks.7", "daily-tasks.8", "daily-tasks.9" },
  args = {
    { name = "collection", help = "the collection whose search performance is read (default: qdrant/search-performance's)" },
    { name = "skip", type = "list", help = "parts to leave out: sessions, api, queue, search, embedding" },
  },
  run = function(args, ctx)
    local parts = {
      { key = "sessions", name = "redis/sessions" },
      { key = "api", name = "redis/api-access" },
      { key = "queue", name = "queue/status" },
      -- intrusive only with --m or --ef_construct (an index change), which this part never
      -- passes: here it reads the collection's status and Qdrant's latency and runs probe queries
      { key = "search", name = "qdrant/search-performance", args = { collection = args.collection }, allow_changes = true },
      { key = "embedding", name = "perf/embedding" },
    }
    procedure.parts(parts, ctx, { skip = args.skip })
  end,
}
