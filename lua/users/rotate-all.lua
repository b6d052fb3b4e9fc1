-- Emergency rotation: a new key for every user, all new keys in one 0600 file.
local users = require "opsh.users"
local time = require "opsh.time"

return {
  description = "Rotates every user's API key (emergency); the new keys go to one 0600 file whose path is printed",
  categories = { "users", "destructive" },
  guide = { "api-key-management.1" },
  args = {
    { name = "key_file", help = "write the new keys here, 'name key' per line (default ~/.config/opsh/keys/rotate-all-<time>.keys)" },
  },
  notes = "Every old key stops working. Each user is rotated in its own MULTI/EXEC (new hash and index,\n"
    .. "old index and any plaintext api_key removed). The key file is written before any key changes,\n"
    .. "and rewritten with only the users actually rotated if some fail. --dry-run lists who would be rotated.",
  run = function(args, ctx)
    local r, err = users.connect()
    if not r then return ctx:crit("users.rotate", "redis: " .. tostring(err)) end
    local names = users.names(r)
    if #names == 0 then return ctx:ok("users.rotate", "no users to rotate", { rotated = 0 }) end
    if ctx.dry_run then
      for _, name in ipairs(names) do ctx:ok("users.rotate." .. name, "would get a new key") end
      return ctx:ok("users.rotate", string.format("would rotate %d users; nothing changed", #names), { would_rotate = #names })
    end

    local path = (args.key_file and args.key_file ~= "") and args.key_file or users.default_key_path("rotate-all", "keys")
    local new = {}
    local lines = {}
    for i, name in ipairs(names) do
      local key, hash, prefix = users.new_key()
      new[i] = { name = name, key = key, hash = hash, prefix = prefix }
      lines[i] = name .. " " .. key
    end
    local wok, werr = users.write_secret(path, table.concat(lines, "\n") .. "\n")
    if not wok then return ctx:crit("users.rotate", werr .. "; no key was changed") end

    local rotated, failed = {}, 0
    for _, n in ipairs(new) do
      local replies, uerr = users.update(r, n.name, function(u)
        if not u then return nil, "user vanished" end
        return users.key_commands(n.name, u, n.hash, n.prefix, time.iso())
      end, { watch = { users.index_key(n.hash) } })
      if replies then
        rotated[#rotated + 1] = n
        ctx:ok("users.rotate." .. n.name, "new key " .. n.prefix .. "...")
      else
        failed = failed + 1
        ctx:crit("users.rotate." .. n.name, "not rotated: " .. tostring(uerr) .. " (its old key still works)")
      end
    end
    if failed > 0 then
      local keep = {}
      for _, n in ipairs(rotated) do keep[#keep + 1] = n.name .. " " .. n.key end
      local ok2, e2 = users.write_secret(path, #keep > 0 and (table.concat(keep, "\n") .. "\n") or "", true)
      if not ok2 then ctx:crit("users.rotate.file", "could not drop the unrotated users from the key file: " .. tostring(e2)) end
    end
    users.announce_file(string.format("%d new API keys", #rotated), path)
    local msg = string.format("rotated %d of %d users; new keys written to %s (mode 0600): hand them over and delete the file",
      #rotated, #names, path)
    if failed > 0 then ctx:crit("users.rotate", msg, { rotated = #rotated, failed = failed })
    else ctx:ok("users.rotate", msg, { rotated = #rotated, failed = 0 }) end
  end,
}
