-- Backup verification: the files (manifest complete, every file's size and SHA-256 against the
-- manifest and SHA256SUMS, the first bad file named) and, with --depth archives, every archive
-- read through with each member's SHA-256 compared with its listing. With --depth data, a Qdrant
-- snapshot is also recovered into a scratch collection and its points counted against the count
-- recorded at backup time (the scratch collection is deleted afterwards), and a Redis RDB is
-- loaded by a throwaway redis-server whose DBSIZE must match the one recorded at backup time.
local opsh = require "opsh"
local backup = require "opsh.backup"
local config = require "opsh.config"

--- Loads an RDB into a throwaway redis-server (started through opsh.sys.exec: there is no API
--- that loads an RDB) on a free loopback port in a scratch directory, and returns its DBSIZE.
--- The server is shut down (SHUTDOWN NOSAVE) and the directory removed whatever happens.
local function load_rdb(path, it, server)
  local fs = require "opsh.fs"
  local redis = require "opsh.redis"
  local sys = require "opsh.sys"
  local time = require "opsh.time"
  local dir = path .. "/../.verify-" .. it.name .. "-" .. tostring(os.time())
  assert(fs.mkdir(dir, tonumber("700", 8)))
  local function cleanup() fs.delete(dir, { recursive = true }) end
  local ok, cerr = fs.copy(path .. "/" .. it.file, dir .. "/dump.rdb")
  if not ok then cleanup(); return nil, cerr end
  for _ = 1, 5 do
    local port = 20000 + math.random(0, 40000)
    local r, err = sys.exec({ server or "redis-server", "--port", tostring(port), "--bind", "127.0.0.1", "--dir", dir,
      "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no", "--daemonize", "yes",
      "--pidfile", dir .. "/redis.pid", "--logfile", dir .. "/redis.log" }, { timeout = 10, read_only = true })
    if not r then cleanup(); return nil, err end
    if r.status ~= 0 then cleanup(); return nil, "redis-server exited " .. tostring(r.status) .. ": " .. r.stderr end
    local c
    local deadline = time.monotonic() + 60
    while time.monotonic() < deadline do
      c = redis.connect("redis://127.0.0.1:" .. port)
      if c then
        local info = c:info("persistence")
        if info and tostring((info.persistence or {}).loading) == "0" then break end
        c:close(); c = nil
      end
      opsh.sleep(0.1)
    end
    if c then
      local n = c:call("DBSIZE")
      pcall(c.call, c, "SHUTDOWN", "NOSAVE")
      c:close()
      cleanup()
      return n
    end
    -- nothing answered on that port (taken: the server logged it and exited): another port
  end
  cleanup()
  return nil, "no throwaway redis-server answered"
end

local function resolve(root, name)
  if name and name:find("/", 1, true) then return name end
  if name then return root .. "/" .. name end
  local b = backup.latest(root)
  return b and b.path or nil
end

return {
  description = "Verifies a backup (the newest by default): checksums, completeness, archives, Qdrant data",
  categories = { "backup", "check", "safe" },
  guide = { "backup-strategy.5", "backup-verification.1", "backup-verification.2", "backup-verification.3" },
  args = {
    { name = "dir", help = "backup root (default: config backup_dir)" },
    { name = "backup", help = "a backup's name or path (default: the newest complete one)" },
    { name = "depth", default = "archives", choices = { "files", "archives", "data" } },
    { name = "redis_server", default = "redis-server", help = "the redis-server that loads an RDB at --depth data" },
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
        local n, err = load_rdb(path, it, args.redis_server)
        if not n then
          ctx:crit("backup.verify.redis", it.name .. ": " .. tostring(err))
        elseif it.dbsize ~= nil and n ~= it.dbsize then
          ctx:crit("backup.verify.redis", string.format("%s: a throwaway redis-server loaded %d keys, %d at backup time", it.name, n, it.dbsize))
        else
          ctx:ok("backup.verify.redis", string.format("%s: a throwaway redis-server loaded it, %d keys as at backup time", it.name, n), { keys = n })
        end
      end
    end
  end,
}
