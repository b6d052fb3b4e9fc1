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
--- Why a procedure cannot run on a Redis Cluster, or nil when `r` is a connection to one server.
--- what: "arq" (the task queue) or "batches" (atomic multi-key batches).
function M.redis_cluster_refusal(r, what)
  if #r:nodes() == 0 then return nil end
  if what == "arq" then
    return "the task queue cannot run on a Redis Cluster: ARQ keeps a job in arq:queue (a sorted set), "
      .. "arq:job:<id>, arq:in-progress:<id>, arq:retry:<id> and arq:result:<id>, keys that hash to different "
      .. "slots, and its workers change several of them in one transaction or script, which a cluster refuses "
      .. "(CROSSSLOT). Point task_queue_redis_url at a single Redis or a Sentinel primary (sentinel://...)"
  end
  return "not on a Redis Cluster: each batch is one atomic command over many keys (EVAL or UNLINK), and keys of a "
    .. "batch hash to different slots, which a cluster refuses (CROSSSLOT); run it against each primary's keys "
    .. "with a single-slot pattern ({tag}) or on a single Redis"
end

function M.redis_auth_hint(err)
  local code = type(err) == "table" and err.code or ""
  if code == "WRONGPASS" or code == "NOAUTH" or tostring(err):find("AUTH", 1, true) then
    return " (authentication failed: check the user and password in --url or REDIS_URL)"
  end
  return ""
end

return M
