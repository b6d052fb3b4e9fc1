---@meta
--- The script format (docs/ARCHITECTURE.md §4): `local script = require "opsh.script"`.
--- A procedure is a Lua chunk returning
---   { description = "...", categories = {"daily", "check", "safe"},
---     guide = {"Daily Operations / Daily Checklist"},
---     args = { {name = "since", default = "24h", help = "..."},
---              {name = "disk_warn", type = "number", default = 80} },
---     run = function(args, ctx) ... end }
--- categories must include one of safe (reads only), intrusive (changes state),
--- destructive (deletes data: needs --yes or a yes at the prompt).
--- Argument types: string, number, integer, boolean (--flag / --no-flag), list (comma-separated, or the argument repeated: --file a --file b);
--- an argument may also have required = true and choices = {...}.
local script = {}

--- Validates a metadata table; raises "script NAME: field ..." on the first problem.
---@param meta table
---@param name string
---@return table meta
function script.validate(meta, name) end

--- Parses --name value / --name=value / --flag / --no-flag against meta.args; returns typed args,
--- or nil, "help" for --help. Raises a clear error for unknown or ill-typed arguments; `ref` is
--- how a command line names the script in the hints (its path when run from a file; default name).
---@param meta table
---@param name string
---@param argv string[]
---@param ref? string
---@return table|nil args, string? help
function script.parse_args(meta, name, argv, ref) end

--- The help text of a script.
---@param meta table
---@param name string
---@return string
function script.help(meta, name) end

return script
