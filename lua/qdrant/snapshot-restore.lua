-- Restores a Qdrant collection from a snapshot, through the running Qdrant: from a file on this
-- host (uploaded, with its SHA-256 sent so Qdrant refuses a damaged copy), from one of the
-- collection's own snapshots on the server (--name: Qdrant downloads it from itself, checked
-- against the checksum it lists), or from an http(s) URL. The collection is replaced by the
-- snapshot's data (created when absent); the report gives the points before and after and waits
-- for the collection to be green. A full-storage snapshot cannot be restored this way: Qdrant
-- restores it only at start-up (`qdrant --storage-snapshot FILE`).
local qdrant = require "opsh.qdrant"

return {
  description = "Restores a Qdrant collection from a snapshot (local file, one of its snapshots on the server, or a URL), then waits for green",
  categories = { "qdrant", "backup", "recovery", "destructive" },
  guide = { "recovery-procedures.2" },
  args = {
    { name = "collection", required = true, help = "collection to restore (created when absent)" },
    { name = "file", help = "snapshot file on this host (uploaded)" },
    { name = "name", help = "one of the collection's snapshots on the server (\"latest\" for the newest)" },
    { name = "url", help = "http(s) URL Qdrant downloads the snapshot from" },
    { name = "checksum", help = "expected SHA-256 (hex) of the snapshot" },
    { name = "wait", type = "number", default = 600, help = "seconds to wait for green afterwards" },
  },
  run = function(args, ctx)
    local given = (args.file and 1 or 0) + (args.name and 1 or 0) + (args.url and 1 or 0)
    if given ~= 1 then return ctx:unknown("qdrant.restore", "give exactly one of --file, --name, --url") end
    local q = qdrant.connect()
    local c = args.collection
    local opts = { checksum = args.checksum }
    if args.file then
      opts.file = args.file
    elseif args.url then
      opts.location = args.url
    else
      local list, err = q:snapshots(c)
      if not list then return ctx:crit("qdrant.restore", tostring(err)) end
      local snap = list[#list]
      if args.name ~= "latest" then
        snap = nil
        for _, s in ipairs(list) do if s.name == args.name then snap = s end end
      end
      if not snap then return ctx:crit("qdrant.restore", "no snapshot " .. args.name .. " of " .. c) end
      opts.location = q.url .. "/collections/" .. c .. "/snapshots/" .. snap.name
      opts.checksum = opts.checksum or snap.checksum
      -- Qdrant downloads from itself: it needs its own API key for that
      opts.api_key = q.headers["api-key"]
    end
    local before = q:exists(c) and q:count(c) or nil
    local r, err = q:recover_snapshot(c, opts)
    if not r then return ctx:crit("qdrant.restore", tostring(err)) end
    local source = args.file or opts.location
    if type(r) == "table" and r.dry_run then
      return ctx:ok("qdrant.restore", "would restore " .. c .. " from " .. source)
    end
    local info, werr = q:wait_green(c, { timeout = args.wait })
    if not info then return ctx:warn("qdrant.restore", "restored from " .. source .. ", but " .. tostring(werr)) end
    ctx:ok("qdrant.restore", string.format("%s restored from %s: %s points before, %d after; %s",
      c, source, before and tostring(before) or "no collection", info.points_count or 0, info.status),
      { points = info.points_count or 0, points_before = before or -1 })
  end,
}
