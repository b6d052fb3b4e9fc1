---@meta
--- ARQ (Python's async Redis job queue) payloads and key names: `local arq = require "opsh.arq"`.
---
--- ARQ pickles jobs and results. opsh reads and writes exactly the pickle subset ARQ produces
--- (protocols 2 to 5: dicts, lists, tuples, sets, str, bytes, int of any size, float, bool,
--- None) with a bounded decoder that never executes anything: opcodes that import or call are
--- refused (`err.code == "pickle_refused"`), except the exception classes a failed result holds
--- (builtins, arq.worker, asyncio), which are read as marked data and never looked up or called.
---
--- Python -> Lua: None is `opsh.null`; int, float, bool, str are Lua values; an int beyond 64
--- bits is a `json.bignum`; bytes are `arq.bytes` values `{value = "..."}`; a tuple is a
--- sequence marked with `arq.tuple`; a list a sequence; a dict a table; an exception a table
--- `{class = "builtins.ValueError", module, name, args, state, message = "ValueError: boom"}`.
--- Lua -> Python reverses this; strings must be UTF-8 (wrap binary data in `arq.bytes`).
---
--- ARQ's Redis layout (arq 0.28): the queue is a sorted set named after the queue (ARQ's
--- default "arq:queue") scored by due time in ms; `arq:job:<id>` holds the pickled job,
--- `arq:in-progress:<id>` marks a running job, `arq:retry:<id>` counts tries, `arq:result:<id>`
--- holds the pickled result (failed jobs exist only as results: ARQ has no dead-letter queue),
--- `arq:abort` is the sorted set of job ids to abort, `<queue>:health-check` the worker's health.
local arq = {}

---@class arq.job
---@field function string the task name
---@field args table positional arguments (a tuple)
---@field kwargs table keyword arguments
---@field job_try integer|userdata the try it was enqueued with, or opsh.null
---@field enqueue_time_ms integer
---@field id? string copied from decode_job's options
---@field score? integer copied from decode_job's options (the due time in ms)

---@class arq.result: arq.job
---@field success boolean
---@field result any the return value, or the exception object when it failed
---@field error? string "ValueError: boom" when it failed
---@field start_time_ms integer
---@field finish_time_ms integer
---@field queue_name? string
---@field job_id? string

---@class arq.limits
---@field max_bytes? integer largest pickle accepted (64 MiB)
---@field max_depth? integer deepest nesting (200)
---@field max_memo? integer most memo entries (131072)
---@field max_values? integer most values, shared references counted each time (2097152)
---@field allow_globals? string[] more "module.Name" classes read as marked data

--- Key names and prefixes: job, result, in_progress, retry ("arq:job:" ...), abort ("arq:abort"),
--- health_check_suffix (":health-check"), default_queue ("arq:queue").
arq.keys = {}

--- How long ARQ keeps an abort request for a job it has not seen (ms).
arq.abort_max_age_ms = 60

--- Any pickle (of the supported subset) as a Lua value, or nil, err.
---@param bytes string
---@param limits? arq.limits
---@return any|nil value, table? err
function arq.decode(bytes, limits) end

--- A Lua value as a protocol-4 pickle, or nil, err.
---@param value any
---@return string|nil bytes, table? err
function arq.encode(value) end

--- An `arq:job:<id>` payload as a table, or nil, err. `opts.id`/`opts.score` are copied in.
---@param bytes string
---@param opts? arq.limits|{id?: string, score?: integer}
---@return arq.job|nil job, table? err
function arq.decode_job(bytes, opts) end

--- A job payload as ARQ's enqueue_job writes it (job_try defaults to None, enqueue time to now).
---@param job {function: string, args?: table, kwargs?: table, job_try?: integer, enqueue_time_ms?: integer}
---@return string|nil bytes, table? err
function arq.encode_job(job) end

--- An `arq:result:<id>` payload as a table, or nil, err.
---@param bytes string
---@param opts? arq.limits|{id?: string}
---@return arq.result|nil result, table? err
function arq.decode_result(bytes, opts) end

--- A result payload (data results only: exceptions are read, never written).
---@param result table
---@return string|nil bytes, table? err
function arq.encode_result(result) end

--- The job a result describes, to enqueue it again: function, args and kwargs byte-for-byte as
--- they were pickled (no trip through Lua values), job_try None (a fresh set of tries) unless
--- given, enqueue time now unless given. Returns the payload and the job as a table.
---@param result_bytes string
---@param opts? {job_try?: integer, enqueue_time_ms?: integer}
---@return string|nil bytes, arq.job|table job_or_err
function arq.retry_payload(result_bytes, opts) end

--- Marks a string as Python bytes.
---@param s string
---@return table
function arq.bytes(s) end

--- Marks a sequence as a Python tuple (returns it).
---@param t? table
---@return table
function arq.tuple(t) end

---@return boolean
function arq.is_bytes(v) end

---@return boolean
function arq.is_tuple(v) end

return arq
