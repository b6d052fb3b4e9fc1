--- opsh.thresholds: a procedure's limits and what a value means against them.
--- `local thresholds = require "opsh.thresholds"`.
local config = require "opsh.config"

local M = {}

--- A limit: the command-line argument when given, else config.lua's `thresholds` table under
--- PREFIX_NAME (e.g. thresholds.redis_memory_warn), else the default.
---@param args table the procedure's arguments
---@param prefix string e.g. "redis"
---@param name string the argument's name, e.g. "memory_warn"
---@param default number|nil
---@return number|nil
function M.get(args, prefix, name, default)
  if args[name] ~= nil then return args[name] end
  local t = config.get("thresholds")
  local v = type(t) == "table" and tonumber(t[prefix .. "_" .. name])
  if v then return v end
  return default
end

--- "crit", "warn" or "ok" for a value where higher is worse (a nil limit never fires): the
--- name of the ctx method to report it with, as in `ctx[level](ctx, check, message, metrics)`.
---@return "ok"|"warn"|"crit"
function M.level(value, warn, crit)
  if crit and value >= crit then return "crit" end
  if warn and value >= warn then return "warn" end
  return "ok"
end

-- name: the argument's; guide: the guide's key in its thresholds table
local CAPACITY = {
  { "cpu_warn", "cpu_warning", 70 }, { "cpu_crit", "cpu_critical", 85 },
  { "memory_warn", "memory_warning", 75 }, { "memory_crit", "memory_critical", 90 },
  { "disk_warn", "disk_warning", 80 }, { "disk_crit", "disk_critical", 95 },
  { "load_warn", "load_warning", 0.8 }, { "load_crit", "load_critical", 2.0 },
}

--- The host's limits (cpu_warn, cpu_crit, memory_*, disk_*, load_*): the argument, else config.lua's
--- thresholds under system_NAME (system_cpu_warn) or the guide's key (cpu_warning), else the
--- guide's Capacity Thresholds (CPU 70/85, memory 75/90, disk 80/95; load per CPU 0.8/2.0).
---@param args table the procedure's arguments
---@return table<string, number>
function M.capacity(args)
  local t = config.get("thresholds")
  local out = {}
  for _, l in ipairs(CAPACITY) do
    local name, guide, default = l[1], l[2], l[3]
    local v = M.get(args, "system", name, nil)
    if v == nil and type(t) == "table" then v = tonumber(t[guide]) end
    out[name] = v or default
  end
  return out
end

return M
