--- opsh.stats: summaries of measured samples (latencies, sizes): percentiles by the
--- nearest-rank method, as load-testing tools report them.
local M = {}

--- The q-th percentile (0..100) of an ascending list, by nearest rank (a value that occurred);
--- nil for an empty list.
function M.percentile(sorted, q)
  local n = #sorted
  if n == 0 then return nil end
  if q <= 0 then return sorted[1] end
  local rank = math.ceil(q / 100 * n)
  return sorted[math.min(math.max(rank, 1), n)]
end

--- {n, min, max, mean, p50, p90, p95, p99} of a list of numbers (not changed; sorted in a copy).
function M.summary(samples)
  local s = {}
  local sum = 0
  for i, v in ipairs(samples) do
    if type(v) ~= "number" or v ~= v then error("summary: sample " .. i .. " is not a number", 2) end
    s[i] = v
    sum = sum + v
  end
  table.sort(s)
  local n = #s
  return { n = n, min = s[1], max = s[n], mean = n > 0 and sum / n or nil,
    p50 = M.percentile(s, 50), p90 = M.percentile(s, 90), p95 = M.percentile(s, 95), p99 = M.percentile(s, 99) }
end

return M
