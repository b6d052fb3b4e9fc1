---@meta
--- Other procedures, run from a script: `local procedure = require "opsh.procedure"`.
--- A procedure is found as `opsh run NAME` finds it (--path, $OPSH_PATH,
--- ~/.config/opsh/scripts, then the built-ins), so an ejected or local copy is the one run.
local procedure = {}

--- The procedure's metadata table (description, categories, args, run), validated; nil, err
--- when there is no such procedure or it does not load.
---@param name string e.g. "qdrant/health"
---@return table|nil meta, string? err
function procedure.load(name) end

--- Runs procedure `name` reporting into ctx (the caller's report: its checks join the
--- caller's). args = {name = value} are typed and checked by the procedure's own argument list,
--- defaults filled in. Only `safe` procedures run unless opts.allow_changes is true (then the
--- caller's categories must say it changes things). Returns true, or nil, err when the procedure
--- cannot be loaded or its arguments are wrong.
---@param name string
---@param args? table<string, any>
---@param ctx table the caller's ctx
---@param opts? {allow_changes?: boolean}
---@return boolean|nil ok, string? err
function procedure.run(name, args, ctx, opts) end

return procedure
