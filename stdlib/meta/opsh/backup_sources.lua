---@meta
--- What a backup takes and how each kind is put back: plug-in sources shared by the backup and
--- recovery procedures. `local sources = require "opsh.backup_sources"`.
--- A source is a table
---   { name = "config", kind = "tree"|"file"|"redis-rdb"|"qdrant-snapshot"|"docker-volume", order = n,
---     take = function(w, ctx) -> item | nil, err,                 -- adds its item(s) to a backup writer
---     restore = function(backup_path, item, ctx, opts) -> result | nil, err }   -- optional
--- `restore` runs in `order` (lower first): files and configuration, then data services. A new
--- kind plugs in by returning such a table; the procedures only iterate over sources.
local sources = {}

---@class backup_sources.source
---@field name string the item's name in the backup
---@field kind string
---@field order integer restore order (lower first)
---@field origin any where it came from (a path, a URL, a collection, a volume)
---@field take fun(w: table, ctx: table): table|nil, table?
---@field restore? fun(backup_path: string, item: table, ctx: table, opts: table): table|nil, table?

--- A name made safe for a file in a backup ([%w._-], no leading dot).
---@return string
function sources.sanitize(s) end

--- A directory tree (or one file) archived as NAME.tar.gz; restored by staging + swap onto its origin.
---@param opts? {exclude?: string[], order?: integer}
---@return backup_sources.source
function sources.tree(name, path, opts) end

--- One file kept as is; opts.secret = true stores it 0600 (a .env copy).
---@param opts? {secret?: boolean, order?: integer}
---@return backup_sources.source
function sources.file(name, path, opts) end

--- Redis: the RDB by replication (SYNC, as redis-cli --rdb, both framings). DragonflyDB refuses
--- SYNC: it is detected (INFO's dragonfly_version) and, after a SAVE, its snapshot directory is
--- archived when it is on this host. Restored with the service stopped; with AOF on,
--- `appendonlydir` is moved aside so the RDB is what loads.
---@param opts? {name?: string}
---@return backup_sources.source
function sources.redis(url, opts) end

--- A Qdrant collection: a snapshot created through the API, downloaded with its checksum checked,
--- moved into the backup and deleted from the server (opts.keep_remote keeps it). Restored
--- through a running Qdrant (upload + recover).
---@return backup_sources.source
function sources.qdrant(collection, opts) end

--- The image of the short-lived helper containers that reach a volume: opts.image, else config
--- backup.helper_image, else "busybox".
---@param opts? {image?: string}
---@return string
function sources.helper_image(opts) end

--- A Docker volume through the Engine's archive API (a never-started helper container that
--- mounts it read-only serves it as a tar). Restore stages the tree inside the volume and swaps
--- it there with one helper run; refused while a container uses the volume. A restore killed
--- midway leaves both copies inside the volume.
---@param opts? {name?: string}
---@return backup_sources.source
function sources.docker_volume(volume, opts) end

--- The sources a daily backup takes: the arguments, else config.lua's `backup` table
--- { config_dirs = {...}, files = {...}, env_file = ".env", app_data = {...}, redis = true,
---   redis_url = ..., qdrant_collections = {...} }.
---@return backup_sources.source[]
function sources.from_config(args) end

--- Takes every source into one backup under root (tier "daily", "weekly", ...): the manifest, or
--- nil and the failing source's error (the backup is then removed: complete or absent).
---@param opts? {compression?: string, meta?: table} compression "gzip" (default) or what opsh.backup.begin takes
function sources.take(root, tier, list, ctx, opts) end

return sources
