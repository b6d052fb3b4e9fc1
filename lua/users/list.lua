-- Lists users (SCAN, never KEYS), redacted; flags the guide's plaintext api_key fields.
local users = require "opsh.users"

return {
  description = "Lists users with role, status, creation time and key prefix; warns about plaintext api_key fields",
  categories = { "users", "safe" },
  guide = { "user-account-management.3" },
  args = {},
  run = function(_, ctx)
    local r, err = users.connect()
    if not r then return ctx:crit("users", "redis: " .. tostring(err)) end
    local all, aerr = users.all(r)
    if not all then return ctx:crit("users", "redis: " .. tostring(aerr)) end
    local roles = users.roles()
    local counts = { users = #all, active = 0, disabled = 0, plaintext = 0 }
    for _, e in ipairs(all) do
      local u, check = e.user, "users." .. e.name
      if u.status == "active" then counts.active = counts.active + 1 else counts.disabled = counts.disabled + 1 end
      local line = users.describe(e.name, u)
      if u.api_key ~= nil then
        counts.plaintext = counts.plaintext + 1
        ctx:warn(check, line .. " (holds a plaintext api_key, the guide's layout: run users/migrate-plaintext)")
      elseif not u.api_key_sha256 then
        ctx:warn(check, line .. " (no API key)")
      elseif not roles[u.role or ""] then
        ctx:warn(check, line .. " (unknown role)")
      else
        ctx:ok(check, line)
      end
    end
    ctx:ok("users", string.format("%d users (%d active, %d not active), %d with a plaintext key",
      counts.users, counts.active, counts.disabled, counts.plaintext), counts)
  end,
}
