--- opsh.retention: how long each tier of backups is kept, from the configuration.
--- `local retention = require "opsh.retention"`.
---
--- Every tier has its own policy, so one tier's pruning never deletes another's backups:
---   daily     = { daily = 7, weekly = 4, monthly = 6 }   backup/daily, in ROOT
---   weekly    = { weekly = 4, monthly = 6 }              backup/weekly, in ROOT
---   config    = { last = 30 }                            config/version and deploy's rollback points, in ROOT/config
---   deploy    = { last = 30 }                            config/deploy's deployed configurations, in ROOT/config
---   logs      = { days = 30 }                            logs/archive, in ROOT/logs (the guide's 30 days)
---   emergency = none: never deleted by retention
--- config.lua's `backup.retention` table replaces a tier's policy (`emergency = { days = 90 }`
--- gives emergency backups one; `daily = false` takes the daily tier's away).
local config = require "opsh.config"

local M = {}

M.DEFAULTS = {
  daily = { daily = 7, weekly = 4, monthly = 6 },
  weekly = { weekly = 4, monthly = 6 },
  config = { last = 30 },
  deploy = { last = 30 },
  logs = { days = 30 },
}

-- where a tier's backups live, under the backup root (the others: in the root itself)
local PLACES = { config = "config", deploy = "config", logs = "logs" }

--- The directory that holds a tier's backups: backup_root/config for configuration versions and
--- deployments, backup_root/logs for log archives, backup_root itself for the others.
---@param backup_root string
---@param tier string
---@return string
function M.root(backup_root, tier)
  return PLACES[tier] and (backup_root .. "/" .. PLACES[tier]) or backup_root
end

local FIELDS = { "last", "daily", "weekly", "monthly", "days" }

local function configured()
  local b = config.get("backup")
  local r = type(b) == "table" and b.retention or nil
  if r ~= nil and type(r) ~= "table" then error("config backup.retention must be a table of tier = policy", 0) end
  return r or {}
end

--- The policy of a tier: config.lua's backup.retention[tier] when set (false: none), else the
--- default; then each field of `overrides` that is not nil (a procedure's arguments). nil when
--- the tier has no policy: its backups are never deleted.
---@param tier string
---@param overrides? table {last=, daily=, weekly=, monthly=, days=}
---@return opsh.backup.policy|nil
function M.policy(tier, overrides)
  local c = configured()[tier]
  local base
  if c == false then base = nil
  elseif c ~= nil then
    if type(c) ~= "table" then error("config backup.retention." .. tier .. " must be a table or false", 0) end
    base = c
  else base = M.DEFAULTS[tier] end
  local p, any = {}, base ~= nil
  for _, f in ipairs(FIELDS) do
    if base then p[f] = base[f] end
    if overrides and overrides[f] ~= nil then p[f] = overrides[f]; any = true end
  end
  return any and p or nil
end

--- Every tier that has a policy, sorted: the defaults' and the configuration's.
---@return string[]
function M.tiers()
  local seen, out = {}, {}
  local function add(t, has) if has and not seen[t] then seen[t] = true; out[#out + 1] = t end end
  local c = configured()
  for t in pairs(M.DEFAULTS) do add(t, c[t] ~= false) end
  for t, p in pairs(c) do add(t, p ~= false) end
  table.sort(out)
  return out
end

--- "daily 7, weekly 4, monthly 6" (or "only the newest" for an empty policy).
---@param p opsh.backup.policy
---@return string
function M.describe(p)
  local parts = {}
  for _, f in ipairs(FIELDS) do
    if (p[f] or 0) > 0 then parts[#parts + 1] = f .. " " .. p[f] end
  end
  return #parts > 0 and table.concat(parts, ", ") or "only the newest"
end

return M
