---@meta
--- The effective configuration: `local config = require "opsh.config"`.
--- Highest first: --set KEY=VALUE flags, environment variables (QDRANT_URL,
--- REDIS_URL, DOCKER_HOST, ...), a .env file (--env-file, else ./.env),
--- ~/.config/opsh/config.lua (a Lua file returning a table), then defaults.
--- `opsh config` prints it with secrets redacted and where each value came from.
local config = {}

--- A setting's value, or default when unset. Tables from config.lua come back as tables.
---@param key string e.g. "qdrant_url", "redis_url", "thresholds"
---@param default? any
---@return any
function config.get(key, default) end

--- Where a setting came from: "default", "env QDRANT_URL", ".env (QDRANT_URL)", the config file's path, or "flag --set".
---@param key string
---@return string|nil
function config.source(key) end

--- Every setting as key = value (secrets included: for scripts, never for printing).
---@return table<string, any>
function config.all() end

--- Every setting as {key, value, source} rows with secrets shown as ***, sorted by key.
---@return {key: string, value: string, source: string}[]
function config.show() end

return config
