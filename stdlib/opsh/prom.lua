--- opsh.prom: Prometheus's HTTP API (instant and range queries) and the text exposition
--- format (what /metrics endpoints such as Qdrant's serve). `local prom = require "opsh.prom"`.
local opsh = require "opsh"
local http = require "opsh.http"
local config = require "opsh.config"
local time = require "opsh.time"

local M = {}

local SPECIAL = { ["NaN"] = 0 / 0, ["+Inf"] = math.huge, ["-Inf"] = -math.huge, ["Inf"] = math.huge }

--- A sample value as a float (Prometheus values are float64 sent as strings; NaN and ±Inf included).
function M.number(s)
  if type(s) == "number" then return s + 0.0 end
  local n = SPECIAL[s] or tonumber(s)
  return n and n + 0.0
end

local function api(path, params, opts)
  opts = opts or {}
  local base = (opts.url or config.get("prometheus_url") or "http://localhost:9090"):gsub("/+$", "")
  local r, err = http.get(base .. path .. "?" .. http.query(params), { timeout = opts.timeout or 30, allow_status = true })
  if not r then return nil, err end
  local doc = r.json
  if type(doc) ~= "table" then
    return nil, opsh.error("prometheus", string.format("%s: not a Prometheus API answer (HTTP %d)", path, r.status),
      { status = r.status })
  end
  if doc.status ~= "success" then
    return nil, opsh.error("prometheus", string.format("%s: %s: %s", path, tostring(doc.errorType), tostring(doc.error)),
      { status = r.status, error_type = doc.errorType })
  end
  return doc.data, nil, doc.warnings
end

local function time_param(t)
  if t == nil then return nil end
  if type(t) == "number" or tonumber(t) then return string.format("%.3f", tonumber(t)) end
  local parsed = time.parse_iso(t)
  if parsed then return string.format("%.3f", parsed) end
  return string.format("%.3f", time.since(t))          -- "1h" means an hour ago
end

local function convert(data)
  local out = { type = data.resultType }
  if data.resultType == "vector" then
    for i, s in ipairs(data.result) do
      out[i] = { metric = s.metric, value = M.number(s.value[2]), timestamp = s.value[1] }
    end
  elseif data.resultType == "matrix" then
    for i, s in ipairs(data.result) do
      local values = {}
      for j, v in ipairs(s.values) do values[j] = { v[1], M.number(v[2]) } end
      out[i] = { metric = s.metric, values = values }
    end
  elseif data.resultType == "scalar" or data.resultType == "string" then
    out.value = data.resultType == "scalar" and M.number(data.result[2]) or data.result[2]
    out.timestamp = data.result[1]
  end
  return out
end

--- An instant query: prom.query('up{job="qdrant"}') -> { type = "vector", {metric = {...}, value = 1, timestamp = t}, ... }
--- opts: url (default prometheus_url), time (Unix time, ISO 8601 or "1h" ago), timeout.
---@return table|nil result, table? err
function M.query(expr, opts)
  assert(type(expr) == "string", "bad argument #1 to 'query' (string expected)")
  opts = opts or {}
  local data, err = api("/api/v1/query", { query = expr, time = time_param(opts.time) }, opts)
  if not data then return nil, err end
  return convert(data)
end

--- A range query: prom.query_range("rate(x[5m])", {start = "24h", step = "5m"}) ->
--- { type = "matrix", {metric = {...}, values = {{t, v}, ...}}, ... }. end defaults to now.
---@return table|nil result, table? err
function M.query_range(expr, opts)
  assert(type(expr) == "string", "bad argument #1 to 'query_range' (string expected)")
  opts = opts or {}
  local step = opts.step or "60s"
  local data, err = api("/api/v1/query_range", {
    query = expr, start = time_param(opts.start or "1h"), ["end"] = time_param(opts["end"] or time.now()),
    step = type(step) == "number" and step or time.duration(step),
  }, opts)
  if not data then return nil, err end
  return convert(data)
end

-- {a="x",b="y\"z"} -> { a = "x", b = 'y"z' }
local function parse_labels(s)
  local lab, i, n = {}, 2, #s - 1
  while i <= n do
    local k, p = s:match('^%s*([%w_]+)%s*=%s*"()', i)
    if not k then break end
    local buf = {}
    while p <= n do
      local c = s:sub(p, p)
      if c == "\\" then
        local d = s:sub(p + 1, p + 1)
        buf[#buf + 1] = d == "n" and "\n" or d
        p = p + 2
      elseif c == '"' then
        break
      else
        buf[#buf + 1] = c
        p = p + 1
      end
    end
    lab[k] = table.concat(buf)
    i = (s:match("^%s*,()", p + 1)) or (p + 1)
  end
  return lab
end

--- Parses the text exposition format into { name = { {labels = {...}, value = n, timestamp = t}, ... } }
--- plus help[name] and type[name]. A metric prefix (Qdrant's configurable one) is kept as sent.
---@param text string
---@return table metrics
function M.parse_text(text)
  local out, help, types = {}, {}, {}
  for line in text:gmatch("[^\n]+") do
    if line:sub(1, 1) == "#" then
      local kind, name, rest = line:match("^#%s+(%u+)%s+([%w_:]+)%s*(.*)$")
      if kind == "HELP" then help[name] = rest elseif kind == "TYPE" then types[name] = rest end
    else
      local name, labels, rest = line:match("^([%w_:]+)(%b{})%s+(.+)$")
      if not name then name, rest = line:match("^([%w_:]+)%s+(.+)$") end
      if name then
        local value, ts = rest:match("^(%S+)%s*(%S*)")
        local lab = labels and parse_labels(labels) or {}
        out[name] = out[name] or {}
        table.insert(out[name], { labels = lab, value = M.number(value), timestamp = tonumber(ts) })
      end
    end
  end
  return setmetatable(out, { __index = { help = help, type = types } })
end

--- The first sample of a metric whose labels include all of `labels`, or nil.
function M.find(metrics, name, labels)
  for _, s in ipairs(metrics[name] or {}) do
    local ok = true
    for k, v in pairs(labels or {}) do if s.labels[k] ~= v then ok = false end end
    if ok then return s end
  end
end

--- The q-quantile (0..1) of a histogram given its cumulative buckets, as Prometheus's
--- histogram_quantile computes it (linear within a bucket; the +Inf bucket answers with the
--- highest finite bound). buckets: {{le = bound, count = n}, ...} in any order, or the
--- `_bucket` samples of parse_text (labels.le and value). nil when there are no observations.
function M.histogram_quantile(q, buckets)
  local b = {}
  for _, s in ipairs(buckets) do
    local le = s.le or (s.labels and s.labels.le)
    b[#b + 1] = { le = M.number(le), count = s.count or s.value }
  end
  table.sort(b, function(x, y) return x.le < y.le end)
  if #b == 0 or b[#b].le ~= math.huge then return nil end
  local total = b[#b].count
  if total == 0 then return nil end
  local rank = q * total
  local lower, lower_count = 0, 0
  for i, x in ipairs(b) do
    if x.count >= rank then
      if x.le == math.huge then return b[i - 1] and b[i - 1].le or nil end
      if i == 1 and x.le <= 0 then return x.le end
      local in_bucket = x.count - lower_count
      if in_bucket <= 0 then return x.le end
      return lower + (x.le - lower) * (rank - lower_count) / in_bucket
    end
    lower, lower_count = x.le, x.count
  end
end

--- The samples of a metric whose labels include all of `labels`.
function M.select(metrics, name, labels)
  local out = {}
  for _, s in ipairs(metrics[name] or {}) do
    local ok = true
    for k, v in pairs(labels or {}) do if s.labels[k] ~= v then ok = false end end
    if ok then out[#out + 1] = s end
  end
  return out
end

--- The sum of samples' values (a metric summed over its label sets, as sum() in PromQL); keep,
--- when given, chooses the samples by their labels.
---@param samples table[]|nil
---@param keep? fun(labels: table): boolean
function M.total(samples, keep)
  local n = 0
  for _, s in ipairs(samples or {}) do
    if not keep or keep(s.labels or {}) then n = n + (M.number(s.value) or 0) end
  end
  return n
end

return M
