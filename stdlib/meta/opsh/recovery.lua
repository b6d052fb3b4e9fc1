---@meta
--- Which backup a recovery uses (backup/restore, dr/data-recovery): `local recovery = require "opsh.recovery"`.
local recovery = {}

--- The time a --date names (YYYY-MM-DD: the end of that day, UTC; YYYYMMDD; an ISO time; "now"
--- or nil: now) as Unix seconds, or nil, err.
---@param s? string
---@return integer|nil at, string? err
function recovery.parse_date(s) end

--- The backup to recover at or before `at` in root, and why it was chosen; nil and the reason when
--- there is none. args.name: that backup; args.tier: the tiers to choose among; else any tier but
--- emergency.
---@param root string
---@param at integer
---@param args? {name?: string, tier?: string[]}
---@return table|nil backup, string why
function recovery.choose(root, at, args) end

return recovery
