--- opsh.loadgen: a closed-loop load generator for probes and benchmarks: `n` calls of `fn`,
--- `concurrency` at a time (each worker a task, so calls that wait on the network overlap),
--- every call timed with the monotonic clock.
local opsh = require "opsh"
local time = require "opsh.time"
local stats = require "opsh.stats"

local M = {}

--- Runs fn(i, state) for i = 1..n, `concurrency` workers at a time, where state is what
--- opts.setup(worker) returned for the calling worker (a connection of its own: a Redis
--- connection serves one task at a time) and opts.teardown(state) is called when the worker
--- is done. fn returns a truthy value on success, or nil, err. Returns {n, ok, failed, errors = {first few messages}, elapsed_s,
--- per_s (calls per second), error_pct, latency = opsh.stats.summary of the successful calls'
--- milliseconds}. An error raised by fn counts as a failure with its message.
function M.run(opts)
  local n, concurrency, fn = opts.n, opts.concurrency or 1, opts.fn
  if type(n) ~= "number" or n < 1 or math.type(n) ~= "integer" then error("loadgen.run: n must be a positive integer", 2) end
  if type(concurrency) ~= "number" or concurrency < 1 then error("loadgen.run: concurrency must be at least 1", 2) end
  if type(fn) ~= "function" then error("loadgen.run: fn must be a function", 2) end
  local latencies, errors, failed, next_call = {}, {}, 0, 0
  local function worker(w)
    local state
    if opts.setup then
      local ok, s, err = pcall(opts.setup, w)
      if not ok or not s then
        -- a worker that cannot start fails its share of calls, counted like any failure
        failed = failed + 1
        if #errors < 5 then errors[#errors + 1] = "setup: " .. tostring(ok and err or s) end
        return true
      end
      state = s
    end
    while next_call < n do
      next_call = next_call + 1
      local i = next_call
      local t0 = time.monotonic()
      local ok, result, err = pcall(fn, i, state)
      local ms = (time.monotonic() - t0) * 1000
      if ok and result then
        latencies[#latencies + 1] = ms
      else
        failed = failed + 1
        if #errors < 5 then errors[#errors + 1] = tostring(ok and err or result) end
      end
    end
    if opts.teardown then pcall(opts.teardown, state) end
    return true
  end
  local workers = {}
  for w = 1, math.min(concurrency, n) do workers[w] = function() return worker(w) end end
  local started = time.monotonic()
  opsh.all(workers)
  local elapsed = time.monotonic() - started
  return { n = n, ok = #latencies, failed = failed, errors = errors, elapsed_s = elapsed, per_s = n / elapsed,
    error_pct = failed * 100 / n, latency = stats.summary(latencies) }
end

return M
