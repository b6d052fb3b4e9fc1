---@meta
--- Prometheus: `local prom = require "opsh.prom"`. Queries go to the prometheus_url setting
--- (PROMETHEUS_URL, default http://localhost:9090) unless opts.url says otherwise. Values are
--- floats (NaN and ±Inf included). Failures return nil, err: err.code "prometheus" with
--- err.error_type (bad_data, timeout, ...) for an answer of Prometheus's, else opsh.http's codes.
local prom = {}

--- An instant query: prom.query('up{job="qdrant"}') ->
--- { type = "vector", {metric = {job = "qdrant", ...}, value = 1.0, timestamp = t}, ... }
--- (a scalar gives { type = "scalar", value = v }). opts.time: Unix time, ISO 8601, or "1h" (ago).
---@param expr string PromQL
---@param opts? {url?: string, time?: number|string, timeout?: number}
---@return table|nil result, table? err
function prom.query(expr, opts) end

--- A range query: prom.query_range("rate(rest_responses_total[5m])", {start = "24h", step = "5m"}) ->
--- { type = "matrix", {metric = {...}, values = {{t, v}, ...}}, ... }. end defaults to now.
---@param expr string
---@param opts? {url?: string, start?: number|string, ["end"]?: number|string, step?: number|string, timeout?: number}
---@return table|nil result, table? err
function prom.query_range(expr, opts) end

--- Parses Prometheus text exposition (a /metrics page) into
--- { metric_name = { {labels = {...}, value = v, timestamp = t?}, ... } }; HELP and TYPE lines
--- are in result.help[name] and result.type[name].
---@param text string
---@return table
function prom.parse_text(text) end

--- The first sample of metrics[name] whose labels include all of labels.
---@return {labels: table, value: number, timestamp?: number}|nil
function prom.find(metrics, name, labels) end

--- The samples of metrics[name] whose labels include all of labels (a list, maybe empty).
---@return {labels: table, value: number, timestamp?: number}[]
function prom.select(metrics, name, labels) end

--- The sum of samples' values (a metric summed over its label sets, as sum() in PromQL); keep,
--- when given, chooses the samples by their labels: prom.total(m.rest_responses_total, function(l) return l.status == "200" end).
---@param samples table[]|nil
---@param keep? fun(labels: table): boolean
---@return number
function prom.total(samples, keep) end

--- The q-quantile (0..1) of a histogram from its cumulative buckets, as PromQL's
--- histogram_quantile computes it (linear inside a bucket). buckets is a list of
--- {le = bound, count = n} or the `_bucket` samples of parse_text; nil without observations.
---@param q number
---@param buckets table[]
---@return number|nil
function prom.histogram_quantile(q, buckets) end

--- A sample value string as a float ("NaN", "+Inf" included).
---@return number|nil
function prom.number(s) end

return prom
