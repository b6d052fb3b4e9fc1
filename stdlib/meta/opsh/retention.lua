---@meta
--- How long each tier of backups is kept, from the configuration: `local retention = require "opsh.retention"`.
--- Every tier has its own policy, so one tier's pruning never deletes another's backups:
--- daily = {daily = 7, weekly = 4, monthly = 6}, weekly = {weekly = 4, monthly = 6},
--- config = {last = 30} and deploy = {last = 30} (configuration versions and deployments, in
--- ROOT/config), logs = {days = 30} (log archives, in ROOT/logs); emergency
--- backups have none and are never deleted by retention. config.lua's `backup.retention` table
--- replaces a tier's policy (`emergency = {days = 90}`; `daily = false` removes one).
local retention = {}

---@type table<string, opsh.backup.policy>
retention.DEFAULTS = {}

--- The directory that holds a tier's backups: backup_root/config for the config and deploy
--- tiers, backup_root/logs for logs, backup_root itself for the others.
---@param backup_root string
---@param tier string
---@return string
function retention.root(backup_root, tier) end

--- The policy of a tier: config.lua's backup.retention[tier] when set (false: none), else the
--- default; then each field of `overrides` that is not nil. nil when the tier has no policy.
---@param tier string
---@param overrides? opsh.backup.policy
---@return opsh.backup.policy|nil
function retention.policy(tier, overrides) end

--- Every tier that has a policy (the defaults' and the configuration's), sorted.
---@return string[]
function retention.tiers() end

--- "daily 7, weekly 4, monthly 6", or "only the newest" for an empty policy.
---@param p opsh.backup.policy
---@return string
function retention.describe(p) end

return retention
