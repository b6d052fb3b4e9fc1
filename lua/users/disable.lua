-- users/disable: sets a user's status to disabled (atomically, under WATCH).
local users = require "opsh.users"
local time = require "opsh.time"

return {
  description = "Disables a user: verify-key refuses the user's key until users/enable (the key and its index are kept)",
  categories = { "users", "intrusive" },
  guide = { "user-account-management.5" },
  args = { { name = "name", required = true, help = "user name" } },
  run = function(args, ctx)
    local r, err = users.connect()
    if not r then return ctx:crit("users.disable", "redis: " .. tostring(err)) end
    local before
    local replies, uerr = users.update(r, args.name, function(u)
      if not u then return nil, "no user " .. args.name end
      before = u.status
      if u.status == "disabled" then return {} end
      local now = time.iso()
      return { { "HSET", users.user_key(args.name), "status", "disabled", "updated_at", now } }
    end)
    if not replies then return ctx:crit("users.disable", tostring(uerr)) end
    if before == "disabled" then return ctx:ok("users.disable", args.name .. " was already disabled") end
    if replies.dry_run then return ctx:ok("users.disable", "would set " .. args.name .. " from " .. tostring(before) .. " to disabled") end
    ctx:ok("users.disable", args.name .. ": " .. tostring(before) .. " -> disabled")
  end,
}
