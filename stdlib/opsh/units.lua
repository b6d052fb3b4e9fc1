--- opsh.units: byte sizes as operators write them ("1gb", "512M", 2048) and as people read them.
local M = {}

local MULT = { [""] = 1, b = 1, k = 1024, kb = 1024, kib = 1024, m = 1024 ^ 2, mb = 1024 ^ 2, mib = 1024 ^ 2,
  g = 1024 ^ 3, gb = 1024 ^ 3, gib = 1024 ^ 3, t = 1024 ^ 4, tb = 1024 ^ 4, tib = 1024 ^ 4 }

--- "1gb", "512M", "2048", 2048 -> bytes (binary multiples, as Redis reads them); nil if malformed.
---@param s string|number
---@return integer|nil
function M.parse_bytes(s)
  if type(s) == "number" then return s end
  local n, unit = tostring(s):lower():match("^%s*([%d%.]+)%s*(%a*)%s*$")
  n = tonumber(n)
  if not n then return nil end
  local mult = MULT[unit]
  return mult and math.floor(n * mult) or nil
end

--- Bytes for a person: 1536 -> "1.5 KiB".
---@param bytes number
---@return string
function M.bytes_text(bytes)
  bytes = tonumber(bytes) or 0
  local units, i = { "B", "KiB", "MiB", "GiB", "TiB" }, 1
  while bytes >= 1024 and i < #units do bytes = bytes / 1024; i = i + 1 end
  return (i == 1 and "%d %s" or "%.1f %s"):format(bytes, units[i])
end

--- A hint to append to a Redis error that is an authentication failure ("" otherwise).
---@param err any
---@return string
function M.redis_auth_hint(err)
  local code = type(err) == "table" and err.code or ""
  if code == "WRONGPASS" or code == "NOAUTH" or tostring(err):find("AUTH", 1, true) then
    return " (authentication failed: check the user and password in --url or REDIS_URL)"
  end
  return ""
end

return M
