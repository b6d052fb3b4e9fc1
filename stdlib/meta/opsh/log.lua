---@meta
--- opsh's own log: levelled lines on stderr, secrets redacted. `local log = require "opsh.log"`.
--- The level comes from --verbose (debug) or the log_level setting (default info).
local log = {}

--- Logs at debug level. Fields whose names look secret (password, token, *_key, ...) show as ***;
--- URL passwords in the message are hidden.
---@param message any
---@param fields? table<string, any>
function log.debug(message, fields) end

--- Logs at info level.
---@param message any
---@param fields? table<string, any>
function log.info(message, fields) end

--- Logs at warn level.
---@param message any
---@param fields? table<string, any>
function log.warn(message, fields) end

--- Logs at error level.
---@param message any
---@param fields? table<string, any>
function log.error(message, fields) end

--- The current level; sets it when a name (debug, info, warn, error) is given.
---@param name? string
---@return string
function log.level(name) end

--- Hides URL passwords (redis://user:***@host) and key=value secrets in text.
---@param text string
---@return string
function log.redact(text) end

return log
