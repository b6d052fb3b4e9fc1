-- Gives a user a new API key; the old one stops working in the same transaction.
local users = require "opsh.users"
local time = require "opsh.time"

return {
  description = "Replaces a user's API key: the new key's index is added and the old one removed atomically",
  categories = { "users", "intrusive" },
  guide = { "user-account-management.6" },
  args = {
    { name = "name", required = true, help = "user name" },
    { name = "key_file", help = "write the key to this 0600 file (default: shown once on a terminal, else ~/.config/opsh/keys/<name>-<time>.key)" },
  },
  run = function(args, ctx)
    local r, err = users.connect()
    if not r then return ctx:crit("users.reset_key", "redis: " .. tostring(err)) end
    if not users.get(r, args.name) then return ctx:crit("users.reset_key", "no user " .. args.name) end

    local key, hash, prefix = users.new_key()
    local dest = users.key_destination(args.name, args.key_file)
    if dest.kind == "file" and not ctx.dry_run then
      local wok, werr = users.write_secret(dest.path, key .. "\n")
      if not wok then return ctx:crit("users.reset_key", werr) end
    end
    local had_plaintext = false
    local replies, terr = users.update(r, args.name, function(u)
      if not u then return nil, "no user " .. args.name end
      had_plaintext = u.api_key ~= nil
      return users.key_commands(args.name, u, hash, prefix, time.iso())
    end, { watch = { users.index_key(hash) } })
    if not replies then
      if dest.kind == "file" and not ctx.dry_run then os.remove(dest.path) end
      return ctx:crit("users.reset_key", tostring(terr))
    end
    if replies.dry_run then
      return ctx:ok("users.reset_key", string.format("would give %s a new key %s; the old key would stop working", args.name,
        dest.kind == "file" and ("written to " .. dest.path) or "shown once on this terminal"))
    end
    local extra = had_plaintext and "; the plaintext api_key field was removed" or ""
    if dest.kind == "tty" then
      users.show_key(args.name, key)
      ctx:ok("users.reset_key", string.format("new key %s... for %s shown once on the terminal; the old key no longer works%s",
        prefix, args.name, extra))
    else
      users.announce_file("API key for " .. args.name, dest.path)
      ctx:ok("users.reset_key", string.format("new key %s... for %s written to %s (mode 0600); the old key no longer works%s",
        prefix, args.name, dest.path, extra))
    end
  end,
}
