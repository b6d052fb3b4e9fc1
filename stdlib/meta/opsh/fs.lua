---@meta
--- Files, safely: `local fs = require "opsh.fs"`. Writes are atomic (temporary file in the
--- same directory, fsync, rename, directory fsync) and refused under --dry-run
--- (listed in the report as "would: ..."). Failures return nil, err with err.code an errno name
--- (ENOENT, EACCES, ENOSPC, ...) and err.path. Symlinks are never followed by walk, find,
--- du or delete. Calls block while they run.
local fs = {}

--- Writes data to path atomically; opts.mode sets the permission bits exactly
--- (secrets: {mode = tonumber("600", 8)}), whatever the umask.
---@param path string
---@param data string
---@param opts? {mode?: integer}
---@return true|nil ok, table? err
function fs.write_atomic(path, data, opts) end

--- Reads a whole file, at most max_bytes (default 64 MiB).
---@param path string
---@param max_bytes? integer
---@return string|nil data, table? err
function fs.read(path, max_bytes) end

--- {type = "file"|"directory"|"link"|"socket"|"fifo"|"device", size, mode, mtime, uid, gid} (lstat).
---@param path string
---@return table|nil info, table? err
function fs.stat(path) end

--- Whether path exists (a dangling link counts).
---@param path string
---@return boolean
function fs.exists(path) end

--- The absolute path of an existing path, symlinks resolved (a relative one is taken from the
--- current directory), as realpath(3).
---@param path string
---@return string|nil path, table? err
function fs.realpath(path) end

--- The names in a directory, sorted, without "." and ".." (at most max_entries, default 100,000).
---@param dir string
---@param max_entries? integer
---@return string[]|nil names, table? err
function fs.list(dir, max_entries) end

--- mkdir -p; existing directories are fine.
---@param path string
---@param mode? integer default 0755
---@return true|nil ok, table? err
function fs.mkdir(path, mode) end

--- Every entry under root, depth first, names sorted, symlinks not followed:
--- `for path, st in fs.walk(dir) do ... end` (path relative to root; st as fs.stat gives it,
--- with .path). Bounded: more than max_entries (default 1,000,000) is an error.
---@param root string
---@param opts? {max_depth?: integer, max_entries?: integer}
---@return fun(): string, table iterator
function fs.walk(root, opts) end

--- Paths matching a shell pattern (`/var/log/app/*.log`), sorted; {} when none match.
---@param pattern string
---@return string[]
function fs.glob(pattern) end

--- find(1) by name, type, age and size: every option given must hold.
--- older_than/newer_than: seconds or a duration ("30d", "12h") against the mtime;
--- larger_than/smaller_than: bytes or a size ("100M", "1gb"); name: a pattern on the base name.
--- Returns {path (root joined with the relative path), type, size, mode, mtime} per match.
---@param root string
---@param opts? {name?: string, type?: "file"|"directory"|"link", older_than?: number|string, newer_than?: number|string, larger_than?: integer|string, smaller_than?: integer|string, max_depth?: integer}
---@return table[]|nil entries, table? err
function fs.find(root, opts) end

--- Copies a regular file: written next to dst, fsynced, renamed over dst (atomic), its
--- SHA-256 computed on the way. opts.mode sets the copy's mode (default: the source's).
---@param src string
---@param dst string
---@param opts? {mode?: integer}
---@return {bytes: integer, sha256: string}|nil result, table? err
function fs.copy(src, dst, opts) end

--- Renames src to dst; across filesystems a file is copied, fsynced, renamed into place and
--- the source deleted.
---@param src string
---@param dst string
---@return true|nil ok, table? err
function fs.move(src, dst) end

--- Deletes a file, symlink, or (with {recursive = true}) a directory tree. Refused under
--- --dry-run, which adds "would: delete PATH (N entries)" to the report and returns {dry_run = true, deleted = N}.
---@param path string
---@param opts? {recursive?: boolean}
---@return {deleted: integer, dry_run?: boolean}|nil result, table? err
function fs.delete(path, opts) end

--- Disk usage as `du -s -B1`: allocated bytes (hard links once), apparent size, entries.
---@param path string
---@return {bytes: integer, apparent: integer, files: integer}|nil usage, table? err
function fs.du(path) end

--- The filesystem holding path, as df sees it (used_percent = used / (used + available)).
---@param path string
---@return {total: integer, free: integer, available: integer, used: integer, used_percent: number}|nil fs, table? err
function fs.df(path) end

return fs
