--- opsh.recovery: which backup a recovery uses (backup/restore, dr/data-recovery), chosen the
--- same way wherever a recovery starts.
local backup = require "opsh.backup"
local time = require "opsh.time"

local M = {}

--- The time a --date names (YYYY-MM-DD: the end of that day, UTC; YYYYMMDD; an ISO time; "now"
--- or nil: now) as Unix seconds, or nil, err.
function M.parse_date(s)
  if not s or s == "now" then return os.time() end
  if s:match("^%d%d%d%d%-%d%d%-%d%d$") then s = s .. "T23:59:59Z" end
  if s:match("^%d%d%d%d%d%d%d%d$") then s = s:sub(1, 4) .. "-" .. s:sub(5, 6) .. "-" .. s:sub(7, 8) .. "T23:59:59Z" end
  return time.parse_iso(s)
end

--- The backup to recover at or before `at` (Unix seconds) in root, and why it was chosen; nil and
--- the reason when there is none. args.name: that backup, whatever its tier and date; args.tier:
--- a list of tiers to choose among; else any tier but emergency (an emergency backup is of a
--- state that may already be damaged: chosen only when asked for).
function M.choose(root, at, args)
  local backups, others = backup.list(root)
  if args.name then
    for _, b in ipairs(backups) do
      if b.name == args.name then
        if not b.complete then return nil, args.name .. " is an interrupted backup (.partial): it cannot be restored" end
        return b, "named by --name"
      end
    end
    for _, o in ipairs(others) do
      if o.name == args.name then return nil, args.name .. " in " .. root .. " is not a backup: " .. o.reason end
    end
    return nil, "no backup named " .. args.name .. " in " .. root
  end
  local allowed
  if args.tier then allowed = {}; for _, t in ipairs(args.tier) do allowed[t] = true end end
  local chosen, skipped
  for _, b in ipairs(backups) do
    if b.complete and b.created_unix <= at then
      if allowed and allowed[b.tier] or (not allowed and b.tier ~= "emergency") then chosen = b; break end
      if not allowed and b.tier == "emergency" and not skipped then skipped = b end
    end
  end
  local among = args.tier and ("of tier " .. table.concat(args.tier, " or ")) or "of any tier but emergency"
  if not chosen then
    return nil, string.format("no complete backup %s in %s at or before %s%s", among, root, time.iso(at),
      skipped and ("; emergency backup " .. skipped.name .. " is there: pass --tier emergency or --name " .. skipped.name .. " to restore it") or "")
  end
  local why = string.format("the newest complete backup %s at or before %s", among, time.iso(at))
  if skipped then
    why = why .. string.format("; not the newer emergency backup %s (taken %s after it, of a state that may already have been damaged: --tier emergency or --name %s restores it)",
      skipped.name, time.format_duration(skipped.created_unix - chosen.created_unix), skipped.name)
  end
  return chosen, why
end

return M
