-- The guide's emergency data recovery (Troubleshooting / Emergency Procedures, "Data Recovery
-- Emergency"), each step in the report, stopping at the first that fails:
--   0. the backup to recover is chosen before anything changes (opsh.recovery, as backup/restore
--      chooses: the newest complete one at or before --date, never an emergency backup unless
--      named): with none, nothing is stopped
--   1. stop all write operations   the writers (config dr.writers, default the guide's api and
--                                  the task worker) stopped gracefully (services/stop)
--   2. emergency backup            of the state as it is now, damaged or not (backup/emergency):
--                                  what the recovery replaces can still be examined
--   3. recover                     backup/restore of the chosen backup (verified first; trees and
--                                  files swapped in atomically, the RDB with --redis_dir, Qdrant
--                                  collections recovered from their snapshots)
--   4. verify data integrity       the backup itself at the data depth (backup/verify: snapshots
--                                  recovered into scratch collections and counted, the RDB loaded
--                                  by a throwaway redis-server); every restored tree and file
--                                  compared with the backup, file by file (type, size, SHA-256:
--                                  the backup is extracted into a scratch directory under
--                                  state_dir, removed after); every restored Qdrant collection
--                                  present with the points the backup recorded
--   5. resume operations           the writers started again (services/start, healthy) only when
--                                  3 and 4 succeeded; otherwise they stay STOPPED and the report
--                                  says so: writes on top of a failed recovery make it worse
-- --dry-run shows the plan and changes nothing.
local procedure = require "opsh.procedure"
local config = require "opsh.config"
local backup = require "opsh.backup"
local qdrant = require "opsh.qdrant"
local recovery = require "opsh.recovery"
local fs = require "opsh.fs"
local crypto = require "opsh.crypto"
local state = require "opsh.state"

local DEFAULT_WRITERS = { "api", "task-worker" }
local SHOWN = 5   -- differences named in the report per item

