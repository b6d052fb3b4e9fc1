-- Embedding generation performance, from the application API's Prometheus endpoint (the guide's
-- `curl localhost:8000/metrics | grep embedding`): every metric whose name contains "embedding",
-- with histograms summarised as count and mean duration and counters as totals. The embedding
-- service itself is the application's, not part of opsh's stack: where no API answers, or it
-- exports no embedding metric, the report is UNKNOWN and says so (nothing is made up).
local http = require "opsh.http"
local prom = require "opsh.prom"
local config = require "opsh.config"

local function configured_url()
  local ok, v = pcall(config.get, "api_url")
  return ok and type(v) == "string" and v ~= "" and v or "http://localhost:8000"
end

return {
  description = "Embedding generation performance from the API's /metrics (count, mean duration, errors), where it exports them",
  categories = { "perf", "check", "safe" },
  guide = { "daily-tasks.9", "performance-monitoring.1" },
  args = {
    { name = "url", help = "the API's base URL (default: config api_url, else http://localhost:8000)" },
    { name = "match", default = "embedding", help = "text a metric's name must contain" },
    { name = "timeout", type = "number", default = 5 },
  },
  run = function(args, ctx)
    local base = (args.url or configured_url()):gsub("/+$", "")
    local r, err = http.get(base .. "/metrics", { timeout = args.timeout })
    if not r then
      return ctx:unknown("embedding", "no metrics at " .. base .. "/metrics (" .. tostring(err) .. "): the embedding service's performance cannot be read here")
    end
    if r.status ~= 200 then return ctx:unknown("embedding", base .. "/metrics answered HTTP " .. tostring(r.status)) end
    local metrics = prom.parse_text(r.body or "")
    local names = {}
    for name in pairs(metrics) do
      if name:find(args.match, 1, true) then names[#names + 1] = name end
    end
    table.sort(names)
    if #names == 0 then
      return ctx:unknown("embedding", base .. "/metrics exports no metric whose name contains '" .. args.match .. "'")
    end
    local seen = {}
    for _, name in ipairs(names) do
      local family = name:match("^(.-)_count$") or name:match("^(.-)_sum$") or name:match("^(.-)_bucket$")
      if family and metrics[family .. "_count"] and metrics[family .. "_sum"] then
        if not seen[family] then
          seen[family] = true
          local n, s = prom.total(metrics[family .. "_count"]), prom.total(metrics[family .. "_sum"])
          ctx:ok("embedding." .. family, string.format("%d observations, mean %.1f ms", n, n > 0 and s / n * 1000 or 0),
            { count = n, mean_ms = n > 0 and s / n * 1000 or 0 })
        end
      elseif not family then
        local v = prom.total(metrics[name])
        ctx:ok("embedding." .. name, string.format("%g", v), { value = v })
      end
    end
  end,
}
