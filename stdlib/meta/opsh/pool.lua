---@meta
--- opsh's own connection pools: `local pool = require "opsh.pool"`. They serve opsh's scripts
--- and procedures (and, later, its agent); they are not the application's SQL pool.
---
--- `redis.pool(url, opts)` and `qdrant.pool(url, opts)` make them. A call borrows a connection
--- and gives it back: first the endpoint's circuit breaker (refused at once with nil, err whose
--- err.code is "circuit_open" while it is open; err.pool names the pool), then a connection
--- (an idle one, preferably the one affinity says serves the call's pattern best; a new one;
--- or a place in a fair queue: a task waiting suspends only itself, and gives up with err.code
--- "timeout" at acquire_timeout). How the call ended goes to the breaker (failures by type:
--- connection, timeout, query, transaction, resource; a server's refusal of a bad command is
--- the caller's and not counted), to affinity and to db_query_duration_seconds. A task
--- cancelled during a call closes its connection (replies may be owed); one cancelled while it
--- only held it gives it back.
local pool = {}

---@class opsh.pool.options
---@field min? integer connections kept open (0)
---@field max? integer connections at most (10)
---@field timeout? number seconds a call may take, connecting included (5)
---@field acquire_timeout? number seconds to wait for a free connection (5)
---@field max_lifetime? number a connection older than this is closed when returned or found idle (1800; 0 never)
---@field idle_timeout? number an idle connection above min unused this long is closed (600; 0 never)
---@field breaker? opsh.pool.breaker_options
---@field adaptive? boolean size moved by the original's rules between max(min, 1) and max, from half of max, driven by the load predictor's 25 s forecast (false)

---@class opsh.pool.breaker_options
---@field failure_threshold? integer|table<string, integer> failures that open it: one number for every type, or {connection = 3, timeout = 5, query = 10, transaction = 5, resource = 3} (the defaults)
---@field recovery_timeout? number seconds open before a call may probe (60)
---@field half_open_max_calls? integer probe calls admitted while half-open (3)
---@field half_open_success_threshold? integer probe successes that close it (2)
---@field failure_rate_threshold? number below this success rate over min_requests calls it opens (0.5)
---@field min_requests? integer calls before the success rate counts (10)

---@class opsh.pool.stats
---@field name string
---@field kind "redis"|"qdrant"
---@field size integer connections it may hold now
---@field open integer idle + checked out
---@field idle integer
---@field checked_out integer
---@field peak_checked_out integer the most checked out at once since the pool was made
---@field waiting integer callers queued
---@field min integer
---@field max integer
---@field utilization number checked_out / size
---@field created_total integer
---@field closed_total integer
---@field acquired_total integer
---@field timeouts_total integer acquires that timed out
---@field acquire_wait_p50_ms number
---@field acquire_wait_p99_ms number
---@field calls_total integer
---@field failed_total integer
---@field p50_ms number call duration
---@field p95_ms number
---@field p99_ms number
---@field breaker_state "closed"|"open"|"half_open"
---@field affinity_score number 0..1

---@class opsh.pool.common
local common = {}
---@return opsh.pool.stats
function common:stats() end
--- The size it may grow to now (an operator's decision: above max it raises max; under
--- --dry-run it is only reported).
---@param n integer
function common:resize(n) end
---@return opsh.pool.breaker
function common:breaker() end
--- What affinity learned: {score, hits, misses, patterns = {{pattern, calls, avg_ms, score,
--- preferred}}, connections = {{connection, calls, avg_ms, success_rate, score, specialization}}}.
---@return table
function common:affinity() end
--- Forgets what each connection learned on a pattern where it scores below min_score (0..1).
---@param min_score number
---@return integer removed
function common:clear_low_performers(min_score) end
--- Re-picks each pattern's preferred connection (the best scoring): {{pattern, from, to}}.
---@return table changes
function common:optimize() end
--- Closes the idle connections and fails the waiters; later calls fail.
function common:close() end
--- Adaptive pools: takes a load sample now; returns the sizing decision {from, to, applied,
--- reason, current_load, predicted_load} (nil for a fixed pool).
---@return table?
function common:sample() end
--- Adaptive pools: the load predictor {trained, samples, retrains, accuracy = {{horizon, mae,
--- mape, mase, source, count}}, forecast (25 s), forecast_15m, last_training, decisions}.
---@return table?
function common:predictor() end
--- Adaptive pools: retrains the predictor now; its report {reason, samples, duration, accuracy}.
---@return table?
function common:retrain() end
--- Adaptive pools: saves the predictor (model and samples) to path, atomically.
---@return boolean|nil, table? err
function common:save_predictor(path) end
--- Adaptive pools: loads a predictor saved for the same interval and horizons (err.code "io",
--- "corrupt_model" or "mismatch").
---@return boolean|nil, table? err
function common:load_predictor(path) end

---@class opsh.pool.redis: opsh.pool.common, redis.connection
local redis_pool = {}
--- Lends one connection for the whole function (iterators, several commands in a row).
---@param fn fun(conn: redis.connection, ...): ...
---@return any ...
function redis_pool:with(fn, ...) end

---@class opsh.pool.qdrant: opsh.pool.common, qdrant.client
local qdrant_pool = {}
--- client:request through the pool.
---@return any result, table? err
function qdrant_pool:call(method, path, opts) end

---@class opsh.pool.breaker
local breaker = {}
---@return "closed"|"open"|"half_open"
function breaker:state() end
--- {state, forced, counts = {type = n} (decaying), failures_total = {type = n}, calls_total,
--- successes_total, rejected_total, opens_total, recoveries_total, success_rate,
--- seconds_in_state, last_failure = {seconds_ago, type, message}, next_probe_in (seconds, while
--- open), probes_admitted, probe_successes, config = {...}, transitions = {{from, to, reason,
--- seconds_ago}}}
---@return table
function breaker:status() end
--- Closes it and clears its counts.
function breaker:reset() end
--- Opens it until reset.
function breaker:force_open() end
--- Changes its settings (the state and counts stay); unknown keys and failure types are refused.
---@param opts opsh.pool.breaker_options
function breaker:configure(opts) end

--- The Prometheus text of every pool, breaker and load predictor in the process
--- (db_connection_pool_size, db_connection_pool_checked_out, db_circuit_breaker_state,
--- db_circuit_breaker_failures_total, db_connection_affinity_performance_score,
--- db_connection_pool_ml_model_accuracy, db_query_duration_seconds, ...; label pool="...").
---@return string
function pool.metrics() end

--- The pools this process made: {{name, kind, stats, pool}}, by name.
---@return table[]
function pool.list() end

--- As redis.pool.
---@return opsh.pool.redis
function pool.redis(url, opts) end

--- As qdrant.pool.
---@return opsh.pool.qdrant
function pool.qdrant(url, opts) end

return pool
