---@meta
--- Readable rendering of Lua values: `local pretty = require "opsh.pretty"` (the REPL prints with it).
local pretty = {}

--- Formats a value: tables nested and indented, keys sorted, cycles marked <cycle>.
---@param v any
---@param opts? {indent?: string, depth?: integer}
---@return string
function pretty.format(v, opts) end

--- Prints each argument formatted (strings as they are), like print.
---@param ... any
function pretty.print(...) end

return pretty
