---@meta
--- Byte sizes as operators write them and as people read them: `local units = require "opsh.units"`.
local units = {}

--- "1gb", "512M", "2048", 2048 -> bytes (binary multiples, as Redis reads them); nil if malformed.
---@param s string|number
---@return integer|nil
function units.parse_bytes(s) end

--- Bytes for a person: 1536 -> "1.5 KiB".
---@param bytes number
---@return string
function units.bytes_text(bytes) end

--- " (authentication failed: ...)" when a Redis error is an authentication failure, else "".
---@param err any
---@return string
function units.redis_auth_hint(err) end

return units
