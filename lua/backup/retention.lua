-- Backup retention, tier by tier: each tier keeps what its own policy keeps (opsh.retention:
-- daily 7 days, 4 weeks, 6 months of daily backups; 4 weeks, 6 months of weekly ones; the last
-- 30 configuration versions and deployments in ROOT/config; 30 days of log archives in
-- ROOT/logs; the configuration's backup.retention table), always its newest complete backup, and
-- deletes its other complete backups. Tiers without a policy (emergency backups, by default) are
-- never touched, and neither is anything that is not a backup opsh wrote: it is listed as left
-- alone. Leftovers of interrupted backups are deleted.
local backup = require "opsh.backup"
local config = require "opsh.config"
local retention = require "opsh.retention"

return {
  description = "Backup retention per tier: delete the backups, configuration versions and log archives (and interrupted leftovers) that their tier's policy no longer keeps",
  categories = { "backup", "maintenance", "destructive" },
  guide = { "backup-strategy.5" },
  notes = [[
Deletes: complete backups of the tiers it prunes (default: every tier with a policy: daily and
weekly in the backup root, config and deploy in ROOT/config, logs in ROOT/logs;
`opsh --dry-run run backup/retention` lists them) that their tier's policy no longer keeps, and
leftovers of interrupted backups (NAME.partial) in those directories. The newest complete backup
of each tier is always kept. Never deletes: backups of tiers without a policy (emergency backups
have none unless config.lua's backup.retention gives them one) or not named by --tiers, or
anything that is not a backup opsh wrote; those are listed as left alone.
Policies: config.lua's backup.retention = { daily = {daily = 7, weekly = 4, monthly = 6},
weekly = {weekly = 4, monthly = 6}, config = {last = 30}, logs = {days = 30},
emergency = {days = 90}, ... }; with one --tiers, the count arguments override its policy for
this run.]],
  args = {
    { name = "dir", help = "backup root (default: config backup_dir)" },
    { name = "tiers", type = "list", help = "the tiers to prune (default: every tier with a policy)" },
    { name = "last", type = "integer", help = "with one --tiers: keep its newest N" },
    { name = "daily", type = "integer", help = "with one --tiers: keep the newest of each of N days" },
    { name = "weekly", type = "integer", help = "with one --tiers: ... of N ISO weeks" },
    { name = "monthly", type = "integer", help = "with one --tiers: ... of N months" },
    { name = "days", type = "integer", help = "with one --tiers: keep everything younger than N days" },
  },
  run = function(args, ctx)
    local root = args.dir or config.get("backup_dir")
    local tiers = args.tiers or retention.tiers()
    local overrides = { last = args.last, daily = args.daily, weekly = args.weekly, monthly = args.monthly, days = args.days }
    if next(overrides) ~= nil and #tiers ~= 1 then
      return ctx:unknown("backup.retention", "--last/--daily/--weekly/--monthly/--days apply to one tier: name it with --tiers")
    end
    -- the tiers by the directory that holds them: each is pruned with only its own tiers' policies
    local places, order = {}, {}
    for _, tier in ipairs(tiers) do
      local p = retention.policy(tier, overrides)
      if p then
        local dir = retention.root(root, tier)
        if not places[dir] then places[dir] = { policies = {}, described = {} }; order[#order + 1] = dir end
        places[dir].policies[tier] = p
        table.insert(places[dir].described, tier .. " (" .. retention.describe(p) .. ")")
      else
        ctx:ok("backup.retention.tier." .. tier, "tier " .. tier .. " has no retention policy: nothing of it is deleted")
      end
    end
    if #order == 0 then return ctx:ok("backup.retention", "no tier to prune") end
    for _, dir in ipairs(order) do
      local place = places[dir]
      local check = dir == root and "backup.retention" or ("backup.retention." .. dir:sub(#root + 2))
      local r, err = backup.retention(dir, { tiers = place.policies })
      if not r then
        ctx:crit(check, dir .. ": " .. tostring(err))
      else
        local names, alone = {}, {}
        for _, d in ipairs(r.deleted) do names[#names + 1] = d.name end
        for _, o in ipairs(r.left_alone) do
          -- the directories pruned separately here are not news
          if not places[dir .. "/" .. o.name] then alone[#alone + 1] = o.name .. " (" .. o.reason .. ")" end
        end
        ctx:ok(check, string.format("%s: %s: kept %d, %s %d%s", dir, table.concat(place.described, "; "), #r.kept,
          r.dry_run and "would delete" or "deleted", #r.deleted, #names > 0 and (": " .. table.concat(names, ", ")) or ""),
          { kept = #r.kept, deleted = #r.deleted, untouched = #r.untouched, left_alone = #alone })
        if #r.untouched > 0 then
          local by, parts = {}, {}
          for _, u in ipairs(r.untouched) do by[u.tier] = (by[u.tier] or 0) + 1 end
          for t, n in pairs(by) do parts[#parts + 1] = string.format("%d %s", n, t) end
          table.sort(parts)
          ctx:ok(check .. ".untouched", "backups of tiers not pruned here, kept: " .. table.concat(parts, ", "))
        end
        if #alone > 0 then ctx:ok(check .. ".left_alone", "not backups, left alone: " .. table.concat(alone, "; ")) end
      end
    end
  end,
}
