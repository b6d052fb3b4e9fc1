-- Checks whether a user may do something, by the guide's permission matrix (or config 'roles').
local users = require "opsh.users"

return {
  description = "OK when the user is active and the user's role grants the permission, CRITICAL otherwise",
  categories = { "users", "check", "safe" },
  guide = { "role-based-access-control.1", "role-based-access-control.2" },
  args = {
    { name = "name", required = true, help = "user name" },
    { name = "permission", required = true, help = "e.g. read_collections, manage_users, backup_restore" },
  },
  run = function(args, ctx)
    local r, err = users.connect()
    if not r then return ctx:crit("users.permission", "redis: " .. tostring(err)) end
    local u, gerr = users.get(r, args.name)
    if gerr then return ctx:crit("users.permission", "redis: " .. tostring(gerr)) end
    if not u then return ctx:crit("users.permission", "no user " .. args.name) end
    local roles = users.roles()
    local role = u.role
    if not role or not roles[role] then
      return ctx:crit("users.permission", string.format("%s has an unknown role '%s': no permissions", args.name, tostring(role)))
    end
    if u.status ~= "active" then
      return ctx:crit("users.permission", string.format("%s is %s: no permissions", args.name, tostring(u.status or "without a status")))
    end
    if users.has_permission(role, args.permission, roles) then
      ctx:ok("users.permission", string.format("%s (role %s) has %s", args.name, role, args.permission), { granted = true })
    else
      ctx:crit("users.permission", string.format("%s (role %s) does not have %s", args.name, role, args.permission), { granted = false })
    end
  end,
}
