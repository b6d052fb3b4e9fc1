-- The guide's emergency data recovery (Troubleshooting / Emergency Procedures, "Data Recovery
-- Emergency"), each step in the report, stopping at the first that fails:
--   1. stop all write operations   the writers (config dr.writers, default the guide's api and
--                                  the task worker) stopped gracefully (services/stop)
--   2. emergency backup            of the state as it is now, damaged or not (backup/emergency):
--                                  what the recovery replaces can still be examined
--   3. recover                     from the last known good backup at or before --date (the
--                                  newest by default; never the emergency backup just taken):
--                                  backup/restore, Qdrant collections recovered from their
--                                  snapshots, trees and files swapped in atomically
--   4. verify data integrity       the restored backup verified at the data depth (backup/verify:
--                                  snapshots recovered into scratch collections and counted, the
--                                  RDB loaded by a throwaway redis-server), and Qdrant's
--                                  collections green with the points the backup recorded
--   5. resume operations           the writers started again (services/start) only when steps 3
--                                  and 4 succeeded; otherwise they stay stopped, and the report
--                                  says so: writes on top of a failed recovery make it worse
-- --dry-run shows the plan.
local procedure = require "opsh.procedure"
local report = require "opsh.report"
local config = require "opsh.config"
local backup = require "opsh.backup"
local qdrant = require "opsh.qdrant"

local function step(ctx, name, proc, args)
  local sub = report.new(proc, nil, args, { dry_run = ctx.dry_run })
  local ok, err = procedure.run(proc, args, sub, { allow_changes = true })
  if not ok then sub:unknown(name, tostring(err)) end
  for _, c in ipairs(sub.checks) do ctx.checks[#ctx.checks + 1] = c end
  return sub:exit_code() <= 1, sub
end

return {
  description = "The guide's emergency data recovery: stop the writers, emergency backup, recover the last good backup, verify, resume",
  categories = { "dr", "backup", "destructive" },
  guide = { "Troubleshooting / Emergency Procedures (Data Recovery Emergency)" },
  notes = "Stops the writer services; writes an emergency backup; REPLACES the data with the chosen backup's "
    .. "(backup/restore: trees and files swapped in, Qdrant collections recovered from their snapshots); starts the "
    .. "writers again only when the recovery verified. Nothing under --dry-run.",
  args = {
    { name = "date", default = "now", help = "recover the newest good backup at or before this (as backup/restore --date)" },
    { name = "dir", help = "backup root (default: config backup_dir)" },
    { name = "writers", type = "list", help = "services to stop while recovering (default: config dr.writers, else api and task-worker)" },
    { name = "redis_dir", help = "Redis's data directory, to restore its RDB (Redis must be among the stopped services)" },
  },
  run = function(args, ctx)
    local root = args.dir or config.get("backup_dir")
    local writers = args.writers or ((config.get("dr") or {}).writers) or { "api", "task-worker" }
    -- the backup to recover is chosen before anything changes: the emergency one is never it
    local at = args.date == "now" and nil or args.date
    local chosen = report.new("backup/restore", nil, {}, { dry_run = true })
    procedure.run("backup/restore", { dir = root, date = args.date }, chosen, { allow_changes = true })
    local pick
    for _, c in ipairs(chosen.checks) do
      if c.name == "restore.backup" then pick = c.message:match("^(%S+)") end
    end
    if not pick then
      return ctx:crit("recovery.backup", "no good backup to recover from in " .. root .. (at and (" at or before " .. at) or "") .. ": nothing stopped or changed")
    end
    ctx:ok("recovery.backup", "will recover " .. pick)
    if ctx.dry_run then
      return ctx:ok("recovery.plan", "would stop " .. table.concat(writers, ", ") .. ", take an emergency backup, restore " .. pick
        .. ", verify it, and start the writers again if it verifies")
    end

    -- 1. stop the writers
    local stopped = true
    for _, svc in ipairs(writers) do
      local ok = step(ctx, "recovery.stop." .. svc, "services/stop", { service = svc })
      stopped = stopped and ok
    end
    if not stopped then return ctx:crit("recovery.stop", "a writer did not stop: nothing restored (start them with services/start)") end

    -- 2. emergency backup of the state as it is
    local eok = step(ctx, "recovery.emergency", "backup/emergency", { dir = root, reason = "before data recovery from " .. pick })
    if not eok then return ctx:crit("recovery.emergency", "the emergency backup failed: nothing restored; the writers stay stopped") end

    -- 3. recover
    local rok = step(ctx, "recovery.restore", "backup/restore", { dir = root, name = pick, redis_dir = args.redis_dir })

    -- 4. verify
    local vok = rok and step(ctx, "recovery.verify", "backup/verify", { dir = root, backup = pick, depth = "data" })
    if vok then
      local m = backup.manifest(root .. "/" .. pick) or {}
      local q = qdrant.connect {}
      for _, it in ipairs(m.items or {}) do
        if it.source == "qdrant" and q then
          local info = q:collection(it.collection)
          local n = info and q:count(it.collection, { exact = true })
          if not info or n ~= it.points_count then
            vok = false
            ctx:crit("recovery.verify.qdrant." .. it.collection, string.format("%s holds %s points, the backup %s", it.collection, tostring(n), tostring(it.points_count)))
          else
            ctx:ok("recovery.verify.qdrant." .. it.collection, string.format("%s: %s, %d points as in the backup", it.collection, info.status, n))
          end
        end
      end
    end

    -- 5. resume only on a verified recovery
    if not (rok and vok) then
      return ctx:crit("recovery", "the recovery did not " .. (rok and "verify" or "complete") .. ": the writers (" .. table.concat(writers, ", ")
        .. ") stay STOPPED; the state before it is in the emergency backup")
    end
    for _, svc in ipairs(writers) do step(ctx, "recovery.start." .. svc, "services/start", { service = svc }) end
    ctx:ok("recovery", "recovered " .. pick .. ", verified, writers started again")
  end,
}
