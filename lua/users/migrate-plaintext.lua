-- Moves users off the guide's plaintext api_key field: hash, prefix and index; the field is deleted.
local users = require "opsh.users"
local time = require "opsh.time"

return {
  description = "Replaces plaintext api_key fields (the guide's layout) with their SHA-256, prefix and index; existing keys keep working",
  categories = { "users", "destructive" },
  guide = { "user-account-management.2" },
  notes = "Rewrites: every user:NAME hash that holds a plaintext api_key field: the field is deleted and the key's\n"
    .. "SHA-256, prefix and index entry are written in its place (the plaintext key cannot be read back afterwards).\n"
    .. "Each user is migrated in one MULTI/EXEC under WATCH. When a user has both a stored hash and a\n"
    .. "plaintext key that differ, the plaintext one is the newer (the guide's scripts only write api_key)\n"
    .. "and wins; the report says so. --dry-run lists who would be migrated.",
  args = {},
  run = function(_, ctx)
    local r, err = users.connect()
    if not r then return ctx:crit("users.migrate", "redis: " .. tostring(err)) end
    local all, aerr = users.all(r)
    if not all then return ctx:crit("users.migrate", "redis: " .. tostring(aerr)) end
    local migrated, failed, todo = 0, 0, 0
    for _, e in ipairs(all) do
      if e.user.api_key ~= nil then
        todo = todo + 1
        local note = ""
        local replies, uerr = users.update(r, e.name, function(u)
          if not u or u.api_key == nil then return nil, "no plaintext key any more" end
          local key = u.api_key
          local hash, prefix = users.hash(key), key:sub(1, users.PREFIX_LEN)
          if u.api_key_sha256 and u.api_key_sha256 ~= hash then
            note = " (it replaced a different hashed key, whose index was removed)"
          end
          local cmds = users.key_commands(e.name, u, hash, prefix, time.iso())
          -- keep the key's age: it was created with the user, not now
          for _, c in ipairs(cmds) do
            if c[1] == "HSET" then
              for i = 3, #c, 2 do
                if c[i] == "key_created_at" then c[i + 1] = u.key_created_at or u.created_at or c[i + 1] end
              end
            end
          end
          return cmds
        end)
        if not replies then
          failed = failed + 1
          ctx:crit("users.migrate." .. e.name, "not migrated: " .. tostring(uerr))
        elseif replies.dry_run then
          ctx:ok("users.migrate." .. e.name, "would hash and index the plaintext key and delete the api_key field")
        else
          migrated = migrated + 1
          ctx:ok("users.migrate." .. e.name, "plaintext api_key replaced by its SHA-256 and index; the key still works" .. note)
        end
      end
    end
    local m = { users = #all, plaintext = todo, migrated = migrated, failed = failed }
    if todo == 0 then return ctx:ok("users.migrate", string.format("no plaintext keys among %d users", #all), m) end
    local msg = ctx.dry_run and string.format("would migrate %d of %d users", todo, #all)
      or string.format("migrated %d of %d users with plaintext keys", migrated, todo)
    if failed > 0 then ctx:crit("users.migrate", msg, m) else ctx:ok("users.migrate", msg, m) end
  end,
}
