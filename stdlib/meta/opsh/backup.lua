---@meta
--- Backups that never lose data: `local backup = require "opsh.backup"`.
---
--- A backup is a directory ROOT/NAME (NAME = 20261129T053000Z-daily) holding one archive per
--- tree (ITEM.tar.gz, .tar.zst or .tar: POSIX pax tar that GNU tar extracts), a per-file
--- SHA-256 listing per archive (ITEM.files.sha256, `sha256sum -c` format), single files as
--- they are (ITEM), SHA256SUMS (`sha256sum -c SHA256SUMS` checks them all) and manifest.json
--- (what, when, from where, sizes, checksums), written last. While it is written it is
--- NAME.partial; it becomes NAME only after one syncfs pass, the renames and the manifest, so
--- a killed or failed backup (disk full) never looks complete; a failed item removes the
--- whole .partial, and the next backup in the root removes any left by a killed process.
--- gzip is compressed on every core (as pigz), zstd with libzstd's threads; SHA-256 is
--- computed in the same pass. Calls block while they run; on a terminal, add_tree and restore
--- show a progress line on stderr (never in pipes or --json output). Under --dry-run nothing is written:
--- the writer and retention record what they would do in the report (its "would:" lines), and restore lists what would change.
--- Failures return nil, err with err.code one of io, corrupt, truncated, unsafe_entry,
--- checksum, no_space, unsupported, library, and err.path.
local backup = {}

---@class opsh.backup.writer
local writer = {}

--- Starts a backup in root (created 0700; one backup or retention per root at a time).
--- compression: "gzip" (default, level 6), "zstd" (level 3) or "none"; meta: extra manifest fields.
---@param opts {root: string, tier?: string, compression?: "gzip"|"zstd"|"none", level?: integer, threads?: integer, meta?: table}
---@return opsh.backup.writer|nil w, table? err
function backup.begin(opts) end

--- Archives a directory tree (members relative to path) or a single file as ITEM.tar.*.
--- Symlinks are stored, never followed; hard links once; sparse files as pax sparse regions.
--- exclude: patterns matched against the member path. Returns the manifest's item entry
--- ({name, file, bytes, sha256, files, directories, data_bytes, warnings, sparse_files, ...}).
--- Every regular file's SHA-256 goes to ITEM.files.sha256, except sparse files: hashing their
--- holes as zeros would cost gigabytes for a WAL, so they get a regions digest in the manifest
--- (sparse_files: {path, size, regions_sha256} = SHA-256 of the pax map text and the data).
---@param item string letters, digits, '.', '-', '_'
---@param path string
---@param opts? {exclude?: string[], meta?: table}
---@return table|nil item, table? err
function writer:add_tree(item, path, opts) end

--- Stores a single file as ITEM, copied and hashed; mode for secrets ({mode = tonumber("600", 8)}).
---@param item string
---@param path string
--- move = true renames a file from the same filesystem (a snapshot downloaded for this backup)
--- into the backup instead of copying it.
---@param opts? {mode?: integer, move?: boolean, meta?: table}
---@return table|nil item, table? err
function writer:add_file(item, path, opts) end

