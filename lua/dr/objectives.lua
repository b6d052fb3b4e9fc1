-- The guide's recovery objectives (Disaster Recovery / Disaster Recovery Planning), checked:
--   RPO  vector database 1 hour, configuration 24 hours, logs 1 hour: the age of the newest
--        backup of each kind that verifies (opsh.backup.verify at the files depth: sizes and
--        SHA-256 of every file) must be within its RPO. Kinds:
--          vector_db      a backup holding Qdrant snapshots (any tier), or a snapshot Qdrant
--                         itself holds (the guide's "hourly snapshots": Qdrant checksums them;
--                         they are on the same server, and the report says which one counted);
--                         the worst collection decides
--          configuration  a configuration version (backup_dir/config) or a backup with config-*
--          logs           a log archive (backup_dir/logs). The guide's "real-time replication"
--                         of logs is not something opsh runs: the archive's age is what exists.
--          cache          a backup holding the Redis RDB (no RPO in the guide; 24 hours here)
--   RTO  critical services 15 minutes, full system 2 hours, data recovery 4 hours: with --drill,
--        the newest verified backup is restored into a scratch directory (every tree and file)
--        and checked at the data depth (backup/verify: Qdrant snapshots recovered into scratch
--        collections, the RDB loaded by a throwaway redis-server), timed; the time achieved is
--        compared with the data-recovery RTO. Scratch directories and collections are removed.
-- The objectives come from config.lua `dr = { rpo = { vector_db = "1h", ... }, rto = {
-- critical = "15m", full = "2h", data = "4h" } }`, else the guide's.
local backup = require "opsh.backup"
local config = require "opsh.config"
local time = require "opsh.time"
local fs = require "opsh.fs"
local qdrant = require "opsh.qdrant"
local retention = require "opsh.retention"
local procedure = require "opsh.procedure"
local report = require "opsh.report"
local state = require "opsh.state"
local crypto = require "opsh.crypto"

local DEFAULT_RPO = { vector_db = "1h", configuration = "24h", logs = "1h", cache = "24h" }
local DEFAULT_RTO = { critical = "15m", full = "2h", data = "4h" }
local KINDS = { "vector_db", "configuration", "logs", "cache" }

local function objectives()
  local dr = config.get("dr") or {}
  if type(dr) ~= "table" then error("dr must be a table {rpo = {...}, rto = {...}}", 0) end
  local function read(defaults, given, what)
    local out = {}
    for k, v in pairs(defaults) do out[k] = v end
    for k, v in pairs(given or {}) do
      if defaults[k] == nil then error(string.format("dr.%s.%s: unknown (known: %s)", what, tostring(k), what == "rpo"
        and "vector_db, configuration, logs, cache" or "critical, full, data"), 0) end
      out[k] = v
    end
    for k, v in pairs(out) do
      local ok, s = pcall(time.duration, v)
      if not ok or not s or s <= 0 then error(string.format("dr.%s.%s: not a duration: %s (e.g. \"1h\", \"15m\")", what, k, tostring(v)), 0) end
      out[k] = s
    end
    return out
  end
  return read(DEFAULT_RPO, dr.rpo, "rpo"), read(DEFAULT_RTO, dr.rto, "rto")
end

-- Which kinds a backup holds, from its manifest's items.
local function kinds_of(m)
  local k = {}
  for _, it in ipairs(m.items or {}) do
    if it.source == "qdrant" then
      k.vector_db = k.vector_db or {}
      k.vector_db[it.collection or it.name] = true
    elseif it.source == "redis" or it.source == "dragonfly" then k.cache = true
    elseif (it.name or ""):match("^config%-") or it.name == "env" then k.configuration = true end
  end
  if m.tier == "config" or m.tier == "deploy" then k.configuration = true end
  if m.tier == "logs" then k.logs = true end
  return k
end

