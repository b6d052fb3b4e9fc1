--- opsh.backup_sources: what a backup takes and how each kind is put back, as plug-in sources
--- the backup and recovery procedures share. A source is a table:
---   { name = "config", kind = "tree"|"file"|"redis-rdb"|"qdrant-snapshot"|..., order = n,
---     take = function(w, ctx) -> item | nil, err     -- adds its item(s) to a backup writer
---     restore = function(backup_path, item, ctx, opts) -> result | nil, err  (optional) }
--- `restore` runs in `order` (lower first): files and configuration, then data services.
--- New kinds (a Docker volume through the Docker client) plug in by adding a constructor here;
--- the procedures only iterate over sources.
local opsh = require "opsh"
local backup = require "opsh.backup"
local config = require "opsh.config"
local fs = require "opsh.fs"

local M = {}

local function sanitize(s)
  return (tostring(s):gsub("[^%w%._%-]", "_"):gsub("^%.", "_"))
end
M.sanitize = sanitize

--- A directory tree (or one file) archived as ITEM.tar.gz; restored by staging + swap onto its origin.
function M.tree(name, path, opts)
  opts = opts or {}
  return {
    name = name, kind = "tree", order = opts.order or 10, origin = path,
    take = function(w)
      return w:add_tree(name, path, { exclude = opts.exclude, meta = { source = "tree" } })
    end,
  }
end

--- One file kept as is (mode 0600 with secret = true: a .env copy).
function M.file(name, path, opts)
  opts = opts or {}
  return {
    name = name, kind = "file", order = opts.order or 10, origin = path,
    take = function(w)
      return w:add_file(name, path, { mode = opts.secret and tonumber("600", 8) or nil, meta = { source = "file", secret = opts.secret or nil } })
    end,
  }
end

