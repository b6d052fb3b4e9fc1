-- users/enable: sets a user's status to active (atomically, under WATCH).
local users = require "opsh.users"
local time = require "opsh.time"

return {
  description = "Enables a disabled user again: the user's existing key works again",
  categories = { "users", "intrusive" },
  guide = { "user-account-management.5" },
  args = { { name = "name", required = true, help = "user name" } },
  run = function(args, ctx)
    local r, err = users.connect()
    if not r then return ctx:crit("users.enable", "redis: " .. tostring(err)) end
    local before
    local replies, uerr = users.update(r, args.name, function(u)
      if not u then return nil, "no user " .. args.name end
      before = u.status
      if u.status == "active" then return {} end
      local now = time.iso()
      return { { "HSET", users.user_key(args.name), "status", "active", "updated_at", now } }
    end)
    if not replies then return ctx:crit("users.enable", tostring(uerr)) end
    if before == "active" then return ctx:ok("users.enable", args.name .. " was already active") end
    if replies.dry_run then return ctx:ok("users.enable", "would set " .. args.name .. " from " .. tostring(before) .. " to active") end
    ctx:ok("users.enable", args.name .. ": " .. tostring(before) .. " -> active")
  end,
}
