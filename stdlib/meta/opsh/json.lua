---@meta
--- JSON, native and exact: `local json = require "opsh.json"`.
--- Integers within int64 decode to Lua integers and other numbers to floats that
--- re-encode in the shortest form reading back the same; an integer beyond int64
--- (Qdrant's u64 point ids) decodes to a json.bignum value that re-encodes
--- identically. JSON null is opsh.null. Decoded arrays and objects carry markers
--- so that empty ones re-encode as [] and {}.
local json = {}

--- JSON null (the same value as opsh.null).
json.null = nil

--- Decodes a JSON text. Malformed or hostile input returns nil, err with
--- err.offset (byte), err.line, err.column; nesting is bounded (max_depth, default 512).
---@param text string
---@param opts? {max_depth?: integer}
---@return any|nil value, table? err
function json.decode(text, opts) end

--- Encodes a value. Tables that are sequences become arrays, others objects
--- (keys must be strings; integer keys of sparse tables are written as strings).
--- NaN, infinities, functions, cycles and too-deep nesting are errors (nil, err).
--- pretty = true indents by two spaces; sort_keys = true orders object keys.
---@param value any
---@param opts? {pretty?: boolean, sort_keys?: boolean, max_depth?: integer}
---@return string|nil text, table? err
function json.encode(value, opts) end

--- Marks t as a JSON array (so an empty one encodes as []). Returns t.
---@param t? table
---@return table
function json.array(t) end

--- Marks t as a JSON object (so an empty one encodes as {}). Returns t.
---@param t? table
---@return table
function json.object(t) end

--- An exact integer beyond int64 from its decimal digits (e.g. a u64 point id).
---@param digits string
---@return json.bignum
function json.bignum(digits) end

---@class json.bignum
--- tostring(b) gives the digits; b1 == b2 compares them.

return json
