--- opsh.users: users, roles and API keys in Redis, on the guide's layout made safe.
---
--- Layout (the guide's `user:<name>` hash, minus its plaintext key):
---   user:<name>          hash {role, status = active|disabled, created_at, updated_at,
---                        api_key_sha256 (hex SHA-256 of the key), api_key_prefix (first 8
---                        characters, to tell keys apart without revealing them), key_created_at}
---   apikey:<sha256 hex>  string: the user's name, so a key is found without scanning users
--- The plaintext key is never stored, logged or put in a report: a new key goes to a 0600 file
--- whose path is printed, or is shown once on stderr when stdin and stderr are terminals.
--- Every change to a user happens in one MULTI/EXEC under WATCH of the user's hash.
local crypto = require "opsh.crypto"
local config = require "opsh.config"
local fs = require "opsh.fs"
local redis = require "opsh.redis"
local time = require "opsh.time"
local opsh = require "opsh"

local M = {}

M.USER_PREFIX = "user:"
M.INDEX_PREFIX = "apikey:"
M.KEY_BYTES = 32          -- crypto.random_hex(32): 64 hex digits, like `openssl rand -hex 32`
M.PREFIX_LEN = 8
M.MAX_KEY_LEN = 1024      -- a key read from stdin or a file is at most this long

--- The guide's permission matrix (User and Access Management / Role-Based Access Control).
M.DEFAULT_ROLES = {
  admin = { "read_collections", "write_collections", "delete_collections", "manage_users",
            "view_metrics", "system_config" },
  operator = { "read_collections", "view_metrics", "restart_services", "backup_restore" },
  viewer = { "read_collections", "view_metrics" },
}

local function copy_list(t)
  local out = {}
  for i, v in ipairs(t) do out[i] = v end
  return out
end

--- The effective role matrix: the guide's, with the configuration's `roles` table on top.
--- In config.lua, `roles = { auditor = {"view_metrics"}, operator = {permissions = {...}}, viewer = false }`:
--- a role listed there replaces that role's permissions, `false` removes a role, others stay.
---@return table<string, string[]>
function M.roles()
  local out = {}
  for role, perms in pairs(M.DEFAULT_ROLES) do out[role] = copy_list(perms) end
  local ok, custom = pcall(config.get, "roles")
  if ok and type(custom) == "table" then
    for role, spec in pairs(custom) do
      if type(role) == "string" then
        if spec == false then
          out[role] = nil
        elseif type(spec) == "table" then
          local list = type(spec.permissions) == "table" and spec.permissions or spec
          local perms = {}
          for _, p in ipairs(list) do if type(p) == "string" then perms[#perms + 1] = p end end
          out[role] = perms
        end
      end
    end
  end
  return out
end

--- The sorted names of the effective roles.
---@return string[]
function M.role_names()
  local names = {}
  for role in pairs(M.roles()) do names[#names + 1] = role end
  table.sort(names)
  return names
end

--- Whether role grants permission (false for an unknown role).
---@param role string|nil
---@param permission string
---@param roles? table<string, string[]> default M.roles()
---@return boolean
function M.has_permission(role, permission, roles)
  local perms = role and (roles or M.roles())[role]
  if not perms then return false end
  for _, p in ipairs(perms) do if p == permission then return true end end
  return false
end

--- Whether name is acceptable for a new user: letters, digits, '.', '_', '@', '-', at most 64,
--- starting with a letter or digit (no ':' or glob characters, so keys and SCAN patterns stay exact).
---@param name any
---@return boolean ok, string? why
function M.valid_name(name)
  if type(name) ~= "string" or name == "" then return false, "a user name is required" end
  if #name > 64 then return false, "a user name has at most 64 characters" end
  if not name:match("^[%w][%w._@-]*$") then
    return false, "a user name is letters, digits, '.', '_', '@' and '-', starting with a letter or digit"
  end
  return true
end

function M.user_key(name) return M.USER_PREFIX .. name end
function M.index_key(hash) return M.INDEX_PREFIX .. hash end

--- Hex SHA-256 of a key.
---@param key string
---@return string
function M.hash(key)
  return assert(crypto.sha256_hex(key))
end

--- A new key from the CSPRNG with its hash and prefix.
---@return string key, string sha256_hex, string prefix
function M.new_key()
  local key = crypto.random_hex(M.KEY_BYTES)
  return key, M.hash(key), key:sub(1, M.PREFIX_LEN)
end

--- Connects to the configured redis_url (or url).
---@param url? string
---@return redis.connection|nil, table? err
function M.connect(url)
  return redis.connect(url or config.get("redis_url"))
end

local function to_map(reply)
  if type(reply) ~= "table" then return nil end
  if reply[1] == nil then return reply end -- already field = value (or empty)
  local out = {}
  for i = 1, #reply - 1, 2 do out[reply[i]] = reply[i + 1] end
  return out
end

--- The user's hash, or nil when there is no such user (nil, err on a network failure).
---@param r redis.connection
---@param name string
---@return table|nil user, table? err
function M.get(r, name)
  local h, err = r:hgetall(M.user_key(name))
  if h == nil then return nil, err end
  h = to_map(h)
  if h == nil or next(h) == nil then return nil end
  return h
end

--- A user's hash safe to print: never the plaintext `api_key` field (only whether it exists)
--- and never the full hash of the key.
---@param name string
---@param u table
---@return table
function M.redact(name, u)
  return {
    name = name, role = u.role, status = u.status, created_at = u.created_at,
    updated_at = u.updated_at, key_created_at = u.key_created_at,
    api_key_prefix = u.api_key_prefix or (u.api_key and "(plaintext)") or nil,
    has_key_hash = u.api_key_sha256 ~= nil,
    plaintext_key = u.api_key ~= nil,
  }
end

--- One line describing a user, redacted.
function M.describe(name, u)
  local d = M.redact(name, u)
  return string.format("%s: role=%s status=%s created=%s key=%s", name, tostring(d.role or "?"),
    tostring(d.status or "?"), tostring(d.created_at or "?"),
    d.plaintext_key and "PLAINTEXT" or (u.api_key_prefix and (u.api_key_prefix .. "...") or "none"))
end

--- Every user name (keys user:* of type hash, found with SCAN, never KEYS), sorted.
---@param r redis.connection
---@return string[]
function M.names(r)
  local seen, names = {}, {}
  for key in r:scan { match = M.USER_PREFIX .. "*", type = "hash", count = 500 } do
    local name = key:sub(#M.USER_PREFIX + 1)
    if name ~= "" and not seen[name] then seen[name] = true; names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

--- Every user as {name, user}, read with pipelined HGETALL in batches of 100.
---@param r redis.connection
---@return {name: string, user: table}[]|nil, table? err
function M.all(r)
  local names = M.names(r)
  local out = {}
  for first = 1, #names, 100 do
    local last = math.min(first + 99, #names)
    local replies, err = r:pipeline(function(p)
      for i = first, last do p:call("HGETALL", M.user_key(names[i])) end
    end)
    if not replies then return nil, err end
    for i = first, last do
      local u = to_map(replies[i - first + 1])
      if u and next(u) ~= nil then out[#out + 1] = { name = names[i], user = u } end
    end
  end
  return out
end

local function is_dry(replies)
  return type(replies) == "table" and type(replies[1]) == "table" and replies[1].dry_run == true
end

--- Changes a user atomically: WATCH user:<name> (and opts.watch keys), read the hash, call
--- plan(user_or_nil) which returns a list of commands ({"HSET", key, f, v}, ...) or nil, reason;
--- run them in MULTI/EXEC. Retried up to 5 times when a watched key changed meanwhile.
--- Returns the EXEC replies (or {dry_run = true} under --dry-run), or nil, reason.
---@param r redis.connection
---@param name string
---@param plan fun(user: table|nil): (table[]|nil), string?
---@param opts? {watch?: string[]}
---@return table|nil replies, string|table? err
function M.update(r, name, plan, opts)
  local watch = { M.user_key(name) }
  for _, k in ipairs(opts and opts.watch or {}) do watch[#watch + 1] = k end
  local last_err
  for _ = 1, 5 do
    local ok, err = r:call("WATCH", table.unpack(watch))
    if not ok then return nil, err end
    local u, gerr = M.get(r, name)
    if gerr then r:call("UNWATCH"); return nil, gerr end
    local cmds, why = plan(u)
    if not cmds then r:call("UNWATCH"); return nil, why end
    if #cmds == 0 then r:call("UNWATCH"); return {} end
    local replies, terr = r:transaction(function(p)
      for _, c in ipairs(cmds) do p:call(table.unpack(c)) end
    end)
    if replies then
      if is_dry(replies) then return { dry_run = true } end
      return replies
    end
    last_err = terr
    if not (type(terr) == "table" and terr.code == "aborted") then return nil, terr end
  end
  return nil, last_err
end

--- The commands that give user:<name> a new key (hash, prefix, index) and drop its old index
--- and any plaintext `api_key` field. u is the current hash (or nil for a new user).
---@param name string
---@param u table|nil
---@param hash string
---@param prefix string
---@param now? string ISO time
---@return table[]
function M.key_commands(name, u, hash, prefix, now)
  now = now or time.iso()
  local ukey = M.user_key(name)
  local cmds = {}
  if u and u.api_key_sha256 and u.api_key_sha256 ~= hash then
    cmds[#cmds + 1] = { "DEL", M.index_key(u.api_key_sha256) }
  end
  cmds[#cmds + 1] = { "HSET", ukey, "api_key_sha256", hash, "api_key_prefix", prefix,
                      "key_created_at", now, "updated_at", now }
  if u and u.api_key ~= nil then cmds[#cmds + 1] = { "HDEL", ukey, "api_key" } end
  cmds[#cmds + 1] = { "SET", M.index_key(hash), name }
  return cmds
end

-- Key output ---------------------------------------------------------------------------------

--- Whether stdin and stderr are both terminals (a person is there to see a key once).
---@return boolean
function M.is_tty()
  local ok, host = pcall(require, "opsh._host")
  if not ok or type(host) ~= "table" or type(host.isatty) ~= "function" then return false end
  return host.isatty(0) == true and host.isatty(2) == true
end

--- ~/.config/opsh/keys (or $XDG_CONFIG_HOME/opsh/keys).
---@return string
function M.key_dir()
  local base = os.getenv("XDG_CONFIG_HOME")
  if base == nil or base == "" then base = (os.getenv("HOME") or ".") .. "/.config" end
  return base .. "/opsh/keys"
end

local function stamp() return os.date("!%Y%m%dT%H%M%SZ") end

--- A new file path under key_dir() for label: <label>-<UTC timestamp>[-n].<ext>.
---@param label string
---@param ext? string default "key"
---@return string
function M.default_key_path(label, ext)
  local safe = tostring(label):gsub("[^%w._@-]", "_")
  local base = M.key_dir() .. "/" .. safe .. "-" .. stamp()
  local path = base .. "." .. (ext or "key")
  local n = 1
  while fs.exists(path) do
    n = n + 1
    path = string.format("%s-%d.%s", base, n, ext or "key")
  end
  return path
end

--- Where a new key goes: {kind = "file", path = ...} when key_file is given, {kind = "tty"} when
--- stdin and stderr are terminals, else {kind = "file"} under key_dir().
---@param label string
---@param key_file? string
---@return {kind: "file"|"tty", path?: string}
function M.key_destination(label, key_file)
  if key_file and key_file ~= "" then return { kind = "file", path = key_file } end
  if M.is_tty() then return { kind = "tty" } end
  return { kind = "file", path = M.default_key_path(label) }
end

--- Writes secret text to path with mode 0600 (atomically), creating its directory (0700);
--- refuses to replace an existing file unless replace is true. Under --dry-run nothing is written.
---@param path string
---@param text string
---@param replace? boolean
---@return true|nil ok, string? err
function M.write_secret(path, text, replace)
  if opsh.dry_run then return true end
  if not replace and fs.exists(path) then
    return nil, path .. " already exists (refusing to overwrite a key file)"
  end
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" and not fs.exists(dir) then
    local ok, err = fs.mkdir(dir, tonumber("700", 8))
    if not ok then return nil, "cannot create " .. dir .. ": " .. tostring(err) end
  end
  local ok, err = fs.write_atomic(path, text, { mode = tonumber("600", 8) })
  if not ok then return nil, "cannot write " .. path .. ": " .. tostring(err) end
  return true
end

--- Shows a key once on stderr (only call when M.is_tty()).
---@param name string
---@param key string
function M.show_key(name, key)
  io.stderr:write(string.format(
    "\nAPI key for %s (shown once, stored only as a hash; copy it now):\n\n    %s\n\n", name, key))
  io.stderr:flush()
end

--- Tells the person where a key file is (stderr; the report says it too).
function M.announce_file(what, path)
  io.stderr:write(string.format("opsh: %s written to %s (mode 0600)\n", what, path))
  io.stderr:flush()
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

--- Reads a key from key_file, or else from stdin (first line, at most MAX_KEY_LEN bytes).
--- Never from the command line: arguments show in ps.
---@param key_file? string
---@return string|nil key, string? err
function M.read_key(key_file)
  local data
  if key_file and key_file ~= "" then
    local err
    data, err = fs.read(key_file, M.MAX_KEY_LEN + 2)
    if not data then return nil, "cannot read " .. key_file .. ": " .. tostring(err) end
  else
    if M.is_tty() then
      io.stderr:write("API key: "); io.stderr:flush()
      data = io.stdin:read("l")
    else
      data = io.stdin:read(M.MAX_KEY_LEN + 2)
    end
    if data == nil then return nil, "no key on stdin (pipe it in, or use --key-file)" end
  end
  local line = data:match("^[^\r\n]*") or ""
  line = trim(line)
  if line == "" then return nil, "the key is empty" end
  if #line > M.MAX_KEY_LEN then return nil, "the key is longer than " .. M.MAX_KEY_LEN .. " bytes" end
  return line
end

--- Verifies a key: its SHA-256 is looked up in the apikey: index, compared in constant time with
--- the user's stored hash, and the user must be active. Returns {name, role, status}, or nil and
--- a reason that never contains the key.
---@param r redis.connection
---@param key string
---@return table|nil user, string? reason
function M.verify(r, key)
  local hash = M.hash(key)
  local name, err = r:get(M.index_key(hash))
  if name == nil then return nil, "lookup failed: " .. tostring(err) end
  if opsh.is_null(name) or type(name) ~= "string" then
    return nil, "unknown key (a user still holding a plaintext key needs users/migrate-plaintext first)"
  end
  local u, gerr = M.get(r, name)
  if gerr then return nil, "lookup failed: " .. tostring(gerr) end
  if not u then return nil, "the key's user " .. name .. " no longer exists" end
  if not crypto.constant_time_equal(u.api_key_sha256 or "", hash) then
    return nil, "the key was replaced (stale index entry for " .. name .. ")"
  end
  if u.status ~= "active" then
    return nil, string.format("user %s is %s", name, tostring(u.status or "without a status"))
  end
  return { name = name, role = u.role, status = u.status }
end

return M
