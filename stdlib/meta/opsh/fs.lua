---@meta
--- Files, safely: `local fs = require "opsh.fs"`. Writes are atomic (temporary file in the
--- same directory, fsync, rename, directory fsync) and refused under --dry-run
--- (reported as "would: ..."). Failures return nil, err with err.code an errno name
--- (ENOENT, EACCES, ENOSPC, ...) and err.path. Walk, glob, copy, move, delete and disk
--- usage come with the backup engine.
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

return fs