--- Re-archives a tar file made elsewhere (what the Docker archive API returns for a volume or
--- a container path; .gz/.zst by name) as ITEM.tar.*, hashing each member like add_tree.
--- strip_components drops leading path components (Docker puts the directory's own name first).
---@param item string
---@param tar_path string
---@param opts? {strip_components?: integer, origin?: string, meta?: table}
---@return table|nil item, table? err
function writer:add_tar(item, tar_path, opts) end

--- Stores bytes (a metadata.json) as ITEM (default mode 0600).
---@param item string
---@param data string
---@param opts? {mode?: integer, meta?: table}
---@return table|nil item, table? err
function writer:add_data(item, data, opts) end

--- Stores a Redis RDB as ITEM, taken from a running server by replication (SYNC, as
--- `redis-cli --rdb` does; both the `$<len>` and Redis 7's diskless `$EOF:<mark>` framings).
--- DragonflyDB refuses SYNC: the call fails with code "unsupported" (use BGSAVE and add_file).
---@param item string
---@param url string redis://[user:password@]host:port or unix:///path
---@param opts? {timeout?: number, meta?: table}
---@return table|nil item, table? err
function writer:add_redis_rdb(item, url, opts) end

--- Makes the backup complete and returns its manifest (plus .path and .leftovers_removed).
---@return table|nil manifest, table? err
function writer:commit() end

--- Abandons the backup and removes what it wrote (also done when an uncommitted writer is closed or collected).
function writer:abort() end

--- {root, name, path} of the backup being written (path ends in .partial until commit).
---@return table
function writer:info() end

--- The backups in root: complete ones newest first, then leftovers of interrupted runs
--- (complete = false), each {name, path, tier, created (ISO), created_unix, complete, bytes}.
--- Only what opsh's backup writer made counts: a directory named TIMESTAMP-TIER (as
--- 20261129T020000Z-daily) whose manifest.json says it is that complete backup, or such a name
--- ending in .partial. The second result lists everything else in root, {name, reason}: opsh
--- never touches those (configuration versions in root/config, log archives in root/logs, your files).
---@param root string
---@return table[] backups, {name: string, reason: string}[] left_alone
function backup.list(root) end

--- The newest complete backup, at or before a Unix time when given, of one of `tiers` when
--- given (any tier otherwise); nil when none.
---@param root string
---@param at_or_before? number
---@param tiers? string[]
---@return table|nil
function backup.latest(root, at_or_before, tiers) end

--- A backup's manifest.json as a table.
---@param path string
---@return table|nil manifest, table? err
function backup.manifest(path) end

--- Checks a backup. depth "files" (default): the manifest is complete, every file's size and
--- SHA-256 match it and SHA256SUMS; "archives": also every archive decompressed and parsed,
--- each member's SHA-256 compared with its listing. Returns {ok, problems, first_bad, files,
--- bytes, members, depth}.
---@param path string
---@param opts? {depth?: "files"|"archives"}
---@return table
function backup.verify(path, opts) end

--- Restores one item onto target, only from a backup that verifies. A tree is extracted into a
--- staging directory beside target, synced, and swapped in with one atomic rename exchange
--- (the target is always the old tree or the new one); the old tree is then deleted, or kept
--- with keep_old (its path in .kept_old). Members that would escape the target (absolute
--- paths, '..', paths through symlinks, symlinks or hard links pointing out, device files) are
--- refused and named, and the target is left as it was. A target that is a mount point (a
--- Docker volume's root) is refused: restore into a new volume or a directory inside it.
--- dry_run (or --dry-run): {added, changed, removed} lists (first 1000) and counts, nothing written.
---@param path string the backup directory
---@param item string
---@param target string
---@param opts? {dry_run?: boolean, keep_old?: boolean}
---@return table|nil result, table? err
function backup.restore(path, item, target, opts) end

--- Writes a tree item of a verified backup as a plain tar (every member checked as a restore
--- checks it), its members under `prefix` when given: what the Docker archive API's
--- put_archive takes (it cannot read zstd). Returns {bytes, path}.
---@param path string
---@param item string
---@param out string
---@param opts? {prefix?: string}
---@return table|nil result, table? err
function backup.export(path, item, out, opts) end

--- A tier's retention policy; a backup is kept when any rule keeps it, and the newest complete
--- backup of the tier always is.
---@class opsh.backup.policy
---@field last? integer the newest N backups
---@field daily? integer the newest backup of each of the last N days that have one (UTC)
---@field weekly? integer the same per ISO week
---@field monthly? integer the same per month
---@field days? integer every backup younger than N days

--- Retention, tier by tier: each tier named in `tiers` keeps what its policy keeps, and its
--- other complete backups are deleted; backups of tiers not named are never touched (a daily
--- run cannot delete a weekly or emergency backup); leftovers of interrupted runs are deleted;
--- entries that are not backups (see backup.list) are never touched. Holds the root's lock.
--- dry_run (or --dry-run) writes nothing. `now` (Unix seconds) is the clock for `days`.
--- An unknown option or policy field is an error naming it. Returns {kept = {{name, tier,
--- reasons}}, deleted = {{name, tier, reason}}, untouched = {{name, tier}}, left_alone =
--- {{name, reason}}, dry_run}; on a dry run `deleted` is what would be deleted.
--- opsh.retention gives the policies of the configuration.
---@param root string
---@param opts {tiers: table<string, opsh.backup.policy>, now?: integer, dry_run?: boolean}
---@return table|nil result, table? err
function backup.retention(root, opts) end

return backup