--- Redis: the RDB by replication (SYNC, as redis-cli --rdb). DragonflyDB refuses SYNC: it is
--- detected (INFO's dragonfly_version) and its snapshot directory (CONFIG GET dir) is archived
--- after a SAVE when that directory is on this host.
function M.redis(url, opts)
  opts = opts or {}
  local name = opts.name or "redis.rdb"
  return {
    name = name, kind = "redis-rdb", order = 30, origin = url,
    take = function(w, ctx)
      local redis = require "opsh.redis"
      local r, err = redis.connect(url)
      if not r then return nil, err end
      local dragonfly = r:is_dragonfly()
      local dbsize = r:call("DBSIZE")
      if dragonfly then
        -- DragonflyDB: no SYNC; SAVE writes .dfs files into its dir
        local dir = r:call("CONFIG", "GET", "dir")
        r:call("SAVE")
        r:close()
        dir = type(dir) == "table" and dir[2] or nil
        if not dir or not fs.exists(dir) then
          return nil, opsh.error("unsupported", "DragonflyDB refuses SYNC and its snapshot dir is not on this host")
        end
        return w:add_tree("dragonfly", dir, { meta = { source = "dragonfly", dbsize = dbsize } })
      end
      local persistence = (r:info("persistence") or {}).persistence or {}
      r:close()
      return w:add_redis_rdb(name, url, { meta = { source = "redis", dbsize = dbsize,
        aof_enabled = tostring(persistence.aof_enabled) == "1" } })
    end,
  }
end

--- A Qdrant collection: a snapshot created through the API, downloaded with its checksum
--- checked, moved into the backup, and deleted from the server afterwards (keep_remote keeps
--- it). Restored through a running Qdrant (upload + recover).
function M.qdrant(collection, opts)
  opts = opts or {}
  local name = "qdrant-" .. sanitize(collection) .. ".snapshot"
  return {
    name = name, kind = "qdrant-snapshot", order = 40, origin = collection,
    take = function(w, ctx)
      local qdrant = require "opsh.qdrant"
      local q = qdrant.connect(opts.url and { url = opts.url } or nil)
      local count = q:count(collection, { exact = true })
      local snap, err = q:create_snapshot(collection)
      if not snap then return nil, err end
      local info = w:info()
      local tmp = info.path .. "/.download-" .. name   -- inside the .partial: removed with it
      local d, derr = q:download_snapshot(collection, snap.name, tmp)
      if not d then fs.delete(tmp); return nil, derr end
      if not opts.keep_remote then q:delete_snapshot(collection, snap.name) end
      return w:add_file(name, tmp, { move = true, meta = { source = "qdrant", collection = collection,
        snapshot = snap.name, points_count = count } })
    end,
    restore = function(backup_path, item, ctx, ropts)
      local qdrant = require "opsh.qdrant"
      local q = qdrant.connect(opts.url and { url = opts.url } or nil)
      local target = ropts.collection or item.collection or collection
      if ropts.dry_run then return { dry_run = true, would = "recover " .. target .. " from " .. item.file } end
      local ok, err = q:upload_snapshot(target, backup_path .. "/" .. item.file, { priority = "snapshot", checksum = item.sha256 })
      if not ok then return nil, err end
      return { target = target, bytes = item.bytes }
    end,
  }
end

--- The image of the short-lived helper containers that reach a volume (never started to read
--- one; started once to swap a restored tree in): config backup.helper_image, else busybox.
function M.helper_image(opts)
  local b = config.get("backup")
  return (opts and opts.image) or (type(b) == "table" and b.helper_image) or "busybox"
end

--- A Docker volume, through the Engine's archive API: a helper container that mounts it
--- read-only and is never started serves its files as a tar (get_archive), which is
--- re-archived with per-file hashes (w:add_tar).
---
--- Restore: a volume's root is a mount point and cannot be swapped by rename, so the tree is
--- staged inside the volume and swapped there: the containers using the volume must be stopped
--- (refused otherwise); the checked tar goes in with put_archive as /.opsh-staging-TS (a
--- never-started helper), then one helper run moves the old top-level entries into
--- /.opsh-old-TS, moves the staged ones up, and only then deletes the old copy. A restore killed
--- midway leaves both copies inside the volume (nothing is lost); the next restore removes
--- such leftovers once its own data is in place.
function M.docker_volume(volume, opts)
  opts = opts or {}
  local name = opts.name or ("volume-" .. sanitize(volume))
  return {
    name = name, kind = "docker-volume", order = 25, origin = "docker-volume:" .. volume,
    take = function(w)
      local docker = require "opsh.docker"
      local d = assert(docker.connect())
      local helper = "opsh-backup-" .. sanitize(volume) .. "-" .. tostring(os.time())
      local ok, err = d:create { name = helper, Image = M.helper_image(opts), Cmd = { "true" },
        HostConfig = { Binds = { volume .. ":/v:ro" } } }
      if not ok then return nil, err end
      local tmp = w:info().path .. "/.download-" .. name .. ".tar"
      local a, aerr = d:get_archive(helper, "/v", tmp)
      d:remove(helper)
      if not a then fs.delete(tmp); return nil, aerr end
      local it, ierr = w:add_tar(name, tmp, { strip_components = 1, origin = "docker-volume:" .. volume,
        meta = { source = "docker-volume", volume = volume } })
      fs.delete(tmp)
      return it, ierr
    end,
    restore = function(backup_path, item, ctx, ropts)
      local docker = require "opsh.docker"
      local d = assert(docker.connect())
      local vol = ropts.volume or item.volume or volume
      -- the volume's users must be stopped: a running service would see a half-moved tree
      local users = d:containers { all = true, filters = { volume = { vol } } } or {}
      for _, c in ipairs(users) do
        if c.State == "running" then
          return nil, opsh.error("busy", "volume " .. vol .. " is in use by running container " .. tostring((c.Names or {})[1]) .. ": stop the service first")
        end
      end
      if ropts.dry_run then return { dry_run = true, would = "restore volume " .. vol .. " from " .. item.file } end
      local ts = os.date("!%Y%m%dT%H%M%SZ")
      local staging, old = ".opsh-staging-" .. ts, ".opsh-old-" .. ts
      local tar = backup_path .. "/../.export-" .. item.name .. "-" .. ts .. ".tar"
      local ex, eerr = backup.export(backup_path, item.name, tar, { prefix = staging })
      if not ex then return nil, eerr end
      local image = M.helper_image(opts)
      local loader = "opsh-restore-" .. sanitize(vol) .. "-" .. ts
      local ok, err = d:create { name = loader, Image = image, Cmd = { "true" }, HostConfig = { Binds = { vol .. ":/v" } } }
      if not ok then fs.delete(tar); return nil, err end
      local put, perr = d:put_archive(loader, "/v", tar)
      d:remove(loader)
      fs.delete(tar)
      if not put then return nil, perr end
      local swap = "cd /v && mkdir " .. old ..
        " && find . -mindepth 1 -maxdepth 1 ! -name '.opsh-*' -exec mv {} " .. old .. "/ \\;" ..
        " && find " .. staging .. " -mindepth 1 -maxdepth 1 -exec mv {} . \\;" ..
        " && rmdir " .. staging .. " && rm -rf .opsh-old-* .opsh-staging-*"
      local swapper = "opsh-swap-" .. sanitize(vol) .. "-" .. ts
      ok, err = d:create { name = swapper, Image = image, Cmd = { "sh", "-c", swap }, HostConfig = { Binds = { vol .. ":/v" } } }
      if not ok then return nil, err end
      ok, err = d:start(swapper)
      local code = ok and d:wait(swapper, { timeout = 600 })
      d:remove(swapper, { force = true })
      if not ok then return nil, err end
      if code ~= 0 then return nil, opsh.error("swap", "the swap inside volume " .. vol .. " exited " .. tostring(code) .. " (old data kept in " .. old .. ")") end
      return { target = "volume " .. vol, bytes = item.data_bytes, files = item.files }
    end,
  }
end

--- The sources a daily backup takes, from the configuration (config.lua's `backup` table):
--- backup = { config_dirs = {"/app/config"}, files = {"docker-compose.yml"}, env_file = ".env",
---            app_data = {"/app/data"}, redis = true, qdrant_collections = {"documents"} }
function M.from_config(args)
  local b = config.get("backup") or {}
  if type(b) ~= "table" then b = {} end
  local sources = {}
  local function list(v) if type(v) == "string" then return { v } end return v or {} end
  for _, d in ipairs(args.config_dirs or list(b.config_dirs)) do
    sources[#sources + 1] = M.tree("config-" .. sanitize(d:match("([^/]+)/*$") or d), d, { order = 10 })
  end
  for _, f in ipairs(args.files or list(b.files)) do
    sources[#sources + 1] = M.file("file-" .. sanitize(f:match("([^/]+)$") or f), f, { order = 10 })
  end
  local env = args.env_file or b.env_file
  if env and env ~= "" then sources[#sources + 1] = M.file("env", env, { secret = true, order = 10 }) end
  for _, d in ipairs(args.app_data or list(b.app_data)) do
    sources[#sources + 1] = M.tree("app-" .. sanitize(d:match("([^/]+)/*$") or d), d, { order = 20 })
  end
  local redis_on = args.redis
  if redis_on == nil then redis_on = b.redis end
  if redis_on then sources[#sources + 1] = M.redis(args.redis_url or config.get("redis_url")) end
  for _, c in ipairs(args.qdrant_collections or list(b.qdrant_collections)) do
    sources[#sources + 1] = M.qdrant(c)
  end
  return sources
end

--- Takes every source into one backup; returns the manifest, or nil and the failing source's
--- error (the backup is then removed: a backup is complete or absent).
function M.take(root, tier, sources, ctx, opts)
  opts = opts or {}
  local w, err = backup.begin { root = root, tier = tier, compression = opts.compression or "gzip", meta = opts.meta }
  if not w then return nil, err end
  for _, s in ipairs(sources) do
    local item, ierr = s.take(w, ctx)
    if not item then
      w:abort()
      return nil, opsh.error(ierr and ierr.code or "error", s.name .. ": " .. tostring(ierr))
    end
    if ctx and not item.dry_run then
      ctx:ok("backup." .. s.name, string.format("%s: %d bytes, sha256 %s", s.name, item.bytes or 0, (item.sha256 or ""):sub(1, 16)),
        { bytes = item.bytes })
      for _, wmsg in ipairs(item.warnings or {}) do ctx:warn("backup." .. s.name, wmsg) end
    end
  end
  return w:commit()
end

return M
