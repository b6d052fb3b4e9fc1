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

--- Runs procedures as the parts of one report (a checklist, the daily check), concurrently
--- unless opts.sequential: each part {name =, args =, key =, why =}. Their checks join ctx's in
--- the order of `parts`. A part that cannot run is UNKNOWN under its key, never an error of the
--- whole: a procedure that does not exist here (part.why says where it will come from, as
--- "issue 14"), wrong arguments, an error raised inside it. opts.allow_changes as for run (or
--- allow_changes = true on one part); opts.skip: keys of parts to leave out; opts.deadline:
--- seconds for all of them (concurrent only): a part still running then is stopped and reported
--- CRITICAL, after what it had found.
---@param parts {name: string, args?: table, key?: string, why?: string, allow_changes?: boolean}[]
---@param ctx table
---@param opts? {allow_changes?: boolean, sequential?: boolean, skip?: string[], deadline?: number}
---@return table[] reports one per part run
---@return table[] parts the parts run, in the same order
function procedure.parts(parts, ctx, opts) end

--- Runs a maintenance run's steps in order, one after the other: each a part as for `parts`
--- plus its `title`; after each step's own checks a summary check `step.N` with the worst status
--- of its checks. A step that cannot run is UNKNOWN and the next still runs.
---@param steps {title: string, name: string, args?: table, key?: string, why?: string}[]
---@param ctx table
---@param opts? {allow_changes?: boolean, skip?: string[]}
---@return table[] reports one per step run
function procedure.steps(steps, ctx, opts) end

--- Runs one procedure that may change things as a step of ctx's report (parts with one part,
--- allowed to change things: the caller's categories must say so): its checks join ctx's, one
--- that cannot run is UNKNOWN under `key`. Returns true when it ended OK or WARNING, and its report.
---@param name string
---@param args? table
---@param ctx table
---@param key? string
---@return boolean ok, table report
function procedure.step(name, args, ctx, key) end

return procedure
