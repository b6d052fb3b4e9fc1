---@meta
--- A closed-loop load generator: `local loadgen = require "opsh.loadgen"`. Each worker is a
--- task, so calls that wait on the network (opsh.redis, opsh.qdrant, opsh.http) overlap.
local loadgen = {}

--- Runs fn(i, state) for i = 1..n with `concurrency` workers; fn returns truthy, or nil, err (a
--- raised error counts as a failure too). state is what setup(worker) returned for that worker
--- (e.g. its own Redis connection: one connection serves one task at a time); teardown(state)
--- runs when the worker is done. A worker whose setup fails counts one failure and stops.
--- Latencies are milliseconds of the successful calls.
---@param opts {n: integer, concurrency?: integer, fn: fun(i: integer, state: any): any, string?, setup?: fun(worker: integer): any, string?, teardown?: fun(state: any)}
---@return {n: integer, ok: integer, failed: integer, errors: string[], elapsed_s: number, per_s: number, error_pct: number, latency: {n: integer, min: number?, max: number?, mean: number?, p50: number?, p90: number?, p95: number?, p99: number?}}
function loadgen.run(opts) end

return loadgen
