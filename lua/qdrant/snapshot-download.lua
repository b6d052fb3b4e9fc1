-- Downloads an existing Qdrant snapshot to this host: streamed to disk (constant memory, a
-- progress line on a terminal), its SHA-256 computed on the way and checked against the
-- checksum Qdrant wrote beside it. The file appears under its final name only when complete
-- and matching: a mismatch or a cut transfer leaves nothing that looks like a download.
local qdrant = require "opsh.qdrant"
local fs = require "opsh.fs"
local units = require "opsh.units"

return {
  description = "Downloads a Qdrant snapshot (the newest by default) with its SHA-256 checked against Qdrant's checksum",
  categories = { "qdrant", "backup", "safe" },
  guide = { "backup-strategy.1" },
  args = {
    { name = "collection", help = "the collection (leave out with --full)" },
    { name = "full", type = "boolean", default = false, help = "a full-storage snapshot" },
    { name = "name", help = "the snapshot's name (default: the newest)" },
    { name = "dir", required = true, help = "directory to write it into" },
  },
  run = function(args, ctx)
    local q = qdrant.connect()
    if not args.full and not args.collection then return ctx:unknown("qdrant.snapshot.download", "give --collection NAME or --full") end
    local list, err
    if args.full then list, err = q:full_snapshots() else list, err = q:snapshots(args.collection) end
    if not list then return ctx:crit("qdrant.snapshot.download", tostring(err)) end
    local name = args.name
    if not name then
      if #list == 0 then return ctx:crit("qdrant.snapshot.download", "there are no snapshots to download") end
      name = list[#list].name
    end
    local ok, merr = fs.mkdir(args.dir)
    if not ok then return ctx:crit("qdrant.snapshot.download", "cannot create " .. args.dir .. ": " .. tostring(merr)) end
    local path = args.dir .. "/" .. name
    local d, derr
    if args.full then d, derr = q:download_full_snapshot(name, path) else d, derr = q:download_snapshot(args.collection, name, path) end
    if not d then return ctx:crit("qdrant.snapshot.download", tostring(derr)) end
    if d.dry_run then return ctx:ok("qdrant.snapshot.download", "would download " .. name .. " to " .. path) end
    ctx:ok("qdrant.snapshot.download", string.format("%s: %s in %.1f s, SHA-256 %s matches Qdrant's checksum",
      path, units.bytes_text(d.bytes), d.seconds, d.sha256), { bytes = d.bytes, seconds = d.seconds })
  end,
}
