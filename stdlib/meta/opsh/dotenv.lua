---@meta
--- Environment files (.env, KEY=VALUE, as docker-compose reads them): `local dotenv = require "opsh.dotenv"`.
local dotenv = {}

--- The variables as {KEY = value}: `export` prefixes, comments and quotes handled; the last
--- assignment of a key wins. nil, err when the file cannot be read.
---@param path string
---@return table<string, string>|nil vars, table? err
function dotenv.read(path) end

--- Sets KEY=value, keeping every other line byte for byte: the first assignment of KEY is
--- replaced in place (later ones removed), or the line appended; values with spaces, #, quotes
--- or $ are double-quoted. Written atomically with the file's own permission bits (a 0600 .env
--- stays 0600). opts.keep = SUFFIX keeps a copy of the old file as PATH..SUFFIX first.
--- Refused under --dry-run like every opsh.fs write.
---@param path string
---@param key string
---@param value string one line
---@param opts? {keep?: string}
---@return {changed: boolean, kept?: string}|nil result, string? err
function dotenv.set(path, key, value, opts) end

return dotenv
