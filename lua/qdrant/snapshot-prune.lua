-- Deletes old Qdrant snapshots on the server: per collection (and for full-storage snapshots
-- with --full), the newest --keep are kept and, with --older_than, only older ones go. The
-- newest snapshot of a collection is never deleted, whatever the arguments. Deleting a
-- snapshot also deletes its .checksum file (Qdrant's own DELETE does both).
local qdrant = require "opsh.qdrant"
local time = require "opsh.time"
local units = require "opsh.units"

local age = qdrant.snapshot_age

return {
  description = "Deletes old Qdrant snapshots: keeps the newest N per collection (never the newest one)",
  categories = { "qdrant", "backup", "maintenance", "destructive" },
  guide = { "backup-strategy.1" },
  args = {
    { name = "keep", type = "integer", default = 7, help = "snapshots to keep per collection (at least 1)" },
    { name = "older_than", help = "delete only snapshots older than this (e.g. 7d)" },
    { name = "collection", help = "only this collection (default: all)" },
    { name = "full", type = "boolean", default = false, help = "prune full-storage snapshots too" },
  },
  run = function(args, ctx)
    if args.keep < 1 then return ctx:unknown("qdrant.snapshot.prune", "--keep must be at least 1: the newest snapshot is never deleted") end
    local min_age = args.older_than and time.duration(args.older_than)
    local q = qdrant.connect()
    local groups = {}
    local names, nerr = q:collection_names(args.collection)
    if not names then return ctx:crit("qdrant.snapshot.prune", tostring(nerr)) end
    for _, c in ipairs(names) do
      groups[#groups + 1] = { check = "qdrant.snapshot.prune." .. c, list = function() return q:snapshots(c) end,
        delete = function(name) return q:delete_snapshot(c, name) end }
    end
    if args.full then
      groups[#groups + 1] = { check = "qdrant.snapshot.prune.full", list = function() return q:full_snapshots() end,
        delete = function(name) return q:delete_full_snapshot(name) end }
    end
    for _, g in ipairs(groups) do
      local list, err = g.list()
      if not list then
        ctx:crit(g.check, tostring(err))
      else
        -- oldest first: the candidates are all but the newest `keep`
        local deleted, freed, would, failed = {}, 0, {}, nil
        for i = 1, #list - args.keep do
          local s = list[i]
          local a = age(s)
          if not min_age or (a and a > min_age) then
            local r, derr = g.delete(s.name)
            if not r then failed = s.name .. ": " .. tostring(derr) break end
            if type(r) == "table" and r.dry_run then
              would[#would + 1] = s.name
            else
              deleted[#deleted + 1] = s.name
              freed = freed + (s.size or 0)
            end
          end
        end
        local kept = #list - #deleted
        if failed then
          ctx:crit(g.check, string.format("deleted %d, then failed on %s", #deleted, failed), { deleted = #deleted })
        elseif #would > 0 then
          ctx:ok(g.check, "would delete " .. table.concat(would, ", "), { deleted = 0 })
        else
          ctx:ok(g.check, string.format("deleted %d (%s), kept %d", #deleted, units.bytes_text(freed), kept),
            { deleted = #deleted, kept = kept, freed_bytes = freed })
        end
      end
    end
  end,
}