-- the differences between a tree or file as restored (live) and as the backup holds it (copy)
local function differences(live, copy)
  local out = {}
  local function same_file(a, b)
    local sa, sb = fs.stat(a), fs.stat(b)
    if not sa then return "missing" end
    if sa.type ~= sb.type then return "is a " .. tostring(sa.type) .. ", the backup has a " .. tostring(sb.type) end
    if sb.type ~= "file" then return nil end
    if sa.size ~= sb.size then return string.format("%d bytes, the backup %d", sa.size, sb.size) end
    if crypto.sha256_file(a) ~= crypto.sha256_file(b) then return "content differs (SHA-256)" end
  end
  local st = fs.stat(copy)
  if st and st.type ~= "directory" then
    local why = same_file(live, copy)
    if why then out[#out + 1] = live .. ": " .. why end
    return out
  end
  local seen = {}
  for rel in fs.walk(copy) do
    seen[rel] = true
    local why = same_file(live .. "/" .. rel, copy .. "/" .. rel)
    if why then out[#out + 1] = rel .. ": " .. why end
  end
  if fs.stat(live) then
    for rel in fs.walk(live) do
      if not seen[rel] then out[#out + 1] = rel .. ": not in the backup" end
    end
  end
  return out
end

-- step 4 beyond backup/verify: the live data against the backup; true when all of it matches
local function verify_live(ctx, b, m)
  local fine = true
  local scratch
  for _, it in ipairs(m.items or {}) do
    if (it.source == "tree" or it.source == "file") and it.origin and it.origin:sub(1, 1) == "/" then
      if not scratch then
        scratch = state.dir("dr-recovery", true) .. "/" .. b.name .. "-" .. crypto.random_hex(4)
        local ok, err = fs.mkdir(scratch, tonumber("700", 8))
        if not ok then ctx:crit("recovery.verify", "cannot create " .. scratch .. ": " .. tostring(err)); return false end
      end
      local copy = scratch .. "/" .. it.name
      local r, err = backup.restore(b.path, it.name, copy)
      local diffs = r and differences(it.origin, copy) or nil
      if not r then
        fine = false
        ctx:crit("recovery.verify." .. it.name, "the backup's copy could not be extracted to compare: " .. tostring(err))
      elseif #diffs > 0 then
        fine = false
        local shown = {}
        for i = 1, math.min(#diffs, SHOWN) do shown[i] = diffs[i] end
        ctx:crit("recovery.verify." .. it.name, string.format("%s differs from the backup in %d place(s): %s%s (something wrote to it after the restore?)",
          it.origin, #diffs, table.concat(shown, "; "), #diffs > SHOWN and "; ..." or ""), { differences = #diffs })
      else
        ctx:ok("recovery.verify." .. it.name, it.origin .. " matches the backup file by file")
      end
    elseif it.source == "qdrant" then
      local q = qdrant.connect()
      local info, err = q:collection(it.collection)
      local n = info and q:count(it.collection)
      if not info or n ~= it.points_count then
        fine = false
        ctx:crit("recovery.verify.qdrant." .. it.collection, string.format("%s holds %s points, the backup %s%s", it.collection,
          tostring(n), tostring(it.points_count), info and "" or (": " .. tostring(err))))
      else
        ctx:ok("recovery.verify.qdrant." .. it.collection, string.format("%s: %s, %d points as in the backup", it.collection, tostring(info.status), n))
      end
    end
  end
  if scratch then fs.delete(scratch, { recursive = true }) end
  return fine
end

return {
  description = "The guide's emergency data recovery: stop the writers, emergency backup, recover the last good backup, verify, resume only when verified",
  categories = { "dr", "backup", "destructive" },
  guide = { "emergency-procedures.6", "emergency-procedures.7", "emergency-procedures.8", "emergency-procedures.9",
    "emergency-procedures.10", "disaster-recovery-planning.8" },
  notes = "Changes: stops the writer services' containers (--writers, else config dr.writers, else api and task-worker;\n"
    .. "the compose project's only); writes an emergency backup into the backup root (its configured sources); REPLACES\n"
    .. "the data with the chosen backup's (backup/restore: trees and files swapped in, the RDB into --redis_dir, Qdrant\n"
    .. "collections recovered from their snapshots); extracts the backup into a scratch directory under state_dir to\n"
    .. "compare, and removes it; starts the writers again ONLY when the recovery verified, else they stay stopped.\n"
    .. "Deletes no backup. --dry-run chooses the backup and shows the plan, changing nothing.",
  args = {
    { name = "date", default = "now", help = "recover the newest good backup at or before this (as backup/restore --date)" },
    { name = "name", help = "recover this backup (its directory name in the root) instead" },
    { name = "dir", help = "backup root (default: config backup_dir)" },
    { name = "writers", type = "list", help = "services to stop while recovering (default: config dr.writers, else api and task-worker)" },
    { name = "project", help = "compose project (default: config compose_project, else the compose file's)" },
    { name = "redis_dir", help = "Redis's data directory, to restore its RDB (Redis must be stopped: name it among --writers)" },
    { name = "stop_timeout", type = "integer", default = 30, help = "seconds between SIGTERM and SIGKILL when stopping a writer" },
    { name = "health_timeout", type = "integer", default = 60, help = "seconds for a writer to be healthy after the resume" },
  },
  run = function(args, ctx)
    local root = args.dir or config.get("backup_dir")
    local dr = config.get("dr") or {}
    local writers = args.writers or (type(dr) == "table" and dr.writers) or DEFAULT_WRITERS
    local at, perr = recovery.parse_date(args.date)
    if not at then return ctx:unknown("recovery", "--date: " .. tostring(perr)) end
    -- 0. the backup, chosen before anything changes: the emergency one taken below is never it
    local b, why = recovery.choose(root, at, { name = args.name })
    if not b then return ctx:crit("recovery.backup", tostring(why) .. ": nothing stopped or changed") end
    ctx:ok("recovery.backup", string.format("will recover %s (%s, created %s): %s", b.name, b.tier, b.created, why))
    if ctx.dry_run then
      return ctx:ok("recovery.plan", "would stop " .. table.concat(writers, ", ") .. ", take an emergency backup, restore " .. b.name
        .. ", verify the backup and the restored data against it, and start the writers again only if it verifies")
    end

    -- 1. stop the writers
    local stopped = true
    for _, svc in ipairs(writers) do
      stopped = procedure.step("services/stop", { service = svc, project = args.project, timeout = args.stop_timeout }, ctx, "recovery.stop." .. svc) and stopped
    end
    if not stopped then
      return ctx:crit("recovery", "a writer did not stop: nothing restored; the writers that did stop stay stopped (services/start brings them back)")
    end
    ctx:ok("recovery.writers", "stopped: " .. table.concat(writers, ", "))

    -- 2. emergency backup of the state as it is
    if not procedure.step("backup/emergency", { dir = root, reason = "before data recovery from " .. b.name }, ctx, "recovery.emergency") then
      return ctx:crit("recovery", "the emergency backup failed: nothing restored; the writers (" .. table.concat(writers, ", ") .. ") stay STOPPED")
    end

    -- 3. recover
    local restored = procedure.step("backup/restore", { dir = root, name = b.name, redis_dir = args.redis_dir }, ctx, "recovery.restore")

    -- 4. verify the backup and the data now in place
    local verified = restored and procedure.step("backup/verify", { dir = root, backup = b.name, depth = "data" }, ctx, "recovery.verify")
    if verified then verified = verify_live(ctx, b, assert(backup.manifest(b.path))) end

    -- 5. resume only on a verified recovery
    if not (restored and verified) then
      return ctx:crit("recovery", string.format("the recovery did not %s: the writers (%s) stay STOPPED; the state before it is in the emergency backup; "
        .. "fix what the checks above name, then run dr/data-recovery again or start them with services/start",
        restored and "verify" or "complete", table.concat(writers, ", ")))
    end
    local resumed = true
    for _, svc in ipairs(writers) do
      resumed = procedure.step("services/start", { service = svc, project = args.project, health_timeout = args.health_timeout }, ctx, "recovery.start." .. svc) and resumed
    end
    if not resumed then return ctx:crit("recovery", "recovered " .. b.name .. " and verified, but a writer did not come back healthy (above)") end
    ctx:ok("recovery", "recovered " .. b.name .. ", verified, writers started again: " .. table.concat(writers, ", "))
  end,
}