return {
  description = "Checks the recovery objectives: each kind's newest verified backup against its RPO, and with --drill a timed restore against the RTO",
  categories = { "dr", "backup", "check", "safe" },
  guide = {
    "disaster-recovery-planning.1", "disaster-recovery-planning.2", "disaster-recovery-planning.3",
    "disaster-recovery-planning.4", "disaster-recovery-planning.5", "disaster-recovery-planning.6",
  },
  notes = "Changes nothing on the stack. Reads and verifies backups (reading every file of the newest of each kind). "
    .. "--drill restores the newest verified backup into a scratch directory under state_dir and recovers its Qdrant "
    .. "snapshots into scratch collections, then removes both.",
  args = {
    { name = "dir", help = "backup root (default: config backup_dir)" },
    { name = "drill", type = "boolean", default = false, help = "also time a restore of the newest verified backup into a scratch target" },
    { name = "max_checked", type = "integer", default = 5, help = "backups tried per kind, newest first, before giving up on finding one that verifies" },
  },
  run = function(args, ctx)
    local rpo, rto = objectives()
    local root = args.dir or config.get("backup_dir")
    local now = time.now()

    -- every complete backup, where each tier lives, newest first
    local candidates, seen = {}, {}
    for _, place in ipairs { root, retention.root(root, "config"), retention.root(root, "logs") } do
      if not seen[place] then
        seen[place] = true
        for _, b in ipairs(backup.list(place) or {}) do
          if b.complete then candidates[#candidates + 1] = b end
        end
      end
    end
    table.sort(candidates, function(a, b) return a.created_unix > b.created_unix end)

    -- the newest verified backup of each kind (per collection for the vector database)
    local newest, tried, verified_ok, manifests = { vector_db = {} }, {}, {}, {}
    local function verified(b)
      if verified_ok[b.path] == nil then
        local v = backup.verify(b.path, { depth = "files" })
        verified_ok[b.path] = v.ok
        if not v.ok then ctx:warn("dr.backup." .. b.name, "does not verify: " .. tostring(v.problems[1])) end
      end
      return verified_ok[b.path]
    end
    for _, b in ipairs(candidates) do
      local m = backup.manifest(b.path)
      if m then
        manifests[b.path] = m
        m.tier = m.tier or b.tier
        for kind, what in pairs(kinds_of(m)) do
          local need
          if kind == "vector_db" then
            need = false
            for c in pairs(what) do if not newest.vector_db[c] then need = true end end
          else
            need = not newest[kind]
          end
          tried[kind] = tried[kind] or 0
          if need and tried[kind] < args.max_checked then
            tried[kind] = tried[kind] + 1
            if verified(b) then
              if kind == "vector_db" then
                for c in pairs(what) do
                  newest.vector_db[c] = newest.vector_db[c] or { t = b.created_unix, from = b.name }
                end
              else
                newest[kind] = { t = b.created_unix, from = b.name, path = b.path }
              end
            end
          end
        end
      end
    end

    -- snapshots Qdrant holds itself
    local q = qdrant.connect {}
    local names = q and q:collections()
    if names then
      for _, c in ipairs(names) do
        local snaps = q:snapshots(c) or {}
        for _, s in ipairs(snaps) do
          local age = qdrant.snapshot_age(s)
          local t = age and now - age
          if t and (not newest.vector_db[c] or t > newest.vector_db[c].t) then
            newest.vector_db[c] = { t = t, from = "Qdrant's own snapshot " .. s.name .. " (same server)" }
          end
        end
        if not newest.vector_db[c] then newest.vector_db[c] = false end
      end
    end

    -- RPO per kind
    local function rpo_check(kind, label, entry)
      if not entry then
        return ctx:crit("dr.rpo." .. kind, string.format("%s: no verified backup (RPO %s)", label, time.format_duration(rpo[kind])),
          { rpo_s = rpo[kind] })
      end
      local age = now - entry.t
      local m = { age_s = age, rpo_s = rpo[kind] }
      local text = string.format("%s: newest verified backup %s old (%s), RPO %s", label, time.format_duration(age), entry.from,
        time.format_duration(rpo[kind]))
      if age > rpo[kind] then ctx:crit("dr.rpo." .. kind, text .. ": objective MISSED", m)
      else ctx:ok("dr.rpo." .. kind, text, m) end
    end
    local worst, worst_c, none = nil, nil, {}
    for c, e in pairs(newest.vector_db) do
      if e == false then none[#none + 1] = c
      elseif not worst or e.t < worst.t then worst, worst_c = e, c end
    end
    table.sort(none)
    if #none > 0 then
      ctx:crit("dr.rpo.vector_db", "no snapshot or verified backup of collection(s) " .. table.concat(none, ", ")
        .. " (RPO " .. time.format_duration(rpo.vector_db) .. ")", { rpo_s = rpo.vector_db, collections_without = #none })
    elseif worst then
      rpo_check("vector_db", "vector database (worst collection: " .. worst_c .. ")", worst)
    elseif not names then
      ctx:unknown("dr.rpo.vector_db", "Qdrant is not reachable and no backup holds a Qdrant snapshot: cannot tell")
    else
      ctx:ok("dr.rpo.vector_db", "Qdrant holds no collections: nothing to protect")
    end
    rpo_check("configuration", "configuration", newest.configuration)
    rpo_check("logs", "logs", newest.logs)
    rpo_check("cache", "cache (Redis RDB)", newest.cache)

    ctx:ok("dr.rto.objectives", string.format("RTO: critical services %s, full system %s, data recovery %s%s",
      time.format_duration(rto.critical), time.format_duration(rto.full), time.format_duration(rto.data),
      args.drill and "" or " (--drill measures a restore)"))
    if not args.drill then return end

    -- the drill: the newest verified backup that holds data, restored and recovered into scratch
    local pick
    for _, b in ipairs(candidates) do
      local k = manifests[b.path] and kinds_of(manifests[b.path]) or {}
      if (k.vector_db or k.cache or k.configuration) and verified_ok[b.path] ~= false and verified(b) then pick = b; break end
    end
    if not pick then return ctx:crit("dr.rto.drill", "no verified backup to drill with in " .. root) end
    if ctx.dry_run then return ctx:ok("dr.rto.drill", "would restore " .. pick.name .. " into a scratch directory and recover its data") end
    local scratch = state.dir("dr-drill", true) .. "/" .. pick.name .. "-" .. crypto.random_hex(4)
    local started = time.monotonic()
    local restored, problems = 0, {}
    local mk, merr = fs.mkdir(scratch, tonumber("700", 8))
    if not mk then return ctx:crit("dr.rto.drill", "cannot create " .. scratch .. ": " .. tostring(merr)) end
    for _, it in ipairs(manifests[pick.path].items or {}) do
      if it.source == "tree" or it.source == "file" then
        local r, err = backup.restore(pick.path, it.name, scratch .. "/" .. it.name)
        if r then restored = restored + 1 else problems[#problems + 1] = it.name .. ": " .. tostring(err) end
      end
    end
    local data = report.new("backup/verify", nil, {}, {})
    procedure.run("backup/verify", { dir = pick.path:match("^(.*)/[^/]+$"), backup = pick.name, depth = "data" }, data)
    for _, c in ipairs(data.checks) do
      if c.status ~= "ok" then problems[#problems + 1] = c.name .. ": " .. c.message end
    end
    local took = time.monotonic() - started
    fs.delete(scratch, { recursive = true })
    local m = { drill_s = took, rto_data_s = rto.data, items = restored }
    if #problems > 0 then
      return ctx:crit("dr.rto.drill", string.format("drill with %s FAILED after %s: %s", pick.name, time.format_duration(took),
        table.concat(problems, "; ")), m)
    end
    local text = string.format("restored %s (%d files and trees, data recovered and counted) in %s; data-recovery RTO %s",
      pick.name, restored, time.format_duration(took), time.format_duration(rto.data))
    if took > rto.data then ctx:crit("dr.rto.drill", text .. ": objective MISSED", m) else ctx:ok("dr.rto.drill", text, m) end
  end,
}
