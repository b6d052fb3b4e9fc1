-- Creates a user with a new API key (users/create --name alice --role operator).
local users = require "opsh.users"
local time = require "opsh.time"

return {
  description = "Creates a user with a role and a new API key (stored only as a SHA-256 hash)",
  categories = { "users", "intrusive" },
  guide = { "user-account-management.1", "user-account-management.2" },
  args = {
    { name = "name", required = true, help = "user name (letters, digits, . _ @ -)" },
    { name = "role", required = true, help = "admin, operator, viewer, or a role from config 'roles'" },
    { name = "key_file", help = "write the key to this 0600 file (default: shown once on a terminal, else ~/.config/opsh/keys/<name>-<time>.key)" },
  },
  notes = "The key is never logged or put in the report: it goes to a 0600 file whose path is printed,\n"
    .. "or is shown once on stderr when stdin and stderr are terminals.",
  run = function(args, ctx)
    local ok, why = users.valid_name(args.name)
    if not ok then return ctx:crit("users.create", why) end
    local roles = users.roles()
    if not roles[args.role] then
      return ctx:crit("users.create", string.format("unknown role '%s' (one of %s)", args.role,
        table.concat(users.role_names(), ", ")))
    end
    local r, err = users.connect()
    if not r then return ctx:crit("users.create", "redis: " .. tostring(err)) end

    local key, hash, prefix = users.new_key()
    local dest = users.key_destination(args.name, args.key_file)
    if users.get(r, args.name) then
      return ctx:crit("users.create", "user " .. args.name .. " already exists (use users/reset-key for a new key)")
    end
    -- the key is in its file before it is valid, so a valid key is never lost
    if dest.kind == "file" and not ctx.dry_run then
      local wok, werr = users.write_secret(dest.path, key .. "\n")
      if not wok then return ctx:crit("users.create", werr) end
    end
    local now = time.iso()
    local replies, terr = users.update(r, args.name, function(u)
      if u then return nil, "user " .. args.name .. " already exists" end
      return {
        { "HSET", users.user_key(args.name), "role", args.role, "status", "active", "created_at", now,
          "updated_at", now, "api_key_sha256", hash, "api_key_prefix", prefix, "key_created_at", now },
        { "SET", users.index_key(hash), args.name },
      }
    end, { watch = { users.index_key(hash) } })
    if not replies then
      if dest.kind == "file" and not ctx.dry_run then os.remove(dest.path) end
      return ctx:crit("users.create", tostring(terr))
    end
    if replies.dry_run then
      return ctx:ok("users.create", string.format("would create %s (role %s) with a new key %s", args.name, args.role,
        dest.kind == "file" and ("written to " .. dest.path) or "shown once on this terminal"))
    end
    if dest.kind == "tty" then
      users.show_key(args.name, key)
      ctx:ok("users.create", string.format("created %s (role %s); key %s... shown once on the terminal", args.name, args.role, prefix))
    else
      users.announce_file("API key for " .. args.name, dest.path)
      ctx:ok("users.create", string.format("created %s (role %s); key %s... written to %s (mode 0600)",
        args.name, args.role, prefix, dest.path))
    end
  end,
}
