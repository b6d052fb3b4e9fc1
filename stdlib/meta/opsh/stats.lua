---@meta
--- Summaries of measured samples: `local stats = require "opsh.stats"`. Percentiles by the
--- nearest-rank method (always a value that occurred), as load-testing tools report them.
local stats = {}

--- The q-th percentile (0..100) of an ascending list; nil for an empty one.
---@param sorted number[]
---@param q number
---@return number|nil
function stats.percentile(sorted, q) end

--- {n, min, max, mean, p50, p90, p95, p99} of a list of numbers (the list is not changed);
--- raises naming the first sample that is not a number (NaN included).
---@param samples number[]
---@return {n: integer, min: number?, max: number?, mean: number?, p50: number?, p90: number?, p95: number?, p99: number?}
function stats.summary(samples) end

return stats
