-- Creates Qdrant snapshots (the guide's daily backup step 1, `curl -X POST .../snapshots`) and,
-- with --download DIR, brings each to this host streamed, with its SHA-256 checked against the
-- checksum Qdrant wrote (a mismatch or a cut transfer leaves no file at the destination).
--
-- Collection snapshots can be restored through the API (qdrant/snapshot-restore, or
-- opsh.qdrant's recover_snapshot). A full-storage snapshot (--full) holds every collection and
-- the aliases, but Qdrant has no API that restores it: the server restores it at start-up with
-- `qdrant --storage-snapshot FILE` (`--force-snapshot` to overwrite existing collections).
--
-- --backup ROOT takes the snapshots into ONE backup (opsh.backup: ROOT/NAME-qdrant, SHA256SUMS,
-- manifest.json) instead: every collection of every node, and per shard where Qdrant's cluster
-- API (GET /collections/{c}/cluster) reports the shards the node holds
-- (/collections/{c}/shards/{s}/snapshots), each downloaded with its SHA-256 checked against
-- Qdrant's checksum, then deleted from the node (--keep-remote keeps them). Each item's manifest
-- entry names its node, URL, collection and shard. With `opsh run --target GROUP` the nodes are
-- the group's qdrant members, all in that one backup (the procedure runs once for the group).
local qdrant = require "opsh.qdrant"
local backup = require "opsh.backup"
local log = require "opsh.log"
local fs = require "opsh.fs"
local units = require "opsh.units"

local sanitize = require("opsh.backup_sources").sanitize

-- The snapshots to take on one node: { {collection =, shard = id|nil}, ... }; shards where the
-- cluster API reports the ones this node holds, else the collection.
local function plan(q, only)
  local names, err = q:collection_names(only)
  if not names then return nil, err end
  local out = {}
  for _, c in ipairs(names) do
    local info = q:collection_cluster(c)
    local shards = {}
    for _, s in ipairs(info and info.local_shards or {}) do shards[#shards + 1] = math.tointeger(s.shard_id) end
    table.sort(shards)
    if #shards == 0 then out[#out + 1] = { collection = c } end
    for _, s in ipairs(shards) do out[#out + 1] = { collection = c, shard = s } end
  end
  return out
end

local function snapshot_into_backup(args, ctx)
  local nodes = args.targets or { { name = "qdrant", url = (args.url ~= "" and args.url) or nil } }
  local w, err = backup.begin { root = args.backup, tier = "qdrant", compression = "none",
    meta = { source = "qdrant/snapshot", target = args.target, nodes = #nodes } }
  if not w then return ctx:crit("qdrant.snapshot.backup", tostring(err)) end
  local taken, failed = 0, false
  for _, n in ipairs(nodes) do
    local q = qdrant.connect { url = n.url }
    local where = n.name
    local list, perr = plan(q, args.collection)
    if not list then
      ctx:crit("qdrant.snapshot." .. where, tostring(perr)); failed = true
    elseif #list == 0 then
      ctx:warn("qdrant.snapshot." .. where, "no collections to snapshot on " .. where)
    end
    for _, it in ipairs(list or {}) do
      local c, s = it.collection, it.shard
      local what = c .. (s and (" shard " .. s) or "")
      local check = "qdrant.snapshot." .. where .. "." .. c .. (s and ("." .. s) or "")
      local snap, serr
      if s then snap, serr = q:create_shard_snapshot(c, s) else snap, serr = q:create_snapshot(c) end
      if not snap then
        ctx:crit(check, what .. " on " .. where .. ": " .. tostring(serr)); failed = true
      elseif snap.dry_run then
        ctx:ok(check, "would snapshot " .. what .. " on " .. where .. " into a backup in " .. args.backup)
      else
        local item = "qdrant-" .. sanitize(where) .. "-" .. sanitize(c) .. (s and ("-shard-" .. s) or "") .. ".snapshot"
        local tmp = w:info().path .. "/.download-" .. item   -- inside the .partial: removed with it
        local d, derr
        if s then d, derr = q:download_shard_snapshot(c, s, snap.name, tmp, { progress = false })
        else d, derr = q:download_snapshot(c, snap.name, tmp, { progress = false }) end
        local added, aerr
        if d then
          added, aerr = w:add_file(item, tmp, { move = true, meta = { source = "qdrant", node = where, url = log.redact(n.url or q.url),
            collection = c, shard = s, snapshot = snap.name, checksum = d.checksum } })
        end
        if not args.keep_remote then
          if s then q:delete_shard_snapshot(c, s, snap.name) else q:delete_snapshot(c, snap.name) end
        end
        if not added then
          ctx:crit(check, what .. " on " .. where .. " created but not taken: " .. tostring(derr or aerr)); failed = true
        else
          taken = taken + 1
          ctx:ok(check, string.format("%s on %s: %s (%s) SHA-256 %s checked", what, where, snap.name,
            units.bytes_text(added.bytes or 0), d.sha256), { bytes = added.bytes })
        end
      end
    end
  end
  if failed then
    w:abort()
    return ctx:crit("qdrant.snapshot.backup", "not every snapshot was taken: no backup written")
  end
  local manifest, cerr = w:commit()
  if not manifest then return ctx:crit("qdrant.snapshot.backup", tostring(cerr)) end
  if manifest.dry_run then return end
  ctx:ok("qdrant.snapshot.backup", string.format("%d snapshots of %d node%s in %s", taken, #nodes, #nodes == 1 and "" or "s",
    manifest.path or args.backup), { snapshots = taken })
end

return {
  description = "Creates Qdrant snapshots (each collection, or the full storage) and downloads them with their checksum checked",
  categories = { "qdrant", "backup", "daily", "intrusive" },
  guide = { "backup-strategy.1" },
  args = {
    { name = "collection", help = "only this collection (default: every collection)" },
    { name = "full", type = "boolean", default = false, help = "a full-storage snapshot instead (all collections and aliases)" },
    { name = "download", help = "directory on this host to download the snapshots into" },
    { name = "url", help = "Qdrant URL (default: the configured qdrant_url / QDRANT_URL)" },
    { name = "backup", help = "backup root: every collection (per shard where Qdrant reports shards) of every node in one backup" },
    { name = "keep_remote", type = "boolean", default = false, help = "with --backup: keep the snapshots on the nodes" },
  },
  -- with --target GROUP: one run for the whole group (args.targets), one backup
  targets = "group",
  run = function(args, ctx)
    if args.targets and not args.backup then
      return ctx:crit("qdrant.snapshot", "--target " .. tostring(args.target) .. " takes every node into one backup: give --backup ROOT")
    end
    if args.backup then return snapshot_into_backup(args, ctx) end
    local q = qdrant.connect { url = args.url ~= "" and args.url or nil }
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
