---@meta
--- The core of opsh: `local opsh = require "opsh"`.
--- Tasks are coroutines on opsh's event loop: native I/O and opsh.sleep inside
--- a task suspend only that task; outside any task they block.
local opsh = {}

--- Stands for RESP nil and JSON null (a userdata that prints as "null").
opsh.null = nil

--- opsh's version string.
opsh.version = "0.1.0"

--- Whether --dry-run is in force: native modules refuse changes and list "would: ..." in the report (on stderr at the end of a plain script).
opsh.dry_run = false

--- Starts a task running fn(...). With an options table first, {timeout = seconds}
--- gives the task a deadline: when it passes the task is cancelled (its <close>
--- variables are closed) and wait() returns nil, err with err.code == "timeout".
---
--- A task's error is never lost. It is observed when task:wait or opsh.all raises
--- it to the script; a task that failed and was never observed by the end of the
--- run (after the tasks still running have finished) makes the run fail: exit 3
--- (UNKNOWN), the report's error names the task, the error and where it was raised.
---@param fn function|{timeout?: number}
---@param ... any
---@return opsh.task
function opsh.spawn(fn, ...) end

--- Runs the functions concurrently and returns the first result of each, in order.
--- A function that raises cancels the others and its error is raised here, the
--- value it raised (a table keeps its fields; the traceback goes to --verbose).
--- If the task calling opsh.all is cancelled, the functions are cancelled too. With {timeout = seconds}, functions not done by then are cancelled and all
--- returns nil, err (err.code "timeout", err.pending = their indices).
---@param fns function[]
---@param opts? {timeout?: number}
---@return any ...
function opsh.all(fns, opts) end

--- Sleeps; inside a task only this task waits.
---@param seconds number
function opsh.sleep(seconds) end

--- An error value of the `nil, err` channel, the same the native modules return:
--- err.code, err.message and the fields given; it prints as its message.
---@param code string
---@param message string
---@param fields? table more context (status, path, cause, ...)
---@return table err
function opsh.error(code, message, fields) end

--- Refuses an options table holding a key not in `known`, as the native modules do: raises
--- "bad argument #1 to 'FNAME' (unknown option 'x' (options: ...))". Returns opts (nil passes).
--- For Lua modules, so a misspelt option is never ignored silently.
---@param opts table|nil
---@param known string[]
---@param fname string the function's name, for the message
---@return table|nil opts
function opsh.check_options(opts, known, fname) end

--- Whether v is opsh.null.
---@param v any
---@return boolean
function opsh.is_null(v) end

---@class opsh.task
local task = {}

--- Waits for the task: its results; raises the value the task raised; nil, err on
--- timeout (the task keeps running), cancellation or deadline.
---@param timeout? number seconds
---@return any ...
function task:wait(timeout) end

--- Cancels the task: its pending wait is abandoned, what its native call held is
--- released (a program run by opsh.sys.exec is killed), and its <close> variables closed.
function task:cancel() end

--- "ready", "running", "waiting", "done", "failed", "cancelled" or "timeout".
---@return string
function task:status() end

return opsh
