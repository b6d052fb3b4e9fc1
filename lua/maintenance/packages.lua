-- The system packages that have updates (the guide's `apt update && apt list --upgradable`),
-- security updates counted apart (their origin names a -security suite). Reads apt's lists as
-- they are: `apt update` fetches from the network and needs root, so it is not run here, and
-- nothing is upgraded: the guide's monthly `apt upgrade -y` is the operator's, in the
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
    local r, err = sys.exec({ "apt", "list", "--upgradable" }, { timeout = 60, read_only = true, max_bytes = 8 << 20 })
    if not r then return ctx:unknown("packages", "cannot run apt: " .. tostring(err)) end
    if r.status ~= 0 then return ctx:unknown("packages", "apt list --upgradable exited " .. tostring(r.status) .. ": " .. r.stderr) end
    local all, security = {}, {}
    for line in r.stdout:gmatch("[^\n]+") do
      local name, suites = line:match("^([^/%s]+)/(%S+)%s")
      if name then
        all[#all + 1] = name
        if suites:find("security", 1, true) then security[#security + 1] = name end
      end
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
