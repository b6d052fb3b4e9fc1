-- Creates Qdrant snapshots (the guide's daily backup step 1, `curl -X POST .../snapshots`) and,
-- with --download DIR, brings each to this host streamed, with its SHA-256 checked against the
-- checksum Qdrant wrote (a mismatch or a cut transfer leaves no file at the destination).
--
-- Collection snapshots can be restored through the API (qdrant/snapshot-restore, or
-- opsh.qdrant's recover_snapshot). A full-storage snapshot (--full) holds every collection and
-- the aliases, but Qdrant has no API that restores it: the server restores it at start-up with
-- `qdrant --storage-snapshot FILE` (`--force-snapshot` to overwrite existing collections).
local qdrant = require "opsh.qdrant"
local fs = require "opsh.fs"
local units = require "opsh.units"

return {
  description = "Creates Qdrant snapshots (each collection, or the full storage) and downloads them with their checksum checked",
  categories = { "qdrant", "backup", "daily", "intrusive" },
  guide = { "backup-strategy.1" },
  args = {
    { name = "collection", help = "only this collection (default: every collection)" },
    { name = "full", type = "boolean", default = false, help = "a full-storage snapshot instead (all collections and aliases)" },
    { name = "download", help = "directory on this host to download the snapshots into" },
  },
  run = function(args, ctx)
    local q = qdrant.connect()
    if args.download and not ctx.dry_run then
      local ok, err = fs.mkdir(args.download)
      if not ok then return ctx:crit("qdrant.snapshot", "cannot create " .. args.download .. ": " .. tostring(err)) end
    end
    local function fetch(check, snap, download)
      if not args.download then return true end
      local path = args.download .. "/" .. snap.name
      local d, err = download(snap.name, path)
      if not d then ctx:crit(check, snap.name .. " created but not downloaded: " .. tostring(err)) return false end
      if d.dry_run then return true end
      ctx:ok(check .. ".download", string.format("%s (%s) SHA-256 %s checked", path, units.bytes_text(d.bytes), d.sha256),
        { bytes = d.bytes, seconds = d.seconds })
      return true
    end
    if args.full then
      local snap, err = q:create_full_snapshot()
      if not snap then return ctx:crit("qdrant.snapshot.full", tostring(err)) end
      if snap.dry_run then return ctx:ok("qdrant.snapshot.full", "would create a full-storage snapshot") end
      ctx:ok("qdrant.snapshot.full", string.format("%s (%s)", snap.name, units.bytes_text(snap.size or 0)), { bytes = snap.size or 0 })
      fetch("qdrant.snapshot.full", snap, function(name, path) return q:download_full_snapshot(name, path) end)
      return
    end
    local names, nerr = q:collection_names(args.collection)
    if not names then return ctx:crit("qdrant.snapshot", tostring(nerr)) end
    if #names == 0 then return ctx:warn("qdrant.snapshot", "no collections to snapshot") end
    for _, c in ipairs(names) do
      local check = "qdrant.snapshot." .. c
      local snap, err = q:create_snapshot(c)
      if not snap then
        ctx:crit(check, tostring(err))
      elseif snap.dry_run then
        ctx:ok(check, "would create a snapshot of " .. c .. (args.download and (" and download it to " .. args.download) or ""))
      else
        ctx:ok(check, string.format("%s (%s)", snap.name, units.bytes_text(snap.size or 0)), { bytes = snap.size or 0 })
        fetch(check, snap, function(name, path) return q:download_snapshot(c, name, path) end)
      end
    end
  end,
}
