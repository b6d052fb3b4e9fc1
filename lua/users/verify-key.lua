-- Verifies an API key read from stdin or a file (never from the command line, where ps shows it).
local users = require "opsh.users"

return {
  description = "Verifies an API key (from stdin or --key-file): finds its user by hash, compares in constant time, requires an active user",
  categories = { "users", "check", "safe" },
  guide = { "role-based-access-control.2" },
  args = {
    { name = "key_file", help = "read the key from this file (first line) instead of stdin" },
  },
  examples = { "opsh run users/verify-key < alice.key", "opsh run users/verify-key --key-file ~/.config/opsh/keys/alice-20260101T000000Z.key" },
  run = function(args, ctx)
    local key, rerr = users.read_key(args.key_file)
    if not key then return ctx:unknown("users.verify", rerr) end
    local r, err = users.connect()
    if not r then return ctx:crit("users.verify", "redis: " .. tostring(err)) end
    local u, why = users.verify(r, key)
    key = nil -- luacheck: ignore (drop the reference early)
    if not u then return ctx:crit("users.verify", "key rejected: " .. why) end
    ctx:ok("users.verify", string.format("key is valid for %s (role %s)", u.name, tostring(u.role)))
  end,
}
