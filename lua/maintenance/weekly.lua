-- The guide's weekly maintenance (Maintenance Procedures / Scheduled Maintenance, Sundays
-- 02:00), its steps in order, one after the other, with a report per step (step.N: the worst
-- status of that step's checks) after the step's own checks:
--   1, 2 and 4. database optimization, index rebuilding and vacuum: qdrant/optimize (Qdrant has
--      no optimize, index or vacuum call: its optimizer settings drive all three, and opsh waits
--      for each collection to turn green; one step does the guide's three)
--   3. cache optimization: redis/cache-optimize (the cache key pattern cleared in batches above
--      the memory threshold, never the guide's FLUSHDB, refused where users or sessions live)
--   5. system packages: maintenance/packages (what apt lists as upgradable; nothing upgraded)
-- Runs in the weekly window (Sunday 02:00-03:00, the guide's Maintenance Windows) or with --force.
-- A step that cannot run is UNKNOWN and the next one still runs. Destructive: step 3 deletes
-- cache keys (--yes, or a prompt). --dry-run changes nothing.
local procedure = require "opsh.procedure"

return {
  description = "Weekly maintenance: Qdrant optimization, indexing and vacuum, cache optimization, system package updates; a report per step",
  categories = { "maintenance", "weekly", "destructive" },
  window = "weekly",
  guide = {
    "maintenance-windows.2", "scheduled-maintenance.1", "scheduled-maintenance.2", "scheduled-maintenance.3",
    "scheduled-maintenance.4", "scheduled-maintenance.5",
  },
  args = {
    { name = "collection", help = "optimize only this collection (default: all)" },
    { name = "skip", type = "list", help = "steps to leave out: optimize, cache, packages" },
  },
  run = function(args, ctx)
    local steps = {
      { key = "optimize", title = "1, 2, 4. Database optimization, index rebuilding, vacuum", name = "qdrant/optimize",
        args = { collection = args.collection } },
      { key = "cache", title = "3. Cache optimization", name = "redis/cache-optimize" },
      { key = "packages", title = "5. Update system packages (if needed)", name = "maintenance/packages" },
    }
    procedure.steps(steps, ctx, { skip = args.skip, allow_changes = true })
  end,
}
