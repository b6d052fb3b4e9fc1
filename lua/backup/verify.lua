-- Backup verification: the files (manifest complete, every file's size and SHA-256 against the
-- manifest and SHA256SUMS, the first bad file named) and, with --depth archives, every archive
-- read through with each member's SHA-256 compared with its listing. With --depth data, a Qdrant
-- snapshot is also recovered into a scratch collection and its points counted against the count
-- recorded at backup time (the scratch collection is deleted afterwards).
local backup = require "opsh.backup"
local config = require "opsh.config"

local function resolve(root, name)
  if name and name:find("/", 1, true) then return name end
  if name then return root .. "/" .. name end
  local b = backup.latest(root)
  return b and b.path or nil
end

return {
  description = "Verifies a backup (the newest by default): checksums, completeness, archives, Qdrant data",
  categories = { "backup", "check", "safe" },
  guide = { "Backup and Recovery / Backup Verification" },
  args = {
    { name = "dir", help = "backup root (default: config backup_dir)" },
    { name = "backup", help = "a backup's name or path (default: the newest complete one)" },
    { name = "depth", default = "archives", choices = { "files", "archives", "data" } },
  },
  run = function(args, ctx)
    local root = args.dir or config.get("backup_dir")
    local path = resolve(root, args.backup)
    if not path then return ctx:crit("backup.verify", "no complete backup in " .. root) end
    local v = backup.verify(path, { depth = args.depth == "data" and "archives" or args.depth })
    if not v.ok then
      ctx:crit("backup.verify", string.format("%s: %s (first bad file: %s)", path, v.problems[1], tostring(v.first_bad)),
        { problems = #v.problems })
      return
    end
    ctx:ok("backup.verify", string.format("%s: %d files, %d bytes, %d archive members checked", path, v.files, v.bytes, v.members),
      { files = v.files, bytes = v.bytes, members = v.members })
    if args.depth ~= "data" then return end
    local m = assert(backup.manifest(path))
    for _, it in ipairs(m.items) do
      if it.source == "qdrant" then
        local qdrant = require "opsh.qdrant"
        local q = qdrant.connect()
        local scratch = "opsh-verify-" .. tostring(os.time()) .. "-" .. it.collection
        local ok, err = q:upload_snapshot(scratch, path .. "/" .. it.file, { priority = "snapshot", checksum = it.sha256 })
        if not ok then
          ctx:crit("backup.verify.qdrant", it.collection .. ": the snapshot does not recover: " .. tostring(err))
        else
          local n = q:count(scratch, { exact = true })
          q:delete_collection(scratch)
          if n == it.points_count then
            ctx:ok("backup.verify.qdrant", string.format("%s: recovered into a scratch collection, %d points as at backup time", it.collection, n), { points = n })
          else
            ctx:crit("backup.verify.qdrant", string.format("%s: %s points recovered, %s at backup time", it.collection, tostring(n), tostring(it.points_count)))
          end
        end
      elseif it.source == "redis" then
        ctx:unknown("backup.verify.redis", it.name .. ": loading an RDB needs a throwaway redis-server, which procedures do not start (opsh.sys is not there yet); its checksums are verified")
      end
    end
  end,
}
