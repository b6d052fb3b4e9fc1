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

return M
