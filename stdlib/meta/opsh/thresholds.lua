---@meta
--- A procedure's limits and what a value means against them: `local thresholds = require "opsh.thresholds"`.
local thresholds = {}

--- A limit: the command-line argument when given, else config.lua's `thresholds` table under
--- PREFIX_NAME (e.g. thresholds.redis_memory_warn), else the default.
---@param args table the procedure's arguments
---@param prefix string e.g. "redis"
---@param name string the argument's name, e.g. "memory_warn"
---@param default? number
---@return number|nil
function thresholds.get(args, prefix, name, default) end

--- "crit", "warn" or "ok" for a value where higher is worse (a nil limit never fires): the
--- name of the ctx method to report it with, as in `ctx[level](ctx, check, message, metrics)`.
---@param value number
---@param warn? number
---@param crit? number
---@return "ok"|"warn"|"crit"
function thresholds.level(value, warn, crit) end

--- The host's limits {cpu_warn, cpu_crit, memory_warn, memory_crit, disk_warn, disk_crit,
--- load_warn, load_crit}: the argument, else config.lua's thresholds under system_NAME
--- (system_cpu_warn) or the guide's key (cpu_warning), else the guide's Capacity Thresholds
--- (CPU 70/85, memory 75/90, disk 80/95; load per CPU 0.8/2.0).
---@param args table
---@return table<string, number>
function thresholds.capacity(args) end

return thresholds
