---@meta
--- Users, roles and API keys in Redis: `local users = require "opsh.users"`.
--- The layout is the guide's `user:<name>` hash without its plaintext key:
---   user:<name>          hash {role, status = "active"|"disabled", created_at, updated_at,
---                        api_key_sha256 (hex SHA-256 of the key), api_key_prefix (its first 8
---                        characters, to tell keys apart without revealing them), key_created_at}
---   apikey:<sha256 hex>  string: the user's name (find a key's user without scanning users)
--- The plaintext key is never stored, logged or reported: a new key goes to a 0600 file whose
--- path is printed, or is shown once on stderr when stdin and stderr are terminals. Each change
--- to a user is one MULTI/EXEC under WATCH of its hash. The users/ procedures are built on this.
local users = {}

--- Prefix of the user hashes: user:<name>.
users.USER_PREFIX = "user:"
--- Prefix of the key index: apikey:<sha256 hex> -> name.
users.INDEX_PREFIX = "apikey:"
--- Random bytes per key: crypto.random_hex(32) gives 64 hex digits, like `openssl rand -hex 32`.
users.KEY_BYTES = 32
--- Characters of a key kept as api_key_prefix.
users.PREFIX_LEN = 8
--- Longest key accepted from stdin or a file.
users.MAX_KEY_LEN = 1024

--- The guide's permission matrix: admin, operator, viewer -> permission names.
---@type table<string, string[]>
users.DEFAULT_ROLES = {}

--- The effective matrix: DEFAULT_ROLES with the configuration's `roles` on top. In config.lua,
--- `roles = { auditor = {"view_metrics"}, viewer = {permissions = {"view_metrics"}}, operator = false }`:
--- a role listed there replaces that role's permissions, false removes it, the others stay.
---@return table<string, string[]>
function users.roles() end

--- The effective role names, sorted.
---@return string[]
function users.role_names() end

--- Whether role grants permission (false for an unknown role).
---@param role string|nil
---@param permission string
---@param roles? table<string, string[]> default users.roles()
---@return boolean
function users.has_permission(role, permission, roles) end

--- Whether name is acceptable for a new user: letters, digits, '.', '_', '@', '-', at most 64
--- characters, starting with a letter or digit.
---@param name any
---@return boolean ok, string? why
function users.valid_name(name) end

--- "user:" .. name
---@param name string
---@return string
function users.user_key(name) end

--- "apikey:" .. sha256 hex
---@param hash string
---@return string
function users.index_key(hash) end

--- Hex SHA-256 of a key.
---@param key string
---@return string
function users.hash(key) end

--- A new key from the CSPRNG, with its hash and prefix.
---@return string key, string sha256_hex, string prefix
function users.new_key() end

--- redis.connect to url, else the configured redis_url.
---@param url? string
---@return redis.connection|nil, table? err
function users.connect(url) end

--- The user's hash as field = value, nil when there is no such user, or nil, err.
---@param r redis.connection
---@param name string
---@return table|nil user, table? err
function users.get(r, name) end

--- A user safe to print: name, role, status, times, api_key_prefix, has_key_hash, plaintext_key
--- (whether the guide's plaintext api_key field is still there; never its value).
---@param name string
---@param user table
---@return table
function users.redact(name, user) end

--- One redacted line: "alice: role=operator status=active created=... key=9bcfa17b...".
---@param name string
---@param user table
---@return string
function users.describe(name, user) end

--- Every user name (SCAN user:* of type hash, never KEYS), sorted.
---@param r redis.connection
---@return string[]
function users.names(r) end

--- Every user as {name =, user =}, read with pipelined HGETALL in batches of 100.
---@param r redis.connection
---@return {name: string, user: table}[]|nil, table? err
function users.all(r) end

--- Changes one user atomically: WATCH user:<name> (and opts.watch), read the hash, call
--- plan(user_or_nil), which returns commands ({"HSET", key, field, value}, ...) or nil, reason,
--- and run them in MULTI/EXEC; retried when a watched key changed meanwhile. Returns EXEC's
--- replies ({} for no commands, {dry_run = true} under --dry-run), or nil, reason.
---@param r redis.connection
---@param name string
---@param plan fun(user: table|nil): (table[]|nil), string?
---@param opts? {watch?: string[]}
---@return table|nil replies, string|table? err
function users.update(r, name, plan, opts) end

--- The commands giving user:<name> the key with this hash: new hash, prefix, key_created_at,
--- updated_at and index; the old index entry and any plaintext api_key field removed.
---@param name string
---@param user table|nil the current hash
---@param hash string
---@param prefix string
---@param now? string ISO 8601 time, default now
---@return table[]
function users.key_commands(name, user, hash, prefix, now) end

--- Verifies a key: SHA-256, lookup in the apikey: index, constant-time comparison with the
--- user's stored hash, and an active user. Returns {name, role, status}, or nil and a reason
--- (which never contains the key).
---@param r redis.connection
---@param key string
---@return {name: string, role: string?, status: string}|nil user, string? reason
function users.verify(r, key) end

--- Whether stdin and stderr are both terminals (a person can be shown a key once).
---@return boolean
function users.is_tty() end

--- Where key files go: $XDG_CONFIG_HOME/opsh/keys, else ~/.config/opsh/keys.
---@return string
function users.key_dir() end

--- A new path under key_dir(): <label>-<UTC time>[-n].<ext> (ext default "key").
---@param label string
---@param ext? string
---@return string
function users.default_key_path(label, ext) end

--- Where a new key goes: {kind = "file", path = key_file} when given; {kind = "tty"} when stdin
--- and stderr are terminals; else {kind = "file", path = default_key_path(label)}.
---@param label string
---@param key_file? string
---@return {kind: "file"|"tty", path?: string}
function users.key_destination(label, key_file) end

--- Writes secret text to path atomically with mode 0600, creating its directory with 0700.
--- Refuses an existing file unless replace is true; writes nothing under --dry-run.
---@param path string
---@param text string
---@param replace? boolean
---@return true|nil ok, string? err
function users.write_secret(path, text, replace) end

--- Shows a key once on stderr (call only when users.is_tty()).
---@param name string
---@param key string
function users.show_key(name, key) end

--- Prints "opsh: <what> written to <path> (mode 0600)" on stderr.
---@param what string
---@param path string
function users.announce_file(what, path) end

--- Reads a key from key_file, else from stdin (first line, at most MAX_KEY_LEN bytes; a
--- prompt on a terminal). Never from the command line, where ps would show it.
---@param key_file? string
---@return string|nil key, string? err
function users.read_key(key_file) end

return users
