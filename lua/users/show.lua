-- Shows one user, redacted (never a key, never its full hash).
local users = require "opsh.users"

return {
  description = "Shows one user: role, status, times, key prefix and permissions (never the key)",
  categories = { "users", "safe" },
  guide = { "user-account-management.4" },
  args = { { name = "name", required = true, help = "user name" } },
  run = function(args, ctx)
    local r, err = users.connect()
    if not r then return ctx:crit("users.show", "redis: " .. tostring(err)) end
    local u, gerr = users.get(r, args.name)
    if gerr then return ctx:crit("users.show", "redis: " .. tostring(gerr)) end
    if not u then return ctx:crit("users.show", "no user " .. args.name) end
    local d = users.redact(args.name, u)
    local perms = users.roles()[u.role or ""]
    ctx:ok("users.show", string.format("%s; updated=%s key_created=%s; permissions: %s", users.describe(args.name, u),
      tostring(d.updated_at or "?"), tostring(d.key_created_at or "?"),
      perms and (#perms > 0 and table.concat(perms, ", ") or "none") or "unknown role"),
      { active = u.status == "active" })
    if u.api_key ~= nil then
      ctx:warn("users.show.plaintext", "user:" .. args.name .. " holds a plaintext api_key field (run users/migrate-plaintext)")
    end
    if u.api_key_sha256 then
      local owner = r:get(users.index_key(u.api_key_sha256))
      if owner ~= args.name then
        ctx:warn("users.show.index", "the key's apikey: index entry is missing or names someone else: verify-key will refuse it (users/reset-key fixes it)")
      end
    end
  end,
}
