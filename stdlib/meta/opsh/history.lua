---@meta
--- Resource samples and check results kept between runs, and their trends:
--- `local history = require "opsh.history"`.
--- The store is one SQLite file, state_dir/history.db (see opsh.state); system/resources adds a
--- sample every run. Trends are read from Prometheus instead (node_exporter's metrics, range
--- queries) when the configuration names a Prometheus URL (prometheus_url set anywhere but its
--- default) or says history_source = "prometheus"; history_source = "store" forces the file.
--- config node_selector (e.g. `instance="db1:9100"`) narrows node_exporter's metrics to one host.
local history = {}

--- The history file's path: state_dir/history.db.
---@return string
function history.path() end

--- The store, opened once per run (the state directory is created 0700): its methods are
--- record(kind, values, time), samples(metric, since, until), metrics(prefix) and prune(before).
---@param path? string default history.path()
---@return table|nil store, table? err
function history.store(path) end

--- Stores `values` ({metric = number}) as one record of `kind` at `at` (Unix time, default now).
--- Under --dry-run nothing is written ("would: record N ... sample(s)").
---@param kind string e.g. "resources"
---@param values table<string, number> e.g. {["memory.used_percent"] = 62.5}
---@param at? number
---@return integer|nil count, table? err
function history.record(kind, values, at) end

--- Stores each check's status (0 ok, 1 warning, 2 critical, 3 unknown) as check.NAME, kind "check".
---@param results {name: string, status: string}[] a report's checks (ctx.checks)
---@param at? number
---@return integer|nil count, table? err
function history.record_checks(results, at) end

--- "prometheus" or "store": where samples and trends are read from.
---@return "prometheus"|"store"
function history.source() end

--- The PromQL for one of the metrics system/resources records (memory.used_percent,
--- swap.used_percent, cpu.busy_percent, load.load1, disk.MOUNT.used_percent), computed as opsh.sys
--- computes them; nil for others.
---@param metric string
---@return string|nil
function history.promql(metric) end

--- A metric's samples, oldest first, and the source they came from.
---@param opts {metric: string, since?: number|string, until?: number|string, step?: string} since: Unix time, ISO 8601 or "30d" ago (default 30d); step: Prometheus's (default 1h)
---@return {[1]: number, [2]: number}[]|nil samples, string|table source_or_err
function history.samples(opts) end

--- The least-squares line through {{time, value}, ...}: slope per second and per_day, intercept,
--- r2, count, from, to; nil with fewer than two distinct times.
---@param points {[1]: number, [2]: number}[]
---@return {slope: number, per_day: number, intercept: number, r2: number, count: integer, from: number, to: number}|nil
function history.fit(points) end

--- A metric's trend: the fit over its samples (opts as in samples) with latest, source, and, for
--- a `limit` the line grows towards, reaches_at (Unix time) and days_left (from opts.now or now).
---@param opts {metric: string, since?: number|string, until?: number|string, step?: string, limit?: number, now?: number}
---@return table|nil trend, table? err
function history.trend(opts) end

return history
