-- The system packages that have updates (the guide's `apt update && apt list --upgradable`,
-- through opsh.sys.upgradable_packages), security updates counted apart (their suite is a
-- -security one). Reads apt's lists as they are: `apt update` fetches from the network and
-- needs root, so it is not run here, and nothing is upgraded: the guide's monthly `apt upgrade -y` is the operator's, in the
-- maintenance window (opsh would have to run as root and reach the mirrors). WARNING when
-- security updates wait, OK otherwise; UNKNOWN where apt does not exist.
local sys = require "opsh.sys"

return {
  description = "System packages with updates (apt list --upgradable), security updates apart; upgrades nothing",
  categories = { "maintenance", "check", "safe" },
  guide = { "scheduled-maintenance.5", "scheduled-maintenance.7", "security-monitoring.5" },
  args = {
    { name = "show", type = "integer", default = 10, help = "package names listed in the report" },
  },
  run = function(args, ctx)
    local r, err = sys.upgradable_packages { timeout = 60 }
    if not r then return ctx:unknown("packages", "cannot list the upgradable packages: " .. tostring(err)) end
    local all, security = {}, {}
    for _, p in ipairs(r.packages) do
      all[#all + 1] = p.name
      if p.security then security[#security + 1] = p.name end
    end
    local function some(list)
      local shown = {}
      for i = 1, math.min(#list, args.show) do shown[i] = list[i] end
      return table.concat(shown, ", ") .. (#list > args.show and (" and " .. (#list - args.show) .. " more") or "")
    end
    local m = { upgradable = #all, security = #security }
    local note = " (apt's lists as last refreshed; nothing upgraded)"
    if #security > 0 then
      ctx:warn("packages.security", string.format("%d security update(s): %s%s", #security, some(security), note), m)
    else
      ctx:ok("packages.security", "no security update waiting" .. note, m)
    end
    ctx:ok("packages", #all == 0 and "every package is up to date" or string.format("%d package(s) upgradable: %s", #all, some(all)), m)
  end,
}
